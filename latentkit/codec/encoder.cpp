#include "latentkit/codec/encoder.h"

#include "latentkit/codec/invert.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/progress.h"
#include "latentkit/data/dataset.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace {

namespace nn = torch::nn;

torch::Tensor with_label_maps(const torch::Tensor& images, const torch::Tensor& labels, int64_t num_classes) {
  if (num_classes == 0) return images;
  check_input(labels.defined() && labels.numel() == images.size(0), "the encoder of a conditional model needs labels");
  torch::Tensor onehot = torch::one_hot(labels.to(torch::kInt64), num_classes).to(images.dtype());
  return torch::cat({images, onehot.view({images.size(0), num_classes, 1, 1})
                                 .expand({-1, -1, images.size(2), images.size(3)})},
                    1);
}

std::string encoder_dir(const std::string& run_dir) { return run_dir + "/encoder"; }

}  // namespace

LatentEncoderImpl::LatentEncoderImpl(std::array<int64_t, 3> shape, int64_t latent_dim, int64_t num_classes,
                                     const EncoderOptions& o)
    : num_classes_(num_classes) {
  check_input(o.width >= 1, "encoder width must be at least 1");
  const int64_t w = o.width;
  auto conv = [](int64_t in, int64_t out) { return nn::Conv2d(nn::Conv2dOptions(in, out, 4).stride(2).padding(1)); };
  features_ = register_module(
      "features", nn::Sequential(conv(shape[0] + num_classes, w), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
                                 conv(w, 2 * w), nn::BatchNorm2d(2 * w), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
                                 conv(2 * w, 4 * w), nn::BatchNorm2d(4 * w),
                                 nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)), nn::Flatten()));
  torch::NoGradGuard no_grad;
  features_->eval();
  const int64_t flat = features_->forward(torch::zeros({1, shape[0] + num_classes, shape[1], shape[2]})).size(1);
  features_->train();
  head_ = register_module("head", nn::Linear(flat, latent_dim));
}

torch::Tensor LatentEncoderImpl::forward(const torch::Tensor& images, const torch::Tensor& labels) {
  return head_->forward(features_->forward(with_label_maps(images, labels, num_classes_)));
}

LatentEncoder train_encoder(Generator& g, const std::string& run_dir, const torch::Tensor& real,
                            const torch::Tensor& real_labels, const ClassifierRun* features,
                            const EncoderTrainOptions& o, const nlohmann::json& provenance) {
  check_input(o.steps >= 1 && o.batch >= 2, "encoder training needs steps >= 1 and batch >= 2");
  check_input(o.real_weight == 0 || (real.defined() && real.size(0) >= o.batch),
              "encoder training with real images needs at least a batch of them");
  const int64_t k = g.num_classes();
  torch::manual_seed(o.seed);
  torch::Generator rng = make_rng(o.seed);
  LatentEncoder encoder(g.image_shape(), g.latent_dim(), k, o.model);
  torch::optim::Adam adam(encoder->parameters(), torch::optim::AdamOptions(o.lr).betas({0.5, 0.999}));
  InvertOptions loss_options;
  loss_options.prior_weight = 0;
  Progress progress("encoder", o.steps);
  double latent_avg = 0, real_avg = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    torch::Tensor z = g.sample_latent(o.batch, rng);
    torch::Tensor y = k > 0 ? torch::randint(k, {o.batch}, rng, torch::kInt64) : torch::Tensor();
    torch::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = g.decode(z, y);
    }
    torch::Tensor guess = encoder->forward(fake, y);
    torch::Tensor latent_loss = (guess - z).pow(2).mean();
    torch::Tensor loss = latent_loss;
    if (o.image_weight > 0) {
      loss = loss + o.image_weight * inversion_loss(g.decode(guess, y), fake, guess, features, loss_options,
                                                    target_features(features, fake))
                                         .mean();
    }
    torch::Tensor real_loss = torch::zeros({});
    if (o.real_weight > 0) {
      torch::Tensor pick = torch::randint(real.size(0), {o.batch}, rng, torch::kInt64);
      torch::Tensor x = normalize_images(real.index_select(0, pick));
      torch::Tensor ry = k > 0 ? real_labels.index_select(0, pick) : torch::Tensor();
      torch::Tensor rz = encoder->forward(x, ry);
      real_loss = inversion_loss(g.decode(rz, ry), x, rz, features, loss_options, target_features(features, x)).mean();
      loss = loss + o.real_weight * real_loss;
    }
    adam.zero_grad();
    loss.backward();
    adam.step();
    latent_avg = step == 0 ? latent_loss.item<double>() : 0.98 * latent_avg + 0.02 * latent_loss.item<double>();
    real_avg = step == 0 ? real_loss.item<double>() : 0.98 * real_avg + 0.02 * real_loss.item<double>();
    char status[96];
    std::snprintf(status, sizeof(status), "latent mse %.3f real loss %.3f", latent_avg, real_avg);
    progress.update(step + 1, status, static_cast<double>(o.batch));
  }
  progress.finish("");
  encoder->eval();
  const std::string dir = encoder_dir(run_dir);
  make_dirs(dir);
  save_module(*encoder, dir + "/model.pt");
  nlohmann::json info = {{"format", "latentkit-encoder"},
                         {"version", 1},
                         {"width", o.model.width},
                         {"latent_dim", g.latent_dim()},
                         {"num_classes", k},
                         {"image_shape", g.image_shape()},
                         {"generator_sha256", file_sha256(run_dir + "/model.pt")},
                         {"steps", o.steps},
                         {"batch", o.batch},
                         {"lr", o.lr},
                         {"image_weight", o.image_weight},
                         {"real_weight", o.real_weight},
                         {"seed", o.seed},
                         {"final_latent_mse", latent_avg},
                         {"final_real_loss", real_avg}};
  info.update(provenance);
  write_json(dir + "/encoder.json", info);
  return encoder;
}

bool has_encoder_file(const std::string& run_dir) { return path_exists(encoder_dir(run_dir) + "/encoder.json"); }

LatentEncoder load_encoder(const Generator& g, const std::string& run_dir) {
  const std::string dir = encoder_dir(run_dir);
  check_input(has_encoder_file(run_dir),
              run_dir + " has no encoder; train one with: latentkit encoder train --run " + run_dir);
  const nlohmann::json info = read_json(dir + "/encoder.json");
  check_input(info.value("format", "") == "latentkit-encoder", dir + "/encoder.json is not a latentkit encoder");
  check_input(info.value("generator_sha256", "") == file_sha256(run_dir + "/model.pt"),
              dir + " was trained for other weights of this generator; train it again: latentkit encoder train --run " +
                  run_dir);
  EncoderOptions o;
  o.width = info.value("width", int64_t{64});
  LatentEncoder encoder(g.image_shape(), g.latent_dim(), g.num_classes(), o);
  load_module(*encoder, dir + "/model.pt");
  encoder->eval();
  return encoder;
}

}  // namespace latentkit
