#include "latentkit/train/checkpoint.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace fs = std::filesystem;

namespace {

// The integrity footer after a checkpoint's LibTorch archive (docs/file-format.md): magic,
// the archive's length (little-endian uint64) and its CRC-32 (little-endian uint32).
// LibTorch's loader crashes on some damaged archives (fuzzing found a stack overflow in its
// TorchScript type parser), so the bytes are checked before it sees them.
constexpr char kFooterMagic[] = "LKCKPT01";
constexpr size_t kFooterMagicSize = 8;
constexpr size_t kFooterSize = kFooterMagicSize + 8 + 4;

uint32_t crc32_of(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {  // zlib takes 32-bit lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string checkpoint_footer(const std::string& archive) {
  std::string footer(kFooterMagic, kFooterMagicSize);
  const uint64_t length = archive.size();
  const uint32_t crc = crc32_of(archive.data(), archive.size());
  for (int i = 0; i < 8; ++i) footer += static_cast<char>((length >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) footer += static_cast<char>((crc >> (8 * i)) & 0xff);
  return footer;
}

// The archive inside a checkpoint's bytes, once its footer checks out. A file without one
// (written before the footer existed) loads only with LATENTKIT_TRUST_OLD_CHECKPOINTS=1.
std::pair<const char*, size_t> checkpoint_archive(const std::string& bytes, const std::string& path) {
  const std::string fix = "; delete it and resume from an older one";
  const bool footed = bytes.size() >= kFooterSize &&
                      bytes.compare(bytes.size() - kFooterSize, kFooterMagicSize, kFooterMagic, kFooterMagicSize) == 0;
  if (!footed) {
    const char* trust = std::getenv("LATENTKIT_TRUST_OLD_CHECKPOINTS");
    check_input(trust != nullptr && std::string(trust) == "1",
                "checkpoint " + path + " has no integrity footer: it is truncated, damaged, not a checkpoint, or one " +
                    "written before latentkit checked them (to load such a file you trust, set " +
                    "LATENTKIT_TRUST_OLD_CHECKPOINTS=1)" + fix);
    return {bytes.data(), bytes.size()};
  }
  const unsigned char* f = reinterpret_cast<const unsigned char*>(bytes.data() + bytes.size() - kFooterSize + kFooterMagicSize);
  uint64_t length = 0;
  uint32_t crc = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t{f[i]} << (8 * i);
  for (int i = 0; i < 4; ++i) crc |= uint32_t{f[8 + i]} << (8 * i);
  const size_t size = bytes.size() - kFooterSize;
  check_input(length == size, "checkpoint " + path + " is truncated or damaged (its footer counts " +
                                  std::to_string(length) + " bytes, the file holds " + std::to_string(size) + ")" + fix);
  check_input(crc == crc32_of(bytes.data(), size),
              "checkpoint " + path + " is damaged (its bytes do not match their CRC-32)" + fix);
  return {bytes.data(), size};
}

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
  bytes << checkpoint_footer(bytes.str());
  std::string name = checkpoint_name(step);
  static int64_t saves = 0;  // this process's checkpoint saves, for the test hook
  if (++saves == test_kill_in_checkpoint()) {
    // What a kill inside write_file_atomic leaves: half the bytes in its temp file, no rename.
    const std::string part = bytes.str().substr(0, bytes.str().size() / 2);
    std::FILE* temp = std::fopen(atomic_temp_path(dir + "/" + name).c_str(), "wb");
    if (temp) {
      std::fwrite(part.data(), 1, part.size(), temp);
      std::fflush(temp);
    }
    std::raise(SIGKILL);
  }
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
    const auto [data, size] = checkpoint_archive(bytes, path);
    torch::serialize::InputArchive archive;
    archive.load_from(data, size);
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
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // LibTorch's c10::Error, and standard ones it lets out
    const auto* c10 = dynamic_cast<const c10::Error*>(&e);
    const std::string what = c10 ? c10->what_without_backtrace() : e.what();
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

std::optional<std::string> checkpoint_to_resume(const std::string& run_dir) {
  auto latest = latest_checkpoint(run_dir);
  if (latest) return latest;
  // A run stopped before its first checkpoint has its config.json and no model.pt yet (model.pt
  // is written after a checkpoint): it starts again from step 0. A run with model.pt but no
  // checkpoint (a shipped model, or checkpoints deleted) has nothing to continue from.
  check_input(!path_exists(run_dir + "/model.pt"),
              run_dir + " has no checkpoint yet (checkpoints/latest is missing) but has a model.pt; start again without "
              "--resume in another folder");
  return std::nullopt;
}

int64_t resume_latest(const std::string& run_dir, const CheckpointParts& parts) {
  const auto latest = checkpoint_to_resume(run_dir);
  if (!latest) {
    std::fprintf(stderr, "resumed %s from its start (it stopped before its first checkpoint)\n", run_dir.c_str());
    return 0;
  }
  const int64_t step = load_checkpoint(*latest, parts);
  std::fprintf(stderr, "resumed %s from %s (step %lld)\n", run_dir.c_str(), latest->c_str(), static_cast<long long>(step));
  return step;
}

int64_t test_kill_step() {
  const char* value = std::getenv("LATENTKIT_TEST_KILL_AT_STEP");
  return value ? std::atoll(value) : -1;
}

int64_t test_kill_in_checkpoint() {
  const char* value = std::getenv("LATENTKIT_TEST_KILL_IN_CHECKPOINT");
  return value ? std::atoll(value) : -1;
}

nlohmann::json read_run_config(const std::string& run_dir) {
  check_run_folder(run_dir, true);
  return read_json(run_dir + "/config.json");
}

std::vector<nlohmann::json> trim_train_log(const std::string& run_dir, int64_t step, const std::string& epoch_row_without) {
  const std::string path = run_dir + "/train.jsonl";
  std::vector<nlohmann::json> rows;
  if (!path_exists(path)) return rows;
  std::istringstream lines(read_file(path));
  std::string kept;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || !row.is_object() || !row.contains("step") || !row["step"].is_number_integer()) continue;
    const int64_t at = row["step"].get<int64_t>();
    if (at > step) continue;
    if (at == step && !epoch_row_without.empty() && !row.contains(epoch_row_without)) continue;
    rows.push_back(row);
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
  return rows;
}

}  // namespace latentkit
