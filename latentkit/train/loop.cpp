#include "latentkit/train/loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <ATen/autocast_mode.h>

#include "latentkit/core/error.h"
#include "latentkit/core/json.h"
#include "latentkit/core/files.h"
#include "latentkit/core/plot.h"
#include "latentkit/core/progress.h"
#include "latentkit/core/threads.h"

namespace latentkit {
namespace {

// CPU autocast to bfloat16 for the scope of one step. The cast cache is cleared on the way
// out, so no step sees another's casts (resume stays exact).
class AutocastGuard {
 public:
  explicit AutocastGuard(bool on) : on_(on) {
    if (!on_) return;
    was_enabled_ = at::autocast::is_cpu_enabled();
    was_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(was_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

std::string format_value(double value) {
  if (std::isnan(value)) return "nan";
  char text[32];
  std::snprintf(text, sizeof(text), "%.4g", value);
  return text;
}

std::string lower_lr(double lr) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", lr / 10);
  return text;
}

// The error of a run whose values stopped being finite at step. The last good checkpoint is
// the newest one from step - 2 or before (the one of step - 1 holds the weights whose loss at
// step was not finite); rank 0 makes checkpoints/latest name it, so --resume starts there.
Error diverged(const std::string& run, int64_t step, const std::string& values, const TrainTask& task, double lr,
               bool write) {
  std::string good;
  for (const auto& [at, path] : list_checkpoints(run)) {
    if (at <= step - 2) good = path;
  }
  std::string text = "training diverged at step " + std::to_string(step) + " (" + values + "); ";
  if (good.empty()) {
    text += "no good checkpoint was written before it: delete " + run + " and start again with a lower --lr than " +
            format_value(lr) + " (e.g. --lr " + lower_lr(lr) + ")";
  } else {
    if (write) write_file_atomic(run + "/checkpoints/latest", std::filesystem::path(good).filename().string() + "\n");
    text += "the last good checkpoint is " + good + " (checkpoints/latest now names it): continue from it with a lower "
            "learning rate than " + format_value(lr) + ": " + task.resume_command(run) + " --lr " + lower_lr(lr);
  }
  return Error(text, ErrorKind::kInternal);
}

void set_learning_rate(const CheckpointParts& parts, double lr) {
  for (const auto& [name, optimizer] : parts.optimizers) {
    for (auto& group : optimizer->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

}  // namespace

const NameTable<Precision>& precision_names() {
  static const NameTable<Precision> table("--precision",
                                          {{Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}, {Precision::kAuto, "auto"}});
  return table;
}

bool cpu_has_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

Precision resolve_precision(Precision precision) {
  if (precision != Precision::kAuto) return precision;
  return cpu_has_bf16() ? Precision::kBf16 : Precision::kFp32;
}

void TrainLoopOptions::validate() const {
  check_input(!out.empty(), "--out is required: the run folder to write, e.g. --out runs/fashion");
  check_input(epochs >= 1, "--epochs must be >= 1, got " + std::to_string(epochs));
  check_input(batch >= 1, "--batch must be >= 1, got " + std::to_string(batch));
  check_input(lr > 0 && std::isfinite(lr), "--lr must be a positive number");
  check_input(threads >= 0, "--threads must be >= 0 (0 = all cores)");
  check_input(checkpoint_every >= 1, "--checkpoint-every must be >= 1");
  check_input(keep_checkpoints >= 1, "--keep-checkpoints must be >= 1");
  check_input(log_every >= 1, "--log-every must be >= 1");
  check_input(sample_count >= 1, "the sample grid needs at least one image");
  check_input(max_steps >= 0, "--max-steps must be >= 0 (0 = no limit)");
}

nlohmann::json train_loop_options_to_json(const TrainLoopOptions& o) {
  return {{"epochs", o.epochs},
          {"batch", o.batch},
          {"lr", o.lr},
          {"seed", o.seed},
          {"threads", o.threads},
          {"checkpoint_every", o.checkpoint_every},
          {"keep_checkpoints", o.keep_checkpoints},
          {"log_every", o.log_every},
          {"sample_count", o.sample_count},
          {"max_steps", o.max_steps},
          {"precision", precision_names().name(o.precision)}};
}

TrainLoopOptions train_loop_options_from_json(const nlohmann::json& t, const nlohmann::json& data,
                                              const std::string& run_dir) {
  TrainLoopOptions o;
  try {
    o.out = run_dir;
    o.data = data_options_from_json(data, run_dir + "/config.json");
    o.epochs = t.at("epochs").get<int64_t>();
    o.batch = t.at("batch").get<int64_t>();
    o.lr = t.at("lr").get<double>();
    o.seed = t.at("seed").get<uint64_t>();
    o.threads = t.value("threads", 0);
    o.checkpoint_every = t.value("checkpoint_every", o.checkpoint_every);
    o.keep_checkpoints = t.value("keep_checkpoints", o.keep_checkpoints);
    o.log_every = t.value("log_every", o.log_every);
    o.sample_count = t.value("sample_count", o.sample_count);
    o.max_steps = t.value("max_steps", int64_t{0});
    o.precision = precision_names().parse(t.value("precision", std::string("fp32")));
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit wrote");
  }
  return o;
}

std::string TrainTask::resume_command(const std::string& run_dir) const {
  return "latentkit train --resume --out " + run_dir;
}

std::vector<double> TrainTask::window_means(const std::vector<double>& sums, double steps, int64_t, int64_t) const {
  std::vector<double> means;
  for (double s : sums) means.push_back(s / steps);
  return means;
}

std::string describe_data(const Dataset& data) {
  return data.spec + " (" + std::to_string(data.size()) + " images " + std::to_string(data.channels()) + "x" +
         std::to_string(data.height()) + "x" + std::to_string(data.width()) + ")";
}

std::string sample_path(const std::string& run_dir, int64_t epoch) {
  char name[64];
  std::snprintf(name, sizeof(name), "/samples/epoch-%03lld.png", static_cast<long long>(epoch));
  return run_dir + name;
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

TrainSummary run_training(const TrainLoopOptions& options, TrainTask& task, bool resume) {
  TrainLoopOptions o = options;
  o.validate();
  const std::string& run = o.out;
  TrainJob job(o.dist);
  if (job.is_main()) {
    check_run_folder(run, resume);
    // The temp files that writers killed mid-write left behind (a live writer's stay).
    for (const char* sub : {"", "/checkpoints", "/samples"}) remove_atomic_temp_files(run + sub);
  }

  TrainSummary summary;
  summary.threads = set_threads(o.threads);
  // config.json records what auto resolved to, so a resume on another CPU computes the same way.
  o.precision = summary.precision = resolve_precision(o.precision);
  const bool bf16 = summary.precision == Precision::kBf16;

  // The data order: every example once per epoch in a (seed, epoch) shuffle, or the task's own draws.
  const int64_t examples = task.load_data(o);
  job.check_batch(o.batch);
  std::optional<BatchOrder> order;
  if (examples > 0) order.emplace(examples, o.batch, o.seed);
  const int64_t steps_per_epoch = order ? order->steps_per_epoch() : task.epoch_steps();
  check_input(steps_per_epoch >= 1, "an epoch of " + run + " has no steps");
  const int64_t schedule_steps = o.epochs * steps_per_epoch;  // what a learning-rate schedule spans
  const int64_t total_steps = o.max_steps > 0 ? std::min(schedule_steps, o.max_steps) : schedule_steps;

  torch::manual_seed(o.seed);
  task.build(o, job);
  CheckpointParts parts = task.parts();
  if (bf16) {
    for (const auto& [name, module] : parts.modules) to_channels_last(*module);
  }
  const std::vector<std::string> names = task.value_names();
  // Value sums of the current log window and its step count: saved with checkpoints so that a
  // resumed run logs the same means as an uninterrupted one.
  torch::Tensor window = torch::zeros({static_cast<int64_t>(names.size()) + 1}, torch::kFloat64);
  parts.tensors.push_back({"log_window", &window});

  int64_t step = 0;
  // The plotted curves: the logged values and the derived ones, restored from train.jsonl on resume.
  std::vector<PlotSeries> curves;
  auto add_point = [&](int64_t at, const std::vector<std::pair<std::string, double>>& row) {
    if (curves.empty()) {
      for (const auto& [name, value] : row) curves.push_back({name, {}, {}});
    }
    for (size_t k = 0; k < row.size() && k < curves.size(); ++k) {
      curves[k].x.push_back(static_cast<double>(at));
      curves[k].y.push_back(row[k].second);
    }
  };
  if (resume) step = job.resume(run, parts);
  // A checkpoint of an epoch end is written before that epoch's outputs: a run stopped in
  // between (killed, or a full disk) would miss them, so a resume there writes them again,
  // and its train.jsonl loses the epoch's extra row, which they append again.
  const bool redo_epoch_outputs = resume && step > 0 && (step % steps_per_epoch == 0 || step == total_steps);
  if (job.is_main()) {
    make_dirs(run + "/samples");
    for (const nlohmann::json& row : resume ? trim_train_log(run, step, redo_epoch_outputs ? names.front() : "")
                                            : std::vector<nlohmann::json>{}) {
      if (!row.contains(names.front())) continue;  // an epoch's extra row
      std::vector<double> means;
      for (const auto& name : names) means.push_back(row.contains(name) && row[name].is_number() ? row[name].get<double>() : NAN);
      std::vector<std::pair<std::string, double>> point;
      for (size_t k = 0; k < names.size(); ++k) point.push_back({names[k], means[k]});
      for (const auto& d : task.derived_values(means)) point.push_back(d);
      add_point(row["step"].get<int64_t>(), point);
    }
    const nlohmann::json config = task.config(o);
    check_json_numbers(config, "the options");  // the CLI's checks keep them in range; this catches the rest
    write_json(run + "/config.json", config);  // on resume: records an extended --epochs
  }
  if (job.is_main()) {
    std::fprintf(stderr, "training %s, %lld steps/epoch, batch %lld, %d thread%s, %s%s\n", task.describe().c_str(),
                 static_cast<long long>(steps_per_epoch), static_cast<long long>(o.batch), summary.threads,
                 summary.threads == 1 ? "" : "s", precision_names().name(summary.precision).c_str(),
                 job.describe(o.batch).c_str());
  }

  auto write_model_and_plot = [&] {
    task.save_model(run + "/model.pt");
    if (!curves.empty()) write_png(run + "/losses.png", render_line_plot(curves, task.plot_title(), "step"));
  };
  std::string epoch_status;  // the first value of the task's last epoch row (e.g. test accuracy)
  // The outputs of the epoch that ends at step: samples, model.pt, losses.png, the task's row.
  auto write_epoch_outputs = [&](int64_t at) {
    const int64_t epoch = (at - 1) / steps_per_epoch;
    job.write_outputs(at, [&] {
      task.write_samples(sample_path(run, epoch + 1));
      write_model_and_plot();
      // The task's results of a whole epoch (not of a run cut short by --max-steps, so that
      // a run continued past it logs what an uninterrupted one logs).
      nlohmann::json extra = at % steps_per_epoch == 0 ? task.epoch_end(run, epoch + 1) : nlohmann::json();
      if (extra.is_object()) {
        extra["step"] = at;
        for (const auto& [key, value] : extra.items()) {
          if (value.is_number()) {
            epoch_status = " " + key + " " + format_value(value.get<double>());
            break;
          }
        }
        extra["epoch"] = epoch + 1;
        append_jsonl(run + "/train.jsonl", extra);
      }
    });
  };
  if (redo_epoch_outputs) write_epoch_outputs(step);
  const int64_t kill_at = test_kill_step();
  Progress progress("train", total_steps, step, job.log());
  const auto run_start = std::chrono::steady_clock::now();
  auto window_start = run_start;
  int64_t window_steps = 0;  // steps timed in this window (after a resume, fewer than its sums hold)
  const int64_t first_step = step;
  std::string status;        // the last log row, for the progress line
  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    StepInput in;
    in.step = step;
    in.epoch = epoch;
    if (order) in.indices = order->batch_indices(epoch, step % steps_per_epoch);
    in.job = &job;
    in.channels_last = bf16;
    const double lr = task.learning_rate(o, step, schedule_steps);
    set_learning_rate(parts, lr);
    std::vector<double> values;
    {
      AutocastGuard autocast(bf16);
      values = task.step(in);
    }
    ++step;
    ++window_steps;

    // The job's means: the values of the global batch (the ranks' shares are equal).
    const std::vector<double> means = job.step_means(values);
    std::string bad;
    for (size_t k = 0; k < means.size(); ++k) {
      if (!std::isfinite(means[k])) bad += (bad.empty() ? "" : ", ") + names[k] + " " + format_value(means[k]);
    }
    if (!bad.empty()) throw diverged(run, step, bad, task, o.lr, job.is_main());
    std::vector<double> with_count = means;
    with_count.push_back(1.0);
    window += torch::tensor(with_count, torch::kFloat64);

    const bool epoch_end = step % steps_per_epoch == 0 || step == total_steps;
    if (step % o.log_every == 0 || step == total_steps) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      const int64_t n = static_cast<int64_t>(names.size());
      std::vector<double> sums(n);
      for (int64_t k = 0; k < n; ++k) sums[k] = window[k].item<double>();
      const std::vector<double> row_means =
          task.window_means(sums, window[n].item<double>(), (step - 1) / o.log_every * o.log_every + 1, step);
      std::vector<std::pair<std::string, double>> point;
      for (int64_t k = 0; k < n; ++k) point.push_back({names[k], row_means[k]});
      for (const auto& d : task.derived_values(row_means)) point.push_back(d);
      add_point(step, point);
      if (job.is_main()) {
        nlohmann::json row = {{"step", step},
                              {"epoch", static_cast<double>(step) / steps_per_epoch},
                              {"img_per_s", seconds > 0 ? window_steps * o.batch / seconds : 0.0},
                              {"lr", lr},
                              {"threads", summary.threads},
                              {"ranks", job.world_size()}};
        for (const auto& [name, value] : point) row[name] = value;
        append_jsonl(run + "/train.jsonl", row);
      }
      status.clear();
      for (size_t k = 0; k < point.size() && k < 3; ++k) status += " " + point[k].first + " " + format_value(point[k].second);
      window.zero_();
      window_steps = 0;
      window_start = now;
    }
    if (step % o.checkpoint_every == 0 || epoch_end) job.save_checkpoint(run, step, parts, o.keep_checkpoints);
    if (epoch_end) write_epoch_outputs(step);
    progress.update(step, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) + status + epoch_status,
                    static_cast<double>(o.batch));

    if (step == kill_at) std::raise(SIGKILL);  // the kill-and-resume tests
    if (job.stop() && step < total_steps) {  // Ctrl-C or SIGTERM on any rank: all stop after this step
      if (job.is_main()) {
        if (!(step % o.checkpoint_every == 0 || epoch_end)) save_checkpoint(run, step, parts, o.keep_checkpoints);
        write_model_and_plot();
      }
      summary.interrupted = true;
      break;
    }
  }
  summary.steps = step;
  summary.steps_run = step - first_step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  summary.images_per_second = summary.seconds > 0 ? summary.steps_run * o.batch / summary.seconds : 0.0;
  job.report_throughput(summary.steps_run, o.batch, summary.seconds);
  const int64_t epochs_reached = (step + steps_per_epoch - 1) / steps_per_epoch;
  progress.finish((summary.interrupted ? "interrupted, checkpoint saved; " : "") + std::string("epoch ") +
                  std::to_string(epochs_reached) + "/" + std::to_string(o.epochs) + status + epoch_status);
  return summary;
}

}  // namespace latentkit
