#include "tests/unit/test_util.h"
#include "latentkit/train/gan_trainer.h"

#include <filesystem>
#include <cmath>
#include <fstream>
#include <sstream>

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
  o.loop.out = out;
  o.loop.data.spec = "shapes:64";
  o.loop.data.size = 28;
  o.model.latent_dim(8).width(8);
  o.loop.epochs = 2;
  o.loop.batch = 16;  // 4 steps per epoch
  o.loop.seed = 11;
  o.loop.threads = 1;
  o.loop.checkpoint_every = 3;
  o.loop.log_every = 2;
  o.loop.sample_count = 4;
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
  first.loop.max_steps = 5;  // stops between the checkpoints at 3 and 6: resume replays 4 and 5
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
  o.loop.max_steps = 1;
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
  o.loop.batch = 1000;  // larger than the 64 images
  EXPECT_THROW(train_gan(o, false), Error);
  o = tiny(make_temp_dir("trainer_bad2"));
  o.loop.epochs = 0;
  EXPECT_THROW(train_gan(o, false), Error);
}

TEST(GanTrainer, WganGpMovesTheGeneratorEveryNCriticSteps) {
  torch::manual_seed(5);
  DcganOptions options = DcganOptions().channels(1).image_size(28).latent_dim(8).width(8).critic_norm("none");
  DcganGenerator generator(options);
  DcganDiscriminator critic(options);
  for (const auto& m : critic->modules(false)) {
    EXPECT_EQ(m->as<torch::nn::BatchNorm2d>(), nullptr) << "a WGAN-GP critic has no BatchNorm";
  }
  torch::optim::Adam opt_g(generator->parameters(), torch::optim::AdamOptions(1e-3));
  torch::optim::Adam opt_d(critic->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor real = torch::rand({4, 1, 28, 28}) * 2 - 1;
  auto snapshot = [](torch::nn::Module& m) {
    std::vector<torch::Tensor> p;
    for (const auto& t : m.parameters()) p.push_back(t.detach().clone());
    return p;
  };
  auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!torch::equal(a[i], b[i])) return false;
    }
    return true;
  };
  auto g0 = snapshot(*generator), d0 = snapshot(*critic);
  GanStepResult r = gan_train_step(generator, critic, opt_g, opt_d, real, {GanLoss::kWganGp, 0.0, 10.0, false});
  EXPECT_TRUE(same(g0, snapshot(*generator))) << "a critic-only step leaves G alone";
  EXPECT_FALSE(same(d0, snapshot(*critic)));
  EXPECT_FALSE(r.g_loss.defined());
  ASSERT_TRUE(r.penalty.defined());
  EXPECT_GE(r.penalty.item<double>(), 0.0);
  // d_loss = mean(fake) - mean(real) + 10 * penalty, from the logits the step saw.
  EXPECT_NEAR(r.d_loss.item<double>(),
              (r.fake_logits.mean() - r.real_logits.mean()).item<double>() + 10 * r.penalty.item<double>(), 1e-5);
  r = gan_train_step(generator, critic, opt_g, opt_d, real, {GanLoss::kWganGp, 0.0, 10.0, true});
  EXPECT_FALSE(same(g0, snapshot(*generator))) << "a generator step moves G";
  ASSERT_TRUE(r.g_loss.defined());
  EXPECT_TRUE(std::isfinite(r.g_loss.item<double>()));
}

TEST(GanTrainer, EachLossTrainsAndLogsBothLosses) {
  for (const std::string loss : {"hinge", "wgan-gp"}) {
    std::string run = make_temp_dir("trainer_" + loss);
    GanTrainOptions o = tiny(run);
    o.loss = gan_loss_names().parse(loss);
    if (loss == "wgan-gp") {
      o.model.critic_norm("none");
      o.n_critic = 2;
    }
    TrainSummary s = train_gan(o, false);
    EXPECT_EQ(s.steps, 8) << loss;
    nlohmann::json config = read_json(run + "/config.json");
    EXPECT_EQ(config["train"]["loss"], loss);
    EXPECT_EQ(config["train"]["n_critic"], o.n_critic);
    EXPECT_EQ(config["model"]["critic_norm"], o.model.critic_norm());
    std::istringstream lines(read_file(run + "/train.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      nlohmann::json row = nlohmann::json::parse(line);
      EXPECT_TRUE(row["d_loss"].is_number()) << loss << ": " << line;
      // log_every 2 and n_critic 2: every window holds one generator step.
      EXPECT_TRUE(row["g_loss"].is_number()) << loss << ": " << line;
    }
    // The options survive in config.json for --resume.
    GanTrainOptions back = read_gan_run_options(run);
    EXPECT_EQ(gan_loss_names().name(back.loss), loss);
    EXPECT_EQ(back.n_critic, o.n_critic);
    EXPECT_EQ(back.model.critic_norm(), o.model.critic_norm());
    fs::remove_all(run);
  }
  GanTrainOptions o = tiny(make_temp_dir("trainer_bad_loss"));
  o.loss = GanLoss::kHinge;
  o.label_smoothing = 0.1;
  EXPECT_THROW(train_gan(o, false), Error);
}

TEST(GanTrainer, ConditionalGanOnShapesHueBuckets) {
  for (const std::string cond : {"concat", "projection", "acgan"}) {
    std::string run = make_temp_dir("trainer_cgan_" + cond);
    GanTrainOptions o = tiny(run);
    o.model.num_classes(1).conditioning(cond);
    o.condition_on = ConditionOn::kHue;
    o.loop.max_steps = 4;
    o.loop.sample_count = 12;
    train_gan(o, false);
    nlohmann::json config = read_json(run + "/config.json");
    EXPECT_EQ(config["family"], "cgan");
    EXPECT_EQ(config["classes"], nlohmann::json(hue_bucket_names()));
    EXPECT_EQ(config["model"]["num_classes"], 6);
    EXPECT_EQ(config["model"]["conditioning"], cond);
    EXPECT_EQ(read_image(run + "/samples/epoch-001.png").width, 6 * 28 + 7 * 2) << "one column per class";
    auto generator = load_generator(run);
    EXPECT_EQ(generator->family(), "cgan");
    EXPECT_EQ(generator->num_classes(), 6);
    EXPECT_EQ(run_class_names(read_json(run + "/config.json"))[4], "blue");
    GanTrainOptions back = read_gan_run_options(run);
    EXPECT_EQ(back.condition_on, ConditionOn::kHue);
    EXPECT_EQ(back.class_names.size(), 6u);
    fs::remove_all(run);
  }
  // Buckets are centred on multiples of 1/6, red on both ends of the circle.
  EXPECT_TRUE(torch::equal(hue_buckets(torch::tensor({0.0, 0.05, 0.1, 0.5, 0.95, 0.999})),
                           torch::tensor({0, 0, 1, 3, 0, 0}, torch::kInt64)));
  GanTrainOptions bad = tiny(make_temp_dir("trainer_cgan_bad"));
  bad.loop.data.spec = "fashion-mnist";
  bad.loop.data.size = 0;
  bad.loop.data.limit = 64;
  bad.model.num_classes(1);
  bad.condition_on = ConditionOn::kHue;
  EXPECT_THROW(train_gan(bad, false), Error) << "fashion-mnist has no hue factor";
}
