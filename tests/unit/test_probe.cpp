#include "tests/unit/test_util.h"
#include "latentkit/steer/probe.h"

#include <algorithm>
#include <torch/script.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <map>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/eval/features.h"
#include "latentkit/eval/npy.h"
#include "latentkit/models/classifier.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::bad_input_error_of;
using test_util::error_of;
using test_util::expect_error;
using test_util::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// A [1, 1, 8, 8] image in [-1, 1]: background everywhere, ink on rows [r0, r1) and
// columns [c0, c1).
torch::Tensor rectangle(int64_t r0, int64_t r1, int64_t c0, int64_t c1, float background = -1, float ink = 1) {
  using torch::indexing::Slice;
  torch::Tensor image = torch::full({1, 1, 8, 8}, background);
  image.index_put_({0, 0, Slice(r0, r1), Slice(c0, c1)}, ink);
  return image;
}

std::string save_script(const std::string& path, const char* source) {
  torch::jit::Module module("Scorer");
  module.define(source);
  module.save(path);
  return path;
}

constexpr char kMeanSource[] = R"(
def forward(self, x):
    return x.mean([1, 2, 3])
)";

constexpr char kColumnSource[] = R"(
def forward(self, x):
    return x.amax([1, 2, 3]).unsqueeze(1)
)";

constexpr char kTwoSource[] = R"(
def forward(self, x):
    return torch.stack([x.mean([1, 2, 3]), x.mean([1, 2, 3])], 1)
)";

constexpr char kNanSource[] = R"(
def forward(self, x):
    return x.mean([1, 2, 3]) * float('nan')
)";

// ---- conversions and attributes ----

