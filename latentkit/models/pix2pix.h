#pragma once
// pix2pix (Isola et al. 2017) for enhancing images: a U-Net generator and a PatchGAN
// discriminator on the (input, output) pair.
//
// Generator, `depth` levels (pix2pix's UnetGenerator, widths w x min(2^i, 8)):
//   down: conv 4x4 stride 2 [+ BatchNorm from the second level; not at the innermost],
//         each after LeakyReLU 0.2 (not before the first)
//   up:   ReLU, transposed conv 4x4 stride 2 on [h, skip], BatchNorm, and dropout (the
//         "noise" of pix2pix) on the up-blocks at 1/16 of the size and below, under the
//         innermost: three at 256 px as in pix2pix, none at 28 px (depth 4)
//   out:  ReLU, transposed conv to C channels, then tanh, or with `residual` (the default) the
//         input plus the output with that last layer zero at initialisation, so an untrained
//         network is the identity and training learns the correction.
// Any input size works: the image is padded (edge replication) to a multiple of 2^depth and
// the output cropped back.
//
// PatchGAN: conv 4x4 stride 2 (w) + LeakyReLU, then d_layers - 1 strided convs with
// BatchNorm, one of stride 1, and a conv 4x4 stride 1 to one logit per patch.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace latentkit {

struct Pix2pixOptions {
  TORCH_ARG(int64_t, channels) = 1;     // 1, 3 or 4 (RGBA, premultiplied), input and output alike
  TORCH_ARG(int64_t, image_size) = 28;  // the training size (the generator takes any size)
  TORCH_ARG(int64_t, width) = 32;       // ngf and ndf
  TORCH_ARG(int64_t, depth) = 0;        // U-Net levels; 0: from the size (4 at 28, 8 at 256)
  TORCH_ARG(double, dropout) = 0.5;
  TORCH_ARG(int64_t, d_layers) = 0;     // PatchGAN strided layers; 0: 1 under 16 px, 2 under 64, else 3
  TORCH_ARG(bool, residual) = true;

 public:
  /// Throws Error naming the bad value: 1 or 3 channels, size 8..1024, depth 1..8.
  void validate() const;
  /// depth, or when 0 the default for image_size: floor(log2(size)), at most 8.
  int64_t levels() const;
  int64_t patch_layers() const;
};

nlohmann::json pix2pix_options_to_json(const Pix2pixOptions& options);
Pix2pixOptions pix2pix_options_from_json(const nlohmann::json& model);

class Pix2pixGeneratorImpl : public torch::nn::Cloneable<Pix2pixGeneratorImpl> {
 public:
  explicit Pix2pixGeneratorImpl(Pix2pixOptions options = {});
  void reset() override;
  /// images [N, C, H, W] in [-1, 1], any H and W -> [N, C, H, W]. Residual models may step
  /// slightly outside [-1, 1]; enhance_image clamps.
  torch::Tensor forward(const torch::Tensor& images);

  Pix2pixOptions options;
  torch::nn::ModuleList down{nullptr}, up{nullptr};  // down[i], up[i]: level i (0 outermost)
};
TORCH_MODULE(Pix2pixGenerator);

class PatchDiscriminatorImpl : public torch::nn::Cloneable<PatchDiscriminatorImpl> {
 public:
  explicit PatchDiscriminatorImpl(Pix2pixOptions options = {});
  void reset() override;
  /// input and output [N, C, H, W] -> logits [N, 1, h, w], one per patch.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& output);

  Pix2pixOptions options;
  torch::nn::Sequential main{nullptr};
};
TORCH_MODULE(PatchDiscriminator);

/// Pads images [N, C, H, W] by edge replication to sides a multiple of `multiple`, half
/// before and half after (the odd pixel after): what the generator does to any input, and
/// what lkrt_enhance does on the device.
torch::Tensor pad_to_multiple(const torch::Tensor& images, int64_t multiple);

/// A trained pix2pix run: its options, the tasks it was trained for (empty for paired data)
/// and the generator, in eval mode.
struct Pix2pixRun {
  Pix2pixOptions options;
  std::vector<std::string> tasks;
  Pix2pixGenerator net{nullptr};
};
/// Loads RUN/config.json and RUN/model.pt; a run of another family is a clear Error.
Pix2pixRun load_pix2pix(const std::string& run_dir);

/// Applies fn (a [1, C, h, w] -> [1, C, h, w] map) to image [1, C, H, W] in tiles of at most
/// tile x tile pixels that overlap by `overlap`, blended with weights that fall off linearly
/// across the overlap and sum to 1. An image no larger than one tile goes through whole.
torch::Tensor apply_tiled(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& image,
                          int64_t tile, int64_t overlap);

/// The generator on one image [1, C, H, W] in [-1, 1] of any size, tiled when larger than
/// `tile` (0: whole), clamped to [-1, 1]. No gradients.
torch::Tensor enhance_image(Pix2pixGeneratorImpl& net, const torch::Tensor& image, int64_t tile = 256);

}  // namespace latentkit
