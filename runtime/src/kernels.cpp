#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "format.h"

// LKRT_SCALAR (cmake -DLKRT_SIMD=OFF) keeps the portable loops whatever the target has.
#if !defined(LKRT_SCALAR) && defined(__AVX2__) && defined(__FMA__)
#define LKRT_AVX2 1
#include <immintrin.h>
#elif !defined(LKRT_SCALAR) && defined(__ARM_NEON) && defined(__aarch64__)
// arm64 always has NEON with FMA and fp16 conversion; 32-bit ARM keeps the scalar loops.
#define LKRT_NEON 1
#include <arm_neon.h>
#elif !defined(LKRT_SCALAR) && defined(__wasm_simd128__)
// WebAssembly SIMD128 is 4 floats wide like NEON: the NEON kernels, on a shim of intrinsics.
#define LKRT_NEON 1
#include "neon_wasm.h"
#endif

namespace lkrt {
namespace kernels {

const char* isa_name() {
#if defined(LKRT_AVX2) && defined(__F16C__)
  return "avx2+fma+f16c";
#elif defined(LKRT_AVX2)
  return "avx2+fma";
#elif defined(LKRT_NEON) && defined(__wasm_simd128__)
  return "wasm-simd128";
#elif defined(LKRT_NEON)
  return "neon";
#else
  return "scalar";
#endif
}

bool cpu_supported() {
#if defined(LKRT_AVX2) && (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  // Every AVX2 CPU (Haswell, Zen and later) has F16C; clang cannot query it here.
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

size_t sparse_rows(int K, const float* A, size_t lda, int m0, int m1, uint32_t* idx, float* val, uint32_t* start) {
  const int blocks = sparse_blocks(K);
  size_t total = 0;
  for (int m = m0; m < m1; ++m) {
    const float* a = A + size_t(m) * lda;
    uint32_t* ri = idx + size_t(m) * K;
    float* rv = val + size_t(m) * K;
    uint32_t* rs = start + size_t(m) * (blocks + 1);
    uint32_t n = 0;
    for (int b = 0; b < blocks; ++b) {
      rs[b] = n;
      const int k1 = std::min(K, (b + 1) * kSparseKc);
      for (int k = b * kSparseKc; k < k1; ++k) {  // branch-free compaction
        ri[n] = uint32_t(k);
        rv[n] = a[k];
        n += a[k] != 0.0f;
      }
    }
    rs[blocks] = n;
    total += n;
  }
  return total;
}

namespace {

// A row of A as the products read it: entry j is A[k(j)] = *v(j). The sparse one lists the
// nonzeros (idx, val); the dense one is the row itself, j = k.
struct SparseRow {
  const uint32_t* idx;
  const float* val;
  size_t k(uint32_t j) const { return idx[j]; }
  const float* v(uint32_t j) const { return val + j; }
};
struct DenseRow {
  const float* a;
  size_t k(uint32_t j) const { return j; }
  const float* v(uint32_t j) const { return a + j; }
};

// One row of A times NP panels (16 * NP columns in 2 * NP accumulators), over the
// entries [j0, j1) of the row; accumulates into C when `accumulate`.
template <int NP, class Row>
inline void row_product(const Row& row, uint32_t j0, uint32_t j1, const float* const* B, float* C, bool accumulate) {
#if defined(LKRT_AVX2)
  __m256 acc[2 * NP];
  for (int q = 0; q < 2 * NP; ++q) acc[q] = accumulate ? _mm256_loadu_ps(C + 8 * q) : _mm256_setzero_ps();
  for (uint32_t j = j0; j < j1; ++j) {
    const size_t k = row.k(j);
    const __m256 a = _mm256_broadcast_ss(row.v(j));
    for (int q = 0; q < NP; ++q) {
      acc[2 * q] = _mm256_fmadd_ps(a, _mm256_load_ps(B[q] + 16 * k), acc[2 * q]);
      acc[2 * q + 1] = _mm256_fmadd_ps(a, _mm256_load_ps(B[q] + 16 * k + 8), acc[2 * q + 1]);
    }
  }
  for (int q = 0; q < 2 * NP; ++q) _mm256_storeu_ps(C + 8 * q, acc[q]);
#elif defined(LKRT_NEON)
  float32x4_t acc[4 * NP];  // 24 of the 32 vector registers at NP = 6
  for (int q = 0; q < 4 * NP; ++q) acc[q] = accumulate ? vld1q_f32(C + 4 * q) : vdupq_n_f32(0.0f);
  for (uint32_t j = j0; j < j1; ++j) {
    const size_t k = row.k(j);
    const float32x4_t a = vld1q_dup_f32(row.v(j));
    for (int q = 0; q < NP; ++q)
      for (int c = 0; c < 4; ++c) acc[4 * q + c] = vfmaq_f32(acc[4 * q + c], a, vld1q_f32(B[q] + 16 * k + 4 * c));
  }
  for (int q = 0; q < 4 * NP; ++q) vst1q_f32(C + 4 * q, acc[q]);
#else
  float acc[16 * NP];
  for (int q = 0; q < 16 * NP; ++q) acc[q] = accumulate ? C[q] : 0.0f;
  for (uint32_t j = j0; j < j1; ++j) {
    const size_t k = row.k(j);
    const float a = *row.v(j);
    for (int q = 0; q < NP; ++q)
      for (int c = 0; c < 16; ++c) acc[16 * q + c] += a * B[q][16 * k + c];
  }
  for (int q = 0; q < 16 * NP; ++q) C[q] = acc[q];
#endif
}

#if defined(LKRT_AVX2)
// Four rows of A times one panel, interleaved so that 8 accumulator chains hide the FMA
// latency (one row alone has only 2). Each row's sums run in the same order as row_product.
template <class Row>
inline void rows4_product(const Row* row, const uint32_t* j0, const uint32_t* j1, const float* B, float* const* C,
                          bool accumulate) {
  __m256 acc[4][2];
  uint32_t n = UINT32_MAX;
  for (int r = 0; r < 4; ++r) {
    acc[r][0] = accumulate ? _mm256_loadu_ps(C[r]) : _mm256_setzero_ps();
    acc[r][1] = accumulate ? _mm256_loadu_ps(C[r] + 8) : _mm256_setzero_ps();
    n = std::min(n, j1[r] - j0[r]);
  }
  for (uint32_t t = 0; t < n; ++t)
    for (int r = 0; r < 4; ++r) {
      const size_t k = row[r].k(j0[r] + t);
      const __m256 a = _mm256_broadcast_ss(row[r].v(j0[r] + t));
      acc[r][0] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k + 8), acc[r][1]);
    }
  for (int r = 0; r < 4; ++r) {
    for (uint32_t j = j0[r] + n; j < j1[r]; ++j) {
      const size_t k = row[r].k(j);
      const __m256 a = _mm256_broadcast_ss(row[r].v(j));
      acc[r][0] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k + 8), acc[r][1]);
    }
    _mm256_storeu_ps(C[r], acc[r][0]);
    _mm256_storeu_ps(C[r] + 8, acc[r][1]);
  }
}
#elif defined(LKRT_NEON)
// The same for NEON: 16 accumulator chains (one row has 4) for the 4-cycle FMA latency
// of the big cores; each row's sums run in the same order as row_product.
template <class Row>
inline void rows4_product(const Row* row, const uint32_t* j0, const uint32_t* j1, const float* B, float* const* C,
                          bool accumulate) {
  float32x4_t acc[4][4];
  uint32_t n = UINT32_MAX;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) acc[r][c] = accumulate ? vld1q_f32(C[r] + 4 * c) : vdupq_n_f32(0.0f);
    n = std::min(n, j1[r] - j0[r]);
  }
  for (uint32_t t = 0; t < n; ++t)
    for (int r = 0; r < 4; ++r) {
      const float* b = B + 16 * row[r].k(j0[r] + t);
      const float32x4_t a = vld1q_dup_f32(row[r].v(j0[r] + t));
      for (int c = 0; c < 4; ++c) acc[r][c] = vfmaq_f32(acc[r][c], a, vld1q_f32(b + 4 * c));
    }
  for (int r = 0; r < 4; ++r) {
    for (uint32_t j = j0[r] + n; j < j1[r]; ++j) {
      const float* b = B + 16 * row[r].k(j);
      const float32x4_t a = vld1q_dup_f32(row[r].v(j));
      for (int c = 0; c < 4; ++c) acc[r][c] = vfmaq_f32(acc[r][c], a, vld1q_f32(b + 4 * c));
    }
    for (int c = 0; c < 4; ++c) vst1q_f32(C[r] + 4 * c, acc[r][c]);
  }
}
#endif

