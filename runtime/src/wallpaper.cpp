// Wallpapers of the day (include/lkrt_wallpaper.h): the latent path, the wallpaper section of
// a .lkm (version 5), the bilinear upscale and the render of docs/wallpapers.md steps 2-8.
#include "lkrt_wallpaper.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "graph.h"
#include "last_error.h"

using lkrt::fail;
using lkrt::set_error;

namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The streams of the three parts, so their keyframes are independent.
constexpr uint64_t kGlobal = 0x676c6f62ull, kPhase = 0x70686173ull, kLocal = 0x6c6f6361ull;

uint64_t key(uint64_t seed, uint64_t stream, int64_t knot) { return mix(mix(seed ^ stream) + static_cast<uint64_t>(knot)); }

// Standard normal value `index` of a keyframe: Box-Muller on two hashed uniforms, in double.
double normal(uint64_t keyframe, uint64_t index) {
  const uint64_t a = mix(keyframe + 2 * index), b = mix(keyframe + 2 * index + 1);
  const double u1 = double((a >> 11) + 1) * 0x1.0p-53;  // (0, 1]
  const double u2 = double(b >> 11) * 0x1.0p-53;        // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

double uniform(uint64_t keyframe, uint64_t index) { return double(mix(keyframe + index) >> 11) * 0x1.0p-53; }

// Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

extern "C" {

lkrt_status lkrt_wallpaper_day(const char* text, double* day) {
  const char* forms = "expected a date YYYY-MM-DD (e.g. 2026-12-06) or an hour YYYY-MM-DDTHH (e.g. 2026-12-06T14), years 1970 to 9999";
  if (!text || !day) return lkrt::set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_day: null argument");
  const size_t n = std::strlen(text);
  const auto bad = [&](const char* why) {
    char message[320];
    std::snprintf(message, sizeof(message), "'%.40s' is not a date%s: %s", text, why, forms);
    return lkrt::set_error(LKRT_ERR_ARGUMENT, message);
  };
  if (n != 10 && n != 13) return bad("");
  for (size_t i = 0; i < n; ++i) {
    const bool sep = i == 4 || i == 7 || i == 10;
    const char want = i == 10 ? 'T' : '-';
    if (sep ? text[i] != want : (text[i] < '0' || text[i] > '9')) return bad("");
  }
  const auto number = [&](size_t at, size_t len) {
    int64_t v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  const int64_t y = number(0, 4), m = number(5, 2), d = number(8, 2), h = n == 13 ? number(11, 2) : 0;
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970) return bad(" (before 1970)");
  if (m < 1 || m > 12) return bad(" (no such month)");
  if (d < 1 || d > kDays[m - 1] + (m == 2 && leap(y))) return bad(" (no such day in that month)");
  if (h > 23) return bad(" (hours are 00 to 23)");
  *day = double(days_from_civil(y, m, d)) + double(h) / 24.0;
  return LKRT_OK;
}

lkrt_status lkrt_wallpaper_noise(uint64_t seed, double day, int32_t local_dim, int32_t global_dim, int32_t periodic_dim,
                                 int32_t x0, int32_t y0, int32_t width, int32_t height, int32_t wrap_w, int32_t wrap_h,
                                 float* global, float* phase, float* local) {
  if (local_dim < 0 || global_dim < 0 || periodic_dim < 0 || width < 0 || height < 0 || wrap_w < 0 || wrap_h < 0 ||
      !std::isfinite(day) || std::fabs(day) > 1e7 || (global_dim > 0 && !global) || (periodic_dim > 0 && !phase) ||
      (int64_t(local_dim) * width * height > 0 && !local)) {
    return lkrt::set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_noise: bad argument (negative size, null output or day out of range)");
  }
  // Uniform cubic B-spline weights of knots k-1 .. k+2.
  const double u = day / LKRT_WALLPAPER_KNOT_DAYS;
  const int64_t k = static_cast<int64_t>(std::floor(u));
  const double f = u - double(k);
  const double b[4] = {(1 - f) * (1 - f) * (1 - f) / 6, (3 * f * f * f - 6 * f * f + 4) / 6,
                       (-3 * f * f * f + 3 * f * f + 3 * f + 1) / 6, f * f * f / 6};
  const double norm = std::sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2] + b[3] * b[3]);
  const auto blend = [&](uint64_t stream, uint64_t index) {
    double v = 0;
    for (int j = 0; j < 4; ++j) v += b[j] * normal(key(seed, stream, k - 1 + j), index);
    return float(v / norm);
  };
  for (int32_t i = 0; i < global_dim; ++i) global[i] = blend(kGlobal, uint64_t(i));
  for (int32_t i = 0; i < periodic_dim; ++i) {
    double c = 0, s = 0;
    for (int j = 0; j < 4; ++j) {
      const double angle = 2 * M_PI * uniform(key(seed, kPhase, k - 1 + j), uint64_t(i));
      c += b[j] * std::cos(angle);
      s += b[j] * std::sin(angle);
    }
    phase[i] = float(std::atan2(s, c));
  }
  const auto wrap = [](int64_t v, int64_t period) { return period > 0 ? ((v % period) + period) % period : v; };
  for (int32_t c = 0; c < local_dim; ++c) {
    for (int32_t y = 0; y < height; ++y) {
      for (int32_t x = 0; x < width; ++x) {
        // The cell's index on the plane: its wrapped coordinates and channel, hashed.
        const uint64_t cx = uint64_t(wrap(int64_t(x0) + x, wrap_w)), cy = uint64_t(wrap(int64_t(y0) + y, wrap_h));
        const uint64_t index = mix(mix(cx * 0x100000001b3ull ^ cy) + uint64_t(c));
        local[(size_t(c) * height + y) * width + x] = blend(kLocal, index);
      }
    }
  }
  return LKRT_OK;
}

}  // extern "C"

