#include "latentkit/train/vae_trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/plot.h"
#include "latentkit/core/progress.h"
#include "latentkit/core/threads.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

struct VaeLogRow {
  int64_t step;
  double recon, kl;
};

void validate(const VaeTrainOptions& o) {
  check_input(!o.out.empty(), "--out is required: the run folder to write, e.g. --out runs/vae");
  check_input(o.epochs >= 1, "--epochs must be >= 1, got " + std::to_string(o.epochs));
  check_input(o.batch >= 1, "--batch must be >= 1, got " + std::to_string(o.batch));
  check_input(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  check_input(o.checkpoint_every >= 1 && o.keep_checkpoints >= 1 && o.log_every >= 1,
              "--checkpoint-every, --keep-checkpoints and --log-every must be >= 1");
  check_input(o.threads >= 0 && o.max_steps >= 0, "--threads and --max-steps must be >= 0");
}

void write_loss_plot(const std::string& run, const std::vector<VaeLogRow>& rows) {
  PlotSeries elbo{"-ELBO", {}, {}}, recon{"reconstruction", {}, {}}, kl{"KL", {}, {}};
  for (const VaeLogRow& r : rows) {
    for (PlotSeries* s : {&elbo, &recon, &kl}) s->x.push_back(static_cast<double>(r.step));
    elbo.y.push_back(r.recon + r.kl);
    recon.y.push_back(r.recon);
    kl.y.push_back(r.kl);
  }
  write_png(run + "/losses.png", render_line_plot({elbo, recon, kl}, "VAE loss per image (nats)", "step"));
}

}  // namespace

nlohmann::json vae_config_to_json(const VaeTrainOptions& o) {
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", o.model.num_classes() > 0 ? "cvae" : "vae"},
          {"classes", o.class_names},
          {"model", vae_options_to_json(o.model)},
          {"data", data_options_to_json(o.data)},
          {"train", train_options_json(o)}};
}

