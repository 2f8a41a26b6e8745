// The kernels of kernels.h called directly, against double-precision loops over the
// unpacked matrices. Whatever path this build compiles (AVX2, NEON or scalar) runs
// here, on shapes that reach every branch: 1 to 6 panels at once (gemm's register
// blocks), 4-row groups and their leftover rows, k-blocks with and without nonzeros,
// odd K (the two-k unrolling of the matrix-vector products) and vector tails. The
// activations (the vector e^x), GroupNorm's two passes and attention's dot products
// against double references, from subnormal to overflowing inputs, infinities and NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels.h"
#include "reference.h"

namespace {

namespace kernels = lkrt::kernels;
constexpr int kPanel = kernels::kPanel;

// 64-byte aligned storage, as the loader allocates packed weights (the AVX2 kernels use
// aligned loads).
template <class T>
struct Aligned {
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  explicit Aligned(size_t n) : size(n) {
    const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    data.reset(static_cast<T*>(std::aligned_alloc(64, bytes ? bytes : 64)));
    std::memset(data.get(), 0, bytes ? bytes : 64);
  }
  T* get() const { return data.get(); }
  size_t size;
  std::unique_ptr<T, Free> data;
};

size_t packed_index(int K, int k, int n) { return (size_t(n / kPanel) * K + k) * kPanel + n % kPanel; }
int panels_of(int N) { return (N + kPanel - 1) / kPanel; }

// A half-precision value from its bits, by the definition (IEEE 754 binary16).
double half_value(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
  const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}

// Finite halves of every exponent, subnormals included, with random signs and mantissas.
std::vector<uint16_t> random_halves(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint16_t> h(n);
  for (uint16_t& v : h) v = uint16_t((rng() & 0x8000u) | (rng() % 31u) << 10 | (rng() & 1023u));
  return h;
}

struct GemmCase {
  int M, K, N;
};

class GemmSparseTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmSparseTest, MatchesReferenceAndPanelSplits) {
  const int M = GetParam().M, K = GetParam().K, N = GetParam().N;
  const int panels = panels_of(N), blocks = kernels::sparse_blocks(K);
  // A: [M, K] with about half zeros (as after a ReLU); row 1 all zero, and the second
  // k-block of row 2 all zero, so empty rows and empty blocks occur.
  std::vector<float> A = ref::random_values(size_t(M) * K, 1.0f, 21);
  for (size_t i = 0; i < A.size(); ++i)
    if (i % 2 == 0 || i % 7 == 3) A[i] = 0.0f;
  if (M > 1) std::fill(A.begin() + K, A.begin() + 2 * K, 0.0f);
  if (M > 2)
    for (int k = kernels::kSparseKc; k < std::min(K, 2 * kernels::kSparseKc); ++k) A[size_t(2) * K + k] = 0.0f;
  std::vector<float> W = ref::random_values(size_t(K) * N, 0.3f, 22);  // W[k][n]
  Aligned<float> B(size_t(panels) * K * kPanel);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) B.get()[packed_index(K, k, n)] = W[size_t(k) * N + n];

  std::vector<uint32_t> idx(size_t(M) * K), start(size_t(M) * (blocks + 1));
  std::vector<float> val(size_t(M) * K);
  size_t nonzeros = 0;
  for (float a : A) nonzeros += a != 0.0f;
  EXPECT_EQ(kernels::sparse_rows(K, A.data(), K, 0, M, idx.data(), val.data(), start.data()), nonzeros);

  std::vector<float> want(size_t(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int k = 0; k < K; ++k) acc += double(A[size_t(m) * K + k]) * W[size_t(k) * N + n];
      want[size_t(m) * N + n] = float(acc);
    }
  const size_t ldc = size_t(panels) * kPanel;
  auto unpadded = [&](const std::vector<float>& C) {
    std::vector<float> out(size_t(M) * N);
    for (int m = 0; m < M; ++m) std::memcpy(&out[size_t(m) * N], &C[size_t(m) * ldc], N * sizeof(float));
    return out;
  };

  // All panels in one call (blocks of up to 6 panels, then the rest).
  std::vector<float> whole(size_t(M) * ldc, NAN);
  kernels::gemm_f32_sparse(M, K, idx.data(), val.data(), start.data(), B.get(), 0, panels, whole.data(), ldc);
  EXPECT_LT(ref::max_rel_error(unpadded(whole), want), 1e-5) << "one call, isa " << kernels::isa_name();
  for (int m = 0; m < M; ++m)
    for (size_t j = N; j < ldc; ++j) EXPECT_EQ(whole[m * ldc + j], 0.0f) << "padding column " << j;

  // One panel per call: the 4-row path for whole groups of 4 rows. The threads split the
  // panels anyhow, so the result must not change by a bit.
  std::vector<float> single(size_t(M) * ldc, NAN);
  for (int p = 0; p < panels; ++p)
    kernels::gemm_f32_sparse(M, K, idx.data(), val.data(), start.data(), B.get(), p, p + 1, single.data(), ldc);
  EXPECT_EQ(0, std::memcmp(whole.data(), single.data(), whole.size() * sizeof(float))) << "panel split changes bits";

  // Rows built in two halves give the same lists.
  std::vector<uint32_t> idx2(idx.size()), start2(start.size());
  std::vector<float> val2(val.size());
  kernels::sparse_rows(K, A.data(), K, 0, M / 2, idx2.data(), val2.data(), start2.data());
  kernels::sparse_rows(K, A.data(), K, M / 2, M, idx2.data(), val2.data(), start2.data());
  EXPECT_EQ(start, start2);
  for (int m = 0; m < M; ++m) {
    const uint32_t n = start[size_t(m) * (blocks + 1) + blocks];
    for (uint32_t j = 0; j < n; ++j) {
      EXPECT_EQ(idx[size_t(m) * K + j], idx2[size_t(m) * K + j]);
      EXPECT_EQ(val[size_t(m) * K + j], A[size_t(m) * K + idx[size_t(m) * K + j]]);
    }
  }
}

