// Wallpapers of the day (lkrt_wallpaper.h, format version 5): the noise recipe's properties,
// lkrt_wallpaper_day's forms, lkrt_resize_bilinear against its definition, a tiny random
// wallpaper model drawn by lkrt_wallpaper against a reference written from
// docs/wallpapers.md steps 2-8, tiles against one whole grid, the moods, the argument
// checks, and hostile wallpaper sections and headers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "format.h"
#include "graph.h"
#include "lkrt_wallpaper.h"
#include "reference.h"

namespace {

using ref::ModelPtr;
using ref::put_u32;
using ref::put_u64;
using ref::get_u64;

namespace f = lkrt::format;



std::string load_error(const std::string& bytes, lkrt_status want = LKRT_ERR_FORMAT) {
  lkrt_model* m = nullptr;
  const lkrt_status s = lkrt_model_load_memory_ex(bytes.data(), bytes.size(), LKRT_LOAD_SKIP_CHECKSUM, &m);
  EXPECT_EQ(s, want) << lkrt_last_error();
  lkrt_model_free(m);
  return lkrt_last_error();
}

// ---------------------------------------------------------------------------------
// The noise recipe.

struct Noise {
  std::vector<float> global, phase, local;
};

Noise noise(uint64_t seed, double day, int x0, int y0, int w, int h, int wrap_w = 0, int wrap_h = 0) {
  const int L = 3, G = 5, P = 2;
  Noise n{std::vector<float>(G), std::vector<float>(P), std::vector<float>(size_t(L) * w * h)};
  EXPECT_EQ(lkrt_wallpaper_noise(seed, day, L, G, P, x0, y0, w, h, wrap_w, wrap_h, n.global.data(), n.phase.data(),
                                 n.local.data()),
            LKRT_OK)
      << lkrt_last_error();
  return n;
}

float local_at(const Noise& n, int w, int h, int c, int x, int y) { return n.local[(size_t(c) * h + y) * w + x]; }

TEST(Wallpaper, NoiseIsDeterministic) {
  const Noise a = noise(7, 20793.25, -2, -2, 6, 4), b = noise(7, 20793.25, -2, -2, 6, 4);
  EXPECT_EQ(a.global, b.global);
  EXPECT_EQ(a.phase, b.phase);
  EXPECT_EQ(a.local, b.local);
  const Noise other = noise(8, 20793.25, -2, -2, 6, 4);
  EXPECT_NE(a.local, other.local) << "another seed, other noise";
  EXPECT_NE(a.global, other.global);
  for (float p : a.phase) EXPECT_LE(std::fabs(p), float(M_PI) + 1e-6f);
}

TEST(Wallpaper, LargerWindowExtendsSmallerOne) {
  // Cells (-2..3, -2..1) inside cells (-5..6, -4..5): the same values at the same cells.
  const Noise small = noise(3, 100.5, -2, -2, 6, 4), large = noise(3, 100.5, -5, -4, 12, 10);
  EXPECT_EQ(small.global, large.global);
  EXPECT_EQ(small.phase, large.phase);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 6; ++x) ASSERT_EQ(local_at(small, 6, 4, c, x, y), local_at(large, 12, 10, c, x + 3, y + 2));
}

TEST(Wallpaper, WrapMakesThePlanePeriodic) {
  // Wrap (5, 3): cell (x, y) equals (x + 5, y) and (x, y + 3), negative coordinates too.
  const int w = 15, h = 9;
  const Noise n = noise(11, 50, -5, -3, w, h, 5, 3);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        if (x + 5 < w) {
          ASSERT_EQ(local_at(n, w, h, c, x, y), local_at(n, w, h, c, x + 5, y));
        }
        if (y + 3 < h) {
          ASSERT_EQ(local_at(n, w, h, c, x, y), local_at(n, w, h, c, x, y + 3));
        }
      }
  // Without wrap the same window is not periodic.
  const Noise plain = noise(11, 50, -5, -3, w, h);
  EXPECT_NE(local_at(plain, w, h, 0, 0, 0), local_at(plain, w, h, 0, 5, 0));
}

TEST(Wallpaper, NearbyDaysAreCloserThanTwoWeeks) {
  // Over many days: the squared distance of all values to the next day is well below the
  // one to the day two weeks on, which is about that of independent N(0, 1) values (2).
  double next = 0, far = 0, count = 0;
  for (int d = 0; d < 40; ++d) {
    const double day = 20000 + 1.37 * d;
    const Noise a = noise(5, day, 0, 0, 8, 8), b = noise(5, day + 1, 0, 0, 8, 8), c = noise(5, day + 14, 0, 0, 8, 8);
    for (size_t i = 0; i < a.local.size(); ++i) {
      next += std::pow(a.local[i] - b.local[i], 2);
      far += std::pow(a.local[i] - c.local[i], 2);
    }
    for (size_t i = 0; i < a.global.size(); ++i) {
      next += std::pow(a.global[i] - b.global[i], 2);
      far += std::pow(a.global[i] - c.global[i], 2);
    }
    count += double(a.local.size() + a.global.size());
  }
  next /= count;
  far /= count;
  EXPECT_LT(next, 0.2);
  EXPECT_GT(far, 1.6);
  EXPECT_LT(far, 2.4);
}

