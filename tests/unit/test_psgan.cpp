// PSGAN: the latent grid and its waves, the reach of a cell, seamless tiles, the trainer.
#include "latentkit/models/psgan.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/files.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/psgan_trainer.h"
#include "test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::expect_error;
using test_util::TempDir;

PsganOptions tiny() { return PsganOptions().local_dim(3).global_dim(4).periodic_dim(2).mlp_hidden(8).width(8).layers(3).crop(16); }

// A network with random BatchNorm statistics, in eval mode, so the tests see a real one.
PsganGenerator random_net(const PsganOptions& o) {
  torch::manual_seed(3);
  PsganGenerator net(o);
  torch::NoGradGuard no_grad;
  for (auto& b : net->named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
  }
  for (auto& p : net->parameters()) p.normal_(0, 0.3);
  net->eval();
  return net;
}

TEST(Psgan, GridHoldsLocalGlobalAndWavesAtTheCellCoordinates) {
  PsganGenerator net = random_net(tiny());
  PsganLatent z = psgan_training_latent(tiny(), 2, 3);
  z.local = torch::randn({2, 3, 3, 5});
  z.x0 = -2;
  z.y0 = 7;
  torch::NoGradGuard no_grad;
  torch::Tensor g = net->grid(z);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{2, 9, 3, 5}));
  EXPECT_TRUE(torch::equal(g.narrow(1, 0, 3), z.local));
  EXPECT_TRUE(torch::equal(g.select(0, 1).narrow(0, 3, 4).select(1, 2).select(1, 4), z.global[1]));
  torch::Tensor k = net->waves(z.global);  // [2, 2, P], within (-pi, pi)
  EXPECT_LT(k.abs().max().item<double>(), M_PI);
  // Image 1, wave 1, cell (row 2, column 4) is at x = -2 + 4 = 2, y = 7 + 2 = 9.
  const double want = std::sin(k[1][0][1].item<double>() * 2 + k[1][1][1].item<double>() * 9 + z.phase[1][1].item<double>());
  EXPECT_NEAR(g[1][3 + 4 + 1][2][4].item<double>(), want, 1e-5);
  EXPECT_EQ(net->forward(g).sizes(), (std::vector<int64_t>{2, 3, 24, 40}));
}

TEST(Psgan, APixelDependsOnlyOnCellsWithinTheReach) {
  const PsganOptions o = tiny();
  PsganGenerator net = random_net(o);
  torch::NoGradGuard no_grad;
  PsganLatent z = psgan_training_latent(o, 1, 9);
  torch::Tensor before = net->forward(net->grid(z));
  // Change the local noise of cell (4, 4): cells more than kPsganReach away keep every pixel.
  z.local.select(2, 4).select(2, 4).add_(5.0);
  torch::Tensor diff = (net->forward(net->grid(z)) - before).abs().sum(1).squeeze(0);  // [72, 72]
  const int64_t cell = o.cell();
  double near = 0, far = 0;
  for (int64_t cy = 0; cy < 9; ++cy) {
    for (int64_t cx = 0; cx < 9; ++cx) {
      const double change = diff.narrow(0, cy * cell, cell).narrow(1, cx * cell, cell).max().item<double>();
      const bool within = std::abs(cx - 4) <= kPsganReach && std::abs(cy - 4) <= kPsganReach;
      (within ? near : far) = std::max(within ? near : far, change);
    }
  }
  EXPECT_GT(near, 1e-2);
  EXPECT_LT(far, 1e-6);
}

TEST(Psgan, WrappedNoiseAndRoundedWavesTile) {
  const PsganOptions o = tiny();
  PsganGenerator net = random_net(o);
  torch::NoGradGuard no_grad;
  // A tile of 5 x 4 cells, its noise repeated twice across and down beyond a margin.
  const int64_t tw = 5, th = 4, r = kPsganReach;
  PsganLatent tile = psgan_training_latent(o, 1, 1);
  tile.local = torch::randn({1, 3, th, tw});
  tile.global = tile.global * 3;  // large wave vectors, so rounding them matters
  const auto cols = torch::arange(-r, 2 * tw + r).remainder(tw), rows = torch::arange(-r, 2 * th + r).remainder(th);
  PsganLatent z = tile;
  z.local = tile.local.index_select(2, rows).index_select(3, cols);
  z.x0 = z.y0 = -r;
  const auto seam = [&](PsganLatent latent) {
    torch::Tensor x = net->forward(net->grid(latent));
    const int64_t c = o.cell();
    torch::Tensor first = x.narrow(2, r * c, th * c).narrow(3, r * c, tw * c);
    torch::Tensor right = x.narrow(2, r * c, th * c).narrow(3, (r + tw) * c, tw * c);
    torch::Tensor below = x.narrow(2, (r + th) * c, th * c).narrow(3, r * c, tw * c);
    return std::max((first - right).abs().max().item<double>(), (first - below).abs().max().item<double>());
  };
  z.tile_w = tw;
  z.tile_h = th;
  EXPECT_LT(seam(z), 1e-4);
  z.tile_w = z.tile_h = 0;  // the waves' own periods do not fit the tile
  EXPECT_GT(seam(z), 1e-2);
}

