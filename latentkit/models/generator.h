#pragma once
// The one interface every generator exposes to steering, inversion, evaluation, export
// and the server (../shared/DESIGN.md, "One interface for every generator").
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <torch/torch.h>

namespace latentkit {

class Generator {
 public:
  virtual ~Generator() = default;

  virtual std::string family() const = 0;
  virtual int64_t latent_dim() const = 0;
  /// 0 for an unconditional model.
  virtual int64_t num_classes() const { return 0; }
  /// {C, H, W} of decoded images.
  virtual std::array<int64_t, 3> image_shape() const = 0;

  /// Draws n latents from the prior: N(0, I), or with truncation > 0 a normal truncated to
  /// [-truncation, truncation] by resampling. Returns [n, latent_dim].
  virtual torch::Tensor sample_latent(int64_t n, torch::Generator& rng, double truncation = 0.0) const;

  /// z: [N, latent_dim]; labels: int64 [N] or undefined for unconditional models.
  /// Returns images [N, C, H, W] in [-1, 1]. Runs in eval mode; gradients flow to z
  /// unless the caller holds a NoGradGuard.
  virtual torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& labels = {}) = 0;

  /// Images as evaluation draws them from latents z: decode(z, labels), unless the model
  /// holds noise beside z that decode fixes (psgan's layout, fixed so that steering sees the
  /// style alone): such a model draws that noise afresh from rng here.
  virtual torch::Tensor sample_images(const torch::Tensor& z, const torch::Tensor& labels, torch::Generator& rng) {
    return decode(z, labels);
  }

  /// The activations after the generator's first block, flattened to [N, F], for
  /// principal directions of an intermediate layer (GANSpace). By default the decoded
  /// image itself.
  virtual torch::Tensor hidden(const torch::Tensor& z, const torch::Tensor& labels = {});

  /// True for models with an encoder (VAE, CVAE).
  virtual bool has_encoder() const { return false; }
  /// Models with an encoder: the posterior q(z | x) of images [N, C, H, W] in [-1, 1] as
  /// (mean, log-variance), each [N, latent_dim]; conditional ones need the images' labels.
  /// Others: two undefined tensors.
  virtual std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images,
                                                            const torch::Tensor& labels = {}) {
    return {};
  }

 protected:
  /// The labels a conditional model decodes n latents with: `labels` checked against
  /// num_classes(), or when undefined the classes in turn (image i: class i mod K).
  /// Undefined for unconditional models.
  torch::Tensor class_labels(int64_t n, const torch::Tensor& labels) const;
};

/// A CPU generator seeded with `seed`, for reproducible latents.
torch::Generator make_rng(uint64_t seed);

/// Spherical interpolation from a to b ([D] each) in `steps` points, ends included.
/// Returns [steps, D]. Falls back to linear interpolation for (anti)parallel vectors.
torch::Tensor slerp_path(const torch::Tensor& a, const torch::Tensor& b, int64_t steps);

}  // namespace latentkit
