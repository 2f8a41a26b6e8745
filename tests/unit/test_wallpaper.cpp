#include "tests/unit/test_util.h"
#include "latentkit/steer/wallpaper.h"

#include <cmath>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/models/generator.h"

namespace latentkit {
namespace {

using test_util::bad_input_error_of;
using test_util::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// A tiny random generator: cells of 8 px, 3 layers.
PsganOptions tiny_options() {
  return PsganOptions().local_dim(4).global_dim(6).periodic_dim(2).mlp_hidden(8).layers(3).width(8).crop(16);
}

class Wallpaper : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    net = PsganGenerator(tiny_options());
    net->eval();
  }
  WallpaperOptions options(int64_t w, int64_t h, int64_t scale, bool tileable = false) const {
    WallpaperOptions o;
    o.width = w;
    o.height = h;
    o.scale = scale;
    o.tileable = tileable;
    o.seed = 3;
    o.day = parse_wallpaper_time("2026-12-06", WallpaperEvery::kDay);
    return o;
  }
  // The network output over a window of the plane, cropped to the render's origin: pixels
  // of cells 0 .. cells_w - 1 (and 0 .. cells_h - 1) computed with a margin of `margin` cells.
  torch::Tensor plane(const WallpaperOptions& o, int64_t cells_w, int64_t cells_h, int64_t margin) {
    torch::NoGradGuard no_grad;
    const PsganLatent z =
        wallpaper_latent(net->options, o, -margin, -margin, cells_w + 2 * margin, cells_h + 2 * margin);
    const int64_t cell = net->options.cell();
    return net->forward(net->grid(z))[0]
        .narrow(1, margin * cell, cells_h * cell)
        .narrow(2, margin * cell, cells_w * cell);
  }
  PsganGenerator net{nullptr};
};

TEST_F(Wallpaper, GeometryOfTheRenderAndItsCells) {
  const WallpaperGeometry g = wallpaper_geometry(options(1080, 2400, 4), PsganOptions());  // cells of 16 px
  EXPECT_EQ(g.w, 270);
  EXPECT_EQ(g.h, 600);
  EXPECT_EQ(g.cw, 17);  // ceil(270 / 16)
  EXPECT_EQ(g.ch, 38);  // ceil(600 / 16) = 37.5 -> 38
  const WallpaperGeometry odd = wallpaper_geometry(options(1081, 7, 2), PsganOptions());
  EXPECT_EQ(odd.w, 541);
  EXPECT_EQ(odd.h, 4);
  EXPECT_EQ(odd.cw, 34);
  EXPECT_EQ(odd.ch, 1);
  const WallpaperGeometry tile = wallpaper_geometry(options(1024, 512, 4, true), PsganOptions());
  EXPECT_EQ(tile.cw, 16);
  EXPECT_EQ(tile.ch, 8);
  EXPECT_TRUE(contains(bad_input_error_of([&] { wallpaper_geometry(options(1080, 2400, 4, true), PsganOptions()); }),
                       "multiple of 64"));
  EXPECT_TRUE(contains(bad_input_error_of([&] { wallpaper_geometry(options(8193, 10, 1), PsganOptions()); }), "8192"));
  EXPECT_TRUE(contains(bad_input_error_of([&] { wallpaper_geometry(options(64, 64, 3), PsganOptions()); }), "1, 2 or 4"));
}

TEST_F(Wallpaper, SizesParseAndHaveALimit) {
  EXPECT_EQ(parse_wallpaper_size("1080x2400"), std::make_pair(int64_t{1080}, int64_t{2400}));
  for (const char* bad : {"1080", "1080x", "x2400", "10 80x2400", "-5x10", "1080X2400", "0x10"}) {
    EXPECT_TRUE(contains(bad_input_error_of([&] { parse_wallpaper_size(bad); }), "WIDTHxHEIGHT") ||
                contains(bad_input_error_of([&] { parse_wallpaper_size(bad); }), "1 to 8192"))
        << bad;
  }
  EXPECT_TRUE(contains(bad_input_error_of([&] { parse_wallpaper_size("9000x100"); }), "1 to 8192"));
}

