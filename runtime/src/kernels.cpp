#include "kernels.h"

#include <algorithm>
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
#endif

namespace lkrt {
namespace kernels {

const char* isa_name() {
#if defined(LKRT_AVX2) && defined(__F16C__)
  return "avx2+fma+f16c";
#elif defined(LKRT_AVX2)
  return "avx2+fma";
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

// One row of A times NP panels (16 * NP columns in 2 * NP accumulators), over the
// nonzero entries [j0, j1) of the row; accumulates into C when `accumulate`.
template <int NP>
inline void sparse_row(const uint32_t* idx, const float* val, uint32_t j0, uint32_t j1, const float* const* B, float* C,
                       bool accumulate) {
#if defined(LKRT_AVX2)
  __m256 acc[2 * NP];
  for (int q = 0; q < 2 * NP; ++q) acc[q] = accumulate ? _mm256_loadu_ps(C + 8 * q) : _mm256_setzero_ps();
  for (uint32_t j = j0; j < j1; ++j) {
    const size_t k = idx[j];
    const __m256 a = _mm256_broadcast_ss(val + j);
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
    const size_t k = idx[j];
    const float32x4_t a = vld1q_dup_f32(val + j);
    for (int q = 0; q < NP; ++q)
      for (int c = 0; c < 4; ++c) acc[4 * q + c] = vfmaq_f32(acc[4 * q + c], a, vld1q_f32(B[q] + 16 * k + 4 * c));
  }
  for (int q = 0; q < 4 * NP; ++q) vst1q_f32(C + 4 * q, acc[q]);
#else
  float acc[16 * NP];
  for (int q = 0; q < 16 * NP; ++q) acc[q] = accumulate ? C[q] : 0.0f;
  for (uint32_t j = j0; j < j1; ++j) {
    const size_t k = idx[j];
    const float a = val[j];
    for (int q = 0; q < NP; ++q)
      for (int c = 0; c < 16; ++c) acc[16 * q + c] += a * B[q][16 * k + c];
  }
  for (int q = 0; q < 16 * NP; ++q) C[q] = acc[q];
#endif
}

#if defined(LKRT_AVX2)
// Four rows of A times one panel, interleaved so that 8 accumulator chains hide the FMA
// latency (one row alone has only 2). Each row's sums run in the same order as sparse_row.
inline void sparse_4rows_1panel(const uint32_t* const* idx, const float* const* val, const uint32_t* j0,
                                const uint32_t* j1, const float* B, float* const* C, bool accumulate) {
  __m256 acc[4][2];
  uint32_t n = UINT32_MAX;
  for (int r = 0; r < 4; ++r) {
    acc[r][0] = accumulate ? _mm256_loadu_ps(C[r]) : _mm256_setzero_ps();
    acc[r][1] = accumulate ? _mm256_loadu_ps(C[r] + 8) : _mm256_setzero_ps();
    n = std::min(n, j1[r] - j0[r]);
  }
  for (uint32_t t = 0; t < n; ++t)
    for (int r = 0; r < 4; ++r) {
      const size_t k = idx[r][j0[r] + t];
      const __m256 a = _mm256_broadcast_ss(val[r] + j0[r] + t);
      acc[r][0] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k + 8), acc[r][1]);
    }
  for (int r = 0; r < 4; ++r) {
    for (uint32_t j = j0[r] + n; j < j1[r]; ++j) {
      const size_t k = idx[r][j];
      const __m256 a = _mm256_broadcast_ss(val[r] + j);
      acc[r][0] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, _mm256_load_ps(B + 16 * k + 8), acc[r][1]);
    }
    _mm256_storeu_ps(C[r], acc[r][0]);
    _mm256_storeu_ps(C[r] + 8, acc[r][1]);
  }
}
#elif defined(LKRT_NEON)
// The same for NEON: 16 accumulator chains (one row has 4) for the 4-cycle FMA latency
// of the big cores; each row's sums run in the same order as sparse_row.
inline void sparse_4rows_1panel(const uint32_t* const* idx, const float* const* val, const uint32_t* j0,
                                const uint32_t* j1, const float* B, float* const* C, bool accumulate) {
  float32x4_t acc[4][4];
  uint32_t n = UINT32_MAX;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) acc[r][c] = accumulate ? vld1q_f32(C[r] + 4 * c) : vdupq_n_f32(0.0f);
    n = std::min(n, j1[r] - j0[r]);
  }
  for (uint32_t t = 0; t < n; ++t)
    for (int r = 0; r < 4; ++r) {
      const float* b = B + 16 * size_t(idx[r][j0[r] + t]);
      const float32x4_t a = vld1q_dup_f32(val[r] + j0[r] + t);
      for (int c = 0; c < 4; ++c) acc[r][c] = vfmaq_f32(acc[r][c], a, vld1q_f32(b + 4 * c));
    }
  for (int r = 0; r < 4; ++r) {
    for (uint32_t j = j0[r] + n; j < j1[r]; ++j) {
      const float* b = B + 16 * size_t(idx[r][j]);
      const float32x4_t a = vld1q_dup_f32(val[r] + j);
      for (int c = 0; c < 4; ++c) acc[r][c] = vfmaq_f32(acc[r][c], a, vld1q_f32(b + 4 * c));
    }
    for (int c = 0; c < 4; ++c) vst1q_f32(C[r] + 4 * c, acc[r][c]);
  }
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

