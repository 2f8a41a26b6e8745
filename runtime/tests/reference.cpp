#include "reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "format.h"

namespace ref {

std::vector<float> random_values(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> conv2d(const std::vector<float>& x, int C, int H, int W, const std::vector<float>& w,
                          const float* bias, int out, int k, int stride, int pad, int* oh, int* ow) {
  *oh = (H + 2 * pad - k) / stride + 1;
  *ow = (W + 2 * pad - k) / stride + 1;
  std::vector<float> y(size_t(out) * *oh * *ow);
  for (int o = 0; o < out; ++o)
    for (int oy = 0; oy < *oh; ++oy)
      for (int ox = 0; ox < *ow; ++ox) {
        double acc = bias ? bias[o] : 0.0;
        for (int c = 0; c < C; ++c)
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              acc += double(x[(size_t(c) * H + iy) * W + ix]) * w[((size_t(o) * C + c) * k + ky) * k + kx];
            }
        y[(size_t(o) * *oh + oy) * *ow + ox] = float(acc);
      }
  return y;
}

std::vector<float> conv_transpose2d(const std::vector<float>& x, int C, int H, int W, const std::vector<float>& w,
                                    const float* bias, int out, int k, int stride, int pad, int* oh, int* ow) {
  *oh = (H - 1) * stride - 2 * pad + k;
  *ow = (W - 1) * stride - 2 * pad + k;
  std::vector<double> acc(size_t(out) * *oh * *ow, 0.0);
  for (int o = 0; o < out; ++o)
    for (size_t p = 0; p < size_t(*oh) * *ow; ++p) acc[size_t(o) * *oh * *ow + p] = bias ? bias[o] : 0.0;
  // Scatter form, straight from the definition: input (c, iy, ix) adds w[c, o, ky, kx]
  // at output (iy * stride - pad + ky, ix * stride - pad + kx).
  for (int c = 0; c < C; ++c)
    for (int iy = 0; iy < H; ++iy)
      for (int ix = 0; ix < W; ++ix)
        for (int o = 0; o < out; ++o)
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              int oy = iy * stride - pad + ky, ox = ix * stride - pad + kx;
              if (oy < 0 || oy >= *oh || ox < 0 || ox >= *ow) continue;
              acc[(size_t(o) * *oh + oy) * *ow + ox] +=
                  double(x[(size_t(c) * H + iy) * W + ix]) * w[((size_t(c) * out + o) * k + ky) * k + kx];
            }
  return std::vector<float>(acc.begin(), acc.end());
}

std::vector<float> gemm(const std::vector<float>& x, const std::vector<float>& w, const float* bias, int out, int in) {
  std::vector<float> y(out);
  for (int o = 0; o < out; ++o) {
    double acc = bias ? bias[o] : 0.0;
    for (int i = 0; i < in; ++i) acc += double(w[size_t(o) * in + i]) * x[i];
    y[o] = float(acc);
  }
  return y;
}

std::vector<float> upsample_nearest(const std::vector<float>& x, int C, int H, int W, int s) {
  std::vector<float> y(size_t(C) * H * s * W * s);
  for (int c = 0; c < C; ++c)
    for (int oy = 0; oy < H * s; ++oy)
      for (int ox = 0; ox < W * s; ++ox)
        y[(size_t(c) * H * s + oy) * W * s + ox] = x[(size_t(c) * H + oy / s) * W + ox / s];
  return y;
}

std::vector<float> int8_roundtrip(const std::vector<float>& w, const std::vector<int>& dims, int axis) {
  size_t inner = 1;
  for (size_t a = axis + 1; a < dims.size(); ++a) inner *= dims[a];
  const size_t channels = dims[axis];
  std::vector<float> maxabs(channels, 0.0f), out(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    size_t c = (i / inner) % channels;
    maxabs[c] = std::max(maxabs[c], std::fabs(w[i]));
  }
  for (size_t i = 0; i < w.size(); ++i) {
    size_t c = (i / inner) % channels;
    float scale = maxabs[c] / 127.0f;
    float q = scale > 0 ? std::min(127.0f, std::max(-127.0f, std::round(w[i] / scale))) : 0.0f;
    out[i] = q * scale;
  }
  return out;
}

std::vector<float> fp16_roundtrip(const std::vector<float>& w) {
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) out[i] = lkrt::format::half_to_float(lkrt::format::float_to_half(w[i]));
  return out;
}

std::vector<float> as_stored(const std::vector<float>& w, const std::vector<int>& dims, int axis, lkrt_weight_type t) {
  if (t == LKRT_WEIGHT_INT8) return int8_roundtrip(w, dims, axis);
  if (t == LKRT_WEIGHT_FP16) return fp16_roundtrip(w);
  return w;
}

double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num = std::max(num, std::fabs(double(a[i]) - b[i]));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return den > 0 ? num / den : num;
}

lkrt_model* load_or_fail(const std::string& bytes) {
  lkrt_model* m = nullptr;
  lkrt_status s = lkrt_model_load_memory(bytes.data(), bytes.size(), &m);
  EXPECT_EQ(s, LKRT_OK) << lkrt_last_error();
  return m;
}

std::vector<float> run(lkrt_model* m, const std::vector<float>& z, int label) {
  std::vector<float> out(size_t(lkrt_model_channels(m)) * lkrt_model_height(m) * lkrt_model_width(m));
  lkrt_status s = lkrt_generate(m, z.data(), label, out.data());
  EXPECT_EQ(s, LKRT_OK) << lkrt_last_error();
  return out;
}

std::vector<float> run_checked(const std::string& bytes, const std::vector<float>& z) {
  lkrt_model* m = load_or_fail(bytes);
  if (!m) return {};
  std::vector<float> one = run(m, z);
  EXPECT_EQ(lkrt_set_threads(m, 3), LKRT_OK);
  std::vector<float> three = run(m, z);
  lkrt_model_free(m);
  EXPECT_EQ(0, std::memcmp(one.data(), three.data(), one.size() * sizeof(float))) << "threads change the result";
  return one;
}

}  // namespace ref
