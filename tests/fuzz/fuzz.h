#pragma once
// The library's libFuzzer targets: one binary (latentkit_fuzz) holds them all, each file
// registers its own by name, and LATENTKIT_FUZZ_TARGET picks the one a run feeds
// (scripts/fuzz NAME SECONDS sets it; docs/testing.md).
//
// The contract every target checks is DESIGN.md's "bad input gets a clear error, never a
// crash": a latentkit::Error of kind bad input is an answer; any other exception escaping
// the library (LibTorch's, the JSON parser's, the standard library's) is a finding, and so
// is every sanitizer report, hang or allocation past -rss_limit_mb.
#include <cstddef>
#include <cstdint>
#include <string>

namespace latentkit::fuzz {

using TargetFn = void (*)(const uint8_t* data, size_t size);
using SeedFn = void (*)(const std::string& dir);

struct Registration {
  Registration(const char* name, TargetFn fn, const char* about);
};

/// For a target whose seeds only the library can write (a checkpoint): scripts/fuzz seeds
/// NAME runs the binary with LATENTKIT_FUZZ_SEEDS=DIR, which calls fn(DIR) and exits.
struct SeedRegistration {
  SeedRegistration(const char* name, SeedFn fn);
};

/// A folder of this process's own under $TMPDIR, made once (and emptied by nothing: the
/// targets overwrite their files), for parsers that read from a path.
const std::string& scratch_dir();

/// Writes bytes to scratch_dir()/name and returns the path.
std::string write_scratch(const std::string& name, const uint8_t* data, size_t size);

}  // namespace latentkit::fuzz

// LATENTKIT_FUZZ_TARGET(idx, "IDX files, gzip or plain") { ... data, size ... }
#define LATENTKIT_FUZZ_TARGET(name, about)                                                   \
  static void fuzz_target_##name(const uint8_t* data, size_t size);                         \
  static const ::latentkit::fuzz::Registration fuzz_registration_##name(#name, fuzz_target_##name, about); \
  static void fuzz_target_##name(const uint8_t* data, size_t size)

// LATENTKIT_FUZZ_SEEDS(checkpoint) { ... write files into dir ... }
#define LATENTKIT_FUZZ_SEEDS(name)                                                             \
  static void fuzz_seeds_##name(const std::string& dir);                                     \
  static const ::latentkit::fuzz::SeedRegistration fuzz_seed_registration_##name(#name, fuzz_seeds_##name); \
  static void fuzz_seeds_##name(const std::string& dir)
