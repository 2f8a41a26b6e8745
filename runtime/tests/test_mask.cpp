// Mask generators (format version 4): mul and downsample_nearest against plain references,
// the label map input (class ids in, one-hot inside), a SPADE-shaped model against a
// reference written from the definitions, the palette round trip and its queries, painted
// pixels to class ids with latentkit's messages, lkrt_generate_map's checks, and hostile
// palette sections and headers.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>

#include "format.h"
#include "reference.h"

namespace {

using ref::ModelPtr;
using ref::put_u32;
using ref::put_u64;
using ref::get_u32;
using ref::get_u64;

namespace f = lkrt::format;
using Value = lkrt::ModelWriter::Value;


size_t op_record(const std::string& b, uint32_t i) { return get_u64(b, f::kHOpTableOffset) + f::kOpRecordSize * size_t(i); }

// Loads bytes that must fail (checksum not checked, so a patch reaches the validators).
std::string load_error(const std::string& bytes, lkrt_status want = LKRT_ERR_FORMAT) {
  lkrt_model* m = nullptr;
  const lkrt_status s = lkrt_model_load_memory_ex(bytes.data(), bytes.size(), LKRT_LOAD_SKIP_CHECKSUM, &m);
  EXPECT_EQ(s, want) << lkrt_last_error();
  lkrt_model_free(m);
  return lkrt_last_error();
}

using ref::run_checked;

// latentkit's scenes palette, and one with a transparent class (regions-like).
lkrt::PaletteInfo scenes() {
  return {"scenes",
          {"background", "square", "circle", "triangle"},
          {{{0, 0, 0, 255}}, {{255, 0, 0, 255}}, {{0, 255, 0, 255}}, {{0, 0, 255, 255}}}};
}

TEST(Mask, MulMatchesReference) {
  // x [C, H, W] times a 1x1 convolution of x (same shape), and times a [C, 1, 1] vector (a
  // convolution with the whole map as its kernel), each then through a tanh fused after it.
  const int C = 5, S = 6, L = C * S * S;
  std::vector<float> k1 = ref::random_values(C * C, 0.5f, 1), b1 = ref::random_values(C, 0.5f, 2);
  std::vector<float> k2 = ref::random_values(size_t(C) * C * S * S, 0.1f, 3);
  std::vector<float> x = ref::random_values(L, 1.0f, 4);
  int oh, ow;
  const std::vector<float> y = ref::conv2d(x, C, S, S, k1, b1.data(), C, 1, 1, 0, &oh, &ow);
  const std::vector<float> v = ref::conv2d(x, C, S, S, k2, nullptr, C, S, 1, 0, &oh, &ow);
  ASSERT_EQ(oh, 1);
  for (bool broadcast : {false, true}) {
    lkrt::ModelWriter w;
    w.set_info({"mul", L, C, S, S});
    const Value in = w.reshape(w.input_latent(), C, S, S);
    const Value other = broadcast ? w.conv2d(in, k2.data(), C, C, S, 1, 0, nullptr, LKRT_WEIGHT_FP32)
                                  : w.conv2d(in, k1.data(), C, C, 1, 1, 0, b1.data(), LKRT_WEIGHT_FP32);
    w.activation(w.mul(in, other), lkrt::Activation::kTanh);
    std::vector<float> want(L);
    for (int c = 0; c < C; ++c)
      for (int p = 0; p < S * S; ++p) {
        const size_t i = size_t(c) * S * S + p;
        want[i] = float(std::tanh(double(x[i]) * (broadcast ? v[c] : y[i])));
      }
    const std::string bytes = w.serialize();
    EXPECT_LT(ref::max_rel_error(run_checked(bytes, x), want), 1e-6) << "broadcast " << broadcast;
    ModelPtr m(ref::load_or_fail(bytes));
    ASSERT_TRUE(m);
    EXPECT_NE(std::string(lkrt_model_op_text(m.get(), 4)).find("(fused)"), std::string::npos) << "the tanh runs in mul's epilogue";
  }
  lkrt::ModelWriter bad;
  bad.set_info({"mul", L, C, S, S});
  const Value in = bad.reshape(bad.input_latent(), C, S, S);
  bad.mul(in, bad.reshape(in, C, S * S, 1));
  try {
    bad.serialize();
    ADD_FAILURE() << "a mul of [5,6,6] and [5,36,1] loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("(mul): [5,6,6] * [5,36,1]"), std::string::npos) << e.what();
  }
}

TEST(Mask, DownsampleNearestPicksTheTopLeftOfEachBlock) {
  struct Case { int C, H, W, f; };
  for (Case c : {Case{3, 8, 8, 2}, Case{2, 8, 12, 4}, Case{4, 16, 16, 16}, Case{1, 5, 5, 1}}) {
    std::vector<float> x = ref::random_values(size_t(c.C) * c.H * c.W, 1.0f, 5);
    lkrt::ModelWriter w;
    w.set_info({"down", c.C * c.H * c.W, c.C, c.H / c.f, c.W / c.f});
    w.downsample_nearest(w.reshape(w.input_latent(), c.C, c.H, c.W), c.f);
    std::vector<float> want;
    for (int ch = 0; ch < c.C; ++ch)
      for (int i = 0; i < c.H / c.f; ++i)
        for (int j = 0; j < c.W / c.f; ++j) want.push_back(x[(size_t(ch) * c.H + size_t(i) * c.f) * c.W + size_t(j) * c.f]);
    EXPECT_EQ(run_checked(w.serialize(), x), want) << c.H << "x" << c.W << " / " << c.f;
  }
  lkrt::ModelWriter w;
  w.set_info({"down", 2 * 6 * 6, 2, 1, 1});
  w.downsample_nearest(w.reshape(w.input_latent(), 2, 6, 6), 4);
  try {
    w.serialize();
    ADD_FAILURE() << "6x6 / 4 loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not multiples of 4"), std::string::npos) << e.what();
  }
}

