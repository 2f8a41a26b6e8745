// The thread-local message behind lkrt_last_error(), shared by the C API's source files.
#ifndef LKRT_LAST_ERROR_H
#define LKRT_LAST_ERROR_H

#include <string>

#include "lkrt.h"

namespace lkrt {

// Stores message for lkrt_last_error() and returns status.
lkrt_status set_error(lkrt_status status, const std::string& message);

}  // namespace lkrt

#endif
