// Data parallelism on c10d / Gloo, with two ranks as two threads on loopback.
#include "latentkit/train/distributed.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "latentkit/core/files.h"
#include "latentkit/core/signals.h"
#include "latentkit/models/generator.h"
#include "latentkit/train/ddpm_trainer.h"
#include "latentkit/train/losses.h"
#include "latentkit/train/vae_trainer.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test_util::expect_error;

int free_port() { return free_local_port(); }

DistOptions rank_of_two(int rank, const std::string& master, double timeout) {
  DistOptions o;
  o.rank = rank;
  o.world_size = 2;
  o.master = master;
  o.timeout_seconds = timeout;
  return o;
}

// Runs body(rank, group) on two ranks, each in its own thread with its own Group
// (Distributed or TrainJob) made from the rank's options. The ranks' errors go to errors,
// or else are expected to be none.
template <typename Group>
void on_two_ranks(const std::function<void(int, Group&)>& body, double timeout = 20,
                  std::vector<std::string>* errors = nullptr) {
  const std::string master = "127.0.0.1:" + std::to_string(free_port());
  std::vector<std::string> failures(2);
  auto rank = [&](int r) {
    try {
      Group group(rank_of_two(r, master, timeout));
      body(r, group);
    } catch (const std::exception& e) {
      failures[r] = e.what();
    }
  };
  std::thread a(rank, 0), b(rank, 1);
  a.join();
  b.join();
  if (errors) {
    *errors = failures;
  } else {
    EXPECT_EQ(failures[0], "");
    EXPECT_EQ(failures[1], "");
  }
}

void two_ranks(const std::function<void(int, Distributed&)>& body) { on_two_ranks<Distributed>(body); }

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
  // The sampler: each rank's shares of an epoch's shuffled global batches are disjoint, and
  // together they are the epoch, every image once.
  BatchOrder order(100, 10, 7);
  std::vector<torch::Tensor> rank_rows(2);
  for (int r = 0; r < 2; ++r) {
    std::vector<torch::Tensor> parts;
    for (int64_t step = 0; step < order.steps_per_epoch(); ++step) parts.push_back(shard_batch(order.batch_indices(0, step), r, 2));
    rank_rows[r] = torch::cat(parts);
  }
  EXPECT_EQ(rank_rows[0].numel(), 50);
  EXPECT_FALSE(torch::isin(rank_rows[0], rank_rows[1]).any().item<bool>());
  EXPECT_TRUE(torch::equal(std::get<0>(torch::sort(torch::cat(rank_rows))), torch::arange(100)));
  EXPECT_FALSE(torch::equal(rank_rows[0], torch::arange(50))) << "the epoch is shuffled";
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

TEST(TrainJob, AloneIsTheIdentity) {
  TrainJob job(DistOptions{});
  EXPECT_EQ(job.world_size(), 1);
  EXPECT_TRUE(job.is_main());
  EXPECT_EQ(job.log(), stderr);
  const torch::Tensor batch = torch::arange(6);
  EXPECT_TRUE(job.share(batch).is_same(batch));
  EXPECT_FALSE(job.share(torch::Tensor()).defined());
  job.check_batch(7);
  EXPECT_EQ(job.step_means({1.5, -2.0}), (std::vector<double>{1.5, -2.0}));
  EXPECT_FALSE(job.stop());
  request_stop();
  job.step_means({});
  EXPECT_TRUE(job.stop());
  clear_stop_request();
  DistOptions lonely;
  lonely.rank = 1;
  expect_error([&] { TrainJob j(lonely); }, {"--rank 1 needs a --world-size above it"});
}

