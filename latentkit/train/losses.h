#pragma once
// GAN losses, computed from logits (binary_cross_entropy_with_logits) for numerical
// stability: never sigmoid followed by BCE. Three families, picked by `train --loss`:
//   bce      the non-saturating GAN (Goodfellow et al. 2014)
//   hinge    hinge loss for D, -mean D(G(z)) for G (Lim & Ye 2017; Miyato et al. 2018)
//   wgan-gp  Wasserstein critic with a gradient penalty (Gulrajani et al. 2017)
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "latentkit/core/names.h"

namespace latentkit {

class TrainJob;

enum class GanLoss { kBce, kHinge, kWganGp };
/// bce, hinge, wgan-gp: the names train --loss takes and config.json holds.
const NameTable<GanLoss>& gan_loss_names();

/// Discriminator loss of the non-saturating GAN: BCE(real, 1 - smoothing) + BCE(fake, 0),
/// each a mean over the batch. smoothing > 0 is one-sided label smoothing (Salimans et al.).
/// real_logits, fake_logits: [N].
torch::Tensor discriminator_loss_bce(const torch::Tensor& real_logits, const torch::Tensor& fake_logits,
                                     double smoothing = 0.0);
/// Generator loss of the non-saturating GAN: BCE(fake, 1) = mean(softplus(-fake_logits)).
torch::Tensor generator_loss_bce(const torch::Tensor& fake_logits);

/// The discriminator (critic) loss of a family: bce as above; hinge: mean(relu(1 - real))
/// + mean(relu(1 + fake)); wgan-gp: mean(fake) - mean(real) (the penalty is separate).
/// smoothing applies to bce only.
torch::Tensor discriminator_loss(GanLoss loss, const torch::Tensor& real_logits,
                                 const torch::Tensor& fake_logits, double smoothing = 0.0);
/// The generator loss of a family: bce as above; hinge and wgan-gp: -mean(fake).
torch::Tensor generator_loss(GanLoss loss, const torch::Tensor& fake_logits);

/// WGAN-GP's gradient penalty: mean over the batch of (|grad_x critic(x)|_2 - 1)^2 at
/// x = e real + (1 - e) fake, e ~ U(0, 1) per sample (LibTorch's default generator). Keeps
/// the graph, so it back-propagates into the critic's parameters. real, fake: [N, ...].
torch::Tensor gradient_penalty(const std::function<torch::Tensor(const torch::Tensor&)>& critic,
                               const torch::Tensor& real, const torch::Tensor& fake);

/// DiffAugment (Zhao et al. 2020): the same random, differentiable transforms applied to
/// real and generated images before every discriminator call, so D cannot memorise a small
/// set and G learns the images, not the transforms (the transforms reach G's gradient).
struct DiffAugment {
  bool color = false;        // brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]
  bool translation = false;  // shift by up to 1/8 of the side, zeros shifted in
  bool cutout = false;       // one square of half the side set to zero
  bool any() const { return color || translation || cutout; }
};
/// "none", "diffaug" (all three) or "diffaug:color,translation,cutout" (any of them); an
/// unknown policy is an Error listing the valid ones.
DiffAugment parse_diff_augment(const std::string& text);
/// The canonical text of a policy: "none", "diffaug:color,translation,cutout", ...
std::string diff_augment_text(const DiffAugment& policy);
/// x: [N, C, H, W] in [-1, 1]. Draws from LibTorch's default generator; with job (one rank
/// of a data-parallel job) draws for the whole global batch and keeps this rank's rows, so a
/// job augments as one process does. Color acts on the first 3 channels only (alpha kept).
torch::Tensor diff_augment(const torch::Tensor& x, const DiffAugment& policy, const TrainJob* job = nullptr);

}  // namespace latentkit
