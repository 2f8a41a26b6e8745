#include "latentkit/core/error.h"

namespace latentkit {

Error::Error(const std::string& message, ErrorKind kind)
    : std::runtime_error(message), kind_(kind) {}

void check_input(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace latentkit