TEST(TrainJob, TwoRanksShareMeanCheckAndResume) {
  // Rank 0 saves a checkpoint in a folder rank 1 never reads: resume sends it.
  test_util::TempDir dir;
  const std::string run = dir.str() + "/run";
  torch::nn::Sequential saved = tiny_net(3);
  save_checkpoint(run, 12, CheckpointParts{{{"net", saved.get()}}, {}, {}});
  on_two_ranks<TrainJob>([&](int r, TrainJob& job) {
    EXPECT_EQ(job.rank(), r);
    EXPECT_EQ(job.is_main(), r == 0);
    EXPECT_EQ(job.log(), r == 0 ? stderr : nullptr);
    EXPECT_TRUE(torch::equal(job.share(torch::arange(8)), torch::arange(4 * r, 4 * r + 4)));
    expect_error([&] { job.check_batch(7); }, {"--batch 7 does not divide by the 2 ranks"});
    const std::vector<double> means = job.step_means({r + 1.0, 10.0 * r});
    EXPECT_EQ(means, (std::vector<double>{1.5, 5.0}));
    EXPECT_FALSE(job.stop());
    torch::nn::Sequential net = tiny_net(50 + r);
    CheckpointParts parts{{{"net", net.get()}}, {}, {}};
    EXPECT_EQ(job.resume(r == 0 ? run : dir.str() + "/nowhere", parts), 12);
    auto mine = net->parameters(), want = saved->parameters();
    for (size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(torch::equal(mine[i], want[i])) << "rank " << r;
    job.check_in_sync(parts, 12);
  });
}

TEST(TrainJob, RanksAugmentTheirRowsOfTheGlobalBatch) {
  // DiffAugment draws for the global batch and keeps the rank's rows, so a job augments as
  // one process does. The ranks are threads sharing LibTorch's default generator: each
  // seeds it and augments under a lock.
  const torch::Tensor global = torch::randn({8, 4, 16, 16});
  const DiffAugment all = parse_diff_augment("diffaug");
  torch::manual_seed(7);
  const torch::Tensor alone = diff_augment(global, all);
  std::mutex lock;
  on_two_ranks<TrainJob>([&](int r, TrainJob& job) {
    std::lock_guard<std::mutex> hold(lock);
    torch::manual_seed(7);
    const torch::Tensor mine = diff_augment(job.share(global), all, &job);
    EXPECT_TRUE(torch::equal(mine, alone.slice(0, 4 * r, 4 * r + 4))) << "rank " << r;
  });
}

TEST(TrainJob, RanksThatDriftApartAreAnError) {
  std::vector<std::string> errors;
  on_two_ranks<TrainJob>([](int r, TrainJob& job) {
    torch::nn::Sequential net = tiny_net(7);
    if (r == 1) {
      torch::NoGradGuard no_grad;
      net->parameters()[2][0][3] += 1e-6;  // one weight, a hair apart
    }
    job.check_in_sync(CheckpointParts{{{"net", net.get()}}, {}, {}}, 40);
  }, 20, &errors);
  for (const std::string& e : errors) {
    EXPECT_NE(e.find("at step 40 the parameters of rank(s) 1 differ from rank 0's"), std::string::npos) << e;
  }
}

// The latentkit program beside this test program (both are built into build/).
std::string latentkit_program() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string() + "/latentkit";
}

