#pragma once
// PSGAN on the training loop (loop.h): the spatial generator of models/psgan.h against its
// fully convolutional discriminator (one logit per cell), on crops (data/wallpapers.h, or any
// square data). The non-saturating GAN loss (or hinge), Adam (beta1 0.5), an EMA of the
// generator, DiffAugment as the GANs take it.
#include <string>

#include <nlohmann/json.hpp>

#include "latentkit/models/psgan.h"
#include "latentkit/train/losses.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct PsganTrainOptions {
  TrainLoopOptions loop{/*epochs=*/20, /*batch=*/32, /*lr=*/2e-4};
  PsganOptions model;  // crop comes from the data
  GanLoss loss = GanLoss::kBce;
  DiffAugment augment;
  double beta1 = 0.5, beta2 = 0.999;
  bool ema = true;
  double ema_decay = 0.999;

  PsganTrainOptions() { loop.sample_count = 8; }
  void validate() const;
};

nlohmann::json psgan_config_to_json(const PsganTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no psgan run is an Error.
PsganTrainOptions read_psgan_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues) and writes the run folder; model.pt is the (EMA)
/// generator. Samples: images of twice the crop's side, one style each.
TrainSummary train_psgan(const PsganTrainOptions& options, bool resume);

}  // namespace latentkit
