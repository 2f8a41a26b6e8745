#pragma once
// The one exception type the library throws. Apps catch it, print what() on stderr and
// exit 2 for bad input, 1 for an internal failure.
#include <stdexcept>
#include <string>

namespace latentkit {

enum class ErrorKind { kBadInput, kInternal };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kBadInput);
  ErrorKind kind() const { return kind_; }
  /// Exit code a program should return for this error: 2 for bad input, 1 otherwise.
  int exit_code() const { return kind_ == ErrorKind::kBadInput ? 2 : 1; }

 private:
  ErrorKind kind_;
};

/// Throws Error(message) when condition is false.
void check_input(bool condition, const std::string& message);

}  // namespace latentkit