#if defined(LKRT_AVX2) || defined(LKRT_NEON)
// R dense rows of A times NP panels at once, for the narrow layers (NP = 2 or 3: 32 or 48
// output channels) where one row's 2 NP accumulators cannot hide the FMA latency: each
// panel load serves R rows, and R * 2 NP (AVX2) or R * 4 NP (NEON) chains run side by side.
// Each entry's sum runs over k in the same order as row_product's, so the result is the
// same bit for bit.
template <int R, int NP>
inline void dense_rows_product(const float* const* A, uint32_t j0, uint32_t j1, const float* const* B, float* const* C,
                               bool accumulate) {
#if defined(LKRT_AVX2)
  constexpr int kVecs = 2, kWidth = 8;
  using V = __m256;
  const auto load = [](const float* p) { return _mm256_load_ps(p); };
  const auto load_c = [](const float* p) { return _mm256_loadu_ps(p); };
  const auto store_c = [](float* p, V v) { _mm256_storeu_ps(p, v); };
  const auto zero = [] { return _mm256_setzero_ps(); };
  const auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
  const auto splat = [](const float* p) { return _mm256_broadcast_ss(p); };
#else
  constexpr int kVecs = 4, kWidth = 4;
  using V = float32x4_t;
  const auto load = [](const float* p) { return vld1q_f32(p); };
  const auto load_c = load;
  const auto store_c = [](float* p, V v) { vst1q_f32(p, v); };
  const auto zero = [] { return vdupq_n_f32(0.0f); };
  const auto fma = [](V a, V b, V c) { return vfmaq_f32(c, a, b); };
  const auto splat = [](const float* p) { return vld1q_dup_f32(p); };
#endif
  V acc[R][kVecs * NP];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < kVecs * NP; ++q) acc[r][q] = accumulate ? load_c(C[r] + kWidth * q) : zero();
  for (uint32_t k = j0; k < j1; ++k)
    for (int r = 0; r < R; ++r) {
      const V a = splat(A[r] + k);
      for (int q = 0; q < NP; ++q)
        for (int v = 0; v < kVecs; ++v) acc[r][kVecs * q + v] = fma(a, load(B[q] + 16 * size_t(k) + kWidth * v), acc[r][kVecs * q + v]);
    }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < kVecs * NP; ++q) store_c(C[r] + kWidth * q, acc[r][q]);
}
#endif

