#include "latentkit/models/spade.h"

#include <algorithm>

#include "latentkit/core/error.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, bool bias = true) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel == 4 ? 2 : kernel / 2).bias(bias));
}

torch::Tensor lrelu(const torch::Tensor& x) { return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2)); }

}  // namespace

void SpadeOptions::validate() const {
  check_input(channels() == 1 || channels() == 3 || channels() == 4,
              "spade: channels must be 1, 3 or 4, got " + std::to_string(channels()));
  const int64_t s = image_size();
  check_input(s >= 16 && s <= 256 && (s & (s - 1)) == 0, "spade: the image size must be a power of two in 16..256, got " +
                                                             std::to_string(s) + " (pass --size)");
  check_input(classes() >= 2 && classes() <= 64, "spade: label maps need 2..64 classes");
  check_input(latent_dim() >= 1 && latent_dim() <= 1024, "spade: --latent-dim must be in 1..1024");
  check_input(width() >= 4 && width() <= 256, "spade: --width must be in 4..256");
  check_input(d_width() >= 4 && d_width() <= 256, "spade: --d-width must be in 4..256");
  check_input(d_scales() >= 1 && d_scales() <= 3, "spade: --d-scales must be in 1..3");
  check_input(d_layers() >= 1 && d_layers() <= 4, "spade: --d-layers must be in 1..4");
}

int64_t SpadeOptions::levels() const {
  int64_t l = 0;
  while ((int64_t{4} << l) < image_size()) ++l;
  return l;
}

nlohmann::json spade_options_to_json(const SpadeOptions& o) {
  return {{"channels", o.channels()}, {"image_size", o.image_size()}, {"classes", o.classes()},
          {"palette", o.palette()},   {"latent_dim", o.latent_dim()}, {"width", o.width()},
          {"d_width", o.d_width()},   {"d_scales", o.d_scales()},     {"d_layers", o.d_layers()}};
}

SpadeOptions spade_options_from_json(const nlohmann::json& m) {
  SpadeOptions o;
  o.channels(m.at("channels").get<int64_t>())
      .image_size(m.at("image_size").get<int64_t>())
      .classes(m.at("classes").get<int64_t>())
      .palette(m.at("palette").get<std::string>())
      .latent_dim(m.at("latent_dim").get<int64_t>())
      .width(m.at("width").get<int64_t>())
      .d_width(m.at("d_width").get<int64_t>())
      .d_scales(m.at("d_scales").get<int64_t>())
      .d_layers(m.at("d_layers").get<int64_t>());
  o.validate();
  return o;
}

SpadeNormImpl::SpadeNormImpl(int64_t channels_, int64_t classes_) : channels(channels_), classes(classes_) { reset(); }

void SpadeNormImpl::reset() {
  const int64_t hidden = std::clamp<int64_t>(channels, 32, 128);
  norm = register_module("norm", nn::BatchNorm2d(nn::BatchNormOptions(channels).affine(false)));
  shared = register_module("shared", conv(classes, hidden, 3));
  gamma = register_module("gamma", conv(hidden, channels, 3));
  beta = register_module("beta", conv(hidden, channels, 3));
}

torch::Tensor SpadeNormImpl::forward(const torch::Tensor& x, const torch::Tensor& maps) {
  torch::Tensor m = maps.size(2) == x.size(2) ? maps
                                              : F::interpolate(maps, F::InterpolateFuncOptions()
                                                                         .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                                                         .mode(torch::kNearest));
  torch::Tensor a = torch::relu(shared(m));
  return norm(x) * (1 + gamma(a)) + beta(a);
}

SpadeBlockImpl::SpadeBlockImpl(int64_t in_, int64_t out_, int64_t classes_) : in(in_), out(out_), classes(classes_) {
  reset();
}

void SpadeBlockImpl::reset() {
  const int64_t mid = std::min(in, out);
  norm0 = register_module("norm0", SpadeNorm(in, classes));
  conv0 = register_module("conv0", conv(in, mid, 3));
  norm1 = register_module("norm1", SpadeNorm(mid, classes));
  conv1 = register_module("conv1", conv(mid, out, 3));
  if (in != out) {
    norm_s = register_module("norm_s", SpadeNorm(in, classes));
    conv_s = register_module("conv_s", conv(in, out, 1, 1, false));
  }
}

torch::Tensor SpadeBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& maps) {
  torch::Tensor shortcut = conv_s ? conv_s(norm_s(x, maps)) : x;
  torch::Tensor dx = conv0(lrelu(norm0(x, maps)));
  dx = conv1(lrelu(norm1(dx, maps)));
  return shortcut + dx;
}

