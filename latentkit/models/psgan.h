#pragma once
// A spatial generator for wallpapers of any size: Periodic Spatial GAN (Bergmann, Jetchev
// and Vollgraf 2017). The latent is a grid of cells, each cell 2^layers pixels on a side;
// each cell holds
//   local     local_dim values of its own (the layout),
//   global    global_dim values shared by every cell (the style),
//   periodic  periodic_dim waves sin(kx x + ky y + phase) over the cell coordinates (x, y),
//             whose wave vectors (kx, ky) a small MLP computes from the global part,
// and a fully convolutional stack of transposed convolutions turns the grid into pixels, so
// one network makes images of any size. Every output pixel depends on the cells within
// kReach of its own, so a grid built with a margin of kReach cells and cropped is seamless
// and, with the margin wrapped around (and the wave vectors rounded to whole periods), it tiles.
#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/models/generator.h"

namespace latentkit {

struct PsganOptions {
  TORCH_ARG(int64_t, local_dim) = 20;
  TORCH_ARG(int64_t, global_dim) = 32;
  TORCH_ARG(int64_t, periodic_dim) = 4;
  TORCH_ARG(int64_t, mlp_hidden) = 64;  // the wave-vector MLP's hidden width
  TORCH_ARG(int64_t, layers) = 4;       // x2 upsamplings: a cell is 2^layers pixels
  TORCH_ARG(int64_t, width) = 64;       // channels of the last hidden layer, doubling toward the grid
  TORCH_ARG(int64_t, channels) = 3;     // RGB
  TORCH_ARG(int64_t, crop) = 64;        // the training crop, a multiple of 2^layers

 public:
  int64_t cell() const { return int64_t{1} << layers(); }
  int64_t grid_channels() const { return local_dim() + global_dim() + periodic_dim(); }
  /// Throws Error for sizes out of range.
  void validate() const;
};

/// The cells on each side that an output pixel's value depends on beyond its own cell.
constexpr int64_t kPsganReach = 2;

/// The parts of a latent grid before the waves: local [N, local_dim, H, W], global
/// [N, global_dim], phase [N, periodic_dim] in radians; (x0, y0) is the coordinate of cell
/// (0, 0), so a grid is a window onto an unbounded plane. tile_w, tile_h > 0 round the wave
/// vectors to whole periods over that many cells (tileable images).
struct PsganLatent {
  torch::Tensor local, global, phase;
  int64_t x0 = 0, y0 = 0;
  int64_t tile_w = 0, tile_h = 0;
};

class PsganGeneratorImpl : public torch::nn::Cloneable<PsganGeneratorImpl> {
 public:
  explicit PsganGeneratorImpl(PsganOptions options = {});
  void reset() override;
  /// The wave vectors (radians per cell), [N, 2, periodic_dim]: row 0 kx, row 1 ky.
  torch::Tensor waves(const torch::Tensor& global);
  /// The full grid [N, grid_channels, H, W]: local, then global, then the waves.
  torch::Tensor grid(const PsganLatent& latent);
  /// Grid -> images [N, C, H * cell, W * cell] in [-1, 1].
  torch::Tensor forward(const torch::Tensor& grid);

  PsganOptions options;
  torch::nn::Sequential wave{nullptr};  // global -> 2 x periodic_dim
  torch::nn::Sequential main{nullptr};
};
TORCH_MODULE(PsganGenerator);

/// A fully convolutional discriminator: strided convolutions down to one logit per cell.
class PsganDiscriminatorImpl : public torch::nn::Cloneable<PsganDiscriminatorImpl> {
 public:
  explicit PsganDiscriminatorImpl(PsganOptions options = {});
  void reset() override;
  /// images [N, C, H, W] -> logits [N, H / cell * W / cell], one per patch.
  torch::Tensor forward(const torch::Tensor& images);

  PsganOptions options;
  torch::nn::Sequential main{nullptr};
};
TORCH_MODULE(PsganDiscriminator);

/// The training noise of n crops of grid cells x cells, from LibTorch's default generator
/// (or rng): everything N(0, 1), phases uniform in [0, 2 pi).
PsganLatent psgan_training_latent(const PsganOptions& options, int64_t n, int64_t cells,
                                  c10::optional<torch::Generator> rng = c10::nullopt);

/// A PSGAN behind the common Generator interface: the latent is the global part (the style),
/// and decode draws a preview_cells x preview_cells image whose local noise and phases are
/// fixed (seeded by 0), so steering sees the style alone; sample_images draws them afresh.
class PsganModel : public Generator {
 public:
  explicit PsganModel(PsganGenerator net, int64_t preview_cells = 0);
  std::string family() const override { return "psgan"; }
  int64_t latent_dim() const override { return net_->options.global_dim(); }
  std::array<int64_t, 3> image_shape() const override;
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& labels = {}) override;
  /// Crops of the preview's size with fresh local noise and phases from rng: what the
  /// generator makes, for evaluation.
  torch::Tensor sample_images(const torch::Tensor& z, const torch::Tensor& labels, torch::Generator& rng) override;
  PsganGenerator& net() { return net_; }

 private:
  // The preview_cells x preview_cells window of the grid's image (the margin cropped).
  torch::Tensor draw(const PsganLatent& latent);

  PsganGenerator net_;
  int64_t preview_cells_;
  torch::Tensor local_, phase_;  // the fixed preview noise [1, ...]
};

nlohmann::json psgan_options_to_json(const PsganOptions& options);
PsganOptions psgan_options_from_json(const nlohmann::json& model);

}  // namespace latentkit
