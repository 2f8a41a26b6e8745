#include "latentkit/train/losses.h"

#include "latentkit/core/error.h"

#include <cmath>

#include <gtest/gtest.h>

namespace {

double softplus(double x) { return std::log1p(std::exp(x)); }

// BCE with logits for one logit x and target t, in closed form.
double bce(double x, double t) { return t * softplus(-x) + (1 - t) * softplus(x); }

}  // namespace

TEST(Losses, DiscriminatorLossEqualsClosedForm) {
  torch::Tensor real = torch::tensor({2.0, -1.0, 0.25}, torch::kFloat64);
  torch::Tensor fake = torch::tensor({0.5, -3.0, 4.0}, torch::kFloat64);
  double expected = (bce(2.0, 1) + bce(-1.0, 1) + bce(0.25, 1)) / 3 + (bce(0.5, 0) + bce(-3.0, 0) + bce(4.0, 0)) / 3;
  EXPECT_NEAR(latentkit::discriminator_loss_bce(real, fake).item<double>(), expected, 1e-12);
}

TEST(Losses, OneSidedLabelSmoothingMovesOnlyRealTargets) {
  torch::Tensor real = torch::tensor({2.0, -1.0}, torch::kFloat64);
  torch::Tensor fake = torch::tensor({0.5, -3.0}, torch::kFloat64);
  double expected = (bce(2.0, 0.9) + bce(-1.0, 0.9)) / 2 + (bce(0.5, 0) + bce(-3.0, 0)) / 2;
  EXPECT_NEAR(latentkit::discriminator_loss_bce(real, fake, 0.1).item<double>(), expected, 1e-12);
}

TEST(Losses, GeneratorLossIsNonSaturating) {
  torch::Tensor fake = torch::tensor({0.5, -3.0, 4.0}, torch::kFloat64);
  double expected = (softplus(-0.5) + softplus(3.0) + softplus(-4.0)) / 3;
  EXPECT_NEAR(latentkit::generator_loss_bce(fake).item<double>(), expected, 1e-12);
}

TEST(Losses, StableForExtremeLogits) {
  // sigmoid + BCE would give inf or nan here; the logits form stays finite and exact.
  torch::Tensor real = torch::tensor({-200.0f});
  torch::Tensor fake = torch::tensor({200.0f});
  EXPECT_NEAR(latentkit::discriminator_loss_bce(real, fake).item<double>(), 400.0, 1e-3);
  EXPECT_NEAR(latentkit::generator_loss_bce(torch::tensor({-200.0f})).item<double>(), 200.0, 1e-3);
}

TEST(Losses, HingeAndWassersteinEqualClosedForms) {
  torch::Tensor real = torch::tensor({2.0, -1.0, 0.25}, torch::kFloat64);
  torch::Tensor fake = torch::tensor({0.5, -3.0, 4.0}, torch::kFloat64);
  // hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 2 + 0.75) / 3 + (1.5 + 0 + 5) / 3
  EXPECT_NEAR(latentkit::discriminator_loss(latentkit::GanLoss::kHinge, real, fake).item<double>(), 2.75 / 3 + 6.5 / 3, 1e-12);
  // wgan: mean(fake) - mean(real) = 0.5 - 0.41666...
  EXPECT_NEAR(latentkit::discriminator_loss(latentkit::GanLoss::kWganGp, real, fake).item<double>(), 0.5 - 1.25 / 3, 1e-12);
  for (latentkit::GanLoss loss : {latentkit::GanLoss::kHinge, latentkit::GanLoss::kWganGp}) {
    EXPECT_NEAR(latentkit::generator_loss(loss, fake).item<double>(), -0.5, 1e-12) << latentkit::gan_loss_names().name(loss);
  }
  // bce through the dispatcher is the bce above.
  EXPECT_EQ(latentkit::discriminator_loss(latentkit::GanLoss::kBce, real, fake, 0.1).item<double>(),
            latentkit::discriminator_loss_bce(real, fake, 0.1).item<double>());
  EXPECT_EQ(latentkit::generator_loss(latentkit::GanLoss::kBce, fake).item<double>(), latentkit::generator_loss_bce(fake).item<double>());
}

