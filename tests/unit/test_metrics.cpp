#include "tests/unit/test_util.h"
#include "latentkit/eval/metrics.h"

#include <dlfcn.h>

#include <cmath>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/threads.h"

namespace latentkit {
namespace {

#include "golden/metrics_golden.inc"

// The closed forms of tests/data/golden/metrics_golden.py, with the same std::sin / std::cos
// calls as Python's math module, so both sides start from bit-identical features.
torch::Tensor features_a(int64_t n, int64_t d) {
  torch::Tensor x = torch::empty({n, d}, torch::kFloat64);
  auto a = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const double fi = static_cast<double>(i), fj = static_cast<double>(j);
      a[i][j] = std::sin(0.37 * fi + 1.3 * fj) + 0.5 * std::cos(0.11 * fi * fj + fj) +
                0.25 * std::sin(0.013 * fi * fi + 0.7 * fj * fj + 0.3);
    }
  }
  return x;
}

torch::Tensor features_b(int64_t n, int64_t d) {
  torch::Tensor x = torch::empty({n, d}, torch::kFloat64);
  auto a = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const double fi = static_cast<double>(i), fj = static_cast<double>(j);
      a[i][j] = 0.8 * std::sin(0.23 * fi + 0.7 * fj + 0.5) + 0.6 * std::cos(0.05 * fi * fj + 2.0 * fj) +
                0.3 * std::cos(0.017 * fi * fi + 0.9 * fj) + 0.1;
    }
  }
  return x;
}

torch::Tensor probabilities(int64_t n, int64_t k) {
  torch::Tensor p = torch::empty({n, k}, torch::kFloat64);
  auto a = p.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < k; ++c) {
      const double fi = static_cast<double>(i), fc = static_cast<double>(c);
      a[i][c] = std::exp(2.0 * std::sin(0.3 * fi + 0.9 * fc) + std::cos(0.05 * fi * fc));
      sum += a[i][c];
    }
    for (int64_t c = 0; c < k; ++c) a[i][c] /= sum;
  }
  return p;
}

void expect_relative(double actual, double expected, double tolerance, const std::string& what = "") {
  EXPECT_LE(std::abs(actual - expected), tolerance * std::abs(expected))
      << what << ": got " << actual << ", expected " << expected;
}

using test_util::expect_error;

// tr((S1^1/2 S2 S1^1/2)^1/2) by another road: with S1 = A^T A / (n1 - 1) and S2 = B^T B /
// (n2 - 1) (A, B centred), it is the sum of the singular values of A B^T / sqrt((n1-1)(n2-1)).
double reference_trace_sqrt(const torch::Tensor& x1, const torch::Tensor& x2) {
  torch::Tensor a = x1 - x1.mean(0), b = x2 - x2.mean(0);
  const double scale = std::sqrt(static_cast<double>((x1.size(0) - 1) * (x2.size(0) - 1)));
  return torch::linalg_svdvals(torch::mm(a, b.t())).sum().item<double>() / scale;
}

double reference_fid(const torch::Tensor& x1, const torch::Tensor& x2) {
  GaussianStats s1 = gaussian_stats(x1), s2 = gaussian_stats(x2);
  return (s1.mu - s2.mu).pow(2).sum().item<double>() + s1.sigma.trace().item<double>() +
         s2.sigma.trace().item<double>() - 2 * reference_trace_sqrt(x1, x2);
}

GaussianStats make_stats(const torch::Tensor& mu, const torch::Tensor& sigma) {
  GaussianStats s;
  s.mu = mu;
  s.sigma = sigma;
  s.n = 100;
  return s;
}

// --- Gaussian statistics and FID -----------------------------------------------------------

