#pragma once
// Feature axes in latent space, the TL-GAN way: a generalised linear model per feature,
// fitted on (latent, feature) pairs, whose weight vector, normalised, is the direction
// that moves the feature. Also principal directions (GANSpace), disentangling by
// projection, and the axes.json file.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace latentkit {

/// One direction in latent space and how well it was fitted.
struct Axis {
  std::string name;         // slug used on the command line and in the API: "sandal", "ankle-boot"
  std::string label;        // as the feature calls itself: "Ankle boot"
  std::string kind;         // "logistic", "ridge" or "pca"
  std::string source;       // "class", "factor", "attribute", "scorer" or "pca"
  torch::Tensor direction;  // float64 [latent_dim], unit length
  double slope = 0;         // |w|: feature (logit for logistic) change per unit step along the axis
  std::string metric;       // "accuracy", "r2" or "explained_variance"
  double quality = 0;       // that metric on held-out pairs (pca: on all of them)
  nlohmann::json details;   // more fit figures (balanced accuracy, positive rate, ...)
};

struct AxisSet {
  int64_t latent_dim = 0;
  std::vector<Axis> axes;
  nlohmann::json meta;  // how they were fitted: run, features, n, seed, ...
};

/// A name as the command line and the API take it: lower case, runs of anything but
/// letters and digits turned into one '-' ("T-shirt/top" -> "t-shirt-top").
std::string axis_slug(const std::string& label);

/// Index of the axis called name (slug or label, case-insensitive); an unknown name is an
/// Error that lists the known ones.
size_t find_axis(const AxisSet& set, const std::string& name);

/// axes.json <-> AxisSet. Reading checks every field and that the directions have the
/// stated size and are finite; a foreign or damaged file is an Error naming it.
nlohmann::json axes_to_json(const AxisSet& set);
AxisSet axes_from_json(const nlohmann::json& json, const std::string& source);
void write_axes(const std::string& path, const AxisSet& set);
AxisSet read_axes(const std::string& path);

/// A fitted linear model: prediction = x . weights + bias.
struct LinearFit {
  torch::Tensor weights;  // float64 [D]
  double bias = 0;
};

/// Logistic regression of targets in [0, 1] (probabilities or 0/1 labels; soft targets
/// are fitted by cross-entropy) on x: [N, D], with an L2 penalty l2 |w|^2 / 2 on the mean
/// loss (not on the bias), by Newton's method in float64 to a gradient norm below 1e-9.
LinearFit fit_logistic(const torch::Tensor& x, const torch::Tensor& targets, double l2);

/// Ridge regression: argmin mean((x w + b - y)^2) + l2 |w|^2, closed form in float64.
LinearFit fit_ridge(const torch::Tensor& x, const torch::Tensor& y, double l2);

/// Fits one axis per target column of y: [N, F] on latents z: [N, D]. kinds[f] is
/// "probability" (logistic) or "continuous" (ridge). The last holdout fraction of the
/// rows is kept out of the fit and gives the quality: accuracy of (p > 0.5) for logistic
/// axes (balanced accuracy and the positive rate in details), R^2 for ridge ones.
struct FeatureColumn {
  std::string label;
  std::string kind;    // "probability" or "continuous"
  std::string source;  // "class", "factor", "attribute" or "scorer"
};
std::vector<Axis> fit_axes(const torch::Tensor& z, const torch::Tensor& y, const std::vector<FeatureColumn>& columns,
                           double holdout, double l2);

/// Why each column of y has no axis, or "" where it has one: a feature that does not vary
/// over the rows (fit_axes refuses it), or a class (probability) that is the most probable
/// of the classes in under min_share of the rows. A class the generator almost never draws
/// gives a direction fitted on a handful of images and a held-out accuracy near 1 that only
/// says "not this class".
std::vector<std::string> unfit_reasons(const torch::Tensor& y, const std::vector<FeatureColumn>& columns, double min_share);

/// Principal directions of activations a: [N, F] (rows generated from latents z: [N, D]),
/// GANSpace-style: the top k principal components of a (randomised SVD, seeded), then the
/// latent direction of each by least squares of z on the component coordinates. Named
/// pc1..pck; quality = the fraction of the activations' variance the component explains.
std::vector<Axis> principal_axes(const torch::Tensor& z, const torch::Tensor& a, int64_t k, uint64_t seed);

/// Disentangling: each direction not locked is projected onto the orthogonal complement
/// of the span of the locked ones (P = I - L (L^T L)^+ L^T, a least-squares projection, so
/// the order of the axes does not matter) and renormalised. directions: [K, D]; returns
/// [K, D] with the locked rows unchanged. A direction that lies in the locked span is an
/// Error naming it.
torch::Tensor lock_directions(const torch::Tensor& directions, const std::vector<size_t>& locked,
                              const std::vector<std::string>& names);

/// All directions of a set as [K, D] float64.
torch::Tensor axis_matrix(const AxisSet& set);

/// Parses "a=+2,b=-1" into (axis index, amount) pairs; names as find_axis takes them.
/// A missing '=', a non-number, a non-finite or huge amount (|v| > 100) is an Error.
std::vector<std::pair<size_t, double>> parse_moves(const AxisSet& set, const std::string& text);
/// Parses "a,b" into axis indices (empty text: none).
std::vector<size_t> parse_axis_list(const AxisSet& set, const std::string& text);

/// z: [N, D] moved by amount along each named axis, the moved axes first disentangled
/// from the locked ones (lock_directions). Returns [N, D] in z's dtype.
torch::Tensor apply_moves(const AxisSet& set, const torch::Tensor& z, const std::vector<std::pair<size_t, double>>& moves,
                          const std::vector<size_t>& locked);

}  // namespace latentkit