TEST(Losses, OneNameTableForTheLosses) {
  const auto& table = latentkit::gan_loss_names();
  EXPECT_EQ(table.names(), (std::vector<std::string>{"bce", "hinge", "wgan-gp"}));
  EXPECT_EQ(table.parse("wgan-gp"), latentkit::GanLoss::kWganGp);
  EXPECT_EQ(table.name(latentkit::GanLoss::kHinge), "hinge");
  try {
    table.parse("lsgan");
    FAIL() << "no error";
  } catch (const latentkit::Error& e) {
    EXPECT_STREQ(e.what(), "unknown --loss 'lsgan' (expected bce, hinge or wgan-gp)");
    EXPECT_EQ(e.exit_code(), 2);
  }
}

TEST(Losses, GradientPenaltyOfALinearCriticIsClosedForm) {
  // critic(x) = sum(w * x): its gradient is w everywhere, so the penalty is (|w| - 1)^2 at
  // any interpolate, and d penalty / d w = 2 (|w| - 1) w / |w|.
  torch::manual_seed(3);
  torch::Tensor w = torch::tensor({0.5, -2.0, 1.0, 0.25}, torch::kFloat64).view({1, 1, 2, 2}).requires_grad_(true);
  auto critic = [&](const torch::Tensor& x) { return (x * w).flatten(1).sum(1); };
  torch::Tensor real = torch::randn({5, 1, 2, 2}, torch::kFloat64);
  torch::Tensor fake = torch::randn({5, 1, 2, 2}, torch::kFloat64);
  const double norm = std::sqrt(0.25 + 4.0 + 1.0 + 0.0625);
  torch::Tensor penalty = latentkit::gradient_penalty(critic, real, fake);
  EXPECT_NEAR(penalty.item<double>(), (norm - 1) * (norm - 1), 1e-12);
  penalty.backward();
  torch::Tensor expected = 2 * (norm - 1) * w.detach() / norm;
  EXPECT_LT((w.grad() - expected).abs().max().item<double>(), 1e-12);
}

TEST(Losses, GradientPenaltyIsTakenAtInterpolates) {
  // critic(x) = 0.5 |x|^2 has gradient x: the penalty is mean((|x_hat| - 1)^2) with x_hat on
  // the segment from fake to real. With real = fake = v every interpolate is v.
  auto critic = [](const torch::Tensor& x) { return 0.5 * x.flatten(1).pow(2).sum(1); };
  torch::Tensor v = torch::tensor({{3.0, 4.0}, {0.0, 0.5}}, torch::kFloat64);
  EXPECT_NEAR(latentkit::gradient_penalty(critic, v, v).item<double>(), (16.0 + 0.25) / 2, 1e-12);
  // Between two points of norm 1 and 3 on one ray, the interpolate's norm lies in [1, 3].
  torch::Tensor a = torch::tensor({{1.0, 0.0}}, torch::kFloat64), b = torch::tensor({{3.0, 0.0}}, torch::kFloat64);
  for (int i = 0; i < 5; ++i) {
    const double p = latentkit::gradient_penalty(critic, a, b).item<double>();
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 4.0 + 1e-12);
  }
  EXPECT_THROW(latentkit::gradient_penalty(critic, a, v), latentkit::Error);
}

TEST(DiffAugment, ParsesPoliciesAndNamesThem) {
  using latentkit::diff_augment_text;
  using latentkit::parse_diff_augment;
  EXPECT_FALSE(parse_diff_augment("none").any());
  EXPECT_EQ(diff_augment_text(parse_diff_augment("diffaug")), "diffaug:color,translation,cutout");
  const latentkit::DiffAugment two = parse_diff_augment("diffaug:cutout,translation");
  EXPECT_TRUE(two.cutout && two.translation && !two.color);
  EXPECT_EQ(diff_augment_text(two), "diffaug:translation,cutout");
  EXPECT_EQ(diff_augment_text(parse_diff_augment("none")), "none");
  for (const char* bad : {"diffaug:", "diffaug:blur", "augment", "diffaug:color,,cutout"}) {
    EXPECT_THROW(parse_diff_augment(bad), latentkit::Error) << bad;
  }
}

