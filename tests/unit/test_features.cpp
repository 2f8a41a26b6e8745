#include "tests/unit/test_util.h"
#include "latentkit/eval/features.h"

#include <torch/script.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/models/classifier.h"
#include "latentkit/models/registry.h"

using namespace latentkit;
using latentkit::test_util::error_of;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

namespace {

// Feature i < C: the mean of channel i as the module sees it; then C, H and W. So one
// output tells what the extractor did to the images before the network.
constexpr char kProbeSource[] = R"(
def forward(self, x):
    shape = torch.tensor([float(x.size(1)), float(x.size(2)), float(x.size(3))]).repeat([x.size(0), 1])
    return torch.cat([x.mean([2, 3]), shape], 1)
)";

// (features, logits) with 4 classes, logits growing with the image mean.
constexpr char kClassesSource[] = R"(
def forward(self, x):
    m = x.mean([1, 2, 3]).unsqueeze(1)
    return (x.mean([2, 3]), m * torch.tensor([0.0, 1.0, 2.0, 3.0]))
)";

// pytorch-fid's InceptionV3 shape: [N, D, 1, 1].
constexpr char kPooledSource[] = R"(
def forward(self, x):
    return x.mean([2, 3], keepdim=True)
)";

constexpr char kScalarSource[] = R"(
def forward(self, x):
    return x.mean()
)";

std::string save_module_source(const std::string& dir, const std::string& name, const char* source) {
  torch::jit::Module module("Probe");
  module.define(source);
  std::string path = dir + "/" + name + ".pt";
  module.save(path);
  return path;
}

TorchScriptExtractorOptions options(int size, const std::string& range, int channels = 3) {
  TorchScriptExtractorOptions o;
  o.input_size = size;
  o.range = range;
  o.channels = channels;
  return o;
}

class TorchScriptExtractorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("features_ts");
    probe_ = save_module_source(dir_, "probe", kProbeSource);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
  std::string probe_;
};

}  // namespace

TEST(FitImages, ConvertsChannelsAndResizesWithAntialiasing) {
  torch::Tensor gray = torch::rand({2, 1, 20, 20}) * 2 - 1;
  torch::Tensor rgb = fit_images(gray, 3, 0);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{2, 3, 20, 20}));
  EXPECT_TRUE(torch::equal(rgb[0][0], rgb[0][2]));
  torch::Tensor red = torch::stack({torch::ones({4, 4}), -torch::ones({4, 4}), -torch::ones({4, 4})}).unsqueeze(0);
  EXPECT_NEAR(fit_images(red, 1, 0).mean().item<float>(), 0.299 - 0.587 - 0.114, 1e-5) << "ITU-R 601 luma";

  // Columns 1, 4, 7, ... are +1, the rest -1 (mean -1/3). Shrinking 48 -> 16 without
  // antialiasing samples exactly those columns (mean +1); an antialiased filter averages.
  torch::Tensor stripes = -torch::ones({1, 1, 48, 48});
  stripes.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(),
                      torch::indexing::Slice(1, torch::indexing::None, 3)},
                     1.0);
  torch::Tensor small = fit_images(stripes, 1, 16);
  ASSERT_EQ(small.sizes(), (std::vector<int64_t>{1, 1, 16, 16}));
  EXPECT_NEAR(small.mean().item<float>(), -1.0 / 3, 0.05);
  EXPECT_LT(small.max().item<float>(), 0.2) << "no column survives unfiltered";
  EXPECT_THROW(fit_images(torch::zeros({1, 2, 8, 8}), 3, 0), Error);
}

