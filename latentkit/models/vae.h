#pragma once
// A convolutional variational autoencoder (Kingma & Welling 2014): an encoder to the mean
// and log-variance of a Gaussian posterior, the reparameterisation trick, and a decoder
// to pixel logits; beta weighs the KL term (beta-VAE, Higgins et al. 2017).
//   encoder     Conv 4x4/2 (w) ReLU, Conv 4x4/2 (2w) ReLU, Flatten, Linear -> 2 x latent
//   decoder     Linear -> 2w x s x s, ReLU, ConvT 4x4/2 (w) ReLU, ConvT 4x4/2 -> logits
// (s = image size / 4), with depth 2 (the default); depth D has D stride-2 levels of widths
// w, 2w, 4w, ... each way (s = image size / 2^D). Images are in [-1, 1]; the decoded image is 2 sigmoid(logits) - 1.
// The conditional VAE (Sohn et al. 2015, family "cvae", num_classes > 0) gives both halves
// the label as one-hot: K maps beside the encoder's image channels, K entries beside z.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/models/generator.h"

namespace latentkit {

struct VaeOptions {
  TORCH_ARG(int64_t, channels) = 1;     // 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 28;  // divisible by 4, 16 to 256
  TORCH_ARG(int64_t, latent_dim) = 16;
  TORCH_ARG(int64_t, width) = 32;
  TORCH_ARG(int64_t, depth) = 2;        // stride-2 levels each way, 1 to 5; the size divides by 2^depth
  TORCH_ARG(double, beta) = 1.0;        // weight of the KL term
  // Reconstruction term: "bce" (Bernoulli on pixels in [0, 1], summed) or "mse" (sum of
  // squared errors on pixels in [0, 1], a Gaussian of variance 1/2).
  TORCH_ARG(std::string, recon) = "bce";
  // > 0: a conditional VAE over this many classes.
  TORCH_ARG(int64_t, num_classes) = 0;

 public:
  /// Throws Error naming the bad value.
  void validate() const;
};

/// The terms of the negative ELBO, each the mean over the batch of a per-image sum.
struct VaeLoss {
  torch::Tensor loss;   // recon + beta kl: what training minimises
  torch::Tensor recon;  // reconstruction term (nats)
  torch::Tensor kl;     // KL(q(z|x) || N(0, I)) (nats)
};

class VaeImpl : public torch::nn::Cloneable<VaeImpl> {
 public:
  explicit VaeImpl(VaeOptions options = {});
  void reset() override;
  // labels: int64 [N], needed by (and only by) conditional models.
  /// x: [N, C, H, W] in [-1, 1] -> (mu, log_var), each [N, latent_dim].
  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& x, const torch::Tensor& labels = {});
  /// z: [N, latent_dim] -> pixel logits [N, C, H, W].
  torch::Tensor decode_logits(const torch::Tensor& z, const torch::Tensor& labels = {});
  /// The loss of a batch, sampling z = mu + exp(log_var / 2) eps with eps ([N, latent_dim])
  /// given, or else from LibTorch's default generator.
  VaeLoss loss(const torch::Tensor& x, const torch::Tensor& labels = {}, const torch::Tensor& eps = {});

  VaeOptions options;
  torch::nn::Sequential encoder{nullptr};
  torch::nn::Linear moments{nullptr};  // features -> (mu, log_var)
  torch::nn::Sequential decoder{nullptr};
};
TORCH_MODULE(Vae);

/// KL(N(mu, exp(log_var)) || N(0, I)) per row: [N].
torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& log_var);

/// A VAE behind the common Generator interface: decode is the decoder, and posterior the
/// encoder. Conditional ones given no labels decode the classes in turn (i mod K).
class VaeModel : public Generator {
 public:
  explicit VaeModel(Vae net) : net_(std::move(net)) {}
  std::string family() const override { return net_->options.num_classes() > 0 ? "cvae" : "vae"; }
  int64_t latent_dim() const override { return net_->options.latent_dim(); }
  int64_t num_classes() const override { return net_->options.num_classes(); }
  bool has_encoder() const override { return true; }
  std::array<int64_t, 3> image_shape() const override {
    return {net_->options.channels(), net_->options.image_size(), net_->options.image_size()};
  }
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& labels = {}) override;
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& images,
                                                    const torch::Tensor& labels = {}) override;
  Vae& net() { return net_; }

 private:
  Vae net_;
};

nlohmann::json vae_options_to_json(const VaeOptions& options);
VaeOptions vae_options_from_json(const nlohmann::json& model);

}  // namespace latentkit