TEST(DiffAugment, TranslationShiftsEachImageWithZerosShiftedIn) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::rand({6, 2, 16, 16}) + 1.0;  // never 0, so the zeros are the border
  const torch::Tensor y = latentkit::diff_augment(x, latentkit::parse_diff_augment("diffaug:translation"));
  ASSERT_EQ(y.sizes(), x.sizes());
  const torch::Tensor padded = torch::constant_pad_nd(x, {2, 2, 2, 2});
  int shifted = 0;
  for (int64_t n = 0; n < 6; ++n) {
    // out(i, j) = x(i + dy, j + dx) with |d| <= 16 / 8, zero outside: exactly one shift fits.
    int fits = 0;
    for (int dy = -2; dy <= 2; ++dy) {
      for (int dx = -2; dx <= 2; ++dx) {
        const torch::Tensor window = padded[n].slice(1, 2 + dy, 18 + dy).slice(2, 2 + dx, 18 + dx);
        if (torch::equal(window, y[n])) {
          ++fits;
          shifted += (dy != 0 || dx != 0);
        }
      }
    }
    EXPECT_EQ(fits, 1) << "image " << n;
  }
  EXPECT_GT(shifted, 0);
}

TEST(DiffAugment, CutoutZeroesOneSquareOfHalfTheSide) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::ones({8, 3, 16, 16});
  const torch::Tensor y = latentkit::diff_augment(x, latentkit::parse_diff_augment("diffaug:cutout"));
  for (int64_t n = 0; n < 8; ++n) {
    const torch::Tensor zero = y[n][0].eq(0);
    EXPECT_TRUE(torch::equal(y[n][0], y[n][2]));  // the same square in every channel
    const torch::Tensor rows = zero.any(1).nonzero().flatten(), cols = zero.any(0).nonzero().flatten();
    ASSERT_GT(rows.numel(), 0);
    const int64_t h = rows.max().item<int64_t>() - rows.min().item<int64_t>() + 1;
    const int64_t w = cols.max().item<int64_t>() - cols.min().item<int64_t>() + 1;
    EXPECT_LE(h, 8);
    EXPECT_LE(w, 8);
    EXPECT_EQ(zero.sum().item<int64_t>(), h * w);  // a filled rectangle (clipped at the edges)
    EXPECT_TRUE(h == 8 || rows.min().item<int64_t>() == 0 || rows.max().item<int64_t>() == 15);
  }
}

TEST(DiffAugment, ColorKeepsAlphaAndPassesGradients) {
  torch::manual_seed(5);
  const torch::Tensor x = (torch::rand({4, 4, 8, 8}) * 2 - 1).requires_grad_();
  const latentkit::DiffAugment all = latentkit::parse_diff_augment("diffaug:color");
  const torch::Tensor y = latentkit::diff_augment(x, all);
  EXPECT_TRUE(torch::equal(y.slice(1, 3, 4), x.slice(1, 3, 4)));
  EXPECT_FALSE(torch::allclose(y.slice(1, 0, 3), x.slice(1, 0, 3)));
  y.sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().slice(1, 0, 3).abs().sum().item<double>(), 0);
  // The same seed gives the same transforms; none returns its input.
  torch::manual_seed(9);
  const torch::Tensor a = latentkit::diff_augment(x.detach(), latentkit::parse_diff_augment("diffaug"));
  torch::manual_seed(9);
  EXPECT_TRUE(torch::equal(a, latentkit::diff_augment(x.detach(), latentkit::parse_diff_augment("diffaug"))));
  EXPECT_TRUE(latentkit::diff_augment(x, latentkit::parse_diff_augment("none")).is_same(x));
}
