// Wallpapers of the day (issue 25), three measurements on one psgan run, every image drawn
// by render_wallpaper (steer/wallpaper.h) at SIDE x SIDE, --scale 4, seed 0:
//   (a) day to day: the mean L2 distance between the classifier's features of day d and day
//       d + k, k = 1..14, over STARTS start days (2026-01-01 + 23 i), against the distance
//       between two random days (uniform over 1970..2030, STARTS pairs); the ratio
//       random / day-to-day (goal: >= 3 at k = 1: close to yesterday, new a week later);
//   (b) seams: the mean absolute difference (bytes, 0..255) across the wrap (last column
//       against the first, bottom row against the top) over the mean difference between
//       neighbouring columns (rows) inside, all of them and those across cell edges (the wrap
//       is one), for --tileable and plain images of STARTS days (a seamless tile: about 1);
//   (c) moods (RUN/moods.json): mean hue angle of the mean (a*, b*), L*, chroma, warmth and
//       colorfulness over MOOD_DAYS days with each mood against none, and for two palettes
//       the CIE76 distance of the mean CIELAB color to the palette's mean, without and with it.
//   bench_wallpaper RUN [CLASSIFIER=models/emoji-classifier] [STARTS=20] [THREADS=2] [SIDE=256] [MOOD_DAYS=50]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/threads.h"
#include "latentkit/eval/features.h"
#include "latentkit/models/generator.h"
#include "latentkit/models/registry.h"
#include "latentkit/steer/wallpaper.h"

using namespace latentkit;

namespace {

constexpr int kMaxLag = 14;

struct Bench {
  PsganGeneratorImpl* net = nullptr;
  WallpaperOptions base;

  // [3, SIDE, SIDE] in [-1, 1], the bytes render_wallpaper writes.
  torch::Tensor draw(double day, const torch::Tensor& shift = {}, bool tileable = false) const {
    WallpaperOptions o = base;
    o.day = day;
    o.shift = shift;
    o.tileable = tileable;
    return image_to_tensor(render_wallpaper(*net, o));
  }
};

double row_distance(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).norm(2, {1}).mean().item<double>(); }

void day_to_day(const Bench& b, FeatureExtractor& extractor, int64_t starts) {
  const double first = parse_wallpaper_time("2026-01-01", WallpaperEvery::kDay);
  std::vector<torch::Tensor> by_lag(kMaxLag + 1);  // features of start + k, [starts, D] each
  for (int k = 0; k <= kMaxLag; ++k) {
    std::vector<torch::Tensor> images;
    for (int64_t i = 0; i < starts; ++i) images.push_back(b.draw(first + 23.0 * static_cast<double>(i) + k));
    by_lag[static_cast<size_t>(k)] = extract_features(extractor, torch::stack(images), 64, "").features.to(torch::kFloat64);
  }
  torch::Generator rng = make_rng(25);
  const torch::Tensor days = torch::randint(0, 60 * 365, {2, starts}, rng, torch::kInt64);
  std::vector<torch::Tensor> x, y;
  for (int64_t i = 0; i < starts; ++i) {
    x.push_back(b.draw(static_cast<double>(days[0][i].item<int64_t>())));
    y.push_back(b.draw(static_cast<double>(days[1][i].item<int64_t>())));
  }
  const double random = row_distance(extract_features(extractor, torch::stack(x), 64, "").features.to(torch::kFloat64),
                                     extract_features(extractor, torch::stack(y), 64, "").features.to(torch::kFloat64));
  std::printf("(a) feature distance (%s, L2) between day d and d + k, mean over %lld start days; random pairs: %.3f\n",
              extractor.name().c_str(), static_cast<long long>(starts), random);
  std::printf("%4s %10s %16s\n", "k", "distance", "random / this");
  double lag1 = 0;
  for (int k = 1; k <= kMaxLag; ++k) {
    const double d = row_distance(by_lag[0], by_lag[static_cast<size_t>(k)]);
    if (k == 1) lag1 = d;
    std::printf("%4d %10.3f %15.2fx\n", k, d, random / d);
  }
  std::printf("goal: random / day-to-day (k = 1) = %.2fx (>= 3: %s)\n\n", random / lag1, random / lag1 >= 3 ? "met" : "not met");
}

