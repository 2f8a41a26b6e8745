#pragma once
// Sample-quality metrics on feature vectors and class probabilities, computed in double
// precision, each as its reference implementation defines it:
//   FID   Heusel et al. 2017 (pytorch-fid): Frechet distance of two Gaussians
//   KID   Binkowski et al. 2018: unbiased MMD^2, cubic polynomial kernel, over subsets
//   IS    Salimans et al. 2016: exp(E[KL(p(y|x) || p(y))]) over splits
//   P/R   Kynkaanniemi et al. 2019: k-NN manifold precision and recall
//   KL    between class histograms of generated and real images
// and two measures of color on the images themselves:
//   colorfulness  Hasler & Suesstrunk 2003, the M of their opponent color space
//   delta E       CIE76: Euclidean distance in CIELAB to a reference image
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace latentkit {

/// Mean and covariance of a feature set (float64). sigma is the unbiased (N - 1) covariance,
/// as numpy.cov(rowvar=False) and pytorch-fid compute it.
struct GaussianStats {
  torch::Tensor mu;     // float64 [D]
  torch::Tensor sigma;  // float64 [D, D]
  int64_t n = 0;
};

/// features: [N, D], N >= 2, finite. Throws Error for NaN / Inf, an empty set or N < 2.
GaussianStats gaussian_stats(const torch::Tensor& features);

/// |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2); the last trace is the sum
/// of the square roots of the eigenvalues of the symmetric matrix S1^1/2 S2 S1^1/2 (tiny
/// negative eigenvalues from round-off clipped to 0). No complex numbers.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

struct MeanStd {
  double mean = 0.0;
  double std = 0.0;
};

/// KID: unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3, averaged over `subsets` random
/// subsets of `subset_size` from each set (drawn with the seed; subset_size is capped at
/// the smaller set's size). std is the standard deviation over subsets.
MeanStd kernel_inception_distance(const torch::Tensor& features_a, const torch::Tensor& features_b,
                                  int64_t subsets = 100, int64_t subset_size = 1000, uint64_t seed = 0);

/// Inception Score of class probabilities probs: [N, K] (rows sum to 1), split into
/// `splits` consecutive parts: mean and std of exp(mean KL(p(y|x) || p(y))) over parts.
MeanStd inception_score(const torch::Tensor& probs, int64_t splits = 10);

struct PrecisionRecall {
  double precision = 0.0;  // fraction of generated samples inside the real manifold
  double recall = 0.0;     // fraction of real samples inside the generated manifold
};

/// Each set's manifold is the union of balls around its points with radius the distance
/// to the k-th nearest other point of the same set.
PrecisionRecall precision_recall(const torch::Tensor& real_features, const torch::Tensor& fake_features,
                                 int64_t k = 3);

struct ClassHistogramKl {
  double kl = 0.0;                  // KL(generated || real) of the class histograms
  int64_t classes_covered = 0;      // classes predicted for at least one generated image
  std::vector<double> real_histogram;
  std::vector<double> fake_histogram;
};

/// real_labels, fake_labels: int64 [N] class indices in [0, num_classes).
/// KL(generated || real) = sum_c p_gen(c) log(p_gen(c) / p_real(c)), with 1e-10 added to
/// every bin of both histograms before normalising, so a class absent from the real set
/// gives a large finite KL rather than infinity. Missing generated classes show in
/// classes_covered.
ClassHistogramKl class_histogram_kl(const torch::Tensor& real_labels, const torch::Tensor& fake_labels,
                                    int64_t num_classes);

/// Colorfulness (Hasler & Suesstrunk 2003) of each image: with rg = R - G and
/// yb = (R + G) / 2 - B on 0..255 sRGB, M = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 +
/// mean_yb^2), means and standard deviations (divided by the count, not count - 1) over the
/// image's opaque pixels: alpha >= 0.5, each color un-premultiplied (unpremultiply,
/// core/grid.h). images: [N, C, H, W] in [-1, 1], C 1 (gray: 0), 3 (every pixel opaque) or
/// 4 (RGBA, premultiplied). float64 [N]; an image with no opaque pixel scores 0.
torch::Tensor colorfulness(const torch::Tensor& images);

/// CIE76 color difference of each image to its reference: the mean over the reference's
/// opaque pixels (alpha >= 0.5) of |Lab(image) - Lab(reference)|, each pixel's color
/// un-premultiplied by its own image's alpha and taken to CIELAB by srgb_to_lab (D65).
/// images, reference: [N, C, H, W] in [-1, 1] of the same shape, C 1, 3 or 4 as in
/// colorfulness. float64 [N]; an image whose reference has no opaque pixel scores 0.
torch::Tensor delta_e_cie76(const torch::Tensor& images, const torch::Tensor& reference);

}  // namespace latentkit
