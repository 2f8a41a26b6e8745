#include "latentkit/eval/metrics.h"

#include <dlfcn.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"

namespace latentkit {
namespace {

// Products and factorisations below are blocked at this many rows / columns: large
// enough to keep BLAS near its peak, small enough that skipping the blocks below the
// diagonal of a symmetric result saves most of the half it can.
constexpr int64_t kBlock = 256;
// Distance matrices are built this many bytes at a time per thread, so 10k x 10k sets
// never need the 800 MB a whole float64 matrix would take.
constexpr int64_t kChunkBytes = int64_t{16} << 20;

// Every product here runs on LibTorch's threads (at::parallel_for over row ranges, blocks,
// subsets or chunks), each calling BLAS single-threaded, with OpenBLAS's own pthreads
// asleep: awake, they spin between calls against LibTorch's OpenMP threads (the reason
// set_threads holds OpenBLAS to one thread; KID's unit test ran 50x slower with both
// pools awake on a shared 2-core machine). The exceptions are the single large BLAS and
// LAPACK calls of FID with nothing beside them (the Gram matrix of a feature set, Cholesky,
// dsygst, the eigensolver), which get OpenBLAS's threads, as many as LibTorch's. This
// keeps OpenBLAS's thread count within [min_threads, max_threads] for a scope and restores
// it after; the setting is process-wide, so BLAS work in another thread meanwhile sees it.
class OpenBlasThreads {
 public:
  OpenBlasThreads(int min_threads, int max_threads) {
    using Get = int (*)();
    auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    set_ = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (!get || !set_) return;
    const int have = get();
    const int want = std::clamp(have, min_threads, std::max(min_threads, max_threads));
    if (want != have) {
      set_(want);
      restore_ = have;
    }
  }
  ~OpenBlasThreads() {
    if (restore_ > 0) set_(restore_);
  }
  OpenBlasThreads(const OpenBlasThreads&) = delete;
  OpenBlasThreads& operator=(const OpenBlasThreads&) = delete;

 private:
  using Set = void (*)(int);
  Set set_ = nullptr;
  int restore_ = 0;
};

// For the products: one OpenBLAS thread when LibTorch runs several; with one LibTorch
// thread nothing runs beside BLAS and OpenBLAS keeps its own.
int blas_threads_beside_torch() { return at::get_num_threads() > 1 ? 1 : INT_MAX; }

// Runs task(i) for every i in [0, costs.size()) on LibTorch's threads, each thread taking
// the tasks a longest-first greedy assignment gives it, so that the uneven blocks of
// triangular products balance (at::parallel_for alone hands out equal index ranges).
template <typename Task>
void run_balanced(const std::vector<double>& costs, const Task& task) {
  const int64_t n = static_cast<int64_t>(costs.size());
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return costs[x] > costs[y]; });
  std::vector<std::vector<int64_t>> plan(static_cast<size_t>(threads));
  std::vector<double> load(static_cast<size_t>(threads), 0.0);
  for (int64_t i : order) {
    const size_t t = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    plan[t].push_back(i);
    load[t] += costs[static_cast<size_t>(i)];
  }
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t i : plan[static_cast<size_t>(t)]) task(i);
    }
  });
}

// Fills the lower triangle of c: [n, n] (contiguous float64) from its upper one, in place,
// tile by tile (a whole transposed copy strides through memory: 5x slower at D = 2048). One
// thread: 8 ms at D = 2048, and right after a threaded BLAS call LibTorch's threads would
// fight OpenBLAS's spinning ones (80 ms).
void mirror_upper(torch::Tensor& c) {
  const int64_t n = c.size(0);
  double* m = c.data_ptr<double>();
  constexpr int64_t kTile = 64;
  for (int64_t i0 = 0; i0 < n; i0 += kTile) {
    for (int64_t j0 = i0; j0 < n; j0 += kTile) {
      for (int64_t i = i0; i < std::min(n, i0 + kTile); ++i) {
        for (int64_t j = std::max(j0, i + 1); j < std::min(n, j0 + kTile); ++j) m[j * n + i] = m[i * n + j];
      }
    }
  }
}

// LibTorch has no symmetric rank-k update; the BLAS it loaded (libblas.so.3) has one, and
// it forms a Gram matrix in half the flops of a general product (10k x 2048 features, one
// thread: 1.9 s -> 1.0 s). Looked up at run time like set_threads does; absent, a blocked
// product that skips the lower blocks stands in.
using CblasDsyrk = void (*)(int order, int uplo, int trans, int n, int k, double alpha, const double* a, int lda,
                            double beta, double* c, int ldc);