// The dense product (inputs that do not follow a ReLU): against the reference, and the
// multi-row tiles of the narrow layers (2 or 3 panels) bit for bit against one row at a time.
class GemmDenseTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmDenseTest, MatchesReferenceAndRowByRow) {
  const int M = GetParam().M, K = GetParam().K, N = GetParam().N;
  const int panels = panels_of(N);
  const std::vector<float> A = ref::random_values(size_t(M) * K, 1.0f, 31);
  const std::vector<float> W = ref::random_values(size_t(K) * N, 0.3f, 32);
  Aligned<float> B(size_t(panels) * K * kPanel);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) B.get()[packed_index(K, k, n)] = W[size_t(k) * N + n];
  const size_t ldc = size_t(panels) * kPanel;
  std::vector<float> whole(size_t(M) * ldc, NAN), rows(size_t(M) * ldc, NAN);
  kernels::gemm_f32_dense(M, K, A.data(), K, B.get(), 0, panels, whole.data(), ldc);
  for (int m = 0; m < M; ++m)
    kernels::gemm_f32_dense(1, K, A.data() + size_t(m) * K, K, B.get(), 0, panels, rows.data() + size_t(m) * ldc, ldc);
  EXPECT_EQ(0, std::memcmp(whole.data(), rows.data(), whole.size() * sizeof(float))) << "row tiles change bits";
  std::vector<float> got(size_t(M) * N), want(size_t(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int k = 0; k < K; ++k) acc += double(A[size_t(m) * K + k]) * W[size_t(k) * N + n];
      want[size_t(m) * N + n] = float(acc);
      got[size_t(m) * N + n] = whole[size_t(m) * ldc + n];
    }
  EXPECT_LT(ref::max_rel_error(got, want), 1e-5) << "isa " << kernels::isa_name();
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmDenseTest,
                         ::testing::Values(GemmCase{7, 130, 32}, GemmCase{9, 64, 32}, GemmCase{5, 200, 48},
                                           GemmCase{8, 9, 40}, GemmCase{6, 65, 16}, GemmCase{4, 288, 100}),
                         [](const ::testing::TestParamInfo<GemmCase>& info) {
                           return "m" + std::to_string(info.param.M) + "_k" + std::to_string(info.param.K) + "_n" +
                                  std::to_string(info.param.N);
                         });

INSTANTIATE_TEST_SUITE_P(Shapes, GemmSparseTest,
                         ::testing::Values(GemmCase{1, 5, 16}, GemmCase{4, 64, 16}, GemmCase{5, 65, 33},
                                           GemmCase{9, 130, 96}, GemmCase{8, 200, 100}, GemmCase{7, 3, 112},
                                           GemmCase{13, 129, 17}, GemmCase{3, 64, 200}),
                         [](const ::testing::TestParamInfo<GemmCase>& info) {
                           return "m" + std::to_string(info.param.M) + "_k" + std::to_string(info.param.K) + "_n" +
                                  std::to_string(info.param.N);
                         });

