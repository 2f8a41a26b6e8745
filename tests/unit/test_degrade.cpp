// Masks and degradations: each does what it says and is fixed by its seed.
#include "latentkit/data/degrade.h"

#include <gtest/gtest.h>

#include "latentkit/models/generator.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test_util::error_of;

// Mean squared difference between horizontal and vertical neighbours: high-frequency energy.
double high_frequency(const torch::Tensor& x) {
  return (x.diff(1, 3).square().mean() + x.diff(1, 2).square().mean()).item<double>();
}

torch::Tensor test_images() {
  torch::Generator rng = make_rng(7);
  return torch::rand({4, 1, 28, 28}, rng) * 2 - 1;
}

TEST(Masks, CenterAndSides) {
  torch::Tensor c = center_mask(28, 28);
  EXPECT_EQ(c.sum().item<float>(), 14 * 14);
  EXPECT_EQ(c[0][0][7][7].item<float>(), 1.f);
  EXPECT_EQ(c[0][0][6][7].item<float>(), 0.f);
  EXPECT_EQ(c[0][0][20][20].item<float>(), 1.f);
  EXPECT_EQ(c[0][0][21][20].item<float>(), 0.f);
  torch::Tensor r = side_mask(28, 28, "right", 0.25);
  EXPECT_EQ(r.sum().item<float>(), 7 * 28);
  EXPECT_EQ(r[0][0][0][21].item<float>(), 1.f);
  EXPECT_EQ(r[0][0][0][20].item<float>(), 0.f);
  EXPECT_EQ(side_mask(28, 28, "top", 0.5)[0][0][13].min().item<float>(), 1.f);
  EXPECT_NE(error_of([] { side_mask(28, 28, "up", 0.5); }).find("left, right, top or bottom"), std::string::npos);
  EXPECT_NE(error_of([] { side_mask(28, 28, "left", 1.0); }).find("(0, 1)"), std::string::npos);
}

TEST(Masks, RandomKindsAreSeededAndNonEmpty) {
  for (const std::string& kind : mask_kinds()) {
    torch::Generator a = make_rng(3), b = make_rng(3);
    torch::Tensor m = random_masks(kind, 16, 28, 28, a);
    ASSERT_EQ(m.sizes(), (std::vector<int64_t>{16, 1, 28, 28})) << kind;
    EXPECT_TRUE(torch::equal(m, random_masks(kind, 16, 28, 28, b))) << kind;
    EXPECT_TRUE(((m == 0) | (m == 1)).all().item<bool>()) << kind;
    torch::Tensor area = m.flatten(1).mean(1);
    EXPECT_GT(area.min().item<double>(), 0.02) << kind;   // something to fill
    EXPECT_LT(area.max().item<double>(), 0.9) << kind;    // something known
  }
  torch::Generator a = make_rng(3), b = make_rng(4);
  EXPECT_FALSE(torch::equal(random_masks("strokes", 4, 28, 28, a), random_masks("strokes", 4, 28, 28, b)));
  EXPECT_NE(error_of([&] { random_masks("circle", 1, 8, 8, a); }).find("center, box, strokes"), std::string::npos);
}

TEST(Degradations, BlurLowersHighFrequencyEnergyAndKeepsTheMean) {
  torch::Tensor x = test_images();
  torch::Tensor y = gaussian_blur(x, 1.0);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_LT(high_frequency(y), 0.2 * high_frequency(x));
  EXPECT_NEAR(y.mean().item<double>(), x.mean().item<double>(), 0.01);
  // A flat image stays flat (reflect padding, normalised kernel).
  torch::Tensor flat = torch::full({1, 3, 9, 9}, 0.3);
  EXPECT_TRUE(torch::allclose(gaussian_blur(flat, 2.0), flat, 1e-5, 1e-5));
}

