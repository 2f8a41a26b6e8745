// The image kinds' C API: lkrt_enhance (padding and tiling as latentkit enhance) and the
// diffusion sampler (DDIM with eta 0 and DPM-Solver++(2M), as latentkit's
// diffusion_sample), over one run of the graph per network call.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "graph.h"
#include "last_error.h"

using lkrt::set_error;

namespace {

// Channels-last output of the graph into NCHW.
void to_nchw(const lkrt::Value& y, float* out) {
  const size_t C = y.shape.c, P = y.shape.pixels();
  for (size_t p = 0; p < P; ++p)
    for (size_t c = 0; c < C; ++c) out[c * P + p] = y.data[p * C + c];
}

// ---------------------------------------------------------------------------------
// Enhancer

// The network on one region [C, h, w] (NCHW) of `in` at (y0, x0), padded by edge
// replication to a multiple of the model's pad_multiple (half before, half after, as
// latentkit), the output cropped back into out [C, h, w].
void enhance_region(lkrt_model& m, const float* in, uint32_t H, uint32_t W, uint32_t y0, uint32_t x0, uint32_t h,
                    uint32_t w, float* out) {
  const uint32_t k = m.pad_multiple, C = m.image.c;
  const uint32_t ph = (k - h % k) % k, pw = (k - w % k) % k, top = ph / 2, left = pw / 2;
  const uint32_t hp = h + ph, wp = w + pw;
  std::vector<float>& padded = m.work[0];
  padded.resize(size_t(C) * hp * wp);
  for (uint32_t c = 0; c < C; ++c)
    for (uint32_t y = 0; y < hp; ++y) {
      const uint32_t sy = y0 + uint32_t(std::min<int64_t>(std::max<int64_t>(int64_t(y) - top, 0), h - 1));
      for (uint32_t x = 0; x < wp; ++x) {
        const uint32_t sx = x0 + uint32_t(std::min<int64_t>(std::max<int64_t>(int64_t(x) - left, 0), w - 1));
        padded[(size_t(c) * hp + y) * wp + x] = in[(size_t(c) * H + sy) * W + sx];
      }
    }
  lkrt::plan(m, hp, wp);
  m.inputs = lkrt::Inputs{};
  m.inputs.image = padded.data();
  const lkrt::Value& y = lkrt::run_graph(m);
  for (uint32_t c = 0; c < C; ++c)
    for (uint32_t yy = 0; yy < h; ++yy)
      for (uint32_t xx = 0; xx < w; ++xx)
        out[(size_t(c) * h + yy) * w + xx] = y.data[((size_t(yy) + top) * wp + xx + left) * C + c];
}

// Tile origins along a side: every tile - overlap pixels, the last one flush with the end.
std::vector<uint32_t> tile_starts(uint32_t size, uint32_t tile, uint32_t overlap) {
  if (size <= tile) return {0};
  std::vector<uint32_t> s;
  for (uint32_t p = 0; p + tile < size; p += tile - overlap) s.push_back(p);
  s.push_back(size - tile);
  return s;
}

// 1 inside, falling linearly over `overlap` pixels at both ends.
float ramp(uint32_t j, uint32_t n, uint32_t overlap) {
  return std::min(std::min(float(j + 1), float(n - j)) / float(overlap + 1), 1.0f);
}

void enhance(lkrt_model& m, const float* in, uint32_t H, uint32_t W, uint32_t tile, float* out) {
  const uint32_t C = m.image.c;
  const size_t n = size_t(C) * H * W;
  if (tile == 0 || (H <= tile && W <= tile)) {
    enhance_region(m, in, H, W, 0, 0, H, W, out);
  } else {
    const uint32_t overlap = std::max<uint32_t>(tile / 8, 8), th = std::min(tile, H), tw = std::min(tile, W);
    if (overlap >= tile) lkrt::fail(LKRT_ERR_ARGUMENT, "tile %u: at least 9 pixels", tile);
    std::vector<float>&sum = m.work[1], &weight = m.work[2], &part = m.work[3];
    sum.assign(n, 0.0f);
    weight.assign(size_t(H) * W, 0.0f);
    part.resize(size_t(C) * th * tw);
    for (uint32_t y0 : tile_starts(H, tile, overlap))
      for (uint32_t x0 : tile_starts(W, tile, overlap)) {
        enhance_region(m, in, H, W, y0, x0, th, tw, part.data());
        for (uint32_t y = 0; y < th; ++y)
          for (uint32_t x = 0; x < tw; ++x) {
            const float wt = ramp(y, th, overlap) * ramp(x, tw, overlap);
            for (uint32_t c = 0; c < C; ++c)
              sum[(size_t(c) * H + y0 + y) * W + x0 + x] += part[(size_t(c) * th + y) * tw + x] * wt;
            weight[size_t(y0 + y) * W + x0 + x] += wt;
          }
      }
    for (size_t i = 0; i < n; ++i) out[i] = sum[i] / weight[i % (size_t(H) * W)];
  }
  for (size_t i = 0; i < n; ++i) out[i] = std::min(1.0f, std::max(-1.0f, out[i]));
}

// ---------------------------------------------------------------------------------
// Denoiser

lkrt_status check_denoiser(const lkrt_model* m, const char* what, int32_t label, const float* cond) {
  if (m->kind != LKRT_KIND_DENOISER) return set_error(LKRT_ERR_ARGUMENT, std::string(what) + ": the model is not a denoiser");
  if (m->num_classes == 0 && label != -1)
    return set_error(LKRT_ERR_ARGUMENT, std::string(what) + ": label " + std::to_string(label) +
                                            " given to an unconditional model (pass -1)");
  if (m->num_classes != 0 && (label < -1 || label > int32_t(m->num_classes)))
    return set_error(LKRT_ERR_ARGUMENT, std::string(what) + ": label " + std::to_string(label) + " out of range: -1 or 0.." +
                                            std::to_string(m->num_classes) + " (" + std::to_string(m->num_classes) +
                                            " and -1: no class)");
  if (cond && m->tasks == 0)
    return set_error(LKRT_ERR_ARGUMENT, std::string(what) + ": a condition given to a model trained without tasks");
  return LKRT_OK;
}

// One call of the network at x_t (NCHW) and step t into out (NCHW); label -1 is no class,
// text NULL no prompt.
void denoise(lkrt_model& m, const float* x, uint32_t t, int32_t label, const float* text, const float* cond, float* out) {
  m.inputs = lkrt::Inputs{};
  m.inputs.image = x;
  m.inputs.timestep = float(t);
  m.inputs.label = label < 0 ? int32_t(m.num_classes) : label;
  m.inputs.cond = cond;
  if (m.text.width) m.inputs.text = text ? text : m.text.fixed(4);  // null_text
  to_nchw(lkrt::run_graph(m), out);
}

// The network's output as eps (a v prediction converted).
void predict_eps(lkrt_model& m, const float* x, uint32_t t, int32_t label, const float* text, const float* cond,
                 float* eps) {
  denoise(m, x, t, label, text, cond, eps);
  if (m.prediction == 1) {  // eps = sqrt(ab) v + sqrt(1 - ab) x_t
    const float a = float(std::sqrt(m.alpha_bar[t])), b = float(std::sqrt(1.0 - m.alpha_bar[t]));
    const size_t n = m.image.numel();
    for (size_t i = 0; i < n; ++i) eps[i] = a * eps[i] + b * x[i];
  }
}

// Classifier-free guidance: eps_u + w (eps_c - eps_u) for a label or a prompt and w != 1.
void guided_eps(lkrt_model& m, const lkrt_sample_options& o, const float* x, uint32_t t, const float* cond, float* eps) {
  predict_eps(m, x, t, o.label, o.text, cond, eps);
  const bool conditional = m.text.width ? o.text != nullptr
                                        : m.num_classes != 0 && o.label >= 0 && o.label != int32_t(m.num_classes);
  if (!conditional || o.guidance == 1.0f) return;
  std::vector<float>& uncond = m.work[4];
  uncond.resize(m.image.numel());
  predict_eps(m, x, t, -1, nullptr, cond, uncond.data());
  for (size_t i = 0; i < uncond.size(); ++i) eps[i] = uncond[i] + o.guidance * (eps[i] - uncond[i]);
}

// latentkit's sampling_timesteps: n steps from T - T/n (T - 1 when n >= T) down to 0.
std::vector<uint32_t> sampling_timesteps(uint32_t T, uint32_t n) {
  const uint32_t start = n >= T ? T - 1 : T - T / n;
  n = std::min(n, start + 1);
  std::vector<uint32_t> times(n);
  for (uint32_t i = 0; i < n; ++i)
    times[i] = n == 1 ? start : uint32_t(std::llround(double(start) * double(n - 1 - i) / double(n - 1)));
  return times;
}

// latentkit's dpmpp_timesteps: n steps from the last t whose lambda is at least -5.1
// (kDpmppLambdaMin) evenly down to start / n, rounded, n at most start.
std::vector<uint32_t> dpmpp_timesteps(const std::vector<double>& alpha_bar, uint32_t n) {
  uint32_t start = uint32_t(alpha_bar.size()) - 1;
  while (start > 0 && 0.5 * std::log(alpha_bar[start]) - 0.5 * std::log(1 - alpha_bar[start]) < -5.1) --start;
  n = std::max(1u, std::min(n, start));
  std::vector<uint32_t> times(n);
  for (uint32_t i = 0; i < n; ++i) times[i] = uint32_t(std::llround(double(start) * double(n - i) / double(n)));
  return times;
}

// The predicted clean image x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab), clipped when asked,
// and eps recomputed from the clipped x0 (as latentkit's ddim_step).
void predict_x0(size_t n, const float* x, float* eps, double ab, bool clip, float* x0) {
  const float s1 = float(std::sqrt(1 - ab)), sa = float(std::sqrt(ab));
  for (size_t i = 0; i < n; ++i) {
    x0[i] = (x[i] - s1 * eps[i]) / sa;
    if (clip) {
      x0[i] = std::min(1.0f, std::max(-1.0f, x0[i]));
      eps[i] = (x[i] - sa * x0[i]) / s1;
    }
  }
}

void sample(lkrt_model& m, const lkrt_sample_options& o, const float* x_T, const float* cond, float* out) {
  const size_t n = m.image.numel();
  const uint32_t steps = o.steps > 0 ? uint32_t(o.steps) : m.sample_steps;
  const bool dpmpp = o.sampler == LKRT_SAMPLER_DPMPP;
  const std::vector<uint32_t> times = dpmpp ? dpmpp_timesteps(m.alpha_bar, steps) : sampling_timesteps(m.timesteps, steps);
  std::vector<float>&x = m.work[0], &eps = m.work[1], &x0 = m.work[2], &prev_x0 = m.work[3];
  x.assign(x_T, x_T + n);
  eps.resize(n);
  x0.resize(n);
  prev_x0.resize(n);
  double prev_lambda = 0.0;
  for (size_t k = 0; k < times.size(); ++k) {
    const uint32_t t = times[k];
    const bool last = k + 1 == times.size();
    const double ab_t = m.alpha_bar[t], ab_prev = last ? 1.0 : m.alpha_bar[times[k + 1]];
    guided_eps(m, o, x.data(), t, cond, eps.data());
    predict_x0(n, x.data(), eps.data(), ab_t, o.clip != 0, x0.data());
    if (!dpmpp) {
      // x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev) eps
      const float a = float(std::sqrt(ab_prev)), b = float(std::sqrt(std::max(1 - ab_prev, 0.0)));
      for (size_t i = 0; i < n; ++i) x[i] = a * x0[i] + b * eps[i];
    } else {
      // DPM-Solver++(2M), data prediction, in lambda = log(alpha / sigma), as latentkit's
      // (diffusion.h): x_s = (sigma_s / sigma_t) x - alpha_s (e^-h - 1) D, h = lambda_s - lambda_t,
      // D = x0 + (x0 - x0_prev) / (2 r), r = (lambda_t - lambda_prev) / h; first order (D = x0)
      // on the first step; the last step, to the clean image (sigma = 0), gives x0.
      const double lambda_t = 0.5 * std::log(ab_t / (1 - ab_t));
      if (last) {
        std::copy(x0.begin(), x0.end(), x.begin());
      } else {
        const double lambda_s = 0.5 * std::log(ab_prev / (1 - ab_prev)), h = lambda_s - lambda_t;
        const float ratio = float(std::sqrt((1 - ab_prev) / (1 - ab_t)));
        const float coef = float(-std::sqrt(ab_prev) * std::expm1(-h));
        if (k == 0) {
          for (size_t i = 0; i < n; ++i) x[i] = ratio * x[i] + coef * x0[i];
        } else {
          const float half_inv_r = float(0.5 * h / (lambda_t - prev_lambda));
          for (size_t i = 0; i < n; ++i) x[i] = ratio * x[i] + coef * (x0[i] + half_inv_r * (x0[i] - prev_x0[i]));
        }
      }
      std::swap(x0, prev_x0);
      prev_lambda = lambda_t;
    }
    if (o.on_step) o.on_step(o.user, int32_t(k + 1), int32_t(times.size()));
  }
  std::copy(x.begin(), x.end(), out);
}

lkrt_status denoise_entry(lkrt_model* m, const char* what, const float* x_t, int32_t t, int32_t label, const float* text,
                          const float* cond, float* out) {
  if (!m || !x_t || !out) return set_error(LKRT_ERR_ARGUMENT, std::string(what) + ": model, x_t or out is null");
  lkrt_status s = check_denoiser(m, what, label, cond);
  if (s != LKRT_OK) return s;
  if (t < 0 || uint32_t(t) >= m->timesteps)
    return set_error(LKRT_ERR_ARGUMENT, std::string(what) + ": time step " + std::to_string(t) + " not in 0.." +
                                            std::to_string(m->timesteps - 1));
  return lkrt::guarded([&] { denoise(*m, x_t, uint32_t(t), label, text, cond, out); });
}

}  // namespace

