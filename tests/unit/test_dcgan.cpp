#include "latentkit/models/dcgan.h"

#include <cmath>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"

#include <nlohmann/json.hpp>

using namespace latentkit;

namespace {
#include "golden/dcgan_golden.inc"

// The closed-form fill of tests/data/golden/dcgan_golden.py.
void fill(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  int k = 0;
  for (auto& item : module.named_parameters()) {
    torch::Tensor i = torch::arange(item.value().numel(), torch::kFloat64);
    item.value().copy_((0.2 * torch::sin(0.37 * i + k)).reshape(item.value().sizes()));
    ++k;
  }
  for (auto& item : module.named_buffers()) {
    const std::string& name = item.key();
    torch::Tensor i = torch::arange(item.value().numel(), torch::kFloat64);
    if (name.size() >= 12 && name.compare(name.size() - 12, 12, "running_mean") == 0) item.value().copy_(0.01 * torch::cos(i));
    if (name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0)
      item.value().copy_(1 + 0.1 * torch::sin(i).pow(2));
  }
}

}  // namespace

TEST(Dcgan, OutputShapesForEveryPresetSizeAndChannelCount) {
  torch::manual_seed(0);
  for (const std::string& preset : dcgan_presets()) {
    for (int64_t size : {28, 32, 64}) {
      for (int64_t channels : {1, 3}) {
        DcganOptions o;
        o.preset(preset).channels(channels).image_size(size).latent_dim(12).width(8);
        DcganGenerator g(o);
        DcganDiscriminator d(o);
        torch::Tensor x = g->forward(torch::randn({3, 12}));
        EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, channels, size, size})) << preset << " " << size;
        EXPECT_LE(x.abs().max().item<double>(), 1.0) << "tanh output";
        EXPECT_EQ(d->forward(x).sizes(), (std::vector<int64_t>{3})) << preset << " " << size;
      }
    }
  }
}

TEST(Dcgan, MatchesPyTorchDcganExampleOnFixedWeights) {
  torch::set_num_threads(1);
  DcganOptions o;
  o.preset("dcgan").channels(1).image_size(28).latent_dim(16).width(8);
  DcganGenerator g(o);
  DcganDiscriminator d(o);
  // Parameter names are the state-dict names of PyTorch's nn.Sequential "main".
  auto params = g->named_parameters();
  ASSERT_TRUE(params.contains("main.0.weight"));
  EXPECT_EQ(params["main.0.weight"].sizes(), (std::vector<int64_t>{16, 16, 7, 7}));
  fill(*g);
  fill(*d);
  g->eval();
  d->eval();
  torch::Tensor z = torch::cos(torch::arange(32, torch::kFloat32) * 0.5).reshape({2, 16});
  torch::NoGradGuard no_grad;
  torch::Tensor x = g->forward(z);
  torch::Tensor logits = d->forward(x);
  EXPECT_NEAR(x.to(torch::kFloat64).sum().item<double>(), kGoldenImageSum, 1e-4);
  EXPECT_NEAR(x.to(torch::kFloat64).abs().sum().item<double>(), kGoldenImageAbsSum, 1e-4);
  torch::Tensor flat = x.reshape({-1});
  for (size_t i = 0; i < sizeof(kGoldenPicks) / sizeof(kGoldenPicks[0]); ++i)
    EXPECT_NEAR(flat[kGoldenPicks[i]].item<double>(), kGoldenPickValues[i], 1e-6) << "element " << kGoldenPicks[i];
  EXPECT_NEAR(logits[0].item<double>(), kGoldenLogits[0], 1e-6);
  EXPECT_NEAR(logits[1].item<double>(), kGoldenLogits[1], 1e-6);
}

TEST(Dcgan, CloneIsDeepForEma) {
  DcganOptions o;
  o.width(8);
  DcganGenerator g(o);
  auto copy = std::dynamic_pointer_cast<DcganGeneratorImpl>(g->clone());
  torch::NoGradGuard no_grad;
  g->parameters()[0].fill_(3.0);
  EXPECT_NE(copy->parameters()[0].sum().item<double>(), g->parameters()[0].sum().item<double>());
}

