// The gradient all-reduce of data-parallel training, timed between two ranks as two
// processes, for the networks the shipped models train, and fitted to the ring all-reduce
// model T(p) = 2 (p - 1) / p * S / B + 2 (p - 1) * a to estimate 8 and 64 hosts.
//   bench_distributed [--netns NS0,NS1 --address IP0] [--compute FAMILY=MS:SHARE,...] RUN...
// RUN: shipped runs (models/fashion-dcgan ...); their config.json gives the networks, whose
// parameters are counted (both networks of a GAN or pix2pix; the EMA is not sent). The ranks
// run on loopback (127.0.0.1), and with --netns also each in its own network namespace,
// rank 0's reached at IP0 (bench/distributed.sh builds the veth pair): the same sizes over
// a real network interface, with the ratio to loopback. --compute gives a family's compute
// time per step and images per rank (bench/distributed.sh measures them): the bench then
// estimates the job's img/s and efficiency with one rank per host, on the link measured last
// and on a 10 GbE datacenter link (B = 1.25 GB/s, a = 0.05 ms).
// Rank mode (started by the bench itself): --rank R --master HOST:PORT --sizes B,B,... --out F
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/threads.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/vae.h"
#include "latentkit/train/distributed.h"

using namespace latentkit;

namespace {

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

// Parameters whose gradients a training step of this run's family all-reduces.
int64_t trained_parameters(const std::string& run, std::string* family) {
  const nlohmann::json config = read_json(run + "/config.json");
  *family = config.value("family", "");
  const nlohmann::json& model = config.at("model");
  if (*family == "vae" || *family == "cvae") return count(*Vae(vae_options_from_json(model)));
  if (*family == "ddpm" || *family == "cddpm") return count(*UNet(ddpm_options_from_json(model).unet));
  if (*family == "pix2pix") {
    const Pix2pixOptions o = pix2pix_options_from_json(model);
    return count(*Pix2pixGenerator(o)) + count(*PatchDiscriminator(o));
  }
  const DcganOptions o = dcgan_options_from_json(model);
  return count(*DcganGenerator(o)) + count(*DcganDiscriminator(o));
}

// One rank: for each size, 3 warm-up and 20 timed averages of one gradient of that many
// bytes (float32, through TrainJob's bucketed path); rank 0 writes "bytes ms" lines to out.
int rank_main(int rank, const std::string& master, const std::vector<int64_t>& sizes, const std::string& out) {
  set_threads(1);
  DistOptions o;
  o.rank = rank;
  o.world_size = 2;
  o.master = master;
  o.timeout_seconds = 60;
  Distributed dist(o);
  std::ostringstream lines;
  for (int64_t bytes : sizes) {
    torch::Tensor p = torch::zeros({bytes / 4}, torch::requires_grad());
    p.mutable_grad() = torch::ones({bytes / 4});
    for (int i = 0; i < 3; ++i) dist.average_gradients({p});
    dist.barrier();
    const auto start = std::chrono::steady_clock::now();
    const int reps = 20;
    for (int i = 0; i < reps; ++i) dist.average_gradients({p});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / reps;
    lines << bytes << " " << ms << "\n";
  }
  if (rank == 0) write_file_atomic(out, lines.str());
  return 0;
}

// Starts the two ranks (in the namespaces, if any) and returns rank 0's "bytes ms" table.
std::vector<std::pair<int64_t, double>> time_all_reduce(const std::vector<int64_t>& sizes,
                                                        const std::vector<std::string>& netns,
                                                        const std::string& address) {
  const std::string master = address + ":" + std::to_string(free_local_port());
  std::string size_list;
  for (int64_t s : sizes) size_list += (size_list.empty() ? "" : ",") + std::to_string(s);
  char out_template[] = "/tmp/bench_distributed_XXXXXX";
  const int fd = mkstemp(out_template);
  close(fd);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    std::vector<std::string> args;
    if (!netns.empty()) args = {"ip", "netns", "exec", netns[r]};
    args.insert(args.end(), {self, "--rank", std::to_string(r), "--master", master, "--sizes", size_list, "--out",
                             out_template});
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      std::perror("exec");
      _exit(127);
    }
    pids.push_back(pid);
  }
  bool ok = true;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  std::vector<std::pair<int64_t, double>> table;
  std::istringstream lines(read_file(out_template));
  std::remove(out_template);
  if (!ok) throw Error("a rank of the all-reduce bench failed (its message is above)");
  int64_t bytes = 0;
  double ms = 0;
  while (lines >> bytes >> ms) table.emplace_back(bytes, ms);
  return table;
}

// Least-squares fit of T = S / B + c over the table (p = 2: c = 2 a): returns (B bytes/ms, a ms).
std::pair<double, double> fit(const std::vector<std::pair<int64_t, double>>& t) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [s, ms] : t) {
    n += 1;
    sx += static_cast<double>(s);
    sy += ms;
    sxx += static_cast<double>(s) * s;
    sxy += s * ms;
  }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  const double intercept = (sy - slope * sx) / n;
  return {1.0 / slope, std::max(intercept, 0.0) / 2};
}

double ring_ms(double bytes, int p, const std::pair<double, double>& link) {
  return 2.0 * (p - 1) / p * bytes / link.first + 2.0 * (p - 1) * link.second;
}

