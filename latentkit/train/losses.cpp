#include "latentkit/train/losses.h"

namespace latentkit {

torch::Tensor discriminator_loss_bce(const torch::Tensor& real_logits, const torch::Tensor& fake_logits,
                                     double smoothing) {
  namespace F = torch::nn::functional;
  torch::Tensor real_target = torch::full_like(real_logits, 1.0 - smoothing);
  torch::Tensor fake_target = torch::zeros_like(fake_logits);
  return F::binary_cross_entropy_with_logits(real_logits, real_target) +
         F::binary_cross_entropy_with_logits(fake_logits, fake_target);
}

torch::Tensor generator_loss_bce(const torch::Tensor& fake_logits) {
  return torch::nn::functional::binary_cross_entropy_with_logits(fake_logits, torch::ones_like(fake_logits));
}

}  // namespace latentkit
