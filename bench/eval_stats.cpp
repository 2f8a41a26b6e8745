// The statistics behind `latentkit eval` at the sizes a real evaluation uses: Gaussian
// statistics of 10k x 2048 features on each side plus their FID, KID (100 subsets of 1000)
// on the same features, the Inception Score of 10k x 10 probabilities and precision /
// recall on 10k x 128 features. bench/eval_stats.sh runs this, then the same FID with
// NumPy and SciPy as pytorch-fid computes it on the features written here, and prints the
// ratio and the difference.
// Usage: bench_eval_stats [THREADS=2] [FEATURES_DIR]   (prints one JSON line)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/threads.h"
#include "latentkit/eval/metrics.h"
#include "latentkit/eval/npy.h"

using namespace latentkit;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Processor time of all threads: on a shared machine, wall time / this shows how much of
// the cores the run actually got.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// Non-negative, correlated features like an Inception pool layer's: a rank-256 part mixed
// into 2048 dimensions plus independent noise, through abs().
torch::Tensor pool_like_features(int64_t n, int64_t dim, double scale) {
  torch::Tensor mix = torch::randn({256, dim}) / 16;
  return (torch::mm(torch::randn({n, 256}), mix) + 0.5 * torch::randn({n, dim})).abs() * scale;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const std::string dir = argc > 2 ? argv[2] : "";
  const int64_t n = 10000, dim = 2048;
  // The thread set-up `latentkit eval` runs under: LibTorch's threads, OpenBLAS held to
  // one (the metrics spread their products over LibTorch's threads themselves).
  set_threads(threads);
  torch::manual_seed(0);
  torch::Tensor a = pool_like_features(n, dim, 1.0);
  torch::Tensor b = pool_like_features(n, dim, 1.1);
  if (!dir.empty()) {
    write_npy(dir + "/a.npy", a);
    write_npy(dir + "/b.npy", b);
  }
  // Warm-up: BLAS and OpenMP thread pools, first-touch allocations.
  frechet_distance(gaussian_stats(a.slice(0, 0, 600).slice(1, 0, 512)),
                   gaussian_stats(b.slice(0, 0, 600).slice(1, 0, 512)));

  // Best of 2: the machine may be shared; the minimum is the figure least disturbed.
  double stats_s = 1e30, fid_s = 1e30, fid = 0, stats_fid_cpu_s = 0;
  for (int rep = 0; rep < 2; ++rep) {
    const double c0 = cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    GaussianStats sa = gaussian_stats(a);
    GaussianStats sb = gaussian_stats(b);
    const double s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    fid = frechet_distance(sa, sb);
    const double f = seconds_since(t0);
    if (s + f < stats_s + fid_s) {
      stats_s = s;
      fid_s = f;
      stats_fid_cpu_s = cpu_seconds() - c0;
    }
  }

  auto t0 = std::chrono::steady_clock::now();
  MeanStd kid = kernel_inception_distance(a, b, 100, 1000, 0);
  const double kid_s = seconds_since(t0);

  torch::Tensor probs = torch::softmax(3 * torch::randn({n, 10}), 1);
  t0 = std::chrono::steady_clock::now();
  MeanStd is = inception_score(probs, 10);
  const double is_s = seconds_since(t0);

  torch::Tensor real = torch::randn({n, 128});
  torch::Tensor fake = torch::randn({n, 128}) * 1.1 + 0.05;
  t0 = std::chrono::steady_clock::now();
  PrecisionRecall pr = precision_recall(real, fake, 3);
  const double pr_s = seconds_since(t0);

  nlohmann::json out = {{"impl", "latentkit"},
                        {"threads", threads},
                        {"n", n},
                        {"dim", dim},
                        {"stats_s", stats_s},
                        {"fid_s", fid_s},
                        {"stats_fid_s", stats_s + fid_s},
                        {"stats_fid_cpu_s", stats_fid_cpu_s},
                        {"fid", fid},
                        {"kid_s", kid_s},
                        {"kid_mean", kid.mean},
                        {"kid_std", kid.std},
                        {"is_s", is_s},
                        {"is_mean", is.mean},
                        {"is_std", is.std},
                        {"pr_s", pr_s},
                        {"precision", pr.precision},
                        {"recall", pr.recall}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
