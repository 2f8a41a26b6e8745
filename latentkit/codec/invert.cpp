#include "latentkit/codec/invert.h"

#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/core/progress.h"
#include "latentkit/eval/features.h"

namespace latentkit {
namespace {

torch::Tensor classifier_features(const ClassifierRun& run, const torch::Tensor& images) {
  Classifier model = run.model;  // a shared handle: forward is not const
  const ClassifierOptions& o = model->options;
  return model->forward(fit_images(images, o.channels(), o.image_size())).features;
}

// StyleGAN2's projector schedule: ramp up over the first 5%, cosine down over the last 25%.
double learning_rate(double peak, double t) {
  double ramp = std::min(1.0, (1.0 - t) / 0.25);
  ramp = 0.5 - 0.5 * std::cos(ramp * M_PI);
  return peak * ramp * std::min(1.0, t / 0.05);
}

}  // namespace

torch::Tensor inversion_loss(const torch::Tensor& generated, const torch::Tensor& target, const torch::Tensor& z,
                             const ClassifierRun* features, const InvertOptions& o, const torch::Tensor& wanted) {
  torch::Tensor loss = (generated - target).pow(2).flatten(1).mean(1);
  if (features != nullptr && o.feature_weight > 0) {
    torch::Tensor f = classifier_features(*features, generated);
    torch::Tensor g = wanted.defined() ? wanted : target_features(features, target);
    loss = loss + o.feature_weight * (f - g).pow(2).sum(1) / (g.pow(2).sum(1) + 1e-6);
  }
  if (o.prior_weight > 0) {
    const double d = static_cast<double>(z.size(1));
    loss = loss + o.prior_weight * (z.norm(2, 1) - std::sqrt(d)).pow(2) / d;
  }
  return loss;
}

torch::Tensor target_features(const ClassifierRun* features, const torch::Tensor& targets) {
  if (features == nullptr) return {};
  torch::NoGradGuard no_grad;
  return classifier_features(*features, targets);
}

Inversion invert(Generator& generator, const torch::Tensor& images, const torch::Tensor& labels,
                 const ClassifierRun* features, const InvertOptions& o, const torch::Tensor& start) {
  const auto shape = generator.image_shape();
  check_input(images.dim() == 4 && images.size(1) == shape[0] && images.size(2) == shape[1] &&
                  images.size(3) == shape[2],
              "images to invert must be [N, " + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " +
                  std::to_string(shape[2]) + "] like the generator's, got " + c10::str(images.sizes()));
  check_input(o.steps >= 0 && o.restarts >= 1 && o.batch >= 1, "invert: steps >= 0, restarts >= 1 and batch >= 1");
  check_input(std::isfinite(o.lr) && o.lr > 0, "invert: the learning rate must be positive");
  const bool conditional = generator.num_classes() > 0;
  check_input(!conditional || (labels.defined() && labels.numel() == images.size(0)),
              "a conditional model needs a label per image to invert");
  const int64_t n = images.size(0), d = generator.latent_dim(), r = o.restarts;
  check_input(!start.defined() || (start.dim() == 2 && start.size(0) == n && start.size(1) == d),
              "invert: start latents must be [N, " + std::to_string(d) + "]");
  torch::Generator rng = make_rng(o.seed);
  Inversion out;
  std::vector<torch::Tensor> zs, mses;
  std::unique_ptr<Progress> progress;
  const int64_t batches = (n + o.batch - 1) / o.batch;
  if (o.progress) progress = std::make_unique<Progress>("invert", batches * std::max<int64_t>(o.steps, 1));
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t lo = b * o.batch, hi = std::min(n, lo + o.batch), m = hi - lo;
    const torch::Tensor target = images.slice(0, lo, hi).to(torch::kFloat32).repeat_interleave(r, 0);
    const torch::Tensor y = conditional ? labels.slice(0, lo, hi).to(torch::kInt64).repeat_interleave(r, 0)
                                        : torch::Tensor();
    torch::Tensor init = generator.sample_latent(m * r, rng);
    if (start.defined()) {
      // Restart 0 at the given latent, the others around it.
      torch::Tensor s = start.slice(0, lo, hi).to(torch::kFloat32).repeat_interleave(r, 0);
      torch::Tensor first = (torch::arange(m * r) % r == 0).unsqueeze(1);
      init = torch::where(first, s, s + 0.5 * init);
    }
    torch::AutoGradMode grad_mode(true);  // also under a caller's NoGradGuard
    const torch::Tensor wanted = o.feature_weight > 0 ? target_features(features, target) : torch::Tensor();
    torch::Tensor z = init.clone().requires_grad_(true);
    torch::optim::Adam adam({z}, torch::optim::AdamOptions(o.lr).betas({0.9, 0.999}));
    for (int64_t step = 0; step < o.steps; ++step) {
      const double t = static_cast<double>(step) / static_cast<double>(o.steps);
      for (auto& group : adam.param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(learning_rate(o.lr, t));
      }
      const double noise = o.noise * std::pow(std::max(0.0, 1.0 - t / 0.75), 2);
      torch::Tensor moved = noise > 0 ? z + noise * torch::randn(z.sizes(), rng) : z;
      torch::Tensor loss = inversion_loss(generator.decode(moved, y), target, moved, features, o, wanted);
      adam.zero_grad();
      loss.sum().backward();
      adam.step();
      if (progress) progress->update(b * o.steps + step + 1, "", static_cast<double>(m));
    }
    torch::NoGradGuard no_grad;
    torch::Tensor final_z = z.detach();
    torch::Tensor loss =
        inversion_loss(generator.decode(final_z, y), target, final_z, features, o, wanted).view({m, r});
    torch::Tensor best = loss.argmin(1) + torch::arange(m) * r;
    zs.push_back(final_z.index_select(0, best));
  }
  if (progress) progress->finish(std::to_string(n) + " images x " + std::to_string(r) + " restarts x " +
                                 std::to_string(o.steps) + " steps");
  torch::NoGradGuard no_grad;
  out.z = torch::cat(zs);
  if (conditional) out.labels = labels.to(torch::kInt64);
  out.images = generator.decode(out.z, out.labels);
  out.mse = (out.images - images.to(torch::kFloat32)).pow(2).flatten(1).mean(1).to(torch::kFloat64);
  return out;
}

