#pragma once
// SPADE (Park et al. 2019, GauGAN): images drawn from a label map and a style latent z.
//
// Generator: z -> linear -> [ch(0), 4, 4], then one SPADE ResBlock per size from 4 px up to the
// image size (nearest upsampling x2 between them), LeakyReLU 0.2, a 3x3 conv to C channels and
// tanh. ch(i) at 4 * 2^i px is width * min(2^(L - i), 8), L levels of upsampling.
//   SPADE(x, map):  BatchNorm without affine parameters (its running statistics in eval), then
//                   x * (1 + gamma) + beta, gamma and beta two 3x3 convolutions on a shared
//                   embedding relu(conv3x3(map resized to x, nearest)) of clamp(channels, 32,
//                   128) channels.
//   ResBlock(in, out): x_s + conv(lrelu(SPADE(conv(lrelu(SPADE(x)))))), with
//                   x_s = conv1x1(SPADE(x)) when in != out, else x.
// Discriminator: d_scales PatchGANs (pix2pixHD), scale s on the (image, one-hot map) pair
// average-pooled 2^s times; each conv 4x4 stride 2 (d_width), then d_layers - 1 more (stride
// 2, then 1, widths doubling to at most 8 x d_width) with InstanceNorm, LeakyReLU 0.2, and a
// conv 4x4 to one logit per patch. It returns every layer's output, for feature matching.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace latentkit {

struct SpadeOptions {
  TORCH_ARG(int64_t, channels) = 3;     // image channels: 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 64;  // 16..256, a power of two
  TORCH_ARG(int64_t, classes) = 4;      // label-map classes
  TORCH_ARG(std::string, palette) = "scenes";  // their names and colors (data/labelmaps.h)
  TORCH_ARG(int64_t, latent_dim) = 64;  // style z
  TORCH_ARG(int64_t, width) = 32;       // generator channels at full size
  TORCH_ARG(int64_t, d_width) = 32;
  TORCH_ARG(int64_t, d_scales) = 2;
  TORCH_ARG(int64_t, d_layers) = 3;

 public:
  /// Throws Error naming the bad value.
  void validate() const;
  /// Upsampling levels from 4 px: log2(image_size / 4).
  int64_t levels() const;
};

nlohmann::json spade_options_to_json(const SpadeOptions& options);
SpadeOptions spade_options_from_json(const nlohmann::json& model);

class SpadeNormImpl : public torch::nn::Cloneable<SpadeNormImpl> {
 public:
  SpadeNormImpl(int64_t channels, int64_t classes);
  void reset() override;
  /// x [N, ch, h, w]; maps one-hot [N, K, H, W] (resized to h x w here).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& maps);

  int64_t channels, classes;
  torch::nn::BatchNorm2d norm{nullptr};
  torch::nn::Conv2d shared{nullptr}, gamma{nullptr}, beta{nullptr};
};
TORCH_MODULE(SpadeNorm);

class SpadeBlockImpl : public torch::nn::Cloneable<SpadeBlockImpl> {
 public:
  SpadeBlockImpl(int64_t in, int64_t out, int64_t classes);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& maps);

  int64_t in, out, classes;
  SpadeNorm norm0{nullptr}, norm1{nullptr}, norm_s{nullptr};
  torch::nn::Conv2d conv0{nullptr}, conv1{nullptr}, conv_s{nullptr};
};
TORCH_MODULE(SpadeBlock);

class SpadeGeneratorImpl : public torch::nn::Cloneable<SpadeGeneratorImpl> {
 public:
  explicit SpadeGeneratorImpl(SpadeOptions options = {});
  void reset() override;
  /// z [N, latent_dim]; maps one-hot float [N, K, S, S] -> images [N, C, S, S] in [-1, 1].
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& maps);

  SpadeOptions options;
  torch::nn::Linear fc{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Conv2d to_image{nullptr};
};
TORCH_MODULE(SpadeGenerator);

class SpadeDiscriminatorImpl : public torch::nn::Cloneable<SpadeDiscriminatorImpl> {
 public:
  explicit SpadeDiscriminatorImpl(SpadeOptions options = {});
  void reset() override;
  /// images [N, C, S, S] and one-hot maps [N, K, S, S] (or the two already concatenated, maps
  /// undefined) -> per scale, every layer's output; the last of each is its logits.
  std::vector<std::vector<torch::Tensor>> forward(const torch::Tensor& images, const torch::Tensor& maps = {});

  SpadeOptions options;
  torch::nn::ModuleList scales{nullptr};  // one Sequential-like ModuleList of layers per scale
};
TORCH_MODULE(SpadeDiscriminator);

/// A trained spade run: options (palette included) and the generator in eval mode.
struct SpadeRun {
  SpadeOptions options;
  SpadeGenerator net{nullptr};
};
/// Loads RUN/config.json and RUN/model.pt; a run of another family is a clear Error.
SpadeRun load_spade(const std::string& run_dir);

/// Draws images from maps uint8/int64 [N, S, S] (ids < classes, the model's size) and z
/// [N, latent_dim]. No gradients; the net in eval mode.
torch::Tensor spade_generate(SpadeGeneratorImpl& net, const torch::Tensor& maps, const torch::Tensor& z);

}  // namespace latentkit