#if defined(LKRT_NEON)
// acc[c] += x * w_c for the 16 columns of one k of a panel, in the weights' storage type.
inline void fma_16(float32x4_t* acc, float32x4_t x, float32x4_t w0, float32x4_t w1, float32x4_t w2, float32x4_t w3) {
  acc[0] = vfmaq_f32(acc[0], x, w0);
  acc[1] = vfmaq_f32(acc[1], x, w1);
  acc[2] = vfmaq_f32(acc[2], x, w2);
  acc[3] = vfmaq_f32(acc[3], x, w3);
}

inline void fma_16(float32x4_t* acc, float32x4_t x, const float* b) {
  fma_16(acc, x, vld1q_f32(b), vld1q_f32(b + 4), vld1q_f32(b + 8), vld1q_f32(b + 12));
}

inline void fma_16(float32x4_t* acc, float32x4_t x, const uint16_t* b) {
  const float16x8_t h0 = vreinterpretq_f16_u16(vld1q_u16(b)), h1 = vreinterpretq_f16_u16(vld1q_u16(b + 8));
  fma_16(acc, x, vcvt_f32_f16(vget_low_f16(h0)), vcvt_high_f32_f16(h0), vcvt_f32_f16(vget_low_f16(h1)),
         vcvt_high_f32_f16(h1));
}

inline void fma_16(float32x4_t* acc, float32x4_t x, const int8_t* b) {
  const int8x16_t q = vld1q_s8(b);
  const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
  fma_16(acc, x, vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), vcvtq_f32_s32(vmovl_high_s16(lo)),
         vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), vcvtq_f32_s32(vmovl_high_s16(hi)));
}

// One panel of a matrix-vector product: even k into acc[0..3], odd k into acc[4..7]
// (8 chains), summed at the end.
template <class T>
inline void matvec_panel(int K, const float* x, const T* Bp, float32x4_t* sum) {
  float32x4_t acc[8];
  for (int c = 0; c < 8; ++c) acc[c] = vdupq_n_f32(0.0f);
  int k = 0;
  for (; k + 1 < K; k += 2) {
    fma_16(acc, vld1q_dup_f32(x + k), Bp + 16 * size_t(k));
    fma_16(acc + 4, vld1q_dup_f32(x + k + 1), Bp + 16 * size_t(k) + 16);
  }
  if (k < K) fma_16(acc, vld1q_dup_f32(x + k), Bp + 16 * size_t(k));
  for (int c = 0; c < 4; ++c) sum[c] = vaddq_f32(acc[c], acc[4 + c]);
}
#endif

}  // namespace