TEST(GaussianStats, MatchesASimpleReferenceAtLargeDimension) {
  torch::manual_seed(0);
  // D = 600 takes the blocked / BLAS-syrk road; float32 input, as extractors give it.
  torch::Tensor x = torch::randn({700, 600}) * torch::linspace(0.1, 3, 600) + 5;
  GaussianStats s = gaussian_stats(x);
  torch::Tensor x64 = x.to(torch::kFloat64);
  torch::Tensor centred = x64 - x64.mean(0);
  torch::Tensor sigma = torch::mm(centred.t(), centred) / 699.0;
  EXPECT_EQ(s.n, 700);
  EXPECT_EQ(s.mu.scalar_type(), torch::kFloat64);
  EXPECT_EQ(s.sigma.sizes(), (std::vector<int64_t>{600, 600}));
  EXPECT_LE((s.mu - x64.mean(0)).abs().max().item<double>(), 1e-12);
  EXPECT_LE((s.sigma - sigma).abs().max().item<double>(), 1e-12 * sigma.abs().max().item<double>());
  EXPECT_TRUE(torch::equal(s.sigma, s.sigma.t())) << "sigma must be exactly symmetric";
  // The caller's tensor is untouched (the statistics centre a copy).
  torch::Tensor x2 = x64.clone();
  gaussian_stats(x2);
  EXPECT_TRUE(torch::equal(x2, x64));
}

TEST(GaussianStats, MatchesNumpyCov) {
  GaussianStats s = gaussian_stats(features_a(300, 16));
  expect_relative(s.sigma.trace().item<double>(), kGoldenTraceSigmaA_300_16, 1e-12, "trace");
  s = gaussian_stats(features_a(500, 64));
  expect_relative(s.sigma.trace().item<double>(), kGoldenTraceSigmaA_500_64, 1e-12, "trace");
}

TEST(Fid, MatchesPytorchFidOnFixedFeatures) {
  expect_relative(frechet_distance(gaussian_stats(features_a(300, 16)), gaussian_stats(features_b(250, 16))),
                  kGoldenFid_300_250_16, 1e-6, "D = 16");
  expect_relative(frechet_distance(gaussian_stats(features_a(500, 64)), gaussian_stats(features_b(400, 64))),
                  kGoldenFid_500_400_64, 1e-6, "D = 64");
  // Two sets of the same form: the traces nearly cancel (FID 0.014 of traces near 20).
  torch::Tensor near_b = features_a(450, 16).slice(0, 150);
  expect_relative(frechet_distance(gaussian_stats(features_a(300, 16)), gaussian_stats(near_b)), kGoldenFidNear_16,
                  1e-6, "near");
}

TEST(Fid, IdenticalSetsGiveZeroAndTheDistanceIsSymmetric) {
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({400, 64}) * torch::linspace(0.5, 2, 64);
  GaussianStats s = gaussian_stats(x);
  const double scale = s.sigma.trace().item<double>();
  EXPECT_NEAR(frechet_distance(s, s), 0.0, 1e-10 * scale);
  torch::Tensor y = torch::randn({300, 64}).pow(2);
  GaussianStats t = gaussian_stats(y);
  const double xy = frechet_distance(s, t);
  expect_relative(frechet_distance(t, s), xy, 1e-10, "symmetry");
  expect_relative(xy, reference_fid(x.to(torch::kFloat64), y.to(torch::kFloat64)), 1e-9, "svd reference");
}

TEST(Fid, EqualCovariancesGiveTheSquaredMeanDistance) {
  torch::Tensor x = features_a(300, 16);
  torch::Tensor shift = 0.1 * torch::arange(16, torch::kFloat64);
  const double expected = shift.pow(2).sum().item<double>();  // 12.4
  expect_relative(frechet_distance(gaussian_stats(x), gaussian_stats(x + shift)), expected, 1e-9, "shift");
}

