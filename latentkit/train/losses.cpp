#include "latentkit/train/losses.h"

#include "latentkit/core/error.h"

namespace latentkit {

const std::vector<std::string>& gan_losses() {
  static const std::vector<std::string> names = {"bce", "hinge", "wgan-gp"};
  return names;
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

namespace {

void check_loss(const std::string& loss) {
  for (const std::string& name : gan_losses()) {
    if (name == loss) return;
  }
  throw Error("unknown GAN loss '" + loss + "'; the losses are: bce, hinge, wgan-gp");
}

}  // namespace

torch::Tensor discriminator_loss(const std::string& loss, const torch::Tensor& real_logits,
                                 const torch::Tensor& fake_logits, double smoothing) {
  check_loss(loss);
  if (loss == "bce") return discriminator_loss_bce(real_logits, fake_logits, smoothing);
  if (loss == "hinge") return torch::relu(1 - real_logits).mean() + torch::relu(1 + fake_logits).mean();
  return fake_logits.mean() - real_logits.mean();
}

torch::Tensor generator_loss(const std::string& loss, const torch::Tensor& fake_logits) {
  check_loss(loss);
  if (loss == "bce") return generator_loss_bce(fake_logits);
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