// x: [K] with zeros; B packed from W[k][n]; y over all panels and one panel per call.
class MatvecTest : public ::testing::TestWithParam<std::pair<int, int>> {
 protected:
  void SetUp() override {
    std::tie(K, N) = GetParam();
    panels = panels_of(N);
    x = ref::random_values(K, 1.0f, 31);
    for (int k = 0; k < K; k += 3) x[k] = 0.0f;
  }
  // y must match want in the first N columns whether computed in one call or per panel.
  template <class F>
  void check(const std::vector<double>& want, F matvec, const char* type) {
    std::vector<float> whole(size_t(panels) * kPanel, NAN), single(size_t(panels) * kPanel, NAN);
    matvec(0, panels, whole.data());
    for (int p = 0; p < panels; ++p) matvec(p, p + 1, single.data());
    EXPECT_EQ(0, std::memcmp(whole.data(), single.data(), whole.size() * sizeof(float))) << type;
    std::vector<float> got(whole.begin(), whole.begin() + N), expect(want.begin(), want.end());
    EXPECT_LT(ref::max_rel_error(got, expect), 1e-5) << type << ", isa " << kernels::isa_name();
    for (size_t j = N; j < whole.size(); ++j) EXPECT_EQ(whole[j], 0.0f) << type << " padding column " << j;
  }
  int K = 0, N = 0, panels = 0;
  std::vector<float> x;
};

TEST_P(MatvecTest, Fp32) {
  std::vector<float> W = ref::random_values(size_t(K) * N, 0.3f, 32);
  Aligned<float> B(size_t(panels) * K * kPanel);
  std::vector<double> want(N, 0.0);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      B.get()[packed_index(K, k, n)] = W[size_t(k) * N + n];
      want[n] += double(x[k]) * W[size_t(k) * N + n];
    }
  check(want, [&](int p0, int p1, float* y) { kernels::matvec_f32(K, x.data(), B.get(), p0, p1, y); }, "fp32");
}

TEST_P(MatvecTest, Fp16) {
  std::vector<uint16_t> W = random_halves(size_t(K) * N, 33);
  Aligned<uint16_t> B(size_t(panels) * K * kPanel);
  std::vector<double> want(N, 0.0);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      B.get()[packed_index(K, k, n)] = W[size_t(k) * N + n];
      want[n] += double(x[k]) * half_value(W[size_t(k) * N + n]);
    }
  check(want, [&](int p0, int p1, float* y) { kernels::matvec_f16(K, x.data(), B.get(), p0, p1, y); }, "fp16");
}

TEST_P(MatvecTest, Int8) {
  std::mt19937 rng(34);
  Aligned<int8_t> B(size_t(panels) * K * kPanel);
  Aligned<float> scale(size_t(panels) * kPanel);
  std::vector<double> want(N, 0.0);
  for (int n = 0; n < N; ++n) scale.get()[n] = 0.001f * float(1 + n % 5);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      const int8_t q = int8_t(int(rng() % 255u) - 127);  // -127..127, as the writer stores
      B.get()[packed_index(K, k, n)] = q;
      want[n] += double(x[k]) * q * scale.get()[n];
    }
  check(want, [&](int p0, int p1, float* y) { kernels::matvec_i8(K, x.data(), B.get(), scale.get(), p0, p1, y); },
        "int8");
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatvecTest,
                         ::testing::Values(std::make_pair(1, 16), std::make_pair(2, 5), std::make_pair(3, 33),
                                           std::make_pair(17, 48), std::make_pair(100, 100),
                                           std::make_pair(132, 7)),
                         [](const ::testing::TestParamInfo<std::pair<int, int>>& info) {
                           return "k" + std::to_string(info.param.first) + "_n" + std::to_string(info.param.second);
                         });

TEST(Kernels, AddInplaceEveryLength) {
  for (size_t n = 0; n <= 37; ++n) {
    std::vector<float> dst = ref::random_values(n + 1, 1.0f, uint32_t(40 + n)), src = ref::random_values(n, 1.0f, 41);
    std::vector<float> want = dst;
    for (size_t i = 0; i < n; ++i) want[i] += src[i];
    kernels::add_inplace(dst.data(), src.data(), n);
    EXPECT_EQ(dst, want) << "n " << n;  // one rounding per element, whatever the width: exact
  }
}

