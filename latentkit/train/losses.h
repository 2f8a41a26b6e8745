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

}  // namespace latentkit
