// The diffusion U-Net: shapes at every size, conditioning inputs, the time embedding.
#include "latentkit/models/unet.h"

#include <cmath>

#include <gtest/gtest.h>

#include "test_util.h"

namespace latentkit {
namespace {

using test_util::error_of;

TEST(TimestepEmbedding, IsSinesAndCosines) {
  torch::Tensor e = timestep_embedding(torch::tensor({0, 5}), 8);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{2, 8}));
  // t = 0: sin 0 = 0, cos 0 = 1.
  EXPECT_TRUE(torch::equal(e[0], torch::cat({torch::zeros({4}), torch::ones({4})})));
  // Frequencies 10000^(-i / 3): the first is 1, the last 1e-4.
  EXPECT_NEAR(e[1][0].item<double>(), std::sin(5.0), 1e-6);
  EXPECT_NEAR(e[1][3].item<double>(), std::sin(5e-4), 1e-7);
  EXPECT_NEAR(e[1][4].item<double>(), std::cos(5.0), 1e-6);
  EXPECT_EQ(timestep_embedding(torch::tensor({1}), 7).size(1), 7);
}

TEST(UNet, KeepsTheImageShapeAtEverySize) {
  torch::NoGradGuard no_grad;
  struct Case {
    int64_t channels, size;
    std::vector<int64_t> mults;
  };
  for (const Case& c : std::vector<Case>{{1, 28, {1, 2, 2}}, {3, 32, {1, 2, 2, 2}}, {1, 8, {1}}, {3, 64, {1, 1, 2}}}) {
    UNet net(UNetOptions().channels(c.channels).image_size(c.size).width(8).mults(c.mults).groups(4));
    torch::Tensor out = net->forward(torch::randn({2, c.channels, c.size, c.size}), torch::tensor({0, 999}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, c.channels, c.size, c.size})) << c.size;
  }
}

TEST(UNet, TimeLabelsAndConditionChangeTheOutput) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  UNet net(UNetOptions().image_size(8).width(8).mults({1, 2}).groups(4).num_classes(3).cond_channels(3));
  // The output layer starts random here (not zero), so every input shows.
  torch::Tensor x = torch::randn({1, 1, 8, 8}), cond = torch::randn({1, 3, 8, 8});
  auto run = [&](int64_t t, int64_t label, const torch::Tensor& c) {
    return net->forward(x, torch::tensor({t}), torch::tensor({label}), c);
  };
  torch::Tensor base = run(10, 0, cond);
  EXPECT_TRUE(torch::equal(base, run(10, 0, cond)));
  EXPECT_GT((base - run(500, 0, cond)).abs().max().item<double>(), 1e-4);
  EXPECT_GT((base - run(10, 3, cond)).abs().max().item<double>(), 1e-4);  // 3: the no-class label
  EXPECT_GT((base - run(10, 0, torch::zeros_like(cond))).abs().max().item<double>(), 1e-4);
  EXPECT_NE(error_of([&] { net->forward(x, torch::tensor({1}), {}, cond); }).find("needs labels"), std::string::npos);
  EXPECT_NE(error_of([&] { net->forward(x, torch::tensor({1}), torch::tensor({0})); }).find("needs a condition"),
            std::string::npos);
}

TEST(UNet, SkipsCarryTheFinestDetail) {
  // A pixel's change reaches the output at that pixel through the top-level skip: the
  // effect of one input pixel peaks within a pixel or two of it.
  torch::manual_seed(7);
  UNet net(UNetOptions().image_size(16).width(8).mults({1, 2, 2}).groups(4));
  torch::Tensor x = torch::randn({1, 1, 16, 16}, torch::requires_grad());
  net->forward(x, torch::tensor({100}))[0][0][5][9].backward();
  torch::Tensor g = x.grad()[0][0].abs();
  const int64_t at = g.argmax().item<int64_t>();
  EXPECT_LE(std::abs(at / 16 - 5), 1);
  EXPECT_LE(std::abs(at % 16 - 9), 1);
}

TEST(UNet, BadOptionsAreErrors) {
  EXPECT_NE(error_of([] { UNet(UNetOptions().image_size(30)); }).find("divisible by 4"), std::string::npos);
  EXPECT_NE(error_of([] { UNet(UNetOptions().width(12)); }).find("multiple of the GroupNorm groups"), std::string::npos);
  EXPECT_NE(error_of([] { UNet(UNetOptions().channels(2)); }).find("1, 3 or 4"), std::string::npos);
  UNet net(UNetOptions().image_size(8).width(8).mults({1}).groups(4));
  EXPECT_NE(error_of([&] { net->forward(torch::zeros({1, 1, 16, 16}), torch::tensor({1})); }).find("[N, 1, 8, 8]"),
            std::string::npos);
}

TEST(UNet, OptionsRoundTripThroughJson) {
  UNetOptions o = UNetOptions().channels(3).image_size(32).width(16).mults({1, 2, 4}).res_blocks(2).num_classes(10);
  UNetOptions back = unet_options_from_json(unet_options_to_json(o));
  EXPECT_EQ(unet_options_to_json(back), unet_options_to_json(o));
}

}  // namespace
}  // namespace latentkit
