// Data parallelism on c10d / Gloo, with two ranks as two threads on loopback.
#include "latentkit/train/distributed.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "latentkit/models/generator.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test_util::expect_error;

// A port that was free a moment ago (bound to 0, read back, closed).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

DistOptions rank_of_two(int rank, const std::string& master, double timeout) {
  DistOptions o;
  o.rank = rank;
  o.world_size = 2;
  o.master = master;
  o.timeout_seconds = timeout;
  return o;
}

// Runs body(rank, dist) on two ranks, each in its own thread with its own process group.
void two_ranks(const std::function<void(int, Distributed&)>& body, double timeout = 20) {
  const std::string master = "127.0.0.1:" + std::to_string(free_port());
  std::vector<std::string> failures(2);
  auto rank = [&](int r) {
    try {
      Distributed d(rank_of_two(r, master, timeout));
      body(r, d);
    } catch (const std::exception& e) {
      failures[r] = e.what();
    }
  };
  std::thread a(rank, 0), b(rank, 1);
  a.join();
  b.join();
  EXPECT_EQ(failures[0], "");
  EXPECT_EQ(failures[1], "");
}

// A small network with weights drawn from its own generator: the ranks are threads, and
// torch::manual_seed would be shared between them.
torch::nn::Sequential tiny_net(uint64_t seed) {
  torch::nn::Sequential net(torch::nn::Linear(6, 8), torch::nn::Tanh(), torch::nn::Linear(8, 1));
  torch::Generator rng = make_rng(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.copy_(torch::randn(p.sizes(), rng) * 0.3);
  return net;
}

TEST(Distributed, MasterAndShards) {
  EXPECT_EQ(parse_master("10.0.0.1:29500"), (std::pair<std::string, int>{"10.0.0.1", 29500}));
  EXPECT_EQ(parse_master("host-a:1").second, 1);
  for (const char* bad : {"10.0.0.1", ":80", "host:", "host:http", "host:70000"}) {
    expect_error([&] { parse_master(bad); }, {"HOST:PORT"});
  }
  torch::Tensor batch = torch::arange(8);
  EXPECT_TRUE(torch::equal(shard_batch(batch, 0, 2), torch::arange(0, 4)));
  EXPECT_TRUE(torch::equal(shard_batch(batch, 1, 2), torch::arange(4, 8)));
  EXPECT_TRUE(torch::equal(torch::cat({shard_batch(batch, 0, 4), shard_batch(batch, 1, 4), shard_batch(batch, 2, 4),
                                       shard_batch(batch, 3, 4)}),
                           batch));
  expect_error([&] { shard_batch(batch, 0, 3); }, {"does not divide by the 3 ranks"});
}

TEST(Distributed, BroadcastAndBucketedAverage) {
  two_ranks([](int r, Distributed& d) {
    torch::nn::Sequential net = tiny_net(100 + r);  // different weights on each rank
    d.broadcast(*net);
    torch::nn::Sequential rank0 = tiny_net(100);
    auto mine = net->parameters(), theirs = rank0->parameters();
    for (size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(torch::equal(mine[i], theirs[i])) << "rank " << r << " parameter " << i;
    // Gradients r + 1 everywhere average to 1.5, whatever the buckets. The gradients are
    // 192, 32, 32 and 4 bytes: one bucket of 1 MiB, three of 64 bytes, four of 1 byte.
    for (int64_t bucket : {int64_t{1} << 20, int64_t{64}, int64_t{1}}) {
      for (auto& p : net->parameters()) p.mutable_grad() = torch::full_like(p, r + 1.0);
      const int64_t buckets = d.average_gradients(net->parameters(), bucket);
      EXPECT_EQ(buckets, bucket == 1 ? 4 : bucket == 64 ? 3 : 1) << bucket;
      for (auto& p : net->parameters()) EXPECT_TRUE(torch::allclose(p.grad(), torch::full_like(p, 1.5)));
    }
    EXPECT_DOUBLE_EQ(d.sum(torch::tensor({r + 1.0}, torch::kFloat64)).item<double>(), 3.0);
  });
}

TEST(Distributed, TwoRanksTrainLikeOneProcessOnTheGlobalBatch) {
  // 20 Adam steps on shards of a 16-row batch match one process on the whole batch.
  torch::Generator rng = make_rng(1);
  const torch::Tensor x = torch::randn({20, 16, 6}, rng), y = torch::randn({20, 16, 1}, rng);
  auto train = [&](torch::nn::Sequential& net, Distributed* d, int r, int w) {
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
    for (int64_t step = 0; step < 20; ++step) {
      torch::Tensor xs = shard_batch(x[step], r, w), ys = shard_batch(y[step], r, w);
      opt.zero_grad();
      torch::mse_loss(net->forward(xs), ys).backward();
      if (d) d->average_gradients(net->parameters());
      opt.step();
    }
  };
  torch::nn::Sequential single = tiny_net(7);
  train(single, nullptr, 0, 1);
  std::vector<std::vector<torch::Tensor>> params(2);
  two_ranks([&](int r, Distributed& d) {
    torch::nn::Sequential net = tiny_net(7 + 10 * r);  // rank 1's own start is replaced by rank 0's
    d.broadcast(*net);
    train(net, &d, r, 2);
    for (const auto& p : net->parameters()) params[r].push_back(p.detach().clone());
  });
  auto expected = single->parameters();
  ASSERT_EQ(params[0].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(params[0][i], params[1][i])) << "the ranks agree, parameter " << i;
    const double rel = ((params[0][i] - expected[i]).abs().max() / expected[i].abs().max()).item<double>();
    EXPECT_LT(rel, 1e-5) << "parameter " << i;
  }
}

// Rank 0 all-reduces while rank 1 does `other` instead; returns rank 0's error and the
// seconds until it came.
std::pair<std::string, double> lonely_all_reduce(const std::function<void()>& other) {
  std::string message;
  double seconds = -1;
  const std::string master = "127.0.0.1:" + std::to_string(free_port());
  auto rank = [&](int r) {
    try {
      Distributed d(rank_of_two(r, master, 2));
      if (r == 1) return other();
      torch::Tensor p = torch::zeros({4}, torch::requires_grad());
      p.mutable_grad() = torch::ones({4});
      const auto start = std::chrono::steady_clock::now();
      try {
        d.average_gradients({p});
      } catch (const Error& e) {
        message = e.what();
      }
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } catch (const std::exception& e) {
      message = std::string("setup: ") + e.what();
    }
  };
  std::thread a(rank, 0), b(rank, 1);
  a.join();
  b.join();
  return {message, seconds};
}

TEST(Distributed, ADeadOrHangingRankEndsTheJobWithinTheTimeout) {
  // Rank 1 leaves the job (its connections close): rank 0 hears of it at once.
  auto [gone, gone_s] = lonely_all_reduce([] {});
  EXPECT_NE(gone.find("rank 0: gradient all-reduce failed: a rank of the job died or stopped answering"),
            std::string::npos)
      << gone;
  EXPECT_LT(gone_s, 2.5);
  // Rank 1 hangs, connections open: rank 0 gives up after the 2 s timeout, not never.
  auto [hung, hung_s] = lonely_all_reduce([] { std::this_thread::sleep_for(std::chrono::milliseconds(4000)); });
  EXPECT_NE(hung.find("timeout 2 s"), std::string::npos) << hung;
  EXPECT_GT(hung_s, 1.5);
  EXPECT_LT(hung_s, 3.9);
  // Nobody at the master: joining fails after the timeout with a message naming it.
  DistOptions alone = rank_of_two(1, "127.0.0.1:" + std::to_string(free_port()), 1);
  expect_error([&] { Distributed d(alone); }, {"rank 1 could not join the job at " + alone.master});
}

}  // namespace
}  // namespace latentkit