namespace {

// C = A B over panels [p0, p1) for rows of A that `rows` gives: rows.row(m) and the range
// [j0, j1) of its entries in k-block b.
template <class Rows>
void gemm_blocked(int M, int K, const Rows& rows, const float* B, int p0, int p1, float* C, size_t ldc) {
#if defined(__wasm_simd128__)
  // The engines' x86-64 code has 16 vector registers, not arm64's 32: 3 panels (12
  // accumulators) and one row at a time keep them in registers (15-25% faster than the
  // NEON tiles in Chromium).
  constexpr int kPanels = 3;
  constexpr bool kRowTiles = false;
#else
  constexpr int kPanels = 6;  // 12 AVX2 accumulators (24 NEON)
  constexpr bool kRowTiles = true;
#endif
  const int blocks = sparse_blocks(K);
  for (int pb = p0; pb < p1; pb += kPanels) {
    const int np = std::min(kPanels, p1 - pb);
    const float* panels[kPanels];
    for (int q = 0; q < np; ++q) panels[q] = B + size_t(pb + q) * size_t(K) * 16;
    // k-blocks outer: the rows of the np panels for one k-block stay in L1 across all rows of A.
    for (int b = 0; b < blocks; ++b) {
      int m = 0;
#if defined(LKRT_AVX2) || defined(LKRT_NEON)
      if (kRowTiles && np == 1)
        for (; m + 4 <= M; m += 4) {
          typename Rows::Row r4[4];
          uint32_t j0[4], j1[4];
          float* c[4];
          for (int r = 0; r < 4; ++r) {
            r4[r] = rows.row(m + r);
            rows.range(m + r, b, &j0[r], &j1[r]);
            c[r] = C + size_t(m + r) * ldc + 16 * size_t(pb);
          }
          rows4_product(r4, j0, j1, panels[0], c, b > 0);
        }
      // Dense rows at 2 or 3 panels: 3 or 2 rows at a time (12 AVX2 accumulators).
      if (kRowTiles && Rows::kDense && (np == 2 || np == 3)) {
        const int R = np == 2 ? 3 : 2;
        for (; m + R <= M; m += R) {
          const float* a[3];
          float* c[3];
          uint32_t j0, j1;
          rows.range(m, b, &j0, &j1);
          for (int r = 0; r < R; ++r) {
            a[r] = rows.row(m + r).v(0);
            c[r] = C + size_t(m + r) * ldc + 16 * size_t(pb);
          }
          if (np == 2) dense_rows_product<3, 2>(a, j0, j1, panels, c, b > 0);
          else dense_rows_product<2, 3>(a, j0, j1, panels, c, b > 0);
        }
      }
#endif
      for (; m < M; ++m) {
        const typename Rows::Row row = rows.row(m);
        uint32_t j0, j1;
        rows.range(m, b, &j0, &j1);
        float* c = C + size_t(m) * ldc + 16 * size_t(pb);
        switch (np) {
          case 6: row_product<6>(row, j0, j1, panels, c, b > 0); break;
          case 5: row_product<5>(row, j0, j1, panels, c, b > 0); break;
          case 4: row_product<4>(row, j0, j1, panels, c, b > 0); break;
          case 3: row_product<3>(row, j0, j1, panels, c, b > 0); break;
          case 2: row_product<2>(row, j0, j1, panels, c, b > 0); break;
          default: row_product<1>(row, j0, j1, panels, c, b > 0); break;
        }
      }
    }
  }
}

struct SparseRows {
  using Row = SparseRow;
  static constexpr bool kDense = false;
  int K, blocks;
  const uint32_t *idx, *start;
  const float* val;
  Row row(int m) const { return {idx + size_t(m) * K, val + size_t(m) * K}; }
  void range(int m, int b, uint32_t* j0, uint32_t* j1) const {
    const uint32_t* rs = start + size_t(m) * (blocks + 1);
    *j0 = rs[b];
    *j1 = rs[b + 1];
  }
};

struct DenseRows {
  using Row = DenseRow;
  static constexpr bool kDense = true;
  int K;
  const float* A;
  size_t lda;
  Row row(int m) const { return {A + size_t(m) * lda}; }
  void range(int, int b, uint32_t* j0, uint32_t* j1) const {
    *j0 = uint32_t(b * kSparseKc);
    *j1 = uint32_t(std::min(K, (b + 1) * kSparseKc));
  }
};

}  // namespace

