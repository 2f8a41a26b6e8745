#include "latentkit/train/checkpoint.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace fs = std::filesystem;

namespace {

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%07lld.pt", static_cast<long long>(step));
  return name;
}

std::string state_key(const torch::Tensor& param) { return c10::guts::to_string(param.unsafeGetTensorImpl()); }

void save_adam(torch::serialize::OutputArchive& archive, const std::string& name, torch::optim::Adam& optimizer) {
  int64_t index = 0;
  for (auto& group : optimizer.param_groups()) {
    for (auto& param : group.params()) {
      auto it = optimizer.state().find(state_key(param));
      if (it != optimizer.state().end()) {
        auto& state = static_cast<torch::optim::AdamParamState&>(*it->second);
        std::string prefix = name + ".adam." + std::to_string(index) + ".";
        archive.write(prefix + "step", torch::tensor(state.step(), torch::kInt64));
        archive.write(prefix + "exp_avg", state.exp_avg());
        archive.write(prefix + "exp_avg_sq", state.exp_avg_sq());
        if (state.max_exp_avg_sq().defined()) archive.write(prefix + "max_exp_avg_sq", state.max_exp_avg_sq());
      }
      ++index;
    }
  }
}

void load_adam(torch::serialize::InputArchive& archive, const std::string& name, torch::optim::Adam& optimizer) {
  optimizer.state().clear();
  int64_t index = 0;
  for (auto& group : optimizer.param_groups()) {
    for (auto& param : group.params()) {
      std::string prefix = name + ".adam." + std::to_string(index) + ".";
      torch::Tensor step;
      if (archive.try_read(prefix + "step", step)) {
        auto state = std::make_unique<torch::optim::AdamParamState>();
        torch::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
        archive.read(prefix + "exp_avg", exp_avg);
        archive.read(prefix + "exp_avg_sq", exp_avg_sq);
        check_input(exp_avg.sizes() == param.sizes() && exp_avg_sq.sizes() == param.sizes(),
                    "optimizer state " + prefix + "exp_avg does not fit its parameter");
        state->step(step.item<int64_t>());
        state->exp_avg(exp_avg);
        state->exp_avg_sq(exp_avg_sq);
        if (archive.try_read(prefix + "max_exp_avg_sq", max_exp_avg_sq)) state->max_exp_avg_sq(max_exp_avg_sq);
        optimizer.state()[state_key(param)] = std::move(state);
      }
      ++index;
    }
  }
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, int64_t step, const CheckpointParts& parts, int keep) {
  std::string dir = run_dir + "/checkpoints";
  make_dirs(dir);
  torch::serialize::OutputArchive archive;
  for (const auto& [name, module] : parts.modules) {
    torch::serialize::OutputArchive sub;
    module->save(sub);
    archive.write(name, sub);
  }
  for (const auto& [name, optimizer] : parts.optimizers) save_adam(archive, name, *optimizer);
  for (const auto& [name, tensor] : parts.tensors) archive.write(name, *tensor);
  for (const auto& [name, generator] : parts.generators) archive.write(name + ".rng_state", generator->get_state());
  archive.write("step", torch::tensor(step, torch::kInt64));
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("rng_state", generator.get_state());
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  std::string name = checkpoint_name(step);
  write_file_atomic(dir + "/" + name, bytes.str());
  write_file_atomic(dir + "/latest", name + "\n");

  const std::string path = dir + "/" + name;
  const auto existing = list_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max(keep, 1)) < existing.size(); ++i) {
    if (existing[i].second != path) fs::remove(existing[i].second);
  }
  return path;
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  const std::string dir = run_dir + "/checkpoints";
  if (!path_exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("step-", 0) != 0 || entry.path().extension() != ".pt") continue;
    out.push_back({std::atoll(file.c_str() + 5), dir + "/" + file});
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  std::string latest = run_dir + "/checkpoints/latest";
  if (!path_exists(latest)) return std::nullopt;
  std::string name = read_file(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  check_input(!name.empty() && name.find('/') == std::string::npos,
              latest + " is malformed (expected one line naming a step-NNNNNNN.pt file)");
  std::string path = run_dir + "/checkpoints/" + name;
  check_input(path_exists(path), latest + " names " + name + ", which is missing");
  return path;
}

int64_t load_checkpoint(const std::string& path, const CheckpointParts& parts) {
  check_input(path_exists(path), "checkpoint " + path + " not found");
  return load_checkpoint_bytes(read_file(path), path, parts);
}

int64_t load_checkpoint_bytes(const std::string& bytes, const std::string& path, const CheckpointParts& parts) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size());
    for (const auto& [name, module] : parts.modules) {
      torch::serialize::InputArchive sub;
      archive.read(name, sub);
      load_module(*module, sub, path);
    }
    for (const auto& [name, optimizer] : parts.optimizers) load_adam(archive, name, *optimizer);
    for (const auto& [name, tensor] : parts.tensors) archive.read(name, *tensor);
    for (const auto& [name, generator] : parts.generators) {
      torch::Tensor state;
      archive.read(name + ".rng_state", state);
      generator->set_state(state);
    }
    torch::Tensor step;
    archive.read("step", step);
    torch::Tensor rng_state;
    archive.read("rng_state", rng_state);
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
    return step.item<int64_t>();
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error("checkpoint " + path + " is truncated, corrupt or from another model (" + what.substr(0, 200) +
                "); delete it and resume from an older one");
  }
}

void check_run_folder(const std::string& run_dir, bool resume) {
  if (resume) {
    check_input(path_exists(run_dir + "/config.json"),
                run_dir + " has no config.json: there is no run to resume (drop --resume to start one)");
  } else {
    check_input(!path_exists(run_dir + "/config.json"),
                run_dir + " already holds a run: continue it with --resume, or choose another --out");
  }
}

std::string checkpoint_to_resume(const std::string& run_dir) {
  auto latest = latest_checkpoint(run_dir);
  check_input(latest.has_value(),
              run_dir + " has no checkpoint yet (checkpoints/latest is missing); start again without --resume");
  return *latest;
}

int64_t resume_latest(const std::string& run_dir, const CheckpointParts& parts) {
  const std::string latest = checkpoint_to_resume(run_dir);
  const int64_t step = load_checkpoint(latest, parts);
  std::fprintf(stderr, "resumed %s from %s (step %lld)\n", run_dir.c_str(), latest.c_str(), static_cast<long long>(step));
  return step;
}

int64_t test_kill_step() {
  const char* value = std::getenv("LATENTKIT_TEST_KILL_AT_STEP");
  return value ? std::atoll(value) : -1;
}

nlohmann::json read_run_config(const std::string& run_dir) {
  check_run_folder(run_dir, true);
  return read_json(run_dir + "/config.json");
}

std::vector<nlohmann::json> trim_train_log(const std::string& run_dir, int64_t step) {
  const std::string path = run_dir + "/train.jsonl";
  std::vector<nlohmann::json> rows;
  if (!path_exists(path)) return rows;
  std::istringstream lines(read_file(path));
  std::string kept;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || !row.contains("step") || !row["step"].is_number_integer()) continue;
    if (row["step"].get<int64_t>() > step) continue;
    rows.push_back(row);
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
  return rows;
}

}  // namespace latentkit
