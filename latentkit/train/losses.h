#pragma once
// GAN losses, computed from logits (binary_cross_entropy_with_logits) for numerical
// stability: never sigmoid followed by BCE.
#include <torch/torch.h>

namespace latentkit {

/// Discriminator loss of the non-saturating GAN: BCE(real, 1 - smoothing) + BCE(fake, 0),
/// each a mean over the batch. smoothing > 0 is one-sided label smoothing (Salimans et al.).
/// real_logits, fake_logits: [N].
torch::Tensor discriminator_loss_bce(const torch::Tensor& real_logits, const torch::Tensor& fake_logits,
                                     double smoothing = 0.0);
/// Generator loss of the non-saturating GAN: BCE(fake, 1) = mean(softplus(-fake_logits)).
torch::Tensor generator_loss_bce(const torch::Tensor& fake_logits);

}  // namespace latentkit