// Activations: magnitudes from 1e-40 (subnormal) to 1e4 of both signs, the limits of the
// vector exp (88, -87.3) and of tanh's two formulas (0.625) with their neighbours, and
// random values; 1,003 of them, not a whole number of vectors.
std::vector<float> activation_inputs() {
  std::vector<float> x = {0.0f, -0.0f, 1e-40f, -1e-40f, 88.0f, -88.0f, 88.5f, -88.5f, 87.3f, -87.3f, 87.34f, -87.34f,
                          100.0f, -100.0f, 1e4f, -1e4f, 0.625f, -0.625f, 0.3125f, -0.3125f, 44.0f, -44.0f};
  for (float v : {0.625f, 88.0f, 44.0f, 87.33654f}) {
    x.push_back(std::nextafter(v, 0.0f));
    x.push_back(-std::nextafter(v, 0.0f));
    x.push_back(std::nextafter(v, INFINITY));
    x.push_back(-std::nextafter(v, INFINITY));
  }
  for (int e = -38 * 4; e <= 2 * 4; ++e) {  // 10^(e / 4)
    x.push_back(float(std::pow(10.0, e / 4.0)));
    x.push_back(-float(std::pow(10.0, e / 4.0)));
  }
  std::vector<float> r = ref::random_values(1003 - x.size(), 30.0f, 50);
  x.insert(x.end(), r.begin(), r.end());
  return x;
}