VaeTrainOptions read_vae_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  const std::string family = config.value("family", "");
  check_input(family == "vae" || family == "cvae", run_dir + " is not a VAE run");
  try {
    VaeTrainOptions o;
    o.out = run_dir;
    o.model = vae_options_from_json(config.at("model"));
    o.data = data_options_from_json(config.at("data"), run_dir + "/config.json");
    read_train_options(config.at("train"), o);
    o.class_names = config.value("classes", std::vector<std::string>{});
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_vae(const VaeTrainOptions& options_in, bool resume) {
  VaeTrainOptions o = options_in;
  validate(o);
  const std::string& run = o.out;
  const std::string config_path = run + "/config.json";
  TrainJob job(o.dist);
  if (job.is_main()) check_run_folder(run, resume);
  TrainSummary summary;
  summary.threads = set_threads(o.threads);
  Dataset data = load_training_data(o, "the VAE");
  job.check_batch(o.batch);
  const int64_t classes = o.model.num_classes();
  BatchOrder order(data.size(), o.batch, o.seed);
  const int64_t steps_per_epoch = order.steps_per_epoch();
  const int64_t total_steps = o.max_steps > 0 ? std::min(o.epochs * steps_per_epoch, o.max_steps) : o.epochs * steps_per_epoch;

  torch::manual_seed(o.seed);
  Vae net(o.model);
  job.broadcast(*net);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  torch::Tensor window = torch::zeros({3}, torch::kFloat64);  // recon, kl, steps of the log window
  CheckpointParts parts{{{"vae", net.get()}}, {{"optimizer", &opt}}, {{"log_window", &window}}};
  torch::Generator sample_rng = make_rng(o.seed ^ 0x5eedULL);
  const torch::Tensor sample_z = torch::randn({o.sample_count, o.model.latent_dim()}, sample_rng);
  // Conditional grids: one column per class.
  const torch::Tensor sample_labels =
      classes > 0 ? torch::arange(o.sample_count, torch::kInt64).remainder(classes) : torch::Tensor();

  int64_t step = 0;
  std::vector<VaeLogRow> history;
  if (resume) step = job.resume(run, parts);
  if (job.is_main()) {
    make_dirs(run + "/samples");
    for (const nlohmann::json& row : resume ? trim_train_log(run, step) : std::vector<nlohmann::json>{}) {
      history.push_back({row["step"].get<int64_t>(), row.value("recon", NAN), row.value("kl", NAN)});
    }
    write_json(config_path, vae_config_to_json(o));
  }
  const int64_t kill_at = test_kill_step();
  if (job.is_main()) std::fprintf(stderr, "training %s (latent %lld, beta %g, %s) on %s (%lld images %lldx%lldx%lld), %lld steps/epoch, %d thread%s%s\n",
               classes > 0 ? ("cvae, " + std::to_string(classes) + " classes,").c_str() : "vae",
               static_cast<long long>(o.model.latent_dim()), o.model.beta(), o.model.recon().c_str(), o.data.spec.c_str(),
               static_cast<long long>(data.size()), static_cast<long long>(data.channels()),
               static_cast<long long>(data.height()), static_cast<long long>(data.width()),
               static_cast<long long>(steps_per_epoch), summary.threads, summary.threads == 1 ? "" : "s",
               job.describe(o.batch).c_str());

  auto save_outputs = [&](int64_t epoch) {
    save_module(*net, run + "/model.pt");
    write_loss_plot(run, history);
    if (epoch <= 0) return;
    torch::NoGradGuard no_grad;
    net->eval();
    torch::Tensor images = 2 * torch::sigmoid(net->decode_logits(sample_z, sample_labels)) - 1;
    net->train();
    char name[64];
    std::snprintf(name, sizeof(name), "/samples/epoch-%03lld.png", static_cast<long long>(epoch));
    write_png(run + name, make_grid(images, static_cast<int>(classes)));
  };

  Progress progress("train", total_steps, step, job.log());
  const auto run_start = std::chrono::steady_clock::now();
  auto window_start = run_start;
  int64_t window_steps = 0;
  const int64_t first_step = step;
  net->train();
  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    // This rank's share of the global batch, and of the noise drawn for all of it.
    torch::Tensor indices = job.share(order.batch_indices(epoch, step % steps_per_epoch));
    torch::Tensor eps = job.share(torch::randn({o.batch, o.model.latent_dim()}));
    torch::Tensor x = normalize_images(data.images.index_select(0, indices));
    VaeLoss l = net->loss(x, classes > 0 ? data.labels.index_select(0, indices) : torch::Tensor(), eps);
    opt.zero_grad();
    l.loss.backward();
    job.average_gradients(*net);
    opt.step();
    ++step;
    ++window_steps;
    const std::vector<double> means = job.step_means({l.recon.item<double>(), l.kl.item<double>()});
    const double recon = means[0], kl = means[1];
    if (!std::isfinite(recon) || !std::isfinite(kl)) {
      throw Error("training diverged at step " + std::to_string(step) + " (reconstruction " + std::to_string(recon) +
                      ", KL " + std::to_string(kl) + "); try a lower --lr",
                  ErrorKind::kInternal);
    }
    window += torch::tensor({recon, kl, 1.0}, torch::kFloat64);
    if (step % o.log_every == 0 || step == total_steps) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      VaeLogRow row{step, window[0].item<double>() / window[2].item<double>(),
                    window[1].item<double>() / window[2].item<double>()};
      history.push_back(row);
      if (job.is_main()) {
        append_jsonl(run + "/train.jsonl",
                     {{"step", step}, {"epoch", static_cast<double>(step) / steps_per_epoch},
                      {"elbo", -(row.recon + row.kl)}, {"recon", row.recon}, {"kl", row.kl},
                      {"img_per_s", seconds > 0 ? window_steps * o.batch / seconds : 0.0}, {"threads", summary.threads},
                      {"ranks", job.world_size()}});
      }
      window.zero_();
      window_steps = 0;
      window_start = now;
    }
    if (step % o.checkpoint_every == 0 || step == total_steps) job.save_checkpoint(run, step, parts, o.keep_checkpoints);
    if (step % steps_per_epoch == 0 || step == total_steps) job.write_outputs(step, [&] { save_outputs(epoch + 1); });
    char status[128];
    std::snprintf(status, sizeof(status), "epoch %lld/%lld", static_cast<long long>(epoch + 1),
                  static_cast<long long>(o.epochs));
    std::string text = status;
    if (!history.empty()) {
      std::snprintf(status, sizeof(status), " elbo %.2f kl %.2f", -(history.back().recon + history.back().kl),
                    history.back().kl);
      text += status;
    }
    progress.update(step, text, static_cast<double>(o.batch));
    if (stop_after_step(run, step, total_steps, kill_at, parts, o.keep_checkpoints, [&] { save_outputs(0); },
                        job.stop(), job.is_main())) {
      summary.interrupted = true;
      break;
    }
  }
  finish_summary(summary, step, first_step, run_start, o.batch);
  job.report_throughput(summary.steps_run, o.batch, summary.seconds);
  progress.finish(summary.interrupted ? "interrupted, checkpoint saved" : "done");
  return summary;
}

}  // namespace latentkit
