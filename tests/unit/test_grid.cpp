#include "latentkit/core/grid.h"

#include <gtest/gtest.h>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

#include "golden/color_golden.inc"

TEST(Grid, TensorToImageMapsRangeAndClamps) {
  torch::Tensor image = torch::tensor({-1.0f, 1.0f, 0.0f, -3.0f, 7.0f, 0.5f}).reshape({1, 2, 3});
  Image out = tensor_to_image(image);
  EXPECT_EQ(out.width, 3);
  EXPECT_EQ(out.height, 2);
  EXPECT_EQ(out.channels, 1);
  // 0 -> 127.5 rounds up to 128; 0.5 -> 191.25 -> 191.
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{0, 255, 128, 0, 255, 191}));
}

TEST(Grid, TensorToImageInterleavesChannels) {
  torch::Tensor image = torch::full({3, 1, 2}, -1.0f);
  image[0].fill_(1.0f);
  image[2][0][1] = 0.0f;
  Image out = tensor_to_image(image);
  ASSERT_EQ(out.channels, 3);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{255, 0, 0, 255, 0, 128}));
}

TEST(Grid, RgbaTensorsArePremultipliedAndImagesStraight) {
  Image image(3, 1, 4);
  image.pixels = {255, 0, 0, 255, /*hidden green*/ 0, 255, 0, 0, 200, 100, 50, 128};
  const torch::Tensor x = image_to_tensor(image);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{4, 1, 3}));
  // The transparent pixel is all -1 whatever it hid; the half-covered one holds color x alpha.
  EXPECT_TRUE(torch::equal(x.select(2, 1), torch::full({4, 1}, -1.0f)));
  EXPECT_NEAR(x[0][0][2].item<float>(), 2.0f * (200.0f / 255) * (128.0f / 255) - 1, 1e-6);
  const Image back = tensor_to_image(x);
  ASSERT_EQ(back.channels, 4);
  const std::vector<uint8_t> expected = {255, 0, 0, 255, 0, 0, 0, 0, 200, 100, 50, 128};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(back.pixels[i], expected[i], 1) << i;
  // Over white: opaque red stays red, transparent is white, half-covered is mixed.
  const torch::Tensor white = composite_over(x.unsqueeze(0), Rgb{255, 255, 255});
  EXPECT_TRUE(torch::allclose(white[0].select(2, 0).flatten(), torch::tensor({1.0f, -1.0f, -1.0f})));
  EXPECT_TRUE(torch::allclose(white[0].select(2, 1).flatten(), torch::ones({3})));
  EXPECT_NEAR((white[0][1][0][2].item<float>() + 1) * 127.5, 100 * 128.0 / 255 + 255 * (1 - 128.0 / 255), 0.5);
}

TEST(Grid, RgbaGridsShowACheckerboard) {
  const torch::Tensor clear = torch::full({1, 4, 16, 16}, -1.0f);
  const Image grid = make_grid(clear, 1, 0);
  ASSERT_EQ(grid.channels, 3);
  EXPECT_EQ(grid.at(0, 0, 0), 255);   // light square
  EXPECT_EQ(grid.at(8, 0, 0), 204);   // dark square
  EXPECT_EQ(grid.at(8, 8, 1), 255);
  // An opaque image hides the board.
  const torch::Tensor opaque = torch::ones({1, 4, 16, 16});
  EXPECT_EQ(make_grid(opaque, 1, 0).at(8, 0, 0), 255);
}

TEST(Grid, LumaIsItu601) {
  // Pure red, green and blue, and white in [-1, 1]: the weights, and 1 for white.
  const torch::Tensor rgb = torch::tensor({1.0f, -1.0f, -1.0f, 1.0f,    //
                                           -1.0f, 1.0f, -1.0f, 1.0f,    //
                                           -1.0f, -1.0f, 1.0f, 1.0f})
                                .view({1, 3, 1, 4});
  const torch::Tensor y = luma(rgb);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, 1, 4}));
  EXPECT_NEAR(y[0][0][0][0].item<float>(), 0.299 - 0.587 - 0.114, 1e-6);
  EXPECT_NEAR(y[0][0][0][1].item<float>(), -0.299 + 0.587 - 0.114, 1e-6);
  EXPECT_NEAR(y[0][0][0][2].item<float>(), -0.299 - 0.587 + 0.114, 1e-6);
  EXPECT_NEAR(y[0][0][0][3].item<float>(), 1.0, 1e-6);
  EXPECT_EQ(luma(rgb.to(torch::kFloat64)).scalar_type(), torch::kFloat64);
}

TEST(Grid, TensorToImageRejectsBadShapes) {
  EXPECT_THROW(tensor_to_image(torch::zeros({2, 4, 4})), Error);
  EXPECT_THROW(tensor_to_image(torch::zeros({4, 4})), Error);
  EXPECT_THROW(tensor_to_image(torch::Tensor()), Error);
  EXPECT_THROW(make_grid(torch::zeros({3, 4, 4})), Error);
  EXPECT_THROW(make_grid(torch::zeros({0, 1, 4, 4})), Error);
}

