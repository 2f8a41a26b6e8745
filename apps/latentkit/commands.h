#pragma once
// One function per command: each adds its subcommand, options and callback to the app.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "latentkit/core/progress.h"
#include "latentkit/data/dataset.h"

namespace latentkit::app {

void add_train_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_classifier_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_axes_command(CLI::App& app);
void add_edit_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_encode_commands(CLI::App& app);
void add_export_command(CLI::App& app);
void add_codec_commands(CLI::App& app);
void add_image_to_image_commands(CLI::App& app);

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

}  // namespace latentkit::app