TEST_F(Wallpaper, TimesParseAndPrint) {
  const double day = parse_wallpaper_time("2026-12-06", WallpaperEvery::kDay);
  EXPECT_EQ(day, 20793);  // days from 1970-01-01
  EXPECT_EQ(parse_wallpaper_time("2026-12-06T14", WallpaperEvery::kDay), day);  // every day: the date alone
  EXPECT_DOUBLE_EQ(parse_wallpaper_time("2026-12-06T14", WallpaperEvery::kHour), day + 14.0 / 24);
  EXPECT_EQ(wallpaper_time_text(day, WallpaperEvery::kDay), "2026-12-06");
  EXPECT_EQ(wallpaper_time_text(day + 14.0 / 24, WallpaperEvery::kHour), "2026-12-06T14");
  EXPECT_EQ(wallpaper_time_text(parse_wallpaper_time("2028-02-29", WallpaperEvery::kDay) + 1, WallpaperEvery::kDay),
            "2028-03-01");
  EXPECT_TRUE(contains(bad_input_error_of([] { parse_wallpaper_time("2026-13-01", WallpaperEvery::kDay); }),
                       "no such month"));
  EXPECT_TRUE(contains(bad_input_error_of([] { parse_wallpaper_time("6 Dec 2026", WallpaperEvery::kDay); }),
                       "YYYY-MM-DD"));
  const double now = wallpaper_now(WallpaperEvery::kDay);
  EXPECT_EQ(now, std::floor(now));
  EXPECT_GT(now, day - 400);
}

TEST_F(Wallpaper, ADateAlwaysGivesTheSameImageAndAnotherDateAnother) {
  const WallpaperOptions o = options(50, 30, 2);
  const Image a = render_wallpaper(*net, o);
  const Image b = render_wallpaper(*net, o);
  EXPECT_EQ(a.width, 50);
  EXPECT_EQ(a.height, 30);
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.pixels, b.pixels);
  WallpaperOptions later = o;
  later.day += 30;
  EXPECT_NE(render_wallpaper(*net, later).pixels, a.pixels);
  WallpaperOptions other_seed = o;
  other_seed.seed = 4;
  EXPECT_NE(render_wallpaper(*net, other_seed).pixels, a.pixels);
}

TEST_F(Wallpaper, TheRenderIsTheCropOfThePlaneAndItsBytes) {
  const WallpaperOptions o = options(21, 13, 1);  // 3 x 2 cells of 8 px, cropped to 21 x 13
  const torch::Tensor pixels = render_wallpaper_pixels(*net, o);
  ASSERT_EQ(pixels.sizes(), torch::IntArrayRef({3, 13, 21}));
  // A margin of kPsganReach cells gives what any larger margin gives.
  const torch::Tensor wide = plane(o, 3, 2, kPsganReach + 3).narrow(1, 0, 13).narrow(2, 0, 21);
  EXPECT_LT(max_abs(pixels - wide), 1e-5);
  // Scale 1: the upscale is the identity and the bytes are round((v + 1) * 127.5).
  const Image image = render_wallpaper(*net, o);
  const torch::Tensor bytes =
      torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {13, 21, 3}, torch::kUInt8).permute({2, 0, 1});
  const torch::Tensor expected = torch::round((pixels + 1) * 127.5).clamp(0, 255);
  EXPECT_EQ(max_abs(bytes.to(torch::kFloat32) - expected), 0);
}

