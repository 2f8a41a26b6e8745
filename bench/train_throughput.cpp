// DCGAN training throughput in latentkit: the trainer's own step (gan_train_step) on
// Fashion-MNIST-shaped batches, timed after a warm-up. bench/train_throughput.sh runs this
// and the same model and optimiser in PyTorch in one go and prints the ratio.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/threads.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/train/gan_trainer.h"

using namespace latentkit;

namespace {

// 2 x multiply-adds of every conv / transposed conv / linear layer, per image.
double forward_flops(torch::nn::Sequential& net, torch::Tensor x) {
  torch::NoGradGuard no_grad;
  net->eval();
  double flops = 0;
  for (auto& layer : *net) {
    torch::Tensor y = layer.forward(x);
    auto module = layer.ptr();
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      flops += 2.0 * conv->weight.numel() * y.size(2) * y.size(3);
    } else if (auto* deconv = module->as<torch::nn::ConvTranspose2d>()) {
      flops += 2.0 * deconv->weight.numel() * x.size(2) * x.size(3);
    } else if (auto* linear = module->as<torch::nn::Linear>()) {
      flops += 2.0 * linear->weight.numel();
    }
    x = y;
  }
  net->train();
  return flops;
}

// SGEMM throughput of this machine through LibTorch's BLAS (OpenBLAS on all cores): the
// best of a few 1024^3 products.
double sgemm_gflops() {
  torch::Tensor a = torch::randn({1024, 1024});
  torch::Tensor b = torch::randn({1024, 1024});
  torch::Tensor c = torch::mm(a, b);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    c = torch::mm(a, b);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * 1024 * 1024 * 1024 / s / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  int steps = argc > 2 ? std::atoi(argv[2]) : 30;
  std::string preset = argc > 3 ? argv[3] : "dcgan";
  const int64_t batch = 64;
  // Measured before set_threads holds OpenBLAS to one thread: the peak of all cores.
  const double sgemm_peak = sgemm_gflops();
  // The trainer's thread set-up; LATENTKIT_BENCH_STOCK_THREADS=1 keeps LibTorch's defaults.
  if (std::getenv("LATENTKIT_BENCH_STOCK_THREADS")) torch::set_num_threads(threads);
  else set_threads(threads);
  torch::manual_seed(0);

  DcganOptions o;
  o.preset(preset).channels(1).image_size(28);
  DcganGenerator g(o);
  DcganDiscriminator d(o);
  dcgan_init_weights(*g);
  dcgan_init_weights(*d);
  torch::optim::Adam opt_g(g->parameters(), torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999)));
  torch::optim::Adam opt_d(d->parameters(), torch::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.999)));
  torch::Tensor real = torch::rand({batch, 1, 28, 28}) * 2 - 1;

  for (int i = 0; i < 3; ++i) gan_train_step(g, d, opt_g, opt_d, real);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) gan_train_step(g, d, opt_g, opt_d, real);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // A step runs G forward once and backward once (~3 forward costs) and D forward three
  // times (real, fake for the D step, fake for the G step) with three backward passes
  // (~9 forward costs).
  // The dcgan generator's Sequential sees z as [N, latent, 1, 1].
  torch::Tensor z = preset == "dcgan" ? torch::randn({2, o.latent_dim(), 1, 1}) : torch::randn({2, o.latent_dim()});
  double step_flops = batch * (3 * forward_flops(g->main, z) + 9 * forward_flops(d->main, real.slice(0, 0, 2))) / 2;
  double img_per_s = steps * batch / seconds;
  nlohmann::json out = {{"impl", "latentkit"}, {"preset", preset}, {"threads", threads}, {"batch", batch},
                        {"steps", steps}, {"seconds", seconds}, {"img_per_s", img_per_s},
                        {"step_gflop", step_flops / 1e9}, {"gflops", step_flops * steps / seconds / 1e9},
                        {"sgemm_peak_gflops", sgemm_peak}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