void gemm_f32_sparse(int M, int K, const uint32_t* idx, const float* val, const uint32_t* start, const float* B,
                     int p0, int p1, float* C, size_t ldc) {
  gemm_blocked(M, K, SparseRows{K, sparse_blocks(K), idx, start, val}, B, p0, p1, C, ldc);
}

void gemm_f32_dense(int M, int K, const float* A, size_t lda, const float* B, int p0, int p1, float* C, size_t ldc) {
  gemm_blocked(M, K, DenseRows{K, A, lda}, B, p0, p1, C, ldc);
}

void matvec_f32(int K, const float* x, const float* B, int p0, int p1, float* y) {
  for (int p = p0; p < p1; ++p) {
    const float* Bp = B + size_t(p) * size_t(K) * 16;
#if defined(LKRT_AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 1 < K; k += 2) {
      __m256 x0 = _mm256_broadcast_ss(x + k), x1 = _mm256_broadcast_ss(x + k + 1);
      const float* b = Bp + 16 * size_t(k);
      a0 = _mm256_fmadd_ps(x0, _mm256_load_ps(b), a0);
      a1 = _mm256_fmadd_ps(x0, _mm256_load_ps(b + 8), a1);
      a2 = _mm256_fmadd_ps(x1, _mm256_load_ps(b + 16), a2);
      a3 = _mm256_fmadd_ps(x1, _mm256_load_ps(b + 24), a3);
    }
    if (k < K) {
      __m256 x0 = _mm256_broadcast_ss(x + k);
      const float* b = Bp + 16 * size_t(k);
      a0 = _mm256_fmadd_ps(x0, _mm256_load_ps(b), a0);
      a1 = _mm256_fmadd_ps(x0, _mm256_load_ps(b + 8), a1);
    }
    _mm256_storeu_ps(y + 16 * size_t(p), _mm256_add_ps(a0, a2));
    _mm256_storeu_ps(y + 16 * size_t(p) + 8, _mm256_add_ps(a1, a3));
#elif defined(LKRT_NEON)
    float32x4_t sum[4];
    matvec_panel(K, x, Bp, sum);
    for (int c = 0; c < 4; ++c) vst1q_f32(y + 16 * size_t(p) + 4 * c, sum[c]);
#else
    float acc[16] = {0};
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < 16; ++j) acc[j] += x[k] * Bp[16 * size_t(k) + j];
    std::memcpy(y + 16 * size_t(p), acc, sizeof acc);
#endif
  }
}

void matvec_f16(int K, const float* x, const uint16_t* B, int p0, int p1, float* y) {
  for (int p = p0; p < p1; ++p) {
    const uint16_t* Bp = B + size_t(p) * size_t(K) * 16;
#if defined(LKRT_AVX2) && defined(__F16C__)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int k = 0; k < K; ++k) {
      __m256 xk = _mm256_broadcast_ss(x + k);
      const uint16_t* b = Bp + 16 * size_t(k);
      a0 = _mm256_fmadd_ps(xk, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(b))), a0);
      a1 = _mm256_fmadd_ps(xk, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(b + 8))), a1);
    }
    _mm256_storeu_ps(y + 16 * size_t(p), a0);
    _mm256_storeu_ps(y + 16 * size_t(p) + 8, a1);
#elif defined(LKRT_NEON)
    float32x4_t sum[4];
    matvec_panel(K, x, Bp, sum);
    for (int c = 0; c < 4; ++c) vst1q_f32(y + 16 * size_t(p) + 4 * c, sum[c]);
#else
    float acc[16] = {0};
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < 16; ++j) acc[j] += x[k] * format::half_to_float(Bp[16 * size_t(k) + j]);
    std::memcpy(y + 16 * size_t(p), acc, sizeof acc);
#endif
  }
}