torch::Tensor psnr(const torch::Tensor& a, const torch::Tensor& b) {
  check_input(a.sizes() == b.sizes() && a.dim() == 4, "psnr: two [N, C, H, W] batches of the same shape");
  torch::Tensor mse = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).flatten(1).mean(1);
  return 10.0 * torch::log10(4.0 / mse.clamp_min(1e-12));
}

torch::Tensor ssim(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& weights) {
  check_input(a.sizes() == b.sizes() && a.dim() == 4, "ssim: two [N, C, H, W] batches of the same shape");
  check_input(a.size(2) >= 11 && a.size(3) >= 11, "ssim: images must be at least 11 x 11");
  const int64_t c = a.size(1);
  torch::Tensor x = ((a.to(torch::kFloat64) + 1) / 2).flatten(0, 1).unsqueeze(1);  // [N*C, 1, H, W]
  torch::Tensor y = ((b.to(torch::kFloat64) + 1) / 2).flatten(0, 1).unsqueeze(1);
  torch::Tensor g = torch::exp(-(torch::arange(11, torch::kFloat64) - 5).pow(2) / (2 * 1.5 * 1.5));
  g = g / g.sum();
  const torch::Tensor window = g.view({11, 1}).mm(g.view({1, 11})).view({1, 1, 11, 11});
  auto blur = [&](const torch::Tensor& t) { return torch::conv2d(t, window); };
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  torch::Tensor mx = blur(x), my = blur(y);
  torch::Tensor sxx = blur(x * x) - mx * mx, syy = blur(y * y) - my * my, sxy = blur(x * y) - mx * my;
  torch::Tensor map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  if (!weights.defined()) return map.flatten(1).mean(1).view({-1, c}).mean(1);
  check_input(weights.dim() == 4 && weights.size(0) == a.size(0) && weights.size(1) == 1 &&
                  weights.size(2) == a.size(2) && weights.size(3) == a.size(3),
              "ssim: weights must be [N, 1, H, W] like the images");
  const int64_t h = a.size(2), w = a.size(3);
  torch::Tensor centre = weights.to(torch::kFloat64).slice(2, 5, h - 5).slice(3, 5, w - 5);  // [N, 1, H-10, W-10]
  torch::Tensor per = map.view({a.size(0), c, -1}).mean(1);                                   // [N, windows]
  torch::Tensor wts = centre.flatten(1);
  return (per * wts).sum(1) / wts.sum(1).clamp_min(1e-12);
}

}  // namespace latentkit