TEST(Fid, DiagonalAndCommutingCovariancesHaveAClosedForm) {
  torch::manual_seed(2);
  for (int64_t d : {5, 40, 600}) {
    torch::Tensor mu1 = torch::randn({d}, torch::kFloat64), mu2 = torch::randn({d}, torch::kFloat64);
    torch::Tensor a = torch::rand({d}, torch::kFloat64) * 4 + 0.01, b = torch::rand({d}, torch::kFloat64) * 2 + 0.01;
    const double expected = (a.sqrt() - b.sqrt()).pow(2).sum().item<double>() + (mu1 - mu2).pow(2).sum().item<double>();
    expect_relative(frechet_distance(make_stats(mu1, a.diag()), make_stats(mu2, b.diag())), expected, 1e-10,
                    "diagonal, D = " + std::to_string(d));
    // Rotated by one orthogonal Q, the covariances still commute and the form still holds.
    torch::Tensor q = std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kFloat64)));
    torch::Tensor s1 = q.mm(a.diag()).mm(q.t()), s2 = q.mm(b.diag()).mm(q.t());
    expect_relative(frechet_distance(make_stats(mu1, (s1 + s1.t()) / 2), make_stats(mu2, (s2 + s2.t()) / 2)), expected,
                    1e-9, "rotated, D = " + std::to_string(d));
  }
}

TEST(Fid, SingularCovariancesFallBackAndAgree) {
  torch::manual_seed(3);
  auto closed = [](const torch::Tensor& x, const torch::Tensor& y) {
    return (x.sqrt() - y.sqrt()).pow(2).sum().item<double>();
  };
  // Zero variances in the first set only, then in both (Cholesky fails on one, on both);
  // D = 600 takes the blocked products.
  for (int64_t d : {30, 600}) {
    torch::Tensor a = torch::rand({d}, torch::kFloat64) + 0.5, b = torch::rand({d}, torch::kFloat64) + 0.5;
    torch::Tensor mu = torch::zeros({d}, torch::kFloat64);
    a.slice(0, 0, d / 3).zero_();
    const std::string at = ", D = " + std::to_string(d);
    expect_relative(frechet_distance(make_stats(mu, a.diag()), make_stats(mu, b.diag())), closed(a, b), 1e-10,
                    "S1 singular" + at);
    expect_relative(frechet_distance(make_stats(mu, b.diag()), make_stats(mu, a.diag())), closed(a, b), 1e-10,
                    "S2 singular" + at);
    b.slice(0, d / 6, d / 2).zero_();
    expect_relative(frechet_distance(make_stats(mu, a.diag()), make_stats(mu, b.diag())), closed(a, b), 1e-10,
                    "both singular" + at);
  }
  // Fewer samples than dimensions (the caller warns): ranks 19 and 24 in 64 dimensions.
  torch::Tensor x = torch::randn({20, 64}, torch::kFloat64), y = torch::randn({25, 64}, torch::kFloat64) * 1.5;
  expect_relative(frechet_distance(gaussian_stats(x), gaussian_stats(y)), reference_fid(x, y), 1e-9, "n < D");
}

TEST(Fid, BadInputIsAClearError) {
  torch::Tensor nan_set = torch::randn({10, 4});
  nan_set[3][2] = std::nan("");
  expect_error([&] { gaussian_stats(nan_set); }, {"NaN"});
  torch::Tensor inf_set = torch::randn({10, 4});
  inf_set[0][0] = std::numeric_limits<float>::infinity();
  expect_error([&] { gaussian_stats(inf_set); }, {"Inf"});
  expect_error([] { gaussian_stats(torch::zeros({0, 4})); }, {"empty"});
  expect_error([] { gaussian_stats(torch::zeros({1, 4})); }, {"at least 2", "got 1"});
  expect_error([] { gaussian_stats(torch::zeros({10})); }, {"[N, D]", "[10]"});
  expect_error([] { gaussian_stats(torch::Tensor()); }, {"no features"});
  GaussianStats a = gaussian_stats(torch::randn({10, 4})), b = gaussian_stats(torch::randn({10, 5}));
  expect_error([&] { frechet_distance(a, b); }, {"dimension", "[4]", "[5]"});
  expect_error([&] { frechet_distance(a, GaussianStats()); }, {"missing", "gaussian_stats"});
}

