#pragma once
// Checkpoints: everything a run needs to continue exactly where it stopped. One file
// per checkpoint, RUN/checkpoints/step-NNNNNNN.pt, written atomically; RUN/checkpoints/latest
// names the newest. Holds named modules, named Adam optimizers, named extra tensors, the
// states of a task's own named generators, the global step and the state of LibTorch's
// default CPU generator (latents, dropout). The data order needs no state: it is a function
// of (seed, epoch) (see BatchOrder).
//
// Adam state is written per parameter index ("NAME.adam.3.exp_avg"), not through LibTorch's
// Optimizer::save, which keys it by memory addresses: that made two runs in the same state
// write different bytes. With this layout a resumed run's checkpoint is byte-identical to
// an uninterrupted run's.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace latentkit {

struct CheckpointParts {
  std::vector<std::pair<std::string, torch::nn::Module*>> modules = {};
  std::vector<std::pair<std::string, torch::optim::Adam*>> optimizers = {};
  std::vector<std::pair<std::string, torch::Tensor*>> tensors = {};  // small state such as log accumulators
  std::vector<std::pair<std::string, torch::Generator*>> generators = {};  // a task's own random generators
};

/// Writes RUN/checkpoints/step-NNNNNNN.pt and updates `latest`, then deletes all but the
/// newest `keep` checkpoints. Returns the path written.
std::string save_checkpoint(const std::string& run_dir, int64_t step, const CheckpointParts& parts, int keep = 3);

/// The checkpoints of a run that are on disk, as (step, path), oldest first.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir);

/// Path of the newest checkpoint of a run, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

/// Restores the parts (which must have the structure they were saved with) and the RNG
/// state; returns the step. A truncated or foreign file is an Error naming it.
int64_t load_checkpoint(const std::string& path, const CheckpointParts& parts);
/// The same from a checkpoint file's bytes (sent by another rank); name is for messages.
int64_t load_checkpoint_bytes(const std::string& bytes, const std::string& name, const CheckpointParts& parts);

/// --resume's checkpoint: the newest of run_dir. None (nullopt) for a run stopped before its
/// first checkpoint, which starts again from step 0; a run with a model.pt but no checkpoint
/// is an Error.
std::optional<std::string> checkpoint_to_resume(const std::string& run_dir);

/// --resume: loads the newest checkpoint of run_dir into parts and says so on stderr.
/// Returns the step it holds: 0, with parts untouched, for a run stopped before its first
/// checkpoint; a run with a model.pt but no checkpoint is an Error.
int64_t resume_latest(const std::string& run_dir, const CheckpointParts& parts);

/// The step right after which a trainer SIGKILLs itself (LATENTKIT_TEST_KILL_AT_STEP, for
/// the kill-and-resume test), or -1.
int64_t test_kill_step();
/// The checkpoint save, counted from 1 in this process, that SIGKILLs itself half-way through
/// writing its temp file (LATENTKIT_TEST_KILL_IN_CHECKPOINT, for the crash test), or -1.
int64_t test_kill_in_checkpoint();

/// The run-folder rule of every trainer: a new run needs an --out that holds no run yet,
/// --resume one that does. A folder that breaks it is an Error saying what to do.
void check_run_folder(const std::string& run_dir, bool resume);
/// RUN/config.json, for --resume; a folder without one is an Error (drop --resume).
nlohmann::json read_run_config(const std::string& run_dir);

/// On resume: cuts RUN/train.jsonl back to the rows with "step" <= step (rows written after
/// the checkpoint would be written again) and returns those rows. A malformed row (a line cut
/// by a kill) goes. With epoch_row_without, the rows of `step` itself that lack that key (an
/// epoch's extra row, which the loop writes again when it redoes the epoch's outputs) go too.
std::vector<nlohmann::json> trim_train_log(const std::string& run_dir, int64_t step,
                                           const std::string& epoch_row_without = "");

}  // namespace latentkit
