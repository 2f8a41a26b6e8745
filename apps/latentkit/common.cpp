// What every command shares: the process set-up of commands that run LibTorch, validators
// with plain messages, and the training loop's options on the command line.
#include <cmath>
#include <cstdio>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/signals.h"
#include "latentkit/core/threads.h"

namespace latentkit::app {
namespace {

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
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
        return value >= min ? std::string() : "must be >= " + number_text(min) + ", got " + text;
      },
      ">= " + number_text(min));
}

CLI::Validator greater_than(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "'" + text + "' is not a number";
        return value > min && std::isfinite(value) ? std::string() : "must be > " + number_text(min) + ", got " + text;
      },
      "> " + number_text(min));
}

void LoopFlags::bind(CLI::App* command, TrainLoopOptions& o, bool in_run_folder) {
  options_ = &o;
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

bool LoopFlags::given(const std::string& flag) const {
  const CLI::Option* option = command_->get_option_no_throw(flag);
  return option && option->count() > 0;
}

TrainLoopOptions LoopFlags::apply(TrainLoopOptions base) const {
  const TrainLoopOptions& g = *options_;
  if (resume_) {
    for (const char* flag : {"--data", "--split", "--size", "--channels", "--limit", "--data-seed", "--batch", "--seed"}) {
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