CblasDsyrk find_dsyrk() {
  static const CblasDsyrk dsyrk = reinterpret_cast<CblasDsyrk>(dlsym(RTLD_DEFAULT, "cblas_dsyrk"));
  return dsyrk;
}
constexpr int kCblasColMajor = 102, kCblasLower = 122, kCblasNoTrans = 111, kCblasTrans = 112;

// a^T b for a, b: [K, n] when the product is known to be symmetric (a Gram matrix, or
// L^T S L): only the blocks on and above the diagonal are multiplied, then mirrored. With
// a_lower_triangular (a: [n, n]), column block i of a is zero above row i * kBlock, so
// those rows are skipped as well.
torch::Tensor symmetric_product(const torch::Tensor& a, const torch::Tensor& b, bool a_lower_triangular) {
  const int64_t n = a.size(1), k = a.size(0);
  if (n <= 2 * kBlock && !a_lower_triangular) {
    torch::Tensor c = torch::mm(a.t(), b);
    return (c + c.t()) * 0.5;
  }
  torch::Tensor c = torch::empty({n, n}, a.options());
  std::vector<double> costs;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    costs.push_back(static_cast<double>(n - i0) * static_cast<double>(a_lower_triangular ? k - i0 : k));
  }
  run_balanced(costs, [&](int64_t block) {
    const int64_t i0 = block * kBlock, i1 = std::min(n, i0 + kBlock);
    const int64_t k0 = a_lower_triangular ? i0 : 0;
    torch::Tensor panel = c.slice(0, i0, i1).slice(1, i0, n);
    torch::mm_out(panel, a.slice(0, k0).slice(1, i0, i1).t(), b.slice(0, k0).slice(1, i0, n));
  });
  mirror_upper(c);
  return c;
}

// s l for l: [n, n] lower triangular; column block j of l is zero above row j * kBlock.
torch::Tensor times_lower_triangular(const torch::Tensor& s, const torch::Tensor& l) {
  const int64_t n = l.size(0);
  torch::Tensor out = torch::empty({s.size(0), n}, s.options());
  std::vector<double> costs;
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) costs.push_back(static_cast<double>(n - j0));
  run_balanced(costs, [&](int64_t block) {
    const int64_t j0 = block * kBlock, j1 = std::min(n, j0 + kBlock);
    torch::Tensor columns = out.slice(1, j0, j1);
    torch::mm_out(columns, s.slice(1, j0), l.slice(0, j0).slice(1, j0, j1));
  });
  return out;
}

// The upper triangle (row-major) of c becomes scale x^T x + beta c, for x: [K, n] float64
// with x or x^T contiguous; the lower triangle is left alone.
void syrk_upper(CblasDsyrk dsyrk, const torch::Tensor& x, double scale, double beta, torch::Tensor& c) {
  const int k = static_cast<int>(x.size(0)), n = static_cast<int>(x.size(1));
  // Row-major x is the column-major [n, K] matrix A, and x^T x = A A^T; a row-major
  // x = z^T (z: [n, K] contiguous) is column-major z^T = A: [K, n], and x^T x = A^T A.
  // The lower triangle in column-major order is the upper one of the row-major result.
  if (x.is_contiguous()) {
    dsyrk(kCblasColMajor, kCblasLower, kCblasNoTrans, n, k, scale, x.data_ptr<double>(), n, beta, c.data_ptr<double>(),
          n);
  } else {
    dsyrk(kCblasColMajor, kCblasLower, kCblasTrans, n, k, scale, x.data_ptr<double>(), k, beta, c.data_ptr<double>(),
          n);
  }
}

// The column means of x: [N, D] (contiguous, T) in float64. Rows are summed in fixed
// blocks on LibTorch's threads, then the blocks in order, so the result does not depend on
// the thread count.
template <typename T>
torch::Tensor column_means(const torch::Tensor& x) {
  const int64_t n = x.size(0), d = x.size(1);
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const T* in = x.data_ptr<T>();
  std::vector<double> partial(static_cast<size_t>(blocks * d), 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      double* sum = partial.data() + b * d;
      for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) {
        for (int64_t j = 0; j < d; ++j) sum[j] += static_cast<double>(in[i * d + j]);
      }
    }
  });
  torch::Tensor mu = torch::zeros({d}, torch::kFloat64);
  double* mean = mu.data_ptr<double>();
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t j = 0; j < d; ++j) mean[j] += partial[static_cast<size_t>(b * d + j)];
  }
  for (int64_t j = 0; j < d; ++j) mean[j] /= static_cast<double>(n);
  return mu;
}

