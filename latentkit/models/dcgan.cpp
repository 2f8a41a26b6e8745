#include "latentkit/models/dcgan.h"

#include <algorithm>

#include "latentkit/core/error.h"

namespace latentkit {
namespace nn = torch::nn;

namespace {

// Spatial size of the first feature map and the number of x2 upsamplings to reach
// image_size: 28 = 7 * 2^2, 32 = 4 * 2^3, 64 = 4 * 2^4.
struct Ladder {
  int64_t base;
  int64_t doublings;
};

Ladder ladder_for(int64_t image_size) {
  switch (image_size) {
    case 28: return {7, 2};
    case 32: return {4, 3};
    case 64: return {4, 4};
    default: throw Error("image size " + std::to_string(image_size) + " is not supported by DCGAN (expected 28, 32 or 64)");
  }
}

// Size of the label embedding of conditional generators.
constexpr int64_t kLabelEmbedding = 32;

int64_t generator_input(const DcganOptions& o) {
  return o.latent_dim() + (o.num_classes() > 0 ? kLabelEmbedding : 0);
}

// Image channels, plus one one-hot map per class for "concat" conditioning.
int64_t discriminator_input(const DcganOptions& o) {
  return o.channels() + (o.num_classes() > 0 && o.conditioning() == "concat" ? o.num_classes() : 0);
}

nn::Sequential dcgan_generator(const DcganOptions& o) {
  Ladder ladder = ladder_for(o.image_size());
  nn::Sequential main;
  int64_t channels = o.width() << (ladder.doublings - 1);
  main->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(generator_input(o), channels, ladder.base).bias(false)));
  main->push_back(nn::BatchNorm2d(channels));
  main->push_back(nn::ReLU(true));
  for (int64_t i = 1; i < ladder.doublings; ++i) {
    main->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(channels, channels / 2, 4).stride(2).padding(1).bias(false)));
    main->push_back(nn::BatchNorm2d(channels / 2));
    main->push_back(nn::ReLU(true));
    channels /= 2;
  }
  main->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(channels, o.channels(), 4).stride(2).padding(1).bias(false)));
  main->push_back(nn::Tanh());
  return main;
}

nn::Sequential dcgan_discriminator(const DcganOptions& o) {
  Ladder ladder = ladder_for(o.image_size());
  nn::Sequential main;
  int64_t channels = o.width();
  main->push_back(nn::Conv2d(nn::Conv2dOptions(discriminator_input(o), channels, 4).stride(2).padding(1).bias(false)));
  main->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
  for (int64_t i = 1; i < ladder.doublings; ++i) {
    main->push_back(nn::Conv2d(nn::Conv2dOptions(channels, channels * 2, 4).stride(2).padding(1).bias(false)));
    if (o.critic_norm() == "batch") main->push_back(nn::BatchNorm2d(channels * 2));
    main->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
    channels *= 2;
  }
  main->push_back(nn::Conv2d(nn::Conv2dOptions(channels, 1, ladder.base).bias(false)));
  return main;
}

