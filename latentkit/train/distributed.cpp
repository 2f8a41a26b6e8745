// c10d's Gloo process group is compiled in LibTorch behind USE_C10D_GLOO; its header is not
// in the precompiled header, so defining the macro here is enough.
#define USE_C10D_GLOO 1
#include "latentkit/train/distributed.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <glog/logging.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/signals.h"

namespace latentkit {

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  check_input(fd >= 0, "distributed: cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  check_input(ok, "distributed: cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

namespace {

// The address of this host's interface that routes to host:port (a UDP socket "connected"
// there sends nothing, but the kernel picks the source address). Gloo listens on it, so
// that the other ranks reach this one the way this one reaches the master.
std::string local_address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  check_input(::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) == 0 && found != nullptr,
              "--master: cannot resolve the host '" + host + "'");
  std::string address;
  for (addrinfo* a = found; a != nullptr && address.empty(); a = a->ai_next) {
    const int fd = ::socket(a->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = local.ss_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
      if (::inet_ntop(local.ss_family, raw, text, sizeof(text)) != nullptr) address = text;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  check_input(!address.empty(), "--master: no network interface of this host routes to " + host);
  return address;
}

}  // namespace

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
  // c10d logs each failed connection attempt through glog before it throws; the Error
  // below says it once.
  struct QuietGlog {
    int saved = FLAGS_minloglevel;
    QuietGlog() { FLAGS_minloglevel = google::GLOG_FATAL; }
    ~QuietGlog() { FLAGS_minloglevel = saved; }
  } quiet;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = options.rank == 0;
    so.numWorkers = options.world_size;
    so.waitWorkers = false;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    // Each rank listens on its interface that routes to the master (for rank 0, the
    // master's own address), or on the one GLOO_SOCKET_IFNAME names, as in PyTorch.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    go->devices.push_back(interface != nullptr && *interface != '\0'
                              ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                              : c10d::ProcessGroupGloo::createDeviceForHostname(local_address_towards(host, port)));
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, options.rank, options.world_size, go);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(options.rank) + " could not join the job at " + options.master + " (" +
                std::to_string(options.world_size) + " ranks expected, timeout " +
                std::to_string(static_cast<int>(options.timeout_seconds)) + " s): " + std::string(e.what()).substr(0, 300));
  }
}

Distributed::~Distributed() = default;