// scale (x - mu)^T (x - mu) for x: [N, D] (contiguous, T) and mu: [D] float64. Rows are
// centred into a float64 buffer a chunk at a time and added up by BLAS's symmetric rank-k
// update, one call per chunk on OpenBLAS's own threads, as many as LibTorch's: splitting
// the rows over LibTorch's threads, one single-threaded call each, took 1.8x as long (10k x
// 2048 on 2 cores: 0.97 s vs 0.53 s), and centring the whole set first cost 0.1 s more in
// page faults on its 160 MB. The centring runs on this thread: LibTorch's would fight
// OpenBLAS's, which spin a while after each call.
template <typename T>
torch::Tensor centred_gram(const torch::Tensor& x, const torch::Tensor& mu, double scale) {
  const int64_t n = x.size(0), d = x.size(1);
  CblasDsyrk dsyrk = find_dsyrk();
  if (!dsyrk || n >= INT_MAX || d >= INT_MAX) {
    OpenBlasThreads blas_threads(1, blas_threads_beside_torch());
    torch::Tensor centred = torch::sub(x, mu);
    return symmetric_product(centred, centred, false).mul_(scale);
  }
  const int64_t chunk = std::min(n, std::max(kBlock, 4 * kChunkBytes / (8 * d)));
  torch::Tensor buffer = torch::empty({chunk, d}, torch::kFloat64);
  torch::Tensor c = torch::empty({d, d}, torch::kFloat64);
  const T* in = x.data_ptr<T>();
  const double* mean = mu.data_ptr<double>();
  double* out = buffer.data_ptr<double>();
  const int threads = at::get_num_threads();
  OpenBlasThreads blas_threads(threads, threads);
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    const int64_t rows = std::min(chunk, n - r0);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < d; ++j) out[i * d + j] = static_cast<double>(in[(r0 + i) * d + j]) - mean[j];
    }
    syrk_upper(dsyrk, buffer.slice(0, 0, rows), scale, r0 == 0 ? 0.0 : 1.0, c);
  }
  mirror_upper(c);
  return c;
}

// out: [n, n] contiguous gets scale x^T x + shift in its upper triangle (row-major) and 0
// below, for x: [K, n] float64 with x or x^T contiguous. Nothing is allocated on the BLAS
// road, so that threads can run it side by side.
void gram_upper_into(const torch::Tensor& x, double scale, double shift, torch::Tensor& out) {
  CblasDsyrk dsyrk = find_dsyrk();
  const bool fits = x.size(0) < INT_MAX && x.size(1) < INT_MAX && x.size(0) > 0;
  if (dsyrk && fits && (x.is_contiguous() || x.t().is_contiguous())) {
    out.fill_(shift);
    syrk_upper(dsyrk, x, scale, 1.0, out);
  } else {
    torch::mm_out(out, x.t(), x);
    out.mul_(scale).add_(shift);
  }
  out.triu_();
}

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// features: [N, D] with N >= min_rows; returns it on the CPU, in its own dtype.
torch::Tensor checked_shape(const torch::Tensor& features, const std::string& what, int64_t min_rows) {
  check_input(features.defined(), what + ": no features given");
  check_input(features.dim() == 2, what + ": features must be [N, D], got " + shape_text(features));
  check_input(features.size(0) > 0 && features.size(1) > 0,
              what + ": the feature set is empty " + shape_text(features));
  check_input(features.size(0) >= min_rows, what + ": needs at least " + std::to_string(min_rows) + " samples, got " +
                                                std::to_string(features.size(0)));
  return features.to(torch::kCPU);
}

void throw_not_finite(const std::string& what) {
  throw Error(what + ": features contain NaN or Inf; check the extractor's input and weights");
}

// checked_shape, then float64, contiguous and finite.
torch::Tensor checked_features(const torch::Tensor& features, const std::string& what, int64_t min_rows) {
  torch::Tensor x = checked_shape(features, what, min_rows).to(torch::kFloat64).contiguous();
  if (!torch::isfinite(x).all().item<bool>()) throw_not_finite(what);
  return x;
}

void check_same_dim(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  check_input(a.size(1) == b.size(1), what + ": the two feature sets differ in dimension (" +
                                          std::to_string(a.size(1)) + " vs " + std::to_string(b.size(1)) +
                                          "); extract both with the same extractor");
}

// LAPACK's dsygst, from the LAPACK LibTorch loaded, looked up like cblas_dsyrk.
using LapackDsygst = void (*)(const int* itype, const char* uplo, const int* n, double* a, const int* lda,
                              const double* b, const int* ldb, int* info, size_t uplo_length);
LapackDsygst find_dsygst() {
  static const LapackDsygst dsygst = reinterpret_cast<LapackDsygst>(dlsym(RTLD_DEFAULT, "dsygst_"));
  return dsygst;
}