TEST(Degradations, JpegQuality10MakesBlockEdges) {
  // A gentle ramp changes evenly from column to column; JPEG at quality 10 flattens each
  // 8 x 8 block, so the change gathers at the block borders (columns 7|8, 15|16, 23|24).
  torch::Tensor ramp = torch::linspace(-0.15, 0.15, 32).view({1, 1, 1, 32}).expand({1, 1, 32, 32}).contiguous();
  torch::Tensor j = jpeg_artifacts(ramp, 10);
  auto border_ratio = [](const torch::Tensor& x) {
    torch::Tensor steps = x.diff(1, 3).abs().mean({0, 1, 2});  // [31]: column c to c + 1
    double at_borders = 0, inside = 0;
    for (int64_t c = 0; c < 31; ++c) ((c % 8 == 7) ? at_borders : inside) += steps[c].item<double>();
    return (at_borders / 3) / (inside / 28 + 1e-9);
  };
  EXPECT_NEAR(border_ratio(ramp), 1.0, 1e-3);
  EXPECT_GT(border_ratio(j), 3.0);
  // Quality 100 is nearly lossless (8-bit rounding only); quality 10 is not.
  EXPECT_LT((jpeg_artifacts(ramp, 100) - ramp).abs().max().item<double>(), 0.03);
  EXPECT_GT((j - ramp).abs().mean().item<double>(), 0.01);
  // Colour images and sizes that are not multiples of 8.
  torch::Tensor rgb = test_images().repeat({1, 3, 1, 1}).slice(3, 0, 27);
  EXPECT_EQ(jpeg_artifacts(rgb, 30).sizes(), rgb.sizes());
  EXPECT_NE(error_of([&] { jpeg_artifacts(ramp, 0); }).find("1..100"), std::string::npos);
}

TEST(Degradations, NoiseHasItsSigmaAndTheMixIsSeeded) {
  torch::Generator rng = make_rng(1);
  torch::Tensor zero = torch::zeros({1, 1, 200, 200});
  EXPECT_NEAR(add_noise(zero, 0.2, rng).std().item<double>(), 0.2, 0.005);
  torch::Tensor x = test_images().repeat({1, 3, 1, 1});  // color, so that gray applies
  x.select(1, 0).mul_(0.5);
  for (const std::string& kind : degradation_kinds()) {
    torch::Generator a = make_rng(5), b = make_rng(5);
    torch::Tensor y = degrade(x, kind, a);
    EXPECT_EQ(y.sizes(), x.sizes()) << kind;
    EXPECT_TRUE(torch::equal(y, degrade(x, kind, b))) << kind;
    EXPECT_GT((y - x).abs().mean().item<double>(), 0.01) << kind;
    EXPECT_LE(y.abs().max().item<double>(), 1.0) << kind;
  }
  EXPECT_NE(error_of([&] { degrade(x, "rain", rng); }).find("blur, noise, jpeg, lowres, exposure, retouch, gray, lineart or mixed"),
            std::string::npos);
}

