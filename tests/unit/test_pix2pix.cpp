// pix2pix: the U-Net and PatchGAN, tiling, paired data and the trainer.
#include "latentkit/models/pix2pix.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/folder.h"
#include "latentkit/models/generator.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/pix2pix_trainer.h"
#include "test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::error_of;
using test_util::expect_error;
using test_util::TempDir;

torch::Tensor random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  torch::Generator rng = make_rng(seed);
  return torch::rand({n, c, h, w}, rng) * 2 - 1;
}

TEST(Pix2pix, GeneratorKeepsEverySizeAndDepthFollowsTheSize) {
  EXPECT_EQ(Pix2pixOptions().image_size(28).levels(), 4);
  EXPECT_EQ(Pix2pixOptions().image_size(64).levels(), 6);
  EXPECT_EQ(Pix2pixOptions().image_size(256).levels(), 8);
  EXPECT_EQ(Pix2pixOptions().image_size(256).depth(3).levels(), 3);
  torch::NoGradGuard no_grad;
  for (int64_t c : {1, 3}) {
    for (int64_t size : {28, 32, 64, 256}) {
      Pix2pixGenerator g(Pix2pixOptions().channels(c).image_size(size).width(4).residual(false));
      g->eval();
      torch::Tensor y = g->forward(random_images(2, c, size, size, 1));
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, c, size, size})) << size;
      EXPECT_LE(y.abs().max().item<double>(), 1.0) << "tanh output";
    }
    // Sizes that are not multiples of 2^depth are padded and cropped back.
    Pix2pixGenerator g(Pix2pixOptions().channels(c).image_size(28).width(4));
    g->eval();
    EXPECT_EQ(g->forward(random_images(1, c, 37, 45, 2)).sizes(), (std::vector<int64_t>{1, c, 37, 45}));
    EXPECT_EQ(g->forward(random_images(1, c, 5, 3, 2)).sizes(), (std::vector<int64_t>{1, c, 5, 3}));
  }
  expect_error([] { Pix2pixGenerator(Pix2pixOptions().channels(2)); }, {"channels must be 1, 3 or 4"});
  expect_error([] { Pix2pixGenerator(Pix2pixOptions().image_size(4)); }, {"8..1024"});
}

TEST(Pix2pix, ResidualGeneratorStartsAsTheIdentity) {
  Pix2pixGenerator g(Pix2pixOptions().image_size(28).width(8));
  torch::Tensor x = random_images(3, 1, 28, 28, 3);
  g->train();  // dropout and batch statistics on: the zeroed last layer still adds nothing
  EXPECT_TRUE(torch::equal(g->forward(x), x));
}

TEST(Pix2pix, SkipConnectionsCarryEachPixelStraightThrough) {
  // With the tanh output (no residual path) an output pixel still depends mostly on the input
  // pixels around it: the outermost skip carries them, not the 2x2 bottleneck.
  torch::manual_seed(0);
  Pix2pixGenerator g(Pix2pixOptions().image_size(32).width(8).residual(false));
  g->eval();
  torch::Tensor x = random_images(1, 1, 32, 32, 4).requires_grad_(true);
  g->forward(x)[0][0][16][16].backward();
  torch::Tensor grad = x.grad()[0][0].abs();
  const double near = grad.slice(0, 12, 20).slice(1, 12, 20).sum().item<double>();
  const double all = grad.sum().item<double>();
  EXPECT_GT(near / all, 0.5) << "share of the gradient within 4 pixels: " << near / all;
  EXPECT_GT(all, 0.0);
}

TEST(Pix2pix, PatchGanGivesOneLogitPerPatch) {
  torch::NoGradGuard no_grad;
  // The 70x70 PatchGAN of pix2pix: 30x30 logits on 256x256.
  PatchDiscriminator big(Pix2pixOptions().channels(3).image_size(256).width(4));
  EXPECT_EQ(big->forward(random_images(1, 3, 256, 256, 5), random_images(1, 3, 256, 256, 6)).sizes(),
            (std::vector<int64_t>{1, 1, 30, 30}));
  PatchDiscriminator small(Pix2pixOptions().image_size(28).width(8));
  EXPECT_EQ(small->forward(random_images(2, 1, 28, 28, 5), random_images(2, 1, 28, 28, 6)).sizes(),
            (std::vector<int64_t>{2, 1, 5, 5}));
  PatchDiscriminator tiny(Pix2pixOptions().image_size(8).width(8));  // one strided layer under 16 px
  EXPECT_EQ(tiny->forward(random_images(1, 1, 8, 8, 5), random_images(1, 1, 8, 8, 6)).sizes(),
            (std::vector<int64_t>{1, 1, 2, 2}));
  expect_error([] { PatchDiscriminator(Pix2pixOptions().image_size(16).d_layers(4)); }, {"--d-layers 4", "at least"});
}

