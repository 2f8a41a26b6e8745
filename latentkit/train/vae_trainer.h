#pragma once
// VAEs on the training loop (loop.h): Adam on the negative ELBO (reconstruction + beta KL),
// prior samples per epoch, logs of the ELBO, reconstruction and KL per image.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/data/dataset.h"
#include "latentkit/models/vae.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct VaeTrainOptions {
  TrainLoopOptions loop{/*epochs=*/10, /*batch=*/128, /*lr=*/1e-3};
  VaeOptions model;  // channels, image size (and a conditional model's classes) come from the data
  ConditionOn condition_on = ConditionOn::kClass;
  std::vector<std::string> class_names;  // set from the data
};

nlohmann::json vae_config_to_json(const VaeTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no VAE run is a clear Error.
VaeTrainOptions read_vae_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run folder.
TrainSummary train_vae(const VaeTrainOptions& options, bool resume);

}  // namespace latentkit