// Runs `latentkit train ARGS` and returns its exit code; stderr goes to log.
int run_train(const std::string& args, const std::string& log) {
  const std::string command = latentkit_program() + " train " + args + " 2> " + log;
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The largest relative difference between two modules' parameters (max |a - b| / max |b|
// per tensor), and the name of the tensor where it is.
std::pair<double, std::string> max_relative_difference(torch::nn::Module& a, torch::nn::Module& b) {
  std::pair<double, std::string> worst{0.0, ""};
  auto pa = a.named_parameters(), pb = b.named_parameters();
  EXPECT_EQ(pa.size(), pb.size());
  for (const auto& item : pb) {
    const torch::Tensor& want = item.value();
    const double scale = want.abs().max().item<double>();
    const double d = (pa[item.key()] - want).abs().max().item<double>() / std::max(scale, 1e-12);
    if (d > worst.first) worst = {d, item.key()};
  }
  return worst;
}

// The real program, two ranks as two processes with --nproc 2, against one process on the
// same global batch: a diffusion U-Net (GroupNorm) and a VAE have no BatchNorm, so after 20
// steps the parameters agree within 1e-5 relative. The job checks at each checkpoint that
// both ranks hold the same parameters bit for bit, and fails otherwise.
TEST(TrainJob, TwoProcessesTrainLikeOneOnTheGlobalBatch) {
  ASSERT_TRUE(path_exists(latentkit_program())) << latentkit_program();
  test_util::TempDir dir;
  const std::string common = " --data shapes:96 --size 28 --batch 8 --max-steps 20 --seed 3 --threads 1 --checkpoint-every 10 --precision fp32";
  // Width 16: at width 8 each GroupNorm group is one channel, so a convolution's bias before
  // it has a gradient of exactly zero in exact arithmetic, and Adam turns the rounding noise
  // of that zero (different in any other summation order) into full-size steps.
  const std::string ddpm = "--model ddpm --width 16 --mults 1,2 --dropout 0 --timesteps 50 --sample-steps 2" + common;
  const std::string vae = "--model vae --latent-dim 4 --width 8" + common;
  for (const auto& [name, args] : {std::pair<std::string, std::string>{"ddpm", ddpm}, {"vae", vae}}) {
    const std::string one = dir.str() + "/" + name + "-1", two = dir.str() + "/" + name + "-2";
    ASSERT_EQ(run_train(args + " --out " + one, one + ".log"), 0) << read_file(one + ".log");
    ASSERT_EQ(run_train(args + " --nproc 2 --out " + two, two + ".log"), 0) << read_file(two + ".log");
    const std::string log = read_file(two + ".log");
    EXPECT_NE(log.find("starting 2 ranks on this host"), std::string::npos) << log;
    EXPECT_NE(log.find("rank 1 of 2 joined the job"), std::string::npos) << log;
    EXPECT_NE(log.find("throughput:"), std::string::npos) << log;
    EXPECT_NE(log.find("  rank 1: "), std::string::npos) << log;
    // Rank 0 alone writes the log, with the job's mean losses: the same rows as one process's.
    auto rows = [](const std::string& run) {
      std::vector<nlohmann::json> out;
      std::istringstream lines(read_file(run + "/train.jsonl"));
      for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
      return out;
    };
    const std::vector<nlohmann::json> rows_one = rows(one), rows_two = rows(two);
    ASSERT_EQ(rows_two.size(), rows_one.size()) << read_file(two + "/train.jsonl");
    const char* loss = name == "ddpm" ? "loss" : "recon";
    for (size_t i = 0; i < rows_one.size(); ++i) {
      EXPECT_EQ(rows_two[i]["step"], rows_one[i]["step"]);
      EXPECT_EQ(rows_two[i]["ranks"], 2);
      EXPECT_NEAR(rows_two[i][loss].get<double>(), rows_one[i][loss].get<double>(),
                  1e-5 * std::abs(rows_one[i][loss].get<double>()))
          << name << " row " << i;
    }
    const std::string checkpoint = "/checkpoints/step-0000020.pt";
    if (name == "ddpm") {
      DdpmTrainOptions o = read_ddpm_run_options(one);
      UNet a(o.model.unet), a_ema(o.model.unet), b(o.model.unet), b_ema(o.model.unet);
      torch::optim::Adam opt_a(a->parameters()), opt_b(b->parameters());
      torch::Tensor wa = torch::zeros({2}, torch::kFloat64), wb = wa.clone();
      load_checkpoint(one + checkpoint, {{{"unet", a.get()}, {"unet_ema", a_ema.get()}}, {{"optimizer", &opt_a}}, {{"log_window", &wa}}});
      load_checkpoint(two + checkpoint, {{{"unet", b.get()}, {"unet_ema", b_ema.get()}}, {{"optimizer", &opt_b}}, {{"log_window", &wb}}});
      const auto [d, where] = max_relative_difference(*b, *a);
      EXPECT_LT(d, 1e-5) << where;
      const auto [d_ema, where_ema] = max_relative_difference(*b_ema, *a_ema);
      EXPECT_LT(d_ema, 1e-5) << where_ema;
    } else {
      VaeTrainOptions o = read_vae_run_options(one);
      Vae a(o.model), b(o.model);
      torch::optim::Adam opt_a(a->parameters()), opt_b(b->parameters());
      torch::Tensor wa = torch::zeros({3}, torch::kFloat64), wb = wa.clone();
      load_checkpoint(one + checkpoint, {{{"vae", a.get()}}, {{"optimizer", &opt_a}}, {{"log_window", &wa}}});
      load_checkpoint(two + checkpoint, {{{"vae", b.get()}}, {{"optimizer", &opt_b}}, {{"log_window", &wb}}});
      const auto [d, where] = max_relative_difference(*b, *a);
      EXPECT_LT(d, 1e-5) << where;
    }
  }
}

}  // namespace
}  // namespace latentkit
