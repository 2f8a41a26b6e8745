#pragma once
// CPU threads for LibTorch. Debian's LibTorch runs convolutions on oneDNN with OpenMP
// threads and the rest on OpenBLAS, whose own pthreads then compete with OpenMP for the
// same cores: DCGAN training on 2 cores runs 1.8x faster with OpenBLAS held to one
// thread (bench/train_throughput.sh measures it).
namespace latentkit {

/// Sets LibTorch's intra-op threads to n (0: all cores) and OpenBLAS to one thread when
/// OpenBLAS is the BLAS in use. Returns the number of threads set.
int set_threads(int n);

/// Whether OpenBLAS was found and held to one thread by set_threads.
bool blas_single_threaded();

}  // namespace latentkit