// L^T s L for s: [n, n] symmetric and l its lower triangular factor from a Cholesky: by
// LAPACK's dsygst, which exploits the symmetry of the result and the triangle of L (D = 2048,
// 2 threads: 0.15 s against 0.4 s for the two blocked products below), else by those.
// The result is symmetric; its lower triangle is what dsygst writes, and is what counts.
torch::Tensor congruence_by_lower(const torch::Tensor& s, const torch::Tensor& l) {
  LapackDsygst dsygst = find_dsygst();
  const int64_t n = s.size(0);
  if (!dsygst || n >= INT_MAX) {
    OpenBlasThreads blas_threads(1, blas_threads_beside_torch());
    return symmetric_product(l, times_lower_triangular(s, l), true);
  }
  // Row-major L is the column-major upper triangular U = L^T with S1 = U^T U, and dsygst's
  // itype 2 forms U A U^T = L^T S2 L in A's upper triangle, column-major: the row-major lower.
  torch::Tensor a = s.clone(at::MemoryFormat::Contiguous);
  torch::Tensor u = l.contiguous();
  const int itype = 2, size = static_cast<int>(n);
  const char uplo = 'U';
  int info = 0;
  {
    const int threads = at::get_num_threads();
    OpenBlasThreads blas_threads(threads, threads);
    dsygst(&itype, &uplo, &size, a.data_ptr<double>(), &size, u.data_ptr<double>(), &size, &info, 1);
  }
  if (info != 0) throw Error("frechet_distance: LAPACK dsygst failed (info " + std::to_string(info) + ")");
  return a;
}

// tr((S1^1/2 S2 S1^1/2)^1/2): the sum of the square roots of the eigenvalues of a symmetric
// matrix similar to S1 S2. With S1 = L L^T (Cholesky), L^T S2 L = L^-1 (S1 S2) L; it costs
// a Cholesky instead of an eigendecomposition of S1 (one thread at D = 2048: 0.11 s vs
// 1.7 s), and Cholesky is backward stable whenever it completes, as eigh is. A singular S1 (fewer
// samples than dimensions) makes it fail; then S2 is tried, since S2 S1 has the same
// eigenvalues, and last S1^1/2 = V diag(sqrt(max(w, 0))) V^T from eigh, used as
// diag(sqrt w) V^T S2 V diag(sqrt w), which is similar to S1^1/2 S2 S1^1/2.
// Only the lower triangle of m is read.
double trace_sqrt_product(const torch::Tensor& s1, const torch::Tensor& s2) {
  const int threads = at::get_num_threads();
  torch::Tensor m;
  for (int attempt = 0; attempt < 2 && !m.defined(); ++attempt) {
    const torch::Tensor& a = attempt == 0 ? s1 : s2;
    const torch::Tensor& b = attempt == 0 ? s2 : s1;
    torch::Tensor l, info;
    {
      OpenBlasThreads lapack_threads(threads, threads);
      std::tie(l, info) = torch::linalg_cholesky_ex(a);
    }
    if (info.item<int64_t>() == 0) m = congruence_by_lower(b, l);
  }
  if (!m.defined()) {
    torch::Tensor w, v;
    {
      OpenBlasThreads lapack_threads(threads, INT_MAX);
      std::tie(w, v) = torch::linalg_eigh(s1);
    }
    OpenBlasThreads blas_threads(1, blas_threads_beside_torch());
    torch::Tensor root = v * w.clamp_min(0).sqrt().unsqueeze(0);  // V diag(sqrt w)
    m = symmetric_product(root, torch::mm(s2, root), false);
  }
  // Eigenvalues below the rank tolerance numpy's matrix_rank uses (D eps lambda_max) are
  // round-off of exact zeros, positive or negative; their square roots (1e-7 each) would
  // add up to a 1e-6 relative error when there are fewer samples than dimensions.
  torch::Tensor w;
  {
    OpenBlasThreads lapack_threads(threads, INT_MAX);
    w = torch::linalg_eigvalsh(m, "L");
  }
  const double tolerance =
      static_cast<double>(m.size(0)) * std::numeric_limits<double>::epsilon() * std::max(0.0, w.max().item<double>());
  return torch::where(w > tolerance, w, torch::zeros_like(w)).sqrt().sum().item<double>();
}

torch::Tensor checked_stats_part(const torch::Tensor& t, int64_t dims, const std::string& name) {
  check_input(t.defined(), "frechet_distance: " + name + " is missing; compute it with gaussian_stats");
  check_input(t.dim() == dims, "frechet_distance: " + name + " has shape " + shape_text(t) + ", expected " +
                                   (dims == 1 ? "[D]" : "[D, D]"));
  torch::Tensor x = t.to(torch::kCPU).to(torch::kFloat64).contiguous();
  check_input(torch::isfinite(x).all().item<bool>(), "frechet_distance: " + name + " contains NaN or Inf");
  return x;
}

