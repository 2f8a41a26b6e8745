#include "tests/unit/test_util.h"
#include "latentkit/models/vae.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/vae_trainer.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

TEST(Vae, ShapesForSizesAndChannels) {
  torch::manual_seed(1);
  for (int64_t size : {16, 28, 32, 64}) {
    for (int64_t channels : {1, 3}) {
      Vae vae(VaeOptions().channels(channels).image_size(size).latent_dim(5).width(4));
      torch::Tensor x = torch::zeros({2, channels, size, size});
      auto [mu, log_var] = vae->encode(x);
      EXPECT_EQ(mu.sizes(), (std::vector<int64_t>{2, 5}));
      EXPECT_EQ(log_var.sizes(), (std::vector<int64_t>{2, 5}));
      EXPECT_EQ(vae->decode_logits(mu).sizes(), x.sizes()) << size << " " << channels;
    }
  }
  // Deeper VAEs: depth stride-2 levels each way; depth 2 is the original layout, module for
  // module (old run folders load).
  for (int64_t depth : {1, 3, 4}) {
    Vae vae(VaeOptions().channels(4).image_size(64).latent_dim(5).width(4).depth(depth));
    torch::Tensor x = torch::zeros({2, 4, 64, 64});
    EXPECT_EQ(vae->decode_logits(vae->encode(x).first).sizes(), x.sizes()) << depth;
    EXPECT_EQ(vae->moments->weight.size(1), (4 << (depth - 1)) * (64 >> depth) * (64 >> depth)) << depth;
  }
  Vae two(VaeOptions().image_size(28).latent_dim(5).width(4));
  std::vector<std::string> names;
  for (const auto& item : two->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                             "moments.weight", "moments.bias", "decoder.0.weight", "decoder.0.bias",
                                             "decoder.3.weight", "decoder.3.bias", "decoder.5.weight", "decoder.5.bias"}));
  EXPECT_THROW(Vae(VaeOptions().image_size(28).depth(3)), Error) << "28 does not divide by 8";
  EXPECT_THROW(Vae(VaeOptions().depth(6)), Error);
  EXPECT_THROW(Vae(VaeOptions().image_size(30)), Error);
  EXPECT_THROW(Vae(VaeOptions().recon("l1")), Error);
  EXPECT_THROW(Vae(VaeOptions().beta(-1)), Error);
  Vae vae{VaeOptions()};
  EXPECT_THROW(vae->encode(torch::zeros({1, 3, 28, 28})), Error) << "wrong channel count";
}

TEST(Vae, GaussianKlIsClosedForm) {
  // KL(N(mu, s^2) || N(0, 1)) = (s^2 + mu^2 - 1 - log s^2) / 2 per dimension.
  torch::Tensor mu = torch::tensor({{0.0, 1.0}, {2.0, -0.5}}, torch::kFloat64);
  torch::Tensor log_var = torch::tensor({{0.0, std::log(4.0)}, {std::log(0.25), 0.0}}, torch::kFloat64);
  auto kl = [](double m, double v) { return (v + m * m - 1 - std::log(v)) / 2; };
  torch::Tensor got = gaussian_kl(mu, log_var);
  EXPECT_NEAR(got[0].item<double>(), kl(0, 1) + kl(1, 4), 1e-12);
  EXPECT_NEAR(got[1].item<double>(), kl(2, 0.25) + kl(-0.5, 1), 1e-12);
  EXPECT_EQ(gaussian_kl(torch::zeros({1, 3}), torch::zeros({1, 3})).item<double>(), 0.0) << "the prior itself";
}

TEST(Vae, LossTermsMatchTheirDefinitions) {
  torch::manual_seed(2);
  for (const std::string recon : {"bce", "mse"}) {
    Vae vae(VaeOptions().latent_dim(4).width(4).beta(0.5).recon(recon));
    torch::Tensor x = torch::rand({3, 1, 28, 28}) * 2 - 1;
    torch::manual_seed(7);
    VaeLoss l = vae->loss(x);
    // Recompute with the same noise.
    torch::manual_seed(7);
    auto [mu, log_var] = vae->encode(x);
    torch::Tensor z = mu + (0.5 * log_var).exp() * torch::randn_like(mu);
    torch::Tensor p = torch::sigmoid(vae->decode_logits(z)), t = (x + 1) / 2;
    torch::Tensor per_image = recon == "bce" ? -(t * p.log() + (1 - t) * (1 - p).log()).flatten(1).sum(1)
                                             : (p - t).pow(2).flatten(1).sum(1);
    EXPECT_NEAR(l.recon.item<double>(), per_image.mean().item<double>(), 1e-2) << recon;
    EXPECT_NEAR(l.kl.item<double>(), gaussian_kl(mu, log_var).mean().item<double>(), 1e-4) << recon;
    EXPECT_NEAR(l.loss.item<double>(), l.recon.item<double>() + 0.5 * l.kl.item<double>(), 1e-3) << recon;
  }
}

