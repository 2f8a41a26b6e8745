#pragma once
// Data-parallel training on LibTorch's c10d with the Gloo backend (the engine PyTorch's
// DistributedDataParallel runs on): a TCPStore rendezvous hosted by rank 0, parameters
// broadcast from rank 0, gradients averaged by all-reduce in flat buckets, and each rank's
// contiguous share of the global batch. One process (or, in tests, one thread) per rank.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace latentkit {

struct DistOptions {
  int rank = 0;
  int world_size = 1;
  std::string master = "127.0.0.1:29500";  // HOST:PORT where rank 0 hosts the store
  double timeout_seconds = 60;             // rendezvous and every collective; a silent peer ends the job
};

/// "HOST:PORT" -> (host, port). Anything else is an Error that shows the form.
std::pair<std::string, int> parse_master(const std::string& text);

/// This rank's rows of a global batch: the contiguous share [r B / W, (r + 1) B / W). The
/// batch must divide by the world size (an Error otherwise), so that averaging the ranks'
/// mean gradients gives the gradient of the global batch's mean loss.
torch::Tensor shard_batch(const torch::Tensor& global, int rank, int world_size);

class Distributed {
 public:
  /// Joins the job: rank 0 starts the store at options.master, every rank connects and the
  /// Gloo process group forms. Blocks until all world_size ranks are in, or throws an Error
  /// after the timeout naming the master and the ranks expected.
  explicit Distributed(const DistOptions& options);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  bool is_main() const { return options_.rank == 0; }

  /// Copies every parameter and buffer of module from rank 0 (in place, without autograd).
  void broadcast(torch::nn::Module& module);
  /// Replaces each defined gradient of params by its mean over the ranks. Gradients are
  /// flattened into buckets of at most bucket_bytes (one all-reduce per bucket), in order.
  /// Returns the number of buckets sent.
  int64_t average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = int64_t{25} << 20);
  /// Sum of t over the ranks (float64 or float32), e.g. loss sums for the log.
  torch::Tensor sum(const torch::Tensor& t);
  /// Waits for every rank.
  void barrier();

 private:
  void run(const char* what, const std::function<void()>& collective);
  struct Impl;
  DistOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace latentkit