TEST_F(TorchScriptExtractorTest, ResizesToTheInputSizeAndRepeatsGrayToThreeChannels) {
  auto extractor = load_torchscript_extractor(probe_, options(16, "-1,1"));
  EXPECT_EQ(extractor->feature_dim(), 6) << "3 channel means + C, H, W, found by the load-time probe";
  EXPECT_EQ(extractor->num_classes(), 0);
  EXPECT_EQ(extractor->input_size(), 16);
  EXPECT_EQ(extractor->file_hash(), file_sha256(probe_));
  EXPECT_EQ(extractor->file_hash().size(), 64u);

  torch::Tensor stripes = -torch::ones({2, 1, 48, 48});
  stripes.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(),
                      torch::indexing::Slice(1, torch::indexing::None, 3)},
                     1.0);
  FeatureBatch out = extractor->extract(stripes);
  ASSERT_EQ(out.features.sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_FALSE(out.probs.defined());
  EXPECT_FLOAT_EQ(out.features[0][3].item<float>(), 3) << "gray repeated to 3 channels";
  EXPECT_FLOAT_EQ(out.features[0][4].item<float>(), 16) << "resized to input_size";
  EXPECT_FLOAT_EQ(out.features[0][5].item<float>(), 16);
  EXPECT_NEAR(out.features[0][0].item<float>(), -1.0 / 3, 0.05) << "antialiased: the stripes average out";
  EXPECT_FLOAT_EQ(out.features[0][0].item<float>(), out.features[0][2].item<float>());

  FeatureBatch up = extractor->extract(torch::zeros({1, 3, 8, 8}));
  EXPECT_FLOAT_EQ(up.features[0][4].item<float>(), 16) << "small images are enlarged";
}