TEST(Dcgan, InitFollowsRadford) {
  torch::manual_seed(1);
  DcganOptions o;
  o.preset("dcgan").image_size(64).channels(3);
  DcganGenerator g(o);
  dcgan_init_weights(*g);
  auto params = g->named_parameters();
  EXPECT_NEAR(params["main.0.weight"].std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(params["main.1.weight"].mean().item<double>(), 1.0, 0.01);
  EXPECT_EQ(params["main.1.bias"].abs().sum().item<double>(), 0.0);
}

TEST(Dcgan, BadOptionsAreClearErrors) {
  DcganOptions o;
  o.image_size(48);
  EXPECT_THROW(o.validate(), Error);
  try {
    DcganGenerator g(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 28, 32 or 64"), std::string::npos);
  }
  DcganOptions p;
  p.preset("stylegan9");
  EXPECT_THROW(p.validate(), Error);
  DcganOptions q;
  q.channels(2);
  EXPECT_THROW(q.validate(), Error);
}

TEST(Dcgan, OptionsRoundTripThroughJson) {
  DcganOptions o;
  o.preset("dcgan-upsample").channels(3).image_size(32).latent_dim(64).width(16);
  DcganOptions back = dcgan_options_from_json(dcgan_options_to_json(o));
  EXPECT_EQ(back.preset(), "dcgan-upsample");
  EXPECT_EQ(back.channels(), 3);
  EXPECT_EQ(back.image_size(), 32);
  EXPECT_EQ(back.latent_dim(), 64);
  EXPECT_EQ(back.width(), 16);
  EXPECT_THROW(dcgan_options_from_json(nlohmann::json{{"preset", "dcgan"}}), Error);
}

TEST(Dcgan, ModelDecodeValidatesLatentShape) {
  DcganOptions o;
  o.latent_dim(10).width(8);
  DcganModel model{DcganGenerator(o)};
  EXPECT_EQ(model.image_shape(), (std::array<int64_t, 3>{1, 28, 28}));
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model.decode(torch::zeros({2, 10})).sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_THROW(model.decode(torch::zeros({2, 11})), Error);
}

TEST(Generator, TruncatedLatentsStayInRangeAndAreSeeded) {
  DcganOptions o;
  o.latent_dim(50).width(8);
  DcganModel model{DcganGenerator(o)};
  torch::Generator a = make_rng(5);
  torch::Generator b = make_rng(5);
  torch::Tensor za = model.sample_latent(100, a, 0.5);
  torch::Tensor zb = model.sample_latent(100, b, 0.5);
  EXPECT_TRUE(torch::equal(za, zb));
  EXPECT_LE(za.abs().max().item<double>(), 0.5);
  // A truncated normal on [-0.5, 0.5] has std ~0.28, not the 0.5-clamped ~0.45.
  EXPECT_NEAR(za.std().item<double>(), 0.28, 0.02);
}

TEST(Generator, SlerpEndsAtBothPointsAndKeepsNorm) {
  torch::Tensor a = torch::tensor({1.0f, 0.0f});
  torch::Tensor b = torch::tensor({0.0f, 1.0f});
  torch::Tensor path = slerp_path(a, b, 5);
  EXPECT_TRUE(torch::allclose(path[0], a));
  EXPECT_TRUE(torch::allclose(path[4], b, 1e-6, 1e-6));
  EXPECT_NEAR(path[2][0].item<double>(), std::sqrt(0.5), 1e-6);
  EXPECT_NEAR(path.norm(2, {1}).min().item<double>(), 1.0, 1e-6);
  EXPECT_THROW(slerp_path(a, b, 1), Error);
}

TEST(Cgan, GeneratorSeesTheLabelNextToZ) {
  torch::manual_seed(1);
  for (const std::string preset : {"dcgan", "dcgan-upsample"}) {
    DcganGenerator g(DcganOptions().preset(preset).latent_dim(8).width(8).num_classes(4));
    g->eval();
    auto params = g->named_parameters();
    ASSERT_TRUE(params.contains("embed.weight")) << preset;
    EXPECT_EQ(params["embed.weight"].sizes(), (std::vector<int64_t>{4, 32}));
    // The first layer takes latent + label embedding.
    EXPECT_EQ(g->input(torch::zeros({2, 8}), torch::tensor({0, 3}, torch::kInt64)).size(1), 8 + 32) << preset;
    torch::NoGradGuard no_grad;
    torch::Tensor z = torch::randn({2, 8});
    torch::Tensor a = g->forward(z, torch::tensor({0, 0}, torch::kInt64));
    torch::Tensor b = g->forward(z, torch::tensor({0, 3}, torch::kInt64));
    EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
    EXPECT_TRUE(torch::equal(a[0], b[0])) << "same z and label, same image";
    EXPECT_FALSE(torch::equal(a[1], b[1])) << "another label, another image";
    EXPECT_THROW(g->forward(z), Error) << "a conditional generator needs labels";
  }
}

TEST(Cgan, ProjectionDiscriminatorAddsTheLabelTerm) {
  torch::manual_seed(2);
  DcganDiscriminator d(DcganOptions().latent_dim(8).width(8).num_classes(3).conditioning("projection"));
  d->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::rand({4, 1, 28, 28}) * 2 - 1;
  torch::Tensor y = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  ConditionalLogits out = d->forward(x, y);
  EXPECT_FALSE(out.class_logits.defined());
  // By hand: the body up to the last layer, the last layer, and <embed(y), mean-pooled h>.
  torch::Tensor h = x;
  auto layer = d->main->begin();
  for (size_t i = 0; i + 1 < d->main->size(); ++i, ++layer) h = layer->forward(h);
  torch::Tensor expected = layer->forward(h).view({4}) + (d->embed->forward(y) * h.mean({2, 3})).sum(1);
  EXPECT_LT((out.logits - expected).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE(torch::allclose(d->forward(x), layer->forward(h).view({4}))) << "the plain logit ignores labels";
  EXPECT_THROW(d->forward(x, torch::tensor({0, 1}, torch::kInt64)), Error);
}

TEST(Cgan, ConcatDiscriminatorSeesOneHotMapsBesideTheImage) {
  torch::manual_seed(4);
  for (const std::string preset : {"dcgan", "dcgan-upsample"}) {
    DcganOptions o = DcganOptions().preset(preset).channels(3).image_size(32).width(8).num_classes(4);
    EXPECT_EQ(o.conditioning(), "concat") << "the default";
    DcganDiscriminator d(o);
    d->eval();
    EXPECT_FALSE(d->embed);
    EXPECT_FALSE(d->aux);
    auto* first = d->main[0]->as<torch::nn::Conv2d>();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->weight.size(1), 3 + 4) << preset << ": image channels + one map per class";
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::rand({2, 3, 32, 32}) * 2 - 1;
    torch::Tensor y = torch::tensor({3, 1}, torch::kInt64);
    ConditionalLogits out = d->forward(x, y);
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2})) << preset;
    EXPECT_FALSE(out.class_logits.defined());
    // By hand: map c is all ones for the image's class, zeros elsewhere.
    torch::Tensor maps = torch::zeros({2, 4, 32, 32});
    maps[0][3].fill_(1);
    maps[1][1].fill_(1);
    EXPECT_TRUE(torch::allclose(out.logits, d->main->forward(torch::cat({x, maps}, 1)).view({2}), 1e-5, 1e-6)) << preset;
    ConditionalLogits other = d->forward(x, torch::tensor({0, 1}, torch::kInt64));
    EXPECT_NE(out.logits[0].item<float>(), other.logits[0].item<float>()) << "another label, another logit";
    EXPECT_EQ(out.logits[1].item<float>(), other.logits[1].item<float>()) << "same label, same logit";
  }
}

