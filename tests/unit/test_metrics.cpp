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
#include "golden/color_golden.inc"

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

// --- Colorfulness and delta E ---------------------------------------------------------------

// The closed forms of tests/data/golden/color_golden.py: A premultiplied from straight colors,
// B raw (a little outside [-1, 1], colors above their alpha), float64 [3, 4, 5, 7].
torch::Tensor color_images_a() {
  torch::Tensor t = torch::empty({3, 4, 5, 7}, torch::kFloat64);
  auto v = t.accessor<double, 4>();
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t y = 0; y < 5; ++y) {
      for (int64_t x = 0; x < 7; ++x) {
        const double fi = static_cast<double>(i), fy = static_cast<double>(y), fx = static_cast<double>(x);
        const double a = 0.5 + 0.5 * std::cos(1.3 * fi + 0.27 * fx * fy + 0.6 * fy - 0.4 * fx);
        for (int64_t k = 0; k < 3; ++k) {
          const double c = 0.5 + 0.5 * std::sin(0.9 * fi + 1.7 * static_cast<double>(k) + 0.45 * fy +
                                                0.31 * fx * static_cast<double>(k + 1));
          v[i][k][y][x] = 2 * c * a - 1;
        }
        v[i][3][y][x] = 2 * a - 1;
      }
    }
  }
  return t;
}

torch::Tensor color_images_b() {
  torch::Tensor t = torch::empty({3, 4, 5, 7}, torch::kFloat64);
  auto v = t.accessor<double, 4>();
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t k = 0; k < 4; ++k) {
      for (int64_t y = 0; y < 5; ++y) {
        for (int64_t x = 0; x < 7; ++x) {
          v[i][k][y][x] = 1.1 * std::sin(0.5 * static_cast<double>(i) + 2.1 * static_cast<double>(k) +
                                         0.29 * static_cast<double>(y * (k + 1)) + 0.53 * static_cast<double>(x) + 0.2);
        }
      }
    }
  }
  return t;
}

void expect_values(const torch::Tensor& got, const double* expected, int64_t n, double tolerance) {
  ASSERT_EQ(got.scalar_type(), torch::kFloat64);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{n}));
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(got[i].item<double>(), expected[i], tolerance * expected[i]) << "image " << i;
}

// Opaque RGB images [N, 3, H, W] in [-1, 1] from 0..255 colors, one row of pixels each.
torch::Tensor rgb_pixels(const std::vector<std::vector<std::array<double, 3>>>& images) {
  const int64_t n = static_cast<int64_t>(images.size()), w = static_cast<int64_t>(images[0].size());
  torch::Tensor t = torch::empty({n, 3, 1, w}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t x = 0; x < w; ++x) {
      for (int64_t c = 0; c < 3; ++c) t[i][c][0][x] = images[size_t(i)][size_t(x)][size_t(c)] / 127.5 - 1;
    }
  }
  return t;
}

TEST(Colorfulness, HandComputedValues) {
  // Flat red: no spread, mean (rg, yb) = (255, 127.5). Red beside green: rg = +-255 (mean 0,
  // sd 255), yb = 127.5 on both. Gray: 0.
  const torch::Tensor m = colorfulness(rgb_pixels({{{255, 0, 0}, {255, 0, 0}},
                                                   {{255, 0, 0}, {0, 255, 0}},
                                                   {{128, 128, 128}, {30, 30, 30}}}));
  EXPECT_NEAR(m[0].item<double>(), 0.3 * std::sqrt(255.0 * 255.0 + 127.5 * 127.5), 1e-9);
  EXPECT_NEAR(m[1].item<double>(), 255.0 + 0.3 * 127.5, 1e-9);
  EXPECT_NEAR(m[2].item<double>(), 0.0, 1e-9);
  // Gray images (one channel) have none.
  EXPECT_EQ(colorfulness(torch::rand({2, 1, 4, 4}) * 2 - 1).abs().max().item<double>(), 0.0);
  // The float32 path agrees.
  EXPECT_NEAR(colorfulness(rgb_pixels({{{255, 0, 0}, {0, 255, 0}}}).to(torch::kFloat32))[0].item<double>(), 293.25, 1e-3);
}

TEST(Colorfulness, OnlyOpaquePixelsCountUnpremultiplied) {
  // Red at alpha 0.8 (premultiplied) beside blue at alpha 0.3 and 0.49 (left out) and a
  // transparent pixel: the flat red value. A fully transparent image scores 0.
  torch::Tensor t = torch::full({2, 4, 1, 4}, -1.0, torch::kFloat64);
  const double red_alpha = 0.8;
  t[0][0][0][0] = 2 * red_alpha - 1;
  t[0][3][0][0] = 2 * red_alpha - 1;
  t[0][2][0][1] = 2 * 0.3 - 1;
  t[0][3][0][1] = 2 * 0.3 - 1;
  t[0][2][0][2] = 2 * 0.49 - 1;
  t[0][3][0][2] = 2 * 0.49 - 1;
  const torch::Tensor m = colorfulness(t);
  EXPECT_NEAR(m[0].item<double>(), 0.3 * std::sqrt(255.0 * 255.0 + 127.5 * 127.5), 1e-9);
  EXPECT_EQ(m[1].item<double>(), 0.0);
  // At exactly 0.5 a pixel counts: blue joins, and the value moves.
  t[0][2][0][2] = 0.0;
  t[0][3][0][2] = 0.0;
  EXPECT_GT(std::abs(colorfulness(t)[0].item<double>() - m[0].item<double>()), 1.0);
}

