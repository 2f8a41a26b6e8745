// A fixed set of worker threads for lkrt_generate. run() splits a job into chunks that
// the caller and the workers claim one by one, so a worker that is slow to wake (the
// machine busy with other work) delays nothing: the caller takes its chunks. It does
// not allocate. Built with LKRT_NO_THREADS (cmake -DLKRT_THREADS=OFF, e.g. WebAssembly
// without pthreads) it has no threads: the caller runs every chunk, and asking for more
// than one thread throws.
#ifndef LKRT_THREAD_POOL_H
#define LKRT_THREAD_POOL_H

#include <cstdint>

#if defined(LKRT_NO_THREADS)
#include <stdexcept>
#else
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace lkrt {

#if defined(LKRT_NO_THREADS)
class ThreadPool {
 public:
  using Task = void (*)(void* ctx, int chunk, int chunks);

  explicit ThreadPool(int threads) {
    if (threads > 1) throw std::runtime_error("this lkrt is built without threads (LKRT_THREADS=OFF): use 1 thread");
  }
  int size() const { return 1; }
  void run(Task task, void* ctx, int chunks) {
    for (int c = 0; c < chunks; ++c) task(ctx, c, chunks);
  }
};
#else
class ThreadPool {
 public:
  using Task = void (*)(void* ctx, int chunk, int chunks);

  /// threads: total, the caller included (>= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  /// Calls task(ctx, c, chunks) once for every c in [0, chunks), on any thread, and
  /// returns when all calls have returned.
  void run(Task task, void* ctx, int chunks);

 private:
  void worker();
  // Claims chunks of the job of `generation` until none is left.
  void work(uint32_t generation, Task task, void* ctx, int chunks);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  // generation << 32 | next unclaimed chunk: a late worker cannot claim a later job's chunk.
  std::atomic<uint64_t> work_{0};
  std::atomic<int> done_{0};
  uint32_t generation_ = 0;  // guarded by mutex_, as are the three below
  bool stop_ = false;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  int chunks_ = 0;
};
#endif

/// [begin, end) of part `index` of `count` equal parts of [0, total).
inline void split_range(int total, int index, int count, int* begin, int* end) {
  *begin = int(int64_t(total) * index / count);
  *end = int(int64_t(total) * (index + 1) / count);
}

}  // namespace lkrt

#endif
