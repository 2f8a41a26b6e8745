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

#include "latentkit/train/checkpoint.h"

namespace latentkit {

struct DistOptions {
  int rank = 0;
  int world_size = 1;
  std::string master = "127.0.0.1:29500";  // HOST:PORT where rank 0 hosts the store
  double timeout_seconds = 60;             // rendezvous and every collective; a silent peer ends the job
};

/// A TCP port free on this host a moment ago (bound to 0, read back, released): --nproc's master.
int free_local_port();

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
  /// Copies t from rank 0 into t on every rank (t must have the same shape and dtype).
  void broadcast(torch::Tensor& t);
  /// Replaces each defined gradient of params by its mean over the ranks. Gradients are
  /// flattened into buckets of at most bucket_bytes (one all-reduce per bucket), in order.
  /// Returns the number of buckets sent.
  int64_t average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = int64_t{25} << 20);
  /// Sum of t over the ranks (float64 or float32), e.g. loss sums for the log.
  torch::Tensor sum(const torch::Tensor& t);
  /// Waits for every rank.
  void barrier();
  /// Rank 0 marks key done in the store; the others wait for it up to timeout_seconds (not
  /// the job's timeout: rank 0 may be writing samples for minutes). A rank 0 that dies ends
  /// the wait at once (it hosts the store).
  void wait_for_rank0(const std::string& key, double timeout_seconds);
  /// Seconds this rank has spent in collectives (waiting for the others included).
  double collective_seconds() const { return collective_seconds_; }

 private:
  void run(const char* what, const std::function<void()>& collective);
  struct Impl;
  DistOptions options_;
  std::unique_ptr<Impl> impl_;
  double collective_seconds_ = 0;
};

/// The job a trainer runs in: one process alone (world size 1: nothing is sent, every call
/// is the identity), or one rank of a data-parallel job. Every rank draws the random numbers
/// of the whole global batch (latents, noise, timesteps, degradations) from the same seeded
/// generator and keeps its share, so the ranks' generators stay equal, a checkpoint holds
/// the job's state, and the job computes what one process on the global batch computes.
class TrainJob {
 public:
  explicit TrainJob(const DistOptions& options);

  int rank() const { return dist_ ? dist_->rank() : 0; }
  int world_size() const { return dist_ ? dist_->world_size() : 1; }
  /// Rank 0: the one that writes the run folder (logs, samples, checkpoints, model.pt).
  bool is_main() const { return rank() == 0; }
  /// Where this rank's progress goes: stderr on rank 0, nowhere on the others.
  FILE* log() const { return is_main() ? stderr : nullptr; }
  /// For a trainer's first line: "" alone, else " per rank, 2 ranks x 32 images per step".
  std::string describe(int64_t global_batch) const;

  /// This rank's rows of a global batch (all of it alone); undefined stays undefined.
  torch::Tensor share(const torch::Tensor& global) const;
  /// An Error unless a global batch of this size divides by the ranks.
  void check_batch(int64_t batch) const;
  /// Rank 0's parameters and buffers on every rank.
  void broadcast(torch::nn::Module& module);
  /// Each gradient of module's parameters replaced by its mean over the ranks (in buckets).
  void average_gradients(torch::nn::Module& module);
  /// The exchange at the end of every step: the mean over the ranks of each value (the
  /// losses of the rank's share), and whether any rank was asked to stop (SIGINT / SIGTERM),
  /// read by stop(), so that all ranks stop after the same step.
  std::vector<double> step_means(const std::vector<double>& values);
  bool stop() const { return stop_; }
  /// --resume: rank 0 reads RUN's newest checkpoint and sends its bytes, every rank loads
  /// them (so the other hosts need no copy). Returns the step.
  int64_t resume(const std::string& run_dir, const CheckpointParts& parts);
  /// Runs write (an epoch's outputs: samples, model.pt) on rank 0 while the others wait for
  /// it, for up to an hour rather than under the job's timeout (a diffusion model's samples
  /// take minutes). The time is left out of report_throughput's rates.
  void write_outputs(int64_t step, const std::function<void()>& write);
  /// A checkpoint of the job: check_in_sync, then rank 0 writes it (checkpoint.h).
  void save_checkpoint(const std::string& run_dir, int64_t step, const CheckpointParts& parts, int keep);
  /// An Error on every rank unless every rank holds rank 0's parameters bit for bit (the
  /// BatchNorm statistics are per rank and not compared). Run at each checkpoint.
  void check_in_sync(const CheckpointParts& parts, int64_t step);
  /// After the last step, on rank 0's stderr: the job's images per second and each rank's,
  /// with the share of its time spent in collectives; seconds is the run's time, less the
  /// time in write_outputs. Nothing alone.
  void report_throughput(int64_t steps, int64_t global_batch, double seconds);

 private:
  std::unique_ptr<Distributed> dist_;
  bool stop_ = false;
  double output_seconds_ = 0;
};

}  // namespace latentkit