TEST(Colorfulness, MatchesTheDefinitionOnFixedImages) {
  const torch::Tensor a = color_images_a();
  expect_values(colorfulness(a), kGoldenColorfulnessA, 3, 1e-10);
  expect_values(colorfulness(color_images_b()), kGoldenColorfulnessB, 3, 1e-10);
  // A's straight colors as opaque RGB.
  const torch::Tensor straight = (a.slice(1, 0, 3) + 1) / (a.slice(1, 3, 4) + 1) * 2 - 1;
  expect_values(colorfulness(straight), kGoldenColorfulnessRgbA, 3, 1e-10);
  expect_values(colorfulness(a.to(torch::kFloat32)), kGoldenColorfulnessA, 3, 1e-5);
}

TEST(DeltaE, HandComputedValues) {
  // Identical: 0. White against black: L* 100 against 0 (a*, b* within 2e-5 of 0). Red against
  // itself and white against black in one image: the mean, 50.
  const torch::Tensor white = rgb_pixels({{{255, 255, 255}, {255, 0, 0}}});
  const torch::Tensor black = rgb_pixels({{{0, 0, 0}, {255, 0, 0}}});
  EXPECT_NEAR(delta_e_cie76(white, white)[0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(delta_e_cie76(white, black)[0].item<double>(), 50.0, 1e-4);
  EXPECT_NEAR(delta_e_cie76(white.slice(3, 0, 1), black.slice(3, 0, 1))[0].item<double>(), 100.0, 1e-4);
  // Gray images are compared as RGB: mid-gray (L* 53.39) against black.
  EXPECT_NEAR(delta_e_cie76(torch::zeros({1, 1, 2, 2}), torch::full({1, 1, 2, 2}, -1.0))[0].item<double>(),
              kGoldenLab[12], 1e-4);
}

TEST(DeltaE, CountsTheReferencesOpaquePixels) {
  // The reference is transparent at pixel 1, so the image's color there does not count; the
  // image's own alpha un-premultiplies its color (red at alpha 0.6 is red).
  torch::Tensor reference = torch::full({2, 4, 1, 2}, -1.0, torch::kFloat64);
  reference[0][0][0][0] = 1;
  reference[0][3][0][0] = 1;
  torch::Tensor image = torch::full({2, 4, 1, 2}, -1.0, torch::kFloat64);
  image[0][0][0][0] = 2 * 0.6 - 1;
  image[0][3][0][0] = 2 * 0.6 - 1;
  image[0][1][0][1] = 1;  // green, where the reference is transparent
  image[0][3][0][1] = 1;
  const torch::Tensor d = delta_e_cie76(image, reference);
  EXPECT_NEAR(d[0].item<double>(), 0.0, 1e-9);
  EXPECT_EQ(d[1].item<double>(), 0.0);  // no opaque pixel in the reference
}

TEST(DeltaE, MatchesTheDefinitionOnFixedImages) {
  const torch::Tensor a = color_images_a(), b = color_images_b();
  expect_values(delta_e_cie76(a, b), kGoldenDeltaEAB, 3, 1e-9);
  expect_values(delta_e_cie76(b, a), kGoldenDeltaEBA, 3, 1e-9);
  expect_values(delta_e_cie76(a.to(torch::kFloat32), b.to(torch::kFloat32)), kGoldenDeltaEAB, 3, 1e-4);
  // B's opaque pixels as the golden script counts them: the threshold is the same.
  const torch::Tensor alpha_b = (b.slice(1, 3, 4).clamp(-1, 1) + 1) / 2;
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ((alpha_b[i] >= 0.5).sum().item<int64_t>(), kGoldenOpaqueCountB[i]);
}

TEST(ColorMetrics, BadInputIsAClearError) {
  expect_error([&] { colorfulness(torch::zeros({2, 2, 4, 4})); }, {"colorfulness", "1, 3 or 4 channels"});
  expect_error([&] { colorfulness(torch::zeros({4, 4})); }, {"colorfulness", "[N, C, H, W]"});
  expect_error([&] { delta_e_cie76(torch::zeros({1, 3, 4, 4}), torch::zeros({1, 4, 4, 4})); }, {"same shape"});
  expect_error([&] { delta_e_cie76(torch::zeros({1, 3, 4, 4}, torch::kInt64), torch::zeros({1, 3, 4, 4}, torch::kInt64)); },
               {"float images"});
}

}  // namespace
}  // namespace latentkit