// A SPADE-shaped mask generator, 8x8 RGB from z [6] and a 4-class map, and its weights:
//   x = reshape(gemm(z)) [8, 4, 4]; m4 = downsample(map, 2)
//   x = lrelu(x * gamma(a) + beta(a)), a = relu(shared(m4))       (the normalisation, folded)
//   x = upsample(x, 2); x = x * gamma2(a2) + beta2(a2), a2 = relu(shared2(map))
//   out = tanh(conv(x)) [3, 8, 8]
struct SpadeLike {
  static constexpr int kZ = 6, kK = 4, kC = 8, kHidden = 5, kS = 8;
  std::vector<float> fc = ref::random_values(size_t(kC) * 16 * kZ, 0.3f, 10), fc_b = ref::random_values(kC * 16, 0.1f, 11);
  std::vector<float> sh[2], sh_b[2], ga[2], ga_b[2], be[2], be_b[2];
  std::vector<float> out = ref::random_values(3 * kC * 9, 0.2f, 12), out_b = ref::random_values(3, 0.1f, 13);
  SpadeLike() {
    for (int i = 0; i < 2; ++i) {
      sh[i] = ref::random_values(size_t(kHidden) * kK * 9, 0.5f, 20 + i);
      sh_b[i] = ref::random_values(kHidden, 0.1f, 22 + i);
      ga[i] = ref::random_values(size_t(kC) * kHidden * 9, 0.2f, 24 + i);
      ga_b[i] = ref::random_values(kC, 0.1f, 26 + i);
      for (float& v : ga_b[i]) v += 1.0f;  // the "1 +" folded in
      be[i] = ref::random_values(size_t(kC) * kHidden * 9, 0.2f, 28 + i);
      be_b[i] = ref::random_values(kC, 0.1f, 30 + i);
    }
  }

