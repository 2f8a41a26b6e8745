#include "latentkit/models/psgan.h"

#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/models/dcgan.h"

namespace latentkit {

namespace nn = torch::nn;

void PsganOptions::validate() const {
  check_input(local_dim() >= 0 && global_dim() >= 1 && periodic_dim() >= 0,
              "psgan: --local-dim and --periodic-dim must be >= 0 and --latent-dim (the global part) >= 1");
  check_input(layers() >= 2 && layers() <= 6, "psgan: --layers must be 2 to 6, got " + std::to_string(layers()));
  check_input(width() >= 4 && width() <= 512, "psgan: --width must be 4 to 512, got " + std::to_string(width()));
  check_input(channels() == 3, "psgan makes RGB images (--channels 3)");
  check_input(crop() % cell() == 0 && crop() / cell() >= 2,
              "psgan: the crop (--size " + std::to_string(crop()) + ") must be a multiple of " + std::to_string(cell()) +
                  " (2^--layers) and at least twice it");
}

PsganGeneratorImpl::PsganGeneratorImpl(PsganOptions o) : options(std::move(o)) { reset(); }

void PsganGeneratorImpl::reset() {
  const PsganOptions& o = options;
  wave = nn::Sequential(nn::Linear(o.global_dim(), o.mlp_hidden()), nn::ReLU(),
                        nn::Linear(o.mlp_hidden(), 2 * o.periodic_dim()));
  main = nn::Sequential();
  int64_t in = o.grid_channels();
  for (int64_t i = 0; i < o.layers(); ++i) {
    const bool last = i + 1 == o.layers();
    const int64_t out = last ? o.channels() : o.width() << (o.layers() - 2 - i);
    main->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1).bias(last)));
    if (last) {
      main->push_back(nn::Functional(torch::tanh));
    } else {
      main->push_back(nn::BatchNorm2d(out));
      main->push_back(nn::ReLU());
    }
    in = out;
  }
  register_module("wave", wave);
  register_module("main", main);
}

torch::Tensor PsganGeneratorImpl::waves(const torch::Tensor& global) {
  return (M_PI * torch::tanh(wave->forward(global))).view({global.size(0), 2, options.periodic_dim()});
}

torch::Tensor PsganGeneratorImpl::grid(const PsganLatent& z) {
  const int64_t n = z.local.size(0), h = z.local.size(2), w = z.local.size(3);
  const auto f = torch::TensorOptions().dtype(torch::kFloat);
  torch::Tensor parts[3] = {z.local, z.global.view({n, -1, 1, 1}).expand({n, z.global.size(1), h, w}), {}};
  torch::Tensor k = waves(z.global);
  torch::Tensor kx = k.select(1, 0), ky = k.select(1, 1);  // [N, P]
  // Tileable: a whole number of periods over the tile, so the waves wrap too.
  if (z.tile_w > 0) kx = torch::round(kx * (z.tile_w / (2 * M_PI))) * (2 * M_PI / z.tile_w);
  if (z.tile_h > 0) ky = torch::round(ky * (z.tile_h / (2 * M_PI))) * (2 * M_PI / z.tile_h);
  const torch::Tensor xs = torch::arange(z.x0, z.x0 + w, f).view({1, 1, 1, w});
  const torch::Tensor ys = torch::arange(z.y0, z.y0 + h, f).view({1, 1, h, 1});
  const int64_t p = options.periodic_dim();
  parts[2] = torch::sin(kx.view({n, p, 1, 1}) * xs + ky.view({n, p, 1, 1}) * ys + z.phase.view({n, p, 1, 1}));
  return torch::cat({parts[0], parts[1], parts[2]}, 1);
}

torch::Tensor PsganGeneratorImpl::forward(const torch::Tensor& grid) { return main->forward(grid); }

PsganDiscriminatorImpl::PsganDiscriminatorImpl(PsganOptions o) : options(std::move(o)) { reset(); }