// ---------------------------------------------------------------------------------
// The wallpaper section and the graph of a wallpaper model.

namespace lkrt {

void read_wallpaper_section(lkrt_model& m, const uint8_t* data, uint64_t size, uint64_t offset, uint64_t length,
                            uint64_t data_start, std::vector<TensorRef>& tensors) {
  using namespace format;
  if (offset % kAlign != 0 || offset < data_start || length < kWShifts || length > size || offset > size - length)
    fail(LKRT_ERR_FORMAT, "wallpaper section at %llu+%llu outside the data section [%llu, %llu) or not 64-aligned",
         (unsigned long long)offset, (unsigned long long)length, (unsigned long long)data_start, (unsigned long long)size);
  const uint8_t* p = data + offset;
  Wallpaper& w = m.wallpaper;
  w.local_dim = read_u32(p + kWLocalDim);
  w.global_dim = read_u32(p + kWGlobalDim);
  w.periodic_dim = read_u32(p + kWPeriodicDim);
  w.hidden = read_u32(p + kWHidden);
  w.cell = read_u32(p + kWCell);
  w.reach = read_u32(p + kWReach);
  const uint32_t moods = read_u32(p + kWMoods);
  if (w.local_dim > kWallpaperMaxDim || w.global_dim > kWallpaperMaxDim || w.periodic_dim > kWallpaperMaxDim ||
      w.hidden > kWallpaperMaxDim)
    fail(LKRT_ERR_FORMAT, "wallpaper: local %u, global %u, periodic %u or hidden %u above %u", w.local_dim, w.global_dim,
         w.periodic_dim, w.hidden, kWallpaperMaxDim);
  if (w.global_dim != m.latent_dim)
    fail(LKRT_ERR_FORMAT, "wallpaper: a global vector of %u values, the header's latent_dim is %u", w.global_dim, m.latent_dim);
  if ((w.periodic_dim == 0) != (w.hidden == 0))
    fail(LKRT_ERR_FORMAT, "wallpaper: %u waves with a wave MLP of hidden width %u (both 0 or both >= 1)", w.periodic_dim, w.hidden);
  if (w.cell < 2 || w.cell > 64 || (w.cell & (w.cell - 1)) != 0)
    fail(LKRT_ERR_FORMAT, "wallpaper: a cell of %u pixels (a power of 2 from 2 to 64)", w.cell);
  if (w.reach < 1 || w.reach > 8) fail(LKRT_ERR_FORMAT, "wallpaper: a reach of %u cells (1 to 8)", w.reach);
  if (m.image.h % w.cell != 0 || m.image.w % w.cell != 0 || m.image.c != 3)
    fail(LKRT_ERR_FORMAT, "wallpaper: the header's image [%u,%u,%u] is not RGB in whole cells of %u pixels", m.image.c,
         m.image.h, m.image.w, w.cell);
  if (moods > kWallpaperMaxMoods) fail(LKRT_ERR_FORMAT, "wallpaper: %u moods, at most %u", moods, kWallpaperMaxMoods);
  if (read_u32(p + kWReserved) != 0) fail(LKRT_ERR_FORMAT, "wallpaper: reserved field is not zero");
  // The wave MLP: four fp32 tensors, or none without waves.
  const uint32_t P = w.periodic_dim, G = w.global_dim, H = w.hidden;
  const uint32_t dims[4][2] = {{H, G}, {H, 0}, {2 * P, H}, {2 * P, 0}};
  std::vector<float>* out[4] = {&w.weight1, &w.bias1, &w.weight2, &w.bias2};
  for (uint32_t k = 0; k < 4; ++k) {
    const uint32_t index = read_u32(p + kWTensors + 4 * k);
    if (P == 0) {
      if (index != kNoTensor) fail(LKRT_ERR_FORMAT, "wallpaper: a wave MLP tensor %u without waves", k);
      continue;
    }
    if (index >= tensors.size())
      fail(LKRT_ERR_FORMAT, "wallpaper: wave MLP tensor %u is tensor %u, the file has %zu", k, index, tensors.size());
    TensorRef& t = tensors[index];
    if (++t.uses > 1) fail(LKRT_ERR_FORMAT, "wallpaper: tensor %u is used twice", index);
    const uint32_t rank = dims[k][1] ? 2 : 1;
    if (t.dtype != LKRT_WEIGHT_FP32 || t.rank != rank || t.dims[0] != dims[k][0] || (rank == 2 && t.dims[1] != dims[k][1]))
      fail(LKRT_ERR_FORMAT, "wallpaper: wave MLP tensor %u must be fp32 [%u%s%s]", k, dims[k][0], rank == 2 ? "," : "",
           rank == 2 ? std::to_string(dims[k][1]).c_str() : "");
    out[k]->resize(t.numel);
    for (uint64_t i = 0; i < t.numel; ++i) {
      (*out[k])[i] = t.at(i);
      if (!std::isfinite((*out[k])[i])) fail(LKRT_ERR_FORMAT, "wallpaper: wave MLP tensor %u holds a value that is not finite", k);
    }
    m.params += t.numel;
  }
  // The moods: their shifts, then their names (1 to 64 printable ASCII bytes, NUL-terminated,
  // distinct), filling the section exactly.
  if (kWShifts + 4 * uint64_t(moods) * G > length)
    fail(LKRT_ERR_FORMAT, "wallpaper: %u mood shifts of %u values do not fit a section of %llu bytes", moods, G,
         (unsigned long long)length);
  w.mood_shifts.resize(size_t(moods) * G);
  for (size_t i = 0; i < w.mood_shifts.size(); ++i) {
    w.mood_shifts[i] = read_f32(p + kWShifts + 4 * i);
    if (!std::isfinite(w.mood_shifts[i])) fail(LKRT_ERR_FORMAT, "wallpaper: mood %zu's shift is not finite", i / G);
  }
  const char* at = reinterpret_cast<const char*>(p) + kWShifts + 4 * w.mood_shifts.size();
  const char* end = reinterpret_cast<const char*>(p) + length;
  w.mood_names.clear();
  for (uint32_t k = 0; k < moods; ++k) {
    const size_t n = strnlen(at, size_t(end - at));
    if (at + n == end) fail(LKRT_ERR_FORMAT, "wallpaper: mood name %u is missing or not NUL-terminated", k);
    if (n == 0 || n > kWallpaperMaxName) fail(LKRT_ERR_FORMAT, "wallpaper: mood name %u is %zu bytes (1..64)", k, n);
    for (size_t j = 0; j < n; ++j)
      if (at[j] <= 0x20 || at[j] > 0x7e) fail(LKRT_ERR_FORMAT, "wallpaper: mood name %u is not printable ASCII without spaces", k);
    const std::string name(at, n);
    if (std::find(w.mood_names.begin(), w.mood_names.end(), name) != w.mood_names.end())
      fail(LKRT_ERR_FORMAT, "wallpaper: two moods are named '%s'", name.c_str());
    w.mood_names.push_back(name);
    at += n + 1;
  }
  if (at != end) fail(LKRT_ERR_FORMAT, "wallpaper: %lld bytes after the last mood name", (long long)(end - at));
}

void check_wallpaper_graph(const lkrt_model& m) {
  uint32_t upsamplings = 0;
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    if (i == 0 ? n.op == Op::kInput : n.chain && (is_elementwise(n.op) || n.op == Op::kConvTranspose2d)) {
      if (n.op != Op::kConvTranspose2d) continue;
      if (n.ints[2] == 4 && n.ints[3] == 2 && n.ints[4] == 1) {
        ++upsamplings;
        continue;
      }
    }
    fail(LKRT_ERR_FORMAT,
         "op %u (%s): a wallpaper model is a chain of transposed convolutions (kernel 4, stride 2, padding 1) and "
         "elementwise ops after its grid input",
         i, op_name(n.op));
  }
  if (upsamplings > 6 || (1u << upsamplings) != m.wallpaper.cell)
    fail(LKRT_ERR_FORMAT, "wallpaper: %u transposed convolutions make a cell of %u pixels, the section says %u", upsamplings,
         1u << std::min(upsamplings, 31u), m.wallpaper.cell);
}

}  // namespace lkrt