void gemm_f32_sparse(int M, int K, const uint32_t* idx, const float* val, const uint32_t* start, const float* B,
                     int p0, int p1, float* C, size_t ldc) {
  constexpr int kPanels = 6;  // 12 accumulators
  const int blocks = sparse_blocks(K);
  for (int pb = p0; pb < p1; pb += kPanels) {
    const int np = std::min(kPanels, p1 - pb);
    const float* panels[kPanels];
    for (int q = 0; q < np; ++q) panels[q] = B + size_t(pb + q) * size_t(K) * 16;
    // k-blocks outer: the rows of the np panels for one k-block stay in L1 across all rows of A.
    for (int b = 0; b < blocks; ++b) {
      int m = 0;
#if defined(LKRT_AVX2) || defined(LKRT_NEON)
      if (np == 1)
        for (; m + 4 <= M; m += 4) {
          const uint32_t* ri[4];
          const float* rv[4];
          uint32_t j0[4], j1[4];
          float* c[4];
          for (int r = 0; r < 4; ++r) {
            const uint32_t* rs = start + size_t(m + r) * (blocks + 1);
            ri[r] = idx + size_t(m + r) * K;
            rv[r] = val + size_t(m + r) * K;
            j0[r] = rs[b];
            j1[r] = rs[b + 1];
            c[r] = C + size_t(m + r) * ldc + 16 * size_t(pb);
          }
          sparse_4rows_1panel(ri, rv, j0, j1, panels[0], c, b > 0);
        }
#endif
      for (; m < M; ++m) {
        const uint32_t* rs = start + size_t(m) * (blocks + 1);
        const uint32_t* ri = idx + size_t(m) * K;
        const float* rv = val + size_t(m) * K;
        float* c = C + size_t(m) * ldc + 16 * size_t(pb);
        switch (np) {
          case 6: sparse_row<6>(ri, rv, rs[b], rs[b + 1], panels, c, b > 0); break;
          case 5: sparse_row<5>(ri, rv, rs[b], rs[b + 1], panels, c, b > 0); break;
          case 4: sparse_row<4>(ri, rv, rs[b], rs[b + 1], panels, c, b > 0); break;
          case 3: sparse_row<3>(ri, rv, rs[b], rs[b + 1], panels, c, b > 0); break;
          case 2: sparse_row<2>(ri, rv, rs[b], rs[b + 1], panels, c, b > 0); break;
          default: sparse_row<1>(ri, rv, rs[b], rs[b + 1], panels, c, b > 0); break;
        }
      }
    }
  }
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

}  // namespace kernels
}  // namespace lkrt