TEST(Vae, ModelDecodesToImageRangeAndEncodes) {
  torch::manual_seed(3);
  Vae net(VaeOptions().latent_dim(6).width(4));
  VaeModel model(net);
  EXPECT_EQ(model.family(), "vae");
  torch::NoGradGuard no_grad;
  torch::Tensor images = model.decode(torch::randn({4, 6}) * 5);
  EXPECT_GE(images.min().item<double>(), -1.0);
  EXPECT_LE(images.max().item<double>(), 1.0);
  auto [mu, log_var] = model.posterior(images);
  EXPECT_EQ(mu.sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_THROW(model.decode(torch::zeros({1, 5})), Error);
  // Options round-trip through config.json.
  VaeOptions back = vae_options_from_json(vae_options_to_json(VaeOptions().beta(4).recon("mse").latent_dim(9)));
  EXPECT_EQ(back.beta(), 4);
  EXPECT_EQ(back.recon(), "mse");
  EXPECT_EQ(back.latent_dim(), 9);
}

TEST(Cvae, BothHalvesSeeTheLabel) {
  torch::manual_seed(4);
  for (int64_t channels : {1, 3}) {
    Vae vae(VaeOptions().channels(channels).image_size(16).latent_dim(5).width(4).num_classes(3));
    EXPECT_EQ(vae->encoder[0]->as<torch::nn::Conv2d>()->weight.size(1), channels + 3);
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::rand({2, channels, 16, 16}) * 2 - 1;
    torch::Tensor a = torch::tensor({0, 2}, torch::kInt64), b = torch::tensor({1, 2}, torch::kInt64);
    auto [mu_a, lv_a] = vae->encode(x, a);
    auto [mu_b, lv_b] = vae->encode(x, b);
    EXPECT_EQ(mu_a.sizes(), (std::vector<int64_t>{2, 5}));
    EXPECT_FALSE(torch::equal(mu_a[0], mu_b[0])) << "the encoder sees the label";
    EXPECT_TRUE(torch::equal(mu_a[1], mu_b[1]));
    torch::Tensor z = torch::randn({2, 5});
    torch::Tensor da = vae->decode_logits(z, a), db = vae->decode_logits(z, b);
    EXPECT_EQ(da.sizes(), x.sizes());
    EXPECT_FALSE(torch::equal(da[0], db[0])) << "the decoder sees the label";
    EXPECT_TRUE(torch::equal(da[1], db[1]));
    EXPECT_THROW(vae->encode(x), Error) << "a conditional VAE needs labels";
    EXPECT_THROW(vae->decode_logits(z, torch::tensor({0}, torch::kInt64)), Error) << "one label per latent";
  }
  Vae plain(VaeOptions().image_size(16).latent_dim(5).width(4));
  EXPECT_THROW(plain->encode(torch::zeros({1, 1, 16, 16}), torch::tensor({0}, torch::kInt64)), Error);

  VaeModel model(Vae(VaeOptions().image_size(16).latent_dim(5).width(4).num_classes(3)));
  EXPECT_EQ(model.family(), "cvae");
  EXPECT_EQ(model.num_classes(), 3);
  EXPECT_TRUE(model.has_encoder());
  torch::NoGradGuard no_grad;
  torch::Tensor z = torch::randn({4, 5});
  EXPECT_TRUE(torch::equal(model.decode(z), model.decode(z, torch::tensor({0, 1, 2, 0}, torch::kInt64))))
      << "no labels: the classes in turn";
  EXPECT_THROW(model.decode(z, torch::tensor({0, 1, 3, 0}, torch::kInt64)), Error);
  EXPECT_THROW(model.posterior(torch::zeros({1, 1, 16, 16})), Error) << "the encoder needs the class";
  EXPECT_EQ(model.posterior(torch::zeros({1, 1, 16, 16}), torch::tensor({2}, torch::kInt64)).first.size(1), 5);
  EXPECT_EQ(vae_options_from_json(vae_options_to_json(VaeOptions().num_classes(7))).num_classes(), 7);
}

TEST(VaeTrainer, ConditionalVaeOnShapesHueBuckets) {
  std::string run = make_temp_dir("cvae_trainer");
  VaeTrainOptions o;
  o.loop.out = run;
  o.loop.data.spec = "shapes:64";
  o.loop.data.size = 16;
  o.model.latent_dim(4).width(4).num_classes(1);
  o.condition_on = ConditionOn::kHue;
  o.loop.epochs = 1;
  o.loop.batch = 16;
  o.loop.seed = 5;
  o.loop.threads = 1;
  o.loop.sample_count = 12;
  train_vae(o, false);
  nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["family"], "cvae");
  EXPECT_EQ(config["model"]["num_classes"], 6);
  EXPECT_EQ(config["classes"], nlohmann::json(hue_bucket_names()));
  EXPECT_EQ(read_image(run + "/samples/epoch-001.png").width, 6 * 16 + 7 * 2) << "one column per class";
  auto generator = load_generator(run);
  EXPECT_EQ(generator->family(), "cvae");
  EXPECT_EQ(generator->num_classes(), 6);
  VaeTrainOptions back = read_vae_run_options(run);
  EXPECT_EQ(back.condition_on, ConditionOn::kHue);
  EXPECT_EQ(back.model.num_classes(), 6);
  fs::remove_all(run);
}