namespace {

// The wave vectors k [2P] of global [G]: pi tanh(W2 relu(W1 g + b1) + b2), as latentkit's
// PsganGeneratorImpl::waves (sums in double, the result in float).
void waves(const lkrt::Wallpaper& w, const float* global, float* k) {
  const uint32_t G = w.global_dim, H = w.hidden, P2 = 2 * w.periodic_dim;
  std::vector<float> hidden(H);
  for (uint32_t j = 0; j < H; ++j) {
    double s = w.bias1[j];
    for (uint32_t i = 0; i < G; ++i) s += double(w.weight1[size_t(j) * G + i]) * global[i];
    hidden[j] = s > 0 ? float(s) : 0.0f;
  }
  for (uint32_t j = 0; j < P2; ++j) {
    double s = w.bias2[j];
    for (uint32_t i = 0; i < H; ++i) s += double(w.weight2[size_t(j) * H + i]) * hidden[i];
    k[j] = float(M_PI) * std::tanh(float(s));
  }
}

// The network on grid [C, cells_h, cells_w] (NCHW); returns the output (channels-last).
const lkrt::Value& network(lkrt_model& m, const float* grid, uint32_t cells_h, uint32_t cells_w) {
  lkrt::plan(m, cells_h, cells_w);
  m.inputs = lkrt::Inputs{};
  m.inputs.grid = grid;
  return lkrt::run_graph(m);
}

// Tiles of tw x th cells (plus the margin on every side) over cw x ch cells, each within
// budget floats of buffers: the fewest cells computed in all.
void choose_tiles(uint32_t cw, uint32_t ch, uint32_t margin, uint64_t floats_per_cell, uint64_t budget, uint32_t* tw,
                  uint32_t* th) {
  const uint64_t cells = budget / std::max<uint64_t>(floats_per_cell, 1);
  uint64_t best = UINT64_MAX;
  *tw = *th = 1;  // when nothing fits the budget: one cell at a time
  for (uint32_t nx = 1; nx <= cw; ++nx) {
    const uint32_t w = (cw + nx - 1) / nx;
    const uint64_t rows = cells / (w + 2 * margin);
    if (rows <= 2 * margin) continue;
    const uint32_t most = uint32_t(std::min<uint64_t>(rows - 2 * margin, ch));
    const uint32_t ny = (ch + most - 1) / most, h = (ch + ny - 1) / ny;
    const uint64_t cost = uint64_t(nx) * ny * (w + 2 * margin) * (h + 2 * margin);
    if (cost < best) best = cost, *tw = w, *th = h;
  }
}

}  // namespace

