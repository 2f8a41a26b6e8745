#pragma once
// Run folders to generators: the family name in config.json picks a factory. A new
// model family plugs in here and nowhere else.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/data/dataset.h"
#include "latentkit/models/generator.h"

namespace latentkit {

/// Builds the generator a run's config.json describes and loads its model.pt.
using GeneratorFactory =
    std::function<std::unique_ptr<Generator>(const nlohmann::json& config, const std::string& run_dir)>;

/// Names of the registered families, sorted.
std::vector<std::string> generator_families();

/// Loads RUN/config.json and RUN/model.pt. A missing folder, a missing or foreign file,
/// or an unknown family is an Error that says what was expected.
std::unique_ptr<Generator> load_generator(const std::string& run_dir);

/// RUN/config.json of a finished run of `family` (its model.pt there), read for loading the
/// model: a missing folder, config.json or model.pt, a run of another family, or one without
/// a "model" section is an Error naming `what` it should be and `command`, the one that
/// trains it ("latentkit clip train").
nlohmann::json read_trained_run(const std::string& run_dir, const std::string& family, const std::string& what,
                                const std::string& command);

/// The family a run folder's config.json names; "" when it has none (load_generator and
/// read_trained_run then say what is wrong).
std::string run_family(const std::string& run_dir);

/// Class names recorded in a run's config.json ("classes"), empty when there are none.
std::vector<std::string> run_class_names(const nlohmann::json& config);
/// What a conditional run's labels are ("train"."condition_on"); the data's classes when
/// the config does not say.
ConditionOn run_condition_on(const nlohmann::json& config);

/// Saves a module's parameters and buffers to path atomically (torch archive format).
void save_module(const torch::nn::Module& module, const std::string& path);
/// Loads parameters and buffers saved by save_module into a module of the same structure.
void load_module(torch::nn::Module& module, const std::string& path);
/// Loads a module from an archive, checking that every parameter and buffer keeps its
/// shape (LibTorch's Module::load alone would silently take tensors of another shape).
/// source names the file in the error message.
void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& source);

}  // namespace latentkit
