#pragma once
// A wallpaper of the day from a PSGAN (models/psgan.h), docs/wallpapers.md steps 1-8: the
// noise of runtime/include/lkrt_wallpaper.h (shared with lkrt, so both draw the same image),
// a margin of kPsganReach cells, the network, the crop, lkrt_resize_bilinear and bytes.
// Moods and palettes steer the global vector (the style) along axes fitted on it: ridge fits
// of the previews' mean color (CIELAB), chroma and colorfulness (steer/axes.h), not a condition.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/image.h"
#include "latentkit/core/names.h"
#include "latentkit/models/psgan.h"
#include "latentkit/steer/axes.h"
#include "lkrt_wallpaper.h"

namespace latentkit {

/// The largest wallpaper side in pixels (lkrt's).
constexpr int64_t kWallpaperMaxSide = LKRT_WALLPAPER_MAX_SIDE;

/// How often the wallpaper changes: the time it is drawn for is a day or an hour.
enum class WallpaperEvery { kDay, kHour };
const NameTable<WallpaperEvery>& wallpaper_every_names();

/// Days since 1970-01-01 of "YYYY-MM-DD" or "YYYY-MM-DDTHH" (lkrt_wallpaper_day; its message
/// on anything else); every day drops the hour.
double parse_wallpaper_time(const std::string& text, WallpaperEvery every);
/// The time as text: "YYYY-MM-DD", or "YYYY-MM-DDTHH" for every hour.
std::string wallpaper_time_text(double day, WallpaperEvery every);
/// Now (UTC) at the start of its day or hour.
double wallpaper_now(WallpaperEvery every);

/// "WIDTHxHEIGHT", each side 1 to kWallpaperMaxSide; anything else is an Error.
std::pair<int64_t, int64_t> parse_wallpaper_size(const std::string& text);

struct WallpaperOptions {
  int64_t width = 1080, height = 2400;  // pixels of the wallpaper
  int64_t scale = 4;                    // 1, 2 or 4: the network draws 1/scale of it, upscaled
  double day = 0;                       // days since 1970-01-01 (parse_wallpaper_time)
  uint64_t seed = 0;
  bool tileable = false;
  torch::Tensor shift;  // float [global_dim] added to the global vector (mood, palette); undefined: none
};

/// Step 2: the render is w x h pixels of cw x ch cells.
struct WallpaperGeometry {
  int64_t w = 0, h = 0, cw = 0, ch = 0;
};
/// Checks the options against the network (sizes, scale; tileable sides a multiple of
/// cell x scale, so the tile is whole cells at either size) and works out the geometry.
WallpaperGeometry wallpaper_geometry(const WallpaperOptions& options, const PsganOptions& model);

/// Steps 3-5's inputs: the latent of the cells x0 .. x0 + width - 1, y0 .. y0 + height - 1 of
/// the wallpaper's plane (a render takes x0 = y0 = -kPsganReach and the geometry's cells plus
/// the margin), its global vector moved by options.shift.
PsganLatent wallpaper_latent(const PsganOptions& model, const WallpaperOptions& options, int64_t x0, int64_t y0,
                             int64_t width, int64_t height);

/// Steps 1-6: the render [3, h, w] in [-1, 1] (float32, before the upscale).
torch::Tensor render_wallpaper_pixels(PsganGeneratorImpl& net, const WallpaperOptions& options);
/// Steps 1-8: the wallpaper, RGB, width x height.
Image render_wallpaper(PsganGeneratorImpl& net, const WallpaperOptions& options);

/// Per-image color measures of images [N, 3, H, W] in [-1, 1]: float64 [N, 6], the columns
/// named by wallpaper_color_names(): brightness (mean L*), mean-a (mean a*), mean-b (mean b*),
/// warmth (mean of a* cos 60 + b* sin 60: toward orange, negative toward blue), saturation
/// (mean chroma sqrt(a*^2 + b*^2)) and colorfulness (Hasler & Suesstrunk, eval/metrics.h).
torch::Tensor wallpaper_colors(const torch::Tensor& images);
const std::vector<std::string>& wallpaper_color_names();

/// A mood moves the global vector along one of the color axes by +-strength.
enum class WallpaperMood { kWarm, kCool, kCalm, kVivid, kDark, kLight };
const NameTable<WallpaperMood>& wallpaper_mood_names();

struct Mood {
  std::string name;     // "warm"
  std::string axis;     // the axis it moves along: "warmth"
  double sign = 1;      // +1 or -1
  torch::Tensor shift;  // float64 [global_dim]
};

/// The color axes of a run's global latent and the moods made of them (RUN/moods.json).
struct WallpaperMoods {
  AxisSet axes;  // one ridge axis per wallpaper_colors() column, details.bias kept
  double strength = 2;
  std::vector<Mood> moods;
};

struct MoodFitOptions {
  int64_t n = 512;        // global vectors sampled (N(0, 1)), one preview each
  uint64_t seed = 0;
  double holdout = 0.2;   // of the pairs, for the R^2 in the axes
  double l2 = 1e-3;       // ridge penalty
  double strength = 2;    // latent units (standard deviations of the prior) a mood moves
  int64_t batch = 64;
};

/// Fits one ridge axis per color column of colors [N, 6] (wallpaper_colors) on the global
/// vectors z [N, global_dim].
AxisSet fit_wallpaper_axes(const torch::Tensor& z, const torch::Tensor& colors, const MoodFitOptions& options);
/// The six moods: warm/cool along warmth, vivid/calm along colorfulness, light/dark along
/// brightness, each of those three axes first disentangled from the other two
/// (lock_directions), times +-strength.
std::vector<Mood> make_moods(const AxisSet& axes, double strength);
/// Samples, decodes previews (PsganModel::decode), measures and fits: the whole of
/// `latentkit wallpaper moods`. on_batch(done, total) reports progress.
WallpaperMoods fit_wallpaper_moods(PsganModel& model, const MoodFitOptions& options,
                                   const std::function<void(int64_t, int64_t)>& on_batch = {});

/// RUN/moods.json: {"format": "latentkit-moods", "version": 1, "global_dim", "strength",
/// "moods": [{"name", "axis", "sign", "shift": [global_dim]}], "axes": axes.json's form,
/// "palette": {"axes": [brightness, mean-a, mean-b], "weights": [3][global_dim], "bias": [3]}}.
nlohmann::json moods_to_json(const WallpaperMoods& moods);
WallpaperMoods moods_from_json(const nlohmann::json& json, const std::string& source);
void write_moods(const std::string& path, const WallpaperMoods& moods);
/// A missing file is an Error saying how to make it (latentkit wallpaper moods).
WallpaperMoods read_moods(const std::string& path);
/// The shift of a mood; one the file lacks is an Error.
torch::Tensor mood_shift(const WallpaperMoods& moods, WallpaperMood mood);

/// "#rrggbb,#rrggbb,..." (or white / black), 1 to 16 colors; anything else is an Error.
std::vector<Rgb> parse_palette(const std::string& text);
/// The move of the global vector global [global_dim] that brings the predicted mean CIELAB
/// (the brightness, mean-a and mean-b axes' linear fits) to the mean of the palette's colors:
/// the least-norm solution of the 3 x global_dim system, its length clipped to max_norm.
/// float64 [global_dim].
torch::Tensor palette_shift(const WallpaperMoods& moods, const torch::Tensor& global, const std::vector<Rgb>& palette,
                            double max_norm = 3);
/// The predicted (L*, a*, b*) mean of the wallpaper of global [global_dim], float64 [3].
torch::Tensor predicted_lab(const WallpaperMoods& moods, const torch::Tensor& global);

/// The global vector of options' time and seed before any shift, float32 [global_dim].
torch::Tensor wallpaper_global(const PsganOptions& model, const WallpaperOptions& options);

}  // namespace latentkit
