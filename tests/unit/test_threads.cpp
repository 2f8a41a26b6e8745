#include "latentkit/core/threads.h"

#include <dlfcn.h>

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
