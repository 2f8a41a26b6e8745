#pragma once
// Helpers shared by the unit tests.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "latentkit/core/error.h"

namespace latentkit::test_util {

/// A fresh, empty folder under the system temp dir, unique to this test process.
inline std::string make_temp_dir(const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("latentkit_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

/// The rows of a JSON-lines file (train.jsonl).
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

/// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A unique temp folder that is removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "latentkit_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// Path of a file inside; creates its parent folders, so "a/b/c.png" works.
  std::string file(const std::string& name) const {
    const std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    return p.string();
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

/// The message of the latentkit::Error that f throws; a test failure when it throws
/// nothing or something else, or (with require_bad_input) an error of another kind.
inline std::string error_of(const std::function<void()>& f, bool require_bad_input = false) {
  try {
    f();
  } catch (const Error& e) {
    if (require_bad_input) {
      EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    }
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected latentkit::Error, got std::exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected latentkit::Error, nothing was thrown";
  return "";
}

/// As error_of, and the error must be of the bad-input kind (exit code 2).
inline std::string bad_input_error_of(const std::function<void()>& f) { return error_of(f, true); }

/// Expects f to throw an Error whose message contains every one of parts.
inline void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  const std::string message = error_of(f);
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

}  // namespace latentkit::test_util
