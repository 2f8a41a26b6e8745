#include "latentkit/data/shapes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

constexpr double kPi = 3.14159265358979323846;

// lit: bool [size, size], a pixel lit in any channel.
torch::Tensor lit_mask(const torch::Tensor& image) { return image.amax(0) > 0; }

TEST(ShapesTest, CentredSquareLightsExactlyTheExpectedPixels) {
  ShapeFactors f;
  f.shape = ShapeKind::kSquare;
  f.scale = 0.5f;
  f.x = 0.5f;
  f.y = 0.5f;
  f.rotation = 0.f;
  f.hue = 0.f;
  const torch::Tensor image = render_shape(f, 32);
  ASSERT_EQ(image.scalar_type(), torch::kUInt8);
  ASSERT_EQ(image.sizes(), (std::vector<int64_t>{3, 32, 32}));
  for (int py = 0; py < 32; ++py) {
    for (int px = 0; px < 32; ++px) {
      const bool in = px >= 8 && px <= 23 && py >= 8 && py <= 23;
      ASSERT_EQ(image[0][py][px].item<int>(), in ? 255 : 0) << px << "," << py;
      ASSERT_EQ(image[1][py][px].item<int>(), 0) << px << "," << py;
      ASSERT_EQ(image[2][py][px].item<int>(), 0) << px << "," << py;
    }
  }
}

TEST(ShapesTest, HueMapsToFullySaturatedColours) {
  ShapeFactors f;
  f.shape = ShapeKind::kCircle;
  auto centre = [&](float hue) {
    f.hue = hue;
    const torch::Tensor image = render_shape(f, 16);
    return std::vector<int>{image[0][8][8].item<int>(), image[1][8][8].item<int>(),
                            image[2][8][8].item<int>()};
  };
  EXPECT_EQ(centre(0.f), (std::vector<int>{255, 0, 0}));
  EXPECT_EQ(centre(1.f / 3), (std::vector<int>{0, 255, 0}));
  EXPECT_EQ(centre(2.f / 3), (std::vector<int>{0, 0, 255}));
  EXPECT_EQ(centre(1.f / 6), (std::vector<int>{255, 255, 0}));
  EXPECT_EQ(centre(0.5f), (std::vector<int>{0, 255, 255}));
  EXPECT_EQ(centre(1.f / 12), (std::vector<int>{255, 128, 0}));  // 127.5 rounds up
}

TEST(ShapesTest, CircleAreaMatchesPiRSquared) {
  ShapeFactors f;
  f.shape = ShapeKind::kCircle;
  f.scale = 0.4f;
  f.x = 0.45f;
  f.y = 0.55f;
  const int size = 64;
  const double r = 0.2 * size;
  const double lit = lit_mask(render_shape(f, size)).sum().item<int64_t>();
  EXPECT_NEAR(lit / (kPi * r * r), 1.0, 0.03);
  // Rotation cannot change a circle.
  f.rotation = 1.234f;
  EXPECT_EQ(lit, lit_mask(render_shape(f, size)).sum().item<int64_t>());
}

TEST(ShapesTest, QuarterTurnLeavesACentredSquareUnchanged) {
  ShapeFactors f;
  f.shape = ShapeKind::kSquare;
  f.scale = 0.37f;
  f.hue = 0.6f;
  const torch::Tensor upright = render_shape(f, 32);
  f.rotation = static_cast<float>(kPi / 2);
  EXPECT_TRUE(torch::equal(upright, render_shape(f, 32)));
  // An eighth of a turn is a diamond: the centre row is wider than the upright square.
  f.rotation = static_cast<float>(kPi / 4);
  const torch::Tensor diamond = lit_mask(render_shape(f, 32));
  EXPECT_GT(diamond[16].sum().item<int64_t>(), lit_mask(upright)[16].sum().item<int64_t>());
  EXPECT_FALSE(diamond[7][7].item<bool>());  // corner of the upright square, cut off
}

TEST(ShapesTest, TrianglePointsUpAndIsWidestBelowItsCentre) {
  ShapeFactors f;
  f.shape = ShapeKind::kTriangle;
  f.scale = 0.5f;
  const int size = 64;
  const torch::Tensor mask = lit_mask(render_shape(f, size));
  const torch::Tensor row_counts = mask.sum(1);
  const torch::Tensor lit_rows = torch::nonzero(row_counts).flatten();
  const int64_t top = lit_rows.min().item<int64_t>();
  const int64_t bottom = lit_rows.max().item<int64_t>();
  const int64_t widest = row_counts.argmax().item<int64_t>();
  // Apex on the circumcircle at y = 16 px (row 16's centre at 16.5 falls just outside the
  // 0.58 px wide tip), base at half the circumradius below the centre: y = 40 px.
  EXPECT_EQ(top, 17);
  EXPECT_EQ(bottom, 39);
  EXPECT_GT(widest, size / 2);
  EXPECT_LE(row_counts[top].item<int64_t>(), 2);
  // Area of an equilateral triangle with circumradius R is (3 sqrt 3 / 4) R^2.
  const double r = 0.25 * size;
  EXPECT_NEAR(mask.sum().item<int64_t>() / (3 * std::sqrt(3.0) / 4 * r * r), 1.0, 0.05);
  // Left-right symmetric when upright.
  EXPECT_TRUE(torch::equal(mask, mask.flip({1})));
  // Half a turn points it down.
  f.rotation = static_cast<float>(kPi);
  const torch::Tensor down = lit_mask(render_shape(f, size));
  EXPECT_TRUE(torch::equal(down, mask.flip({0})));
}

