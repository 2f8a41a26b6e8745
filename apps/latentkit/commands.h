#pragma once
// One function per command: each adds its subcommand, options and callback to the app.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "latentkit/core/names.h"
#include "latentkit/core/progress.h"
#include "latentkit/data/dataset.h"
#include "latentkit/train/loop.h"

namespace latentkit::app {

void add_train_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_classifier_command(CLI::App& app);
void add_clip_command(CLI::App& app);
void add_segmenter_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_axes_command(CLI::App& app);
void add_edit_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_encode_commands(CLI::App& app);
void add_export_command(CLI::App& app);
void add_codec_commands(CLI::App& app);
void add_image_to_image_commands(CLI::App& app);
void add_wallpaper_command(CLI::App& app);

/// A class given by name (case-insensitive) or index, of a model with `count` classes
/// named `names` (may be empty); anything else is an Error that lists the classes.
int64_t parse_class(const std::string& text, const std::vector<std::string>& names, int64_t count);

/// A diffusion sampler's progress bar, made at the sampler's first step from the step count
/// it reports, so a command need not work out how many steps a method takes.
class StepProgress {
 public:
  explicit StepProgress(std::string label) : label_(std::move(label)) {}
  /// For SampleOptions / ImageToImageOptions::on_step; valid while this object lives.
  std::function<void(int64_t, int64_t)> callback() {
    return [this](int64_t done, int64_t total) {
      if (!bar_) bar_ = std::make_unique<Progress>(label_, total);
      bar_->update(done, "");
    };
  }
  void finish() {
    if (bar_) bar_->finish("done");
  }

 private:
  std::string label_;
  std::unique_ptr<Progress> bar_;
};

/// Adds --data, --split, --size, --channels, --limit and --data-seed, bound to options.
void add_data_options(CLI::App* command, DataOptions& options);

/// How long a command's work runs: long work (training) takes Ctrl-C / SIGTERM as a request
/// to stop after saving; short work ends at the signal.
enum class Work { kShort, kLong };

/// The process set-up of every command that runs LibTorch, in one place: adds --threads
/// (bound to threads; 0: all cores) and makes the command's callback first set LibTorch's
/// threads, with OpenBLAS held to one (set_threads: OpenBLAS and OpenMP fight otherwise), and
/// for long work the stop handlers, then run. threads must live as long as the command
/// (a member of the parameters that run holds).
void torch_command(CLI::App* command, int& threads, Work work, std::function<void()> run,
                   const std::string& threads_help = "CPU threads (0: all cores)");

/// CLI validators that say what is wrong in words ("must be >= 1"), never CLI11's
/// "not in range 0.000000 to 1797693134862...".
CLI::Validator at_least(double min);
CLI::Validator greater_than(double min);

/// An option bound to an enum through its name table: the help lists the names ({a,b,c}),
/// the default shows by name, and an unknown name is an error that lists them.
template <typename E>
CLI::Option* add_enum_option(CLI::App* command, const std::string& flag, E& value, const NameTable<E>& table,
                             const std::string& help) {
  std::string names;
  for (const auto& name : table.names()) names += (names.empty() ? "{" : ",") + name;
  return command
      ->add_option_function<std::string>(flag, [&value, &table](const std::string& text) { value = table.parse(text); },
                                         help)
      ->check(CLI::Validator(
          [&table](std::string& text) {
            for (const auto& name : table.names()) {
              if (name == text) return std::string();
            }
            return "unknown '" + text + "' (expected " + table.list() + ")";
          },
          names + "}"))
      ->default_str(table.name(value));
}

/// The command-line face of TrainLoopOptions, bound once for every trainer (train,
/// classifier train, encoder train), and which of its flags were given.
class LoopFlags {
 public:
  /// Binds --out, --resume, --epochs, --max-steps, --batch, --lr, --seed, --precision, the
  /// data options, --checkpoint-every, --keep-checkpoints, --log-every and the data-parallel
  /// flags (--nproc, --rank, --world-size, --master, --dist-timeout) to options (--threads comes with
  /// torch_command).
  /// For the encoder (in_run_folder), --out and --epochs are left out: its run folder is
  /// RUN/encoder and an epoch is its --steps.
  void bind(CLI::App* command, TrainLoopOptions& options, bool in_run_folder = false);
  /// base (a family's defaults, or on --resume the run's saved options) with the flags that
  /// were given. On --resume only --epochs, --max-steps, --lr, --threads, --precision, the
  /// checkpoint and log intervals and the data-parallel flags may change the run; the data,
  /// --batch and --seed are an Error (the run's config.json fixes them).
  TrainLoopOptions apply(TrainLoopOptions base) const;
  bool resume() const { return resume_; }
  /// --nproc N > 1: this process becomes the launcher of N ranks on this host (each this
  /// program again with --rank, --world-size and --master), waits for them and returns true;
  /// run_dir names the run in a failed job's message.
  bool launch(const std::string& run_dir) const;
  bool given(const std::string& flag) const;
  const TrainLoopOptions& options() const { return *options_; }

 private:
  TrainLoopOptions* options_ = nullptr;
  CLI::App* command_ = nullptr;
  bool resume_ = false;
  int nproc_ = 1;
};

/// The end of a training run, on rank 0 (or alone): how to continue and where the files are.
void report_training(const TrainSummary& summary, const std::string& run_dir, const std::string& resume_command, int rank);

}  // namespace latentkit::app
