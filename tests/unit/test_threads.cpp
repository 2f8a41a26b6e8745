#include "latentkit/core/threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

TEST(Threads, SetsLibTorchThreadsAndHoldsOpenBlasToOne) {
  EXPECT_EQ(latentkit::set_threads(1), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  EXPECT_GE(latentkit::set_threads(0), 1) << "0 means all cores";
  using GetThreads = int (*)();
  auto get_blas = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!get_blas) GTEST_SKIP() << "the BLAS in use is not OpenBLAS";
  EXPECT_TRUE(latentkit::blas_single_threaded());
  EXPECT_EQ(get_blas(), 1);
}

TEST(SerialThread, RunsEveryCallOnOneOtherThreadOneAtATime) {
  latentkit::SerialThread serial;
  const std::thread::id worker = serial.run([] { return std::this_thread::get_id(); });
  EXPECT_NE(worker, std::this_thread::get_id());
  EXPECT_EQ(serial.run([] { return 6 * 7; }), 42);
  EXPECT_THROW(serial.run([]() -> int { throw std::runtime_error("bad request"); }), std::runtime_error);

  // Eight callers at once: each call ran on the one thread, none overlapped another, and
  // the thread still answers after a call threw.
  std::atomic<int> inside{0}, most_inside{0}, calls{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&] {
      for (int k = 0; k < 25; ++k) {
        const std::thread::id ran_on = serial.run([&] {
          most_inside = std::max(most_inside.load(), ++inside);
          std::this_thread::sleep_for(std::chrono::microseconds(50));
          --inside;
          ++calls;
          return std::this_thread::get_id();
        });
        EXPECT_EQ(ran_on, worker);
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(calls.load(), 200);
  EXPECT_EQ(most_inside.load(), 1);
}
