#include "thread_pool.h"

#if !defined(LKRT_NO_THREADS)
namespace lkrt {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::work(uint32_t generation, Task task, void* ctx, int chunks) {
  for (;;) {
    uint64_t w = work_.load(std::memory_order_acquire);
    if (uint32_t(w >> 32) != generation || int(uint32_t(w)) >= chunks) return;
    if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
    task(ctx, int(uint32_t(w)), chunks);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(Task task, void* ctx, int chunks) {
  if (workers_.empty() || chunks <= 1) {
    for (int c = 0; c < chunks; ++c) task(ctx, c, chunks);
    return;
  }
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = ++generation_;
    task_ = task;
    ctx_ = ctx;
    chunks_ = chunks;
    done_.store(0, std::memory_order_relaxed);
    work_.store(uint64_t(generation) << 32, std::memory_order_release);
  }
  wake_.notify_all();
  work(generation, task, ctx, chunks);
  // Only chunks already claimed by a worker remain.
  while (done_.load(std::memory_order_acquire) != chunks) std::this_thread::yield();
}

void ThreadPool::worker() {
  uint32_t seen = 0;
  for (;;) {
    // Spin briefly before sleeping: lkrt_generate dispatches several jobs in a row.
    for (int spin = 0; spin < 2000 && uint32_t(work_.load(std::memory_order_acquire) >> 32) == seen; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      __asm__ __volatile__("yield");
#endif
    }
    Task task;
    void* ctx;
    int chunks;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      task = task_;
      ctx = ctx_;
      chunks = chunks_;
    }
    work(seen, task, ctx, chunks);
  }
}

}  // namespace lkrt
#endif
