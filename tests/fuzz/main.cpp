// libFuzzer's entry points for latentkit_fuzz: the registry of targets, the choice of one,
// and the one rule of what an input may do (fuzz.h).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "latentkit/core/error.h"
#include "tests/fuzz/fuzz.h"

namespace latentkit::fuzz {
namespace {

struct Target {
  TargetFn fn;
  const char* about;
  SeedFn seeds = nullptr;
};

std::map<std::string, Target>& targets() {
  static std::map<std::string, Target> all;
  return all;
}

TargetFn chosen = nullptr;

}  // namespace

Registration::Registration(const char* name, TargetFn fn, const char* about) {
  targets()[name].fn = fn;
  targets()[name].about = about;
}

SeedRegistration::SeedRegistration(const char* name, SeedFn fn) { targets()[name].seeds = fn; }

const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && tmp[0] ? tmp : "/tmp") + "/latentkit-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
    std::fprintf(stderr, "latentkit_fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace latentkit::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using latentkit::fuzz::targets;
  const char* name = std::getenv("LATENTKIT_FUZZ_TARGET");
  const auto it = name ? targets().find(name) : targets().end();
  if (it == targets().end()) {
    std::fprintf(stderr, "latentkit_fuzz: set LATENTKIT_FUZZ_TARGET to one of (got %s):\n", name ? name : "nothing");
    for (const auto& [n, t] : targets()) std::fprintf(stderr, "  %-12s %s\n", n.c_str(), t.about);
    std::exit(2);
  }
  torch::set_num_threads(1);  // one core per fuzzer: CI runs two at once
  if (const char* dir = std::getenv("LATENTKIT_FUZZ_SEEDS")) {
    if (it->second.seeds == nullptr) {
      std::fprintf(stderr, "latentkit_fuzz: %s's seeds are files in tests/fuzz/corpus/%s, not written by the binary\n", name, name);
      std::exit(2);
    }
    std::filesystem::create_directories(dir);
    it->second.seeds(dir);
    std::exit(0);
  }
  latentkit::fuzz::chosen = it->second.fn;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    latentkit::fuzz::chosen(data, size);
  } catch (const latentkit::Error& e) {
    if (e.kind() != latentkit::ErrorKind::kBadInput) {
      std::fprintf(stderr, "latentkit_fuzz: an internal error for bad input: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latentkit_fuzz: an exception other than latentkit::Error escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}
