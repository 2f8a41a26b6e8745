#include "latentkit/core/threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <thread>

#include <torch/torch.h>

namespace latentkit {
namespace {
bool g_blas_single = false;
}

int set_threads(int n) {
  int threads = n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  // Looked up at run time: the BLAS behind libblas.so.3 is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_blas(1);
    g_blas_single = true;
  }
  return threads;
}

bool blas_single_threaded() { return g_blas_single; }

}  // namespace latentkit
