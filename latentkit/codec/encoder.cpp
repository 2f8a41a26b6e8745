#include "latentkit/codec/encoder.h"

#include "latentkit/codec/invert.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/dataset.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

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

}  // namespace

std::string encoder_dir(const std::string& run_dir) { return run_dir + "/encoder"; }

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

namespace {

class EncoderTask : public TrainTask {
 public:
  EncoderTask(Generator& generator, const std::string& generator_run, const EncoderTrainOptions& options)
      : g_(generator), generator_run_(generator_run), o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_input(o_.steps >= 1 && loop.batch >= 2, "encoder training needs --steps >= 1 and --batch >= 2");
    if (o_.real_weight > 0) {
      real_ = load_dataset(loop.data);
      const auto shape = g_.image_shape();
      check_input(real_.channels() == shape[0] && real_.height() == shape[1] && real_.width() == shape[2],
                  "the data's images are " + std::to_string(real_.channels()) + "x" + std::to_string(real_.height()) +
                      "x" + std::to_string(real_.width()) + " but the generator makes " + std::to_string(shape[0]) +
                      "x" + std::to_string(shape[1]) + "x" + std::to_string(shape[2]) + " (use --size / --channels)");
      check_input(real_.size() >= loop.batch, "encoder training with real images needs at least a batch of them");
    }
    if (!o_.features.empty()) features_ = std::make_unique<ClassifierRun>(load_classifier_run(o_.features));
    generator_sha256_ = file_sha256(generator_run_ + "/model.pt");
    return 0;  // its own draws: generated pairs and real images picked at random
  }
  int64_t epoch_steps() const override { return o_.steps; }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    batch_ = loop.batch;
    rng_ = make_rng(loop.seed);
    encoder_ = LatentEncoder(g_.image_shape(), g_.latent_dim(), g_.num_classes(), o_.model);
    job.broadcast(*encoder_);
    adam_ = std::make_unique<torch::optim::Adam>(encoder_->parameters(),
                                                 torch::optim::AdamOptions(loop.lr).betas({0.5, 0.999}));
    torch::Generator sample_rng = make_rng(loop.seed ^ 0x5eedULL);
    sample_z_ = g_.sample_latent(loop.sample_count, sample_rng);
    if (g_.num_classes() > 0) sample_labels_ = torch::arange(loop.sample_count, torch::kInt64).remainder(g_.num_classes());
    encoder_->train();
  }

  CheckpointParts parts() override { return {{{"encoder", encoder_.get()}}, {{"optimizer", adam_.get()}}, {}, {{"draws", &rng_}}}; }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    nlohmann::json train = train_loop_options_to_json(loop);
    train.update({{"steps", o_.steps}, {"image_weight", o_.image_weight}, {"real_weight", o_.real_weight}});
    return {{"latentkit_version", LATENTKIT_VERSION},
            {"family", "encoder"},
            {"format", "latentkit-encoder"},
            {"version", 2},
            {"width", o_.model.width},
            {"latent_dim", g_.latent_dim()},
            {"num_classes", g_.num_classes()},
            {"image_shape", g_.image_shape()},
            {"generator_sha256", generator_sha256_},
            {"features", o_.features},
            {"data", data_options_to_json(loop.data)},
            {"train", train}};
  }

  std::string describe() const override {
    return "an encoder for " + generator_run_ + " (" + std::to_string(g_.latent_dim()) + "-dim latent" +
           (o_.real_weight > 0 ? ", real images from " + describe_data(real_) : std::string(", generated pairs only")) +
           (features_ ? ", features of " + o_.features : std::string()) + ")";
  }

  std::string resume_command(const std::string&) const override {
    return "latentkit encoder train --resume --run " + generator_run_;
  }

  std::vector<std::string> value_names() const override { return {"latent_mse", "real_loss"}; }

  std::vector<double> step(const StepInput& in) override {
    const int64_t k = g_.num_classes();
    // Drawn for the global batch, so that every rank's generator stays in step.
    torch::Tensor z = in.job->share(g_.sample_latent(batch_, rng_));
    torch::Tensor y = k > 0 ? in.job->share(torch::randint(k, {batch_}, rng_, torch::kInt64)) : torch::Tensor();
    torch::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = g_.decode(z, y).to(torch::kFloat);
    }
    InvertOptions loss_options;
    loss_options.prior_weight = 0;
    const ClassifierRun* features = features_.get();
    // Losses in fp32 also when the layers run in bf16 (autocast).
    torch::Tensor guess = encoder_->forward(fake, y).to(torch::kFloat);
    torch::Tensor latent_loss = (guess - z).pow(2).mean();
    torch::Tensor loss = latent_loss;
    if (o_.image_weight > 0) {
      loss = loss + o_.image_weight * inversion_loss(g_.decode(guess, y).to(torch::kFloat), fake, guess, features, loss_options,
                                                     target_features(features, fake))
                                          .mean();
    }
    torch::Tensor real_loss = torch::zeros({});
    if (o_.real_weight > 0) {
      torch::Tensor pick = in.job->share(torch::randint(real_.size(), {batch_}, rng_, torch::kInt64));
      torch::Tensor x = in.layout(normalize_images(real_.images.index_select(0, pick)));
      torch::Tensor ry = k > 0 ? real_.labels.index_select(0, pick) : torch::Tensor();
      torch::Tensor rz = encoder_->forward(x, ry).to(torch::kFloat);
      real_loss = inversion_loss(g_.decode(rz, ry).to(torch::kFloat), x, rz, features, loss_options, target_features(features, x)).mean();
      loss = loss + o_.real_weight * real_loss;
    }
    adam_->zero_grad();
    loss.backward();
    in.job->average_gradients(*encoder_);
    adam_->step();
    return {latent_loss.item<double>(), real_loss.item<double>()};
  }

  std::string plot_title() const override { return "encoder losses (latent MSE on generated pairs, image loss on real)"; }

  void save_model(const std::string& path) override { save_module(*encoder_, path); }

  // Row 1: G(z) for fixed z; row 2: G(E(G(z))), what inversion through the encoder gives.
  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    encoder_->eval();
    const torch::Tensor fake = g_.decode(sample_z_, sample_labels_);
    const torch::Tensor back = g_.decode(encoder_->forward(fake, sample_labels_), sample_labels_);
    encoder_->train();
    write_png(path, make_grid(torch::cat({fake, back}), static_cast<int>(fake.size(0))));
  }

 private:
  Generator& g_;
  std::string generator_run_;
  EncoderTrainOptions o_;
  Dataset real_;
  std::unique_ptr<ClassifierRun> features_;
  std::string generator_sha256_;
  int64_t batch_ = 0;
  torch::Generator rng_;
  LatentEncoder encoder_ = nullptr;
  std::unique_ptr<torch::optim::Adam> adam_;
  torch::Tensor sample_z_, sample_labels_;
};

}  // namespace