TEST(Pix2pix, TilesBlendBackExactly) {
  torch::Tensor x = random_images(1, 3, 70, 53, 7);
  int calls = 0;
  auto affine = [&](const torch::Tensor& t) {
    ++calls;
    return t * 2 + 1;
  };
  EXPECT_TRUE(torch::allclose(apply_tiled(affine, x, 32, 8), x * 2 + 1, 1e-5, 1e-5));
  EXPECT_EQ(calls, 6) << "tiles of 32 with 8 overlap: rows at 0, 24, 38 and columns at 0, 21 cover 70 x 53";
  calls = 0;
  EXPECT_TRUE(torch::equal(apply_tiled(affine, x, 128, 8), x * 2 + 1));
  EXPECT_EQ(calls, 1) << "an image inside one tile goes through whole";
  // The enhancer on a large image: tiled, clamped, the same size.
  Pix2pixGenerator g(Pix2pixOptions().image_size(28).width(4).residual(false));
  g->eval();
  torch::Tensor y = enhance_image(*g, x.slice(1, 0, 1), 32);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, 70, 53}));
  EXPECT_LE(y.abs().max().item<double>(), 1.0);
}

TEST(Pix2pix, TrainingStepsLearnToDenoise) {
  torch::manual_seed(1);
  Pix2pixOptions o = Pix2pixOptions().image_size(16).width(8);
  Pix2pixGenerator g(o);
  PatchDiscriminator d(o);
  torch::optim::Adam opt_g(g->parameters(), torch::optim::AdamOptions(2e-3).betas({0.5, 0.999}));
  torch::optim::Adam opt_d(d->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  // Smooth targets (blurred random fields) and their noisy copies.
  torch::Tensor target = torch::nn::functional::avg_pool2d(random_images(16, 1, 20, 20, 8),
                                                           torch::nn::functional::AvgPool2dFuncOptions(5).stride(1));
  target = target / target.abs().max();
  torch::Generator rng = make_rng(2);
  torch::Tensor input = (target + 0.3 * torch::randn(target.sizes(), rng)).clamp(-1, 1);
  const double before = (input - target).abs().mean().item<double>();
  Pix2pixStep r;
  for (int step = 0; step < 80; ++step) r = pix2pix_train_step(*g, *d, opt_g, opt_d, input, target, 100.0);
  EXPECT_LT(r.l1.item<double>(), 0.6 * before) << "L1 " << r.l1.item<double>() << " against the input's " << before;
  EXPECT_TRUE(std::isfinite(r.d_loss.item<double>()) && std::isfinite(r.g_gan.item<double>()));

  // The plain L1 U-Net: the discriminator is neither run nor trained, and G still learns.
  Pix2pixGenerator g2(o);
  PatchDiscriminator d2(o);
  const torch::Tensor d_before = d2->parameters()[0].clone();
  torch::optim::Adam opt_g2(g2->parameters(), torch::optim::AdamOptions(2e-3).betas({0.5, 0.999}));
  torch::optim::Adam opt_d2(d2->parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  for (int step = 0; step < 80; ++step) r = pix2pix_train_step(*g2, *d2, opt_g2, opt_d2, input, target, 100.0, nullptr, false);
  EXPECT_LT(r.l1.item<double>(), 0.6 * before);
  EXPECT_EQ(r.d_loss.item<double>(), 0.0);
  EXPECT_EQ(r.g_gan.item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(d2->parameters()[0], d_before));
}

void write_gray(const std::string& path, int width, int height, uint8_t value) {
  write_png(path, Image(width, height, 1, value));
}

TEST(Pix2pixData, AlignedFoldersPairByName) {
  TempDir dir;
  write_gray(dir.file("a/one.png"), 20, 20, 10);
  write_gray(dir.file("a/sub/two.png"), 30, 30, 20);
  write_gray(dir.file("b/one.png"), 20, 20, 110);
  write_gray(dir.file("b/sub/two.png"), 30, 30, 120);
  DataOptions o;
  o.spec = "folder:" + dir.str() + "/a," + dir.str() + "/b";
  o.size = 8;
  o.channels = 1;
  ImagePairs p = load_image_pairs(o);
  ASSERT_EQ(p.a.size(0), 2);
  EXPECT_EQ(p.names, (std::vector<std::string>{"one.png", "sub/two.png"}));
  EXPECT_EQ(p.a[1].max().item<int>(), 20);
  EXPECT_EQ(p.b[1].min().item<int>(), 120);
  // A file with no partner is named.
  write_gray(dir.file("a/three.png"), 20, 20, 0);
  expect_error([&] { load_image_pairs(o); }, {"three.png has no partner", "same file names"});
  fs::remove(dir.str() + "/a/three.png");
  write_gray(dir.file("b/four.png"), 20, 20, 0);
  expect_error([&] { load_image_pairs(o); }, {"four.png has no partner"});
  // Paired specs are not datasets of their own.
  expect_error([&] { load_dataset(o); }, {"paired data", "--model pix2pix"});
  o.spec = "folder:" + dir.str() + "/a";
  expect_error([&] { load_image_pairs(o); }, {"folder:A_DIR,B_DIR"});
}

TEST(Pix2pixData, SideBySideImagesSplitInHalves) {
  TempDir dir;
  Image ab(40, 20, 3, 0);
  for (int y = 0; y < 20; ++y) {
    for (int x = 20; x < 40; ++x) ab.at(x, y, 0) = 200;  // B: red
  }
  write_png(dir.file("p/x.png"), ab);
  DataOptions o;
  o.spec = "pairs:" + dir.str() + "/p";
  o.size = 10;
  ImagePairs p = load_image_pairs(o);
  ASSERT_EQ(p.a.sizes(), (std::vector<int64_t>{1, 3, 10, 10}));
  EXPECT_EQ(p.a.max().item<int>(), 0);
  EXPECT_EQ(p.b[0][0].min().item<int>(), 200);
  EXPECT_EQ(p.b[0][1].max().item<int>(), 0);
}

Pix2pixTrainOptions tiny_run(const std::string& out) {
  Pix2pixTrainOptions o;
  o.loop.out = out;
  o.loop.data.spec = "fashion-mnist";
  o.loop.data.limit = 48;
  o.loop.data.size = 16;
  o.tasks = {"denoise", "deblur"};
  o.model.width(4);
  o.loop.epochs = 2;
  o.loop.batch = 16;  // 3 steps per epoch
  o.loop.seed = 3;
  o.loop.threads = 1;
  o.loop.checkpoint_every = 2;
  o.loop.log_every = 2;
  o.loop.sample_count = 4;
  return o;
}

TEST(Pix2pixTrainer, WritesTheRunAndResumesExactly) {
  TempDir dir;
  Pix2pixTrainOptions o = tiny_run(dir.str() + "/run");
  TrainSummary s = train_pix2pix(o, false);
  EXPECT_EQ(s.steps, 6);
  nlohmann::json config = read_json(o.loop.out + "/config.json");
  EXPECT_EQ(config["family"], "pix2pix");
  EXPECT_EQ(config["model"]["depth"], 4);
  EXPECT_EQ(config["train"]["tasks"], (std::vector<std::string>{"denoise", "deblur"}));
  for (const char* f : {"model.pt", "losses.png", "samples/epoch-002.png", "train.jsonl"}) {
    EXPECT_TRUE(fs::exists(o.loop.out + "/" + f)) << f;
  }
  Pix2pixRun run = load_pix2pix(o.loop.out);
  EXPECT_EQ(run.tasks.size(), 2u);
  expect_error([&] { load_generator(o.loop.out); }, {"pix2pix", "latentkit enhance"});
  // Stopped after step 4 (checkpoint at 2) and resumed: the same weights as straight through.
  Pix2pixTrainOptions first = tiny_run(dir.str() + "/split");
  first.loop.max_steps = 4;
  train_pix2pix(first, false);
  Pix2pixTrainOptions rest = read_pix2pix_run_options(first.loop.out);
  rest.loop.max_steps = 0;
  fs::remove(first.loop.out + "/checkpoints/step-0000004.pt");
  write_file_atomic(first.loop.out + "/checkpoints/latest", "step-0000002.pt\n");
  train_pix2pix(rest, true);
  Pix2pixRun again = load_pix2pix(first.loop.out);
  auto pa = run.net->parameters(), pb = again.net->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  auto ba = run.net->buffers(), bb = again.net->buffers();
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i])) << "buffer " << i;
}