TEST(Wallpaper, NoiseRejectsBadArguments) {
  float g[5], p[2], l[6];
  EXPECT_EQ(lkrt_wallpaper_noise(0, 0, 1, 5, 2, 0, 0, -1, 1, 0, 0, g, p, l), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_wallpaper_noise(0, NAN, 1, 5, 2, 0, 0, 1, 1, 0, 0, g, p, l), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_wallpaper_noise(0, 0, 1, 5, 2, 0, 0, 1, 1, 0, 0, g, p, nullptr), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_wallpaper_noise(0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, nullptr, nullptr, nullptr), LKRT_OK);
}

// ---------------------------------------------------------------------------------
// Dates.

TEST(Wallpaper, DayParsesDatesAndHours) {
  const std::pair<const char*, double> good[] = {
      {"1970-01-01", 0},          {"2026-12-06", 20793},      {"2026-12-06T14", 20793 + 14.0 / 24},
      {"2024-02-29", 19782},      {"2024-03-01", 19783},      {"2000-02-29", 11016},
      {"9999-12-31T23", 2932896 + 23.0 / 24},
  };
  for (const auto& g : good) {
    double day = -1;
    EXPECT_EQ(lkrt_wallpaper_day(g.first, &day), LKRT_OK) << g.first << ": " << lkrt_last_error();
    EXPECT_DOUBLE_EQ(day, g.second) << g.first;
  }
  const std::pair<const char*, const char*> bad[] = {
      {"2023-02-29", "no such day in that month"}, {"2100-02-29", "no such day in that month"},
      {"2026-04-31", "no such day in that month"}, {"2026-13-01", "no such month"},
      {"2026-00-10", "no such month"},             {"1969-12-31", "before 1970"},
      {"2026-12-06T24", "hours are 00 to 23"},     {"2026-12-6", "is not a date"},
      {"2026/12/06", "is not a date"},             {"2026-12-06T", "is not a date"},
      {"2026-12-06 14", "is not a date"},          {"", "is not a date"},
      {"tomorrow", "is not a date"},
  };
  for (const auto& b : bad) {
    double day = -1;
    EXPECT_EQ(lkrt_wallpaper_day(b.first, &day), LKRT_ERR_ARGUMENT) << b.first;
    const std::string message = lkrt_last_error();
    EXPECT_NE(message.find(b.second), std::string::npos) << b.first << ": " << message;
    EXPECT_NE(message.find("YYYY-MM-DD (e.g. 2026-12-06) or an hour YYYY-MM-DDTHH"), std::string::npos) << message;
    EXPECT_EQ(day, -1) << "untouched on error";
  }
  double day;
  EXPECT_EQ(lkrt_wallpaper_day(nullptr, &day), LKRT_ERR_ARGUMENT);
}

// ---------------------------------------------------------------------------------
// The bilinear resize.

// The definition: source (X + 0.5) n / out - 0.5, clamped below at 0 or wrapped.
std::vector<float> resize_reference(const std::vector<float>& in, int C, int h, int w, int oh, int ow, bool wrap) {
  std::vector<float> out(size_t(C) * oh * ow);
  auto taps = [&](int i, int n, int out_n, int* a, int* b, double* f) {
    double s = (i + 0.5) * n / out_n - 0.5;
    if (!wrap) s = std::max(s, 0.0);
    *a = int(std::floor(s));
    *f = s - *a;
    *b = *a + 1;
    if (wrap) {
      *a = (*a % n + n) % n;
      *b = (*b % n + n) % n;
    } else {
      *a = std::min(*a, n - 1);
      *b = std::min(*b, n - 1);
    }
  };
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) {
        int y0, y1, x0, x1;
        double fy, fx;
        taps(y, h, oh, &y0, &y1, &fy);
        taps(x, w, ow, &x0, &x1, &fx);
        auto at = [&](int yy, int xx) { return double(in[(size_t(c) * h + yy) * w + xx]); };
        out[(size_t(c) * oh + y) * ow + x] =
            float((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1)));
      }
  return out;
}