TEST_F(Wallpaper, ATileableWallpaperIsOnePeriodOfItsPlane) {
  const int64_t cw = 3, ch = 2, cell = 8;
  const WallpaperOptions tiled = options(cw * cell * 2, ch * cell * 2, 2, true);
  WallpaperOptions plain = tiled;
  plain.tileable = false;
  const torch::Tensor tile = render_wallpaper_pixels(*net, tiled);  // [3, 16, 24]
  // The plane two tiles wide and high, with a generous margin: every tile is the same.
  const torch::Tensor big = plane(tiled, 2 * cw, 2 * ch, kPsganReach + 1);
  const int64_t w = cw * cell, h = ch * cell;
  EXPECT_LT(max_abs(big.narrow(1, 0, h).narrow(2, 0, w) - tile), 1e-5);
  EXPECT_LT(max_abs(big.narrow(1, 0, h).narrow(2, w, w) - tile), 1e-5);
  EXPECT_LT(max_abs(big.narrow(1, h, h).narrow(2, 0, w) - tile), 1e-5);
  // The edge mismatch: the column past the right edge against the first column.
  const double tiled_edge = (big.narrow(1, 0, h).select(2, w) - tile.select(2, 0)).abs().mean().item<double>();
  const torch::Tensor plain_tile = render_wallpaper_pixels(*net, plain);
  const torch::Tensor plain_big = plane(plain, 2 * cw, 2 * ch, kPsganReach + 1);
  const double plain_edge = (plain_big.narrow(1, 0, h).select(2, w) - plain_tile.select(2, 0)).abs().mean().item<double>();
  EXPECT_LT(tiled_edge, 1e-5);
  EXPECT_GT(plain_edge, 1e-3);
  // The bytes wrap too: the upscale takes its neighbours across the edge.
  const Image image = render_wallpaper(*net, tiled);
  EXPECT_EQ(image.width, 48);
  EXPECT_EQ(image.height, 32);
}

TEST_F(Wallpaper, AShiftMovesTheGlobalVectorOnly) {
  WallpaperOptions o = options(16, 16, 1);
  const PsganLatent a = wallpaper_latent(net->options, o, -2, -2, 6, 6);
  o.shift = torch::arange(6, torch::kFloat64);
  const PsganLatent b = wallpaper_latent(net->options, o, -2, -2, 6, 6);
  EXPECT_LT(max_abs(b.global - a.global - torch::arange(6, torch::kFloat32).view({1, 6})), 1e-6);
  EXPECT_TRUE(torch::equal(a.local, b.local));
  EXPECT_TRUE(torch::equal(a.phase, b.phase));
  EXPECT_TRUE(torch::equal(a.global[0], wallpaper_global(net->options, options(16, 16, 1))));
  o.shift = torch::zeros({5});
  EXPECT_TRUE(contains(bad_input_error_of([&] { wallpaper_latent(net->options, o, 0, 0, 1, 1); }), "5 values"));
}

TEST_F(Wallpaper, ColorsOfFlatImages) {
  // Orange (255, 136, 0), blue (0, 64, 255), mid gray.
  const torch::Tensor rgb = torch::tensor({255.0, 136.0, 0.0, 0.0, 64.0, 255.0, 128.0, 128.0, 128.0}).view({3, 3, 1, 1});
  const torch::Tensor images = (rgb / 127.5 - 1).expand({3, 3, 4, 4});
  const torch::Tensor c = wallpaper_colors(images);
  ASSERT_EQ(c.sizes(), torch::IntArrayRef({3, 6}));
  EXPECT_GT(c[0][3].item<double>(), 40);   // orange is warm
  EXPECT_LT(c[1][3].item<double>(), -40);  // blue is cool
  EXPECT_NEAR(c[2][4].item<double>(), 0, 1e-3);  // gray has no chroma
  EXPECT_NEAR(c[2][0].item<double>(), 53.585, 0.01);  // L* of sRGB 128
  EXPECT_NEAR(c[0][5].item<double>(), 0.3 * std::hypot(255 - 136, (255 + 136) / 2.0), 1e-3);  // flat: the mean term
  const torch::Tensor lab = srgb_to_lab(torch::tensor({1.0, 136 / 255.0, 0.0}, torch::kFloat64).view({1, 3}));
  EXPECT_NEAR(c[0][1].item<double>(), lab[0][1].item<double>(), 1e-4);
  EXPECT_NEAR(c[0][4].item<double>(), std::hypot(lab[0][1].item<double>(), lab[0][2].item<double>()), 1e-4);
}