void PsganDiscriminatorImpl::reset() {
  const PsganOptions& o = options;
  main = nn::Sequential();
  int64_t in = o.channels();
  for (int64_t i = 0; i < o.layers(); ++i) {
    const bool last = i + 1 == o.layers();
    const int64_t out = last ? 1 : o.width() << i;
    main->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 4).stride(2).padding(1).bias(i == 0 || last)));
    if (!last) {
      if (i > 0) main->push_back(nn::BatchNorm2d(out));
      main->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    }
    in = out;
  }
  register_module("main", main);
}

torch::Tensor PsganDiscriminatorImpl::forward(const torch::Tensor& images) {
  return main->forward(images).flatten(1);
}

PsganLatent psgan_training_latent(const PsganOptions& o, int64_t n, int64_t cells, c10::optional<torch::Generator> rng) {
  PsganLatent z;
  z.local = torch::randn({n, o.local_dim(), cells, cells}, rng);
  z.global = torch::randn({n, o.global_dim()}, rng);
  z.phase = torch::rand({n, o.periodic_dim()}, rng) * (2 * M_PI);
  return z;
}

PsganModel::PsganModel(PsganGenerator net, int64_t preview_cells)
    : net_(std::move(net)), preview_cells_(preview_cells > 0 ? preview_cells : net_->options.crop() / net_->options.cell()) {
  torch::Generator rng = make_rng(0);
  const int64_t cells = preview_cells_ + 2 * kPsganReach;
  PsganLatent z = psgan_training_latent(net_->options, 1, cells, rng);
  local_ = z.local;
  phase_ = z.phase;
}

std::array<int64_t, 3> PsganModel::image_shape() const {
  const int64_t side = preview_cells_ * net_->options.cell();
  return {net_->options.channels(), side, side};
}

torch::Tensor PsganModel::decode(const torch::Tensor& z, const torch::Tensor& labels) {
  check_input(!labels.defined(), "psgan models are unconditional: they take no labels");
  check_input(z.dim() == 2 && z.size(1) == latent_dim(),
              "psgan: latents must be [N, " + std::to_string(latent_dim()) + "] (the global part)");
  const int64_t n = z.size(0);
  return draw({local_.expand({n, -1, -1, -1}), z, phase_.expand({n, -1}), -kPsganReach, -kPsganReach});
}

torch::Tensor PsganModel::sample_images(const torch::Tensor& z, const torch::Tensor& labels, torch::Generator& rng) {
  check_input(!labels.defined(), "psgan models are unconditional: they take no labels");
  PsganLatent latent = psgan_training_latent(net_->options, z.size(0), preview_cells_ + 2 * kPsganReach, rng);
  latent.global = z;
  latent.x0 = latent.y0 = -kPsganReach;
  return draw(latent);
}

torch::Tensor PsganModel::draw(const PsganLatent& latent) {
  net_->eval();
  const int64_t margin = kPsganReach * net_->options.cell(), side = preview_cells_ * net_->options.cell();
  return net_->forward(net_->grid(latent)).narrow(2, margin, side).narrow(3, margin, side);
}

nlohmann::json psgan_options_to_json(const PsganOptions& o) {
  return {{"local_dim", o.local_dim()}, {"global_dim", o.global_dim()}, {"periodic_dim", o.periodic_dim()},
          {"mlp_hidden", o.mlp_hidden()}, {"layers", o.layers()},         {"width", o.width()},
          {"channels", o.channels()},   {"crop", o.crop()}};
}

PsganOptions psgan_options_from_json(const nlohmann::json& m) {
  PsganOptions o;
  o.local_dim(m.at("local_dim").get<int64_t>())
      .global_dim(m.at("global_dim").get<int64_t>())
      .periodic_dim(m.at("periodic_dim").get<int64_t>())
      .mlp_hidden(m.at("mlp_hidden").get<int64_t>())
      .layers(m.at("layers").get<int64_t>())
      .width(m.at("width").get<int64_t>())
      .channels(m.at("channels").get<int64_t>())
      .crop(m.at("crop").get<int64_t>());
  o.validate();
  return o;
}

}  // namespace latentkit