TEST(VaeTrainer, LearnsWritesTheRunAndResumesExactly) {
  std::string run = make_temp_dir("vae_trainer");
  VaeTrainOptions o;
  o.loop.out = run;
  o.loop.data.spec = "shapes:64";
  o.loop.data.size = 16;
  o.model.latent_dim(4).width(4);
  o.loop.epochs = 3;
  o.loop.batch = 16;  // 4 steps per epoch
  o.loop.seed = 5;
  o.loop.threads = 1;
  o.loop.checkpoint_every = 5;
  o.loop.log_every = 2;
  o.loop.sample_count = 4;
  TrainSummary s = train_vae(o, false);
  EXPECT_EQ(s.steps, 12);
  nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["family"], "vae");
  EXPECT_EQ(config["model"]["channels"], 3) << "from the data";
  for (const char* f : {"model.pt", "losses.png", "samples/epoch-003.png", "train.jsonl"}) {
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  }
  std::vector<nlohmann::json> rows = trim_train_log(run, 1000);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_NEAR(rows.back()["elbo"].get<double>(), -(rows.back()["recon"].get<double>() + rows.back()["kl"].get<double>()),
              1e-9);
  EXPECT_LT(rows.back()["recon"].get<double>(), rows.front()["recon"].get<double>()) << "reconstruction improves";
  auto generator = load_generator(run);
  EXPECT_EQ(generator->family(), "vae");
  EXPECT_TRUE(generator->posterior(torch::zeros({1, 3, 16, 16})).first.defined());

  // Stopped at step 7 (checkpoint at 5) and resumed: the same weights as straight through.
  std::string split = make_temp_dir("vae_trainer_split");
  VaeTrainOptions first = o;
  first.loop.out = split;
  first.loop.max_steps = 7;
  train_vae(first, false);
  VaeTrainOptions rest = read_vae_run_options(split);
  rest.loop.max_steps = 0;
  fs::remove(split + "/checkpoints/step-0000007.pt");
  write_file_atomic(split + "/checkpoints/latest", "step-0000005.pt\n");
  train_vae(rest, true);
  EXPECT_EQ(read_file(split + "/model.pt").size(), read_file(run + "/model.pt").size());
  Vae a(o.model.channels(3).image_size(16)), b(o.model);
  load_module(*a, run + "/model.pt");
  load_module(*b, split + "/model.pt");
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  EXPECT_EQ(trim_train_log(split, 1000).size(), 6u) << "no duplicate log rows after the resume";
  fs::remove_all(run);
  fs::remove_all(split);

  VaeTrainOptions bad = o;
  bad.loop.out = make_temp_dir("vae_trainer_bad");
  bad.loop.epochs = 0;
  EXPECT_THROW(train_vae(bad, false), Error);
  bad.loop.epochs = 1;
  EXPECT_THROW(train_vae(bad, true), Error) << "nothing to resume";
}