  std::string write(lkrt_weight_type type = LKRT_WEIGHT_FP32, const lkrt::PaletteInfo& palette = scenes()) const {
    lkrt::ModelWriter w;
    w.set_info({"spade-like", kZ, 3, kS, kS});
    w.set_mask_generator(palette);
    const Value z = w.input_latent();
    const Value map = w.input(lkrt::InputRole::kLabelMap, kK);
    Value x = w.reshape(w.gemm(z, fc.data(), kC * 16, kZ, fc_b.data(), type), kC, 4, 4);
    const Value maps[2] = {w.downsample_nearest(map, 2), map};
    for (int i = 0; i < 2; ++i) {
      if (i == 1) x = w.upsample_nearest(x, 2);
      const Value a = w.activation(w.conv2d(maps[i], sh[i].data(), kHidden, kK, 3, 1, 1, sh_b[i].data(), type),
                                   lkrt::Activation::kRelu);
      const Value g = w.conv2d(a, ga[i].data(), kC, kHidden, 3, 1, 1, ga_b[i].data(), type);
      const Value b = w.conv2d(a, be[i].data(), kC, kHidden, 3, 1, 1, be_b[i].data(), type);
      x = w.add(w.mul(x, g), b);
      if (i == 0) x = w.activation(x, lkrt::Activation::kLeakyRelu, 0.2f);
    }
    w.activation(w.conv2d(x, out.data(), 3, kC, 3, 1, 1, out_b.data(), type), lkrt::Activation::kTanh);
    return w.serialize();
  }

  // The same in double from the definitions; map: class ids [8 * 8].
  std::vector<float> reference(const std::vector<float>& z, const std::vector<uint8_t>& map) const {
    std::vector<float> onehot(size_t(kK) * kS * kS, 0.0f), down(size_t(kK) * 4 * 4);
    for (int p = 0; p < kS * kS; ++p) onehot[size_t(map[p]) * kS * kS + p] = 1.0f;
    for (int k = 0; k < kK; ++k)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) down[(size_t(k) * 4 + i) * 4 + j] = onehot[(size_t(k) * kS + 2 * i) * kS + 2 * j];
    std::vector<float> x = ref::gemm(z, fc, fc_b.data(), kC * 16, kZ);  // [8, 4, 4] in C-major order
    int side = 4, oh, ow;
    for (int i = 0; i < 2; ++i) {
      if (i == 1) {
        x = ref::upsample_nearest(x, kC, 4, 4, 2);
        side = 8;
      }
      std::vector<float> a = ref::conv2d(i == 0 ? down : onehot, kK, side, side, sh[i], sh_b[i].data(), kHidden, 3, 1, 1, &oh, &ow);
      for (float& v : a) v = std::max(v, 0.0f);
      const std::vector<float> g = ref::conv2d(a, kHidden, side, side, ga[i], ga_b[i].data(), kC, 3, 1, 1, &oh, &ow);
      const std::vector<float> b = ref::conv2d(a, kHidden, side, side, be[i], be_b[i].data(), kC, 3, 1, 1, &oh, &ow);
      for (size_t k = 0; k < x.size(); ++k) {
        const double v = double(x[k]) * g[k] + b[k];
        x[k] = float(i == 0 && v < 0 ? v * double(0.2f) : v);
      }
    }
    std::vector<float> y = ref::conv2d(x, kC, kS, kS, out, out_b.data(), 3, 3, 1, 1, &oh, &ow);
    for (float& v : y) v = float(std::tanh(double(v)));
    return y;
  }
};

// A map of the four classes in blocks, and its pixels painted in the scenes palette.
std::vector<uint8_t> block_map(int seed) {
  std::vector<uint8_t> map(64);
  for (int p = 0; p < 64; ++p) map[p] = uint8_t(((p % 8) / 3 + (p / 8) / 2 * 2 + seed) % 4);
  return map;
}

std::vector<float> generate_map(lkrt_model* m, const std::vector<float>& z, const std::vector<uint8_t>& map) {
  std::vector<float> out(size_t(lkrt_model_channels(m)) * lkrt_model_height(m) * lkrt_model_width(m));
  EXPECT_EQ(lkrt_generate_map(m, z.data(), map.data(), out.data()), LKRT_OK) << lkrt_last_error();
  return out;
}