struct Seam {
  double wrap = 0, inside = 0, edges = 0;
};

// Mean |difference| in bytes along dim (2: columns, 1: rows): across the wrap (the last against
// the first), between all neighbours inside, and between neighbours across the cell edges
// inside (every `period` pixels; the wrap is a cell edge too, and a PSGAN's pixels differ more
// there than within a cell).
Seam seam(const torch::Tensor& image, int64_t dim, int64_t period) {
  const int64_t n = image.size(dim);
  const torch::Tensor v = (image + 1) * 127.5;
  const torch::Tensor steps = (v.narrow(dim, 1, n - 1) - v.narrow(dim, 0, n - 1)).abs();  // step i: pixel i -> i + 1
  const torch::Tensor edges = torch::arange(period - 1, n - 1, period, torch::kInt64);
  return {(v.select(dim, 0) - v.select(dim, n - 1)).abs().mean().item<double>(), steps.mean().item<double>(),
          steps.index_select(dim, edges).mean().item<double>()};
}

void seams(const Bench& b, int64_t days) {
  const double first = parse_wallpaper_time("2026-01-01", WallpaperEvery::kDay);
  const int64_t period = b.net->options.cell() * b.base.scale;
  std::printf("(b) seams over %lld days: mean |difference| in bytes across the wrap vs between neighbours inside, all "
              "of them and those across cell edges (every %lld px)\n",
              static_cast<long long>(days), static_cast<long long>(period));
  std::printf("%-9s %-38s | %s\n", "", "columns", "rows");
  std::printf("%-9s %6s %7s %6s %7s %7s | %6s %7s %6s %7s %7s\n", "", "wrap", "inside", "edges", "/inside", "/edges",
              "wrap", "inside", "edges", "/inside", "/edges");
  for (bool tileable : {true, false}) {
    Seam h, v;
    for (int64_t i = 0; i < days; ++i) {
      const torch::Tensor image = b.draw(first + 23.0 * static_cast<double>(i), {}, tileable);
      for (auto [dim, total] : {std::pair<int64_t, Seam*>{2, &h}, std::pair<int64_t, Seam*>{1, &v}}) {
        const Seam s = seam(image, dim, period);
        total->wrap += s.wrap / static_cast<double>(days);
        total->inside += s.inside / static_cast<double>(days);
        total->edges += s.edges / static_cast<double>(days);
      }
    }
    std::printf("%-9s %6.2f %7.2f %6.2f %6.2fx %6.2fx | %6.2f %7.2f %6.2f %6.2fx %6.2fx\n", tileable ? "tileable" : "plain",
                h.wrap, h.inside, h.edges, h.wrap / h.inside, h.wrap / h.edges, v.wrap, v.inside, v.edges,
                v.wrap / v.inside, v.wrap / v.edges);
  }
  std::printf("(a seamless tile: wrap / edges about 1)\n\n");
}

// Means over the days' images of wallpaper_colors' columns: [6].
torch::Tensor mean_colors(const Bench& b, const std::vector<double>& days, const std::function<torch::Tensor(double)>& shift) {
  std::vector<torch::Tensor> images;
  for (double d : days) images.push_back(b.draw(d, shift(d)));
  return wallpaper_colors(torch::stack(images)).mean(0);
}

