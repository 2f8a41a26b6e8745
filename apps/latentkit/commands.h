#pragma once
// One function per command: each adds its subcommand, options and callback to the app.
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

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

/// Adds --data, --split, --size, --channels, --limit and --data-seed, bound to options.
void add_data_options(CLI::App* command, DataOptions& options);

}  // namespace latentkit::app
