#pragma once
// One function per command: each adds its subcommand, options and callback to the app.
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

/// Adds --data, --split, --size, --channels, --limit and --data-seed, bound to options.
void add_data_options(CLI::App* command, DataOptions& options);

}  // namespace latentkit::app