TEST(Wallpaper, ResizeBilinear) {
  // 2x2 -> 4x4 by hand: the centres of the outer pixels fall outside, clamped or wrapped.
  const std::vector<float> in = {0, 4, 8, 12};  // [[0, 4], [8, 12]]
  std::vector<float> out(16);
  ASSERT_EQ(lkrt_resize_bilinear(in.data(), 1, 2, 2, out.data(), 4, 4, 0), LKRT_OK);
  const std::vector<float> clamped = {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12};
  EXPECT_EQ(out, clamped);
  ASSERT_EQ(lkrt_resize_bilinear(in.data(), 1, 2, 2, out.data(), 4, 4, 1), LKRT_OK);
  // Wrapped: the first column blends the last (4) and the first (0) with weight 0.75 on 0.
  EXPECT_FLOAT_EQ(out[0], 0.75f * 0.75f * 0 + 0.75f * 0.25f * 4 + 0.25f * 0.75f * 8 + 0.25f * 0.25f * 12);
  EXPECT_FLOAT_EQ(out[1], 0.75f * 1 + 0.25f * 9);  // column 1 is x = 0.25: 1 on top, 9 below; rows -0.25 wrap
  // The same size is a copy; odd sizes, several channels and both edge modes match the definition.
  const std::vector<float> x = ref::random_values(2 * 5 * 7, 1.0f, 9);
  std::vector<float> same(x.size());
  ASSERT_EQ(lkrt_resize_bilinear(x.data(), 2, 5, 7, same.data(), 5, 7, 0), LKRT_OK);
  EXPECT_EQ(same, x);
  for (int wrap = 0; wrap < 2; ++wrap)
    for (auto size : {std::pair<int, int>{13, 17}, {20, 28}, {3, 4}, {5, 7}}) {
      std::vector<float> got(size_t(2) * size.first * size.second);
      ASSERT_EQ(lkrt_resize_bilinear(x.data(), 2, 5, 7, got.data(), size.first, size.second, wrap), LKRT_OK);
      const std::vector<float> want = resize_reference(x, 2, 5, 7, size.first, size.second, wrap);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i << " wrap " << wrap;
    }
  EXPECT_EQ(lkrt_resize_bilinear(x.data(), 2, 0, 7, out.data(), 4, 4, 0), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("every side must be 1 to 65536"), std::string::npos);
  EXPECT_EQ(lkrt_resize_bilinear(nullptr, 2, 5, 7, out.data(), 4, 4, 0), LKRT_ERR_ARGUMENT);
}

// ---------------------------------------------------------------------------------
// A tiny random wallpaper model: L = 3, G = 4, P = 2, hidden 5, two transposed convolutions
// (9 -> 6, ReLU; 6 -> 3, tanh): cells of 4 pixels.

struct Tiny {
  static constexpr int L = 3, G = 4, P = 2, Hd = 5, C = L + G + P, Mid = 6, Cell = 4, Reach = 2;
  std::vector<float> w1 = ref::random_values(Hd * G, 0.6f, 21), b1 = ref::random_values(Hd, 0.3f, 22);
  std::vector<float> w2 = ref::random_values(2 * P * Hd, 0.8f, 23), b2 = ref::random_values(2 * P, 0.3f, 24);
  std::vector<float> k1 = ref::random_values(C * Mid * 16, 0.25f, 25), c1 = ref::random_values(Mid, 0.1f, 26);
  std::vector<float> k2 = ref::random_values(Mid * 3 * 16, 0.3f, 27), c2 = ref::random_values(3, 0.1f, 28);
  std::vector<float> warm = ref::random_values(G, 1.0f, 29), cool = ref::random_values(G, 1.0f, 30);

  std::string bytes(int reach = Reach) const {
    lkrt::ModelWriter w;
    w.set_info({"tiny-wallpaper", G, 3, 8, 8});
    lkrt::WallpaperInfo info;
    info.local_dim = L, info.global_dim = G, info.periodic_dim = P, info.hidden = Hd, info.cell = Cell, info.reach = reach;
    info.weight1 = w1.data(), info.bias1 = b1.data(), info.weight2 = w2.data(), info.bias2 = b2.data();
    info.moods = {{"warm", warm}, {"cool", cool}};
    w.set_wallpaper(info);
    auto x = w.input(lkrt::InputRole::kGrid, C);
    x = w.activation(w.conv_transpose2d(x, k1.data(), C, Mid, 4, 2, 1, c1.data(), LKRT_WEIGHT_FP32), lkrt::Activation::kRelu);
    w.activation(w.conv_transpose2d(x, k2.data(), Mid, 3, 4, 2, 1, c2.data(), LKRT_WEIGHT_FP32), lkrt::Activation::kTanh);
    return w.serialize();
  }

