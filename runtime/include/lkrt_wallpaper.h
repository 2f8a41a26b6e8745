/// lkrt_wallpaper.h: a wallpaper of the day (latentkit's psgan family, docs/wallpapers.md).
/// The latent recipe and the upscale are shared by latentkit wallpaper and lkrt, so both draw
/// the same image for the same date; a wallpaper model (LKRT_KIND_WALLPAPER, a .lkm of
/// format version 5) draws it on the device. C API, no dependencies.
///
/// A wallpaper's latent grid has three parts (models/psgan.h): local noise per cell, a
/// global vector (the style) and the phases of the periodic waves. All three move along one
/// slow smooth path in time: random keyframes every LKRT_WALLPAPER_KNOT_DAYS days, blended
/// by uniform cubic B-spline weights b_j (j = 0..3 over knots k-1..k+2) and divided by
/// sqrt(sum b_j^2), so every value stays N(0, 1). Day d and d+1 share most of their weight;
/// after 4 knots (28 days) nothing is shared. Phases blend as unit vectors. A knot a week,
/// not every 4 days: with 4, the change from one day to the next was 2.4x under that between
/// two random days in features, against a goal of 3x (docs/wallpapers.md).
///
/// Every keyframe value is drawn by hashing (seed, stream, knot, index) with splitmix64 and
/// a Box-Muller pair in double, so any cell of the unbounded plane can be drawn alone: a
/// larger wallpaper extends a smaller one, and a tile wraps its coordinates.
#ifndef LKRT_WALLPAPER_H
#define LKRT_WALLPAPER_H

#include <stddef.h>
#include <stdint.h>

#include "lkrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LKRT_WALLPAPER_KNOT_DAYS 7.0

/// Parses a time: "YYYY-MM-DD" (midnight) or "YYYY-MM-DDTHH" (that hour) of the proleptic
/// Gregorian calendar, years 1970..9999, into days since 1970-01-01 (hours as a fraction).
/// Anything else is LKRT_ERR_ARGUMENT with a message naming the valid forms.
lkrt_status lkrt_wallpaper_day(const char* text, double* day);

/// The noise of a wallpaper at time `day` (lkrt_wallpaper_day): global [global_dim], phase
/// [periodic_dim] (radians in [-pi, pi]) and the local noise of cells x0..x0+width-1,
/// y0..y0+height-1, [local_dim * height * width] channel by channel, row by row. wrap_w,
/// wrap_h > 0 take cell coordinates modulo them (a tile); 0 leaves the plane unbounded.
/// Any output may be NULL when its size is 0.
lkrt_status lkrt_wallpaper_noise(uint64_t seed, double day, int32_t local_dim, int32_t global_dim, int32_t periodic_dim,
                                 int32_t x0, int32_t y0, int32_t width, int32_t height, int32_t wrap_w, int32_t wrap_h,
                                 float* global, float* phase, float* local);

/// The largest wallpaper side, in pixels.
#define LKRT_WALLPAPER_MAX_SIDE 8192

/// Bilinear resize of in [channels, h, w] to out [channels, out_h, out_w] (NCHW, float): pixel
/// centres at half-integers, source x = (X + 0.5) w / out_w - 0.5 (likewise y); beyond the
/// edges the edge pixel (wrap 0, source coordinates below 0 clamped to 0, as PyTorch's
/// align_corners=False) or the other side (wrap != 0: the image tiles). Every side 1 to 65536.
lkrt_status lkrt_resize_bilinear(const float* in, int32_t channels, int32_t h, int32_t w, float* out, int32_t out_h,
                                 int32_t out_w, int32_t wrap);

/// A wallpaper model's parts: local noise values per cell, the global vector (the style,
/// = lkrt_model_latent_dim), the periodic waves, the pixels of a cell on a side and the margin
/// of cells a render adds on every side. 0 for other models.
int32_t lkrt_model_local_dim(const lkrt_model* model);
int32_t lkrt_model_global_dim(const lkrt_model* model);
int32_t lkrt_model_periodic_dim(const lkrt_model* model);
int32_t lkrt_model_cell(const lkrt_model* model);
int32_t lkrt_model_reach(const lkrt_model* model);
/// Its named moods (RUN/moods.json when it was exported): the count, each name (NULL out of
/// range) and the index of a name (-1 when it has none of that name).
int32_t lkrt_model_mood_count(const lkrt_model* model);
const char* lkrt_model_mood_name(const lkrt_model* model, int32_t index);
int32_t lkrt_model_mood_index(const lkrt_model* model, const char* name);

/// The wave vectors of a global vector: k [2 * periodic_dim], kx then ky (radians per cell),
/// pi tanh(MLP(global)), before any rounding for a tile.
lkrt_status lkrt_wallpaper_waves(lkrt_model* model, const float* global, float* k);

/// The network alone: grid [channels, cells_h, cells_w] (local, global, waves; NCHW) -> out
/// [3, cells_h * cell, cells_w * cell] in [-1, 1]. Each side 1 to 1024 cells, at most the
/// activations the planner allows. A new size plans new buffers; the same size again
/// allocates nothing.
lkrt_status lkrt_wallpaper_network(lkrt_model* model, const float* grid, int32_t cells_h, int32_t cells_w, float* out);

typedef struct {
  double day;          /* the time, days since 1970-01-01 (lkrt_wallpaper_day) */
  uint64_t seed;       /* another seed, another series of wallpapers */
  int32_t width;       /* the wallpaper in pixels, 1 to LKRT_WALLPAPER_MAX_SIDE each */
  int32_t height;
  int32_t scale;       /* 1, 2 or 4: the network draws ceil(width / scale) x ceil(height / scale), upscaled */
  int32_t tileable;    /* nonzero: the image tiles; the sides must be multiples of cell x scale */
  int32_t mood;        /* index of a mood (lkrt_model_mood_index) added to the global vector, or -1 */
  const float* shift;  /* [global_dim] also added to the global vector (a palette's), or NULL */
} lkrt_wallpaper_options;

/// Fills options with the defaults: day 0, seed 0, 1080 x 2400, scale 4, not tileable, no mood, no shift.
void lkrt_wallpaper_options_init(lkrt_wallpaper_options* options);

/// Draws the wallpaper into rgba [height * width * 4] (row by row, alpha 255), following
/// docs/wallpapers.md steps 2-8: the render of w = ceil(width / scale) by h = ceil(height /
/// scale) pixels needs cw = ceil(w / cell) by ch = ceil(h / cell) cells; the noise of the cells
/// -reach .. cw + reach - 1 (likewise y; wrapped around (cw, ch) when tileable); the global
/// vector plus the mood's and the options' shifts; the grid of local noise, the global vector
/// and the waves sin(kx x + ky y + phase) at the cell coordinates (kx = 2 pi round(kx cw / 2 pi)
/// / cw, ky likewise, when tileable); the network; the w x h pixels from (reach * cell, reach *
/// cell); lkrt_resize_bilinear to width x height (wrapping when tileable); bytes round((v + 1)
/// * 127.5) (halves away from zero) clamped to 0..255. Large renders run the network in tiles
/// of whole cells with the margin, which gives the same pixels. A bad size, scale or mood is
/// LKRT_ERR_ARGUMENT with a message naming the valid ones.
lkrt_status lkrt_wallpaper(lkrt_model* model, const lkrt_wallpaper_options* options, uint8_t* rgba);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif
