// The diffusion trainer: Palette batches, the loss, a run folder, exact resume.
#include "latentkit/train/ddpm_trainer.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::make_temp_dir;

DdpmOptions tiny(std::vector<std::string> tasks) {
  DdpmOptions o;
  o.unet.channels(1).image_size(8).width(8).mults({1, 2}).groups(4);
  o.timesteps = 100;
  o.sample_steps = 5;
  o.tasks = std::move(tasks);
  validate_ddpm_options(o);
  return o;
}

TEST(PaletteBatch, MixesTasksAndWeighsInpaintingInsideTheMask) {
  DdpmOptions o = tiny({"inpaint", "restore"});
  ASSERT_EQ(o.unet.cond_channels(), 3);
  torch::Generator rng = make_rng(1);
  torch::Tensor x0 = torch::rand({400, 1, 8, 8}, rng) * 2 - 1;
  PaletteBatch b = palette_batch(x0, o, 0.5, rng);
  ASSERT_EQ(b.cond.sizes(), (std::vector<int64_t>{400, 3, 8, 8}));
  int64_t none = 0, inpaint = 0, restore = 0;
  for (int64_t i = 0; i < 400; ++i) {
    torch::Tensor c = b.cond[i], w = b.weights[i][0];
    if (c.abs().sum().item<float>() == 0) {
      ++none;
      EXPECT_EQ(w.min().item<float>(), 1.f);
    } else if (c[2].min().item<float>() == 1) {
      ++restore;
      EXPECT_EQ(w.min().item<float>(), 1.f);
      EXPECT_FALSE(torch::equal(c[0], x0[i][0])) << "the condition is degraded";
    } else {
      ++inpaint;
      EXPECT_TRUE(torch::equal(w, 1 - c[1])) << "loss only where the pixels are to be filled";
      EXPECT_TRUE(torch::equal(c[0], x0[i][0] * c[1])) << "known pixels as they are, the rest 0";
      EXPECT_GT(w.sum().item<float>(), 0);
    }
  }
  EXPECT_NEAR(none / 400.0, 0.5, 0.08);
  EXPECT_NEAR(inpaint / 400.0, 0.25, 0.07);
  EXPECT_NEAR(restore / 400.0, 0.25, 0.07);
  PaletteBatch plain = palette_batch(x0, tiny({}), 0.5, rng);
  EXPECT_FALSE(plain.cond.defined());
}

TEST(DdpmLoss, IsTheNoiseErrorAndFallsWhenFitting) {
  DdpmTrainOptions o;
  o.model = tiny({"inpaint"});
  torch::manual_seed(2);
  UNet net(o.model.unet);
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 100);
  torch::Generator rng = make_rng(3);
  torch::Tensor x0 = torch::rand({16, 1, 8, 8}, rng).gt(0.5).to(torch::kFloat32) * 2 - 1;
  // A network that outputs 0 has loss E[eps^2] = 1.
  UNet zero(o.model.unet);
  for (auto& p : zero->parameters()) p.data().zero_();
  torch::Generator r0 = make_rng(4);
  EXPECT_NEAR(ddpm_loss(zero, s, o, x0.repeat({8, 1, 1, 1}), {}, r0).item<double>(), 1.0, 0.05);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(3e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    torch::Tensor loss = ddpm_loss(net, s, o, x0, {}, rng);
    opt.zero_grad();
    loss.backward();
    opt.step();
    (step < 10 ? first : last) += step < 10 || step >= 50 ? loss.item<double>() / 10 : 0.0;
  }
  EXPECT_LT(last, 0.7 * first);
}

