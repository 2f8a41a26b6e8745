#pragma once
// What a generator does, measured: (latent, image) pairs sampled in batches and cached,
// and the features a person may want to steer, scored on images: a classifier's class
// probabilities and factor regressions, cheap image attributes, and TorchScript scorers.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/models/generator.h"
#include "latentkit/steer/axes.h"

namespace latentkit {

struct PairOptions {
  int64_t n = 20000;
  uint64_t seed = 0;
  double truncation = 0;
  int64_t batch = 250;
  std::string cache_dir;  // "" = default_cache_dir()
  bool use_cache = true;
};

struct Pairs {
  torch::Tensor z;       // float32 [N, latent_dim]
  torch::Tensor images;  // uint8 [N, C, H, W], as a PNG of the image would hold it
  std::string cache;     // the cache file's base path ("" when not cached)
  bool from_cache = false;
};

/// Samples n latents (seeded) and decodes them in batches with a progress bar on stderr.
/// The pairs are cached under the cache dir keyed by the weights' SHA-256, n, seed and
/// truncation, so fitting another feature later re-uses them.
Pairs sample_pairs(Generator& generator, const std::string& run_dir, const PairOptions& options);

/// uint8 [N, C, H, W] images -> float32 in [-1, 1] (floats pass through).
torch::Tensor images_to_float(const torch::Tensor& images);

/// Cheap measured attributes of images [N, C, H, W] in [-1, 1], in [0, 1] each:
/// brightness (mean), contrast (standard deviation), ink (fraction of pixels that differ
/// from the background, the mean of the border, by more than 0.15), width and height (of
/// the ink's bounding box, as fractions of the side), centre-x and centre-y (of the ink),
/// and for colour images saturation (mean of max - min over the channels). RGBA images are
/// measured on their drawn pixels (weighted by alpha; ink is alpha > 0.5) and add
/// colorfulness (Hasler and Suesstrunk), the mean hue as hue-cos and hue-sin ((cos + 1) / 2,
/// (sin + 1) / 2 of the chroma-weighted hue angle) and coverage (mean alpha).
/// Returns float64 [N, A]; attribute_names gives the names.
torch::Tensor image_attributes(const torch::Tensor& images);
std::vector<std::string> attribute_names(int64_t channels);

/// Which features to score.
struct FeatureSpec {
  std::string classifier;            // run folder of `latentkit classifier train`; "" = none
  bool attributes = true;            // the image attributes above
  std::vector<std::string> scorers;  // "name=model.pt": TorchScript, images [N, C, H, W] in [-1, 1] -> [N] or [N, 1]
};

/// Scores images with every feature of a spec.
class ImageScorer {
 public:
  /// Loads the classifier and scorers; channels: of the images it will see. A missing
  /// model, a malformed "name=path" or a duplicate name is an Error.
  ImageScorer(const FeatureSpec& spec, int64_t channels);
  ~ImageScorer();
  ImageScorer(const ImageScorer&) = delete;
  ImageScorer& operator=(const ImageScorer&) = delete;

  const std::vector<FeatureColumn>& columns() const { return columns_; }
  /// images: [N, C, H, W], uint8 or float in [-1, 1] -> float64 [N, F], no gradients.
  torch::Tensor score(const torch::Tensor& images);
  /// The same with the autograd graph kept: the gradients of the classifier's and scorers'
  /// columns (and of the smooth attributes: brightness, contrast, saturation) flow back to
  /// float images; the thresholded attributes have none.
  torch::Tensor score_graph(const torch::Tensor& images);
  /// Whether score_graph gives column a gradient.
  bool has_gradient(size_t column) const;
  /// Scores in batches with a progress bar labelled label ("" = none).
  torch::Tensor score_all(const torch::Tensor& images, int64_t batch, const std::string& label);
  /// What was scored, for axes.json: the spec with the SHA-256 of each model file.
  nlohmann::json describe() const;

 private:
  struct Models;
  FeatureSpec spec_;
  int64_t channels_;
  std::vector<FeatureColumn> columns_;
  std::unique_ptr<Models> models_;
};

/// Reads a FeatureSpec back from describe()'s JSON (axes.json "meta"."features").
FeatureSpec feature_spec_from_json(const nlohmann::json& json);

}  // namespace latentkit