TEST(Grid, ImageTensorRoundTripIsExact) {
  Image image(16, 16, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 37) % 256);
  image.pixels[0] = 0;
  image.pixels[1] = 255;
  torch::Tensor tensor = image_to_tensor(image);
  ASSERT_EQ(tensor.sizes(), (std::vector<int64_t>{3, 16, 16}));
  EXPECT_EQ(tensor.scalar_type(), torch::kFloat);
  EXPECT_FLOAT_EQ(tensor[0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(tensor[1][0][0].item<float>(), 1.0f);
  EXPECT_EQ(tensor_to_image(tensor).pixels, image.pixels);
}

TEST(Grid, MakeGridLayout) {
  // Image n is filled with a value that maps to byte 10 * (n + 1).
  torch::Tensor images = torch::empty({5, 1, 3, 3});
  for (int n = 0; n < 5; ++n) images[n].fill_(10.0 * (n + 1) / 127.5 - 1.0);
  Image grid = make_grid(images, 0, 1, 7);
  EXPECT_EQ(grid.width, 13);   // 3 columns: 3 * 3 + 4 * 1
  EXPECT_EQ(grid.height, 9);   // 2 rows: 2 * 3 + 3 * 1
  EXPECT_EQ(grid.channels, 1);
  for (int n = 0; n < 5; ++n) {
    int left = 1 + (n % 3) * 4;
    int top = 1 + (n / 3) * 4;
    for (int y = 0; y < 3; ++y) {
      for (int x = 0; x < 3; ++x) EXPECT_EQ(grid.at(left + x, top + y, 0), 10 * (n + 1)) << n;
    }
  }
  for (int i = 0; i < 13; ++i) {
    EXPECT_EQ(grid.at(i, 0, 0), 7);
    EXPECT_EQ(grid.at(i, 4, 0), 7);
    EXPECT_EQ(grid.at(i, 8, 0), 7);
  }
  for (int y = 0; y < 9; ++y) {
    EXPECT_EQ(grid.at(0, y, 0), 7);
    EXPECT_EQ(grid.at(4, y, 0), 7);
    EXPECT_EQ(grid.at(12, y, 0), 7);
  }
  for (int y = 5; y < 8; ++y) {
    for (int x = 9; x < 12; ++x) EXPECT_EQ(grid.at(x, y, 0), 7);  // the empty sixth cell
  }
}

TEST(Grid, MakeGridColumnsAndRgb) {
  torch::Tensor images = torch::ones({2, 3, 2, 4});
  Image row = make_grid(images, 8, 2, 0);
  EXPECT_EQ(row.width, 2 * 4 + 3 * 2);  // columns capped at the image count
  EXPECT_EQ(row.height, 2 + 2 * 2);
  EXPECT_EQ(row.channels, 3);
  EXPECT_EQ(row.at(2, 2, 1), 255);
  EXPECT_EQ(row.at(1, 2, 1), 0);
  Image column = make_grid(images, 1, 0, 0);
  EXPECT_EQ(column.width, 4);
  EXPECT_EQ(column.height, 4);
}

TEST(Grid, UnpremultiplyGivesStraightColorsClampedToAlpha) {
  // Red at alpha 0.5 (premultiplied 0.5 -> 0 in [-1, 1]), a color above its alpha (clamped),
  // a transparent pixel (-1 everywhere, the color undefined: -1).
  torch::Tensor t = torch::tensor({0.0, 0.5, -1.0,    // R
                                   -1.0, -0.5, 0.3,   // G
                                   -1.0, -1.0, -1.0,  // B
                                   0.0, -0.5, -1.0},  // alpha 0.5, 0.25, 0
                                  torch::kFloat64)
                        .view({1, 4, 1, 3});
  const torch::Tensor s = unpremultiply(t);
  EXPECT_EQ(s.scalar_type(), torch::kFloat64);
  const torch::Tensor expected = torch::tensor({1.0, 1.0, -1.0,  //
                                                -1.0, 1.0, -1.0,  //
                                                -1.0, -1.0, -1.0,  //
                                                0.0, -0.5, -1.0},
                                               torch::kFloat64)
                                     .view({1, 4, 1, 3});
  EXPECT_TRUE(torch::allclose(s, expected, 0, 1e-12)) << s;
  EXPECT_EQ(unpremultiply(t.to(torch::kFloat32)[0]).scalar_type(), torch::kFloat32);
  EXPECT_THROW(unpremultiply(torch::zeros({1, 3, 2, 2})), Error);
}

TEST(Grid, SrgbToLabMatchesTheCieFormulas) {
  // Golden values from tests/data/golden/color_golden.py; red, green and blue as published
  // (Lindbloom's calculator, D65 sRGB: red 53.2408, 80.0925, 67.2032).
  const torch::Tensor colors = torch::tensor({1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5,  //
                                              0.2, 0.6, 0.9, 0.01, 0.02, 0.03, 1.2, -0.1, 0.5},
                                             torch::kFloat64)
                                   .view({8, 3});
  const torch::Tensor lab = srgb_to_lab(colors);
  ASSERT_EQ(lab.sizes(), (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(lab.scalar_type(), torch::kFloat64);
  for (int64_t i = 0; i < 24; ++i) EXPECT_NEAR(lab.view({-1})[i].item<double>(), kGoldenLab[i], 1e-9) << "value " << i;
  EXPECT_NEAR(lab[0][0].item<double>(), 53.2408, 1e-4);
  EXPECT_NEAR(lab[0][1].item<double>(), 80.0925, 1e-4);
  EXPECT_NEAR(lab[0][2].item<double>(), 67.2032, 1e-4);
  // float32 in, float32 out, the same values; any leading shape.
  const torch::Tensor lab32 = srgb_to_lab(colors.to(torch::kFloat32).view({2, 4, 3}));
  EXPECT_EQ(lab32.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(lab32.view({8, 3}).to(torch::kFloat64), lab, 0, 1e-3));
  EXPECT_THROW(srgb_to_lab(torch::zeros({4, 2})), Error);
}

}  // namespace
}  // namespace latentkit
