#pragma once
// CPU threads for LibTorch. Debian's LibTorch runs convolutions on oneDNN with OpenMP
// threads and the rest on OpenBLAS, whose own pthreads then compete with OpenMP for the
// same cores: DCGAN training on 2 cores runs 1.8x faster with OpenBLAS held to one
// thread (bench/train_throughput.sh measures it).
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace latentkit {

/// Sets LibTorch's intra-op threads to n (0: all cores) and OpenBLAS to one thread when
/// OpenBLAS is the BLAS in use. Returns the number of threads set.
int set_threads(int n);

/// Whether OpenBLAS was found and held to one thread by set_threads.
bool blas_single_threaded();

/// One thread of its own that runs what run() is given, one call at a time, in the order
/// asked. The server sends its LibTorch work here: what LibTorch, OpenBLAS and malloc keep
/// per calling thread (arenas, buffers) then belongs to one thread, not to every connection
/// thread that ever decoded an image.
class SerialThread {
 public:
  SerialThread();
  ~SerialThread();  // finishes what was asked, then joins
  SerialThread(const SerialThread&) = delete;
  SerialThread& operator=(const SerialThread&) = delete;

  /// Runs f on the thread and returns its result, or throws what it threw.
  template <typename F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

 private:
  void post(std::function<void()> job);
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace latentkit
