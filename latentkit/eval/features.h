#pragma once
// Feature extractors for the sample-quality metrics (eval/metrics.h): images in, feature
// vectors and class probabilities out. Two kinds: a classifier run trained by latentkit
// (models/fashion-classifier ships with the project) and a user's TorchScript module (an
// InceptionV3 exported from PyTorch makes FID comparable with papers). Each converts
// channels and resizes (bilinear, antialiased when shrinking, the clean-fid lesson) to
// what its network needs, so callers pass images as they are.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace latentkit {

struct FeatureBatch {
  torch::Tensor features;  // float32 [N, D]
  torch::Tensor probs;     // float32 [N, K] (rows sum to 1), undefined when the extractor has no classes
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  /// What it is, for eval.json and messages, e.g. "classifier:models/fashion-classifier".
  virtual std::string name() const = 0;
  /// Hex SHA-256 of the weights file: results name the exact network they came from.
  virtual std::string file_hash() const = 0;
  virtual int64_t feature_dim() const = 0;
  /// 0 when the extractor gives no class probabilities.
  virtual int64_t num_classes() const = 0;
  /// The side and channels of the images the network itself sees; extract() converts to them.
  virtual int64_t input_size() const = 0;
  virtual int64_t input_channels() const = 0;
  /// Empty when the classes have no names.
  virtual std::vector<std::string> class_names() const { return {}; }
  /// images: [N, C, H, W] float in [-1, 1], C 1 or 3, any size. Runs without gradients
  /// in eval mode.
  virtual FeatureBatch extract(const torch::Tensor& images) = 0;
};

/// The classifier in a run folder made by `latentkit classifier train`: features are its
/// penultimate layer, probs the softmax of its class logits.
std::unique_ptr<FeatureExtractor> load_classifier_extractor(const std::string& run_dir);

struct TorchScriptExtractorOptions {
  int input_size = 299;        // the module sees input_size x input_size images
  std::string range = "0,1";   // values the module expects: "0,1", "-1,1" or "0,255"
  int channels = 3;            // 1 or 3; gray images are repeated to 3 channels, RGB to luma for 1
  std::string normalize;       // "" or "imagenet": (x - mean) / std per channel after range "0,1"
  int64_t num_classes = 0;     // > 0: forward returns (features, logits); else features only
};

/// Loads a TorchScript module saved with torch.jit.save (or torch::jit::Module::save).
/// forward must return features [N, D] (or [N, D, 1, 1], as pytorch-fid's InceptionV3
/// pool3 does), or with num_classes > 0 a tuple (features, logits [N, num_classes]).
/// A missing or corrupt file, or a module whose output has another shape, is an Error
/// saying what was expected; the shape is checked on a probe batch at load time.
std::unique_ptr<FeatureExtractor> load_torchscript_extractor(const std::string& path,
                                                             const TorchScriptExtractorOptions& options);

/// images: float [N, C, H, W] in [-1, 1], C 1, 3 or 4 (RGBA premultiplied, composited onto
/// white for a network without alpha). Returns [N, channels, size, size]:
/// gray repeated to RGB, RGB to ITU-R 601 luma, bilinear resize (antialiased when
/// shrinking) to size (0: keep the size).
torch::Tensor fit_images(const torch::Tensor& images, int64_t channels, int64_t size);

/// Runs the extractor over images in batches of batch_size (no gradients) and concatenates
/// the results. images: uint8 [N, C, H, W] (0..255) or float [N, C, H, W] in [-1, 1]. Shows
/// a progress bar on stderr labelled progress_label (none when the label is empty).
FeatureBatch extract_features(FeatureExtractor& extractor, const torch::Tensor& images, int64_t batch_size,
                              const std::string& progress_label);

}  // namespace latentkit
