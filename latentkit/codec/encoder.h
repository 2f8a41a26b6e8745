#pragma once
// An encoder E: image -> z for a trained generator G, so that G(E(x)) looks like x: the
// fast half of GAN inversion. Trained on the training loop (loop.h) on pairs G itself makes
// (z known exactly) and on real images (only G(E(x)) ~ x can be asked of those). Its run
// folder is RUN/encoder/ beside the generator (config.json, model.pt, checkpoints/, samples/;
// encoder.json in runs of latentkit before 0.2), bound to the generator's weights by their SHA-256.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/models/classifier.h"
#include "latentkit/models/generator.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct EncoderOptions {
  int64_t width = 64;  // channels of the first convolution, doubled twice
};

/// Three stride-2 convolutions (LeakyReLU, BatchNorm after the first) and a linear layer to
/// the latent. Conditional generators' encoders see the label as one-hot maps beside the
/// image, as the concat discriminator does.
class LatentEncoderImpl : public torch::nn::Module {
 public:
  LatentEncoderImpl(std::array<int64_t, 3> image_shape, int64_t latent_dim, int64_t num_classes,
                    const EncoderOptions& options);
  /// images [N, C, H, W] in [-1, 1], labels int64 [N] (conditional only) -> z [N, D].
  torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& labels = {});
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t num_classes_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(LatentEncoder);

struct EncoderTrainOptions {
  // loop.out is RUN/encoder; loop.data the real images (their labels for a conditional G);
  // one epoch of `steps` steps.
  TrainLoopOptions loop{/*epochs=*/1, /*batch=*/64, /*lr=*/2e-4};
  EncoderOptions model;
  int64_t steps = 3000;
  double image_weight = 1.0;  // of the image loss on generated pairs (beside the latent loss)
  double real_weight = 1.0;   // of the image loss on real images (0: generated pairs only)
  std::string features;       // classifier run whose features join the image losses ("" for none)

  EncoderTrainOptions() { loop.sample_count = 8; }
};

/// RUN/encoder: the run folder of RUN's encoder.
std::string encoder_dir(const std::string& run_dir);
/// Options of the encoder run in RUN/encoder (for --resume).
EncoderTrainOptions read_encoder_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues) an encoder for the generator of run_dir into
/// run_dir/encoder. The real images (when real_weight > 0) must have the generator's shape.
TrainSummary train_encoder(Generator& generator, const std::string& run_dir, const EncoderTrainOptions& options,
                           bool resume);

bool has_encoder_file(const std::string& run_dir);
/// Loads run_dir/encoder/; refused when it was trained for other generator weights.
LatentEncoder load_encoder(const Generator& generator, const std::string& run_dir);

}  // namespace latentkit
