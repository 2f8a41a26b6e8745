// SPADE: the generator and its map modulation, the multi-scale discriminator, the trainer.
#include "latentkit/models/spade.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/files.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/spade_trainer.h"
#include "test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::expect_error;
using test_util::TempDir;

SpadeOptions tiny() { return SpadeOptions().channels(4).image_size(16).classes(5).latent_dim(8).width(4).d_width(4); }

TEST(Spade, GeneratorDrawsTheMapsSizeAndListensToMapAndStyle) {
  torch::manual_seed(1);
  SpadeGenerator g(tiny());
  g->eval();
  EXPECT_EQ(g->blocks->size(), 3u);  // 4, 8 and 16 px
  torch::Tensor maps = torch::randint(5, {2, 16, 16}, torch::kInt64);
  torch::Tensor z = torch::randn({2, 8});
  torch::NoGradGuard no_grad;
  torch::Tensor a = g->forward(z, one_hot_maps(maps, 5));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 4, 16, 16}));
  EXPECT_LE(a.abs().max().item<float>(), 1.0f);
  // The same map with another z, and another map with the same z, change the picture.
  EXPECT_GT((g->forward(torch::randn({2, 8}), one_hot_maps(maps, 5)) - a).abs().mean().item<float>(), 1e-4);
  EXPECT_GT((g->forward(z, one_hot_maps((maps + 1).remainder(5), 5)) - a).abs().mean().item<float>(), 1e-4);
  // A map touches the picture locally: changing one corner of the map leaves the far corner alone.
  torch::Tensor changed = maps.clone();
  changed.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)},
                     (maps.index({torch::indexing::Slice(), torch::indexing::Slice(0, 2), torch::indexing::Slice(0, 2)}) + 1)
                         .remainder(5));
  torch::Tensor b = g->forward(z, one_hot_maps(changed, 5));
  EXPECT_GT((b - a).slice(2, 0, 2).slice(3, 0, 2).abs().max().item<float>(), 1e-5);
  expect_error([&] { g->forward(z, one_hot_maps(maps, 5).slice(2, 0, 8)); }, {"maps must be one-hot [N, 5, 16, 16]"});
}

TEST(Spade, DiscriminatorJudgesEveryScaleAndKeepsItsFeatures) {
  SpadeDiscriminator d(tiny().d_scales(2).d_layers(3));
  auto out = d->forward(torch::zeros({3, 4, 16, 16}), torch::zeros({3, 5, 16, 16}));
  ASSERT_EQ(out.size(), 2u);
  for (const auto& scale : out) {
    ASSERT_EQ(scale.size(), 4u);  // 3 layers and the logits
    EXPECT_EQ(scale.back().size(1), 1);
    EXPECT_EQ(scale.back().size(0), 3);
  }
  EXPECT_GT(out[0].back().size(2), out[1].back().size(2));
  expect_error([&] { d->forward(torch::zeros({1, 3, 16, 16}), torch::zeros({1, 5, 16, 16})); }, {"9 channels"});
}

TEST(Spade, OptionsRoundTripAndBadValues) {
  SpadeOptions o = tiny().palette("regions");
  SpadeOptions back = spade_options_from_json(spade_options_to_json(o));
  EXPECT_EQ(spade_options_to_json(back), spade_options_to_json(o));
  EXPECT_EQ(o.levels(), 2);
  expect_error([&] { tiny().image_size(48).validate(); }, {"power of two", "48"});
  expect_error([&] { tiny().classes(1).validate(); }, {"2..64 classes"});
}

SpadeTrainOptions tiny_run(const std::string& out) {
  SpadeTrainOptions o;
  o.loop.out = out;
  o.loop.data.spec = "shapes-scenes:24";
  o.loop.data.size = 16;
  o.model.width(4).d_width(4).latent_dim(8);
  o.loop.epochs = 2;
  o.loop.batch = 8;  // 3 steps per epoch
  o.loop.seed = 5;
  o.loop.threads = 1;
  o.loop.checkpoint_every = 2;
  o.loop.log_every = 2;
  o.loop.sample_count = 4;
  return o;
}

TEST(SpadeTrainer, WritesTheRunLoadsAndResumesExactly) {
  TempDir dir;
  SpadeTrainOptions o = tiny_run(dir.str() + "/run");
  TrainSummary s = train_spade(o, false);
  EXPECT_EQ(s.steps, 6);
  nlohmann::json config = read_json(o.loop.out + "/config.json");
  EXPECT_EQ(config["family"], "spade");
  EXPECT_EQ(config["model"]["palette"], "scenes");
  EXPECT_EQ(config["model"]["classes"], 4);
  EXPECT_EQ(config["classes"][2], "circle");
  for (const char* f : {"model.pt", "losses.png", "samples/epoch-002.png", "train.jsonl"}) {
    EXPECT_TRUE(fs::exists(o.loop.out + "/" + f)) << f;
  }
  nlohmann::json row = test_util::read_jsonl(o.loop.out + "/train.jsonl").front();
  EXPECT_GT(row["diversity"].get<double>(), 0.0);
  SpadeRun run = load_spade(o.loop.out);
  torch::Tensor maps = torch::randint(4, {2, 16, 16}, torch::kInt64);
  torch::Tensor images = spade_generate(*run.net, maps, torch::randn({2, 8}));
  EXPECT_EQ(images.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  expect_error([&] { spade_generate(*run.net, torch::zeros({1, 8, 8}), torch::randn({1, 8})); },
               {"the map is 8x8", "draws 16x16"});
  expect_error([&] { load_generator(o.loop.out); }, {"spade", "--mask"});
  // Stopped after step 4 (checkpoint at 2) and resumed: the same weights as straight through.
  SpadeTrainOptions first = tiny_run(dir.str() + "/split");
  first.loop.max_steps = 4;
  train_spade(first, false);
  SpadeTrainOptions rest = read_spade_run_options(first.loop.out);
  rest.loop.max_steps = 0;
  fs::remove(first.loop.out + "/checkpoints/step-0000004.pt");
  write_file_atomic(first.loop.out + "/checkpoints/latest", "step-0000002.pt\n");
  train_spade(rest, true);
  SpadeRun again = load_spade(first.loop.out);
  auto pa = run.net->parameters(), pb = again.net->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  auto ba = run.net->buffers(), bb = again.net->buffers();
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i])) << "buffer " << i;
}

TEST(SpadeTrainer, GrayDataWithoutMapsIsAClearError) {
  TempDir dir;
  SpadeTrainOptions o = tiny_run(dir.str() + "/run");
  o.loop.data.spec = "fashion-mnist";
  o.loop.data.limit = 16;
  expect_error([&] { train_spade(o, false); }, {"gray", "no label maps", "shapes-scenes"});
}

}  // namespace
}  // namespace latentkit