  // docs/wallpapers.md steps 2-8 from the definitions, in double, on one whole grid.
  std::vector<uint8_t> reference(const lkrt_wallpaper_options& o) const {
    const int W = o.width, H = o.height, s = o.scale;
    const int w = (W + s - 1) / s, h = (H + s - 1) / s, cw = (w + Cell - 1) / Cell, ch = (h + Cell - 1) / Cell;
    const int gw = cw + 2 * Reach, gh = ch + 2 * Reach;
    std::vector<float> global(G), phase(P), local(size_t(L) * gw * gh);
    EXPECT_EQ(lkrt_wallpaper_noise(o.seed, o.day, L, G, P, -Reach, -Reach, gw, gh, o.tileable ? cw : 0, o.tileable ? ch : 0,
                                   global.data(), phase.data(), local.data()),
              LKRT_OK);
    for (int i = 0; i < G; ++i) {
      if (o.mood == 0) global[size_t(i)] += warm[size_t(i)];
      if (o.mood == 1) global[size_t(i)] += cool[size_t(i)];
      if (o.shift) global[size_t(i)] += o.shift[i];
    }
    std::vector<float> hidden = ref::gemm(global, w1, b1.data(), Hd, G);
    for (float& v : hidden) v = std::max(v, 0.0f);
    std::vector<float> k = ref::gemm(hidden, w2, b2.data(), 2 * P, Hd);
    std::vector<float> grid(size_t(C) * gh * gw);
    const size_t plane = size_t(gh) * gw;
    std::copy(local.begin(), local.end(), grid.begin());
    for (int i = 0; i < G; ++i) std::fill_n(grid.begin() + long((L + i) * plane), plane, global[size_t(i)]);
    for (int p = 0; p < P; ++p) {
      double kx = M_PI * std::tanh(double(k[size_t(p)])), ky = M_PI * std::tanh(double(k[size_t(P + p)]));
      if (o.tileable) {
        kx = 2 * M_PI * std::nearbyint(kx * cw / (2 * M_PI)) / cw;
        ky = 2 * M_PI * std::nearbyint(ky * ch / (2 * M_PI)) / ch;
      }
      for (int y = 0; y < gh; ++y)
        for (int x = 0; x < gw; ++x)
          grid[(L + G + p) * plane + size_t(y) * gw + x] = float(std::sin(kx * (x - Reach) + ky * (y - Reach) + phase[size_t(p)]));
    }
    int oh, ow;
    std::vector<float> a = ref::conv_transpose2d(grid, C, gh, gw, k1, c1.data(), Mid, 4, 2, 1, &oh, &ow);
    for (float& v : a) v = std::max(v, 0.0f);
    std::vector<float> img = ref::conv_transpose2d(a, Mid, oh, ow, k2, c2.data(), 3, 4, 2, 1, &oh, &ow);
    std::vector<float> render(size_t(3) * h * w);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          render[(size_t(c) * h + y) * w + x] = std::tanh(img[(size_t(c) * oh + y + Reach * Cell) * ow + x + Reach * Cell]);
    const std::vector<float> up = resize_reference(render, 3, h, w, H, W, o.tileable != 0);
    std::vector<uint8_t> rgba(size_t(W) * H * 4, 255);
    for (size_t i = 0; i < size_t(W) * H; ++i)
      for (size_t c = 0; c < 3; ++c)
        rgba[4 * i + c] = uint8_t(std::min(std::max(std::round((double(up[c * W * H + i]) + 1) * 127.5), 0.0), 255.0));
    return rgba;
  }
};

ModelPtr load(const std::string& bytes) { return ModelPtr(ref::load_or_fail(bytes)); }

std::vector<uint8_t> draw(lkrt_model* m, const lkrt_wallpaper_options& o, uint64_t tile_floats = lkrt::kWallpaperTileFloats) {
  std::vector<uint8_t> rgba(size_t(o.width) * o.height * 4);
  EXPECT_EQ(lkrt::draw_wallpaper(m, &o, tile_floats, rgba.data()), LKRT_OK) << lkrt_last_error();
  return rgba;
}

int max_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int most = a.size() == b.size() ? 0 : 999;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) most = std::max(most, std::abs(int(a[i]) - int(b[i])));
  return most;
}

lkrt_wallpaper_options options(int width, int height, int scale, bool tileable = false, int mood = -1) {
  lkrt_wallpaper_options o;
  lkrt_wallpaper_options_init(&o);
  o.width = width, o.height = height, o.scale = scale, o.tileable = tileable, o.mood = mood;
  o.day = 20793;
  o.seed = 4;
  return o;
}