nn::Sequential upsample_generator(const DcganOptions& o) {
  Ladder ladder = ladder_for(o.image_size());
  nn::Sequential main;
  int64_t channels = o.width() * 4;
  main->push_back(nn::Linear(nn::LinearOptions(generator_input(o), channels * ladder.base * ladder.base).bias(false)));
  main->push_back(nn::BatchNorm1d(channels * ladder.base * ladder.base));
  main->push_back(nn::ReLU(true));
  main->push_back(nn::Unflatten(nn::UnflattenOptions(1, {channels, ladder.base, ladder.base})));
  for (int64_t i = 0; i < ladder.doublings; ++i) {
    int64_t next = std::max<int64_t>(channels / 2, o.width() / 4);
    main->push_back(nn::Upsample(nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
    main->push_back(nn::Conv2d(nn::Conv2dOptions(channels, next, 3).padding(1).bias(false)));
    main->push_back(nn::BatchNorm2d(next));
    main->push_back(nn::ReLU(true));
    channels = next;
  }
  main->push_back(nn::Conv2d(nn::Conv2dOptions(channels, o.channels(), 3).padding(1)));
  main->push_back(nn::Tanh());
  return main;
}

nn::Sequential upsample_discriminator(const DcganOptions& o) {
  nn::Sequential main;
  int64_t in = discriminator_input(o);
  int64_t channels = std::max<int64_t>(o.width() / 2, 1);
  int64_t spatial = o.image_size();
  for (int64_t i = 0; spatial > 4; ++i) {
    main->push_back(nn::Conv2d(nn::Conv2dOptions(in, channels, 3).stride(2).padding(1)));
    main->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    main->push_back(nn::Dropout(0.25));
    if (i > 0 && o.critic_norm() == "batch") main->push_back(nn::BatchNorm2d(channels));
    spatial = (spatial + 1) / 2;
    in = channels;
    channels *= 2;
  }
  main->push_back(nn::Flatten());
  main->push_back(nn::Linear(in * spatial * spatial, 1));
  return main;
}

}  // namespace

const std::vector<std::string>& dcgan_presets() {
  static const std::vector<std::string> presets = {"dcgan", "dcgan-upsample"};
  return presets;
}

void DcganOptions::validate() const {
  const auto& presets = dcgan_presets();
  if (std::find(presets.begin(), presets.end(), preset()) == presets.end())
    throw Error("unknown model '" + preset() + "' (expected dcgan or dcgan-upsample)");
  if (channels() != 1 && channels() != 3 && channels() != 4)
    throw Error("DCGAN needs 1, 3 or 4 image channels, got " + std::to_string(channels()));
  ladder_for(image_size());
  if (latent_dim() < 1) throw Error("latent size must be >= 1, got " + std::to_string(latent_dim()));
  if (width() < 4) throw Error("model width must be >= 4, got " + std::to_string(width()));
  if (critic_norm() != "batch" && critic_norm() != "none")
    throw Error("critic normalisation must be batch or none, got '" + critic_norm() + "'");
  if (num_classes() < 0) throw Error("the number of classes must be >= 0, got " + std::to_string(num_classes()));
  if (conditioning() != "projection" && conditioning() != "acgan" && conditioning() != "concat")
    throw Error("conditioning must be projection, acgan or concat, got '" + conditioning() + "'");
}

DcganGeneratorImpl::DcganGeneratorImpl(DcganOptions options_) : options(std::move(options_)) { reset(); }

void DcganGeneratorImpl::reset() {
  options.validate();
  main = register_module("main", options.preset() == "dcgan" ? dcgan_generator(options) : upsample_generator(options));
  if (options.num_classes() > 0) {
    embed = register_module("embed", nn::Embedding(options.num_classes(), kLabelEmbedding));
  }
}

torch::Tensor DcganGeneratorImpl::input(const torch::Tensor& z, const torch::Tensor& labels) {
  torch::Tensor x = z;
  if (options.num_classes() > 0) {
    check_input(labels.defined() && labels.dim() == 1 && labels.size(0) == z.size(0),
                "a conditional generator needs one class label per latent");
    x = torch::cat({z, embed->forward(labels)}, 1);
  }
  return options.preset() == "dcgan" ? x.view({x.size(0), x.size(1), 1, 1}) : x;
}

torch::Tensor DcganGeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& labels) {
  return main->forward(input(z, labels));
}

DcganDiscriminatorImpl::DcganDiscriminatorImpl(DcganOptions options_) : options(std::move(options_)) { reset(); }

void DcganDiscriminatorImpl::reset() {
  options.validate();
  main = register_module("main", options.preset() == "dcgan" ? dcgan_discriminator(options) : upsample_discriminator(options));
  // The logit comes from the last layer (dcgan) or from Flatten + Linear (dcgan-upsample).
  head_start_ = main->size() - (options.preset() == "dcgan" ? 1 : 2);
  if (options.num_classes() > 0 && options.conditioning() != "concat") {
    // The features' channel count, from a probe image run through the body in eval mode.
    int64_t channels = 0;
    {
      torch::NoGradGuard no_grad;
      main->eval();
      torch::Tensor x = torch::zeros({1, options.channels(), options.image_size(), options.image_size()});
      auto layer = main->begin();
      for (size_t i = 0; i < head_start_; ++i, ++layer) x = layer->forward(x);
      channels = x.size(1);
      main->train();
    }
    if (options.conditioning() == "projection") {
      embed = register_module("embed", nn::Embedding(options.num_classes(), channels));
      // Small, like the rest of D: at N(0, 1) the class term starts out dwarfing the logit.
      torch::NoGradGuard no_grad;
      embed->weight.normal_(0.0, 0.02);
    } else {
      aux = register_module("aux", nn::Linear(channels, options.num_classes()));
    }
  }
}

torch::Tensor DcganDiscriminatorImpl::forward(const torch::Tensor& images) {
  return main->forward(images).view({images.size(0)});
}