TEST(GaussianStats, SameValuesOnOneOrTwoThreadsAndOpenBlasLeftAsFound) {
  // The metrics hold OpenBLAS to one thread for their products and lend it threads for the
  // eigensolver; training after an evaluation in the same process must find it as
  // set_threads left it, and a program that never called set_threads as it was.
  auto get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  auto set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const int torch_before = torch::get_num_threads(), blas_before = get ? get() : 0;
  torch::manual_seed(6);
  // 700 rows and 600 dimensions: the Gram matrix splits over threads, the blocked products
  // run balanced, KID's subsets and the distance chunks go to different threads.
  torch::Tensor x = torch::randn({700, 600}), y = torch::randn({700, 600}).pow(2);
  // Half the generated set near the real one, half far off.
  torch::Tensor fake = torch::cat({x.slice(0, 0, 350) + 0.1 * torch::randn({350, 600}), 3 * torch::randn({350, 600})});
  auto run_all = [&] {
    PrecisionRecall pr = precision_recall(x, fake);
    return std::vector<double>{frechet_distance(gaussian_stats(x), gaussian_stats(y)),
                               kernel_inception_distance(x, y, 4, 300, 3).mean, pr.precision, pr.recall};
  };
  torch::set_num_threads(1);
  if (set) set(2);
  const std::vector<double> one = run_all();
  if (get) {
    EXPECT_EQ(get(), 2);
  }
  set_threads(2);
  if (get) {
    ASSERT_EQ(get(), 1);
  }
  const std::vector<double> two = run_all();
  if (get) {
    EXPECT_EQ(get(), 1);
  }
  for (size_t i = 0; i < one.size(); ++i) expect_relative(two[i], one[i], 1e-10, "value " + std::to_string(i));
  EXPECT_NEAR(one[2], 0.5, 0.01) << "precision";
  EXPECT_GT(one[3], 0.4) << "recall";
  torch::set_num_threads(torch_before);
  if (set) set(blas_before);
}

// --- KID -----------------------------------------------------------------------------------

TEST(Kid, MatchesTorchFidelityOnWholeSets) {
  // A subset size of at least the set size takes each whole set, in some order: every
  // subset gives the same value, so the std is round-off.
  MeanStd kid = kernel_inception_distance(features_a(200, 16), features_b(200, 16), 3, 1000);
  expect_relative(kid.mean, kGoldenKid_200_16, 1e-6, "D = 16");
  EXPECT_LE(kid.std, 1e-12);
  kid = kernel_inception_distance(features_a(300, 64), features_b(300, 64), 2, 300);
  expect_relative(kid.mean, kGoldenKid_300_64, 1e-6, "D = 64");
  // On whole sets the estimate is symmetric in its arguments.
  expect_relative(kernel_inception_distance(features_b(200, 16), features_a(200, 16), 1, 1000).mean, kGoldenKid_200_16,
                  1e-9, "swapped");
}

TEST(Kid, SameDistributionIsNearZeroAndSubsetsAreSeeded) {
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({2000, 32}), y = torch::randn({2000, 32}), far = torch::randn({2000, 32}) + 0.5;
  MeanStd same = kernel_inception_distance(x, y, 20, 500, 7);
  MeanStd swapped = kernel_inception_distance(y, x, 20, 500, 7);
  MeanStd different = kernel_inception_distance(x, far, 20, 500, 7);
  // The unbiased estimate scatters around 0 for one distribution; 0.5 sd apart is far off.
  EXPECT_LT(std::abs(same.mean), 0.01) << same.mean << " +- " << same.std;
  EXPECT_LT(std::abs(swapped.mean), 0.01) << swapped.mean;
  EXPECT_GT(same.std, 0.0);
  EXPECT_GT(different.mean, 0.1) << different.mean;
  EXPECT_GT(different.mean, 10 * different.std);
  EXPECT_NEAR(same.mean, swapped.mean, 3 * (same.std + swapped.std) / std::sqrt(20.0));
  // The seed fixes the subsets.
  MeanStd again = kernel_inception_distance(x, y, 20, 500, 7);
  EXPECT_EQ(again.mean, same.mean);
  EXPECT_EQ(again.std, same.std);
  EXPECT_NE(kernel_inception_distance(x, y, 20, 500, 8).mean, same.mean);
}