void print_table(const char* where, const std::vector<std::string>& names, const std::vector<int64_t>& params,
                 const std::vector<std::pair<int64_t, double>>& t, const std::vector<std::pair<int64_t, double>>* peer) {
  const auto link = fit(t);
  std::printf("\n%s: fitted bandwidth %.2f GB/s, latency %.3f ms per message\n", where, link.first / 1e6, link.second);
  std::printf("| run | trained parameters | MB per step | 2 ranks measured ms | %s | 8 hosts est. ms | 64 hosts est. ms |\n",
              peer ? "vs loopback" : "fit ms");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < t.size(); ++i) {
    const double bytes = static_cast<double>(t[i].first);
    char other[32];
    if (peer) {
      std::snprintf(other, sizeof(other), "%.2fx", t[i].second / (*peer)[i].second);
    } else {
      std::snprintf(other, sizeof(other), "%.2f", ring_ms(bytes, 2, link));
    }
    std::printf("| %s | %.2fM | %.1f | %.2f | %s | %.2f | %.2f |\n", names[i].c_str(), params[i] / 1e6, bytes / 1e6,
                t[i].second, other, ring_ms(bytes, 8, link), ring_ms(bytes, 64, link));
  }
}

struct Compute {
  double ms = 0;
  double share = 0;
};

void print_scaling(const std::vector<std::string>& families, const std::vector<std::string>& names,
                   const std::vector<int64_t>& params, const std::map<std::string, Compute>& compute,
                   const std::pair<double, double>& link, const char* link_name) {
  const std::pair<double, double> datacenter{1.25e6, 0.05};  // bytes per ms, ms
  std::printf("\none rank per host, each with its share of the batch: job img/s = p x share / (c + T(p)), "
              "efficiency = c / (c + T(p))\n");
  std::printf("| run | c ms per step | share | 8 hosts (%s) | 64 hosts (%s) | 8 hosts (10 GbE) | 64 hosts (10 GbE) |\n",
              link_name, link_name);
  std::printf("|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = compute.find(families[i]);
    if (it == compute.end()) continue;
    const Compute& c = it->second;
    const double bytes = 4.0 * params[i];
    std::string cells;
    for (const auto* l : {&link, &datacenter}) {
      for (int p : {8, 64}) {
        const double t = ring_ms(bytes, p, *l);
        char cell[64];
        std::snprintf(cell, sizeof(cell), " %.0f img/s, %.0f%% |", p * c.share * 1000 / (c.ms + t), 100 * c.ms / (c.ms + t));
        cells += cell;
      }
    }
    std::printf("| %s | %.1f | %g |%s\n", names[i].c_str(), c.ms, c.share, cells.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 8 && args[0] == "--rank") {
      std::vector<int64_t> sizes;
      std::istringstream list(args[5]);
      for (std::string s; std::getline(list, s, ',');) sizes.push_back(std::stoll(s));
      return rank_main(std::stoi(args[1]), args[3], sizes, args[7]);
    }
    std::vector<std::string> netns, runs;
    std::string address;
    std::map<std::string, Compute> compute;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--compute" && i + 1 < args.size()) {
        std::istringstream list(args[++i]);
        for (std::string item; std::getline(list, item, ',');) {
          const size_t eq = item.find('='), colon = item.find(':');
          if (eq == std::string::npos || colon == std::string::npos || colon < eq) continue;
          compute[item.substr(0, eq)] = {std::stod(item.substr(eq + 1, colon - eq - 1)), std::stod(item.substr(colon + 1))};
        }
      } else if (args[i] == "--netns" && i + 1 < args.size()) {
        std::istringstream list(args[++i]);
        for (std::string s; std::getline(list, s, ',');) netns.push_back(s);
      } else if (args[i] == "--address" && i + 1 < args.size()) {
        address = args[++i];
      } else {
        runs.push_back(args[i]);
      }
    }
    if (runs.empty() || (!netns.empty() && (netns.size() != 2 || address.empty()))) {
      std::fprintf(stderr, "usage: bench_distributed [--netns NS0,NS1 --address IP0] RUN...\n");
      return 2;
    }
    std::vector<std::string> names, families;
    std::vector<int64_t> params, sizes;
    for (const auto& run : runs) {
      std::string family;
      params.push_back(trained_parameters(run, &family));
      families.push_back(family);
      names.push_back(std::filesystem::path(run).filename().string() + " (" + family + ")");
      sizes.push_back(params.back() * 4);
    }
    std::printf("gradient all-reduce between 2 ranks (2 processes, 1 thread each, c10d / Gloo), mean of 20\n");
    const auto loopback = time_all_reduce(sizes, {}, "127.0.0.1");
    print_table("loopback (127.0.0.1)", names, params, loopback, nullptr);
    std::pair<double, double> link = fit(loopback);
    const char* link_name = "loopback";
    if (!netns.empty()) {
      const auto veth = time_all_reduce(sizes, netns, address);
      print_table(("veth pair between namespaces " + netns[0] + " and " + netns[1] + " (" + address + ")").c_str(),
                  names, params, veth, &loopback);
      link = fit(veth);
      link_name = "veth";
    }
    if (!compute.empty()) print_scaling(families, names, params, compute, link, link_name);
    std::printf("\nestimates: ring all-reduce T(p) = 2(p-1)/p x S/B + 2(p-1) x latency, with B and latency fitted above\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
