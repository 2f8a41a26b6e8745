#include "tests/unit/test_util.h"
#include "latentkit/train/gan_trainer.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

namespace {

GanTrainOptions tiny(const std::string& out) {
  GanTrainOptions o;
  o.out = out;
  o.data.spec = "shapes:64";
  o.data.size = 28;
  o.model.latent_dim(8).width(8);
  o.epochs = 2;
  o.batch = 16;  // 4 steps per epoch
  o.seed = 11;
  o.threads = 1;
  o.checkpoint_every = 3;
  o.log_every = 2;
  o.sample_count = 4;
  return o;
}

size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace

TEST(GanTrainer, WritesTheWholeRunFolder) {
  std::string run = make_temp_dir("trainer_folder");
  TrainSummary s = train_gan(tiny(run), false);
  EXPECT_EQ(s.steps, 8);
  EXPECT_EQ(s.threads, 1);
  EXPECT_FALSE(s.interrupted);
  nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["family"], "dcgan");
  EXPECT_EQ(config["model"]["channels"], 3) << "the model takes its shape from the data";
  EXPECT_EQ(config["model"]["image_size"], 28);
  EXPECT_EQ(count_lines(run + "/train.jsonl"), 4u);  // steps 2, 4, 6, 8
  nlohmann::json last = nlohmann::json::parse(read_file(run + "/train.jsonl").substr(0, read_file(run + "/train.jsonl").find('\n')));
  EXPECT_EQ(last["step"], 2);
  EXPECT_TRUE(last["d_loss"].is_number());
  EXPECT_EQ(read_image(run + "/samples/epoch-001.png").width, 2 * 28 + 3 * 2) << "4 samples in a 2x2 grid";
  EXPECT_TRUE(fs::exists(run + "/samples/epoch-002.png"));
  EXPECT_EQ(read_image(run + "/losses.png").width, 800);
  EXPECT_EQ(*latest_checkpoint(run), run + "/checkpoints/step-0000008.pt");

  auto generator = load_generator(run);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(generator->decode(torch::zeros({1, 8})).sizes(), (std::vector<int64_t>{1, 3, 28, 28}));
  fs::remove_all(run);
}

TEST(GanTrainer, StoppedAndResumedEqualsUninterrupted) {
  std::string straight = make_temp_dir("trainer_straight");
  std::string split = make_temp_dir("trainer_split");
  train_gan(tiny(straight), false);
  GanTrainOptions first = tiny(split);
  first.max_steps = 5;  // stops between the checkpoints at 3 and 6: resume replays 4 and 5
  train_gan(first, false);
  fs::remove(split + "/checkpoints/step-0000005.pt");
  write_file_atomic(split + "/checkpoints/latest", "step-0000003.pt\n");
  TrainSummary s = train_gan(tiny(split), true);
  EXPECT_EQ(s.steps_run, 5);
  GanTrainOptions o = tiny(straight);
  DcganOptions m = o.model;
  m.channels(3).image_size(28);
  DcganGenerator a(m), b(m);
  load_module(*a, straight + "/model.pt");
  load_module(*b, split + "/model.pt");
  auto pa = a->parameters();
  auto pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  EXPECT_EQ(count_lines(split + "/train.jsonl"), 4u) << "log lines after the checkpoint are replaced, not doubled";
  fs::remove_all(straight);
  fs::remove_all(split);
}

TEST(GanTrainer, RefusesToOverwriteOrResumeNothing) {
  std::string run = make_temp_dir("trainer_refuse");
  EXPECT_THROW(train_gan(tiny(run), true), Error);
  GanTrainOptions o = tiny(run);
  o.max_steps = 1;
  train_gan(o, false);
  try {
    train_gan(o, false);
    FAIL() << "overwrote an existing run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos);
  }
  fs::remove_all(run);
}

TEST(GanTrainer, BadOptionsAreClearErrors) {
  GanTrainOptions o = tiny(make_temp_dir("trainer_bad"));
  o.batch = 1000;  // larger than the 64 images
  EXPECT_THROW(train_gan(o, false), Error);
  o = tiny(make_temp_dir("trainer_bad2"));
  o.epochs = 0;
  EXPECT_THROW(train_gan(o, false), Error);
}