TEST(Kid, BadInputIsAClearError) {
  torch::Tensor x = torch::randn({10, 4});
  expect_error([&] { kernel_inception_distance(x, torch::randn({10, 5})); }, {"dimension", "4", "5"});
  expect_error([&] { kernel_inception_distance(x, torch::zeros({0, 4})); }, {"empty"});
  torch::Tensor nan_set = x.clone();
  nan_set[1][1] = std::nan("");
  expect_error([&] { kernel_inception_distance(x, nan_set); }, {"NaN"});
  expect_error([&] { kernel_inception_distance(x, x, 0); }, {"subsets"});
  expect_error([&] { kernel_inception_distance(x, x, 10, 1); }, {"subset size"});
}

// --- Inception Score -----------------------------------------------------------------------

TEST(InceptionScore, UniformIsOneAndConfidentEvenPredictionsGiveTheClassCount) {
  MeanStd uniform = inception_score(torch::full({100, 10}, 0.1), 10);
  EXPECT_NEAR(uniform.mean, 1.0, 1e-12);
  EXPECT_NEAR(uniform.std, 0.0, 1e-12);
  // One-hot on 5 of 10 classes, spread evenly over every split of 10 images.
  torch::Tensor labels = torch::arange(100) % 5;
  MeanStd confident = inception_score(torch::one_hot(labels, 10).to(torch::kFloat32), 10);
  EXPECT_NEAR(confident.mean, 5.0, 1e-12);
  EXPECT_NEAR(confident.std, 0.0, 1e-12);
}

TEST(InceptionScore, MatchesTheOriginalCode) {
  torch::Tensor p = probabilities(250, 10);
  MeanStd is = inception_score(p, 10);
  expect_relative(is.mean, kGoldenIsMean_250_10_s10, 1e-6, "mean, 10 splits");
  expect_relative(is.std, kGoldenIsStd_250_10_s10, 1e-6, "std, 10 splits");
  // 3 splits of 250: rows [0, 83), [83, 166), [166, 250).
  is = inception_score(p, 3);
  expect_relative(is.mean, kGoldenIsMean_250_10_s3, 1e-6, "mean, 3 splits");
  expect_relative(is.std, kGoldenIsStd_250_10_s3, 1e-6, "std, 3 splits");
}

TEST(InceptionScore, BadInputIsAClearError) {
  expect_error([] { inception_score(torch::full({10}, 0.1)); }, {"[N, K]", "[10]"});
  expect_error([] { inception_score(torch::randn({20, 10})); }, {"negative", "logits"});
  expect_error([] { inception_score(torch::full({20, 10}, 0.2)); }, {"sum to 1"});
  expect_error([] { inception_score(torch::full({5, 10}, 0.1), 10); }, {"splits", "N = 5"});
  torch::Tensor p = torch::full({20, 10}, 0.1);
  p[2][3] = std::nan("");
  expect_error([&] { inception_score(p); }, {"NaN"});
  expect_error([] { inception_score(torch::zeros({0, 10})); }, {"empty"});
}

// --- Precision and recall ------------------------------------------------------------------

// Points on a line, as [N, 2] with y = 0.
torch::Tensor line(std::vector<double> xs) {
  torch::Tensor p = torch::zeros({static_cast<int64_t>(xs.size()), 2}, torch::kFloat64);
  for (size_t i = 0; i < xs.size(); ++i) p[static_cast<int64_t>(i)][0] = xs[i];
  return p;
}