double population_std(const std::vector<double>& values, double mean) {
  double sum = 0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return std::sqrt(sum / static_cast<double>(values.size()));
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd r;
  for (double v : values) r.mean += v;
  r.mean /= static_cast<double>(values.size());
  // np.std (ddof = 0), as torch-fidelity and the original Inception Score code report it.
  r.std = population_std(values, r.mean);
  return r;
}

// |b_j|^2 - 2 a_i . b_j for rows of a: [A, D] and b: [B, D] (b_norms: |b_j|^2): the squared
// distance less |a_i|^2, from one product with the bias folded in.
torch::Tensor distances_less_row_norms(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& b_norms) {
  return torch::addmm(b_norms.unsqueeze(0), a, b.t(), /*beta=*/1, /*alpha=*/-2);
}

int64_t chunk_rows(int64_t columns) { return std::max<int64_t>(1, kChunkBytes / (8 * std::max<int64_t>(1, columns))); }

// Runs chunk(r0, r1) over [0, n) in chunks of `step` rows, chunks spread over the threads
// and each chunk's work on one thread.
template <typename Chunk>
void for_each_chunk(int64_t n, int64_t step, const Chunk& chunk) {
  const int64_t chunks = (n + step - 1) / step;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) chunk(c, c * step, std::min(n, (c + 1) * step));
  });
}

// Squared distance from each row of x to its k-th nearest other row (itself excluded by
// index, so a duplicate point counts as a neighbour at distance 0).
torch::Tensor kth_neighbour_squared_radii(const torch::Tensor& x, const torch::Tensor& norms, int64_t k) {
  const int64_t n = x.size(0);
  const double inf = std::numeric_limits<double>::infinity();
  torch::Tensor radii = torch::empty({n}, x.options());
  for_each_chunk(n, chunk_rows(n), [&](int64_t, int64_t r0, int64_t r1) {
    torch::Tensor d = distances_less_row_norms(x.slice(0, r0, r1), x, norms);
    d.add_(norms.slice(0, r0, r1).unsqueeze(1)).clamp_min_(0);
    d.slice(1, r0, r1).diagonal().fill_(inf);
    // The k smallest, sorted: 8x faster than kthvalue on 10k-wide rows.
    radii.slice(0, r0, r1).copy_(std::get<0>(torch::topk(d, k, 1, /*largest=*/false)).select(1, k - 1));
  });
  return radii;
}

// images [N, C, H, W] in [-1, 1] (C 1, 3 or 4, RGBA premultiplied) -> their straight sRGB
// colors [N, 3, H, W] in [0, 1] and the opaque pixels (alpha >= 0.5) [N, 1, H, W] as 0 / 1,
// both float64.
struct StraightColors {
  torch::Tensor rgb, opaque;
};
StraightColors straight_colors(const torch::Tensor& images, const std::string& what) {
  check_input(images.defined() && images.dim() == 4 && images.is_floating_point() &&
                  (images.size(1) == 1 || images.size(1) == 3 || images.size(1) == 4),
              what + ": expected float images [N, C, H, W] with 1, 3 or 4 channels" +
                  (images.defined() ? ", got " + shape_text(images) : ""));
  torch::Tensor x = images.detach().to(torch::kCPU, torch::kFloat64);
  if (x.size(1) == 4) {
    x = (unpremultiply(x) + 1) / 2;
    return {x.slice(1, 0, 3), (x.slice(1, 3, 4) >= 0.5).to(torch::kFloat64)};
  }
  x = (x.clamp(-1, 1) + 1) / 2;
  return {x.expand({-1, 3, -1, -1}), torch::ones({x.size(0), 1, x.size(2), x.size(3)}, torch::kFloat64)};
}

}  // namespace