TEST(Mask, SpadeShapedModelMatchesItsDefinition) {
  const SpadeLike net;
  const std::string bytes = net.write();
  EXPECT_EQ(get_u32(bytes, f::kHVersion), 4u) << "a palette: version 4";
  EXPECT_EQ(get_u32(bytes, f::kHKind), uint32_t(LKRT_KIND_MASK_GENERATOR));
  ModelPtr m(ref::load_or_fail(bytes));
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_MASK_GENERATOR);
  EXPECT_EQ(lkrt_model_latent_dim(m.get()), SpadeLike::kZ);
  EXPECT_EQ(lkrt_model_num_classes(m.get()), 4);
  EXPECT_EQ(lkrt_model_embed_dim(m.get()), 0);
  EXPECT_STREQ(lkrt_model_op_text(m.get(), 1), "input label map, one-hot of 4 classes -> [4,8,8]");
  const std::vector<float> z = ref::random_values(SpadeLike::kZ, 1.0f, 40);
  for (int seed = 0; seed < 3; ++seed) {
    const std::vector<uint8_t> map = block_map(seed);
    const std::vector<float> want = net.reference(z, map);
    EXPECT_LT(ref::max_rel_error(generate_map(m.get(), z, map), want), 1e-5) << "map " << seed;
  }
  // Different maps, different images; the same call twice, the same bits; 3 threads too.
  const std::vector<float> a = generate_map(m.get(), z, block_map(0)), b = generate_map(m.get(), z, block_map(1));
  EXPECT_GT(ref::max_rel_error(a, b), 1e-3);
  EXPECT_EQ(generate_map(m.get(), z, block_map(0)), a);
  ASSERT_EQ(lkrt_set_threads(m.get(), 3), LKRT_OK);
  EXPECT_EQ(generate_map(m.get(), z, block_map(0)), a);
  // int8 weights stay close to the fp32 model: normalised error mse(a - b) / mse(b).
  ModelPtr q(ref::load_or_fail(net.write(LKRT_WEIGHT_INT8)));
  ASSERT_TRUE(q);
  const std::vector<float> got8 = generate_map(q.get(), z, block_map(0)), want8 = net.reference(z, block_map(0));
  double se = 0, energy = 0;
  for (size_t i = 0; i < want8.size(); ++i) {
    se += (double(got8[i]) - want8[i]) * (double(got8[i]) - want8[i]);
    energy += double(want8[i]) * want8[i];
  }
  EXPECT_LT(se / energy, 1e-3);
  EXPECT_GT(se / energy, 0.0) << "int8 weights are not the fp32 ones";
}

