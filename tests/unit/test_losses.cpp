#include "latentkit/train/losses.h"

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