void Distributed::run(const char* what, const std::function<void()>& collective) {
  const auto start = std::chrono::steady_clock::now();
  try {
    collective();
    collective_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(rank()) + ": " + what + " failed: a rank of the job died or stopped answering "
                "(timeout " + std::to_string(static_cast<int>(options_.timeout_seconds)) + " s): " +
                std::string(e.what()).substr(0, 300), ErrorKind::kInternal);
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

void Distributed::broadcast(torch::Tensor& t) {
  std::vector<at::Tensor> one{t};
  run("broadcast", [&] { impl_->group->broadcast(one)->wait(); });
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

void Distributed::wait_for_rank0(const std::string& key, double timeout_seconds) {
  try {
    if (is_main()) {
      impl_->store->set(key, std::vector<uint8_t>{1});
    } else {
      impl_->store->wait({key}, std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
    }
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(rank()) + ": waiting for rank 0 to write its outputs failed: rank 0 died or "
                "took longer than " + std::to_string(static_cast<int>(timeout_seconds)) + " s: " +
                std::string(e.what()).substr(0, 300), ErrorKind::kInternal);
  }
}

TrainJob::TrainJob(const DistOptions& options) {
  check_input(options.rank == 0 || options.rank < options.world_size,
              "--rank " + std::to_string(options.rank) + " needs a --world-size above it (the job's number of ranks)");
  if (options.world_size <= 1) return;
  dist_ = std::make_unique<Distributed>(options);
  if (!is_main()) {
    std::fprintf(stderr, "rank %d of %d joined the job at %s\n", rank(), world_size(), options.master.c_str());
  }
}

torch::Tensor TrainJob::share(const torch::Tensor& global) const {
  return dist_ && global.defined() ? shard_batch(global, rank(), world_size()) : global;
}

std::string TrainJob::describe(int64_t global_batch) const {
  if (!dist_) return "";
  return " per rank, " + std::to_string(world_size()) + " ranks x " + std::to_string(global_batch / world_size()) +
         " images per step";
}

void TrainJob::check_batch(int64_t batch) const {
  check_input(batch % world_size() == 0, "--batch " + std::to_string(batch) + " does not divide by the " +
                                             std::to_string(world_size()) + " ranks; pass a multiple of " +
                                             std::to_string(world_size()));
}

void TrainJob::broadcast(torch::nn::Module& module) {
  if (dist_) dist_->broadcast(module);
}

void TrainJob::average_gradients(torch::nn::Module& module) {
  if (dist_) dist_->average_gradients(module.parameters());
}

std::vector<double> TrainJob::step_means(const std::vector<double>& values) {
  if (!dist_) {
    stop_ = stop_requested();
    return values;
  }
  std::vector<double> all = values;
  all.push_back(stop_requested() ? 1.0 : 0.0);
  torch::Tensor sums = dist_->sum(torch::tensor(all, torch::kFloat64));
  std::vector<double> means(values.size());
  for (size_t i = 0; i < values.size(); ++i) means[i] = sums[static_cast<int64_t>(i)].item<double>() / world_size();
  stop_ = sums[static_cast<int64_t>(values.size())].item<double>() > 0;
  return means;
}

int64_t TrainJob::resume(const std::string& run_dir, const CheckpointParts& parts) {
  if (!dist_) return resume_latest(run_dir, parts);
  std::string bytes, name;
  if (is_main()) {
    const auto latest = checkpoint_to_resume(run_dir);
    if (latest) {
      name = *latest;
      bytes = read_file(name);
    }
  }
  torch::Tensor size = torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64);
  dist_->broadcast(size);
  if (size.item<int64_t>() == 0) {  // stopped before its first checkpoint: every rank starts at step 0
    if (is_main()) std::fprintf(stderr, "resumed %s from its start (it stopped before its first checkpoint)\n", run_dir.c_str());
    return 0;
  }
  torch::Tensor data = torch::empty({size.item<int64_t>()}, torch::kUInt8);
  if (is_main()) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  dist_->broadcast(data);
  if (!is_main()) {
    bytes.assign(static_cast<const char*>(data.data_ptr()), static_cast<size_t>(data.numel()));
    name = "rank 0's " + run_dir + "/checkpoints/latest";
  }
  const int64_t step = load_checkpoint_bytes(bytes, name, parts);
  if (is_main()) std::fprintf(stderr, "resumed %s from %s (step %lld) on %d ranks\n", run_dir.c_str(), name.c_str(),
                              static_cast<long long>(step), world_size());
  return step;
}

void TrainJob::write_outputs(int64_t step, const std::function<void()>& write) {
  const auto start = std::chrono::steady_clock::now();
  if (is_main()) write();
  if (dist_) dist_->wait_for_rank0("outputs/" + std::to_string(step), 3600);
  output_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void TrainJob::save_checkpoint(const std::string& run_dir, int64_t step, const CheckpointParts& parts, int keep) {
  check_in_sync(parts, step);
  if (is_main()) latentkit::save_checkpoint(run_dir, step, parts, keep);
}

void TrainJob::check_in_sync(const CheckpointParts& parts, int64_t step) {
  if (!dist_) return;
  std::vector<torch::Tensor> params;
  for (const auto& [name, module] : parts.modules) {
    for (const auto& p : module->parameters()) params.push_back(p.detach().reshape({-1}));
  }
  torch::Tensor mine = torch::cat(params);
  torch::Tensor rank0 = mine.clone();
  dist_->broadcast(rank0);
  torch::Tensor differ = torch::zeros({world_size()}, torch::kFloat64);
  differ[rank()] = (mine != rank0).sum().to(torch::kFloat64);
  differ = dist_->sum(differ);
  std::string ranks;
  for (int r = 1; r < world_size(); ++r) {
    if (differ[r].item<double>() > 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!ranks.empty()) {
    throw Error("distributed: at step " + std::to_string(step) + " the parameters of rank(s) " + ranks +
                    " differ from rank 0's; every rank must run the same build with the same flags",
                ErrorKind::kInternal);
  }
}

void TrainJob::report_throughput(int64_t steps, int64_t global_batch, double run_seconds) {
  const double seconds = run_seconds - output_seconds_;
  if (!dist_ || seconds <= 0) return;
  torch::Tensor comm = torch::zeros({world_size()}, torch::kFloat64);
  comm[rank()] = dist_->collective_seconds();
  comm = dist_->sum(comm);
  if (!is_main()) return;
  const double share = static_cast<double>(global_batch) / world_size();
  std::fprintf(stderr, "throughput: %.1f img/s for the job (%d ranks x %g images per step; %.1f s writing epoch outputs left out)\n",
               steps * global_batch / seconds, world_size(), share, output_seconds_);
  for (int r = 0; r < world_size(); ++r) {
    const double c = std::min(comm[r].item<double>(), seconds);
    std::fprintf(stderr, "  rank %d: %.1f img/s; %.0f%% of its time in collectives (%.1f ms per step), %.1f img/s without\n",
                 r, steps * share / seconds, 100 * c / seconds, steps > 0 ? 1000 * c / steps : 0.0,
                 seconds - c > 0 ? steps * share / (seconds - c) : 0.0);
  }
}

}  // namespace latentkit
