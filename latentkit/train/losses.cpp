#include "latentkit/train/losses.h"

#include <sstream>
#include <utility>

#include "latentkit/core/error.h"
#include "latentkit/train/distributed.h"

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

DiffAugment parse_diff_augment(const std::string& text) {
  DiffAugment policy;
  if (text == "none") return policy;
  const std::string valid = "expected none, diffaug, or diffaug: followed by any of color, translation, cutout "
                            "joined by commas";
  check_input(text == "diffaug" || text.rfind("diffaug:", 0) == 0, "--augment: unknown '" + text + "' (" + valid + ")");
  if (text == "diffaug") return DiffAugment{true, true, true};
  std::stringstream parts(text.substr(8));
  for (std::string part; std::getline(parts, part, ',');) {
    if (part == "color") policy.color = true;
    else if (part == "translation") policy.translation = true;
    else if (part == "cutout") policy.cutout = true;
    else throw Error("--augment: unknown transform '" + part + "' in '" + text + "' (" + valid + ")");
  }
  check_input(policy.any(), "--augment: '" + text + "' names no transform (" + valid + ")");
  return policy;
}

std::string diff_augment_text(const DiffAugment& p) {
  if (!p.any()) return "none";
  std::string text;
  for (auto [on, name] : {std::pair{p.color, "color"}, {p.translation, "translation"}, {p.cutout, "cutout"}}) {
    if (on) text += (text.empty() ? "" : ",") + std::string(name);
  }
  return "diffaug:" + text;
}

torch::Tensor diff_augment(const torch::Tensor& x_in, const DiffAugment& policy, const TrainJob* job) {
  if (!policy.any()) return x_in;
  const int64_t world = job ? job->world_size() : 1;
  const int64_t n = x_in.size(0), total = n * world, h = x_in.size(2), w = x_in.size(3);
  // Every draw is for the global batch; a rank keeps its rows.
  const auto draw = [&](torch::Tensor global) { return job ? job->share(global) : global; };
  const auto options = torch::TensorOptions().dtype(x_in.scalar_type());
  torch::Tensor x = x_in;
  if (policy.color) {
    const int64_t c = std::min<int64_t>(x.size(1), 3);
    torch::Tensor rgb = x.slice(1, 0, c);
    rgb = rgb + (draw(torch::rand({total, 1, 1, 1})) - 0.5).to(options);
    const torch::Tensor channel_mean = rgb.mean(1, /*keepdim=*/true);
    rgb = (rgb - channel_mean) * (draw(torch::rand({total, 1, 1, 1})) * 2.0).to(options) + channel_mean;
    const torch::Tensor mean = rgb.mean({1, 2, 3}, /*keepdim=*/true);
    rgb = (rgb - mean) * (draw(torch::rand({total, 1, 1, 1})) + 0.5).to(options) + mean;
    x = c == x.size(1) ? rgb : torch::cat({rgb, x.slice(1, c)}, 1);
  }
  if (policy.translation) {
    // Shift each image by (dy, dx) in [-s, s], zeros shifted in: read the padded image at
    // (y + dy + 1, x + dx + 1), clamped to the zero border.
    const int64_t sy = static_cast<int64_t>(h * 0.125 + 0.5), sx = static_cast<int64_t>(w * 0.125 + 0.5);
    const torch::Tensor dy = draw(torch::randint(-sy, sy + 1, {total, 1, 1}));
    const torch::Tensor dx = draw(torch::randint(-sx, sx + 1, {total, 1, 1}));
    const torch::Tensor gy = (torch::arange(h).view({1, h, 1}) + dy + 1).clamp(0, h + 1).expand({n, h, w});
    const torch::Tensor gx = (torch::arange(w).view({1, 1, w}) + dx + 1).clamp(0, w + 1).expand({n, h, w});
    const torch::Tensor gb = torch::arange(n).view({n, 1, 1}).expand({n, h, w});
    const torch::Tensor padded = torch::constant_pad_nd(x, {1, 1, 1, 1}).permute({0, 2, 3, 1});
    x = padded.index({gb, gy, gx}).permute({0, 3, 1, 2});
  }
  if (policy.cutout) {
    // A square of half the side, centred at a random point (clipped at the edges), zeroed.
    const int64_t cy = static_cast<int64_t>(h * 0.5 + 0.5), cx = static_cast<int64_t>(w * 0.5 + 0.5);
    const torch::Tensor oy = draw(torch::randint(0, h + (1 - cy % 2), {total, 1, 1})) - cy / 2;
    const torch::Tensor ox = draw(torch::randint(0, w + (1 - cx % 2), {total, 1, 1})) - cx / 2;
    const torch::Tensor ys = torch::arange(h).view({1, h, 1}), xs = torch::arange(w).view({1, 1, w});
    const torch::Tensor inside = (ys >= oy) & (ys < oy + cy) & (xs >= ox) & (xs < ox + cx);
    x = x * (~inside).unsqueeze(1).to(options);
  }
  return x.contiguous(x_in.suggest_memory_format());
}

}  // namespace latentkit
