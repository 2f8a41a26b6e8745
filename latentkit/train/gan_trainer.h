#pragma once
// Training of unconditional GANs (the DCGAN presets): bce, hinge or WGAN-GP losses, Adam,
// EMA of the generator, checkpoints, exact resume, samples, logs and loss curves, all in
// one run folder (../shared/DESIGN.md, "The flow of data").
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/core/error.h"
#include "latentkit/data/dataset.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/train/distributed.h"

namespace latentkit {

struct GanTrainOptions {
  std::string out;  // the run folder
  DataOptions data;
  DcganOptions model;  // num_classes > 0 trains a conditional model; the count comes from the data
  int64_t epochs = 5;
  int64_t batch = 64;
  double lr = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  std::string loss = "bce";      // bce, hinge or wgan-gp (losses.h)
  int64_t n_critic = 1;          // discriminator steps per generator step
  double gp_weight = 10.0;       // weight of WGAN-GP's gradient penalty
  double label_smoothing = 0.0;  // one-sided: real targets are 1 - label_smoothing (bce)
  // Conditional models (model.num_classes() > 0, set from the data): what the label is.
  // "class": the data's classes; "hue": shapes' hue in 6 buckets (red, yellow, green,
  // cyan, blue, magenta).
  std::string condition_on = "class";
  std::vector<std::string> class_names;  // set by train_gan from the data (config.json "classes")
  bool ema = true;
  double ema_decay = 0.999;
  uint64_t seed = 0;
  int threads = 0;               // 0: all cores
  int64_t checkpoint_every = 500;
  int keep_checkpoints = 3;
  int64_t log_every = 50;
  int64_t sample_count = 64;     // images in each sample grid
  int64_t max_steps = 0;         // 0: train all epochs; else stop after this many steps
  DistOptions dist;              // one rank of a data-parallel job (not part of the run's config)
};

struct TrainSummary {
  int64_t steps = 0;         // global step reached
  int64_t steps_run = 0;     // steps run by this call (after a resume, only the new ones)
  double seconds = 0.0;
  double images_per_second = 0.0;
  bool interrupted = false;  // stopped by SIGINT / SIGTERM after saving a checkpoint
  int threads = 0;
};

/// Fills a finished run's steps, steps_run, seconds and images per second.
void finish_summary(TrainSummary& summary, int64_t step, int64_t first_step,
                    std::chrono::steady_clock::time_point start, int64_t batch);

/// The options every generator trainer has, as config.json's "train" object holds them:
/// written by train_options_json, read back (for --resume) by read_train_options.
template <typename Options>
nlohmann::json train_options_json(const Options& o) {
  return {{"epochs", o.epochs},       {"batch", o.batch},
          {"lr", o.lr},               {"seed", o.seed},
          {"threads", o.threads},     {"checkpoint_every", o.checkpoint_every},
          {"keep_checkpoints", o.keep_checkpoints}, {"log_every", o.log_every},
          {"sample_count", o.sample_count},         {"max_steps", o.max_steps},
          {"condition_on", o.condition_on}};
}
template <typename Options>
void read_train_options(const nlohmann::json& t, Options& o) {
  o.epochs = t.at("epochs").template get<int64_t>();
  o.batch = t.at("batch").template get<int64_t>();
  o.lr = t.at("lr").template get<double>();
  o.seed = t.at("seed").template get<uint64_t>();
  o.threads = t.at("threads").template get<int>();
  o.checkpoint_every = t.at("checkpoint_every").template get<int64_t>();
  o.keep_checkpoints = t.at("keep_checkpoints").template get<int>();
  o.log_every = t.at("log_every").template get<int64_t>();
  o.sample_count = t.at("sample_count").template get<int64_t>();
  o.max_steps = t.value("max_steps", int64_t{0});
  o.condition_on = t.value("condition_on", std::string("class"));
}

/// The data a trainer trains on: loads o.data, checks that its images are square, and fits
/// o.model to it: channels and size (after --size / --channels), and for a conditional model
/// (o.model.num_classes() > 0) the classes condition_dataset gives, also into o.class_names.
/// model_name names the model in the error for non-square images.
template <typename Options>
Dataset load_training_data(Options& o, const std::string& model_name) {
  Dataset data = load_dataset(o.data);
  check_input(data.height() == data.width(), "data " + o.data.spec + " has " + std::to_string(data.height()) + "x" +
                                                 std::to_string(data.width()) + " images; " + model_name +
                                                 " needs square ones (pass --size)");
  o.model.channels(data.channels()).image_size(data.height());
  if (o.model.num_classes() > 0) {
    condition_dataset(data, o.condition_on, o.data.spec);
    o.model.num_classes(static_cast<int64_t>(data.class_names.size()));
    o.class_names = data.class_names;
  }
  o.model.validate();
  return data;
}

/// Outputs of one training step (losses are scalars; logits [N] from the D step; g_loss
/// undefined when the generator was not updated; penalty undefined unless wgan-gp).
struct GanStepResult {
  torch::Tensor d_loss, g_loss, penalty, real_logits, fake_logits;
};

struct GanStepOptions {
  std::string loss = "bce";
  double label_smoothing = 0.0;
  double gp_weight = 10.0;
  bool update_generator = true;
  TrainJob* job = nullptr;  // one rank of a data-parallel job: real is its share of the batch
};

/// One step: D on (real, G(z)) (plus gp_weight x the gradient penalty for wgan-gp), then,
/// when update_generator, G through the updated D; z from LibTorch's default generator (for
/// the whole global batch when o.job is a rank of a job, which keeps its share, and
/// averages each network's gradients over the ranks before its step).
/// real: [N, C, H, W] in [-1, 1]. Conditional models take the real batch's labels (int64
/// [N]) and generate the same classes; acgan adds cross-entropy of the auxiliary head on
/// real and generated images to D's loss and on generated ones to G's.
GanStepResult gan_train_step(DcganGenerator& generator, DcganDiscriminator& discriminator,
                             torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d,
                             const torch::Tensor& real, const GanStepOptions& options = {},
                             const torch::Tensor& labels = {});

/// One step of an exponential moving average of net's parameters into ema (same
/// structure); buffers (BatchNorm statistics) are copied. The decay warms up as in
/// TensorFlow's ExponentialMovingAverage, min(decay, (1 + step) / (10 + step)), so early
/// samples are not all initialisation.
void update_ema(torch::nn::Module& ema, const torch::nn::Module& net, double decay, int64_t step);

/// The config.json of a GAN run.
nlohmann::json gan_config_to_json(const GanTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no run is a clear Error.
GanTrainOptions read_gan_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run
/// folder. Progress goes to stderr. Throws Error for bad options or data, and for
/// non-finite losses (naming the step and the last good checkpoint).
TrainSummary train_gan(const GanTrainOptions& options, bool resume);

}  // namespace latentkit