TEST(Wallpaper, ModelRoundTripAndQueries) {
  const Tiny t;
  const std::string bytes = t.bytes();
  EXPECT_EQ(f::read_u32(reinterpret_cast<const uint8_t*>(bytes.data()) + f::kHVersion), 5u) << "a wallpaper model: version 5";
  ModelPtr m = load(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_WALLPAPER);
  EXPECT_EQ(lkrt_model_latent_dim(m.get()), Tiny::G);
  EXPECT_EQ(lkrt_model_local_dim(m.get()), Tiny::L);
  EXPECT_EQ(lkrt_model_global_dim(m.get()), Tiny::G);
  EXPECT_EQ(lkrt_model_periodic_dim(m.get()), Tiny::P);
  EXPECT_EQ(lkrt_model_cell(m.get()), 4);
  EXPECT_EQ(lkrt_model_reach(m.get()), 2);
  EXPECT_EQ(lkrt_model_mood_count(m.get()), 2);
  EXPECT_STREQ(lkrt_model_mood_name(m.get(), 1), "cool");
  EXPECT_EQ(lkrt_model_mood_name(m.get(), 2), nullptr);
  EXPECT_EQ(lkrt_model_mood_index(m.get(), "warm"), 0);
  EXPECT_EQ(lkrt_model_mood_index(m.get(), "stormy"), -1);
  // The wave MLP's parameters count with the network's.
  EXPECT_EQ(lkrt_model_param_count(m.get()),
            uint64_t(Tiny::Hd * Tiny::G + Tiny::Hd + 2 * Tiny::P * Tiny::Hd + 2 * Tiny::P + Tiny::C * Tiny::Mid * 16 +
                     Tiny::Mid + Tiny::Mid * 3 * 16 + 3));
  std::vector<float> z(Tiny::G), out(3 * 8 * 8);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), -1, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("use lkrt_wallpaper"), std::string::npos);
  // Other models have no wallpaper facts.
  lkrt::ModelWriter g;
  g.set_info({"plain", 4, 4, 1, 1});
  g.add_input();
  ModelPtr plain = load(g.serialize());
  EXPECT_EQ(lkrt_model_cell(plain.get()), 0);
  EXPECT_EQ(lkrt_model_mood_count(plain.get()), 0);
  lkrt_wallpaper_options o = options(16, 16, 1);
  std::vector<uint8_t> rgba(16 * 16 * 4);
  EXPECT_EQ(lkrt_wallpaper(plain.get(), &o, rgba.data()), LKRT_ERR_ARGUMENT);
}

TEST(Wallpaper, WavesAndNetworkMatchReference) {
  const Tiny t;
  ModelPtr m = load(t.bytes());
  const std::vector<float> global = ref::random_values(Tiny::G, 1.0f, 40);
  std::vector<float> k(2 * Tiny::P);
  ASSERT_EQ(lkrt_wallpaper_waves(m.get(), global.data(), k.data()), LKRT_OK);
  std::vector<float> hidden = ref::gemm(global, t.w1, t.b1.data(), Tiny::Hd, Tiny::G);
  for (float& v : hidden) v = std::max(v, 0.0f);
  const std::vector<float> out = ref::gemm(hidden, t.w2, t.b2.data(), 2 * Tiny::P, Tiny::Hd);
  for (int i = 0; i < 2 * Tiny::P; ++i) EXPECT_NEAR(k[size_t(i)], M_PI * std::tanh(out[size_t(i)]), 1e-5) << i;
  // Grids of several sizes, one after the other (each plans its own buffers).
  for (auto cells : {std::pair<int, int>{3, 5}, {7, 2}, {3, 5}}) {
    const std::vector<float> grid = ref::random_values(size_t(Tiny::C) * cells.first * cells.second, 1.0f, 41);
    std::vector<float> got(size_t(3) * cells.first * cells.second * 16);
    ASSERT_EQ(lkrt_wallpaper_network(m.get(), grid.data(), cells.first, cells.second, got.data()), LKRT_OK);
    int oh, ow;
    std::vector<float> a = ref::conv_transpose2d(grid, Tiny::C, cells.first, cells.second, t.k1, t.c1.data(), Tiny::Mid, 4, 2, 1, &oh, &ow);
    for (float& v : a) v = std::max(v, 0.0f);
    std::vector<float> want = ref::conv_transpose2d(a, Tiny::Mid, oh, ow, t.k2, t.c2.data(), 3, 4, 2, 1, &oh, &ow);
    for (float& v : want) v = std::tanh(v);
    ASSERT_EQ(oh, cells.first * 4);
    EXPECT_LT(ref::max_rel_error(got, want), 1e-5);
  }
  std::vector<float> grid(Tiny::C), got(48);
  EXPECT_EQ(lkrt_wallpaper_network(m.get(), grid.data(), 0, 1, got.data()), LKRT_ERR_ARGUMENT);
}