GaussianStats gaussian_stats(const torch::Tensor& features) {
  torch::Tensor x = checked_shape(features, "gaussian_stats", 2);
  if (x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kFloat64) x = x.to(torch::kFloat64);
  x = x.contiguous();
  GaussianStats stats;
  stats.n = x.size(0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_stats", [&] { stats.mu = column_means<scalar_t>(x); });
  // A NaN or Inf anywhere shows in the mean, so the finiteness check costs no pass of its own.
  if (!torch::isfinite(stats.mu).all().item<bool>()) {
    if (!torch::isfinite(x).all().item<bool>()) throw_not_finite("gaussian_stats");
    throw Error("gaussian_stats: features too large to average in float64 (up to " +
                std::to_string(x.abs().max().item<double>()) + "); scale them down");
  }
  const double scale = 1.0 / static_cast<double>(stats.n - 1);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_stats",
                             [&] { stats.sigma = centred_gram<scalar_t>(x, stats.mu, scale); });
  return stats;
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  torch::Tensor mu1 = checked_stats_part(a.mu, 1, "mu of the first set");
  torch::Tensor mu2 = checked_stats_part(b.mu, 1, "mu of the second set");
  torch::Tensor s1 = checked_stats_part(a.sigma, 2, "sigma of the first set");
  torch::Tensor s2 = checked_stats_part(b.sigma, 2, "sigma of the second set");
  const int64_t dim = mu1.size(0);
  check_input(dim > 0, "frechet_distance: the statistics are empty");
  check_input(mu2.size(0) == dim && s1.size(0) == dim && s1.size(1) == dim && s2.size(0) == dim && s2.size(1) == dim,
              "frechet_distance: the statistics differ in dimension (mu " + shape_text(mu1) + " and " +
                  shape_text(mu2) + ", sigma " + shape_text(s1) + " and " + shape_text(s2) +
                  "); compute both from features of the same extractor");
  const double mean_term = (mu1 - mu2).pow(2).sum().item<double>();
  const double traces = s1.trace().item<double>() + s2.trace().item<double>();
  const double fid = mean_term + traces - 2 * trace_sqrt_product(s1, s2);
  // Round-off can take identical statistics a hair below 0.
  return std::max(0.0, fid);
}

MeanStd kernel_inception_distance(const torch::Tensor& features_a, const torch::Tensor& features_b, int64_t subsets,
                                  int64_t subset_size, uint64_t seed) {
  torch::Tensor a = checked_features(features_a, "kernel_inception_distance (first set)", 2);
  torch::Tensor b = checked_features(features_b, "kernel_inception_distance (second set)", 2);
  check_same_dim(a, b, "kernel_inception_distance");
  check_input(subsets >= 1, "kernel_inception_distance: subsets must be at least 1, got " + std::to_string(subsets));
  check_input(subset_size >= 2,
              "kernel_inception_distance: subset size must be at least 2, got " + std::to_string(subset_size));
  const int64_t m = std::min({subset_size, a.size(0), b.size(0)});
  const double dim = static_cast<double>(a.size(1));
  const double md = static_cast<double>(m);
  // Drawn in order before the parallel part, so that the seed alone fixes every subset.
  auto generator = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> picks_a, picks_b;
  for (int64_t s = 0; s < subsets; ++s) {
    picks_a.push_back(torch::randperm(a.size(0), generator, torch::kInt64).slice(0, 0, m));
    picks_b.push_back(torch::randperm(b.size(0), generator, torch::kInt64).slice(0, 0, m));
  }
  std::vector<double> values(static_cast<size_t>(subsets));
  OpenBlasThreads blas_threads(1, blas_threads_beside_torch());
  // One subset per thread at a time: each is a whole product, and the threads never wait
  // on each other between the product and the sums.
  at::parallel_for(0, subsets, 1, [&](int64_t begin, int64_t end) {
    // Buffers per thread, reused subset after subset: fresh ones per subset from two
    // threads at once cost more than the arithmetic (page faults, unmapping).
    torch::Tensor z = torch::empty({2 * m, a.size(1)}, a.options());
    torch::Tensor k = torch::empty({2 * m, 2 * m}, a.options());
    torch::Tensor za = z.slice(0, 0, m), zb = z.slice(0, m);
    torch::Tensor kxx = k.slice(0, 0, m).slice(1, 0, m), kyy = k.slice(0, m).slice(1, m);
    torch::Tensor kxy = k.slice(0, 0, m).slice(1, m);
    for (int64_t s = begin; s < end; ++s) {
      // One Gram matrix of both subsets stacked holds the X-X, Y-Y and X-Y products.
      torch::index_select_out(za, a, 0, picks_a[static_cast<size_t>(s)]);
      torch::index_select_out(zb, b, 0, picks_b[static_cast<size_t>(s)]);
      gram_upper_into(z.t(), 1.0 / dim, 1.0, k);
      k.pow_(3);
      // The lower triangle is 0: the X-X and Y-Y sums off the diagonal are twice the sums
      // above it.
      const double xx = 2 * (kxx.sum() - kxx.diagonal().sum()).item<double>();
      const double yy = 2 * (kyy.sum() - kyy.diagonal().sum()).item<double>();
      const double xy = kxy.sum().item<double>();
      values[static_cast<size_t>(s)] = (xx + yy) / (md * (md - 1)) - 2 * xy / (md * md);
    }
  });
  return mean_std(values);
}

