#pragma once
// Helpers shared by the unit tests.
#include <unistd.h>

#include <filesystem>
#include <string>

namespace latentkit::testing {

/// A fresh, empty folder under the system temp dir, unique to this test process.
inline std::string make_temp_dir(const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("latentkit_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace latentkit::testing