TEST(Mask, GenerateMapChecksItsArguments) {
  ModelPtr m(ref::load_or_fail(SpadeLike().write()));
  ASSERT_TRUE(m);
  std::vector<float> z(SpadeLike::kZ, 0.5f), out(3 * 64);
  std::vector<uint8_t> map = block_map(0);
  map[2 * 8 + 5] = 4;  // pixel (5, 2)
  map[7 * 8 + 7] = 200;
  EXPECT_EQ(lkrt_generate_map(m.get(), z.data(), map.data(), out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_STREQ(lkrt_last_error(), "map pixel (5, 2) is class 4, the model has 4 classes (0..3)");
  map = block_map(0);
  EXPECT_EQ(lkrt_generate_map(m.get(), nullptr, map.data(), out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate_map(m.get(), z.data(), nullptr, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate_map(m.get(), z.data(), map.data(), nullptr), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate_map(nullptr, z.data(), map.data(), out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), -1, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("use lkrt_generate_map"), std::string::npos) << lkrt_last_error();
  EXPECT_EQ(lkrt_decode_code_text(m.get(), "Ez-hgHCL33U", out.data()), LKRT_ERR_ARGUMENT);
  // A generator takes no map.
  lkrt::ModelWriter w;
  w.set_info({"plain", 4, 4, 1, 1});
  w.add_input();
  ModelPtr g(ref::load_or_fail(w.serialize()));
  ASSERT_TRUE(g);
  EXPECT_EQ(lkrt_generate_map(g.get(), z.data(), map.data(), out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("not a mask generator"), std::string::npos) << lkrt_last_error();
  EXPECT_EQ(get_u32(w.serialize(), f::kHVersion), 2u) << "a model without a palette stays version 2";
  EXPECT_STREQ(lkrt_model_palette_name(g.get()), "");
  EXPECT_EQ(lkrt_model_class_name(g.get(), 0), nullptr);
  EXPECT_EQ(lkrt_model_class_color(g.get(), 0), nullptr);
  // The C++ wrapper.
  const std::string bytes = SpadeLike().write();
  lkrt::Model model(bytes.data(), bytes.size());
  EXPECT_EQ(model.generate_map(z, block_map(0)), generate_map(m.get(), z, block_map(0)));
  EXPECT_THROW(model.generate_map(z, std::vector<uint8_t>(63)), lkrt::Error);
}

TEST(Mask, PaletteTravelsInTheFile) {
  ModelPtr m(ref::load_or_fail(SpadeLike().write()));
  ASSERT_TRUE(m);
  EXPECT_STREQ(lkrt_model_palette_name(m.get()), "scenes");
  const lkrt::PaletteInfo p = scenes();
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(lkrt_model_class_name(m.get(), k), p.class_names[size_t(k)]);
    ASSERT_NE(lkrt_model_class_color(m.get(), k), nullptr);
    EXPECT_EQ(0, std::memcmp(lkrt_model_class_color(m.get(), k), p.colors[size_t(k)].data(), 4)) << k;
  }
  EXPECT_EQ(lkrt_model_class_name(m.get(), 4), nullptr);
  EXPECT_EQ(lkrt_model_class_name(m.get(), -1), nullptr);
  EXPECT_EQ(lkrt_model_class_color(m.get(), 4), nullptr);
}

TEST(Mask, PixelsToClassIds) {
  ModelPtr m(ref::load_or_fail(SpadeLike().write()));
  ASSERT_TRUE(m);
  // RGB: background, square, circle, triangle, square.
  const uint8_t rgb[] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 0, 0};
  uint8_t ids[5] = {9, 9, 9, 9, 9};
  ASSERT_EQ(lkrt_map_from_pixels(m.get(), rgb, 3, 1, 5, ids), LKRT_OK) << lkrt_last_error();
  EXPECT_EQ(std::vector<uint8_t>(ids, ids + 5), (std::vector<uint8_t>{0, 1, 2, 3, 1}));
  // RGBA, 2 x 2; then a gray pixel at (1, 1) and a half-transparent red at (1, 0).
  uint8_t rgba[] = {0, 0, 255, 255, 0, 255, 0, 255, 255, 0, 0, 255, 0, 0, 0, 255};
  ASSERT_EQ(lkrt_map_from_pixels(m.get(), rgba, 4, 2, 2, ids), LKRT_OK);
  EXPECT_EQ(std::vector<uint8_t>(ids, ids + 4), (std::vector<uint8_t>{3, 2, 1, 0}));
  const uint8_t gray[] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 128, 128, 128};
  EXPECT_EQ(lkrt_map_from_pixels(m.get(), gray, 3, 2, 2, ids), LKRT_ERR_ARGUMENT);
  EXPECT_STREQ(lkrt_last_error(),
               "pixel (1, 1) is #808080, not a color of the scenes palette; the valid colors are: 0 background #000000, "
               "1 square #ff0000, 2 circle #00ff00, 3 triangle #0000ff");
  rgba[7] = 128;
  EXPECT_EQ(lkrt_map_from_pixels(m.get(), rgba, 4, 2, 2, ids), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("pixel (1, 0) is #00ff0080, not a color"), std::string::npos) << lkrt_last_error();
  rgba[7] = 0;  // alpha 0 and no transparent class: still not a palette color
  EXPECT_EQ(lkrt_map_from_pixels(m.get(), rgba, 4, 2, 2, ids), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_map_from_pixels(m.get(), rgb, 1, 1, 5, ids), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("must be an RGB or RGBA image"), std::string::npos) << lkrt_last_error();
  EXPECT_EQ(lkrt_map_from_pixels(m.get(), rgb, 3, 0, 5, ids), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_map_from_pixels(m.get(), nullptr, 3, 1, 5, ids), LKRT_ERR_ARGUMENT);

  // A palette with a transparent class: any pixel of alpha 0 is it, whatever its color.
  lkrt::PaletteInfo regions{"regions", {"transparent", "black", "red", "blue"},
                            {{{0, 0, 0, 0}}, {{33, 33, 33, 255}}, {{229, 57, 53, 255}}, {{30, 136, 229, 255}}}};
  ModelPtr r(ref::load_or_fail(SpadeLike().write(LKRT_WEIGHT_FP32, regions)));
  ASSERT_TRUE(r);
  const uint8_t painted[] = {7, 8, 9, 0, 33, 33, 33, 255, 229, 57, 53, 255, 0, 0, 0, 0};
  ASSERT_EQ(lkrt_map_from_pixels(r.get(), painted, 4, 1, 4, ids), LKRT_OK) << lkrt_last_error();
  EXPECT_EQ(std::vector<uint8_t>(ids, ids + 4), (std::vector<uint8_t>{0, 1, 2, 0}));
  const uint8_t off[] = {33, 33, 33, 254};
  EXPECT_EQ(lkrt_map_from_pixels(r.get(), off, 4, 1, 1, ids), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("0 transparent transparent, 1 black #212121"), std::string::npos)
      << lkrt_last_error();
  EXPECT_NE(std::string(lkrt_last_error()).find("(any pixel with alpha 0 is transparent)"), std::string::npos);
}

TEST(Mask, WriterRefusesBadPalettes) {
  auto refuses = [](lkrt::PaletteInfo p) {
    lkrt::ModelWriter w;
    EXPECT_THROW(w.set_mask_generator(p), std::invalid_argument) << p.name;
  };
  lkrt::PaletteInfo p = scenes();
  p.colors[2] = p.colors[1];
  refuses(p);  // two classes, one color
  p = scenes();
  p.colors[0][3] = 128;
  refuses(p);
  p = scenes();
  p.class_names[1] = "";
  refuses(p);
  p = scenes();
  p.name = std::string(65, 'a');
  refuses(p);
  p = scenes();
  p.colors.pop_back();
  refuses(p);
  p = {"one", {"only"}, {{{1, 2, 3, 255}}}};
  refuses(p);
}

TEST(Mask, LoaderRejectsHostilePalettesAndHeaders) {
  const std::string good = SpadeLike().write();
  const size_t at = get_u64(good, f::kHPaletteOffset), size = get_u64(good, f::kHPaletteSize);
  ASSERT_EQ(size, 8u + 16 + 7 + 11 + 7 + 7 + 9);  // counts, colors, "scenes", the four class names
  struct Case {
    const char* what;
    std::function<void(std::string&)> edit;
    const char* message;
    lkrt_status status;
  };
  const Case cases[] = {
      {"classes", [&](std::string& b) { put_u32(b, at + f::kPClasses, 5); }, "palette: 5 classes, the header says 4", LKRT_ERR_FORMAT},
      {"reserved", [&](std::string& b) { put_u32(b, at + f::kPReserved, 1); }, "reserved field", LKRT_ERR_FORMAT},
      {"alpha", [&](std::string& b) { b[at + f::kPColors + 7] = char(128); }, "class 1 has alpha 128", LKRT_ERR_FORMAT},
      {"same color", [&](std::string& b) { std::memcpy(&b[at + f::kPColors + 8], &b[at + f::kPColors + 4], 4); },
       "classes 1 and 2 have the same color", LKRT_ERR_FORMAT},
      {"colored transparent", [&](std::string& b) { b[at + f::kPColors + 7] = 0; }, "transparent class 1 is not", LKRT_ERR_FORMAT},
      {"unterminated", [&](std::string& b) { b[at + size - 1] = 'x'; }, "name 4 is missing or not NUL-terminated", LKRT_ERR_FORMAT},
      {"empty name", [&](std::string& b) { b[at + f::kPColors + 16] = 0; }, "name 0 is 0 bytes", LKRT_ERR_FORMAT},
      {"control byte", [&](std::string& b) { b[at + f::kPColors + 17] = '\n'; }, "not printable", LKRT_ERR_FORMAT},
      {"extra bytes", [&](std::string& b) { put_u64(b, f::kHPaletteSize, size + 1); }, "bytes after the last class name", LKRT_ERR_FORMAT},
      {"short", [&](std::string& b) { put_u64(b, f::kHPaletteSize, 20); }, "4 colors do not fit", LKRT_ERR_FORMAT},
      {"unaligned", [&](std::string& b) { put_u64(b, f::kHPaletteOffset, at + 4); }, "not 64-aligned", LKRT_ERR_FORMAT},
      {"outside", [&](std::string& b) { put_u64(b, f::kHPaletteOffset, b.size() - 64); }, "outside the data section", LKRT_ERR_FORMAT},
      {"into the tables", [&](std::string& b) { put_u64(b, f::kHPaletteOffset, 256); }, "outside the data section", LKRT_ERR_FORMAT},
      {"no palette", [&](std::string& b) { put_u64(b, f::kHPaletteOffset, 0), put_u64(b, f::kHPaletteSize, 0); },
       "a mask generator without its palette section", LKRT_ERR_FORMAT},
      {"version 3", [&](std::string& b) { put_u32(b, f::kHVersion, 3); }, "a mask generator in a version-3 file", LKRT_ERR_FORMAT},
      {"one class", [&](std::string& b) { put_u32(b, f::kHNumClasses, 1); }, "1 classes, not in 2..256", LKRT_ERR_FORMAT},
      {"embed_dim", [&](std::string& b) { put_u32(b, f::kHEmbedDim, 3); }, "embed_dim 3", LKRT_ERR_FORMAT},
      {"reserved header", [&](std::string& b) { put_u32(b, 216, 1); }, "reserved header byte 216", LKRT_ERR_FORMAT},
      {"map of 3 classes", [&](std::string& b) { put_u32(b, op_record(b, 1) + f::kOInts + 4, 3); },
       "label map of 3 classes, the header says 4", LKRT_ERR_FORMAT},
      {"no map input", [&](std::string& b) { put_u32(b, op_record(b, 1) + f::kOInts, uint32_t(lkrt::InputRole::kImage)); },
       "a mask generator has two inputs, the latent and the label map", LKRT_ERR_FORMAT},
      {"downsample 0", [&](std::string& b) { put_u32(b, op_record(b, 4) + f::kOInts, 0); }, "factor 0", LKRT_ERR_FORMAT},
      {"downsample 3", [&](std::string& b) { put_u32(b, op_record(b, 4) + f::kOInts, 3); }, "not multiples of 3", LKRT_ERR_FORMAT},
      {"as a generator", [&](std::string& b) { put_u32(b, f::kHKind, LKRT_KIND_GENERATOR); }, "", LKRT_ERR_FORMAT},
      {"kind 5", [&](std::string& b) { put_u32(b, f::kHKind, 5); }, "model kind 5 unknown", LKRT_ERR_UNSUPPORTED},
  };
  ASSERT_EQ(lkrt::op_name(lkrt::Op(get_u32(good, op_record(good, 4)))), std::string("downsample_nearest"));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string bytes = good;
    c.edit(bytes);
    EXPECT_NE(load_error(bytes, c.status).find(c.message), std::string::npos);
  }
  // A palette section in a generator's file.
  lkrt::ModelWriter w;
  w.set_info({"plain", 4, 4, 1, 1});
  w.add_input();
  std::string plain = w.serialize();
  put_u32(plain, f::kHVersion, 4);
  put_u64(plain, f::kHPaletteOffset, 64 * ((plain.size() - 1) / 64));
  put_u64(plain, f::kHPaletteSize, 8);
  EXPECT_NE(load_error(plain).find("a palette section in a model that is not a mask generator"), std::string::npos);
  // Cut at every length: an error, never a crash.
  for (size_t n = 0; n < good.size(); n += 7) {
    lkrt_model* m = nullptr;
    EXPECT_NE(lkrt_model_load_memory(good.data(), n, &m), LKRT_OK) << n;
    lkrt_model_free(m);
  }
}

}  // namespace
