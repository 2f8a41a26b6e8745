// A fixed set of worker threads for lkrt_generate. run() splits a job into chunks that
// the caller and the workers claim one by one, so a worker that is slow to wake (the
// machine busy with other work) delays nothing: the caller takes its chunks. It does
// not allocate.
#ifndef LKRT_THREAD_POOL_H
#define LKRT_THREAD_POOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lkrt {

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

/// [begin, end) of part `index` of `count` equal parts of [0, total).
inline void split_range(int total, int index, int count, int* begin, int* end) {
  *begin = int(int64_t(total) * index / count);
  *end = int(int64_t(total) * (index + 1) / count);
}

}  // namespace lkrt

#endif
