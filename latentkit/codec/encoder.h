#pragma once
// An encoder E: image -> z for a trained generator G, so that G(E(x)) looks like x: the
// fast half of GAN inversion. Trained on pairs G itself makes (z known exactly) and on real
// images (only G(E(x)) ~ x can be asked of those). Stored beside the generator in
// RUN/encoder/ (model.pt, encoder.json) and bound to its weights by their SHA-256.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/models/classifier.h"
#include "latentkit/models/generator.h"

namespace latentkit {

struct EncoderOptions {
  int64_t width = 64;  // channels of the first convolution, doubled twice
};

/// Three stride-2 convolutions (LeakyReLU, BatchNorm after the first) and a linear layer to
/// the latent. Conditional generators' encoders see the label as one-hot maps beside the
/// image, as the concat discriminator does.
class LatentEncoderImpl : public torch::nn::Module {
 public:
  LatentEncoderImpl(std::array<int64_t, 3> image_shape, int64_t latent_dim, int64_t num_classes,
                    const EncoderOptions& options);
  /// images [N, C, H, W] in [-1, 1], labels int64 [N] (conditional only) -> z [N, D].
  torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& labels = {});
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t num_classes_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(LatentEncoder);

struct EncoderTrainOptions {
  EncoderOptions model;
  int64_t steps = 3000;
  int64_t batch = 64;
  double lr = 2e-4;
  double image_weight = 1.0;  // of the image loss on generated pairs (beside the latent loss)
  double real_weight = 1.0;   // of the image loss on real images (0: generated pairs only)
  uint64_t seed = 0;
};

/// Trains an encoder for the generator in run_dir; real: uint8 or float images of the
/// generator's shape (may be undefined when real_weight is 0) with their labels (int64,
/// for conditional models); features: the classifier whose features join the image losses
/// (may be null). Writes run_dir/encoder/model.pt and encoder.json; returns the encoder.
LatentEncoder train_encoder(Generator& generator, const std::string& run_dir, const torch::Tensor& real,
                            const torch::Tensor& real_labels, const ClassifierRun* features,
                            const EncoderTrainOptions& options, const nlohmann::json& provenance);

bool has_encoder_file(const std::string& run_dir);
/// Loads run_dir/encoder/; refused when it was trained for other generator weights.
LatentEncoder load_encoder(const Generator& generator, const std::string& run_dir);

}  // namespace latentkit