TEST(Wallpaper, DrawsTheReference) {
  const Tiny t;
  ModelPtr m = load(t.bytes());
  const std::vector<float> shift = ref::random_values(Tiny::G, 0.5f, 50);
  struct Case {
    lkrt_wallpaper_options o;
    const char* what;
  };
  std::vector<Case> cases = {
      {options(37, 23, 1), "odd size, scale 1"},
      {options(37, 23, 2), "odd size, scale 2"},
      {options(50, 90, 4), "scale 4"},
      {options(32, 48, 2, true), "tileable"},
      {options(16, 16, 4, true, 1), "tileable, one cell, a mood"},
      {options(30, 20, 1, false, 0), "a mood"},
  };
  cases.push_back({options(30, 20, 2), "a shift"});
  cases.back().o.shift = shift.data();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::vector<uint8_t> got = draw(m.get(), c.o), want = t.reference(c.o);
    EXPECT_LE(max_difference(got, want), 1);
    for (size_t i = 3; i < got.size(); i += 4) ASSERT_EQ(got[i], 255);
  }
  // The mood, the shift, the seed and the day change the image; the same options do not.
  const std::vector<uint8_t> base = draw(m.get(), options(30, 20, 2));
  EXPECT_EQ(draw(m.get(), options(30, 20, 2)), base);
  EXPECT_GT(max_difference(draw(m.get(), options(30, 20, 2, false, 0)), base), 8);
  lkrt_wallpaper_options next = options(30, 20, 2);
  next.day += 14;
  EXPECT_GT(max_difference(draw(m.get(), next), base), 8);
}

TEST(Wallpaper, TilesGiveTheWholeGridsPixels) {
  // A tile budget of a few cells splits the render into many tiles (each with its margin):
  // the pixels of one whole grid, with one thread or three.
  const Tiny t;
  ModelPtr m = load(t.bytes());
  for (bool tileable : {false, true}) {
    const lkrt_wallpaper_options o = options(64, 48, 1, tileable);
    const std::vector<uint8_t> whole = draw(m.get(), o), tiled = draw(m.get(), o, 2000), single = draw(m.get(), o, 1);
    EXPECT_EQ(tiled, whole);
    EXPECT_EQ(single, whole);
    ASSERT_EQ(lkrt_set_threads(m.get(), 3), LKRT_OK);
    EXPECT_EQ(draw(m.get(), o, 2000), whole);
    ASSERT_EQ(lkrt_set_threads(m.get(), 1), LKRT_OK);
  }
}

TEST(Wallpaper, TilesOfAFourLayerStack) {
  // latentkit's depth (cells of 16 px): tiles of a cell or two give one tile's pixels.
  lkrt::ModelWriter w;
  w.set_info({"deep-wallpaper", 4, 3, 32, 32});
  lkrt::WallpaperInfo info;
  info.local_dim = 3, info.global_dim = 4, info.periodic_dim = 0, info.hidden = 0, info.cell = 16;
  w.set_wallpaper(info);
  std::vector<std::vector<float>> k;
  auto x = w.input(lkrt::InputRole::kGrid, 7);
  const int channels[5] = {7, 6, 5, 4, 3};
  for (int i = 0; i < 4; ++i) {
    k.push_back(ref::random_values(size_t(channels[i]) * channels[i + 1] * 16, 0.3f, uint32_t(80 + i)));
    x = w.activation(w.conv_transpose2d(x, k.back().data(), channels[i], channels[i + 1], 4, 2, 1, nullptr, LKRT_WEIGHT_FP32),
                     i == 3 ? lkrt::Activation::kTanh : lkrt::Activation::kRelu);
  }
  ModelPtr m = load(w.serialize());
  const lkrt_wallpaper_options o = options(100, 70, 1);
  const std::vector<uint8_t> whole = draw(m.get(), o);
  EXPECT_EQ(draw(m.get(), o, 1), whole);
  EXPECT_EQ(draw(m.get(), o, 60000), whole);
}

TEST(Wallpaper, LargerWallpaperExtendsSmallerOne) {
  // At scale 1 (no resampling), a 40x24 wallpaper's pixels are the top left of a 64x48 one's
  // (the same cells of one plane), away from the right and bottom edges, whose margin differs.
  const Tiny t;
  ModelPtr m = load(t.bytes());
  const std::vector<uint8_t> small = draw(m.get(), options(40, 24, 1)), large = draw(m.get(), options(64, 48, 1));
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 40; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(small[(size_t(y) * 40 + x) * 4 + c], large[(size_t(y) * 64 + x) * 4 + c]);
}