namespace lkrt {

lkrt_status draw_wallpaper(lkrt_model* m, const lkrt_wallpaper_options* o, uint64_t tile_floats, uint8_t* rgba) {
  if (!m || !o || !rgba) return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper: model, options or rgba is null");
  if (m->kind != LKRT_KIND_WALLPAPER)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper: the model is not a wallpaper model (export a psgan run)");
  Wallpaper& wp = m->wallpaper;
  const int32_t W = o->width, H = o->height, s = o->scale, cell = int32_t(wp.cell), reach = int32_t(wp.reach);
  const int32_t kMax = LKRT_WALLPAPER_MAX_SIDE;
  if (W < 1 || H < 1 || W > kMax || H > kMax)
    return set_error(LKRT_ERR_ARGUMENT, "a wallpaper of " + std::to_string(W) + "x" + std::to_string(H) +
                                            ": each side must be 1 to " + std::to_string(kMax) + " pixels (e.g. 1080x2400)");
  if (s != 1 && s != 2 && s != 4)
    return set_error(LKRT_ERR_ARGUMENT, "scale " + std::to_string(s) + ": the scale is 1, 2 or 4 (the network draws 1/scale of the size)");
  const int32_t unit = cell * s;
  if (o->tileable && (W % unit != 0 || H % unit != 0))
    return set_error(LKRT_ERR_ARGUMENT, "a tileable wallpaper of " + std::to_string(W) + "x" + std::to_string(H) +
                                            " at scale " + std::to_string(s) + ": its sides must be multiples of " +
                                            std::to_string(unit) + " pixels (the cell, " + std::to_string(cell) +
                                            ", times the scale), e.g. " + std::to_string((W + unit - 1) / unit * unit) +
                                            "x" + std::to_string((H + unit - 1) / unit * unit));
  const int32_t moods = int32_t(wp.mood_names.size());
  if (o->mood < -1 || o->mood >= moods) {
    std::string names;
    for (int32_t k = 0; k < moods; ++k) names += (k ? ", " : "") + std::to_string(k) + " " + wp.mood_names[size_t(k)];
    return set_error(LKRT_ERR_ARGUMENT, "mood " + std::to_string(o->mood) +
                                            (moods ? ": the model's moods are " + names + " (-1: none)"
                                                   : ": the model has no moods (-1: none; export a run with moods.json)"));
  }
  // Step 2: the render and its cells.
  const uint32_t w = uint32_t((W + s - 1) / s), h = uint32_t((H + s - 1) / s);
  const uint32_t cw = (w + cell - 1) / cell, ch = (h + cell - 1) / cell;
  const uint32_t gw = cw + 2 * reach, gh = ch + 2 * reach;
  const uint32_t L = wp.local_dim, G = wp.global_dim, P = wp.periodic_dim, C = wp.channels();
  return guarded([&] {
    // Step 3: the noise of the cells -reach .. cw + reach - 1 (and y), wrapped for a tile.
    wp.global.resize(G);
    wp.phase.resize(P);
    wp.grid.resize(size_t(C) * gh * gw);
    const lkrt_status status =
        lkrt_wallpaper_noise(o->seed, o->day, int32_t(L), int32_t(G), int32_t(P), -reach, -reach, int32_t(gw), int32_t(gh),
                             o->tileable ? int32_t(cw) : 0, o->tileable ? int32_t(ch) : 0, wp.global.data(),
                             wp.phase.data(), wp.grid.data());
    if (status != LKRT_OK) fail(status, "%s", lkrt_last_error());
    // Step 4: the mood and the caller's shift.
    for (uint32_t i = 0; i < G; ++i) {
      if (o->mood >= 0) wp.global[i] += wp.mood_shifts[size_t(o->mood) * G + i];
      if (o->shift) wp.global[i] += o->shift[i];
    }
    // Step 5: local (already in place), the global vector in every cell, the waves.
    const size_t plane = size_t(gh) * gw;
    for (uint32_t i = 0; i < G; ++i) std::fill_n(wp.grid.data() + (L + i) * plane, plane, wp.global[i]);
    std::vector<float> k(2 * size_t(P));
    if (P) waves(wp, wp.global.data(), k.data());
    for (uint32_t p = 0; p < P; ++p) {
      float kx = k[p], ky = k[P + p];
      if (o->tileable) {  // whole periods over the tile, as latentkit: round half to even, in float
        kx = std::nearbyint(kx * float(cw / (2 * M_PI))) * float(2 * M_PI / cw);
        ky = std::nearbyint(ky * float(ch / (2 * M_PI))) * float(2 * M_PI / ch);
      }
      float* out = wp.grid.data() + (L + G + p) * plane;
      for (uint32_t y = 0; y < gh; ++y)
        for (uint32_t x = 0; x < gw; ++x) {
          const float fx = float(int32_t(x) - reach), fy = float(int32_t(y) - reach);
          out[size_t(y) * gw + x] = std::sin(kx * fx + ky * fy + wp.phase[p]);
        }
    }
    // Step 6: the network; its w x h pixels from (reach * cell, reach * cell) of the grid. In
    // tiles of whole cells, each with a margin of kWallpaperTileMargin cells: the same pixels.
    const uint32_t margin = kWallpaperTileMargin, skip = uint32_t(reach) - margin;  // grid cells before a tile's
    uint32_t tw, th;
    choose_tiles(cw, ch, margin, wp.floats_per_cell, tile_floats, &tw, &th);
    const uint32_t tgw = tw + 2 * margin, tgh = th + 2 * margin, ow = tgw * cell;
    wp.tile.resize(size_t(C) * tgh * tgw);
    wp.render.resize(size_t(3) * h * w);
    for (uint32_t ty = 0; ty < ch; ty += th) {
      const uint32_t y0 = std::min(ty, ch - th);
      for (uint32_t tx = 0; tx < cw; tx += tw) {
        const uint32_t x0 = std::min(tx, cw - tw);
        for (uint32_t c = 0; c < C; ++c)
          for (uint32_t y = 0; y < tgh; ++y)
            std::memcpy(wp.tile.data() + (size_t(c) * tgh + y) * tgw,
                        wp.grid.data() + c * plane + size_t(skip + y0 + y) * gw + skip + x0, tgw * sizeof(float));
        const Value& out = network(*m, wp.tile.data(), tgh, tgw);
        const uint32_t py_end = std::min((y0 + th) * cell, h), px_end = std::min((x0 + tw) * cell, w);
        for (uint32_t py = y0 * cell; py < py_end; ++py)
          for (uint32_t px = x0 * cell; px < px_end; ++px) {
            const float* v = out.data + (size_t(py - y0 * cell + margin * cell) * ow + (px - x0 * cell + margin * cell)) * 3;
            for (uint32_t c = 0; c < 3; ++c) wp.render[(size_t(c) * h + py) * w + px] = v[c];
          }
      }
    }
    // Steps 7 and 8: the upscale and bytes, a channel at a time.
    const size_t pixels = size_t(H) * W;
    std::vector<float> plane_out(pixels);
    for (size_t c = 0; c < 3; ++c) {
      const lkrt_status resized = lkrt_resize_bilinear(wp.render.data() + c * h * w, 1, int32_t(h), int32_t(w),
                                                       plane_out.data(), H, W, o->tileable);
      if (resized != LKRT_OK) fail(resized, "%s", lkrt_last_error());
      for (size_t i = 0; i < pixels; ++i) {
        const float v = std::round((plane_out[i] + 1.0f) * 127.5f);
        rgba[4 * i + c] = v >= 0.0f ? (v <= 255.0f ? uint8_t(v) : 255) : 0;  // NaN -> 0
      }
    }
    for (size_t i = 0; i < pixels; ++i) rgba[4 * i + 3] = 255;
  }, "out of memory drawing the wallpaper");
}

}  // namespace lkrt

