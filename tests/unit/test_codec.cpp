#include "tests/unit/test_util.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/codec/encoder.h"
#include "latentkit/codec/invert.h"
#include "latentkit/codec/placeholder.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/registry.h"
#include "lkrt_code.h"

namespace latentkit {
namespace fs = std::filesystem;

namespace {

using test_util::expect_error;
using test_util::TempDir;

// A tiny generator run: 1 x 28 x 28 images from an 8-dim latent (num_classes > 0: a cgan).
std::string make_run(const std::string& dir, uint64_t seed, int64_t num_classes = 0) {
  DcganOptions o;
  o.channels(1).image_size(28).latent_dim(8).width(8).num_classes(num_classes);
  torch::manual_seed(seed);
  DcganGenerator net(o);
  {
    // Untrained, each layer shrinks its input and the images hardly depend on z; BatchNorm
    // statistics of small variance (as after training) make them.
    torch::NoGradGuard no_grad;
    for (auto& buffer : net->named_buffers()) {
      if (buffer.key().find("running_var") != std::string::npos) buffer.value().fill_(0.02);
    }
  }
  make_dirs(dir);
  save_module(*net, dir + "/model.pt");
  write_json(dir + "/config.json",
             {{"family", num_classes > 0 ? "cgan" : "dcgan"}, {"model", dcgan_options_to_json(o)}});
  return dir;
}

TEST(Quality, PsnrAndSsimHaveTheirClosedForms) {
  torch::Tensor a = torch::full({2, 1, 16, 16}, 0.2), b = torch::full({2, 1, 16, 16}, -0.2);
  // MSE 0.16 in [-1, 1] units: 10 log10(2^2 / 0.16) dB.
  EXPECT_NEAR(psnr(a, b)[0].item<double>(), 10 * std::log10(4 / 0.16), 1e-6);
  // Flat images: only the luminance term is left, (2 mx my + C1) / (mx^2 + my^2 + C1) in [0, 1].
  const double mx = 0.6, my = 0.4, c1 = 1e-4;
  EXPECT_NEAR(ssim(a, b)[1].item<double>(), (2 * mx * my + c1) / (mx * mx + my * my + c1), 1e-7);
  torch::Tensor noise = torch::rand({3, 3, 20, 24}) * 2 - 1;
  torch::Tensor same = ssim(noise, noise);
  EXPECT_TRUE(torch::allclose(same, torch::ones({3}, torch::kFloat64), 0, 1e-9));
  EXPECT_LT(ssim(noise, -noise).max().item<double>(), 0.0) << "inverted structure correlates negatively";
  expect_error([&] { ssim(torch::zeros({1, 1, 8, 8}), torch::zeros({1, 1, 8, 8})); }, {"at least 11 x 11"});
}

TEST(Quality, SsimWeightedByAMaskScoresOnlyThere) {
  torch::Tensor noise = torch::rand({2, 1, 32, 32}) * 2 - 1, other = noise.clone();
  other.slice(3, 16, 32).neg_();  // the right half differs
  EXPECT_TRUE(torch::allclose(ssim(noise, other, torch::ones({2, 1, 32, 32})), ssim(noise, other)));
  // Windows centred in the left columns 5..10 see only equal pixels: SSIM 1 there.
  torch::Tensor left = torch::zeros({2, 1, 32, 32});
  left.slice(3, 0, 11).fill_(1.0);
  EXPECT_TRUE(torch::allclose(ssim(noise, other, left), torch::ones({2}, torch::kFloat64), 0, 1e-9));
  torch::Tensor right = torch::zeros({2, 1, 32, 32});
  right.slice(3, 21, 32).fill_(1.0);
  EXPECT_LT(ssim(noise, other, right).max().item<double>(), 0.0);
  expect_error([&] { ssim(noise, other, torch::ones({2, 1, 8, 8})); }, {"weights must be [N, 1, H, W]"});
}

TEST(Invert, RecoversImagesTheGeneratorMade) {
  TempDir dir;
  std::unique_ptr<Generator> g = load_generator(make_run(dir.file("run"), 3));
  torch::Generator rng = make_rng(9);
  torch::Tensor z = g->sample_latent(3, rng);
  torch::Tensor images;
  {
    torch::NoGradGuard no_grad;
    images = g->decode(z);
  }
  InvertOptions o;
  o.steps = 150;
  o.restarts = 3;
  o.progress = false;
  o.feature_weight = 0;
  // The images differ from one another far more than an inversion may differ from them.
  EXPECT_LT(psnr(images.slice(0, 0, 2), images.slice(0, 1, 3)).max().item<double>(), 15.0);
  Inversion found = invert(*g, images, {}, nullptr, o);
  ASSERT_EQ(found.z.sizes(), z.sizes());
  EXPECT_GT(psnr(found.images, images).min().item<double>(), 25.0);
  EXPECT_TRUE(torch::allclose(found.mse, (found.images - images).pow(2).flatten(1).mean(1).to(torch::kFloat64)));
  // Fewer steps, further off: the optimisation is what recovers them.
  o.steps = 2;
  EXPECT_LT(psnr(invert(*g, images, {}, nullptr, o).images, images).mean().item<double>(),
            psnr(found.images, images).mean().item<double>());
  expect_error([&] { invert(*g, torch::zeros({1, 3, 28, 28}), {}, nullptr, o); }, {"[N, 1, 28, 28]"});
}

TEST(Encoder, LearnsTheLatentsOfGeneratedImagesAndIsBoundToItsGenerator) {
  TempDir dir;
  const std::string run = make_run(dir.file("run"), 4, 3);
  std::unique_ptr<Generator> g = load_generator(run);
  EncoderTrainOptions o;
  o.model.width = 8;
  o.steps = 150;
  o.loop.batch = 32;
  o.loop.lr = 2e-3;
  o.image_weight = 0;
  o.real_weight = 0;
  o.loop.threads = 1;
  EXPECT_FALSE(has_encoder_file(run));
  TrainSummary s = train_encoder(*g, run, o, false);
  EXPECT_EQ(s.steps, 150);
  ASSERT_TRUE(has_encoder_file(run));
  const nlohmann::json config = read_json(run + "/encoder/config.json");
  EXPECT_EQ(config.at("family"), "encoder");
  EXPECT_EQ(config.at("generator_sha256"), file_sha256(run + "/model.pt"));
  EXPECT_TRUE(fs::exists(run + "/encoder/checkpoints/step-0000150.pt"));
  EXPECT_TRUE(fs::exists(run + "/encoder/samples/epoch-001.png"));

  // Stopped after 60 steps and resumed: the same bytes as the straight run.
  const std::string other_run = make_run(dir.file("run2"), 4, 3);
  std::unique_ptr<Generator> g2 = load_generator(other_run);
  EncoderTrainOptions first = o;
  first.loop.max_steps = 60;
  train_encoder(*g2, other_run, first, false);
  EncoderTrainOptions rest = read_encoder_run_options(other_run);
  EXPECT_EQ(rest.steps, 150);
  rest.loop.max_steps = 0;
  train_encoder(*g2, other_run, rest, true);
  EXPECT_TRUE(read_file(run + "/encoder/model.pt") == read_file(other_run + "/encoder/model.pt")) << "bitwise identical";

  torch::Generator rng = make_rng(5);
  torch::Tensor z = g->sample_latent(64, rng);
  torch::Tensor y = torch::randint(3, {64}, rng, torch::kInt64);
  torch::NoGradGuard no_grad;
  torch::Tensor images = g->decode(z, y);
  LatentEncoder loaded = load_encoder(*g, run);
  torch::Tensor guess = loaded->forward(images, y);
  // Closer than the prior's mean (error 1 per dimension) after 150 steps.
  const double error = (guess - z).pow(2).mean().item<double>();
  EXPECT_LT(error, 0.3);
  expect_error([&] { loaded->forward(images); }, {"needs labels"});
  // Other weights in the run: the encoder no longer fits and is refused.
  make_run(run, 5, 3);
  std::unique_ptr<Generator> other = load_generator(run);
  expect_error([&] { load_encoder(*other, run); }, {"other weights", "encoder train"});
}

TEST(Placeholder, CodesDecodeToWhatEncodingPromisedAndOnlyWithTheirModel) {
  TempDir dir;
  const std::string run = make_run(dir.file("run"), 6);
  PlaceholderCodec codec(run, "");
  EXPECT_EQ(codec.model_id().size(), 16u);
  EXPECT_EQ(codec.resolve_method("auto"), "optimise");
  expect_error([&] { codec.resolve_method("posterior"); }, {"its own encoder"});
  expect_error([&] { codec.resolve_method("encoder"); }, {"no encoder", "encoder train"});
  torch::Generator rng = make_rng(1);
  torch::Tensor images;
  {
    torch::NoGradGuard no_grad;
    images = codec.generator().decode(codec.generator().sample_latent(2, rng));
  }
  PlaceholderOptions o;
  o.bytes = 16;
  o.invert.steps = 40;
  o.invert.restarts = 2;
  o.invert.progress = false;
  Placeholders p = codec.encode(images, o);
  ASSERT_EQ(p.codes.size(), 2u);
  EXPECT_EQ(p.method, "optimise");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(p.codes[i].size(), 16u);
    // (16 - 4 header/crc bytes) x 8 bits / 8 dims = 12 bits a value.
    EXPECT_EQ(lkrt::code::unpack(p.codes[i].data(), 16, 8, 0).bits, 12);
    EXPECT_TRUE(torch::allclose(codec.decode(p.codes[i]), p.decoded[static_cast<int64_t>(i)]));
  }
  // 12 bits a value: the code decodes to nearly the unquantised latent's image.
  torch::NoGradGuard no_grad;
  EXPECT_GT(psnr(p.decoded, codec.generator().decode(p.z)).min().item<double>(), 35.0);
  // The same bytes with another model: refused by its tag.
  PlaceholderCodec other(make_run(dir.file("other"), 7), "");
  ASSERT_NE(lkrt::code::model_tag(other.model_id()), lkrt::code::model_tag(codec.model_id()))
      << other.model_id() << " " << codec.model_id();
  expect_error([&] { other.decode(p.codes[0]); }, {"placeholder code is for model tag", "this model's is"});
  std::vector<uint8_t> corrupt = p.codes[0];
  corrupt[5] ^= 0x10;
  expect_error([&] { codec.decode(corrupt); }, {"checksum"});
  // A mean-intensity byte: one value bit less (11), and the decoded image takes the mean.
  codec.quantise(p, images, 16, true);
  EXPECT_EQ(lkrt::code::unpack(p.codes[0].data(), 16, 8, 0).bits, 11);
  for (int64_t i = 0; i < 2; ++i) {
    const double shift = (p.decoded[i] - images[i]).mean().item<double>();
    EXPECT_LT(std::abs(shift), 0.02) << "clamping aside, the means agree to the byte's step";
  }
  o.bytes = 4;
  expect_error([&] { codec.encode(images, o); }, {"too few for latent_dim 8"});
}

TEST(Placeholder, ConditionalModelsCarryTheClass) {
  TempDir dir;
  const std::string run = make_run(dir.file("run"), 8, 10);
  PlaceholderCodec codec(run, "");
  torch::Tensor images = torch::zeros({1, 1, 28, 28});
  PlaceholderOptions o;
  o.invert.steps = 5;
  o.invert.restarts = 1;
  o.invert.progress = false;
  expect_error([&] { codec.encode(images, o); }, {"--class", "--features"});
  Placeholders p = codec.encode(images, o, torch::tensor({7}));
  ASSERT_EQ(p.codes.size(), 1u);
  EXPECT_EQ(lkrt::code::unpack(p.codes[0].data(), p.codes[0].size(), 8, 10).label, 7);
  expect_error([&] { codec.encode(images, o, torch::tensor({10})); }, {"class labels must be in [0, 10)"});
}

}  // namespace
}  // namespace latentkit
