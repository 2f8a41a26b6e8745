#pragma once
// SPADE on the training loop (loop.h): images from label maps (the data's own, or the region
// maps of color data: data/labelmaps.h). GauGAN's losses: hinge on every scale of the
// multi-scale PatchGAN, which sees the (image, one-hot map) pair, plus fm_weight x feature
// matching (L1 between the discriminator's features of the real and the generated image of
// the same map). Adam with beta1 0, beta2 0.9 and GauGAN's two time-scale rates: the
// generator at lr / 2, the discriminator at 2 lr.
//
// Style: with diversity > 0 every batch draws each map twice with two latents, and the
// generator gains diversity x -min(mean|G(z1) - G(z2)| / mean|z1 - z2|, 1) (Yang et al. 2019,
// DSGAN), so that z keeps changing the picture instead of being ignored.
#include <string>

#include <nlohmann/json.hpp>

#include "latentkit/models/spade.h"
#include "latentkit/train/distributed.h"
#include "latentkit/train/losses.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct SpadeTrainOptions {
  TrainLoopOptions loop{/*epochs=*/20, /*batch=*/16, /*lr=*/2e-4};
  SpadeOptions model;  // channels, size, classes and palette come from the data
  double fm_weight = 10.0;
  double diversity = 1.0;
  DiffAugment augment;  // translation and cutout move the map with the image; color the image only
  bool ema = true;
  double ema_decay = 0.999;

  SpadeTrainOptions() { loop.sample_count = 8; }
  void validate() const;
};

nlohmann::json spade_config_to_json(const SpadeTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no spade run is an Error.
SpadeTrainOptions read_spade_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues) and writes the run folder; model.pt is the (EMA)
/// generator. Samples: a row of maps, then rows of images from them, one latent per row.
TrainSummary train_spade(const SpadeTrainOptions& options, bool resume);

}  // namespace latentkit