TEST(Probe, ImagesToFloatMapsBytesToMinusOneToOne) {
  torch::Tensor bytes = torch::tensor({0, 255, 51, 204}, torch::kUInt8).view({1, 1, 2, 2});
  torch::Tensor f = images_to_float(bytes);
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
  EXPECT_EQ(f.sizes(), bytes.sizes());
  EXPECT_FLOAT_EQ(f[0][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(f[0][0][0][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(f[0][0][1][0].item<float>(), -0.6f);
  EXPECT_FLOAT_EQ(f[0][0][1][1].item<float>(), 0.6f);
  torch::Tensor floats = torch::rand({2, 3, 4, 4}) * 2 - 1;
  EXPECT_TRUE(torch::equal(images_to_float(floats), floats)) << "floats pass through";
  EXPECT_EQ(images_to_float(floats.to(torch::kFloat64)).scalar_type(), torch::kFloat32);
}

TEST(Probe, AttributeNames) {
  std::vector<std::string> gray = attribute_names(1);
  ASSERT_EQ(gray.size(), 7u);
  EXPECT_EQ(gray, (std::vector<std::string>{"brightness", "contrast", "ink", "width", "height", "centre-x", "centre-y"}));
  std::vector<std::string> colour = attribute_names(3);
  ASSERT_EQ(colour.size(), 8u);
  EXPECT_EQ(colour.back(), "saturation");
  for (const std::string& name : colour) EXPECT_EQ(axis_slug(name), name) << "usable as axis names";
}

TEST(Probe, AttributesOfARectangleHaveClosedForms) {
  // White 2 x 4 rectangle on rows 5-6, columns 1-4 of a black 8 x 8 image.
  torch::Tensor a = image_attributes(rectangle(5, 7, 1, 5));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{1, 7}));
  EXPECT_EQ(a.scalar_type(), torch::kFloat64);
  const double p = 8.0 / 64;
  EXPECT_NEAR(a[0][0].item<double>(), p, 1e-12) << "brightness";
  EXPECT_NEAR(a[0][1].item<double>(), std::sqrt(p * (1 - p)), 1e-12) << "contrast: population std";
  EXPECT_NEAR(a[0][2].item<double>(), p, 1e-12) << "ink";
  EXPECT_NEAR(a[0][3].item<double>(), 4.0 / 8, 1e-12) << "width";
  EXPECT_NEAR(a[0][4].item<double>(), 2.0 / 8, 1e-12) << "height";
  EXPECT_NEAR(a[0][5].item<double>(), (1.5 + 2.5 + 3.5 + 4.5) / 4 / 8, 1e-12) << "centre-x";
  EXPECT_NEAR(a[0][6].item<double>(), (5.5 + 6.5) / 2 / 8, 1e-12) << "centre-y";

  // The same as bytes; and inverted (black on white) only brightness changes.
  torch::Tensor bytes = ((rectangle(5, 7, 1, 5) + 1) * 127.5).round().to(torch::kUInt8);
  EXPECT_LT(max_abs(image_attributes(bytes) - a), 1e-12);
  torch::Tensor inverted = image_attributes(rectangle(5, 7, 1, 5, 1, -1));
  EXPECT_NEAR(inverted[0][0].item<double>(), 1 - p, 1e-12);
  EXPECT_LT(max_abs(inverted.slice(1, 1) - a.slice(1, 1)), 1e-12);

  // An L of two strokes: the bounding box spans both, the centre weights every pixel.
  torch::Tensor l = rectangle(1, 7, 2, 3);
  l.index_put_({0, 0, 6, torch::indexing::Slice(2, 6)}, 1.0f);
  torch::Tensor la = image_attributes(l);
  EXPECT_NEAR(la[0][2].item<double>(), 9.0 / 64, 1e-12);
  EXPECT_NEAR(la[0][3].item<double>(), 4.0 / 8, 1e-12);
  EXPECT_NEAR(la[0][4].item<double>(), 6.0 / 8, 1e-12);
  EXPECT_NEAR(la[0][5].item<double>(), (6 * 2.5 + 3.5 + 4.5 + 5.5) / 9 / 8, 1e-12);
  EXPECT_NEAR(la[0][6].item<double>(), (1.5 + 2.5 + 3.5 + 4.5 + 5.5 + 4 * 6.5) / 9 / 8, 1e-12);
}

TEST(Probe, RgbaAttributesAreMeasuredOnTheDrawnPixels) {
  // Left half opaque pure red, right half transparent (premultiplied: all -1), and a second
  // image with a hidden color under zero alpha, which must not count.
  torch::Tensor x = torch::full({2, 4, 8, 8}, -1.0);
  x[0][0].slice(1, 0, 4).fill_(1.0);
  x[0][3].slice(1, 0, 4).fill_(1.0);
  x[1].copy_(x[0]);
  x[1][1].slice(1, 4, 8).fill_(1.0);  // green above zero alpha: a generator's stray output
  const torch::Tensor a = image_attributes(x);
  const std::vector<std::string> names = attribute_names(4);
  ASSERT_EQ(a.size(1), static_cast<int64_t>(names.size()));
  const std::map<std::string, double> want = {
      {"brightness", 0.299}, {"contrast", 0.0}, {"ink", 0.5}, {"width", 0.5}, {"height", 1.0},
      {"centre-x", 0.25}, {"centre-y", 0.5}, {"saturation", 1.0},
      {"colorfulness", 0.3 * std::sqrt(1.25)},  // R - G = 1, (R + G) / 2 - B = 0.5, no spread
      {"hue-cos", 1.0}, {"hue-sin", 0.5}, {"coverage", 0.5}};
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(want.count(names[i])) << names[i];
    EXPECT_NEAR(a[0][static_cast<int64_t>(i)].item<double>(), want.at(names[i]), 1e-6) << names[i];
  }
  EXPECT_TRUE(torch::allclose(a[0], a[1]));
  // Opaque blue: the hue turns to 240 degrees.
  torch::Tensor blue = torch::full({1, 4, 4, 4}, -1.0);
  blue[0][2].fill_(1.0);
  blue[0][3].fill_(1.0);
  const torch::Tensor ab = image_attributes(blue);
  EXPECT_NEAR(ab[0][9].item<double>(), (std::cos(4 * M_PI / 3) + 1) / 2, 1e-6);
  EXPECT_NEAR(ab[0][10].item<double>(), (std::sin(4 * M_PI / 3) + 1) / 2, 1e-6);
}

TEST(Probe, InkIsWhatDiffersFromTheBorderByMoreThanTheThreshold) {
  // Differences of 0.1 and 0.2 in [0, 1] units (0.2 and 0.4 in [-1, 1]).
  torch::Tensor faint = image_attributes(rectangle(2, 4, 2, 6, -1, -0.8f));
  EXPECT_EQ(faint[0][2].item<double>(), 0.0);
  torch::Tensor visible = image_attributes(rectangle(2, 4, 2, 6, -1, -0.6f));
  EXPECT_NEAR(visible[0][2].item<double>(), 8.0 / 64, 1e-12);
  // Mid-gray ink on a mid-gray background is no ink at all.
  torch::Tensor flat = image_attributes(torch::zeros({1, 1, 8, 8}));
  EXPECT_NEAR(flat[0][0].item<double>(), 0.5, 1e-12);
  EXPECT_EQ(flat[0][1].item<double>(), 0.0);
}

TEST(Probe, AnEmptyImageHasNoInkAndCentredCentres) {
  for (float value : {-1.0f, 1.0f}) {
    torch::Tensor a = image_attributes(torch::full({1, 1, 8, 8}, value));
    EXPECT_NEAR(a[0][0].item<double>(), (value + 1) / 2, 1e-12);
    EXPECT_EQ(a[0][1].item<double>(), 0.0) << "contrast";
    EXPECT_EQ(a[0][2].item<double>(), 0.0) << "ink";
    EXPECT_EQ(a[0][3].item<double>(), 0.0) << "width";
    EXPECT_EQ(a[0][4].item<double>(), 0.0) << "height";
    EXPECT_EQ(a[0][5].item<double>(), 0.5) << "centre-x";
    EXPECT_EQ(a[0][6].item<double>(), 0.5) << "centre-y";
  }
}

TEST(Probe, SaturationOfColourImages) {
  torch::Tensor red = torch::stack({torch::ones({6, 6}), -torch::ones({6, 6}), -torch::ones({6, 6})}).unsqueeze(0);
  torch::Tensor gray = torch::full({1, 3, 6, 6}, 0.2f);
  torch::Tensor a = image_attributes(torch::cat({red, gray}));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 8}));
  EXPECT_NEAR(a[0][7].item<double>(), 1.0, 1e-12) << "pure red";
  EXPECT_NEAR(a[1][7].item<double>(), 0.0, 1e-12) << "gray";
  EXPECT_NEAR(a[0][0].item<double>(), 1.0 / 3, 1e-12) << "brightness: the mean over the channels";
  EXPECT_NEAR(a[1][0].item<double>(), 0.6, 1e-7);
  // Half-saturated: channels 0.5, 0, 0 in [0, 1].
  torch::Tensor dim = torch::stack({torch::zeros({6, 6}), -torch::ones({6, 6}), -torch::ones({6, 6})}).unsqueeze(0);
  EXPECT_NEAR(image_attributes(dim)[0][7].item<double>(), 0.5, 1e-12);
}