extern "C" {

lkrt_status lkrt_enhance(lkrt_model* m, const float* in, int32_t height, int32_t width, int32_t tile, float* out) {
  if (!m || !in || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_enhance: model, in or out is null");
  if (m->kind != LKRT_KIND_ENHANCER) return set_error(LKRT_ERR_ARGUMENT, "lkrt_enhance: the model is not an enhancer");
  if (height < 1 || width < 1 || height > int32_t(lkrt::kMaxSide) || width > int32_t(lkrt::kMaxSide))
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_enhance: size " + std::to_string(width) + "x" + std::to_string(height) +
                                            " not in 1..16384");
  if (tile < 0) return set_error(LKRT_ERR_ARGUMENT, "lkrt_enhance: tile must be >= 0");
  return lkrt::guarded([&] { enhance(*m, in, uint32_t(height), uint32_t(width), uint32_t(tile), out); });
}

lkrt_status lkrt_denoise(lkrt_model* m, const float* x_t, int32_t t, int32_t label, const float* cond, float* out) {
  return denoise_entry(m, "lkrt_denoise", x_t, t, label, nullptr, cond, out);
}

lkrt_status lkrt_denoise_text(lkrt_model* m, const float* x_t, int32_t t, const float* text, const float* cond, float* out) {
  if (m && m->kind == LKRT_KIND_DENOISER && m->text.width == 0)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_denoise_text: this model has no text encoder (use lkrt_denoise)");
  return denoise_entry(m, "lkrt_denoise_text", x_t, t, -1, text, cond, out);
}

void lkrt_sample_options_init(lkrt_sample_options* o) {
  if (!o) return;
  *o = lkrt_sample_options{};
  o->sampler = LKRT_SAMPLER_DDIM;
  o->label = -1;
  o->guidance = 1.0f;
  o->clip = 1;
}

lkrt_status lkrt_sample(lkrt_model* m, const lkrt_sample_options* o, const float* x_T, const float* cond, float* out) {
  if (!m || !o || !x_T || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_sample: model, options, x_T or out is null");
  lkrt_status s = check_denoiser(m, "lkrt_sample", o->label, cond);
  if (s != LKRT_OK) return s;
  if (o->sampler != LKRT_SAMPLER_DDIM && o->sampler != LKRT_SAMPLER_DPMPP)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_sample: unknown sampler " + std::to_string(int(o->sampler)));
  if (o->steps < 0 || uint32_t(o->steps) > m->timesteps)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_sample: steps " + std::to_string(o->steps) + " not in 1.." +
                                            std::to_string(m->timesteps) + " (0: the model's " +
                                            std::to_string(m->sample_steps) + ")");
  if (!std::isfinite(o->guidance)) return set_error(LKRT_ERR_ARGUMENT, "lkrt_sample: guidance is not finite");
  if (o->text && m->text.width == 0)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_sample: a prompt embedding given to a model without a text encoder");
  return lkrt::guarded([&] { sample(*m, *o, x_T, cond, out); });
}

lkrt_status lkrt_inpaint_condition(const lkrt_model* m, const float* image, const float* fill, float* cond) {
  if (!m || !image || !fill || !cond) return set_error(LKRT_ERR_ARGUMENT, "lkrt_inpaint_condition: a pointer is null");
  if (m->kind != LKRT_KIND_DENOISER || !(m->tasks & 1))
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_inpaint_condition: the model was not trained for inpainting");
  const size_t C = m->image.c, P = m->image.pixels();
  for (size_t p = 0; p < P; ++p) {
    const float known = fill[p] > 0.5f ? 0.0f : 1.0f;
    for (size_t c = 0; c < C; ++c) cond[c * P + p] = image[c * P + p] * known;
    cond[C * P + p] = known;
    cond[(C + 1) * P + p] = 0.0f;
  }
  return LKRT_OK;
}

lkrt_status lkrt_restore_condition(const lkrt_model* m, const float* degraded, float* cond) {
  if (!m || !degraded || !cond) return set_error(LKRT_ERR_ARGUMENT, "lkrt_restore_condition: a pointer is null");
  if (m->kind != LKRT_KIND_DENOISER || !(m->tasks & 2))
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_restore_condition: the model was not trained for restoring");
  const size_t C = m->image.c, P = m->image.pixels();
  std::copy(degraded, degraded + C * P, cond);
  std::fill(cond + C * P, cond + (C + 1) * P, 0.0f);
  std::fill(cond + (C + 1) * P, cond + (C + 2) * P, 1.0f);
  return LKRT_OK;
}

}  // extern "C"

namespace {

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

// xoshiro256** seeded through splitmix64; normals by Box-Muller, in pairs (cos, sin).
void lkrt_normals(uint64_t seed, float* out, size_t n) {
  if (!out) return;
  uint64_t s[4];
  for (uint64_t& word : s) {
    seed += 0x9e3779b97f4a7c15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    word = z ^ (z >> 31);
  }
  const auto next = [&s] {
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  };
  for (size_t i = 0; i < n; i += 2) {
    const double u1 = double((next() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    const double u2 = double(next() >> 11) * 0x1.0p-53;        // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = float(r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) out[i + 1] = float(r * std::sin(2 * M_PI * u2));
  }
}