// Color columns that are planted linear functions of z: brightness along e0, colorfulness
// along e1, warmth along (e2 + e0) / sqrt 2, mean a* and b* along e3 and e4, saturation e5.
torch::Tensor planted_colors(const torch::Tensor& z) {
  const torch::Tensor warmth = (z.select(1, 2) + z.select(1, 0)) / std::sqrt(2.0);
  return torch::stack({50 + 10 * z.select(1, 0), 3 * z.select(1, 3), -2 + 4 * z.select(1, 4), 5 * warmth,
                       20 + 2 * z.select(1, 5), 30 + 8 * z.select(1, 1)},
                      1);
}

TEST_F(Wallpaper, MoodsMoveAlongPlantedDirectionsHeldOffTheOthers) {
  torch::Generator rng = make_rng(1);
  const torch::Tensor z = torch::randn({400, 6}, rng, torch::kFloat64);
  const torch::Tensor colors = planted_colors(z) + 0.01 * torch::randn({400, 6}, rng, torch::kFloat64);
  MoodFitOptions fit;
  fit.l2 = 0;
  const AxisSet axes = fit_wallpaper_axes(z, colors, fit);
  ASSERT_EQ(axes.axes.size(), 6u);
  for (const Axis& a : axes.axes) EXPECT_GT(a.quality, 0.999) << a.name;
  EXPECT_NEAR(axes.axes[0].slope, 10, 0.01);
  EXPECT_NEAR(axes.axes[0].details["bias"].get<double>(), 50, 0.01);
  const std::vector<Mood> moods = make_moods(axes, 2);
  ASSERT_EQ(moods.size(), 6u);
  const auto shift = [&](const std::string& name) {
    for (const Mood& m : moods) {
      if (m.name == name) return m.shift;
    }
    ADD_FAILURE() << "no mood " << name;
    return torch::Tensor();
  };
  const auto e = [](int64_t i) { return torch::one_hot(torch::tensor(i), 6).to(torch::kFloat64); };
  // warmth's direction held off brightness (e0) and colorfulness (e1): e2.
  EXPECT_LT(max_abs(shift("warm") - 2 * e(2)), 1e-3);
  EXPECT_LT(max_abs(shift("cool") + 2 * e(2)), 1e-3);
  EXPECT_LT(max_abs(shift("vivid") - 2 * e(1)), 1e-3);
  EXPECT_LT(max_abs(shift("calm") + 2 * e(1)), 1e-3);
  // brightness held off warmth ((e2 + e0) / sqrt 2) and colorfulness: e0 less its e2-free part... = (e0 - e2) / sqrt 2.
  EXPECT_LT(max_abs(shift("light") - std::sqrt(2.0) * (e(0) - e(2))), 1e-3);
  EXPECT_LT(max_abs(shift("dark") + std::sqrt(2.0) * (e(0) - e(2))), 1e-3);
}

WallpaperMoods planted_moods() {
  torch::Generator rng = make_rng(2);
  const torch::Tensor z = torch::randn({300, 6}, rng, torch::kFloat64);
  MoodFitOptions fit;
  fit.l2 = 0;
  WallpaperMoods w;
  w.axes = fit_wallpaper_axes(z, planted_colors(z), fit);
  w.strength = 1.5;
  w.moods = make_moods(w.axes, w.strength);
  return w;
}

TEST_F(Wallpaper, MoodsFileRoundTrip) {
  const WallpaperMoods w = planted_moods();
  TempDir dir;
  const std::string path = dir.file("moods.json");
  write_moods(path, w);
  const nlohmann::json j = read_json(path);
  ASSERT_EQ(j["moods"].size(), 6u);
  EXPECT_EQ(j["moods"][0]["name"], "warm");
  EXPECT_EQ(j["moods"][0]["shift"].size(), 6u);
  EXPECT_EQ(j["palette"]["weights"].size(), 3u);
  const WallpaperMoods back = read_moods(path);
  EXPECT_EQ(back.strength, 1.5);
  for (WallpaperMood m : {WallpaperMood::kWarm, WallpaperMood::kDark, WallpaperMood::kCalm}) {
    EXPECT_LT(max_abs(mood_shift(back, m) - mood_shift(w, m)), 1e-12);
    EXPECT_NEAR(mood_shift(back, m).norm().item<double>(), 1.5, 1e-9);
  }
  EXPECT_TRUE(contains(bad_input_error_of([&] { read_moods(dir.file("none.json")); }), "latentkit wallpaper moods"));
  write_json(dir.file("axes.json"), axes_to_json(w.axes));
  EXPECT_TRUE(contains(bad_input_error_of([&] { read_moods(dir.file("axes.json")); }), "not a moods file"));
}