MeanStd inception_score(const torch::Tensor& probs, int64_t splits) {
  check_input(probs.defined(), "inception_score: no probabilities given");
  check_input(probs.dim() == 2,
              "inception_score: probabilities must be [N, K] (one row of class probabilities per "
              "image), got " +
                  shape_text(probs));
  const int64_t n = probs.size(0);
  check_input(n > 0 && probs.size(1) > 0, "inception_score: the probability set is empty " + shape_text(probs));
  check_input(splits >= 1 && splits <= n,
              "inception_score: splits must be in [1, N = " + std::to_string(n) + "], got " + std::to_string(splits));
  torch::Tensor p = probs.to(torch::kCPU).to(torch::kFloat64).contiguous();
  check_input(torch::isfinite(p).all().item<bool>(), "inception_score: probabilities contain NaN or Inf");
  check_input(p.min().item<double>() >= 0,
              "inception_score: probabilities must not be negative; pass softmax outputs, "
              "not logits");
  const double worst_sum = (p.sum(1) - 1).abs().max().item<double>();
  check_input(worst_sum <= 1e-3, "inception_score: each row of probabilities must sum to 1 (off by up to " +
                                     std::to_string(worst_sum) + "); pass softmax outputs, not logits");
  // 0 log 0 = 0: a class an image gives probability 0 adds nothing to its KL.
  torch::Tensor p_log_p = torch::where(p > 0, p * p.log(), torch::zeros_like(p)).sum(1);
  std::vector<double> scores;
  for (int64_t i = 0; i < splits; ++i) {
    // The original code's split bounds: i * N // splits.
    const int64_t r0 = i * n / splits, r1 = (i + 1) * n / splits;
    torch::Tensor part = p.slice(0, r0, r1);
    torch::Tensor marginal = part.mean(0);
    torch::Tensor log_marginal = torch::where(marginal > 0, marginal.log(), torch::zeros_like(marginal));
    torch::Tensor kl = p_log_p.slice(0, r0, r1) - torch::mv(part, log_marginal);
    scores.push_back(std::exp(kl.mean().item<double>()));
  }
  return mean_std(scores);
}

PrecisionRecall precision_recall(const torch::Tensor& real_features, const torch::Tensor& fake_features, int64_t k) {
  check_input(k >= 1, "precision_recall: k must be at least 1, got " + std::to_string(k));
  const std::string need = "precision_recall (k = " + std::to_string(k) + " needs more than k samples)";
  torch::Tensor real = checked_features(real_features, need + ", real set", k + 1);
  torch::Tensor fake = checked_features(fake_features, need + ", generated set", k + 1);
  check_same_dim(real, fake, "precision_recall");
  OpenBlasThreads blas_threads(1, blas_threads_beside_torch());
  torch::Tensor real_norms = real.pow(2).sum(1);
  torch::Tensor fake_norms = fake.pow(2).sum(1);
  torch::Tensor real_radii = kth_neighbour_squared_radii(real, real_norms, k);
  torch::Tensor fake_radii = kth_neighbour_squared_radii(fake, fake_norms, k);
  // One pass over the generated-to-real distances answers both questions. With
  // q_ij = |r_j|^2 - 2 f_i . r_j, so that d_ij = q_ij + |f_i|^2:
  //   generated i lies in some real ball  <=>  min_j (q_ij - R_j) <= -|f_i|^2
  //   real j lies in some generated ball  <=>  min_i (q_ij + |f_i|^2 - R'_i) <= 0
  // Minima instead of boolean masks: no [N, N] mask is written, and a chunk leaves only a
  // count and one row of minima behind.
  const int64_t n_fake = fake.size(0), n_real = real.size(0);
  const int64_t step = chunk_rows(n_real);
  const int64_t chunks = (n_fake + step - 1) / step;
  std::vector<int64_t> fake_inside(static_cast<size_t>(chunks), 0);
  std::vector<torch::Tensor> real_margins(static_cast<size_t>(chunks));
  for_each_chunk(n_fake, step, [&](int64_t chunk, int64_t f0, int64_t f1) {
    torch::Tensor f_norms = fake_norms.slice(0, f0, f1);
    torch::Tensor q = distances_less_row_norms(fake.slice(0, f0, f1), real, real_norms);
    fake_inside[static_cast<size_t>(chunk)] = ((q - real_radii.unsqueeze(0)).amin(1) <= -f_norms).sum().item<int64_t>();
    q.add_((f_norms - fake_radii.slice(0, f0, f1)).unsqueeze(1));
    real_margins[static_cast<size_t>(chunk)] = q.amin(0);
  });
  const int64_t fake_inside_total = std::accumulate(fake_inside.begin(), fake_inside.end(), int64_t{0});
  torch::Tensor real_inside = std::get<0>(torch::stack(real_margins).min(0)) <= 0;
  PrecisionRecall r;
  r.precision = static_cast<double>(fake_inside_total) / static_cast<double>(n_fake);
  r.recall = static_cast<double>(real_inside.sum().item<int64_t>()) / static_cast<double>(n_real);
  return r;
}

