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

/// The same product from A itself (row-major, leading dimension lda), for inputs that are
/// not mostly zeros (after SiLU, LeakyReLU, normalisation): the sums run in the same order,
/// so both give the same bits.
void gemm_f32_dense(int M, int K, const float* A, size_t lda, const float* B, int p0, int p1, float* C, size_t ldc);

/// y[16p + j] = sum_k x[k] * B_p[k][j] for panels p in [p0, p1), in the storage type
/// of the weights; int8 results are multiplied by col_scale[16p + j].
void matvec_f32(int K, const float* x, const float* B, int p0, int p1, float* y);
void matvec_f16(int K, const float* x, const uint16_t* B, int p0, int p1, float* y);
void matvec_i8(int K, const float* x, const int8_t* B, const float* col_scale, int p0, int p1, float* y);

/// dst[i] += src[i].
void add_inplace(float* dst, const float* src, size_t n);

/// x[i] = silu(x[i]) = x / (1 + e^-x), sigmoid(x[i]) = 1 / (1 + e^-x) or tanh(x[i]) for
/// i < n. The vector versions share one e^x: Cephes' expf (x = k ln2 + r, |r| <= ln2 / 2,
/// a degree-6 polynomial for e^r), within 2e-7 relative of e^x on [-87.3, 88]; above 88
/// it is +inf, below -87.3 it stays at e^-87.3 (1.2e-38), which moves no result by more
/// than 1e-36: silu(-100) = -0, sigmoid(-100) = 0.
/// tanh is Cephes' odd polynomial below 0.625 and 1 - 2 / (e^2|x| + 1) above. NaN stays
/// NaN; silu(-inf) is NaN as in torch. The scalar versions call std::exp / std::tanh.
void silu_inplace(float* x, size_t n);
void sigmoid_inplace(float* x, size_t n);
void tanh_inplace(float* x, size_t n);

/// GroupNorm's normalisation pass over P pixels of C channels (channels-last, rows of C
/// floats): y[p][c] = x[p][c] * scale[c] + shift[c], then SiLU (as silu_inplace) when
/// `silu`; y may be x.
void channel_affine(size_t P, size_t C, const float* x, const float* scale, const float* shift, bool silu, float* y);

/// GroupNorm's statistics in double, over P rows of n floats at x + p * ld, row by row
/// (each sum runs over p in order whatever the vector width):
/// sum[c] += x[p][c] and sq[c] += (x[p][c] - mean[c])^2 for c < n.
void column_sums_f64(size_t P, size_t n, const float* x, size_t ld, double* sum);
void column_sq_deviations_f64(size_t P, size_t n, const float* x, size_t ld, const double* mean, double* sq);

/// sum_i a[i] * b[i] in float over several accumulators (not in the order of i; the same
/// for a given n on every call).
float dot(const float* a, const float* b, size_t n);
/// y[i] += a * x[i].
void axpy(float a, const float* x, float* y, size_t n);

/// "avx2+fma+f16c", "avx2+fma", "neon" or "scalar".
const char* isa_name();
/// False if this build uses instructions the running CPU lacks.
bool cpu_supported();

}  // namespace kernels
}  // namespace lkrt

#endif
