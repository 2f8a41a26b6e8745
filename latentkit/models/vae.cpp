#include "latentkit/models/vae.h"

#include "latentkit/core/error.h"

namespace latentkit {
namespace nn = torch::nn;

void VaeOptions::validate() const {
  if (channels() != 1 && channels() != 3 && channels() != 4) throw Error("VAE needs 1, 3 or 4 image channels, got " + std::to_string(channels()));
  if (image_size() < 16 || image_size() > 256 || image_size() % 4 != 0)
    throw Error("VAE image size must be a multiple of 4 in [16, 256], got " + std::to_string(image_size()));
  if (depth() < 1 || depth() > 5 || image_size() % (int64_t{1} << depth()) != 0)
    throw Error("VAE depth must be 1 to 5 with the image size a multiple of 2^depth, got depth " + std::to_string(depth()) +
                " at " + std::to_string(image_size()) + " px");
  if (latent_dim() < 1) throw Error("latent size must be >= 1, got " + std::to_string(latent_dim()));
  if (width() < 4) throw Error("model width must be >= 4, got " + std::to_string(width()));
  if (!(beta() >= 0) || !std::isfinite(beta())) throw Error("beta must be >= 0, got " + std::to_string(beta()));
  if (recon() != "bce" && recon() != "mse") throw Error("reconstruction loss must be bce or mse, got '" + recon() + "'");
  if (num_classes() < 0) throw Error("the number of classes must be >= 0, got " + std::to_string(num_classes()));
}

VaeImpl::VaeImpl(VaeOptions options_) : options(std::move(options_)) { reset(); }

void VaeImpl::reset() {
  options.validate();
  const int64_t c = options.channels(), w = options.width(), depth = options.depth();
  const int64_t k = options.num_classes(), s = options.image_size() >> depth;
  // Level i has width w 2^i; the innermost, w 2^(depth - 1), meets the linear layers.
  const auto level_width = [&](int64_t i) { return w << i; };
  const int64_t inner = level_width(depth - 1);
  nn::Sequential down;
  for (int64_t i = 0; i < depth; ++i) {
    down->push_back(nn::Conv2d(nn::Conv2dOptions(i == 0 ? c + k : level_width(i - 1), level_width(i), 4).stride(2).padding(1)));
    down->push_back(nn::ReLU());
  }
  down->push_back(nn::Flatten());
  encoder = register_module("encoder", down);
  moments = register_module("moments", nn::Linear(inner * s * s, 2 * options.latent_dim()));
  nn::Sequential up(nn::Linear(options.latent_dim() + k, inner * s * s), nn::ReLU(),
                    nn::Unflatten(nn::UnflattenOptions(1, {inner, s, s})));
  for (int64_t i = depth - 1; i > 0; --i) {
    up->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(level_width(i), level_width(i - 1), 4).stride(2).padding(1)));
    up->push_back(nn::ReLU());
  }
  up->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(w, c, 4).stride(2).padding(1)));
  decoder = register_module("decoder", up);
}

namespace {

// One-hot labels [N, K] for a conditional VAE; undefined for an unconditional one.
torch::Tensor one_hot_labels(const VaeOptions& o, const torch::Tensor& labels, int64_t n) {
  if (o.num_classes() == 0) {
    check_input(!labels.defined(), "an unconditional VAE takes no class labels");
    return {};
  }
  check_input(labels.defined() && labels.dim() == 1 && labels.size(0) == n,
              "a conditional VAE needs one class label per image");
  return torch::one_hot(labels.to(torch::kInt64), o.num_classes()).to(torch::kFloat32);
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> VaeImpl::encode(const torch::Tensor& x, const torch::Tensor& labels) {
  check_input(x.dim() == 4 && x.size(1) == options.channels() && x.size(2) == options.image_size() &&
                  x.size(3) == options.image_size(),
              "the VAE encodes [N, " + std::to_string(options.channels()) + ", " + std::to_string(options.image_size()) +
                  ", " + std::to_string(options.image_size()) + "] images, got " + c10::str(x.sizes()));
  torch::Tensor input = x;
  if (torch::Tensor y = one_hot_labels(options, labels, x.size(0)); y.defined()) {
    input = torch::cat({x, y.view({y.size(0), y.size(1), 1, 1}).expand({-1, -1, x.size(2), x.size(3)})}, 1);
  }
  torch::Tensor m = moments->forward(encoder->forward(input));
  return {m.slice(1, 0, options.latent_dim()), m.slice(1, options.latent_dim())};
}

torch::Tensor VaeImpl::decode_logits(const torch::Tensor& z, const torch::Tensor& labels) {
  torch::Tensor y = one_hot_labels(options, labels, z.size(0));
  return decoder->forward(y.defined() ? torch::cat({z, y}, 1) : z);
}

torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& log_var) {
  return -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1);
}

VaeLoss VaeImpl::loss(const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& eps) {
  // The loss in fp32 also when the layers run in bf16 (autocast): a no-op in fp32.
  auto [mu_out, log_var_out] = encode(x, labels);
  const torch::Tensor mu = mu_out.to(torch::kFloat), log_var = log_var_out.to(torch::kFloat);
  torch::Tensor z = mu + (0.5 * log_var).exp() * (eps.defined() ? eps : torch::randn_like(mu));
  torch::Tensor logits = decode_logits(z, labels).to(torch::kFloat);
  torch::Tensor target = (x + 1) / 2;
  torch::Tensor per_pixel =
      options.recon() == "bce"
          ? nn::functional::binary_cross_entropy_with_logits(
                logits, target, nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
          : (torch::sigmoid(logits) - target).pow(2);
  VaeLoss l;
  l.recon = per_pixel.flatten(1).sum(1).mean();
  l.kl = gaussian_kl(mu, log_var).mean();
  l.loss = l.recon + options.beta() * l.kl;
  return l;
}

torch::Tensor VaeModel::decode(const torch::Tensor& z, const torch::Tensor& labels) {
  check_input(z.dim() == 2 && z.size(1) == latent_dim(),
              "latent must be [N, " + std::to_string(latent_dim()) + "], got " + c10::str(z.sizes()));
  net_->eval();
  return 2 * torch::sigmoid(net_->decode_logits(z, class_labels(z.size(0), labels))) - 1;
}

std::pair<torch::Tensor, torch::Tensor> VaeModel::posterior(const torch::Tensor& images, const torch::Tensor& labels) {
  check_input(num_classes() == 0 || labels.defined(),
              "a conditional VAE encodes an image together with its class (pass the class)");
  net_->eval();
  return net_->encode(images, num_classes() > 0 ? class_labels(images.size(0), labels) : torch::Tensor());
}

nlohmann::json vae_options_to_json(const VaeOptions& o) {
  return {{"channels", o.channels()}, {"image_size", o.image_size()}, {"latent_dim", o.latent_dim()},
          {"width", o.width()},       {"depth", o.depth()},           {"beta", o.beta()},
          {"recon", o.recon()},       {"num_classes", o.num_classes()}};
}

VaeOptions vae_options_from_json(const nlohmann::json& model) {
  try {
    VaeOptions o;
    o.channels(model.at("channels").get<int64_t>())
        .image_size(model.at("image_size").get<int64_t>())
        .latent_dim(model.at("latent_dim").get<int64_t>())
        .width(model.at("width").get<int64_t>())
        .depth(model.value("depth", int64_t{2}))
        .beta(model.at("beta").get<double>())
        .recon(model.at("recon").get<std::string>())
        .num_classes(model.value("num_classes", int64_t{0}));
    o.validate();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("the VAE's model options in config.json are malformed: ") + e.what());
  }
}

}  // namespace latentkit