ConditionalLogits DcganDiscriminatorImpl::forward(const torch::Tensor& images, const torch::Tensor& labels) {
  check_input(options.num_classes() > 0, "this discriminator is not conditional");
  check_input(labels.defined() && labels.dim() == 1 && labels.size(0) == images.size(0),
              "a conditional discriminator needs one class label per image");
  torch::Tensor h = images;
  if (options.conditioning() == "concat") {
    torch::Tensor maps = torch::one_hot(labels, options.num_classes()).to(images.scalar_type());
    maps = maps.view({maps.size(0), maps.size(1), 1, 1}).expand({-1, -1, images.size(2), images.size(3)});
    return {main->forward(torch::cat({images, maps}, 1)).view({images.size(0)}), {}};
  }
  auto layer = main->begin();
  for (size_t i = 0; i < head_start_; ++i, ++layer) h = layer->forward(h);
  torch::Tensor logits = h;
  for (; layer != main->end(); ++layer) logits = layer->forward(logits);
  ConditionalLogits out;
  out.logits = logits.view({images.size(0)});
  // Mean-pooled: without spectral norm, sum pooling makes the projection term dwarf the logit.
  torch::Tensor pooled = h.mean({2, 3});  // [N, C]
  if (embed) {
    out.logits = out.logits + (embed->forward(labels) * pooled).sum(1);
  } else {
    out.class_logits = aux->forward(pooled);
  }
  return out;
}

void dcgan_init_weights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& child : module.modules(/*include_self=*/true)) {
    if (auto* conv = child->as<nn::Conv2d>()) {
      conv->weight.normal_(0.0, 0.02);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* deconv = child->as<nn::ConvTranspose2d>()) {
      deconv->weight.normal_(0.0, 0.02);
      if (deconv->bias.defined()) deconv->bias.zero_();
    } else if (auto* linear = child->as<nn::Linear>()) {
      linear->weight.normal_(0.0, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* bn = child->as<nn::BatchNorm2d>()) {
      bn->weight.normal_(1.0, 0.02);
      bn->bias.zero_();
    } else if (auto* bn1 = child->as<nn::BatchNorm1d>()) {
      bn1->weight.normal_(1.0, 0.02);
      bn1->bias.zero_();
    }
  }
}

}  // namespace latentkit

namespace latentkit {

torch::Tensor DcganModel::decode(const torch::Tensor& z, const torch::Tensor& labels) {
  check_input(z.dim() == 2 && z.size(1) == latent_dim(),
              "latent must be [N, " + std::to_string(latent_dim()) + "], got " + c10::str(z.sizes()));
  net_->eval();
  return net_->forward(z, class_labels(z.size(0), labels));
}

torch::Tensor DcganModel::hidden(const torch::Tensor& z, const torch::Tensor& labels) {
  check_input(z.dim() == 2 && z.size(1) == latent_dim(),
              "latent must be [N, " + std::to_string(latent_dim()) + "], got " + c10::str(z.sizes()));
  net_->eval();
  torch::Tensor x = net_->input(z, class_labels(z.size(0), labels));
  // Every preset opens with a projection, a BatchNorm and a ReLU.
  auto layer = net_->main->begin();
  for (int i = 0; i < 3; ++i, ++layer) x = layer->forward(x);
  return x.flatten(1);
}

nlohmann::json dcgan_options_to_json(const DcganOptions& o) {
  return {{"preset", o.preset()}, {"channels", o.channels()}, {"image_size", o.image_size()},
          {"latent_dim", o.latent_dim()}, {"width", o.width()}, {"critic_norm", o.critic_norm()},
          {"num_classes", o.num_classes()}, {"conditioning", o.conditioning()}};
}

DcganOptions dcgan_options_from_json(const nlohmann::json& model) {
  try {
    DcganOptions o;
    o.preset(model.at("preset").get<std::string>())
        .channels(model.at("channels").get<int64_t>())
        .image_size(model.at("image_size").get<int64_t>())
        .latent_dim(model.at("latent_dim").get<int64_t>())
        .width(model.at("width").get<int64_t>())
        .critic_norm(model.value("critic_norm", std::string("batch")))
        .num_classes(model.value("num_classes", int64_t{0}))
        .conditioning(model.value("conditioning", std::string("concat")));
    o.validate();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("config.json: malformed \"model\" section (") + e.what() + ")");
  }
}

}  // namespace latentkit
