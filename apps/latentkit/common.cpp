// What every command shares: the process set-up of commands that run LibTorch, validators
// with plain messages, and the training loop's options on the command line (with --nproc's
// launcher of local ranks).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/json.h"
#include "latentkit/core/signals.h"
#include "latentkit/core/threads.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/distributed.h"

namespace latentkit::app {
namespace {

// This program's arguments, as the kernel has them.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0; start < all.size();) {
    const size_t end = all.find('\0', start);
    args.push_back(all.substr(start, end - start));
    start = end == std::string::npos ? all.size() : end + 1;
  }
  return args;
}

volatile sig_atomic_t g_launcher_signal = 0;
void on_launcher_signal(int signal) { g_launcher_signal = signal; }

// --nproc N: this process becomes the launcher of an N-rank job on this host, like torchrun.
// Each rank is this program again with the same arguments (less --nproc) plus --rank,
// --world-size and --master (127.0.0.1 and a free port, unless --master was given), and
// --threads cores / N unless --threads was given. A signal to the launcher reaches the
// ranks as SIGTERM (a terminal's Ctrl-C reaches them itself): they stop together after a
// checkpoint. When a rank fails, the others end on their own within the timeout (their
// collectives fail); any still running after that are killed.
void launch_local_job(int n, const TrainLoopOptions& loop, const LoopFlags& flags, const std::string& run_dir) {
  check_input(loop.dist.world_size == 1,
              "--nproc starts the ranks on this host itself; to join a job across hosts give --rank, --world-size and "
              "--master instead");
  const std::string master =
      flags.given("--master") ? loop.dist.master : "127.0.0.1:" + std::to_string(free_local_port());
  std::vector<std::string> base;
  const std::vector<std::string> args = own_arguments();
  check_input(!args.empty(), "--nproc: cannot read this program's arguments from /proc/self/cmdline");
  // The arguments less the ones each rank gets its own value of (and their values).
  for (size_t i = 1; i < args.size(); ++i) {
    bool own = false;
    for (const char* flag : {"--nproc", "--master", "--rank", "--world-size"}) {
      if (args[i] == flag) {
        own = true;
        ++i;  // and its value
      } else if (args[i].rfind(std::string(flag) + "=", 0) == 0) {
        own = true;
      }
      if (own) break;
    }
    if (!own) base.push_back(args[i]);
  }
  const int threads = flags.given("--threads") ? loop.threads
                                                 : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / n);
  if (!flags.given("--threads")) base.insert(base.end(), {"--threads", std::to_string(threads)});
  std::fprintf(stderr, "starting %d ranks on this host (master %s, %d thread%s each)\n", n, master.c_str(), threads,
               threads == 1 ? "" : "s");
  std::fflush(stderr);
  for (int sig : {SIGINT, SIGTERM}) std::signal(sig, on_launcher_signal);
  std::map<pid_t, int> ranks;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> child = base;
    child.insert(child.begin(), args[0]);
    child.insert(child.end(), {"--rank", std::to_string(r), "--world-size", std::to_string(n), "--master", master});
    std::vector<char*> argv;
    for (auto& a : child) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    check_input(pid >= 0, "--nproc: cannot start rank " + std::to_string(r));
    if (pid == 0) {
      for (int sig : {SIGINT, SIGTERM}) std::signal(sig, SIG_DFL);
      ::execv("/proc/self/exe", argv.data());
      std::perror("latentkit --nproc: exec");
      ::_exit(127);
    }
    ranks[pid] = r;
  }
  int failed_rank = -1, failed_code = 0;
  bool killed = false;
  auto failed_at = std::chrono::steady_clock::now();
  const auto grace = std::chrono::duration<double>(loop.dist.timeout_seconds + 10);
  while (!ranks.empty()) {
    if (g_launcher_signal != 0) {
      for (const auto& [pid, r] : ranks) ::kill(pid, SIGTERM);
      g_launcher_signal = 0;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && ranks.count(pid)) {
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && failed_rank < 0) {
        failed_rank = ranks[pid];
        failed_code = code;
        failed_at = std::chrono::steady_clock::now();
        std::fprintf(stderr, "rank %d exited with code %d; the other ranks end within the timeout (%g s)\n",
                     failed_rank, code, loop.dist.timeout_seconds);
      }
      ranks.erase(pid);
      continue;
    }
    if (failed_rank >= 0 && !killed && std::chrono::steady_clock::now() - failed_at > grace) {
      for (const auto& [other, r] : ranks) {
        std::fprintf(stderr, "rank %d still runs after the timeout: killed\n", r);
        ::kill(other, SIGKILL);
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failed_rank >= 0) {
    const auto latest = latest_checkpoint(run_dir);
    throw Error("the job failed: rank " + std::to_string(failed_rank) + " exited with code " +
                    std::to_string(failed_code) + " (its message is above)" +
                    (latest ? "; the last checkpoint, " + *latest + ", is intact: continue with --resume" : ""),
                failed_code == 2 ? ErrorKind::kBadInput : ErrorKind::kInternal);
  }
}

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

// Run folders keep options in config.json, whose reader refuses numbers at or beyond 2^31.
std::string below_json_limit(double value, const std::string& text) {
  return value < kJsonNumberLimit ? std::string() : "must be below 2147483648 (2^31), got " + text;
}

}  // namespace

