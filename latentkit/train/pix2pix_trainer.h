#pragma once
// pix2pix enhancers on the training loop (loop.h): the conditional GAN loss of a PatchGAN on
// (input, output) plus l1_weight x L1 to the target (Isola et al. 2017), Adam (2e-4, beta1
// 0.5) on both networks. The pairs are synthetic (each target image degraded for one of
// --task, afresh every step), read from paired data (folder:A_DIR,B_DIR or pairs:DIR), or with
// --task maps made of the data's label maps (data/labelmaps.h) and its images: the
// labels-to-photo baseline of mask-to-image models (the output then is tanh, not residual).
// Samples are input / output / target rows.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/data/dataset.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/train/distributed.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct Pix2pixTrainOptions {
  TrainLoopOptions loop{/*epochs=*/10, /*batch=*/32, /*lr=*/2e-4};
  Pix2pixOptions model;            // channels and size come from the data
  std::vector<std::string> tasks;  // degradations to undo (enhance_tasks()); empty: paired data
  double l1_weight = 100.0;
  bool adversarial = true;  // false: a plain L1 U-Net, no discriminator (the baseline)
  double beta1 = 0.5;
  double beta2 = 0.999;

  Pix2pixTrainOptions() { loop.sample_count = 8; }
  void validate() const;
};

struct Pix2pixStep {
  torch::Tensor d_loss, g_gan, l1, output;  // losses are scalars; output is G(input), detached
};

/// One step: D on (input, target) against (input, G(input)), then G on D's verdict plus
/// l1_weight x L1(G(input), target). Both halves of D's loss are halved, as in pix2pix.
/// Without adversarial, D is neither run nor trained and G's loss is the L1 term alone
/// (d_loss and g_gan are 0).
/// With a job of several ranks, input and target are this rank's share and each network's
/// gradients are averaged over the ranks before its step.
Pix2pixStep pix2pix_train_step(Pix2pixGeneratorImpl& generator, PatchDiscriminatorImpl& discriminator,
                               torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d,
                               const torch::Tensor& input, const torch::Tensor& target, double l1_weight,
                               TrainJob* job = nullptr, bool adversarial = true);

struct MapPalette;
/// Label maps [N, H, W] as the input images of --task maps: their palette colors in `channels`
/// channels (RGBA premultiplied; RGB drops alpha; gray is the luma), uint8 [N, C, H, W].
torch::Tensor map_input_images(const torch::Tensor& maps, const MapPalette& palette, int64_t channels);

nlohmann::json pix2pix_config_to_json(const Pix2pixTrainOptions& options);
/// Options from RUN/config.json (for --resume); a folder with no pix2pix run is an Error.
Pix2pixTrainOptions read_pix2pix_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues) and writes the run folder; model.pt is the generator.
/// Needs tasks for unpaired data and none for paired data; either mistake is a clear Error.
TrainSummary train_pix2pix(const Pix2pixTrainOptions& options, bool resume);

}  // namespace latentkit