TEST(Probe, AttributesOfABatchAreThoseOfEachImage) {
  torch::Tensor batch = torch::cat({rectangle(5, 7, 1, 5), torch::full({1, 1, 8, 8}, -1.0f), rectangle(0, 8, 3, 4)});
  torch::Tensor a = image_attributes(batch);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{3, 7}));
  for (int64_t i = 0; i < 3; ++i) EXPECT_LT(max_abs(a[i] - image_attributes(batch.slice(0, i, i + 1))[0]), 1e-12) << i;
}

TEST(Probe, AttributesRefuseOtherShapes) {
  expect_error([] { image_attributes(torch::zeros({1, 2, 8, 8})); }, {"[N, 1, 3 or 4, H, W]"});
  expect_error([] { image_attributes(torch::zeros({1, 8, 8})); }, {"[N, 1, 3 or 4, H, W]"});
}

// ---- ImageScorer ----

TEST(Probe, RgbaCoverageHasAGradientAndHueNone) {
  FeatureSpec spec;
  ImageScorer scorer(spec, 4);
  const std::vector<std::string> names = attribute_names(4);
  auto column = [&](const std::string& name) {
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  EXPECT_TRUE(scorer.has_gradient(column("coverage")));
  EXPECT_TRUE(scorer.has_gradient(column("brightness")));
  for (const char* none : {"hue-cos", "hue-sin", "colorfulness", "ink", "width"}) {
    EXPECT_FALSE(scorer.has_gradient(column(none))) << none;
  }
  // Coverage is the mean alpha: d coverage / d alpha = 1 / (H W) at every pixel, 0 for color.
  torch::Tensor x = (torch::rand({1, 4, 4, 4}, make_rng(5)) * 1.6 - 0.8).requires_grad_(true);
  torch::Tensor coverage = scorer.score_graph(x).select(1, static_cast<int64_t>(column("coverage"))).sum();
  torch::Tensor g = torch::autograd::grad({coverage}, {x})[0];
  // alpha in [-1, 1] maps to [0, 1]: a factor 1/2.
  EXPECT_LT(max_abs(g.select(1, 3) - 0.5 / 16), 1e-12);
  EXPECT_LT(max_abs(g.slice(1, 0, 3)), 1e-12);
}

TEST(Probe, AttributeScorerScoresTheAttributes) {
  FeatureSpec spec;
  ImageScorer scorer(spec, 1);
  ASSERT_EQ(scorer.columns().size(), 7u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(scorer.columns()[i].label, attribute_names(1)[i]);
    EXPECT_EQ(scorer.columns()[i].kind, "continuous");
    EXPECT_EQ(scorer.columns()[i].source, "attribute");
  }
  torch::Tensor images = torch::cat({rectangle(5, 7, 1, 5), rectangle(1, 3, 2, 7)});
  torch::Tensor scores = scorer.score(images);
  EXPECT_EQ(scores.scalar_type(), torch::kFloat64);
  EXPECT_LT(max_abs(scores - image_attributes(images)), 1e-12);
  torch::Tensor bytes = ((images + 1) * 127.5).round().to(torch::kUInt8);
  EXPECT_LT(max_abs(scorer.score(bytes) - scores), 1e-12);

  torch::Tensor many = torch::rand({5, 1, 8, 8}, make_rng(3)) * 2 - 1;
  EXPECT_LT(max_abs(scorer.score_all(many, 2, "") - scorer.score(many)), 1e-12);
  EXPECT_LT(max_abs(scorer.score_all(many, 2, "attributes") - scorer.score(many)), 1e-12);
  EXPECT_THROW(scorer.score_all(many, 0, ""), Error);
  expect_error([&] { scorer.score(torch::zeros({1, 3, 8, 8})); }, {"[N, 1, H, W]"});

  nlohmann::json d = scorer.describe();
  EXPECT_EQ(d.at("attributes"), true);
  EXPECT_TRUE(d.at("scorers").empty());
  EXPECT_TRUE(d.at("scorer_sha256").empty());
  EXPECT_FALSE(d.contains("classifier"));
  FeatureSpec back = feature_spec_from_json(d);
  EXPECT_EQ(back.classifier, "");
  EXPECT_TRUE(back.attributes);
  EXPECT_TRUE(back.scorers.empty());
}

TEST(Probe, TorchScriptScorersAddColumns) {
  TempDir dir;
  const std::string mean = save_script(dir.file("mean.pt"), kMeanSource);
  const std::string peak = save_script(dir.file("peak.pt"), kColumnSource);
  FeatureSpec spec;
  spec.scorers = {"Mean value=" + mean, "peak=" + peak};
  ImageScorer scorer(spec, 3);
  ASSERT_EQ(scorer.columns().size(), 10u);
  EXPECT_EQ(scorer.columns()[7].label, "saturation");
  EXPECT_EQ(scorer.columns()[8].label, "Mean value");
  EXPECT_EQ(scorer.columns()[8].source, "scorer");
  EXPECT_EQ(scorer.columns()[8].kind, "continuous");
  EXPECT_EQ(scorer.columns()[9].label, "peak");
  torch::Tensor images = torch::rand({4, 3, 8, 8}, make_rng(4)) * 2 - 1;
  torch::Tensor scores = scorer.score(images);
  ASSERT_EQ(scores.sizes(), (std::vector<int64_t>{4, 10}));
  EXPECT_LT(max_abs(scores.slice(1, 0, 8) - image_attributes(images)), 1e-12);
  EXPECT_LT(max_abs(scores.select(1, 8) - images.mean({1, 2, 3}).to(torch::kFloat64)), 1e-6);
  EXPECT_LT(max_abs(scores.select(1, 9) - images.amax({1, 2, 3}).to(torch::kFloat64)), 1e-7);
  // Scorers see floats in [-1, 1] also when given bytes.
  torch::Tensor bytes = torch::full({1, 3, 8, 8}, 255, torch::kUInt8);
  EXPECT_NEAR(scorer.score(bytes)[0][8].item<double>(), 1.0, 1e-7);

  nlohmann::json d = scorer.describe();
  EXPECT_EQ(d.at("scorer_sha256"), (nlohmann::json{file_sha256(mean), file_sha256(peak)}));
  FeatureSpec back = feature_spec_from_json(d);
  EXPECT_EQ(back.scorers, spec.scorers);
  EXPECT_TRUE(back.attributes);

  // Scorers only.
  spec.attributes = false;
  ImageScorer only(spec, 3);
  ASSERT_EQ(only.columns().size(), 2u);
  EXPECT_LT(max_abs(only.score(images) - scores.slice(1, 8)), 1e-12);
  EXPECT_EQ(feature_spec_from_json(only.describe()).attributes, false);
}

TEST(Probe, BadScorersAreErrors) {
  TempDir dir;
  const std::string mean = save_script(dir.file("mean.pt"), kMeanSource);
  auto scorer_error = [](const std::vector<std::string>& scorers, bool attributes = true, int64_t channels = 1) {
    FeatureSpec spec;
    spec.attributes = attributes;
    spec.scorers = scorers;
    return bad_input_error_of([&] { ImageScorer scorer(spec, channels); });
  };
  EXPECT_TRUE(contains(scorer_error({}, false), "no features to score"));
  EXPECT_TRUE(contains(scorer_error({}, true, 2), "1, 3 or 4 channels"));
  for (const std::string& item : {std::string("noequals"), "=" + mean, std::string("name=")}) {
    EXPECT_TRUE(contains(scorer_error({item}), "must be NAME=MODEL.pt")) << item;
  }
  const std::string missing = dir.file("missing.pt");
  std::string message = scorer_error({"s=" + missing});
  EXPECT_TRUE(contains(message, "no file " + missing)) << message;
  const std::string garbage = dir.file("garbage.pt");
  std::ofstream(garbage) << "not a zip archive";
  EXPECT_TRUE(contains(scorer_error({"s=" + garbage}), "is not a TorchScript module"));
  message = scorer_error({"Ink=" + mean});
  EXPECT_TRUE(contains(message, "two features are both called 'ink'")) << message;
  EXPECT_TRUE(contains(scorer_error({"a=" + mean, "A=" + mean}, false), "both called 'a'"));
  EXPECT_TRUE(contains(scorer_error({"?!=" + mean}), "needs a name with a letter or digit"));

  FeatureSpec spec;
  spec.attributes = false;
  spec.scorers = {"two=" + save_script(dir.file("two.pt"), kTwoSource)};
  ImageScorer two(spec, 1);
  EXPECT_TRUE(contains(bad_input_error_of([&] { two.score(torch::zeros({3, 1, 8, 8})); }), "must return [N] or [N, 1]"));
  spec.scorers = {"nan=" + save_script(dir.file("nan.pt"), kNanSource)};
  ImageScorer nan(spec, 1);
  EXPECT_TRUE(contains(bad_input_error_of([&] { nan.score(torch::zeros({3, 1, 8, 8})); }), "NaN or Inf"));
}

TEST(Probe, FeatureSpecFromJson) {
  FeatureSpec spec = feature_spec_from_json(nlohmann::json::object());
  EXPECT_EQ(spec.classifier, "");
  EXPECT_TRUE(spec.attributes);
  EXPECT_TRUE(spec.scorers.empty());
  spec = feature_spec_from_json({{"classifier", "runs/clf"}, {"attributes", false}, {"scorers", {"a=b.pt"}}});
  EXPECT_EQ(spec.classifier, "runs/clf");
  EXPECT_FALSE(spec.attributes);
  EXPECT_EQ(spec.scorers, (std::vector<std::string>{"a=b.pt"}));
  expect_error([] { feature_spec_from_json({{"attributes", "yes"}}); }, {"malformed feature description"});
  expect_error([] { feature_spec_from_json({{"scorers", "a=b.pt"}}); }, {"malformed feature description"});
}

class ProbeClassifier : public ::testing::Test {
 protected:
  // A 3-class classifier with two factor heads, untrained, as a run folder.
  void make_run(bool with_names) {
    torch::manual_seed(5);
    options_.channels(1).image_size(28).num_classes(3).num_factors(2).width(8).feature_dim(12);
    model_ = Classifier(options_);
    save_module(*model_, dir_.file("run/model.pt"));
    nlohmann::json config = {{"family", "classifier"}, {"model", classifier_options_to_json(options_)}};
    if (with_names) {
      config["classes"] = {"Sandal", "Bag", "Ankle boot"};
      config["factor_names"] = {"slant", "stroke width"};
    }
    write_json(dir_.file("run/config.json"), config);
  }
  std::string run() const { return dir_.str() + "/run"; }
  TempDir dir_;
  ClassifierOptions options_;
  Classifier model_{nullptr};
};

TEST_F(ProbeClassifier, ClassProbabilitiesAndFactorsComeFirst) {
  make_run(true);
  FeatureSpec spec;
  spec.classifier = run();
  ImageScorer scorer(spec, 1);
  const std::vector<FeatureColumn>& c = scorer.columns();
  ASSERT_EQ(c.size(), 12u);
  EXPECT_EQ(c[0].label, "Sandal");
  EXPECT_EQ(c[0].kind, "probability");
  EXPECT_EQ(c[0].source, "class");
  EXPECT_EQ(c[2].label, "Ankle boot");
  EXPECT_EQ(c[3].label, "slant");
  EXPECT_EQ(c[3].kind, "continuous");
  EXPECT_EQ(c[3].source, "factor");
  EXPECT_EQ(c[5].label, "brightness");

  torch::Tensor images = torch::rand({4, 1, 28, 28}, make_rng(6)) * 2 - 1;
  torch::Tensor scores = scorer.score(images);
  ASSERT_EQ(scores.sizes(), (std::vector<int64_t>{4, 12}));
  model_->eval();
  torch::NoGradGuard no_grad;
  ClassifierOutput out = model_->forward(images);
  EXPECT_LT(max_abs(scores.slice(1, 0, 3) - torch::softmax(out.logits, 1).to(torch::kFloat64)), 1e-6);
  EXPECT_LT(max_abs(scores.slice(1, 3, 5) - out.factors.to(torch::kFloat64)), 1e-6);
  EXPECT_LT(max_abs(scores.slice(1, 5) - image_attributes(images)), 1e-12);

  nlohmann::json d = scorer.describe();
  EXPECT_EQ(d.at("classifier"), run());
  EXPECT_EQ(d.at("classifier_sha256"), file_sha256(run() + "/model.pt"));
  EXPECT_EQ(feature_spec_from_json(d).classifier, run());

  spec.classifier = dir_.str() + "/nope";
  EXPECT_TRUE(contains(error_of([&] { ImageScorer missing(spec, 1); }), "not found"));
}

// BUG (probe.cpp, ImageScorer::ImageScorer: one column per name in class_names and
// factor_names, while score() returns every class probability and factor the model
// has): a classifier run whose config.json lists no "classes" (load_classifier_run allows
// that) scores more columns than columns() names.
TEST_F(ProbeClassifier, ColumnsMatchTheScoresWhenTheRunNamesNoClasses) {
  make_run(false);
  FeatureSpec spec;
  spec.classifier = run();
  try {
    ImageScorer scorer(spec, 1);
    EXPECT_EQ(scorer.score(torch::zeros({2, 1, 28, 28})).size(1), static_cast<int64_t>(scorer.columns().size()));
  } catch (const Error& e) {
    SUCCEED() << "refusing such a run is fine too: " << e.what();
  }
}

// ---- sample_pairs ----

class ProbePairs : public ::testing::Test {
 protected:
  void SetUp() override {
    DcganOptions o;
    o.channels(1).image_size(28).latent_dim(8).width(8);
    torch::manual_seed(1);
    DcganGenerator net(o);
    save_module(*net, dir_.file("run/model.pt"));
    generator_ = std::make_unique<DcganModel>(net);
  }
  PairOptions options(uint64_t seed = 7) const {
    PairOptions o;
    o.n = 12;
    o.batch = 5;
    o.seed = seed;
    o.cache_dir = dir_.str() + "/cache";
    return o;
  }
  std::string run() const { return dir_.str() + "/run"; }
  size_t cache_files() const {
    if (!fs::exists(dir_.str() + "/cache")) return 0;
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_.str() + "/cache"), fs::directory_iterator{}));
  }
  TempDir dir_;
  std::unique_ptr<DcganModel> generator_;
};

