#pragma once
// DCGAN generators and discriminators in two presets, for 1 or 3 channels and image
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
  TORCH_ARG(int64_t, channels) = 1;          // 1 or 3
  TORCH_ARG(int64_t, image_size) = 28;       // 28, 32 or 64
  TORCH_ARG(int64_t, latent_dim) = 100;
  TORCH_ARG(int64_t, width) = 64;            // ngf / ndf: channels of the widest-resolution layer
  // Normalisation in the discriminator: "batch" (BatchNorm) or "none" (WGAN-GP's critic:
  // its gradient penalty is per sample, which BatchNorm would mix across the batch).
  TORCH_ARG(std::string, critic_norm) = "batch";

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
  // z: [N, latent_dim] -> images [N, C, H, W] in [-1, 1]
  torch::Tensor forward(const torch::Tensor& z);

  DcganOptions options;
  torch::nn::Sequential main{nullptr};
};
TORCH_MODULE(DcganGenerator);

class DcganDiscriminatorImpl : public torch::nn::Cloneable<DcganDiscriminatorImpl> {
 public:
  explicit DcganDiscriminatorImpl(DcganOptions options = {});
  void reset() override;
  // images: [N, C, H, W] in [-1, 1] -> logits [N]
  torch::Tensor forward(const torch::Tensor& images);

  DcganOptions options;
  torch::nn::Sequential main{nullptr};
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
  std::string family() const override { return net_->options.preset(); }
  int64_t latent_dim() const override { return net_->options.latent_dim(); }
  std::array<int64_t, 3> image_shape() const override {
    return {net_->options.channels(), net_->options.image_size(), net_->options.image_size()};
  }
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