void matvec_i8(int K, const float* x, const int8_t* B, const float* col_scale, int p0, int p1, float* y) {
  for (int p = p0; p < p1; ++p) {
    const int8_t* Bp = B + size_t(p) * size_t(K) * 16;
    float* yp = y + 16 * size_t(p);
    const float* sp = col_scale + 16 * size_t(p);
#if defined(LKRT_AVX2)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int k = 0; k < K; ++k) {
      __m256 xk = _mm256_broadcast_ss(x + k);
      __m128i q = _mm_load_si128(reinterpret_cast<const __m128i*>(Bp + 16 * size_t(k)));
      __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
      __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(q, q)));
      a0 = _mm256_fmadd_ps(xk, w0, a0);
      a1 = _mm256_fmadd_ps(xk, w1, a1);
    }
    _mm256_storeu_ps(yp, _mm256_mul_ps(a0, _mm256_load_ps(sp)));
    _mm256_storeu_ps(yp + 8, _mm256_mul_ps(a1, _mm256_load_ps(sp + 8)));
#elif defined(LKRT_NEON)
    float32x4_t sum[4];
    matvec_panel(K, x, Bp, sum);
    for (int c = 0; c < 4; ++c) vst1q_f32(yp + 4 * c, vmulq_f32(sum[c], vld1q_f32(sp + 4 * c)));
#else
    float acc[16] = {0};
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < 16; ++j) acc[j] += x[k] * float(Bp[16 * size_t(k) + j]);
    for (int j = 0; j < 16; ++j) yp[j] = acc[j] * sp[j];
#endif
  }
}

void add_inplace(float* __restrict dst, const float* __restrict src, size_t n) {
  size_t i = 0;
#if defined(LKRT_NEON)
  for (; i + 8 <= n; i += 8) {
    vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), vld1q_f32(src + i)));
    vst1q_f32(dst + i + 4, vaddq_f32(vld1q_f32(dst + i + 4), vld1q_f32(src + i + 4)));
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vaddq_f32(vld1q_f32(dst + i), vld1q_f32(src + i)));
#endif
  for (; i < n; ++i) dst[i] += src[i];
}

// ---------------------------------------------------------------------------------
// Elementwise activations, GroupNorm's passes, attention's dot products.

namespace {

#if defined(LKRT_AVX2) || defined(LKRT_NEON)
// Cephes' expf: e^x = 2^k e^r, k = round(x log2 e), r = x - k ln2 with ln2 in two parts
// (0.693359375 is exact in few bits) so r is exact, then a degree-6 polynomial for e^r.
constexpr float kExpHi = 88.0f;        // above: +inf (e^88 = 1.65e38; k stays <= 127)
constexpr float kExpLo = -87.33654f;   // below: clamped (e^-87.34 = 1.2e-38, k >= -126)
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
// Cephes' tanhf below 0.625: x + x^3 P(x^2).
constexpr float kTanhSmall = 0.625f;
constexpr float kTanhPoly[5] = {-5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f,
                                -3.33332819422e-1f};
#endif

#if defined(LKRT_AVX2)
constexpr size_t kWidth = 8;
using Vec = __m256;
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }

inline Vec exp_v(Vec x) {
  const Vec big = _mm256_cmp_ps(x, _mm256_set1_ps(kExpHi), _CMP_GT_OQ);
  // MINPS / MAXPS return their second operand when one is NaN: a NaN x passes through.
  x = _mm256_max_ps(_mm256_set1_ps(kExpLo), _mm256_min_ps(_mm256_set1_ps(kExpHi), x));
  const Vec k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  Vec r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Lo), r);
  Vec p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^k from its exponent bits; NaN converts to INT_MIN, whose bits give 1.0 and keep p's NaN.
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_blendv_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(bits)), _mm256_set1_ps(INFINITY), big);
}

inline Vec neg_v(Vec x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }
inline Vec silu_v(Vec x) { return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp_v(neg_v(x)))); }
inline Vec sigmoid_v(Vec x) {
  return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), exp_v(neg_v(x))));
}
inline Vec tanh_v(Vec x) {
  const Vec sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f)), a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  const Vec z = _mm256_mul_ps(x, x);
  Vec p = _mm256_set1_ps(kTanhPoly[0]);
  for (int i = 1; i < 5; ++i) p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(kTanhPoly[i]));
  const Vec small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const Vec e = exp_v(_mm256_add_ps(a, a));
  const Vec large = _mm256_sub_ps(_mm256_set1_ps(1.0f),
                                  _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  return _mm256_blendv_ps(_mm256_or_ps(large, sign), small, _mm256_cmp_ps(a, _mm256_set1_ps(kTanhSmall), _CMP_LT_OQ));
}
inline Vec affine_v(Vec x, Vec scale, Vec shift) { return _mm256_fmadd_ps(x, scale, shift); }
#elif defined(LKRT_NEON)
constexpr size_t kWidth = 4;
using Vec = float32x4_t;
inline Vec vload(const float* p) { return vld1q_f32(p); }
inline void vstore(float* p, Vec v) { vst1q_f32(p, v); }

