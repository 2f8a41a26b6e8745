#pragma once
// GANs on the training loop (loop.h): the DCGAN presets and class-conditional GANs with bce,
// hinge or WGAN-GP losses, Adam on both networks and an EMA of the generator.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/data/dataset.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/train/distributed.h"
#include "latentkit/train/loop.h"
#include "latentkit/train/losses.h"

namespace latentkit {

struct GanTrainOptions {
  TrainLoopOptions loop{/*epochs=*/5, /*batch=*/64, /*lr=*/2e-4};
  DcganOptions model;  // num_classes > 0 trains a conditional model; the count comes from the data
  double beta1 = 0.5;
  double beta2 = 0.999;
  GanLoss loss = GanLoss::kBce;
  int64_t n_critic = 1;          // discriminator steps per generator step
  double gp_weight = 10.0;       // weight of WGAN-GP's gradient penalty
  double label_smoothing = 0.0;  // one-sided: real targets are 1 - label_smoothing (bce)
  DiffAugment augment;           // before every discriminator call (--augment)
  ConditionOn condition_on = ConditionOn::kClass;  // conditional models: what the label is
  std::vector<std::string> class_names;            // set from the data (config.json "classes")
  bool ema = true;
  double ema_decay = 0.999;

  void validate() const;
};

/// Outputs of one training step (losses are scalars; logits [N] from the D step; g_loss
/// undefined when the generator was not updated; penalty undefined unless wgan-gp).
struct GanStepResult {
  torch::Tensor d_loss, g_loss, penalty, real_logits, fake_logits;
};

struct GanStepOptions {
  GanLoss loss = GanLoss::kBce;
  double label_smoothing = 0.0;
  double gp_weight = 10.0;
  bool update_generator = true;
  DiffAugment augment;
  TrainJob* job = nullptr;  // one rank of a data-parallel job: real is its share of the batch
};

/// One step: D on (real, G(z)) (plus gp_weight x the gradient penalty for wgan-gp), then,
/// when update_generator, G through the updated D; z from LibTorch's default generator (for
/// the whole global batch when o.job is a rank of a job, which keeps its share, and
/// averages each network's gradients over the ranks before its step). With o.augment, D sees
/// every real and generated batch through diff_augment (the gradient penalty excepted).
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

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run folder.
TrainSummary train_gan(const GanTrainOptions& options, bool resume);

}  // namespace latentkit
