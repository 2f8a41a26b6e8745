#pragma once
// DCGAN generators and discriminators in two presets, for 1, 3 or 4 channels and image
// sizes 28, 32 and 64.
//   dcgan           Radford et al. 2015: transposed convolutions, BatchNorm, ReLU /
//                   LeakyReLU(0.2), tanh output; strided-convolution discriminator.
//   dcgan-upsample  Dense -> s0 x s0 x 4w -> [Upsample x2 + Conv3x3 + BatchNorm + ReLU]...
//                   -> Conv3x3 + tanh; discriminator of [strided Conv3x3 + LeakyReLU(0.2)
//                   + Dropout(0.25) + BatchNorm] blocks and one logit (the Keras-tutorial GAN).
// Layers live in a Sequential registered as "main", so parameter names ("main.0.weight")
// match PyTorch's DCGAN example and weights move between the two unchanged.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace latentkit {

struct DcganOptions {
  TORCH_ARG(std::string, preset) = "dcgan";  // dcgan or dcgan-upsample
  TORCH_ARG(int64_t, channels) = 1;          // 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 28;       // 28, 32 or 64
  TORCH_ARG(int64_t, latent_dim) = 100;
  TORCH_ARG(int64_t, width) = 64;            // ngf / ndf: channels of the widest-resolution layer
  // Normalisation in the discriminator: "batch" (BatchNorm) or "none" (WGAN-GP's critic:
  // its gradient penalty is per sample, which BatchNorm would mix across the batch).
  TORCH_ARG(std::string, critic_norm) = "batch";
  // > 0: class-conditional (the cgan family). The generator sees z next to a learned label
  // embedding; the discriminator sees the label through conditioning.
  TORCH_ARG(int64_t, num_classes) = 0;
  // How the discriminator sees the label: "concat" (Mirza & Osindero 2014: one one-hot map
  // per class beside the image's channels), "projection" (Miyato & Koyama 2018: adds
  // <embed(y), mean-pooled features> to the logit) or "acgan" (Odena et al. 2017: an
  // auxiliary classifier head, trained with cross-entropy on real and generated images).
  // concat is the default: without spectral normalisation, projection and acgan let the
  // generator collapse within each class (docs/models.md).
  TORCH_ARG(std::string, conditioning) = "concat";

 public:
  /// Throws Error for an unknown preset, channel count or size.
  void validate() const;
};

/// The preset names, for help text and error messages.
const std::vector<std::string>& dcgan_presets();

class DcganGeneratorImpl : public torch::nn::Cloneable<DcganGeneratorImpl> {
 public:
  explicit DcganGeneratorImpl(DcganOptions options = {});
  void reset() override;
  // z: [N, latent_dim] (labels: int64 [N] for conditional models) -> images [N, C, H, W]
  // in [-1, 1]
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels = {});
  // What the first layer sees: z, next to the label embedding for conditional models,
  // shaped [N, D, 1, 1] for the dcgan preset.
  torch::Tensor input(const torch::Tensor& z, const torch::Tensor& labels);

  DcganOptions options;
  torch::nn::Sequential main{nullptr};
  torch::nn::Embedding embed{nullptr};  // conditional models only
};
TORCH_MODULE(DcganGenerator);

/// The discriminator's outputs for conditional models.
struct ConditionalLogits {
  torch::Tensor logits;        // [N]
  torch::Tensor class_logits;  // [N, num_classes] (acgan), else undefined
};

class DcganDiscriminatorImpl : public torch::nn::Cloneable<DcganDiscriminatorImpl> {
 public:
  explicit DcganDiscriminatorImpl(DcganOptions options = {});
  void reset() override;
  // images: [N, C, H, W] in [-1, 1] -> logits [N]
  torch::Tensor forward(const torch::Tensor& images);
  // For conditional models: labels int64 [N].
  ConditionalLogits forward(const torch::Tensor& images, const torch::Tensor& labels);

  DcganOptions options;
  torch::nn::Sequential main{nullptr};
  torch::nn::Embedding embed{nullptr};  // projection conditioning
  torch::nn::Linear aux{nullptr};       // acgan conditioning

 private:
  size_t head_start_ = 0;  // main[head_start_..] maps the features to the logit
};
TORCH_MODULE(DcganDiscriminator);

/// DCGAN initialisation: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0.
void dcgan_init_weights(torch::nn::Module& module);

}  // namespace latentkit

#include "latentkit/models/generator.h"
#include <nlohmann/json.hpp>

namespace latentkit {

/// A DCGAN generator behind the common Generator interface.
class DcganModel : public Generator {
 public:
  explicit DcganModel(DcganGenerator net) : net_(std::move(net)) {}
  std::string family() const override { return net_->options.num_classes() > 0 ? "cgan" : net_->options.preset(); }
  int64_t latent_dim() const override { return net_->options.latent_dim(); }
  int64_t num_classes() const override { return net_->options.num_classes(); }
  std::array<int64_t, 3> image_shape() const override {
    return {net_->options.channels(), net_->options.image_size(), net_->options.image_size()};
  }
  /// Conditional models given no labels draw the classes in turn (image i: class i mod K).
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& labels = {}) override;
  /// After the first projection, BatchNorm and ReLU.
  torch::Tensor hidden(const torch::Tensor& z, const torch::Tensor& labels = {}) override;
  DcganGenerator& net() { return net_; }

 private:
  DcganGenerator net_;
};

/// Model options <-> the "model" object of config.json.
nlohmann::json dcgan_options_to_json(const DcganOptions& options);
DcganOptions dcgan_options_from_json(const nlohmann::json& model);

}  // namespace latentkit