SpadeGeneratorImpl::SpadeGeneratorImpl(SpadeOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void SpadeGeneratorImpl::reset() {
  const int64_t levels = options.levels();
  auto ch = [&](int64_t i) { return options.width() * std::min<int64_t>(int64_t{1} << (levels - i), 8); };
  fc = register_module("fc", nn::Linear(options.latent_dim(), ch(0) * 16));
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i <= levels; ++i) blocks->push_back(SpadeBlock(ch(i == 0 ? 0 : i - 1), ch(i), options.classes()));
  to_image = register_module("to_image", conv(ch(levels), options.channels(), 3));
}

torch::Tensor SpadeGeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& maps) {
  check_input(z.dim() == 2 && z.size(1) == options.latent_dim(),
              "spade: z must be [N, " + std::to_string(options.latent_dim()) + "]");
  check_input(maps.dim() == 4 && maps.size(0) == z.size(0) && maps.size(1) == options.classes() &&
                  maps.size(2) == options.image_size() && maps.size(3) == options.image_size(),
              "spade: maps must be one-hot [N, " + std::to_string(options.classes()) + ", " +
                  std::to_string(options.image_size()) + ", " + std::to_string(options.image_size()) + "]");
  torch::Tensor x = fc(z).view({z.size(0), -1, 4, 4});
  for (size_t i = 0; i < blocks->size(); ++i) {
    if (i > 0) x = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
    x = blocks[i]->as<SpadeBlock>()->forward(x, maps);
  }
  return torch::tanh(to_image(lrelu(x)));
}

SpadeDiscriminatorImpl::SpadeDiscriminatorImpl(SpadeOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void SpadeDiscriminatorImpl::reset() {
  scales = register_module("scales", nn::ModuleList());
  const int64_t in = options.channels() + options.classes(), w = options.d_width();
  for (int64_t s = 0; s < options.d_scales(); ++s) {
    nn::ModuleList layers;
    layers->push_back(nn::Sequential(conv(in, w, 4, 2), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2))));
    int64_t width = w;
    for (int64_t l = 1; l < options.d_layers(); ++l) {
      const int64_t next = std::min(width * 2, w * 8);
      layers->push_back(nn::Sequential(conv(width, next, 4, l + 1 == options.d_layers() ? 1 : 2),
                                       nn::InstanceNorm2d(nn::InstanceNormOptions(next)),
                                       nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2))));
      width = next;
    }
    layers->push_back(nn::Sequential(conv(width, 1, 4)));
    scales->push_back(layers);
  }
}

std::vector<std::vector<torch::Tensor>> SpadeDiscriminatorImpl::forward(const torch::Tensor& images, const torch::Tensor& maps) {
  torch::Tensor x = maps.defined() ? torch::cat({images, maps.to(images.dtype())}, 1) : images;
  check_input(x.dim() == 4 && x.size(1) == options.channels() + options.classes(),
              "spade discriminator: expected images and one-hot maps, " +
                  std::to_string(options.channels() + options.classes()) + " channels in all");
  std::vector<std::vector<torch::Tensor>> out;
  for (size_t s = 0; s < scales->size(); ++s) {
    if (s > 0) x = F::avg_pool2d(x, F::AvgPool2dFuncOptions(3).stride(2).padding(1).count_include_pad(false));
    std::vector<torch::Tensor> features;
    torch::Tensor h = x;
    for (const auto& layer : *scales[s]->as<nn::ModuleList>()) {
      h = layer->as<nn::Sequential>()->forward(h);
      features.push_back(h);
    }
    out.push_back(std::move(features));
  }
  return out;
}

SpadeRun load_spade(const std::string& run_dir) {
  nlohmann::json config = read_trained_run(run_dir, "spade", "a spade run (mask to image)",
                                           "latentkit train --model spade");
  SpadeRun run;
  try {
    run.options = spade_options_from_json(config.at("model"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
  map_palette(run.options.palette());  // a palette this version knows
  run.net = SpadeGenerator(run.options);
  load_module(*run.net, run_dir + "/model.pt");
  run.net->eval();
  return run;
}

torch::Tensor spade_generate(SpadeGeneratorImpl& net, const torch::Tensor& maps, const torch::Tensor& z) {
  torch::NoGradGuard no_grad;
  net.eval();
  const int64_t s = net.options.image_size();
  check_input(maps.dim() == 3 && maps.size(1) == s && maps.size(2) == s,
              "spade: the map is " + std::to_string(maps.size(-1)) + "x" + std::to_string(maps.size(-2)) +
                  " but the model draws " + std::to_string(s) + "x" + std::to_string(s));
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < maps.size(0); i += 64) {
    const int64_t j = std::min(i + 64, maps.size(0));
    out.push_back(net.forward(z.slice(0, i, j), one_hot_maps(maps.slice(0, i, j), net.options.classes())));
  }
  return torch::cat(out);
}

}  // namespace latentkit
