// latentkit wallpaper: a wallpaper of the day (or hour) from a psgan run, and
// latentkit wallpaper moods: the color axes of its global latent and the moods (docs/wallpapers.md).
#include <cstdio>
#include <memory>
#include <optional>
#include <tuple>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/progress.h"
#include "latentkit/models/registry.h"
#include "latentkit/steer/wallpaper.h"

namespace latentkit::app {
namespace {

constexpr int64_t kMaxDays = 366;

struct WallpaperParams {
  std::string run, size = "1080x2400", date, out, sheet, mood, palette;
  WallpaperEvery every = WallpaperEvery::kDay;
  uint64_t seed = 0;
  int64_t scale = 4, days = 1;
  bool tileable = false, week = false;
  int threads = 0;
};

struct MoodsParams {
  std::string run;
  MoodFitOptions fit;
  int threads = 0;
};

// The psgan model of a run; another family is an Error saying what the command needs.
std::unique_ptr<PsganModel> load_psgan(const std::string& run) {
  const std::string family = run_family(run);
  check_input(family.empty() || family == "psgan",
              run + " is a " + family + " run; wallpapers come from a psgan run (latentkit train --model psgan "
                                        "--data wallpapers --out runs/wallpaper)");
  std::unique_ptr<Generator> generator = load_generator(run);
  auto* psgan = dynamic_cast<PsganModel*>(generator.get());
  check_input(psgan != nullptr, run + " is not a psgan run");
  generator.release();
  return std::unique_ptr<PsganModel>(psgan);
}

// FILE.png -> FILE-2026-12-06.png: one file per day of --days.
std::string dated_path(const std::string& path, const std::string& date) {
  const size_t slash = path.find_last_of('/'), dot = path.find_last_of('.');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return has_ext ? path.substr(0, dot) + "-" + date + path.substr(dot) : path + "-" + date + ".png";
}

void run_wallpaper(const WallpaperParams& p) {
  check_input(!p.run.empty(), "give the run: latentkit wallpaper --run RUN --out wall.png (a psgan run)");
  check_input(!p.out.empty() || !p.sheet.empty(), "nothing to write: give --out FILE.png (and/or --sheet FILE.png)");
  const int64_t days = p.week ? 7 : p.days;
  check_input(!p.week || p.days == 1, "--week is --days 7; give one of them");
  std::optional<WallpaperMood> mood;
  if (!p.mood.empty()) mood = wallpaper_mood_names().parse(p.mood);
  const std::vector<Rgb> palette = p.palette.empty() ? std::vector<Rgb>() : parse_palette(p.palette);
  WallpaperOptions o;
  std::tie(o.width, o.height) = parse_wallpaper_size(p.size);
  o.scale = p.scale;
  o.seed = p.seed;
  o.tileable = p.tileable;
  const double start = p.date.empty() ? wallpaper_now(p.every) : parse_wallpaper_time(p.date, p.every);
  std::unique_ptr<PsganModel> model = load_psgan(p.run);
  PsganGeneratorImpl& net = *model->net();
  const WallpaperGeometry g = wallpaper_geometry(o, net.options);  // sizes checked before the moods are read
  WallpaperMoods moods;
  if (mood || !palette.empty()) moods = read_moods(p.run + "/moods.json");
  check_input(moods.axes.axes.empty() || moods.axes.latent_dim == net.options.global_dim(),
              p.run + "/moods.json was fitted for another model (global_dim " + std::to_string(moods.axes.latent_dim) +
                  "); fit it again: latentkit wallpaper moods --run " + p.run);
  std::vector<torch::Tensor> sheet;
  for (int64_t i = 0; i < days; ++i) {
    o.day = start + static_cast<double>(i) * (p.every == WallpaperEvery::kHour ? 1.0 / 24 : 1.0);
    torch::Tensor shift = torch::zeros({net.options.global_dim()}, torch::kFloat64);
    if (mood) shift += mood_shift(moods, *mood);
    if (!palette.empty()) shift += palette_shift(moods, wallpaper_global(net.options, o).to(torch::kFloat64) + shift, palette);
    o.shift = shift;
    const Image image = render_wallpaper(net, o);
    const std::string when = wallpaper_time_text(o.day, p.every);
    if (!p.out.empty()) {
      const std::string path = days == 1 ? p.out : dated_path(p.out, when);
      write_png(path, image);
      std::fprintf(stderr, "wrote %s (%lldx%lld, %s, seed %llu; drawn at %lldx%lld, --scale %lld)\n", path.c_str(),
                   static_cast<long long>(o.width), static_cast<long long>(o.height), when.c_str(),
                   static_cast<unsigned long long>(o.seed), static_cast<long long>(g.w), static_cast<long long>(g.h),
                   static_cast<long long>(o.scale));
    }
    if (!p.sheet.empty()) sheet.push_back(image_to_tensor(image));
  }
  if (!p.sheet.empty()) {
    write_png(p.sheet, make_grid(torch::stack(sheet), static_cast<int>(days)));
    std::fprintf(stderr, "wrote %s (%lld wallpapers side by side from %s)\n", p.sheet.c_str(),
                 static_cast<long long>(days), wallpaper_time_text(start, p.every).c_str());
  }
}

void run_moods(const MoodsParams& p) {
  std::unique_ptr<PsganModel> model = load_psgan(p.run);
  std::fprintf(stderr, "fitting the color axes of %s's %lld-dim global latent on %lld previews (%lldx%lld), %d threads\n",
               p.run.c_str(), static_cast<long long>(model->latent_dim()), static_cast<long long>(p.fit.n),
               static_cast<long long>(model->image_shape()[2]), static_cast<long long>(model->image_shape()[1]),
               torch::get_num_threads());
  Progress progress("previews", p.fit.n);
  WallpaperMoods moods =
      fit_wallpaper_moods(*model, p.fit, [&](int64_t done, int64_t) { progress.update(done, ""); });
  progress.finish("done");
  moods.axes.meta["run"] = p.run;
  const std::string path = p.run + "/moods.json", axes_path = p.run + "/axes.json";
  write_moods(path, moods);
  std::printf("%-13s %-6s %12s %10s %10s\n", "axis", "kind", "R2 held out", "slope", "sd");
  for (const Axis& a : moods.axes.axes) {
    std::printf("%-13s %-6s %12.3f %10.3f %10.3f\n", a.name.c_str(), a.kind.c_str(), a.quality, a.slope,
                a.details.value("std", 0.0));
  }
  std::printf("moods: %g latent units along warmth (warm +, cool -), colorfulness (vivid +, calm -), brightness "
              "(light +, dark -)\n",
              moods.strength);
  std::fprintf(stderr, "wrote %s\n", path.c_str());
  // RUN/axes.json (issue 4's format, for latentkit edit and serve): only where it is ours.
  const bool ours = !path_exists(axes_path) ||
                    read_json(axes_path).value("meta", nlohmann::json::object()).value("method", "") == "wallpaper-moods";
  if (ours) {
    write_axes(axes_path, moods.axes);
    std::fprintf(stderr, "wrote %s (latentkit edit --run %s --axes %s --move warmth=+2 ...)\n", axes_path.c_str(),
                 p.run.c_str(), axes_path.c_str());
  } else {
    std::fprintf(stderr, "kept %s (written by axes fit); the color axes are in %s\n", axes_path.c_str(), path.c_str());
  }
}

}  // namespace

void add_wallpaper_command(CLI::App& app) {
  auto p = std::make_shared<WallpaperParams>();
  CLI::App* cmd = app.add_subcommand("wallpaper", "A wallpaper of the day (or hour) of any size from a psgan run");
  cmd->add_option("--run", p->run, "psgan run folder (latentkit train --model psgan)");
  cmd->add_option("--size", p->size, "WIDTHxHEIGHT in pixels, each side 1 to " + std::to_string(kWallpaperMaxSide))
      ->capture_default_str();
  cmd->add_option("--date", p->date, "YYYY-MM-DD, or YYYY-MM-DDTHH with --every hour (default: now, UTC)");
  add_enum_option(cmd, "--every", p->every, wallpaper_every_names(), "how often the wallpaper changes");
  cmd->add_option("--out", p->out, "PNG to write (with --days N > 1: FILE-YYYY-MM-DD.png for each)");
  cmd->add_option("--seed", p->seed, "which path through time: each seed is another series of wallpapers")
      ->capture_default_str();
  cmd->add_option("--scale", p->scale, "the network draws 1/scale of the size, then it is upscaled (4: the training scale)")
      ->check(CLI::IsMember({1, 2, 4}))
      ->capture_default_str();
  cmd->add_flag("--tileable", p->tileable,
                "wrap around at the edges so copies of it tile without seams (each side a multiple of 16 x --scale)");
  cmd->add_option("--mood", p->mood,
                  "warm, cool, calm, vivid, dark or light: a move of the style along RUN/moods.json's axes");
  cmd->add_option("--palette", p->palette,
                  "\"#rrggbb,#rrggbb,...\": move the style so its predicted mean color nears these colors' mean");
  cmd->add_option("--days", p->days, "draw this many consecutive days (hours with --every hour)")
      ->check(CLI::Range(int64_t{1}, kMaxDays))
      ->capture_default_str();
  cmd->add_flag("--week", p->week, "--days 7");
  cmd->add_option("--sheet", p->sheet, "PNG of the --days wallpapers side by side");
  cmd->footer(
      "Examples:\n"
      "  latentkit wallpaper --run models/wallpaper --size 1080x2400 --out wall.png            (today's)\n"
      "  latentkit wallpaper --run models/wallpaper --date 2026-12-06 --mood warm --out wall.png\n"
      "  latentkit wallpaper --run models/wallpaper --date 2026-12-06T14 --every hour --out wall.png\n"
      "  latentkit wallpaper --run models/wallpaper --size 1024x1024 --tileable --out tile.png\n"
      "  latentkit wallpaper --run models/wallpaper --palette \"#ff8800,#203040\" --out wall.png\n"
      "  latentkit wallpaper --run models/wallpaper --size 270x600 --week --sheet week.png\n"
      "  latentkit wallpaper moods --run models/wallpaper        (fits RUN/moods.json for --mood and --palette)\n"
      "The same date, seed and size give the same image here, in lkrt and in the browser app.");

  auto m = std::make_shared<MoodsParams>();
  CLI::App* moods = cmd->add_subcommand("moods", "Fit the color axes of a psgan run's style and write RUN/moods.json");
  moods->add_option("--run", m->run, "psgan run folder")->required();
  moods->add_option("--n", m->fit.n, "style vectors sampled, one preview each")
      ->check(CLI::Range(int64_t{20}, int64_t{1000000}))
      ->capture_default_str();
  moods->add_option("--seed", m->fit.seed, "seed of the style vectors")->capture_default_str();
  moods->add_option("--strength", m->fit.strength, "latent units (prior standard deviations) a mood moves the style")
      ->check(CLI::Range(0.01, 10.0))
      ->capture_default_str();
  moods->footer(
      "Example:\n  latentkit wallpaper moods --run models/wallpaper\n"
      "Ridge fits of the previews' mean L*, a*, b*, warmth, chroma and colorfulness on the global latent\n"
      "(R^2 on held-out previews); RUN/axes.json gets them too unless axes fit wrote it.");
  torch_command(moods, m->threads, Work::kShort, [m]() { run_moods(*m); });
  torch_command(cmd, p->threads, Work::kShort, [p, cmd, moods]() {
    if (!cmd->got_subcommand(moods)) run_wallpaper(*p);
  });
}

}  // namespace latentkit::app