void moods(const Bench& b, const std::string& run, int64_t count) {
  const std::string path = run + "/moods.json";
  if (!path_exists(path)) {
    std::printf("(c) moods: skipped, %s has no moods.json (latentkit wallpaper moods --run %s)\n", run.c_str(), run.c_str());
    return;
  }
  const WallpaperMoods w = read_moods(path);
  const double first = parse_wallpaper_time("2026-01-01", WallpaperEvery::kDay);
  std::vector<double> days;
  for (int64_t i = 0; i < count; ++i) days.push_back(first + static_cast<double>(i));
  std::printf("(c) moods (strength %g) over %lld days, means of the per-image means; hue = atan2(mean b*, mean a*)\n",
              w.strength, static_cast<long long>(count));
  std::printf("%-8s %8s %8s %8s %8s %8s %13s\n", "mood", "hue", "L*", "chroma", "warmth", "colorful", "(change)");
  const auto row = [](const std::string& name, const torch::Tensor& c, const torch::Tensor& none) {
    const auto hue = [](const torch::Tensor& t) { return std::atan2(t[2].item<double>(), t[1].item<double>()) * 180 / M_PI; };
    std::string change;
    if (none.defined()) {
      char text[96];
      std::snprintf(text, sizeof(text), "dL %+.1f dC %+.1f dW %+.1f dM %+.1f", (c[0] - none[0]).item<double>(),
                    (c[4] - none[4]).item<double>(), (c[3] - none[3]).item<double>(), (c[5] - none[5]).item<double>());
      change = text;
    }
    std::printf("%-8s %7.1f° %8.2f %8.2f %8.2f %8.2f  %s\n", name.c_str(), hue(c), c[0].item<double>(), c[4].item<double>(),
                c[3].item<double>(), c[5].item<double>(), change.c_str());
  };
  const torch::Tensor none = mean_colors(b, days, [](double) { return torch::Tensor(); });
  row("none", none, {});
  for (const Mood& m : w.moods) row(m.name, mean_colors(b, days, [&](double) { return m.shift; }), none);

  std::printf("\npalettes: CIE76 distance of the mean CIELAB color to the palette's mean, without -> with --palette\n");
  for (const std::string text : {"#ff8800,#ffcc00", "#203060,#2080a0"}) {
    const std::vector<Rgb> palette = parse_palette(text);
    std::vector<double> rgb;
    for (const Rgb& c : palette) rgb.insert(rgb.end(), {c.r / 255.0, c.g / 255.0, c.b / 255.0});
    const torch::Tensor target = srgb_to_lab(torch::tensor(rgb, torch::kFloat64).view({-1, 3})).mean(0);
    const torch::Tensor moved = mean_colors(b, days, [&](double d) {
      WallpaperOptions o = b.base;
      o.day = d;
      return palette_shift(w, wallpaper_global(b.net->options, o).to(torch::kFloat64), palette);
    });
    const auto distance = [&](const torch::Tensor& c) { return (c.slice(0, 0, 3) - target).norm().item<double>(); };
    std::printf("%-18s %7.2f -> %7.2f (%.2fx closer)\n", text.c_str(), distance(none), distance(moved),
                distance(none) / distance(moved));
  }
}

int run(const std::string& run_dir, const std::string& classifier, int64_t starts, int threads_asked, int64_t side,
        int64_t mood_days) {
  const int threads = set_threads(threads_asked);
  torch::NoGradGuard no_grad;
  std::unique_ptr<Generator> generator = load_generator(run_dir);
  auto* model = dynamic_cast<PsganModel*>(generator.get());
  check_input(model != nullptr, run_dir + " is not a psgan run");
  Bench b;
  b.net = model->net().get();
  b.base.width = b.base.height = side;
  b.base.scale = 4;
  std::unique_ptr<FeatureExtractor> extractor = load_classifier_extractor(classifier);
  std::printf("run %s (global %lld, cell %lld px), %lldx%lld at --scale 4, seed 0, %d thread%s\n\n", run_dir.c_str(),
              static_cast<long long>(b.net->options.global_dim()), static_cast<long long>(b.net->options.cell()),
              static_cast<long long>(side), static_cast<long long>(side), threads, threads == 1 ? "" : "s");
  day_to_day(b, *extractor, starts);
  seams(b, starts);
  moods(b, run_dir, mood_days);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto arg = [&](int i, const char* fallback) { return std::string(argc > i ? argv[i] : fallback); };
    if (argc < 2 || argc > 7 || arg(1, "") == "-h" || arg(1, "") == "--help") {
      std::fprintf(stderr,
                   "usage: bench_wallpaper RUN [CLASSIFIER=models/emoji-classifier] [STARTS=20] [THREADS=2] [SIDE=256] "
                   "[MOOD_DAYS=50]\n");
      return 2;
    }
    return run(arg(1, ""), arg(2, "models/emoji-classifier"), std::atoll(arg(3, "20").c_str()),
               std::atoi(arg(4, "2").c_str()), std::atoll(arg(5, "256").c_str()), std::atoll(arg(6, "50").c_str()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
