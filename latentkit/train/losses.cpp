#include "latentkit/train/losses.h"

#include "latentkit/core/error.h"

namespace latentkit {

const NameTable<GanLoss>& gan_loss_names() {
  static const NameTable<GanLoss> table("--loss", {{GanLoss::kBce, "bce"}, {GanLoss::kHinge, "hinge"}, {GanLoss::kWganGp, "wgan-gp"}});
  return table;
}

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

torch::Tensor discriminator_loss(GanLoss loss, const torch::Tensor& real_logits, const torch::Tensor& fake_logits,
                                 double smoothing) {
  if (loss == GanLoss::kBce) return discriminator_loss_bce(real_logits, fake_logits, smoothing);
  if (loss == GanLoss::kHinge) return torch::relu(1 - real_logits).mean() + torch::relu(1 + fake_logits).mean();
  return fake_logits.mean() - real_logits.mean();
}

torch::Tensor generator_loss(GanLoss loss, const torch::Tensor& fake_logits) {
  if (loss == GanLoss::kBce) return generator_loss_bce(fake_logits);
  return -fake_logits.mean();
}

torch::Tensor gradient_penalty(const std::function<torch::Tensor(const torch::Tensor&)>& critic,
                               const torch::Tensor& real, const torch::Tensor& fake) {
  check_input(real.sizes() == fake.sizes() && real.dim() >= 1 && real.size(0) > 0,
              "gradient_penalty: real and fake batches must have the same non-empty shape");
  std::vector<int64_t> shape(static_cast<size_t>(real.dim()), 1);
  shape[0] = real.size(0);
  torch::Tensor e = torch::rand(shape, real.options());
  torch::Tensor mixed = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(true);
  torch::Tensor out = critic(mixed);
  torch::Tensor gradient = torch::autograd::grad({out.sum()}, {mixed}, /*grad_outputs=*/{}, /*retain_graph=*/true,
                                                 /*create_graph=*/true)[0];
  return (gradient.flatten(1).norm(2, 1) - 1).pow(2).mean();
}

}  // namespace latentkit