TEST(PrecisionRecall, HandMadePointSets) {
  // real {0, 1, 2, 3, 10}, k = 1: radii 1, 1, 1, 1, 7 -> manifold [-1, 4] u [3, 17].
  // fake {0.5, 5, 20, 16.5}, k = 1: radii 4.5, 4.5, 3.5, 3.5.
  // Precision: 0.5 in, 5 in (10 +- 7), 20 out, 16.5 in -> 3/4.
  // Recall: 0, 1, 2, 3 lie in [-4, 5]; 10 lies in no fake ball -> 4/5.
  torch::Tensor real = line({0, 1, 2, 3, 10}), fake = line({0.5, 5, 20, 16.5});
  PrecisionRecall pr = precision_recall(real, fake, 1);
  EXPECT_DOUBLE_EQ(pr.precision, 0.75);
  EXPECT_DOUBLE_EQ(pr.recall, 0.8);
  // k = 2: real radii 2, 1, 1, 2, 8 -> manifold [-2, 18]; fake radii 16, 11.5, 15, 11.5.
  // Precision: 20 is still out -> 3/4. Recall: 0.5 +- 16 holds every real point -> 1.
  pr = precision_recall(real, fake, 2);
  EXPECT_DOUBLE_EQ(pr.precision, 0.75);
  EXPECT_DOUBLE_EQ(pr.recall, 1.0);
  // Swapping the sets swaps the answers.
  pr = precision_recall(fake, real, 1);
  EXPECT_DOUBLE_EQ(pr.precision, 0.8);
  EXPECT_DOUBLE_EQ(pr.recall, 0.75);
}