TEST(Psgan, OptionsRoundTripAndBadValues) {
  PsganOptions o = tiny();
  EXPECT_EQ(psgan_options_to_json(psgan_options_from_json(psgan_options_to_json(o))), psgan_options_to_json(o));
  EXPECT_EQ(o.cell(), 8);
  EXPECT_EQ(o.grid_channels(), 9);
  expect_error([&] { tiny().crop(20).validate(); }, {"multiple of 8", "--size 20"});
  expect_error([&] { tiny().crop(8).validate(); }, {"at least twice"});
  expect_error([&] { tiny().channels(4).validate(); }, {"RGB"});
}

TEST(Psgan, ModelDecodesTheStyleWithFixedNoise) {
  PsganModel model(random_net(tiny()), 3);
  EXPECT_EQ(model.latent_dim(), 4);
  EXPECT_EQ(model.image_shape(), (std::array<int64_t, 3>{3, 24, 24}));
  torch::NoGradGuard no_grad;
  torch::Tensor z = torch::randn({2, 4});
  torch::Tensor a = model.decode(z), b = model.decode(z.flip(0));
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 3, 24, 24}));
  EXPECT_TRUE(torch::allclose(a[0], b[1]));  // the same noise for every row: the image is the style's
  EXPECT_GT((a[0] - a[1]).abs().mean().item<double>(), 1e-3);
  expect_error([&] { model.decode(torch::randn({1, 5})); }, {"[N, 4]", "global"});
  // Evaluation draws fresh layouts: the same style, other images; the same rng, the same ones.
  torch::Generator r1 = make_rng(1), r2 = make_rng(2), r1_again = make_rng(1);
  torch::Tensor s1 = model.sample_images(z, {}, r1);
  EXPECT_EQ(s1.sizes(), a.sizes());
  EXPECT_TRUE(torch::equal(s1, model.sample_images(z, {}, r1_again)));
  EXPECT_GT((s1 - model.sample_images(z, {}, r2)).abs().mean().item<double>(), 1e-3);
  EXPECT_GT((s1 - a).abs().mean().item<double>(), 1e-3);
}

// A folder of 3 gradient images, 96 x 64 and 64 x 96 (every 8th file, the first, is test).
std::string write_folder(const TempDir& dir) {
  for (int i = 0; i < 3; ++i) {
    Image image(i == 1 ? 64 : 96, i == 1 ? 96 : 64, 3);
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x)
        for (int c = 0; c < 3; ++c) image.at(x, y, c) = static_cast<uint8_t>((x * (c + 1) + y * (3 - c) + 40 * i) % 256);
    write_png(dir.file("walls/w" + std::to_string(i) + ".png"), image);
  }
  return "wallpapers:" + dir.str() + "/walls";
}

PsganTrainOptions tiny_run(const std::string& out, const std::string& spec) {
  PsganTrainOptions o;
  o.loop.out = out;
  o.loop.data.spec = spec;
  o.loop.data.size = 16;
  o.model = tiny();
  o.loop.data.limit = 24;
  o.loop.epochs = 2;
  o.loop.batch = 8;  // 3 steps per epoch
  o.loop.seed = 5;
  o.loop.threads = 1;
  o.loop.checkpoint_every = 2;
  o.loop.log_every = 2;
  o.loop.sample_count = 2;
  return o;
}

TEST(PsganTrainer, WritesTheRunLoadsAndResumesExactly) {
  TempDir dir;
  const std::string spec = write_folder(dir);
  PsganTrainOptions o = tiny_run(dir.str() + "/run", spec);
  TrainSummary s = train_psgan(o, false);
  EXPECT_EQ(s.steps, 6);
  nlohmann::json config = read_json(o.loop.out + "/config.json");
  EXPECT_EQ(config["family"], "psgan");
  EXPECT_EQ(config["model"]["crop"], 16);
  for (const char* f : {"model.pt", "losses.png", "samples/epoch-002.png", "train.jsonl"}) {
    EXPECT_TRUE(fs::exists(o.loop.out + "/" + f)) << f;
  }
  const Image samples = read_image(o.loop.out + "/samples/epoch-002.png");
  EXPECT_GE(samples.width, 2 * 32);  // two samples of twice the crop, side by side
  std::unique_ptr<Generator> g = load_generator(o.loop.out);
  EXPECT_EQ(g->family(), "psgan");
  EXPECT_EQ(g->latent_dim(), 4);
  // Stopped after step 4 (checkpoint at 2) and resumed: the same weights as straight through.
  PsganTrainOptions first = tiny_run(dir.str() + "/split", spec);
  first.loop.max_steps = 4;
  train_psgan(first, false);
  PsganTrainOptions rest = read_psgan_run_options(first.loop.out);
  rest.loop.max_steps = 0;
  fs::remove(first.loop.out + "/checkpoints/step-0000004.pt");
  write_file_atomic(first.loop.out + "/checkpoints/latest", "step-0000002.pt\n");
  train_psgan(rest, true);
  EXPECT_TRUE(read_file(o.loop.out + "/model.pt") == read_file(first.loop.out + "/model.pt"));
}

TEST(PsganTrainer, DataThatIsNotSquareRgbIsAClearError) {
  TempDir dir;
  PsganTrainOptions o = tiny_run(dir.str() + "/run", "emoji");
  o.loop.data.spec = "shapes:16";
  o.loop.data.channels = 1;
  expect_error([&] { train_psgan(o, false); }, {"square RGB crops", "--data wallpapers"});
}

}  // namespace
}  // namespace latentkit