TEST_F(ProbePairs, SamplesSeededLatentsAndTheirImagesAsBytes) {
  Pairs pairs = sample_pairs(*generator_, run(), options());
  ASSERT_EQ(pairs.z.sizes(), (std::vector<int64_t>{12, 8}));
  EXPECT_EQ(pairs.z.scalar_type(), torch::kFloat32);
  ASSERT_EQ(pairs.images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
  EXPECT_EQ(pairs.images.scalar_type(), torch::kUInt8);
  EXPECT_FALSE(pairs.from_cache);
  torch::Generator rng = make_rng(7);
  EXPECT_TRUE(torch::equal(pairs.z, generator_->sample_latent(12, rng)));
  torch::NoGradGuard no_grad;
  for (int64_t start : {0, 5, 10}) {
    torch::Tensor z = pairs.z.slice(0, start, std::min<int64_t>(12, start + 5));
    torch::Tensor expected = ((generator_->decode(z).clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8);
    EXPECT_TRUE(torch::equal(pairs.images.slice(0, start, start + z.size(0)), expected)) << "batch at " << start;
  }
  EXPECT_GT(pairs.images.to(torch::kFloat32).std().item<float>(), 0.0f) << "not a constant image";
}

TEST_F(ProbePairs, TheSecondCallReadsTheCache) {
  Pairs first = sample_pairs(*generator_, run(), options());
  ASSERT_FALSE(first.cache.empty());
  EXPECT_TRUE(fs::exists(first.cache + ".z.npy"));
  EXPECT_TRUE(fs::exists(first.cache + ".images.npy"));
  EXPECT_EQ(fs::path(first.cache).parent_path(), fs::path(dir_.str() + "/cache"));
  Pairs second = sample_pairs(*generator_, run(), options());
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.cache, first.cache);
  EXPECT_TRUE(torch::equal(second.z, first.z));
  EXPECT_TRUE(torch::equal(second.images, first.images));
  EXPECT_EQ(second.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(cache_files(), 2u);

  // Another seed, n or truncation is another cache entry.
  Pairs other = sample_pairs(*generator_, run(), options(8));
  EXPECT_FALSE(other.from_cache);
  EXPECT_NE(other.cache, first.cache);
  EXPECT_FALSE(torch::equal(other.z, first.z));
  PairOptions more = options();
  more.n = 13;
  EXPECT_FALSE(sample_pairs(*generator_, run(), more).from_cache);
  PairOptions truncated = options();
  truncated.truncation = 0.5;
  Pairs t = sample_pairs(*generator_, run(), truncated);
  EXPECT_FALSE(t.from_cache);
  EXPECT_LE(t.z.abs().max().item<float>(), 0.5f);
  EXPECT_EQ(cache_files(), 8u);
}

TEST_F(ProbePairs, NewWeightsOrADamagedCacheAreSampledAgain) {
  Pairs first = sample_pairs(*generator_, run(), options());
  // A cache entry of another shape under the same key is not trusted.
  write_npy(first.cache + ".z.npy", torch::zeros({3, 8}));
  Pairs again = sample_pairs(*generator_, run(), options());
  EXPECT_FALSE(again.from_cache);
  EXPECT_TRUE(torch::equal(again.z, first.z));
  EXPECT_TRUE(sample_pairs(*generator_, run(), options()).from_cache) << "rewritten";

  // Other weights in model.pt: another key.
  DcganOptions o;
  o.channels(1).image_size(28).latent_dim(8).width(8);
  torch::manual_seed(2);
  DcganGenerator net(o);
  save_module(*net, run() + "/model.pt");
  DcganModel other(net);
  Pairs fresh = sample_pairs(other, run(), options());
  EXPECT_FALSE(fresh.from_cache);
  EXPECT_NE(fresh.cache, first.cache);
  EXPECT_TRUE(torch::equal(fresh.z, first.z)) << "same seed, same latents";
  EXPECT_FALSE(torch::equal(fresh.images, first.images));
}

TEST_F(ProbePairs, WithoutTheCacheNothingIsWritten) {
  PairOptions o = options();
  o.use_cache = false;
  Pairs pairs = sample_pairs(*generator_, run(), o);
  EXPECT_EQ(pairs.cache, "");
  EXPECT_FALSE(pairs.from_cache);
  EXPECT_EQ(cache_files(), 0u);
  // Nor is an existing entry read.
  Pairs cached = sample_pairs(*generator_, run(), options());
  write_npy(cached.cache + ".z.npy", torch::zeros({12, 8}));
  Pairs fresh = sample_pairs(*generator_, run(), o);
  EXPECT_FALSE(fresh.from_cache);
  EXPECT_TRUE(torch::equal(fresh.z, pairs.z));
}

TEST_F(ProbePairs, BadOptionsAreErrors) {
  PairOptions o = options();
  o.n = 1;
  expect_error([&] { sample_pairs(*generator_, run(), o); }, {"at least 2"});
  o = options();
  o.batch = 0;
  expect_error([&] { sample_pairs(*generator_, run(), o); }, {"batch must be at least 1"});
  const std::string empty = dir_.str() + "/empty";
  fs::create_directories(empty);
  expect_error([&] { sample_pairs(*generator_, empty, options()); }, {empty + "/model.pt"});
  o = options();
  o.truncation = -1;
  EXPECT_FALSE(bad_input_error_of([&] { sample_pairs(*generator_, run(), o); }).empty());
  EXPECT_EQ(cache_files(), 0u);
}

}  // namespace
}  // namespace latentkit
