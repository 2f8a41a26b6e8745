#pragma once
// One training loop for every family (the split of PyTorch Lightning's Trainer and
// LightningModule). run_training owns everything that is not a family's own maths: the run
// folder and config.json, threads, precision, the data order, exact resume, the job (alone or
// one rank of a data-parallel job), the log window and train.jsonl, progress on stderr,
// checkpoints (every N steps, at epoch ends, on SIGINT), the kill-at-step test hook,
// divergence errors that name the last good checkpoint, sample grids, losses.png, model.pt
// and the summary. A family is a TrainTask: its modules and optimizers as checkpoint parts,
// one step that returns named values, its samples, its final weights and its config.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/error.h"
#include "latentkit/core/names.h"
#include "latentkit/data/dataset.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/distributed.h"

namespace latentkit {

/// Arithmetic of a training step: fp32, or bf16 (CPU autocast to bfloat16 for convolutions
/// and matrix products, with BatchNorm, losses and optimizer state in fp32, and channels-last
/// weights); auto is bf16 where the CPU has AVX512-BF16, else fp32.
enum class Precision { kFp32, kBf16, kAuto };
const NameTable<Precision>& precision_names();
/// Whether this CPU computes in bfloat16 natively (AVX512-BF16).
bool cpu_has_bf16();
/// auto resolved for this CPU (fp32 or bf16).
Precision resolve_precision(Precision precision);

/// The options every family shares: composed into each family's options as `loop`, read and
/// written once in config.json's "train" object, bound once on the command line.
struct TrainLoopOptions {
  int64_t epochs = 10;
  int64_t batch = 64;
  double lr = 2e-4;
  std::string out;  // the run folder
  DataOptions data;
  uint64_t seed = 0;
  int threads = 0;  // 0: all cores
  int64_t checkpoint_every = 500;
  int keep_checkpoints = 3;
  int64_t log_every = 50;
  int64_t sample_count = 64;  // images in each sample grid
  int64_t max_steps = 0;      // 0: train all epochs; else stop after this many steps
  Precision precision = Precision::kFp32;  // the library's default; the command line's is auto
  DistOptions dist;  // one rank of a data-parallel job (not part of the run's config)

  TrainLoopOptions() = default;
  /// A family's defaults.
  TrainLoopOptions(int64_t epochs_, int64_t batch_, double lr_) : epochs(epochs_), batch(batch_), lr(lr_) {}
  /// An Error naming the flag for a value out of range.
  void validate() const;
};

/// config.json's "train" object: the shared options (the family adds its own keys).
nlohmann::json train_loop_options_to_json(const TrainLoopOptions& options);
/// The shared options from config.json's "train" object (keys a run of an older version
/// lacks keep their defaults); data from config.json's "data". A malformed value is an Error.
TrainLoopOptions train_loop_options_from_json(const nlohmann::json& train, const nlohmann::json& data,
                                              const std::string& run_dir);

struct TrainSummary {
  int64_t steps = 0;      // global step reached
  int64_t steps_run = 0;  // steps run by this call (after a resume, only the new ones)
  double seconds = 0.0;
  double images_per_second = 0.0;
  bool interrupted = false;  // stopped by SIGINT / SIGTERM after saving a checkpoint
  int threads = 0;
  Precision precision = Precision::kFp32;  // as resolved (never kAuto)
};

/// What the loop hands a task's step.
struct StepInput {
  int64_t step = 0;   // 0-based global step being run
  int64_t epoch = 0;  // 0-based
  torch::Tensor indices;  // int64 [global batch]: rows of the data (undefined when the task draws its own)
  TrainJob* job = nullptr;
  bool channels_last = false;  // bf16: images in channels-last memory format (docs/performance.md)

  /// A batch of images [N, C, H, W] laid out as the step's networks run fastest on it:
  /// channels-last under bf16, as it is otherwise.
  torch::Tensor layout(const torch::Tensor& images) const {
    return channels_last && images.dim() == 4 ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
  }
};

/// A model family on the loop. The loop calls, in order: load_data, build (after seeding
/// LibTorch's default generator with --seed), parts, config, describe; then per step
/// learning_rate and step; at epoch ends write_samples, save_model and (after a whole
/// epoch) epoch_end, in that order.
class TrainTask {
 public:
  virtual ~TrainTask() = default;