TEST(Wallpaper, RejectsBadOptions) {
  const Tiny t;
  ModelPtr m = load(t.bytes());
  struct Case {
    lkrt_wallpaper_options o;
    const char* message;
  };
  const Case cases[] = {
      {options(0, 10, 1), "each side must be 1 to 8192 pixels (e.g. 1080x2400)"},
      {options(8193, 10, 1), "a wallpaper of 8193x10: each side must be 1 to 8192 pixels"},
      {options(16, 16, 3), "scale 3: the scale is 1, 2 or 4"},
      {options(20, 16, 2, true), "its sides must be multiples of 8 pixels (the cell, 4, times the scale)"},
      {options(16, 16, 1, false, 2), "mood 2: the model's moods are 0 warm, 1 cool (-1: none)"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> rgba(size_t(std::max(c.o.width, 1)) * std::max(c.o.height, 1) * 4);
    EXPECT_EQ(lkrt_wallpaper(m.get(), &c.o, rgba.data()), LKRT_ERR_ARGUMENT) << c.message;
    EXPECT_NE(std::string(lkrt_last_error()).find(c.message), std::string::npos) << lkrt_last_error();
  }
  lkrt_wallpaper_options o = options(16, 16, 1);
  EXPECT_EQ(lkrt_wallpaper(m.get(), &o, nullptr), LKRT_ERR_ARGUMENT);
  o.day = 1e9;
  std::vector<uint8_t> rgba(16 * 16 * 4);
  EXPECT_EQ(lkrt_wallpaper(m.get(), &o, rgba.data()), LKRT_ERR_ARGUMENT);
}

TEST(Wallpaper, HostileSectionsAndHeaders) {
  const Tiny t;
  const std::string good = t.bytes();
  const size_t at = get_u64(good, f::kHWallpaperOffset);
  const size_t op0 = get_u64(good, f::kHOpTableOffset);
  struct Case {
    const char* what;
    std::function<void(std::string&)> edit;
    const char* message;
    lkrt_status status;
  };
  const Case cases[] = {
      {"version 4", [](std::string& b) { put_u32(b, f::kHVersion, 4); }, "a wallpaper model in a version-4 file", LKRT_ERR_FORMAT},
      {"version 6", [](std::string& b) { put_u32(b, f::kHVersion, 6); }, "versions 1 to 5", LKRT_ERR_VERSION},
      {"kind 5", [](std::string& b) { put_u32(b, f::kHKind, 5); }, "model kind 5 unknown", LKRT_ERR_UNSUPPORTED},
      {"no section", [](std::string& b) { put_u64(b, f::kHWallpaperOffset, 0), put_u64(b, f::kHWallpaperSize, 0); },
       "a wallpaper model without its wallpaper section", LKRT_ERR_FORMAT},
      {"unaligned", [&](std::string& b) { put_u64(b, f::kHWallpaperOffset, at + 4); }, "wallpaper section at", LKRT_ERR_FORMAT},
      {"past the end", [&](std::string& b) { put_u64(b, f::kHWallpaperSize, b.size()); }, "wallpaper section at", LKRT_ERR_FORMAT},
      {"too short", [&](std::string& b) { put_u64(b, f::kHWallpaperSize, 16); }, "wallpaper section at", LKRT_ERR_FORMAT},
      {"global dim", [&](std::string& b) { put_u32(b, at + f::kWGlobalDim, 5); }, "a global vector of 5 values", LKRT_ERR_FORMAT},
      {"huge dim", [&](std::string& b) { put_u32(b, at + f::kWLocalDim, 0xFFFFFFFFu); }, "above 4096", LKRT_ERR_FORMAT},
      {"cell 3", [&](std::string& b) { put_u32(b, at + f::kWCell, 3); }, "a cell of 3 pixels", LKRT_ERR_FORMAT},
      {"cell 8", [&](std::string& b) { put_u32(b, at + f::kWCell, 8); }, "2 transposed convolutions make a cell of 4", LKRT_ERR_FORMAT},
      {"reach 0", [&](std::string& b) { put_u32(b, at + f::kWReach, 0); }, "a reach of 0 cells", LKRT_ERR_FORMAT},
      {"hidden 0", [&](std::string& b) { put_u32(b, at + f::kWHidden, 0); }, "2 waves with a wave MLP of hidden width 0", LKRT_ERR_FORMAT},
      {"many moods", [&](std::string& b) { put_u32(b, at + f::kWMoods, 65); }, "65 moods, at most 64", LKRT_ERR_FORMAT},
      {"a mood more", [&](std::string& b) { put_u32(b, at + f::kWMoods, 3); }, "3 mood shifts of 4 values do not fit", LKRT_ERR_FORMAT},
      {"a mood less", [&](std::string& b) { put_u32(b, at + f::kWMoods, 1); }, "mood name", LKRT_ERR_FORMAT},
      {"reserved", [&](std::string& b) { put_u32(b, at + f::kWReserved, 1); }, "reserved field is not zero", LKRT_ERR_FORMAT},
      {"tensor index", [&](std::string& b) { put_u32(b, at + f::kWTensors, 999); }, "wave MLP tensor 0 is tensor 999", LKRT_ERR_FORMAT},
      {"tensor shape", [&](std::string& b) { put_u32(b, at + f::kWTensors, get_u64(b, at + f::kWTensors + 4) & 0xFFFFFFFFu); },
       "wave MLP tensor", LKRT_ERR_FORMAT},
      {"shift", [&](std::string& b) { put_u32(b, at + f::kWShifts, 0x7fc00000u); }, "mood 0's shift is not finite", LKRT_ERR_FORMAT},
      {"name", [&](std::string& b) { b[at + f::kWShifts + 4 * 2 * Tiny::G + 1] = ' '; }, "not printable ASCII without spaces", LKRT_ERR_FORMAT},
      {"same names", [&](std::string& b) { b.replace(at + f::kWShifts + 4 * 2 * Tiny::G + 5, 4, "warm"); }, "two moods are named 'warm'", LKRT_ERR_FORMAT},
      {"header reserved", [](std::string& b) { b[240] = 1; }, "reserved header byte 240", LKRT_ERR_FORMAT},
      {"grid channels", [&](std::string& b) { put_u32(b, op0 + f::kOInts + 4, 8); }, "grid of 8 channels", LKRT_ERR_FORMAT},
      {"grid as image", [&](std::string& b) { put_u32(b, op0 + f::kOInts, uint32_t(lkrt::InputRole::kImage)); },
       "a wallpaper model has one input, the grid", LKRT_ERR_FORMAT},
      {"stride 1", [&](std::string& b) { put_u32(b, op0 + f::kOpRecordSize + f::kOInts + 12, 1); }, "", LKRT_ERR_FORMAT},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string bytes = good;
    c.edit(bytes);
    const std::string message = load_error(bytes, c.status);
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
  // A wallpaper section in a generator's file.
  lkrt::ModelWriter w;
  w.set_info({"plain", 4, 4, 1, 1});
  w.add_input();
  std::string plain = w.serialize();
  put_u32(plain, f::kHVersion, 5);
  put_u64(plain, f::kHWallpaperOffset, 64 * ((plain.size() - 1) / 64));
  put_u64(plain, f::kHWallpaperSize, 48);
  EXPECT_NE(load_error(plain).find("a wallpaper section in a model that is not a wallpaper model"), std::string::npos);
  // A graph that is not a chain of upsamplings: a plain convolution after the grid.
  {
    lkrt::ModelWriter bad;
    bad.set_info({"bad", Tiny::G, 3, 8, 8});
    lkrt::WallpaperInfo info;
    info.local_dim = Tiny::L, info.global_dim = Tiny::G, info.periodic_dim = 0, info.hidden = 0, info.cell = 2;
    bad.set_wallpaper(info);
    const std::vector<float> k = ref::random_values(size_t(Tiny::L + Tiny::G) * 3 * 9, 0.1f, 60);
    bad.conv2d(bad.input(lkrt::InputRole::kGrid, Tiny::L + Tiny::G), k.data(), 3, Tiny::L + Tiny::G, 3, 1, 1, nullptr,
               LKRT_WEIGHT_FP32);
    EXPECT_NE(load_error(bad.serialize_unchecked()).find("a wallpaper model is a chain of transposed convolutions"),
              std::string::npos);
  }
  // Cut at every length: an error, never a crash.
  for (size_t n = 0; n < good.size(); n += 5) {
    lkrt_model* m = nullptr;
    EXPECT_NE(lkrt_model_load_memory(good.data(), n, &m), LKRT_OK) << n;
    lkrt_model_free(m);
  }
}

TEST(Wallpaper, WithoutWavesOrMoods) {
  // periodic_dim 0: no MLP, no tensors in the section; a model without moods.
  lkrt::ModelWriter w;
  w.set_info({"plain-wallpaper", 2, 3, 4, 4});
  lkrt::WallpaperInfo info;
  info.local_dim = 1, info.global_dim = 2, info.periodic_dim = 0, info.hidden = 0, info.cell = 2, info.reach = 1;
  w.set_wallpaper(info);
  const std::vector<float> k = ref::random_values(3 * 3 * 16, 0.3f, 70);
  w.activation(w.conv_transpose2d(w.input(lkrt::InputRole::kGrid, 3), k.data(), 3, 3, 4, 2, 1, nullptr, LKRT_WEIGHT_FP32),
               lkrt::Activation::kTanh);
  ModelPtr m = load(w.serialize());
  EXPECT_EQ(lkrt_model_mood_count(m.get()), 0);
  lkrt_wallpaper_options o = options(9, 7, 1);
  const std::vector<uint8_t> a = draw(m.get(), o);
  EXPECT_EQ(a.size(), size_t(9 * 7 * 4));
  o.mood = 0;
  std::vector<uint8_t> rgba(a.size());
  EXPECT_EQ(lkrt_wallpaper(m.get(), &o, rgba.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("the model has no moods"), std::string::npos);
}

}  // namespace