inline Vec exp_v(Vec x) {
  const uint32x4_t big = vcgtq_f32(x, vdupq_n_f32(kExpHi));
  x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(kExpHi)), vdupq_n_f32(kExpLo));  // FMIN / FMAX keep a NaN
  const Vec k = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(kLog2e)));
  Vec r = vfmsq_f32(x, k, vdupq_n_f32(kLn2Hi));
  r = vfmsq_f32(r, k, vdupq_n_f32(kLn2Lo));
  Vec p = vdupq_n_f32(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = vfmaq_f32(vdupq_n_f32(kExpPoly[i]), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  // 2^k from its exponent bits; NaN converts to 0, whose bits give 1.0 and keep p's NaN.
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  return vbslq_f32(big, vdupq_n_f32(INFINITY), vmulq_f32(p, vreinterpretq_f32_s32(bits)));
}

inline Vec silu_v(Vec x) { return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), exp_v(vnegq_f32(x)))); }
inline Vec sigmoid_v(Vec x) { return vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), exp_v(vnegq_f32(x)))); }
inline Vec tanh_v(Vec x) {
  const Vec a = vabsq_f32(x), z = vmulq_f32(x, x);
  Vec p = vdupq_n_f32(kTanhPoly[0]);
  for (int i = 1; i < 5; ++i) p = vfmaq_f32(vdupq_n_f32(kTanhPoly[i]), p, z);
  const Vec small = vfmaq_f32(x, vmulq_f32(p, z), x);
  const Vec e = exp_v(vaddq_f32(a, a));
  const Vec large = vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, vdupq_n_f32(1.0f))));
  // large >= 0: x's sign bit over it.
  const Vec signed_large = vbslq_f32(vdupq_n_u32(0x80000000u), x, large);
  return vbslq_f32(vcltq_f32(a, vdupq_n_f32(kTanhSmall)), small, signed_large);
}
inline Vec affine_v(Vec x, Vec scale, Vec shift) { return vfmaq_f32(shift, x, scale); }
#endif

#if defined(LKRT_AVX2) || defined(LKRT_NEON)
// f over x[0, n) in place: whole vectors, then the tail through a zero-padded vector (every
// element takes the same path).
template <class F>
inline void map_inplace(float* x, size_t n, F f) {
  size_t i = 0;
  for (; i + kWidth <= n; i += kWidth) vstore(x + i, f(vload(x + i)));
  if (i < n) {
    float t[kWidth] = {};
    std::memcpy(t, x + i, (n - i) * sizeof(float));
    vstore(t, f(vload(t)));
    std::memcpy(x + i, t, (n - i) * sizeof(float));
  }
}

template <bool kSilu>
void channel_affine_rows(size_t P, size_t C, const float* x, const float* scale, const float* shift, float* y) {
  const size_t whole = C / kWidth * kWidth;
  float ts[kWidth] = {}, tb[kWidth] = {};  // the tail's scale and shift, zero-padded
  std::memcpy(ts, scale + whole, (C - whole) * sizeof(float));
  std::memcpy(tb, shift + whole, (C - whole) * sizeof(float));
  for (size_t p = 0; p < P; ++p) {
    const float* xp = x + p * C;
    float* yp = y + p * C;
    for (size_t c = 0; c < whole; c += kWidth) {
      Vec v = affine_v(vload(xp + c), vload(scale + c), vload(shift + c));
      if (kSilu) v = silu_v(v);
      vstore(yp + c, v);
    }
    if (whole < C) {
      float t[kWidth] = {};
      std::memcpy(t, xp + whole, (C - whole) * sizeof(float));
      Vec v = affine_v(vload(t), vload(ts), vload(tb));
      if (kSilu) v = silu_v(v);
      vstore(t, v);
      std::memcpy(yp + whole, t, (C - whole) * sizeof(float));
    }
  }
}
#endif

}  // namespace