  /// Loads the data (fitting the family's model options, and where it must the loop's, to
  /// it: channels, size, classes). Returns the number of examples the data order shuffles;
  /// 0 when the task draws its own examples and an epoch is epoch_steps() steps.
  virtual int64_t load_data(TrainLoopOptions& loop) = 0;
  virtual int64_t epoch_steps() const { return 0; }
  /// Builds modules and optimizers; broadcasts rank 0's parameters through the job.
  virtual void build(const TrainLoopOptions& loop, TrainJob& job) = 0;
  /// Modules, optimizers and extra state a checkpoint holds (the loop adds its log window).
  virtual CheckpointParts parts() = 0;
  /// The run's config.json (train_loop_options_to_json for the shared part of "train").
  virtual nlohmann::json config(const TrainLoopOptions& loop) const = 0;
  /// The first line of training: what trains, e.g. "cgan (concat, 10 classes)".
  virtual std::string describe() const = 0;
  /// The command that continues this run, for messages ("latentkit train --resume --out R").
  virtual std::string resume_command(const std::string& run_dir) const;

  /// Names of the values step returns, in order; their means over a log window go to
  /// train.jsonl, the progress line and losses.png.
  virtual std::vector<std::string> value_names() const = 0;
  /// The learning rate at a step (a schedule), set on every optimizer before the step.
  virtual double learning_rate(const TrainLoopOptions& loop, int64_t step, int64_t total_steps) const {
    return loop.lr;
  }
  /// One step on this rank's share of the global batch. Returns this rank's values.
  virtual std::vector<double> step(const StepInput& in) = 0;
  /// The logged means of a window of steps [first_step, last_step] from its sums (default:
  /// sums / steps). A task whose value is not produced on every step divides otherwise.
  virtual std::vector<double> window_means(const std::vector<double>& sums, double steps, int64_t first_step,
                                           int64_t last_step) const;
  /// Values derived from a log row's means, logged and plotted after them (e.g. the ELBO).
  virtual std::vector<std::pair<std::string, double>> derived_values(const std::vector<double>& means) const {
    return {};
  }
  /// Title of losses.png.
  virtual std::string plot_title() const = 0;

  /// The run's final weights (model.pt).
  virtual void save_model(const std::string& path) = 0;
  /// A sample grid (PNG) of the model as it is; path is samples/epoch-NNN.png.
  virtual void write_samples(const std::string& path) = 0;
  /// After a complete epoch's outputs, on rank 0: extra results (e.g. test accuracy). Returns
  /// a row for train.jsonl (the loop adds step and epoch) or null.
  virtual nlohmann::json epoch_end(const std::string& run_dir, int64_t epoch) { return nullptr; }
};

/// Trains task (or, with resume, continues it from RUN/checkpoints/latest) and writes the
/// run folder. Throws Error for bad options or data, and for non-finite values (naming the
/// step, the last good checkpoint and the command that continues from it with a lower lr).
TrainSummary run_training(const TrainLoopOptions& options, TrainTask& task, bool resume);

/// "shapes:320 (320 images 3x28x28)": the data on a trainer's first line.
std::string describe_data(const Dataset& data);

/// The data a generator family trains on: loads it, checks that its images are square, and
/// fits model (DcganOptions, VaeOptions, UNetOptions) to it: channels and size, and for a
/// conditional model (num_classes() > 0) the classes condition_dataset gives, also into
/// class_names. model_name names the model in the error for non-square images.
template <typename ModelOptions>
Dataset load_generator_data(const DataOptions& options, ModelOptions& model, ConditionOn condition_on,
                            std::vector<std::string>& class_names, const std::string& model_name) {
  Dataset data = load_dataset(options);
  check_input(data.height() == data.width(), "data " + options.spec + " has " + std::to_string(data.height()) + "x" +
                                                 std::to_string(data.width()) + " images; " + model_name +
                                                 " needs square ones (pass --size)");
  model.channels(data.channels()).image_size(data.height());
  if (model.num_classes() > 0) {
    condition_dataset(data, condition_on, options.spec);
    model.num_classes(static_cast<int64_t>(data.class_names.size()));
    class_names = data.class_names;
  }
  model.validate();
  return data;
}

/// The path of RUN/samples/epoch-NNN.png.
std::string sample_path(const std::string& run_dir, int64_t epoch);

/// Adds channels-last to every 4-D parameter and buffer of module (bf16 training).
void to_channels_last(torch::nn::Module& module);

}  // namespace latentkit