ClassHistogramKl class_histogram_kl(const torch::Tensor& real_labels, const torch::Tensor& fake_labels,
                                    int64_t num_classes) {
  check_input(num_classes >= 1,
              "class_histogram_kl: num_classes must be at least 1, got " + std::to_string(num_classes));
  auto counts = [num_classes](const torch::Tensor& labels, const std::string& which) {
    check_input(labels.defined() && labels.dim() == 1 && labels.size(0) > 0,
                "class_histogram_kl: " + which + " labels must be a non-empty [N] tensor of class indices" +
                    (labels.defined() ? ", got " + shape_text(labels) : ""));
    check_input(!labels.is_floating_point() && !labels.is_complex() && labels.scalar_type() != torch::kBool,
                "class_histogram_kl: " + which + " labels must be integer class indices");
    torch::Tensor l = labels.to(torch::kCPU).to(torch::kInt64);
    const int64_t lo = l.min().item<int64_t>(), hi = l.max().item<int64_t>();
    check_input(lo >= 0 && hi < num_classes, "class_histogram_kl: " + which + " labels must lie in [0, " +
                                                 std::to_string(num_classes) + "), found " +
                                                 std::to_string(lo < 0 ? lo : hi));
    return torch::bincount(l, {}, num_classes).to(torch::kFloat64);
  };
  torch::Tensor real = counts(real_labels, "real");
  torch::Tensor fake = counts(fake_labels, "generated");
  torch::Tensor p_real = (real + 1e-10) / (real + 1e-10).sum();
  torch::Tensor p_fake = (fake + 1e-10) / (fake + 1e-10).sum();
  ClassHistogramKl r;
  r.kl = (p_fake * (p_fake / p_real).log()).sum().item<double>();
  r.classes_covered = (fake > 0).sum().item<int64_t>();
  // The histograms as plain fractions, without the 1e-10 that keeps the KL finite.
  torch::Tensor real_fraction = real / real.sum();
  torch::Tensor fake_fraction = fake / fake.sum();
  r.real_histogram.assign(real_fraction.data_ptr<double>(), real_fraction.data_ptr<double>() + num_classes);
  r.fake_histogram.assign(fake_fraction.data_ptr<double>(), fake_fraction.data_ptr<double>() + num_classes);
  return r;
}

torch::Tensor colorfulness(const torch::Tensor& images) {
  const StraightColors s = straight_colors(images, "colorfulness");
  const torch::Tensor rgb = s.rgb * 255.0;
  const torch::Tensor r = rgb.select(1, 0), g = rgb.select(1, 1), b = rgb.select(1, 2);
  const torch::Tensor w = s.opaque.squeeze(1);                // [N, H, W]
  const torch::Tensor count = w.sum({1, 2});
  const torch::Tensor n = count.clamp_min(1);
  auto mean = [&](const torch::Tensor& v) { return (v * w).sum({1, 2}) / n; };
  auto variance = [&](const torch::Tensor& v, const torch::Tensor& m) {
    return ((v - m.view({-1, 1, 1})).square() * w).sum({1, 2}) / n;
  };
  const torch::Tensor rg = r - g, yb = (r + g) / 2 - b;
  const torch::Tensor mean_rg = mean(rg), mean_yb = mean(yb);
  const torch::Tensor m = (variance(rg, mean_rg) + variance(yb, mean_yb)).sqrt() +
                          0.3 * (mean_rg.square() + mean_yb.square()).sqrt();
  return torch::where(count > 0, m, torch::zeros_like(m));
}

torch::Tensor delta_e_cie76(const torch::Tensor& images, const torch::Tensor& reference) {
  check_input(images.defined() && reference.defined() && images.sizes() == reference.sizes(),
              "delta_e_cie76: the images and their references must have the same shape" +
                  (images.defined() && reference.defined() ? ", got " + shape_text(images) + " and " + shape_text(reference)
                                                           : ""));
  const StraightColors a = straight_colors(images, "delta_e_cie76");
  const StraightColors b = straight_colors(reference, "delta_e_cie76");
  const torch::Tensor d = (srgb_to_lab(a.rgb.permute({0, 2, 3, 1})) - srgb_to_lab(b.rgb.permute({0, 2, 3, 1})))
                              .square()
                              .sum(-1)
                              .sqrt();                          // [N, H, W]
  const torch::Tensor w = b.opaque.squeeze(1);
  const torch::Tensor count = w.sum({1, 2});
  return torch::where(count > 0, (d * w).sum({1, 2}) / count.clamp_min(1), torch::zeros_like(count));
}

}  // namespace latentkit