TEST(PrecisionRecall, BallsIncludeTheirEdgeAndDuplicatesAreNeighbours) {
  // real {0, 2}: radii 2. fake {4, 5, -2}: 4 and -2 lie exactly on an edge (in), 5 out.
  // fake radii 1, 1, 6: -2 +- 6 holds both real points.
  PrecisionRecall pr = precision_recall(line({0, 2}), line({4, 5, -2}), 1);
  EXPECT_DOUBLE_EQ(pr.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(pr.recall, 1.0);
  // real {0, 0, 5}: the duplicates are each other's nearest neighbour (radius 0); 5 has
  // radius 5. fake {0, 9, 11}: 0 sits on the duplicates and 9 is within 5 of 5, 11 is not.
  pr = precision_recall(line({0, 0, 5}), line({0, 9, 11}), 1);
  EXPECT_DOUBLE_EQ(pr.precision, 2.0 / 3.0);
}

// The definition, written plainly: direct distances, the (k+1)-th smallest of a row that
// includes the point itself, ANY ball.
PrecisionRecall reference_precision_recall(const torch::Tensor& real, const torch::Tensor& fake, int64_t k) {
  auto radii = [k](const torch::Tensor& x) {
    return std::get<0>(torch::kthvalue(torch::cdist(x, x, 2, /*compute_mode=*/2), k + 1, 1));
  };
  torch::Tensor r_real = radii(real), r_fake = radii(fake);
  torch::Tensor d = torch::cdist(fake, real, 2, 2);
  PrecisionRecall pr;
  pr.precision = (d <= r_real.unsqueeze(0)).any(1).to(torch::kFloat64).mean().item<double>();
  pr.recall = (d <= r_fake.unsqueeze(1)).any(0).to(torch::kFloat64).mean().item<double>();
  return pr;
}

TEST(PrecisionRecall, MatchesTheDefinitionAcrossChunks) {
  torch::manual_seed(5);
  // 3000 columns: 16 MB chunks hold 699 rows, so each set spans five chunks.
  torch::Tensor real = torch::randn({3000, 6}, torch::kFloat64);
  torch::Tensor fake = torch::randn({2900, 6}, torch::kFloat64) * 1.3 + 0.2;
  PrecisionRecall pr = precision_recall(real, fake, 3);
  PrecisionRecall ref = reference_precision_recall(real, fake, 3);
  EXPECT_DOUBLE_EQ(pr.precision, ref.precision);
  EXPECT_DOUBLE_EQ(pr.recall, ref.recall);
  EXPECT_GT(pr.precision, 0.3);
  EXPECT_LT(pr.precision, 0.99);
}

TEST(PrecisionRecall, MatchesKynkaanniemiOnFixedFeatures) {
  PrecisionRecall pr = precision_recall(features_a(200, 8), features_b(150, 8), 3);
  EXPECT_DOUBLE_EQ(pr.precision, kGoldenPrecision_200_150_8_k3);
  EXPECT_DOUBLE_EQ(pr.recall, kGoldenRecall_200_150_8_k3);
  pr = precision_recall(features_a(200, 8), features_b(150, 8), 5);
  EXPECT_DOUBLE_EQ(pr.precision, kGoldenPrecision_200_150_8_k5);
  EXPECT_DOUBLE_EQ(pr.recall, kGoldenRecall_200_150_8_k5);
  pr = precision_recall(features_a(200, 8), features_a(300, 8).slice(0, 120) * 0.9 + 0.05, 3);
  EXPECT_DOUBLE_EQ(pr.precision, kGoldenPrecisionNear_k3);
  EXPECT_DOUBLE_EQ(pr.recall, kGoldenRecallNear_k3);
}

TEST(PrecisionRecall, BadInputIsAClearError) {
  torch::Tensor x = torch::randn({10, 4});
  expect_error([&] { precision_recall(x, torch::randn({3, 4}), 3); }, {"k = 3", "at least 4", "got 3"});
  expect_error([&] { precision_recall(torch::randn({3, 4}), x, 3); }, {"k = 3", "real"});
  expect_error([&] { precision_recall(x, x, 0); }, {"k must be at least 1"});
  expect_error([&] { precision_recall(x, torch::randn({10, 5})); }, {"dimension"});
  torch::Tensor nan_set = x.clone();
  nan_set[0][0] = std::nan("");
  expect_error([&] { precision_recall(x, nan_set); }, {"NaN"});
  expect_error([&] { precision_recall(torch::zeros({0, 4}), x); }, {"empty"});
}

// --- Class histogram KL --------------------------------------------------------------------

TEST(ClassHistogramKl, HandComputedValues) {
  // real 1/3 each; generated 3/4, 1/4, 0.
  ClassHistogramKl r = class_histogram_kl(torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64),
                                          torch::tensor({0, 0, 0, 1}, torch::kInt64), 3);
  EXPECT_NEAR(r.kl, 0.75 * std::log(2.25) + 0.25 * std::log(0.75), 1e-9);
  EXPECT_EQ(r.classes_covered, 2);
  EXPECT_EQ(r.real_histogram, (std::vector<double>{1.0 / 3, 1.0 / 3, 1.0 / 3}));
  EXPECT_EQ(r.fake_histogram, (std::vector<double>{0.75, 0.25, 0.0}));
  // Identical histograms: 0.
  EXPECT_NEAR(class_histogram_kl(torch::tensor({0, 1, 2}), torch::tensor({2, 1, 0}), 3).kl, 0.0, 1e-12);
  // A class the real set lacks: large but finite, log(1 / (1e-10 / 2)) = 23.72.
  r = class_histogram_kl(torch::tensor({0, 0}), torch::tensor({1}), 2);
  EXPECT_NEAR(r.kl, std::log(2e10), 1e-6);
  EXPECT_EQ(r.classes_covered, 1);
}

TEST(ClassHistogramKl, BadInputIsAClearError) {
  torch::Tensor ok = torch::tensor({0, 1});
  expect_error([&] { class_histogram_kl(ok, torch::tensor({0, 3}), 3); }, {"generated", "[0, 3)", "3"});
  expect_error([&] { class_histogram_kl(torch::tensor({-1, 0}), ok, 3); }, {"real", "-1"});
  expect_error([&] { class_histogram_kl(ok, torch::tensor({0.0, 1.0}), 3); }, {"integer"});
  expect_error([&] { class_histogram_kl(ok, torch::zeros({0}, torch::kInt64), 3); }, {"non-empty"});
  expect_error([&] { class_histogram_kl(ok, ok, 0); }, {"num_classes"});
}

}  // namespace
}  // namespace latentkit