TEST(Degradations, PixelateMakesFlatBlocksOfTheAreaMean) {
  torch::Tensor x = test_images();
  torch::Tensor p = pixelate(x, 4);
  ASSERT_EQ(p.sizes(), x.sizes());
  // Each 4x4 block is one value: the block's mean.
  torch::Tensor block = p[0][0].slice(0, 8, 12).slice(1, 4, 8);
  EXPECT_NEAR((block - block[0][0]).abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(block[0][0].item<double>(), x[0][0].slice(0, 8, 12).slice(1, 4, 8).mean().item<double>(), 1e-5);
  EXPECT_LT(high_frequency(p), 0.5 * high_frequency(x));
  EXPECT_EQ(pixelate(x, 3).sizes(), x.sizes()) << "factors that do not divide the size";
  EXPECT_TRUE(torch::equal(pixelate(x, 1), x));
}

TEST(Degradations, ExposureContrastAndVignetteDoWhatTheySay) {
  torch::Tensor gray = torch::zeros({1, 1, 16, 16});  // 0.5 in [0, 1]
  EXPECT_NEAR(adjust_exposure(gray, 1.0, 1.0).mean().item<double>(), 1.0, 1e-6) << "one stop up doubles: 0.5 -> 1";
  EXPECT_NEAR(adjust_exposure(gray, -1.0, 1.0).mean().item<double>(), -0.5, 1e-6) << "one stop down halves: 0.5 -> 0.25";
  EXPECT_NEAR(adjust_exposure(gray, 0.0, 2.0).mean().item<double>(), -0.5, 1e-6) << "gamma 2: 0.5 -> 0.25";
  torch::Tensor x = test_images();
  torch::Tensor low = adjust_contrast(x, 0.5);
  EXPECT_NEAR(low.std().item<double>(), 0.5 * x.std().item<double>(), 0.02);
  EXPECT_NEAR(low.mean().item<double>(), x.mean().item<double>(), 1e-5);
  torch::Tensor white = torch::ones({1, 1, 17, 17});
  torch::Tensor v = vignette(white, 0.5);
  EXPECT_NEAR(v[0][0][8][8].item<double>(), 1.0, 1e-6) << "the centre keeps its value";
  EXPECT_NEAR(v[0][0][0][0].item<double>(), 0.0, 1e-6) << "the corners lose half: 1 -> 0.5 in [0, 1]";
}

TEST(Degradations, EnhanceTasksNameTheirDegradations) {
  ASSERT_EQ(enhance_tasks().size(), 6u);
  EXPECT_EQ(task_degradation("deblur"), "blur");
  EXPECT_EQ(task_degradation("superres"), "lowres");
  EXPECT_EQ(task_degradation("retouch"), "retouch");
  EXPECT_EQ(task_degradation("colorize"), "gray");
  EXPECT_NE(error_of([] { task_degradation("sharpen"); }).find("deblur, denoise"), std::string::npos);
  torch::Tensor x = test_images();
  torch::Generator a = make_rng(3), b = make_rng(3);
  torch::Tensor y = degrade_for_tasks(x, {"superres"}, a);
  EXPECT_TRUE(torch::equal(y, degrade_for_tasks(x, {"superres"}, b)));
  // Every image is pixelated by 2, 3 or 4.
  for (int64_t i = 0; i < x.size(0); ++i) {
    bool found = false;
    for (int64_t f = 2; f <= 4; ++f) found = found || torch::allclose(y[i], pixelate(x.slice(0, i, i + 1), f)[0]);
    EXPECT_TRUE(found) << "image " << i;
  }
  // Retouching a colour image changes the channels differently (cast) or the tone.
  torch::Tensor rgb = (test_images().repeat({1, 3, 1, 1}) * 0.5);
  torch::Generator c = make_rng(9);
  torch::Tensor r = degrade_for_tasks(rgb, {"retouch", "exposure"}, c);
  EXPECT_GT((r - rgb).abs().mean().item<double>(), 0.01);
}

TEST(Degradations, GrayKeepsAlphaAndRgbaDegradationsKeepPremultiplication) {
  // One RGBA pixel row: opaque orange, half-covered blue (premultiplied), transparent.
  torch::Tensor x = torch::full({1, 4, 8, 8}, -1.0f);
  x[0][0].slice(1, 0, 3).fill_(1.0f), x[0][1].slice(1, 0, 3).fill_(0.0f), x[0][3].slice(1, 0, 3).fill_(1.0f);
  x[0][2].slice(1, 3, 6).fill_(0.0f), x[0][3].slice(1, 3, 6).fill_(0.0f);
  torch::Generator rng = make_rng(1);
  const torch::Tensor gray = degrade(x, "gray", rng);
  EXPECT_TRUE(torch::equal(gray.select(1, 3), x.select(1, 3)));
  EXPECT_TRUE(torch::allclose(gray.select(1, 0), gray.select(1, 2)));
  // Orange's luma: 0.299 * 1 + 0.587 * 0.5 + 0.114 * 0 = 0.5925 in [0, 1].
  EXPECT_NEAR(gray[0][1][0][0].item<float>(), 2 * 0.5925 - 1, 1e-5);
  EXPECT_NE(error_of([] {
              torch::Generator g = make_rng(1);
              degrade(torch::zeros({1, 1, 8, 8}), "gray", g);
            }).find("needs color data"),
            std::string::npos);
  // Color degradations keep alpha and never put color above it.
  for (const char* kind : {"noise", "jpeg", "exposure", "retouch"}) {
    torch::Generator g = make_rng(2);
    const torch::Tensor y = degrade(x, kind, g);
    EXPECT_TRUE(torch::equal(y.select(1, 3), x.select(1, 3))) << kind;
    EXPECT_TRUE((y.slice(1, 0, 3) <= y.slice(1, 3, 4) + 1e-6).all().item<bool>()) << kind;
  }
}

TEST(Degradations, WithLumaTakesTheGrayLumaAndAlphaAndKeepsTheChroma) {
  torch::Generator rng = make_rng(3);
  torch::Tensor x = torch::rand({2, 4, 6, 6}, rng) * 2 - 1;
  torch::Tensor y = torch::rand({2, 4, 6, 6}, rng) * 2 - 1;
  const torch::Tensor gray = to_gray(y);
  const torch::Tensor moved = with_luma(x, gray);
  EXPECT_TRUE(torch::allclose(to_gray(moved), gray, 1e-5, 1e-6));
  // One shift per pixel on R, G and B: the differences between channels are x's.
  const torch::Tensor shift = moved.slice(1, 0, 3) - x.slice(1, 0, 3);
  EXPECT_TRUE(torch::allclose(shift, shift.slice(1, 0, 1).expand_as(shift), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(moved.select(1, 3), y.select(1, 3)));
  EXPECT_EQ(with_luma(x.slice(1, 0, 3), gray.slice(1, 0, 3)).size(1), 3);
  EXPECT_NE(error_of([&] { with_luma(x, gray.slice(2, 0, 3)); }).find("same shape"), std::string::npos);
}

}  // namespace
}  // namespace latentkit
