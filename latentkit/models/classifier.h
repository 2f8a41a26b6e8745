#pragma once
// A small CNN classifier: the feature extractor for the sample-quality metrics and for
// latent steering. Two VGG-style blocks (conv-BN-ReLU x2, max-pool), an adaptive average
// pool to 4x4 so any input size >= 16 works, and a dense layer whose ReLU activations are
// the features. A class head gives logits; an optional factor head regresses known
// generative factors (shapes: scale, x, y, hue as cos/sin).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/data/dataset.h"

namespace latentkit {

struct ClassifierOptions {
  TORCH_ARG(int64_t, channels) = 1;     // 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 28;  // the size it was trained at; any >= 16
  TORCH_ARG(int64_t, num_classes) = 10;
  TORCH_ARG(int64_t, num_factors) = 0;  // regression outputs; 0: no factor head
  TORCH_ARG(int64_t, width) = 32;       // channels of the first block; the second has 2x
  TORCH_ARG(int64_t, feature_dim) = 128;
  TORCH_ARG(double, dropout) = 0.3;     // on the features, before the heads (training only)

 public:
  /// Throws Error naming the bad value.
  void validate() const;
};

/// The outputs of one forward pass.
struct ClassifierOutput {
  torch::Tensor features;  // [N, feature_dim], the penultimate activations (>= 0)
  torch::Tensor logits;    // [N, num_classes]
  torch::Tensor factors;   // [N, num_factors] in the factors' own units, undefined when none
};

class ClassifierImpl : public torch::nn::Cloneable<ClassifierImpl> {
 public:
  explicit ClassifierImpl(ClassifierOptions options = {});
  void reset() override;
  // x: [N, channels, H, W] in [-1, 1], H and W >= 16 -> [N, feature_dim]
  torch::Tensor features(const torch::Tensor& x);
  // x: [N, channels, H, W] in [-1, 1]
  ClassifierOutput forward(const torch::Tensor& x);

  ClassifierOptions options;
  torch::nn::Sequential feature_layers{nullptr};  // registered as "features"
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear class_head{nullptr};
  torch::nn::Linear factor_head{nullptr};  // null when num_factors == 0
  // The factor head predicts standardised values; these map them back to the factors'
  // units. Set by the trainer from the training data, saved with the weights.
  torch::Tensor factor_mean, factor_std;  // [num_factors]
};
TORCH_MODULE(Classifier);

/// Model options <-> the "model" object of a classifier run's config.json.
nlohmann::json classifier_options_to_json(const ClassifierOptions& options);
ClassifierOptions classifier_options_from_json(const nlohmann::json& model);

/// A trained classifier and what its run folder says about it.
struct ClassifierRun {
  Classifier model{nullptr};  // in eval mode
  nlohmann::json config;
  std::vector<std::string> class_names;
  std::vector<std::string> factor_names;
  ConditionOn labels = ConditionOn::kClass;  // what its classes are (train --labels)
};

/// The labels a classifier run's config.json says it learnt (train.labels; class when absent).
ConditionOn classifier_labels(const nlohmann::json& config);

/// Loads RUN/config.json (family "classifier") and RUN/model.pt. A missing folder or
/// file, or a run of another family, is an Error that says what was expected.
ClassifierRun load_classifier_run(const std::string& run_dir);

}  // namespace latentkit
