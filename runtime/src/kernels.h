// Compute kernels. Weights are pre-packed at load time into panels of kPanel output
// columns: panel p holds B[k][16p .. 16p+15] for k = 0..K-1, contiguous, 64-byte
// aligned, columns past N zero. AVX2+FMA when compiled with -mavx2 -mfma, NEON on
// arm64, else (and with -DLKRT_SIMD=OFF, which defines LKRT_SCALAR) portable scalar loops.
#ifndef LKRT_KERNELS_H
#define LKRT_KERNELS_H

#include <cstddef>
#include <cstdint>

namespace lkrt {
namespace kernels {

constexpr int kPanel = 16;

/// Sparse rows of A for gemm_f32_sparse: for each row m the nonzero entries, in
/// increasing k, at idx/val[m * K ...], and start[m * (blocks + 1) + b] = position of the
/// first entry with k >= b * kSparseKc (the last one is the count). Activations after
/// a ReLU are about half zeros; the sparse product skips them.
constexpr int kSparseKc = 64;
inline int sparse_blocks(int K) { return (K + kSparseKc - 1) / kSparseKc; }
/// Builds the lists of rows [m0, m1); returns their total number of nonzeros.
size_t sparse_rows(int K, const float* A, size_t lda, int m0, int m1, uint32_t* idx, float* val, uint32_t* start);
/// C[m][16p + j] = sum_k A[m][k] * B_p[k][j] for m < M, panels p in [p0, p1), from the
/// sparse rows of A; writes whole panels (ldc >= 16 * p1). Skipping zeros changes no bit
/// of the result for finite weights.
void gemm_f32_sparse(int M, int K, const uint32_t* idx, const float* val, const uint32_t* start, const float* B,
                     int p0, int p1, float* C, size_t ldc);

/// y[16p + j] = sum_k x[k] * B_p[k][j] for panels p in [p0, p1), in the storage type
/// of the weights; int8 results are multiplied by col_scale[16p + j].
void matvec_f32(int K, const float* x, const float* B, int p0, int p1, float* y);
void matvec_f16(int K, const float* x, const uint16_t* B, int p0, int p1, float* y);
void matvec_i8(int K, const float* x, const int8_t* B, const float* col_scale, int p0, int p1, float* y);

/// dst[i] += src[i].
void add_inplace(float* dst, const float* src, size_t n);

/// "avx2+fma+f16c", "avx2+fma", "neon" or "scalar".
const char* isa_name();
/// False if this build uses instructions the running CPU lacks.
bool cpu_supported();

}  // namespace kernels
}  // namespace lkrt

#endif