TEST(DdpmTrainer, WritesTheRunAndResumesExactly) {
  std::string run = make_temp_dir("ddpm_trainer");
  DdpmTrainOptions o;
  o.loop.out = run;
  o.loop.data.spec = "fashion-mnist";
  o.loop.data.limit = 64;
  o.loop.data.size = 8;
  o.model = tiny({"inpaint", "restore"});
  o.model.unet.num_classes(1);  // class-conditional: the count comes from the data
  o.loop.epochs = 2;
  o.loop.batch = 16;  // 4 steps per epoch
  o.loop.seed = 5;
  o.loop.threads = 1;
  o.loop.checkpoint_every = 3;
  o.loop.log_every = 2;
  o.loop.sample_count = 4;
  TrainSummary s = train_ddpm(o, false);
  EXPECT_EQ(s.steps, 8);
  nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["family"], "cddpm");
  EXPECT_EQ(config["model"]["num_classes"], 10);
  EXPECT_EQ(config["model"]["cond_channels"], 3);
  for (const char* f : {"model.pt", "losses.png", "samples/epoch-002.png", "train.jsonl"}) {
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  }
  auto generator = load_generator(run);
  EXPECT_EQ(generator->family(), "cddpm");
  EXPECT_EQ(generator->latent_dim(), 64);

  // Stopped at step 5 (checkpoint at 3) and resumed: the same weights as straight through.
  std::string split = make_temp_dir("ddpm_trainer_split");
  DdpmTrainOptions first = o;
  first.loop.out = split;
  first.loop.max_steps = 5;
  train_ddpm(first, false);
  DdpmTrainOptions rest = read_ddpm_run_options(split);
  rest.loop.max_steps = 0;
  fs::remove(split + "/checkpoints/step-0000005.pt");
  write_file_atomic(split + "/checkpoints/latest", "step-0000003.pt\n");
  train_ddpm(rest, true);
  DdpmOptions fitted = ddpm_options_from_json(config["model"]);
  UNet a(fitted.unet), b(fitted.unet);
  load_module(*a, run + "/model.pt");
  load_module(*b, split + "/model.pt");
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  EXPECT_EQ(trim_train_log(split, 1000).size(), 4u) << "no duplicate log rows after the resume";
  fs::remove_all(run);
  fs::remove_all(split);

  DdpmTrainOptions bad = o;
  bad.loop.out = make_temp_dir("ddpm_trainer_bad");
  bad.model.timesteps = 5;  // under 10
  EXPECT_THROW(train_ddpm(bad, false), Error);
  fs::remove_all(bad.loop.out);
}

}  // namespace
}  // namespace latentkit

namespace latentkit {
namespace {

TEST(DdpmLoss, TextModelsLearnThroughTheirEncoderAndDropPrompts) {
  DdpmTrainOptions o;
  o.text = true;
  o.model.tokenizer = Tokenizer({"cat face", "red apple"}, 4);
  o.model.unet.channels(1).image_size(8).width(8).mults({1, 2}).groups(4).text(
      TextEncoderOptions().vocab_size(o.model.tokenizer.vocab_size()).max_tokens(4).width(16).layers(1).heads(2));
  validate_ddpm_options(o.model);
  torch::manual_seed(5);
  UNet net(o.model.unet);
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 100);
  torch::Tensor tokens = o.model.tokenizer.encode_captions({"cat face", "red apple"}).repeat({4, 1});
  torch::Generator rng = make_rng(6);
  torch::Tensor x0 = torch::rand({8, 1, 8, 8}, rng) * 2 - 1;
  o.label_dropout = 0.0;
  ddpm_loss(net, s, o, x0, tokens, rng).backward();
  // The prompt reaches the text encoder's first layer; with every prompt kept, null_text is unused.
  EXPECT_GT(net->text_encoder->token->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(net->null_text.grad().defined() ? net->null_text.grad().abs().sum().item<double>() : 0.0, 0.0);
  // With every prompt dropped, only null_text carries the condition.
  net->zero_grad();
  o.label_dropout = 0.999;
  ddpm_loss(net, s, o, x0, tokens, rng).backward();
  EXPECT_GT(net->null_text.grad().abs().sum().item<double>(), 0.0);
  const torch::Tensor g = net->text_encoder->token->weight.grad();
  EXPECT_TRUE(!g.defined() || g.abs().sum().item<double>() == 0.0);
}

}  // namespace
}  // namespace latentkit
