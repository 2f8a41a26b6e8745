#pragma once
// Training of VAEs: Adam on the negative ELBO (reconstruction + beta KL), checkpoints, exact
// resume, prior samples per epoch, logs (ELBO, reconstruction and KL per image) and loss
// curves, in one run folder like the GAN trainer's.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/data/dataset.h"
#include "latentkit/models/vae.h"
#include "latentkit/train/distributed.h"
#include "latentkit/train/gan_trainer.h"

namespace latentkit {

struct VaeTrainOptions {
  std::string out;  // the run folder
  DataOptions data;
  VaeOptions model;  // channels, image size (and a conditional model's classes) come from the data
  std::string condition_on = "class";    // conditional models: class or hue (see GanTrainOptions)
  std::vector<std::string> class_names;  // set by train_vae from the data
  int64_t epochs = 10;
  int64_t batch = 128;
  double lr = 1e-3;
  uint64_t seed = 0;
  int threads = 0;  // 0: all cores
  int64_t checkpoint_every = 500;
  int keep_checkpoints = 3;
  int64_t log_every = 50;
  int64_t sample_count = 64;
  int64_t max_steps = 0;  // 0: train all epochs
  DistOptions dist;       // one rank of a data-parallel job (not part of the run's config)
};

nlohmann::json vae_config_to_json(const VaeTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no VAE run is a clear Error.
VaeTrainOptions read_vae_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run
/// folder: config.json, model.pt, train.jsonl, samples/, losses.png, checkpoints/.
TrainSummary train_vae(const VaeTrainOptions& options, bool resume);

}  // namespace latentkit