EncoderTrainOptions read_encoder_run_options(const std::string& run_dir) {
  const std::string dir = encoder_dir(run_dir);
  nlohmann::json config = read_run_config(dir);
  check_input(config.value("family", "") == "encoder", dir + " holds no encoder run");
  try {
    EncoderTrainOptions o;
    const auto& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), dir);
    o.model.width = config.at("width").get<int64_t>();
    o.steps = t.at("steps").get<int64_t>();
    o.image_weight = t.at("image_weight").get<double>();
    o.real_weight = t.at("real_weight").get<double>();
    o.features = config.value("features", std::string());
    check_input(config.value("generator_sha256", "") == file_sha256(run_dir + "/model.pt"),
                dir + " was trained for other weights of this generator: train it again without --resume");
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit encoder train wrote");
  }
}

TrainSummary train_encoder(Generator& generator, const std::string& run_dir, const EncoderTrainOptions& options,
                           bool resume) {
  EncoderTrainOptions o = options;
  o.loop.out = encoder_dir(run_dir);
  EncoderTask task(generator, run_dir, o);
  return run_training(o.loop, task, resume);
}

// config.json: runs of latentkit 0.2 and later; encoder.json: before (no checkpoints).
std::string encoder_info_path(const std::string& run_dir) {
  const std::string dir = encoder_dir(run_dir);
  return path_exists(dir + "/config.json") ? dir + "/config.json" : dir + "/encoder.json";
}

bool has_encoder_file(const std::string& run_dir) {
  return path_exists(encoder_dir(run_dir) + "/model.pt") && path_exists(encoder_info_path(run_dir));
}

LatentEncoder load_encoder(const Generator& g, const std::string& run_dir) {
  const std::string dir = encoder_dir(run_dir);
  check_input(has_encoder_file(run_dir),
              run_dir + " has no encoder; train one with: latentkit encoder train --run " + run_dir);
  const nlohmann::json info = read_json(encoder_info_path(run_dir));
  check_input(info.value("format", "") == "latentkit-encoder", encoder_info_path(run_dir) + " is not a latentkit encoder");
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
