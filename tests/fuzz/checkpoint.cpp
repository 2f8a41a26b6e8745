// Checkpoints as --resume reads them: bytes through load_checkpoint_bytes into the parts of
// a small DCGAN task (the names gan_trainer.cpp gives them), so a seed that loads reaches
// every module, optimizer state and random generator.
#include <string>

#include "latentkit/models/dcgan.h"
#include "latentkit/train/checkpoint.h"
#include "tests/fuzz/fuzz.h"

using namespace latentkit;
using namespace latentkit::fuzz;

namespace {

struct Task {
  DcganOptions options = DcganOptions().width(4).latent_dim(4).image_size(28).channels(1);
  DcganGenerator generator{options};
  DcganDiscriminator discriminator{options};
  DcganGenerator ema{options};
  torch::optim::Adam opt_g{generator->parameters(), torch::optim::AdamOptions(2e-4)};
  torch::optim::Adam opt_d{discriminator->parameters(), torch::optim::AdamOptions(2e-4)};
  torch::Generator rng = at::detail::createCPUGenerator(7);

  CheckpointParts parts() {
    return {{{"generator", generator.get()}, {"discriminator", discriminator.get()}, {"generator_ema", ema.get()}},
            {{"optimizer_g", &opt_g}, {"optimizer_d", &opt_d}},
            {},
            {{"noise", &rng}}};
  }
};

}  // namespace

LATENTKIT_FUZZ_TARGET(checkpoint, "checkpoint bytes (--resume): load_checkpoint_bytes into a DCGAN task's parts") {
  static Task task;
  load_checkpoint_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pt", task.parts());
}

// One checkpoint before any step (no optimizer state) and one after a step (Adam's moments).
LATENTKIT_FUZZ_SEEDS(checkpoint) {
  Task task;
  save_checkpoint(dir + "/run-0", 0, task.parts());
  torch::manual_seed(1);
  const torch::Tensor z = torch::randn({2, 4});
  task.opt_g.zero_grad();
  task.discriminator->forward(task.generator->forward(z)).mean().backward();
  task.opt_g.step();
  task.opt_d.step();
  save_checkpoint(dir + "/run-1", 1, task.parts());
}