extern "C" {

lkrt_status lkrt_resize_bilinear(const float* in, int32_t channels, int32_t h, int32_t w, float* out, int32_t out_h,
                                 int32_t out_w, int32_t wrap) {
  if (!in || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_resize_bilinear: in or out is null");
  const int32_t kMax = 65536;
  if (channels < 1 || h < 1 || w < 1 || out_h < 1 || out_w < 1 || h > kMax || w > kMax || out_h > kMax || out_w > kMax)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_resize_bilinear: [" + std::to_string(channels) + "," + std::to_string(h) +
                                            "," + std::to_string(w) + "] to " + std::to_string(out_w) + "x" +
                                            std::to_string(out_h) + ": channels and every side must be 1 to 65536");
  // Per output column (row): the two source columns (rows) and the weight of the second.
  struct Tap {
    int32_t a, b;
    float f;
  };
  const auto taps = [wrap](int32_t n, int32_t out_n) {
    std::vector<Tap> t(static_cast<size_t>(out_n));
    const double step = double(n) / out_n;
    for (int32_t i = 0; i < out_n; ++i) {
      double src = (i + 0.5) * step - 0.5;
      if (!wrap && src < 0) src = 0;
      const double lo = std::floor(src);
      int32_t a = int32_t(lo), b = a + 1;
      if (wrap) {
        a = ((a % n) + n) % n;
        b = ((b % n) + n) % n;
      } else {
        a = std::min(a, n - 1);
        b = std::min(b, n - 1);
      }
      t[size_t(i)] = {a, b, float(src - lo)};
    }
    return t;
  };
  const std::vector<Tap> xs = taps(w, out_w), ys = taps(h, out_h);
  for (int32_t c = 0; c < channels; ++c) {
    const float* plane = in + size_t(c) * h * w;
    for (int32_t y = 0; y < out_h; ++y) {
      const Tap& ty = ys[size_t(y)];
      const float* r0 = plane + size_t(ty.a) * w;
      const float* r1 = plane + size_t(ty.b) * w;
      float* o = out + (size_t(c) * out_h + y) * out_w;
      for (int32_t x = 0; x < out_w; ++x) {
        const Tap& tx = xs[size_t(x)];
        const float top = (1 - tx.f) * r0[tx.a] + tx.f * r0[tx.b], bottom = (1 - tx.f) * r1[tx.a] + tx.f * r1[tx.b];
        o[x] = (1 - ty.f) * top + ty.f * bottom;
      }
    }
  }
  return LKRT_OK;
}

int32_t lkrt_model_local_dim(const lkrt_model* m) { return m ? int32_t(m->wallpaper.local_dim) : 0; }
int32_t lkrt_model_global_dim(const lkrt_model* m) { return m ? int32_t(m->wallpaper.global_dim) : 0; }
int32_t lkrt_model_periodic_dim(const lkrt_model* m) { return m ? int32_t(m->wallpaper.periodic_dim) : 0; }
int32_t lkrt_model_cell(const lkrt_model* m) { return m ? int32_t(m->wallpaper.cell) : 0; }
int32_t lkrt_model_reach(const lkrt_model* m) { return m ? int32_t(m->wallpaper.reach) : 0; }
int32_t lkrt_model_mood_count(const lkrt_model* m) { return m ? int32_t(m->wallpaper.mood_names.size()) : 0; }

const char* lkrt_model_mood_name(const lkrt_model* m, int32_t index) {
  if (!m || index < 0 || size_t(index) >= m->wallpaper.mood_names.size()) return nullptr;
  return m->wallpaper.mood_names[size_t(index)].c_str();
}

int32_t lkrt_model_mood_index(const lkrt_model* m, const char* name) {
  if (!m || !name) return -1;
  const std::vector<std::string>& names = m->wallpaper.mood_names;
  const auto found = std::find(names.begin(), names.end(), name);
  return found == names.end() ? -1 : int32_t(found - names.begin());
}

lkrt_status lkrt_wallpaper_waves(lkrt_model* m, const float* global, float* k) {
  if (!m || !global || (!k && m->wallpaper.periodic_dim > 0))
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_waves: model, global or k is null");
  if (m->kind != LKRT_KIND_WALLPAPER) return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_waves: the model is not a wallpaper model");
  waves(m->wallpaper, global, k);
  return LKRT_OK;
}

lkrt_status lkrt_wallpaper_network(lkrt_model* m, const float* grid, int32_t cells_h, int32_t cells_w, float* out) {
  if (!m || !grid || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_network: model, grid or out is null");
  if (m->kind != LKRT_KIND_WALLPAPER)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_network: the model is not a wallpaper model");
  if (cells_h < 1 || cells_w < 1 || cells_h > 1024 || cells_w > 1024 ||
      m->wallpaper.floats_per_cell * uint64_t(cells_h) * uint64_t(cells_w) > lkrt::kMaxActivation)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_wallpaper_network: a grid of " + std::to_string(cells_w) + "x" +
                                            std::to_string(cells_h) + " cells: each side must be 1 to 1024 cells, and " +
                                            "the grid at most " +
                                            std::to_string(lkrt::kMaxActivation / std::max<uint64_t>(m->wallpaper.floats_per_cell, 1)) +
                                            " cells (lkrt_wallpaper draws larger ones in tiles)");
  return lkrt::guarded([&] {
    const lkrt::Value& y = network(*m, grid, uint32_t(cells_h), uint32_t(cells_w));
    const size_t C = y.shape.c, P = y.shape.pixels();
    for (size_t p = 0; p < P; ++p)
      for (size_t c = 0; c < C; ++c) out[c * P + p] = y.data[p * C + c];
  });
}

void lkrt_wallpaper_options_init(lkrt_wallpaper_options* o) {
  if (!o) return;
  *o = lkrt_wallpaper_options{};
  o->width = 1080;
  o->height = 2400;
  o->scale = 4;
  o->mood = -1;
}

lkrt_status lkrt_wallpaper(lkrt_model* m, const lkrt_wallpaper_options* o, uint8_t* rgba) {
  return lkrt::draw_wallpaper(m, o, lkrt::kWallpaperTileFloats, rgba);
}

}  // extern "C"
