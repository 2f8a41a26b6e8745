// c10d's Gloo process group is compiled in LibTorch behind USE_C10D_GLOO; its header is not
// in the precompiled header, so defining the macro here is enough.
#define USE_C10D_GLOO 1
#include "latentkit/train/distributed.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "latentkit/core/error.h"

namespace latentkit {

std::pair<std::string, int> parse_master(const std::string& text) {
  const size_t colon = text.rfind(':');
  auto bad = [&] { return Error("--master must be HOST:PORT (e.g. 10.0.0.1:29500), got '" + text + "'"); };
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) throw bad();
  const std::string port_text = text.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) throw bad();
  const int port = std::stoi(port_text);
  if (port > 65535) throw bad();
  return {text.substr(0, colon), port};
}

torch::Tensor shard_batch(const torch::Tensor& global, int rank, int world_size) {
  const int64_t n = global.size(0);
  check_input(world_size >= 1 && rank >= 0 && rank < world_size, "distributed: rank must be in 0..world size - 1");
  check_input(n % world_size == 0, "distributed: the batch of " + std::to_string(n) + " does not divide by the " +
                                       std::to_string(world_size) + " ranks; pass a --batch that does");
  const int64_t share = n / world_size;
  return global.slice(0, rank * share, (rank + 1) * share);
}

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

Distributed::Distributed(const DistOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {
  check_input(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
              "--rank must be in 0.." + std::to_string(options.world_size - 1) + " for --world-size " +
                  std::to_string(options.world_size));
  check_input(options.timeout_seconds > 0, "distributed: the timeout must be > 0");
  const auto [host, port] = parse_master(options.master);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1000));
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = options.rank == 0;
    so.numWorkers = options.world_size;
    so.waitWorkers = false;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    // Rank 0 is reached at the master's address; every rank offers the interface that
    // routes there (Gloo picks it from the hostname).
    go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, options.rank, options.world_size, go);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(options.rank) + " could not join the job at " + options.master + " (" +
                std::to_string(options.world_size) + " ranks expected, timeout " +
                std::to_string(static_cast<int>(options.timeout_seconds)) + " s): " + std::string(e.what()).substr(0, 300));
  }
}

Distributed::~Distributed() = default;

void Distributed::run(const char* what, const std::function<void()>& collective) {
  try {
    collective();
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(rank()) + ": " + what + " failed: a rank of the job died or stopped answering "
                "(timeout " + std::to_string(static_cast<int>(options_.timeout_seconds)) + " s): " +
                std::string(e.what()).substr(0, 300));
  }
}

void Distributed::broadcast(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& p : module.parameters()) tensors.push_back(p);
  for (const auto& b : module.buffers()) tensors.push_back(b);
  for (torch::Tensor& t : tensors) {
    std::vector<at::Tensor> one{t.data()};
    run("broadcast", [&] { impl_->group->broadcast(one)->wait(); });
  }
}

int64_t Distributed::average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  int64_t buckets = 0;
  size_t i = 0;
  while (i < grads.size()) {
    // A bucket: consecutive gradients of one dtype up to bucket_bytes (at least one).
    std::vector<torch::Tensor> members{grads[i]};
    int64_t bytes = grads[i].numel() * grads[i].element_size();
    size_t j = i + 1;
    while (j < grads.size() && grads[j].scalar_type() == grads[i].scalar_type() &&
           bytes + grads[j].numel() * grads[j].element_size() <= bucket_bytes) {
      bytes += grads[j].numel() * grads[j].element_size();
      members.push_back(grads[j++]);
    }
    std::vector<torch::Tensor> flat_parts;
    for (const auto& g : members) flat_parts.push_back(g.reshape({-1}));
    std::vector<at::Tensor> flat{torch::cat(flat_parts)};
    run("gradient all-reduce", [&] { impl_->group->allreduce(flat)->wait(); });
    flat[0].div_(world_size());
    int64_t offset = 0;
    for (auto& g : members) {
      g.copy_(flat[0].slice(0, offset, offset + g.numel()).view_as(g));
      offset += g.numel();
    }
    ++buckets;
    i = j;
  }
  return buckets;
}

torch::Tensor Distributed::sum(const torch::Tensor& t) {
  std::vector<at::Tensor> one{t.clone()};
  run("all-reduce", [&] { impl_->group->allreduce(one)->wait(); });
  return one[0];
}

void Distributed::barrier() {
  run("barrier", [&] { impl_->group->barrier()->wait(); });
}

}  // namespace latentkit