TEST(Cgan, AcganDiscriminatorHasAClassHead) {
  for (const std::string preset : {"dcgan", "dcgan-upsample"}) {
    DcganDiscriminator d(DcganOptions().preset(preset).channels(3).image_size(32).width(8).num_classes(5).conditioning("acgan"));
    torch::NoGradGuard no_grad;
    ConditionalLogits out = d->forward(torch::zeros({2, 3, 32, 32}), torch::tensor({4, 0}, torch::kInt64));
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2})) << preset;
    EXPECT_EQ(out.class_logits.sizes(), (std::vector<int64_t>{2, 5})) << preset;
    EXPECT_FALSE(d->embed) << "acgan has no projection";
  }
  EXPECT_THROW(DcganDiscriminator(DcganOptions().num_classes(2).conditioning("film")), Error);
}

TEST(Cgan, ModelDrawsClassesInTurnAndChecksLabels) {
  torch::manual_seed(3);
  DcganOptions o = DcganOptions().latent_dim(8).width(8).num_classes(3);
  DcganModel model{DcganGenerator(o)};
  EXPECT_EQ(model.family(), "cgan");
  EXPECT_EQ(model.num_classes(), 3);
  torch::NoGradGuard no_grad;
  torch::Tensor z = torch::randn({5, 8});
  torch::Tensor turn = model.decode(z);
  torch::Tensor explicit_labels = model.decode(z, torch::tensor({0, 1, 2, 0, 1}, torch::kInt64));
  EXPECT_TRUE(torch::equal(turn, explicit_labels));
  EXPECT_THROW(model.decode(z, torch::tensor({0, 1, 2, 3, 0}, torch::kInt64)), Error);
  EXPECT_THROW(model.decode(z, torch::tensor({0, 1}, torch::kInt64)), Error);
  // The options survive config.json, and a config from before conditioning reads as unconditional.
  DcganOptions back = dcgan_options_from_json(dcgan_options_to_json(o.conditioning("acgan").critic_norm("none")));
  EXPECT_EQ(back.num_classes(), 3);
  EXPECT_EQ(back.conditioning(), "acgan");
  EXPECT_EQ(back.critic_norm(), "none");
  nlohmann::json old = {{"preset", "dcgan"}, {"channels", 1}, {"image_size", 28}, {"latent_dim", 100}, {"width", 64}};
  DcganOptions legacy = dcgan_options_from_json(old);
  EXPECT_EQ(legacy.num_classes(), 0);
  EXPECT_EQ(legacy.critic_norm(), "batch");
}