TEST(Pix2pixTrainer, PairedDataAndClearErrors) {
  TempDir dir;
  for (int i = 0; i < 4; ++i) {
    write_gray(dir.file("a/" + std::to_string(i) + ".png"), 12, 12, static_cast<uint8_t>(10 * i));
    write_gray(dir.file("b/" + std::to_string(i) + ".png"), 12, 12, static_cast<uint8_t>(100 + 10 * i));
  }
  Pix2pixTrainOptions o = tiny_run(dir.str() + "/run");
  o.tasks.clear();
  o.loop.data = DataOptions();
  o.loop.data.spec = "folder:" + dir.str() + "/a," + dir.str() + "/b";
  o.loop.data.size = 8;
  o.loop.data.channels = 1;
  o.loop.batch = 2;
  TrainSummary s = train_pix2pix(o, false);
  EXPECT_EQ(s.steps, 4);
  EXPECT_EQ(read_json(o.loop.out + "/config.json")["model"]["image_size"], 8);
  Pix2pixTrainOptions task_on_pairs = o;
  task_on_pairs.loop.out = dir.str() + "/x";
  task_on_pairs.tasks = {"denoise"};
  expect_error([&] { train_pix2pix(task_on_pairs, false); }, {"paired data", "no --task"});
  Pix2pixTrainOptions no_task = tiny_run(dir.str() + "/y");
  no_task.tasks.clear();
  expect_error([&] { train_pix2pix(no_task, false); }, {"needs --task", "folder:A_DIR,B_DIR"});
  Pix2pixTrainOptions unknown = tiny_run(dir.str() + "/z");
  unknown.tasks = {"sharpen"};
  expect_error([&] { train_pix2pix(unknown, false); }, {"unknown task 'sharpen'"});
  Pix2pixTrainOptions colorize = tiny_run(dir.str() + "/c");
  colorize.tasks = {"colorize"};
  expect_error([&] { train_pix2pix(colorize, false); }, {"colorize", "needs color data"});
}

}  // namespace
}  // namespace latentkit
