#include "latentkit/steer/wallpaper.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/eval/metrics.h"
#include "lkrt_wallpaper.h"

namespace latentkit {
namespace {

constexpr int kMoodsVersion = 1;
constexpr size_t kPaletteMax = 16;
// The axes the palette is fitted on, in (L*, a*, b*) order.
const char* const kPaletteAxes[3] = {"brightness", "mean-a", "mean-b"};

void check_lkrt(lkrt_status status) {
  if (status != LKRT_OK) throw Error(lkrt_last_error());
}

// Days since 1970-01-01 -> civil date (Howard Hinnant's civil_from_days).
void civil_from_days(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = yoe + era * 400 + (m <= 2);
}

size_t axis_index(const AxisSet& set, const std::string& name, const std::string& source) {
  for (size_t i = 0; i < set.axes.size(); ++i) {
    if (set.axes[i].name == name) return i;
  }
  throw Error(source + ": no '" + name + "' axis; fit the moods again with: latentkit wallpaper moods --run RUN");
}

// The palette's linear model: predicted (L*, a*, b*) = weights z + bias.
std::pair<torch::Tensor, torch::Tensor> palette_model(const AxisSet& set) {
  std::vector<torch::Tensor> rows;
  std::vector<double> bias;
  for (const char* name : kPaletteAxes) {
    const Axis& a = set.axes[axis_index(set, name, "moods")];
    rows.push_back(a.direction.to(torch::kFloat64) * a.slope);
    bias.push_back(a.details.value("bias", 0.0));
  }
  return {torch::stack(rows), torch::tensor(bias, torch::kFloat64)};
}

std::vector<double> to_vector(const torch::Tensor& t) {
  torch::Tensor d = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

const NameTable<WallpaperEvery>& wallpaper_every_names() {
  static const NameTable<WallpaperEvery> table("--every", {{WallpaperEvery::kDay, "day"}, {WallpaperEvery::kHour, "hour"}});
  return table;
}

const NameTable<WallpaperMood>& wallpaper_mood_names() {
  static const NameTable<WallpaperMood> table("mood", {{WallpaperMood::kWarm, "warm"},
                                                        {WallpaperMood::kCool, "cool"},
                                                        {WallpaperMood::kCalm, "calm"},
                                                        {WallpaperMood::kVivid, "vivid"},
                                                        {WallpaperMood::kDark, "dark"},
                                                        {WallpaperMood::kLight, "light"}});
  return table;
}

double parse_wallpaper_time(const std::string& text, WallpaperEvery every) {
  double day = 0;
  check_lkrt(lkrt_wallpaper_day(text.c_str(), &day));
  return every == WallpaperEvery::kDay ? std::floor(day) : day;
}

std::string wallpaper_time_text(double day, WallpaperEvery every) {
  const double whole = std::floor(day);
  int64_t y = 0, m = 0, d = 0;
  civil_from_days(static_cast<int64_t>(whole), y, m, d);
  char text[32];
  std::snprintf(text, sizeof(text), "%04lld-%02lld-%02lld", static_cast<long long>(y), static_cast<long long>(m),
                static_cast<long long>(d));
  std::string out = text;
  if (every == WallpaperEvery::kHour) {
    std::snprintf(text, sizeof(text), "T%02d", static_cast<int>(std::lround((day - whole) * 24)));
    out += text;
  }
  return out;
}

double wallpaper_now(WallpaperEvery every) {
  const double seconds = static_cast<double>(std::time(nullptr));
  return every == WallpaperEvery::kDay ? std::floor(seconds / 86400) : std::floor(seconds / 3600) / 24;
}

std::pair<int64_t, int64_t> parse_wallpaper_size(const std::string& text) {
  const std::string expected = "expected WIDTHxHEIGHT in pixels, e.g. 1080x2400, each side 1 to " +
                               std::to_string(kWallpaperMaxSide);
  const size_t x = text.find('x');
  const auto side = [&](const std::string& part) -> int64_t {
    check_input(!part.empty() && part.size() <= 9 && part.find_first_not_of("0123456789") == std::string::npos,
                "--size '" + text + "': " + expected);
    return std::stoll(part);
  };
  check_input(x != std::string::npos, "--size '" + text + "': " + expected);
  const int64_t w = side(text.substr(0, x)), h = side(text.substr(x + 1));
  check_input(w >= 1 && h >= 1 && w <= kWallpaperMaxSide && h <= kWallpaperMaxSide,
              "--size '" + text + "' is too large or empty: each side must be 1 to " + std::to_string(kWallpaperMaxSide) +
                  " pixels");
  return {w, h};
}

WallpaperGeometry wallpaper_geometry(const WallpaperOptions& o, const PsganOptions& model) {
  check_input(o.width >= 1 && o.height >= 1 && o.width <= kWallpaperMaxSide && o.height <= kWallpaperMaxSide,
              "wallpaper size " + std::to_string(o.width) + "x" + std::to_string(o.height) + ": each side must be 1 to " +
                  std::to_string(kWallpaperMaxSide) + " pixels");
  check_input(o.scale == 1 || o.scale == 2 || o.scale == 4, "--scale must be 1, 2 or 4, got " + std::to_string(o.scale));
  const int64_t cell = model.cell(), unit = cell * o.scale;
  if (o.tileable) {
    check_input(o.width % unit == 0 && o.height % unit == 0,
                "--tileable: the size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                    " must be a multiple of " + std::to_string(unit) + " on each side (a cell is " + std::to_string(cell) +
                    " px, times --scale " + std::to_string(o.scale) + "), e.g. " +
                    std::to_string(std::max<int64_t>(1, o.width / unit) * unit) + "x" +
                    std::to_string(std::max<int64_t>(1, o.height / unit) * unit));
  }
  WallpaperGeometry g;
  g.w = (o.width + o.scale - 1) / o.scale;
  g.h = (o.height + o.scale - 1) / o.scale;
  g.cw = (g.w + cell - 1) / cell;
  g.ch = (g.h + cell - 1) / cell;
  return g;
}

torch::Tensor wallpaper_global(const PsganOptions& m, const WallpaperOptions& o) {
  torch::Tensor global = torch::empty({m.global_dim()}, torch::kFloat32);
  check_lkrt(lkrt_wallpaper_noise(o.seed, o.day, 0, static_cast<int32_t>(m.global_dim()), 0, 0, 0, 0, 0, 0, 0,
                                  global.data_ptr<float>(), nullptr, nullptr));
  return global;
}

PsganLatent wallpaper_latent(const PsganOptions& m, const WallpaperOptions& o, int64_t x0, int64_t y0, int64_t width,
                             int64_t height) {
  const WallpaperGeometry g = wallpaper_geometry(o, m);
  PsganLatent z;
  z.local = torch::empty({1, m.local_dim(), height, width}, torch::kFloat32);
  z.global = torch::empty({1, m.global_dim()}, torch::kFloat32);
  z.phase = torch::empty({1, m.periodic_dim()}, torch::kFloat32);
  z.x0 = x0;
  z.y0 = y0;
  z.tile_w = o.tileable ? g.cw : 0;
  z.tile_h = o.tileable ? g.ch : 0;
  check_lkrt(lkrt_wallpaper_noise(o.seed, o.day, static_cast<int32_t>(m.local_dim()), static_cast<int32_t>(m.global_dim()),
                                  static_cast<int32_t>(m.periodic_dim()), static_cast<int32_t>(x0),
                                  static_cast<int32_t>(y0), static_cast<int32_t>(width), static_cast<int32_t>(height),
                                  static_cast<int32_t>(z.tile_w), static_cast<int32_t>(z.tile_h),
                                  z.global.data_ptr<float>(), z.phase.data_ptr<float>(), z.local.data_ptr<float>()));
  if (o.shift.defined()) {
    check_input(o.shift.numel() == m.global_dim(), "wallpaper: the shift has " + std::to_string(o.shift.numel()) +
                                                        " values, the model's global vector " +
                                                        std::to_string(m.global_dim()));
    z.global += o.shift.to(torch::kFloat32).view({1, -1});
  }
  return z;
}

torch::Tensor render_wallpaper_pixels(PsganGeneratorImpl& net, const WallpaperOptions& o) {
  const PsganOptions& m = net.options;
  const WallpaperGeometry g = wallpaper_geometry(o, m);
  const PsganLatent z = wallpaper_latent(m, o, -kPsganReach, -kPsganReach, g.cw + 2 * kPsganReach, g.ch + 2 * kPsganReach);
  torch::NoGradGuard no_grad;
  net.eval();
  const int64_t margin = kPsganReach * m.cell();
  return net.forward(net.grid(z))[0].narrow(1, margin, g.h).narrow(2, margin, g.w).contiguous();
}

Image render_wallpaper(PsganGeneratorImpl& net, const WallpaperOptions& o) {
  const torch::Tensor pixels = render_wallpaper_pixels(net, o);  // [3, h, w]
  const int64_t c = pixels.size(0), W = o.width, H = o.height;
  std::vector<float> big(static_cast<size_t>(c * W * H));
  // Step 7 is lkrt's own resize, so this and lkrt_wallpaper agree.
  check_lkrt(lkrt_resize_bilinear(pixels.data_ptr<float>(), static_cast<int32_t>(c), static_cast<int32_t>(pixels.size(1)),
                                  static_cast<int32_t>(pixels.size(2)), big.data(), static_cast<int32_t>(H),
                                  static_cast<int32_t>(W), o.tileable ? 1 : 0));
  Image image(static_cast<int>(W), static_cast<int>(H), static_cast<int>(c));
  for (int64_t k = 0; k < c; ++k) {
    for (int64_t i = 0; i < W * H; ++i) {
      const float v = std::round((big[static_cast<size_t>(k * W * H + i)] + 1.0f) * 127.5f);
      image.pixels[static_cast<size_t>(i * c + k)] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
    }
  }
  return image;
}

const std::vector<std::string>& wallpaper_color_names() {
  static const std::vector<std::string> names = {"brightness", "mean-a", "mean-b", "warmth", "saturation", "colorfulness"};
  return names;
}

torch::Tensor wallpaper_colors(const torch::Tensor& images) {
  check_input(images.dim() == 4 && images.size(1) == 3, "wallpaper_colors: expected RGB images [N, 3, H, W]");
  const torch::Tensor lab = srgb_to_lab(((images.to(torch::kFloat64) + 1) / 2).permute({0, 2, 3, 1})).flatten(1, 2);
  const torch::Tensor l = lab.select(2, 0), a = lab.select(2, 1), b = lab.select(2, 2);
  // Warmth: the (a*, b*) plane projected on hue 60 degrees (orange); blue sits near 240-300.
  const double c60 = 0.5, s60 = std::sqrt(3.0) / 2;
  return torch::stack({l.mean(1), a.mean(1), b.mean(1), (c60 * a + s60 * b).mean(1), (a * a + b * b).sqrt().mean(1),
                       colorfulness(images)},
                      1);
}

AxisSet fit_wallpaper_axes(const torch::Tensor& z, const torch::Tensor& colors, const MoodFitOptions& o) {
  std::vector<FeatureColumn> columns;
  for (const std::string& name : wallpaper_color_names()) columns.push_back({name, "continuous", "attribute"});
  AxisSet set;
  set.latent_dim = z.size(1);
  set.axes = fit_axes(z, colors, columns, o.holdout, o.l2);
  set.meta = {{"method", "wallpaper-moods"}, {"latent", "psgan global vector"}, {"n", z.size(0)},
              {"seed", o.seed},             {"holdout", o.holdout},             {"l2", o.l2},
              {"features", {{"attributes", false}}},
              {"colors", "per-image means over the preview (PsganModel::decode): CIELAB L*, a*, b*, warmth "
                         "(a* cos 60 + b* sin 60), chroma, Hasler-Suesstrunk colorfulness"}};
  return set;
}

std::vector<Mood> make_moods(const AxisSet& set, double strength) {
  // Each mood's axis is moved with the other two held (to first order).
  const std::vector<std::string> names = {"warmth", "colorfulness", "brightness"};
  std::vector<torch::Tensor> rows;
  for (const std::string& name : names) rows.push_back(set.axes[axis_index(set, name, "moods")].direction.to(torch::kFloat64));
  const torch::Tensor directions = torch::stack(rows);
  struct Row {
    WallpaperMood mood;
    size_t axis;
    double sign;
  };
  const Row table[] = {{WallpaperMood::kWarm, 0, 1},  {WallpaperMood::kCool, 0, -1}, {WallpaperMood::kCalm, 1, -1},
                       {WallpaperMood::kVivid, 1, 1}, {WallpaperMood::kDark, 2, -1}, {WallpaperMood::kLight, 2, 1}};
  std::vector<Mood> moods;
  for (const Row& r : table) {
    std::vector<size_t> others;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i != r.axis) others.push_back(i);
    }
    const torch::Tensor d = lock_directions(directions, others, names)[static_cast<int64_t>(r.axis)];
    moods.push_back({wallpaper_mood_names().name(r.mood), names[r.axis], r.sign, d * (r.sign * strength)});
  }
  return moods;
}

WallpaperMoods fit_wallpaper_moods(PsganModel& model, const MoodFitOptions& o,
                                   const std::function<void(int64_t, int64_t)>& on_batch) {
  check_input(o.n >= 20, "moods: fit on at least 20 samples, got " + std::to_string(o.n));
  check_input(o.strength > 0 && o.strength <= 10, "moods: --strength must be in (0, 10]");
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(o.seed);
  const torch::Tensor z = model.sample_latent(o.n, rng);
  std::vector<torch::Tensor> colors;
  for (int64_t i = 0; i < o.n; i += o.batch) {
    const int64_t end = std::min(o.n, i + o.batch);
    colors.push_back(wallpaper_colors(model.decode(z.slice(0, i, end))));
    if (on_batch) on_batch(end, o.n);
  }
  WallpaperMoods out;
  out.axes = fit_wallpaper_axes(z, torch::cat(colors), o);
  out.strength = o.strength;
  out.moods = make_moods(out.axes, o.strength);
  return out;
}

nlohmann::json moods_to_json(const WallpaperMoods& w) {
  nlohmann::json moods = nlohmann::json::array();
  for (const Mood& m : w.moods) {
    moods.push_back({{"name", m.name}, {"axis", m.axis}, {"sign", m.sign}, {"shift", to_vector(m.shift)}});
  }
  const auto [weights, bias] = palette_model(w.axes);
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < weights.size(0); ++i) rows.push_back(to_vector(weights[i]));
  return {{"format", "latentkit-moods"},
          {"version", kMoodsVersion},
          {"global_dim", w.axes.latent_dim},
          {"strength", w.strength},
          {"moods", moods},
          {"axes", axes_to_json(w.axes)},
          {"palette",
           {{"axes", {kPaletteAxes[0], kPaletteAxes[1], kPaletteAxes[2]}},
            {"model", "predicted (L*, a*, b*) = weights . global + bias"},
            {"weights", rows},
            {"bias", to_vector(bias)}}}};
}

WallpaperMoods moods_from_json(const nlohmann::json& json, const std::string& source) {
  const std::string what = source + ": ";
  check_input(json.is_object() && json.value("format", "") == "latentkit-moods",
              what + "not a moods file (expected \"format\": \"latentkit-moods\", written by latentkit wallpaper moods)");
  check_input(json.value("version", 0) == kMoodsVersion, what + "moods file version " +
                                                            json.value("version", nlohmann::json()).dump() +
                                                            " is not supported (expected " + std::to_string(kMoodsVersion) + ")");
  WallpaperMoods w;
  try {
    w.axes = axes_from_json(json.at("axes"), source);
    w.strength = json.at("strength").get<double>();
    for (const nlohmann::json& m : json.at("moods")) {
      Mood mood;
      mood.name = m.at("name").get<std::string>();
      mood.axis = m.value("axis", "");
      mood.sign = m.value("sign", 1.0);
      const std::vector<double> shift = m.at("shift").get<std::vector<double>>();
      check_input(static_cast<int64_t>(shift.size()) == w.axes.latent_dim,
                  what + "mood '" + mood.name + "' has " + std::to_string(shift.size()) + " numbers, expected " +
                      std::to_string(w.axes.latent_dim));
      mood.shift = torch::tensor(shift, torch::kFloat64);
      check_input(torch::isfinite(mood.shift).all().item<bool>(), what + "mood '" + mood.name + "' is not finite");
      w.moods.push_back(std::move(mood));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + "malformed moods file: " + e.what());
  }
  palette_model(w.axes);  // the palette's axes are there
  return w;
}

void write_moods(const std::string& path, const WallpaperMoods& moods) { write_json(path, moods_to_json(moods)); }

WallpaperMoods read_moods(const std::string& path) {
  check_input(path_exists(path), path + " does not exist; fit the moods first: latentkit wallpaper moods --run RUN");
  return moods_from_json(read_json(path), path);
}

torch::Tensor mood_shift(const WallpaperMoods& w, WallpaperMood mood) {
  const std::string& name = wallpaper_mood_names().name(mood);
  for (const Mood& m : w.moods) {
    if (m.name == name) return m.shift;
  }
  throw Error("the moods file has no mood '" + name + "'; fit the moods again with: latentkit wallpaper moods --run RUN");
}

std::vector<Rgb> parse_palette(const std::string& text) {
  std::vector<Rgb> colors;
  size_t start = 0;
  while (true) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string part = text.substr(start, end - start);
    check_input(!part.empty(), "--palette '" + text + "': expected colors #rrggbb separated by commas, e.g. \"#ff8800,#203040\"");
    colors.push_back(parse_color(part, "--palette"));
    if (end == text.size()) break;
    start = end + 1;
  }
  check_input(colors.size() <= kPaletteMax,
              "--palette: at most " + std::to_string(kPaletteMax) + " colors, got " + std::to_string(colors.size()));
  return colors;
}

torch::Tensor predicted_lab(const WallpaperMoods& w, const torch::Tensor& global) {
  const auto [weights, bias] = palette_model(w.axes);
  return weights.mv(global.to(torch::kFloat64).flatten()) + bias;
}

torch::Tensor palette_shift(const WallpaperMoods& w, const torch::Tensor& global, const std::vector<Rgb>& palette,
                            double max_norm) {
  check_input(!palette.empty(), "--palette: no colors");
  std::vector<double> rgb;
  for (const Rgb& c : palette) rgb.insert(rgb.end(), {c.r / 255.0, c.g / 255.0, c.b / 255.0});
  const torch::Tensor target =
      srgb_to_lab(torch::tensor(rgb, torch::kFloat64).view({-1, 3})).mean(0);  // the palette's mean (L*, a*, b*)
  const torch::Tensor weights = palette_model(w.axes).first;
  torch::Tensor shift = torch::linalg_pinv(weights).mv(target - predicted_lab(w, global));
  const double norm = shift.norm().item<double>();
  if (norm > max_norm) shift *= max_norm / norm;
  return shift;
}

}  // namespace latentkit