TEST_F(TorchScriptExtractorTest, MapsValuesToTheRangeTheModuleExpects) {
  torch::Tensor half = torch::full({1, 3, 10, 10}, 0.5);
  auto mean_of = [&](const TorchScriptExtractorOptions& o) {
    return load_torchscript_extractor(probe_, o)->extract(half).features[0][0].item<float>();
  };
  EXPECT_FLOAT_EQ(mean_of(options(10, "-1,1")), 0.5f);
  EXPECT_FLOAT_EQ(mean_of(options(10, "0,1")), 0.75f);
  EXPECT_FLOAT_EQ(mean_of(options(10, "0,255")), 191.25f);
  TorchScriptExtractorOptions imagenet = options(10, "0,1");
  imagenet.normalize = "imagenet";
  FeatureBatch out = load_torchscript_extractor(probe_, imagenet)->extract(half);
  EXPECT_NEAR(out.features[0][0].item<float>(), (0.75 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(out.features[0][2].item<float>(), (0.75 - 0.406) / 0.225, 1e-5);

  TorchScriptExtractorOptions one = options(10, "-1,1", 1);
  torch::Tensor red = torch::stack({torch::ones({10, 10}), -torch::ones({10, 10}), -torch::ones({10, 10})}).unsqueeze(0);
  FeatureBatch luma = load_torchscript_extractor(probe_, one)->extract(red);
  ASSERT_EQ(luma.features.size(1), 4) << "one channel mean + C, H, W";
  EXPECT_NEAR(luma.features[0][0].item<float>(), 0.299 - 0.587 - 0.114, 1e-5);
  EXPECT_FLOAT_EQ(luma.features[0][1].item<float>(), 1);
}

TEST_F(TorchScriptExtractorTest, ReadsFeaturesAndLogitsFromATuple) {
  std::string path = save_module_source(dir_, "classes", kClassesSource);
  TorchScriptExtractorOptions o = options(8, "-1,1");
  o.num_classes = 4;
  auto extractor = load_torchscript_extractor(path, o);
  EXPECT_EQ(extractor->num_classes(), 4);
  EXPECT_EQ(extractor->feature_dim(), 3);
  FeatureBatch out = extractor->extract(torch::full({2, 3, 8, 8}, 0.5));
  ASSERT_EQ(out.probs.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_NEAR(out.probs[0].sum().item<float>(), 1.0f, 1e-5);
  EXPECT_EQ(out.probs[0].argmax().item<int64_t>(), 3) << "positive mean: the largest logit is class 3";

  EXPECT_NE(error_of([&] { load_torchscript_extractor(path, options(8, "-1,1")); }).find("tuple"), std::string::npos)
      << "a tuple without num_classes says to pass them";
  o.num_classes = 5;
  EXPECT_NE(error_of([&] { load_torchscript_extractor(path, o); }).find("logits must be"), std::string::npos);
}

TEST_F(TorchScriptExtractorTest, FlattensPooledFeatures) {
  std::string path = save_module_source(dir_, "pooled", kPooledSource);
  auto extractor = load_torchscript_extractor(path, options(8, "0,1"));
  EXPECT_EQ(extractor->extract(torch::zeros({3, 3, 8, 8})).features.sizes(), (std::vector<int64_t>{3, 3}));
}

TEST_F(TorchScriptExtractorTest, BadFilesAndOptionsAreErrors) {
  EXPECT_NE(error_of([&] { load_torchscript_extractor(dir_ + "/missing.pt", options(8, "0,1")); }).find("not found"),
            std::string::npos);
  std::ofstream(dir_ + "/garbage.pt") << "this is not a zip archive";
  EXPECT_NE(error_of([&] { load_torchscript_extractor(dir_ + "/garbage.pt", options(8, "0,1")); }).find("not a TorchScript"),
            std::string::npos);
  std::string bytes = read_file(probe_);
  write_file_atomic(dir_ + "/truncated.pt", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(load_torchscript_extractor(dir_ + "/truncated.pt", options(8, "0,1")), Error);
  std::string scalar = save_module_source(dir_, "scalar", kScalarSource);
  EXPECT_NE(error_of([&] { load_torchscript_extractor(scalar, options(8, "0,1")); }).find("features must be"),
            std::string::npos);
  EXPECT_THROW(load_torchscript_extractor(probe_, options(8, "0,2")), Error);
  EXPECT_THROW(load_torchscript_extractor(probe_, options(0, "0,1")), Error);
  TorchScriptExtractorOptions bad_norm = options(8, "-1,1");
  bad_norm.normalize = "imagenet";
  EXPECT_THROW(load_torchscript_extractor(probe_, bad_norm), Error) << "imagenet statistics need range 0,1";
}

TEST_F(TorchScriptExtractorTest, ExtractFeaturesBatchesAndConvertsBytes) {
  auto extractor = load_torchscript_extractor(probe_, options(12, "-1,1"));
  torch::Tensor bytes = torch::randint(0, 256, {5, 1, 12, 12}, torch::kUInt8);
  FeatureBatch batched = extract_features(*extractor, bytes, 2, "");
  ASSERT_EQ(batched.features.sizes(), (std::vector<int64_t>{5, 6}));
  FeatureBatch whole = extractor->extract(bytes.to(torch::kFloat32) / 127.5 - 1);
  EXPECT_TRUE(torch::allclose(batched.features, whole.features, 1e-6, 1e-6)) << "uint8 is mapped to [-1, 1]";
  EXPECT_THROW(extract_features(*extractor, bytes, 0, ""), Error);
  EXPECT_THROW(extract_features(*extractor, torch::zeros({2, 12, 12}), 2, ""), Error);
}

TEST(ClassifierExtractor, UsesThePenultimateLayerAndSoftmax) {
  std::string run = make_temp_dir("features_classifier");
  torch::manual_seed(3);
  ClassifierOptions o;
  o.channels(1).image_size(28).num_classes(3).width(8).feature_dim(12);
  Classifier model(o);
  save_module(*model, run + "/model.pt");
  write_json(run + "/config.json", {{"family", "classifier"},
                                    {"model", classifier_options_to_json(o)},
                                    {"classes", {"square", "circle", "triangle"}}});
  auto extractor = load_classifier_extractor(run);
  EXPECT_EQ(extractor->feature_dim(), 12);
  EXPECT_EQ(extractor->num_classes(), 3);
  EXPECT_EQ(extractor->input_size(), 28);
  EXPECT_EQ(extractor->input_channels(), 1);
  EXPECT_EQ(extractor->class_names(), (std::vector<std::string>{"square", "circle", "triangle"}));
  EXPECT_EQ(extractor->file_hash(), file_sha256(run + "/model.pt"));

  torch::Tensor images = torch::rand({4, 3, 56, 56}) * 2 - 1;  // RGB at twice the size: converted
  FeatureBatch out = extractor->extract(images);
  ASSERT_EQ(out.features.sizes(), (std::vector<int64_t>{4, 12}));
  ASSERT_EQ(out.probs.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(torch::allclose(out.probs.sum(1), torch::ones({4}), 1e-5, 1e-5));
  model->eval();
  torch::NoGradGuard no_grad;
  ClassifierOutput direct = model->forward(fit_images(images, 1, 28));
  EXPECT_TRUE(torch::allclose(out.features, direct.features, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(out.probs, torch::softmax(direct.logits, 1), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(extractor->extract(images).features, out.features)) << "eval mode: no dropout";
  fs::remove_all(run);
  EXPECT_THROW(load_classifier_extractor(run), Error);
}