struct Activation {
  const char* name;
  void (*run)(float*, size_t);
  double (*want)(double);
};
const Activation kActivations[] = {
    {"silu", kernels::silu_inplace, [](double v) { return v / (1.0 + std::exp(-v)); }},
    {"sigmoid", kernels::sigmoid_inplace, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
    {"tanh", kernels::tanh_inplace, [](double v) { return std::tanh(v); }},
};

// Within 4e-7 relative (2 to 3 float roundings after an exp within 2e-7) or 1e-36
// absolute (where the vector exp saturates, results below 1e-36).
TEST(Kernels, ActivationsMatchDoubleReference) {
  const std::vector<float> x = activation_inputs();
  ASSERT_EQ(x.size(), 1003u);
  for (const Activation& a : kActivations) {
    std::vector<float> y = x;
    a.run(y.data(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = a.want(double(x[i])), err = std::fabs(double(y[i]) - want);
      EXPECT_LE(err, 4e-7 * std::fabs(want) + 1e-36) << a.name << "(" << x[i] << ") = " << y[i] << ", want " << want;
    }
  }
}

TEST(Kernels, ActivationsOfInfinityAndNan) {
  std::vector<float> x = {INFINITY, -INFINITY, NAN, -NAN, 1.0f};
  std::vector<float> y = x;
  kernels::silu_inplace(y.data(), y.size());
  EXPECT_EQ(y[0], INFINITY);
  EXPECT_TRUE(std::isnan(y[1])) << y[1];  // -inf / (1 + inf), as torch
  EXPECT_TRUE(std::isnan(y[2]) && std::isnan(y[3]));
  y = x;
  kernels::sigmoid_inplace(y.data(), y.size());
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_TRUE(std::isnan(y[2]) && std::isnan(y[3]));
  y = x;
  kernels::tanh_inplace(y.data(), y.size());
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_TRUE(std::isnan(y[2]) && std::isnan(y[3]));
  // The NaNs leave their neighbours alone.
  EXPECT_NEAR(y[4], std::tanh(1.0), 1e-7);
}

// An element's result depends on its value only: the same bits at any position, in a
// whole vector or in the tail, for every length.
TEST(Kernels, ActivationsSameAtEveryPositionAndLength) {
  const std::vector<float> x = ref::random_values(37, 6.0f, 51);
  for (const Activation& a : kActivations) {
    std::vector<float> one(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      one[i] = x[i];
      a.run(&one[i], 1);
    }
    for (size_t n = 0; n <= x.size(); ++n) {
      std::vector<float> y(x.begin(), x.begin() + n);
      y.push_back(7.0f);  // past the end: untouched
      a.run(y.data(), n);
      EXPECT_EQ(0, std::memcmp(y.data(), one.data(), n * sizeof(float))) << a.name << " n " << n;
      EXPECT_EQ(y[n], 7.0f) << a.name << " n " << n;
    }
  }
}

// GroupNorm's normalisation pass: channel counts below, at and past the vector widths,
// with and without the SiLU, into another buffer and in place.
TEST(Kernels, ChannelAffineMatchesReference) {
  for (size_t C : {1, 3, 4, 7, 8, 12, 17, 32, 100}) {
    const size_t P = 11;
    const std::vector<float> x = ref::random_values(P * C, 4.0f, uint32_t(60 + C));
    const std::vector<float> scale = ref::random_values(C, 2.0f, 61), shift = ref::random_values(C, 3.0f, 62);
    for (bool silu : {false, true}) {
      std::vector<float> y(P * C + 1, 7.0f);
      kernels::channel_affine(P, C, x.data(), scale.data(), shift.data(), silu, y.data());
      EXPECT_EQ(y[P * C], 7.0f) << "wrote past the end, C " << C;
      for (size_t p = 0; p < P; ++p)
        for (size_t c = 0; c < C; ++c) {
          const double xs = double(x[p * C + c]) * scale[c], v = xs + shift[c];
          const double want = silu ? v / (1.0 + std::exp(-v)) : v;
          // One or two roundings of the affine, scaled by SiLU's slope (at most 1.1).
          const double tol = 2.5e-7 * (std::fabs(xs) + std::fabs(shift[c])) + 4e-7 * std::fabs(want);
          EXPECT_NEAR(y[p * C + c], want, tol) << "C " << C << " silu " << silu << " p " << p << " c " << c;
        }
      std::vector<float> inplace = x;
      kernels::channel_affine(P, C, inplace.data(), scale.data(), shift.data(), silu, inplace.data());
      EXPECT_EQ(0, std::memcmp(inplace.data(), y.data(), P * C * sizeof(float))) << "in place, C " << C;
    }
  }
}

// GroupNorm's statistics: rows of a strided matrix added in double into existing sums. The
// sums add the same doubles in the same order as a plain loop: exact.
TEST(Kernels, ColumnStatisticsInDouble) {
  for (size_t n : {1, 2, 3, 4, 5, 8, 13, 32}) {
    const size_t P = 9, ld = n + 3;
    std::vector<float> x = ref::random_values(P * ld, 100.0f, uint32_t(70 + n));
    for (size_t i = 0; i < x.size(); i += 5) x[i] += 1e4f;  // a large mean
    std::vector<double> sum(n + 1), mean(n), sq(n + 1), want_sum(n + 1), want_sq(n + 1);
    for (size_t c = 0; c < n; ++c) {
      sum[c] = want_sum[c] = 0.5 * double(c);
      sq[c] = want_sq[c] = 0.25 * double(c);
      mean[c] = 100.0 * double(c) - 3.0;
    }
    sum[n] = want_sum[n] = sq[n] = want_sq[n] = -1.0;  // past the end: untouched
    for (size_t p = 0; p < P; ++p)
      for (size_t c = 0; c < n; ++c) {
        want_sum[c] += double(x[p * ld + c]);
        const double d = double(x[p * ld + c]) - mean[c];
        want_sq[c] += d * d;
      }
    kernels::column_sums_f64(P, n, x.data(), ld, sum.data());
    kernels::column_sq_deviations_f64(P, n, x.data(), ld, mean.data(), sq.data());
    EXPECT_EQ(sum, want_sum) << "n " << n;
    for (size_t c = 0; c <= n; ++c) EXPECT_NEAR(sq[c], want_sq[c], 1e-15 * std::fabs(want_sq[c])) << "n " << n << " c " << c;
  }
}

TEST(Kernels, DotAndAxpyEveryLength) {
  for (size_t n : {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000}) {
    const std::vector<float> a = ref::random_values(n, 1.0f, 80), b = ref::random_values(n, 2.0f, 81);
    double want = 0, magnitude = 0;
    for (size_t i = 0; i < n; ++i) {
      want += double(a[i]) * b[i];
      magnitude += std::fabs(double(a[i]) * b[i]);
    }
    const float got = kernels::dot(a.data(), b.data(), n);
    EXPECT_NEAR(got, want, 1e-6 * magnitude + 1e-30) << "n " << n;
    EXPECT_EQ(got, kernels::dot(a.data(), b.data(), n)) << "n " << n;  // the same on every call

    std::vector<float> y = ref::random_values(n + 1, 1.0f, 82);
    const std::vector<float> y0 = y;
    kernels::axpy(-0.75f, a.data(), y.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double ax = -0.75 * double(a[i]);
      EXPECT_NEAR(y[i], y0[i] + ax, 1.2e-7 * (std::fabs(y0[i]) + std::fabs(ax))) << "n " << n << " i " << i;
    }
    EXPECT_EQ(y[n], y0[n]) << "n " << n;
  }
}

TEST(Kernels, IsaName) {
  const std::string isa = kernels::isa_name();
#if defined(LKRT_SCALAR)
  EXPECT_EQ(isa, "scalar");
#elif defined(__aarch64__)
  EXPECT_EQ(isa, "neon");
#elif defined(__AVX2__) && defined(__FMA__)
  EXPECT_EQ(isa.rfind("avx2+fma", 0), 0u) << isa;
#else
  EXPECT_EQ(isa, "scalar");
#endif
  EXPECT_TRUE(kernels::cpu_supported());
}

}  // namespace
