#include "latentkit/models/generator.h"

#include <ATen/CPUGeneratorImpl.h>

#include "latentkit/core/error.h"

namespace latentkit {

torch::Tensor Generator::sample_latent(int64_t n, torch::Generator& rng, double truncation) const {
  check_input(n >= 0, "number of latents must be >= 0, got " + std::to_string(n));
  check_input(truncation >= 0.0, "truncation must be >= 0 (0 = off), got " + std::to_string(truncation));
  torch::Tensor z = torch::randn({n, latent_dim()}, rng);
  if (truncation > 0.0) {
    // Resample out-of-range entries: an exact truncated normal, unlike clamping.
    for (int round = 0; round < 1000; ++round) {
      torch::Tensor outside = z.abs() > truncation;
      int64_t count = outside.sum().item<int64_t>();
      if (count == 0) break;
      z.masked_scatter_(outside, torch::randn({count}, rng));
    }
    z.clamp_(-truncation, truncation);
  }
  return z;
}

torch::Tensor Generator::hidden(const torch::Tensor& z, const torch::Tensor& labels) {
  return decode(z, labels).flatten(1);
}

torch::Tensor Generator::class_labels(int64_t n, const torch::Tensor& labels) const {
  const int64_t k = num_classes();
  if (k == 0) return {};
  if (!labels.defined()) return torch::arange(n, torch::kInt64).remainder(k);
  check_input(labels.dim() == 1 && labels.size(0) == n, "one class label per latent is needed, got " +
                                                            c10::str(labels.sizes()) + " for " + std::to_string(n));
  torch::Tensor l = labels.to(torch::kInt64);
  check_input(n == 0 || (l.min().item<int64_t>() >= 0 && l.max().item<int64_t>() < k),
              "class labels must lie in [0, " + std::to_string(k) + ")");
  return l;
}

torch::Generator make_rng(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

torch::Tensor slerp_path(const torch::Tensor& a, const torch::Tensor& b, int64_t steps) {
  check_input(a.dim() == 1 && a.sizes() == b.sizes(), "slerp_path needs two vectors of the same size");
  check_input(steps >= 2, "interpolation needs at least 2 steps, got " + std::to_string(steps));
  torch::Tensor t = torch::linspace(0.0, 1.0, steps, a.options()).unsqueeze(1);
  double na = a.norm().item<double>();
  double nb = b.norm().item<double>();
  double cosine = na > 0 && nb > 0 ? (a.dot(b).item<double>() / (na * nb)) : 1.0;
  cosine = std::max(-1.0, std::min(1.0, cosine));
  double omega = std::acos(cosine);
  if (std::sin(omega) < 1e-6) return (1 - t) * a.unsqueeze(0) + t * b.unsqueeze(0);
  torch::Tensor wa = torch::sin((1 - t) * omega) / std::sin(omega);
  torch::Tensor wb = torch::sin(t * omega) / std::sin(omega);
  return wa * a.unsqueeze(0) + wb * b.unsqueeze(0);
}

}  // namespace latentkit
