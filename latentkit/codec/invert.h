#pragma once
// GAN inversion: latents whose images match given images. By optimisation (Adam on z, as
// the StyleGAN2 projector does it: noise on z annealed away, a learning-rate ramp, several
// restarts per image in one batch), from a trained encoder's guess (codec/encoder.h), or
// both: the encoder's guess refined by a few steps (hybrid).
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "latentkit/models/classifier.h"
#include "latentkit/models/generator.h"

namespace latentkit {

struct InvertOptions {
  int64_t steps = 200;
  int64_t restarts = 4;         // starting latents per image; the best one wins
  double lr = 0.1;              // Adam's peak learning rate
  double feature_weight = 1.0;  // weight of the classifier-feature distance (0: pixels only)
  double prior_weight = 0.05;   // of (|z| - sqrt(D))^2 / D: keeps z in the prior's typical shell
  double noise = 0.5;           // noise on z at the start, annealed to 0 over the first 3/4
  uint64_t seed = 0;
  int64_t batch = 64;           // images per optimisation batch
  bool progress = true;         // a progress bar on stderr
};

struct Inversion {
  torch::Tensor z;       // float32 [N, D]
  torch::Tensor labels;  // int64 [N], undefined for unconditional models
  torch::Tensor images;  // G(z) [N, C, H, W] in [-1, 1]
  torch::Tensor mse;     // float64 [N]: pixel mean squared error in [-1, 1] units
};

/// The loss the optimisation minimises, per image: pixel MSE + feature_weight x the squared
/// distance of the classifier's penultimate features relative to the target's squared norm
/// + prior_weight x (|z| - sqrt(D))^2 / D. features may be null (pixels only);
/// wanted: target_features(features, target) when already computed.
torch::Tensor inversion_loss(const torch::Tensor& generated, const torch::Tensor& target, const torch::Tensor& z,
                             const ClassifierRun* features, const InvertOptions& options,
                             const torch::Tensor& wanted = {});

/// The classifier's features of target images, without gradients, for inversion_loss's
/// target_features; undefined when features is null.
torch::Tensor target_features(const ClassifierRun* features, const torch::Tensor& targets);

/// images: [N, C, H, W] in [-1, 1] of the generator's shape; labels: int64 [N] for
/// conditional models (undefined otherwise); start: [N, D] latents to start from (restart 0
/// starts there, the others nearby), or undefined to start from the prior.
Inversion invert(Generator& generator, const torch::Tensor& images, const torch::Tensor& labels,
                 const ClassifierRun* features, const InvertOptions& options, const torch::Tensor& start = {});

/// PSNR in dB of images in [-1, 1] (peak-to-peak 2), per image: float64 [N].
torch::Tensor psnr(const torch::Tensor& a, const torch::Tensor& b);

/// SSIM of Wang et al. (2004) per image: Gaussian window 11 x 11, sigma 1.5, K1 0.01,
/// K2 0.03, data range 1 on images mapped to [0, 1], averaged over the valid windows and
/// the channels. float64 [N]. With weights ([N, 1, H, W], e.g. an inpainting mask) the mean
/// over windows is weighted by the weight at each window's centre.
torch::Tensor ssim(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& weights = {});

}  // namespace latentkit