TEST(ShapesTest, CounterClockwiseRotationMovesTheApexLeft) {
  ShapeFactors f;
  f.shape = ShapeKind::kTriangle;
  f.scale = 0.5f;
  f.rotation = static_cast<float>(kPi / 2);  // the apex now points left on screen
  const torch::Tensor mask = lit_mask(render_shape(f, 64));
  const torch::Tensor col_counts = mask.sum(0);
  const torch::Tensor lit_cols = torch::nonzero(col_counts).flatten();
  EXPECT_EQ(lit_cols.min().item<int64_t>(), 17);
  EXPECT_GT(col_counts.argmax().item<int64_t>(), 32);
}

TEST(ShapesTest, MakeShapesIsDeterministicBySeed) {
  const Dataset a = make_shapes(40, 16, 7);
  const Dataset b = make_shapes(40, 16, 7);
  const Dataset c = make_shapes(40, 16, 8);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.factors, b.factors));
  EXPECT_FALSE(torch::equal(a.images, c.images));
  EXPECT_FALSE(torch::equal(a.factors, c.factors));
  // The first images do not depend on how many are drawn.
  const Dataset head = make_shapes(10, 16, 7);
  EXPECT_TRUE(torch::equal(head.factors, a.factors.slice(0, 0, 10)));
}

TEST(ShapesTest, FixedSeedGivesFixedFactors) {
  // std::mt19937_64 is specified bit for bit, so these hold on every platform; a change
  // here means every shapes dataset a user made has changed.
  const Dataset d = make_shapes(2, 8, 0);
  std::mt19937_64 rng(0);
  const uint64_t first = rng();
  EXPECT_EQ(d.factors[0][0].item<float>(), static_cast<float>(first % 3));
  const double scale = 0.2 + 0.3 * static_cast<double>(rng() >> 11) / 9007199254740992.0;
  EXPECT_FLOAT_EQ(d.factors[0][1].item<float>(), static_cast<float>(scale));
}

TEST(ShapesTest, FactorsAreInRangeAndMatchLabelsAndPixels) {
  const int size = 32;
  const Dataset d = make_shapes(300, size, 123);
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{300, 3, size, size}));
  ASSERT_EQ(d.factors.sizes(), (std::vector<int64_t>{300, 6}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"square", "circle", "triangle"}));
  EXPECT_EQ(d.factor_names,
            (std::vector<std::string>{"shape", "scale", "x", "y", "rotation", "hue"}));
  EXPECT_TRUE(torch::equal(d.labels, d.factors.select(1, 0).to(torch::kInt64)));
  const auto scale = d.factors.select(1, 1);
  const auto x = d.factors.select(1, 2);
  const auto y = d.factors.select(1, 3);
  const auto margin = scale * std::sqrt(0.5f);
  EXPECT_TRUE((scale >= 0.2f).all().item<bool>() && (scale <= 0.5f).all().item<bool>());
  EXPECT_TRUE(((x - margin) >= -1e-6f).all().item<bool>());
  EXPECT_TRUE(((x + margin) <= 1 + 1e-6f).all().item<bool>());
  EXPECT_TRUE(((y - margin) >= -1e-6f).all().item<bool>());
  EXPECT_TRUE(((y + margin) <= 1 + 1e-6f).all().item<bool>());
  EXPECT_TRUE((d.factors.select(1, 4) >= 0).all().item<bool>());
  EXPECT_TRUE((d.factors.select(1, 4) <= 2 * kPi + 1e-5).all().item<bool>());
  EXPECT_TRUE((d.factors.select(1, 5) >= 0).all().item<bool>());
  EXPECT_TRUE((d.factors.select(1, 5) < 1).all().item<bool>());
  // Every class appears; each is near a third of 300.
  const torch::Tensor counts = torch::bincount(d.labels, {}, 3);
  for (int c = 0; c < 3; ++c) EXPECT_GT(counts[c].item<int64_t>(), 70) << c;
  // Each image is exactly the render of its factors.
  for (int64_t i = 0; i < 300; i += 37) {
    ShapeFactors f;
    f.shape = static_cast<ShapeKind>(d.labels[i].item<int64_t>());
    f.scale = d.factors[i][1].item<float>();
    f.x = d.factors[i][2].item<float>();
    f.y = d.factors[i][3].item<float>();
    f.rotation = d.factors[i][4].item<float>();
    f.hue = d.factors[i][5].item<float>();
    EXPECT_TRUE(torch::equal(d.images[i], render_shape(f, size))) << "image " << i;
  }
}

TEST(ShapesTest, BadArgumentsAreErrors) {
  EXPECT_THROW(make_shapes(0, 32, 0), Error);
  EXPECT_THROW(make_shapes(10, 0, 0), Error);
  EXPECT_THROW(render_shape(ShapeFactors{}, -1), Error);
}

}  // namespace
}  // namespace latentkit
