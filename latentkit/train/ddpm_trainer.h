#pragma once
// Diffusion models on the training loop (loop.h): the simple loss of DDPM (mean squared error
// of the predicted noise, or of v), Adam with a linear warm-up, gradient clipping at norm 1,
// an EMA of the U-Net (which samples, and is saved as model.pt), label dropout for
// classifier-free guidance, and the Palette tasks (inpaint: loss inside the mask only;
// restore) mixed with unconditional steps. DDIM samples per epoch.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/data/dataset.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/train/distributed.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct DdpmTrainOptions {
  TrainLoopOptions loop{/*epochs=*/10, /*batch=*/64, /*lr=*/4e-4};
  DdpmOptions model;  // channels, size and a conditional model's classes come from the data
  ConditionOn condition_on = ConditionOn::kClass;
  std::vector<std::string> class_names;
  bool text = false;           // t2i: conditioned on captions of the data (the emoji set)
  int64_t warmup = 200;        // steps of linear learning-rate warm-up
  double ema_decay = 0.999;
  double label_dropout = 0.1;  // conditional: share of images with the "no class" label or no prompt
  double uncond_share = 0.5;   // with tasks: share of images trained with no condition

  void validate() const;
};

/// The per-image batch of one training step: the condition (undefined without tasks) and
/// the loss weights ([N, 1, H, W]: the mask for inpainting images, else 1), drawn from rng.
struct PaletteBatch {
  torch::Tensor cond, weights;
};
PaletteBatch palette_batch(const torch::Tensor& x0, const DdpmOptions& model, double uncond_share,
                           torch::Generator& rng);

/// The loss of one batch x0 ([-1, 1]) for the network: t, noise, label dropout and tasks
/// drawn from rng. labels: int64 [N], prompt tokens [N, L] for text models, or undefined
/// for unconditional models. With a job of
/// several ranks, x0 is the global batch: everything is drawn for all of it, the network
/// sees this rank's share, and the loss is scaled so that the ranks' mean is the global loss.
torch::Tensor ddpm_loss(UNet& net, const NoiseSchedule& schedule, const DdpmTrainOptions& o, const torch::Tensor& x0,
                        const torch::Tensor& labels, torch::Generator& rng, const TrainJob* job = nullptr);

nlohmann::json ddpm_config_to_json(const DdpmTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no diffusion run is an Error.
DdpmTrainOptions read_ddpm_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues) and writes the run folder; model.pt holds the EMA weights.
TrainSummary train_ddpm(const DdpmTrainOptions& options, bool resume);

}  // namespace latentkit