void torch_command(CLI::App* command, int& threads, Work work, std::function<void()> run, const std::string& threads_help) {
  command->add_option("--threads", threads, threads_help)->check(CLI::Range(0, 256))->capture_default_str();
  command->callback([&threads, work, run = std::move(run)] {
    set_threads(threads);
    if (work == Work::kLong) install_stop_handlers();
    run();
  });
}

CLI::Validator at_least(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "'" + text + "' is not a number";
        if (value < min) return "must be >= " + number_text(min) + ", got " + text;
        return below_json_limit(value, text);
      },
      ">= " + number_text(min));
}

CLI::Validator greater_than(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "'" + text + "' is not a number";
        if (!(value > min)) return "must be > " + number_text(min) + ", got " + text;
        return below_json_limit(value, text);
      },
      "> " + number_text(min));
}

void LoopFlags::bind(CLI::App* command, TrainLoopOptions& o, bool in_run_folder) {
  options_ = &o;
  // bf16 where the CPU has it: bench/bf16_quality.sh found FID within 5% of fp32 for a DCGAN
  // and a DDPM (docs/performance.md).
  o.precision = Precision::kAuto;
  command_ = command;
  add_data_options(command, o.data);
  if (!in_run_folder) {
    command->add_option("--out", o.out, "run folder to write (or continue with --resume)")->required();
    command->add_option("--epochs", o.epochs, "passes over the data")->check(at_least(1))->capture_default_str();
  }
  command->add_flag("--resume", resume_, "continue the run from its latest checkpoint (exactly where it stopped)");
  command->add_option("--max-steps", o.max_steps, "stop after this many steps (0: run all epochs)")
      ->check(at_least(0))
      ->capture_default_str();
  command->add_option("--batch", o.batch, "images per step (for all ranks together)")->check(CLI::Range(1, 65536))->capture_default_str();
  command->add_option("--lr", o.lr, "Adam learning rate")->check(greater_than(0))->capture_default_str();
  command->add_option("--seed", o.seed, "fixes initialisation, data order, latents and augmentation")->capture_default_str();
  add_enum_option(command, "--precision", o.precision, precision_names(),
                  "arithmetic of the training step (bf16: CPU autocast to bfloat16, channels-last; auto: bf16 where "
                  "the CPU has AVX512-BF16)");
  command->add_option("--checkpoint-every", o.checkpoint_every, "steps between checkpoints (also at every epoch end)")
      ->check(at_least(1))
      ->capture_default_str();
  command->add_option("--keep-checkpoints", o.keep_checkpoints, "newest checkpoints to keep")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  command->add_option("--log-every", o.log_every, "steps between lines of train.jsonl")->check(at_least(1))->capture_default_str();
  command->add_option("--nproc", nproc_, "data-parallel: start N ranks on this host (c10d / Gloo), each on its share of --batch")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command->add_option("--rank", o.dist.rank, "data-parallel across hosts: this process's rank, 0 to --world-size - 1")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command->add_option("--world-size", o.dist.world_size, "data-parallel across hosts: the number of ranks in the job")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  command->add_option("--master", o.dist.master, "data-parallel: HOST:PORT where rank 0 listens (its address as the others reach it)")
      ->capture_default_str();
  command->add_option("--dist-timeout", o.dist.timeout_seconds, "data-parallel: seconds to wait for a rank before the job ends with an error")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
}

bool LoopFlags::launch(const std::string& run_dir) const {
  if (nproc_ <= 1) return false;
  launch_local_job(nproc_, *options_, *this, run_dir);
  return true;
}

bool LoopFlags::given(const std::string& flag) const {
  const CLI::Option* option = command_->get_option_no_throw(flag);
  return option && option->count() > 0;
}

TrainLoopOptions LoopFlags::apply(TrainLoopOptions base) const {
  const TrainLoopOptions& g = *options_;
  if (resume_) {
    for (const char* flag : {"--data", "--split", "--size", "--channels", "--background", "--limit", "--data-seed", "--batch", "--seed"}) {
      check_input(!given(flag), std::string(flag) + " cannot change on --resume: the run's config.json fixes it (drop " +
                                    flag + ")");
    }
  }
  base.out = g.out;
  base.dist = g.dist;
  if (given("--threads")) base.threads = g.threads;
  if (given("--epochs")) base.epochs = g.epochs;
  if (given("--max-steps")) base.max_steps = g.max_steps;
  if (given("--lr")) base.lr = g.lr;
  if (given("--precision")) base.precision = g.precision;
  if (given("--checkpoint-every")) base.checkpoint_every = g.checkpoint_every;
  if (given("--keep-checkpoints")) base.keep_checkpoints = g.keep_checkpoints;
  if (given("--log-every")) base.log_every = g.log_every;
  if (resume_) return base;
  base.data = g.data;
  base.precision = g.precision;  // the command line's default (auto), not the library's
  if (given("--batch")) base.batch = g.batch;
  if (given("--seed")) base.seed = g.seed;
  return base;
}

void report_training(const TrainSummary& s, const std::string& run_dir, const std::string& resume_command, int rank) {
  if (rank != 0) return;
  if (s.interrupted) {
    std::fprintf(stderr, "stopped at step %lld; continue with: %s\n", static_cast<long long>(s.steps), resume_command.c_str());
  }
  std::fprintf(stderr, "run folder: %s (model.pt, samples/, losses.png, train.jsonl, checkpoints/)\n", run_dir.c_str());
}

}  // namespace latentkit::app
