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

SerialThread::SerialThread()
    : thread_([this] {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
          wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
          if (jobs_.empty()) return;  // stopping, and nothing left
          std::function<void()> job = std::move(jobs_.front());
          jobs_.pop_front();
          lock.unlock();
          job();  // a packaged_task: what it throws goes to its caller
          lock.lock();
        }
      }) {}

SerialThread::~SerialThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SerialThread::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

}  // namespace latentkit