void silu_inplace(float* x, size_t n) {
#if defined(LKRT_AVX2) || defined(LKRT_NEON)
  map_inplace(x, n, [](Vec v) { return silu_v(v); });
#else
  for (size_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
#endif
}

void sigmoid_inplace(float* x, size_t n) {
#if defined(LKRT_AVX2) || defined(LKRT_NEON)
  map_inplace(x, n, [](Vec v) { return sigmoid_v(v); });
#else
  for (size_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
#endif
}

void tanh_inplace(float* x, size_t n) {
#if defined(LKRT_AVX2) || defined(LKRT_NEON)
  map_inplace(x, n, [](Vec v) { return tanh_v(v); });
#else
  for (size_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
#endif
}

void channel_affine(size_t P, size_t C, const float* x, const float* scale, const float* shift, bool silu, float* y) {
#if defined(LKRT_AVX2) || defined(LKRT_NEON)
  if (silu)
    channel_affine_rows<true>(P, C, x, scale, shift, y);
  else
    channel_affine_rows<false>(P, C, x, scale, shift, y);
#else
  for (size_t p = 0; p < P; ++p)
    for (size_t c = 0; c < C; ++c) {
      const float v = x[p * C + c] * scale[c] + shift[c];
      y[p * C + c] = silu ? v / (1.0f + std::exp(-v)) : v;
    }
#endif
}

void column_sums_f64(size_t P, size_t n, const float* x, size_t ld, double* sum) {
  for (size_t p = 0; p < P; ++p) {
    const float* row = x + p * ld;
    size_t c = 0;
#if defined(LKRT_AVX2)
    for (; c + 4 <= n; c += 4)
      _mm256_storeu_pd(sum + c, _mm256_add_pd(_mm256_loadu_pd(sum + c), _mm256_cvtps_pd(_mm_loadu_ps(row + c))));
#elif defined(LKRT_NEON)
    for (; c + 4 <= n; c += 4) {
      const float32x4_t v = vld1q_f32(row + c);
      vst1q_f64(sum + c, vaddq_f64(vld1q_f64(sum + c), vcvt_f64_f32(vget_low_f32(v))));
      vst1q_f64(sum + c + 2, vaddq_f64(vld1q_f64(sum + c + 2), vcvt_high_f64_f32(v)));
    }
#endif
    for (; c < n; ++c) sum[c] += double(row[c]);
  }
}

void column_sq_deviations_f64(size_t P, size_t n, const float* x, size_t ld, const double* mean, double* sq) {
  for (size_t p = 0; p < P; ++p) {
    const float* row = x + p * ld;
    size_t c = 0;
#if defined(LKRT_AVX2)
    for (; c + 4 <= n; c += 4) {
      const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(row + c)), _mm256_loadu_pd(mean + c));
      _mm256_storeu_pd(sq + c, _mm256_fmadd_pd(d, d, _mm256_loadu_pd(sq + c)));
    }
#elif defined(LKRT_NEON)
    for (; c + 4 <= n; c += 4) {
      const float32x4_t v = vld1q_f32(row + c);
      const float64x2_t d0 = vsubq_f64(vcvt_f64_f32(vget_low_f32(v)), vld1q_f64(mean + c));
      const float64x2_t d1 = vsubq_f64(vcvt_high_f64_f32(v), vld1q_f64(mean + c + 2));
      vst1q_f64(sq + c, vfmaq_f64(vld1q_f64(sq + c), d0, d0));
      vst1q_f64(sq + c + 2, vfmaq_f64(vld1q_f64(sq + c + 2), d1, d1));
    }
#endif
    for (; c < n; ++c) {
      const double d = double(row[c]) - mean[c];
      sq[c] += d * d;
    }
  }
}

float dot(const float* a, const float* b, size_t n) {
  size_t i = 0;
#if defined(LKRT_AVX2)
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (; i + 32 <= n; i += 32)
    for (int q = 0; q < 4; ++q) acc[q] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * q), _mm256_loadu_ps(b + i + 8 * q), acc[q]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
  const __m256 s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float total = _mm_cvtss_f32(h);
#elif defined(LKRT_NEON)
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (; i + 16 <= n; i += 16)
    for (int q = 0; q < 4; ++q) acc[q] = vfmaq_f32(acc[q], vld1q_f32(a + i + 4 * q), vld1q_f32(b + i + 4 * q));
  for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], vld1q_f32(a + i), vld1q_f32(b + i));
  float total = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
#else
  float total = 0.0f;
#endif
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

void axpy(float a, const float* __restrict x, float* __restrict y, size_t n) {
  size_t i = 0;
#if defined(LKRT_AVX2)
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#elif defined(LKRT_NEON)
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
#endif
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace kernels
}  // namespace lkrt