TEST_F(Wallpaper, APaletteMovesThePredictedMeanColorToItsOwn) {
  const WallpaperMoods w = planted_moods();
  const torch::Tensor global = torch::zeros({6}, torch::kFloat64);
  // The predicted mean (L*, a*, b*) at 0 is (50, 0, -2); a mid gray nearby is (53.6, 0, 0).
  const torch::Tensor shift = palette_shift(w, global, {Rgb{128, 128, 128}}, 3);
  EXPECT_LT(max_abs(predicted_lab(w, global + shift) - torch::tensor({53.585, 0.0, 0.0}, torch::kFloat64)), 0.01);
  // Least norm: only the three color directions move.
  EXPECT_NEAR(shift[1].item<double>(), 0, 1e-6);
  EXPECT_NEAR(shift[2].item<double>(), 0, 1e-6);
  // Far colors: the move is clipped to max_norm, still toward them.
  const torch::Tensor far = palette_shift(w, global, {Rgb{255, 255, 255}, Rgb{250, 250, 250}}, 3);
  EXPECT_NEAR(far.norm().item<double>(), 3, 1e-9);
  EXPECT_GT(far[0].item<double>(), 2.9);
}

TEST_F(Wallpaper, PalettesParseOrSayWhatIsWrong) {
  const std::vector<Rgb> colors = parse_palette("#FF8800,black,#203040");
  ASSERT_EQ(colors.size(), 3u);
  EXPECT_EQ(colors[0], (Rgb{255, 136, 0}));
  EXPECT_EQ(colors[1], (Rgb{0, 0, 0}));
  EXPECT_EQ(colors[2], (Rgb{32, 48, 64}));
  EXPECT_TRUE(contains(bad_input_error_of([] { parse_palette("#12345"); }), "'#12345' is not a color"));
  EXPECT_TRUE(contains(bad_input_error_of([] { parse_palette("red"); }), "#rrggbb"));
  EXPECT_TRUE(contains(bad_input_error_of([] { parse_palette("#ff0000,,#00ff00"); }), "separated by commas"));
  EXPECT_TRUE(contains(bad_input_error_of([] { parse_palette(""); }), "separated by commas"));
  std::string many = "#000000";
  for (int i = 0; i < 16; ++i) many += ",#ffffff";
  EXPECT_TRUE(contains(bad_input_error_of([&] { parse_palette(many); }), "at most 16"));
  EXPECT_TRUE(contains(bad_input_error_of([] { wallpaper_mood_names().parse("sunny"); }),
                       "warm, cool, calm, vivid, dark or light"));
}

TEST_F(Wallpaper, MoodsFitOnAModelsPreviews) {
  PsganModel model(net);
  MoodFitOptions fit;
  fit.n = 40;
  fit.batch = 16;
  std::vector<int64_t> done;
  const WallpaperMoods w = fit_wallpaper_moods(model, fit, [&](int64_t d, int64_t) { done.push_back(d); });
  EXPECT_EQ(done, (std::vector<int64_t>{16, 32, 40}));
  EXPECT_EQ(w.axes.latent_dim, 6);
  EXPECT_EQ(w.axes.axes.size(), 6u);
  ASSERT_EQ(w.moods.size(), 6u);
  for (const Mood& m : w.moods) EXPECT_NEAR(m.shift.norm().item<double>(), 2, 1e-9) << m.name;
  EXPECT_EQ(w.axes.meta["method"], "wallpaper-moods");
}

}  // namespace
}  // namespace latentkit
