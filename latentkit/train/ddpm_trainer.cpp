#include "latentkit/train/ddpm_trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/plot.h"
#include "latentkit/core/progress.h"
#include "latentkit/core/threads.h"
#include "latentkit/data/degrade.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

void validate(const DdpmTrainOptions& o) {
  check_input(!o.out.empty(), "--out is required: the run folder to write, e.g. --out runs/ddpm");
  check_input(o.epochs >= 1 && o.batch >= 1, "--epochs and --batch must be >= 1");
  check_input(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  check_input(o.warmup >= 0, "--warmup must be >= 0");
  check_input(o.ema_decay > 0 && o.ema_decay < 1, "--ema-decay must be in (0, 1)");
  check_input(o.label_dropout >= 0 && o.label_dropout < 1, "--label-dropout must be in [0, 1)");
  check_input(o.uncond_share >= 0 && o.uncond_share < 1, "--uncond-share must be in [0, 1)");
  check_input(o.checkpoint_every >= 1 && o.keep_checkpoints >= 1 && o.log_every >= 1,
              "--checkpoint-every, --keep-checkpoints and --log-every must be >= 1");
  check_input(o.threads >= 0 && o.max_steps >= 0, "--threads and --max-steps must be >= 0");
}

}  // namespace

PaletteBatch palette_batch(const torch::Tensor& x0, const DdpmOptions& model, double uncond_share,
                           torch::Generator& rng) {
  const int64_t n = x0.size(0), h = x0.size(2), w = x0.size(3);
  PaletteBatch b;
  b.weights = torch::ones({n, 1, h, w});
  if (model.tasks.empty()) return b;
  // Each image: no condition with probability uncond_share, else one of the tasks evenly.
  torch::Tensor u = torch::rand({n}, rng);
  const auto tasks = static_cast<double>(model.tasks.size());
  torch::Tensor task = torch::where(u < uncond_share, torch::full({n}, -1.0),
                                    ((u - uncond_share) / (1 - uncond_share) * tasks).floor().clamp_max(tasks - 1));
  b.cond = torch::zeros({n, model.unet.cond_channels(), h, w});
  for (size_t k = 0; k < model.tasks.size(); ++k) {
    torch::Tensor pick = (task == static_cast<double>(k)).view({n, 1, 1, 1});
    if (model.tasks[k] == "inpaint") {
      torch::Tensor masks = random_masks("mixed", n, h, w, rng);
      b.cond = torch::where(pick, inpaint_condition(x0, masks), b.cond);
      b.weights = torch::where(pick, masks, b.weights);
    } else {
      b.cond = torch::where(pick, restore_condition(degrade(x0, "mixed", rng)), b.cond);
    }
  }
  return b;
}

torch::Tensor ddpm_loss(UNet& net, const NoiseSchedule& schedule, const DdpmTrainOptions& o, const torch::Tensor& x0,
                        const torch::Tensor& labels_in, torch::Generator& rng, const TrainJob* job) {
  const int64_t n = x0.size(0);
  torch::Tensor t = torch::randint(schedule.steps(), {n}, rng, torch::kInt64);
  torch::Tensor noise = torch::randn(x0.sizes(), rng);
  torch::Tensor x_t = q_sample(schedule, x0, t, noise);
  torch::Tensor labels = labels_in;
  if (o.model.unet.num_classes() > 0) {
    torch::Tensor drop = torch::rand({n}, rng) < o.label_dropout;
    labels = torch::where(drop, torch::full_like(labels, o.model.unet.num_classes()), labels);
  }
  PaletteBatch b = palette_batch(x0, o.model, o.uncond_share, rng);
  torch::Tensor target = o.model.prediction == "v" ? v_target(schedule, x0, t, noise) : noise;
  auto mine = [&](const torch::Tensor& all) { return job ? job->share(all) : all; };
  const int64_t world = job ? job->world_size() : 1;
  torch::Tensor err = (net->forward(mine(x_t), mine(t), mine(labels), mine(b.cond)) - mine(target)).square() * mine(b.weights);
  // x world: the ranks' mean is then the global batch's loss.
  return err.sum() * world / (b.weights.sum() * x0.size(1)).clamp_min(1.0);
}

nlohmann::json ddpm_config_to_json(const DdpmTrainOptions& o) {
  nlohmann::json train = train_options_json(o);
  train.update({{"warmup", o.warmup},
                {"ema_decay", o.ema_decay},
                {"label_dropout", o.label_dropout},
                {"uncond_share", o.uncond_share}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", o.model.unet.num_classes() > 0 ? "cddpm" : "ddpm"},
          {"classes", o.class_names},
          {"model", ddpm_options_to_json(o.model)},
          {"data", data_options_to_json(o.data)},
          {"train", train}};
}

DdpmTrainOptions read_ddpm_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  const std::string family = config.value("family", "");
  check_input(family == "ddpm" || family == "cddpm", run_dir + " is not a diffusion run");
  try {
    DdpmTrainOptions o;
    o.out = run_dir;
    o.model = ddpm_options_from_json(config.at("model"));
    o.data = data_options_from_json(config.at("data"), run_dir + "/config.json");
    const nlohmann::json& t = config.at("train");
    read_train_options(t, o);
    o.warmup = t.at("warmup").get<int64_t>();
    o.ema_decay = t.at("ema_decay").get<double>();
    o.label_dropout = t.at("label_dropout").get<double>();
    o.uncond_share = t.at("uncond_share").get<double>();
    o.class_names = config.value("classes", std::vector<std::string>{});
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_ddpm(const DdpmTrainOptions& options_in, bool resume) {
  DdpmTrainOptions o = options_in;
  validate(o);
  const std::string& run = o.out;
  TrainJob job(o.dist);
  if (job.is_main()) check_run_folder(run, resume);
  TrainSummary summary;
  summary.threads = set_threads(o.threads);
  // load_training_data fits channels, size and classes into the U-Net's options.
  Dataset data = [&] {
    struct Proxy {
      DataOptions data;
      UNetOptions model;
      std::string condition_on;
      std::vector<std::string> class_names;
    } p{o.data, o.model.unet, o.condition_on, {}};
    Dataset d = load_training_data(p, "the U-Net");
    o.model.unet = p.model;
    o.class_names = p.class_names;
    return d;
  }();
  validate_ddpm_options(o.model);
  job.check_batch(o.batch);
  const int64_t classes = o.model.unet.num_classes();
  BatchOrder order(data.size(), o.batch, o.seed);
  const int64_t steps_per_epoch = order.steps_per_epoch();
  const int64_t total_steps =
      o.max_steps > 0 ? std::min(o.epochs * steps_per_epoch, o.max_steps) : o.epochs * steps_per_epoch;

  torch::manual_seed(o.seed);
  UNet net(o.model.unet);
  job.broadcast(*net);
  UNet ema = std::dynamic_pointer_cast<UNetImpl>(net->clone());
  ema->eval();
  const NoiseSchedule schedule = make_schedule(o.model.schedule, o.model.timesteps);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  torch::Tensor window = torch::zeros({2}, torch::kFloat64);  // loss sum, steps of the log window
  CheckpointParts parts{{{"unet", net.get()}, {"unet_ema", ema.get()}}, {{"optimizer", &opt}}, {{"log_window", &window}}};
  torch::Generator sample_rng = make_rng(o.seed ^ 0x5eedULL);
  const torch::Tensor sample_x =
      torch::randn({o.sample_count, o.model.unet.channels(), o.model.unet.image_size(), o.model.unet.image_size()},
                   sample_rng);
  const torch::Tensor sample_labels =
      classes > 0 ? torch::arange(o.sample_count, torch::kInt64).remainder(classes) : torch::Tensor();

  int64_t step = 0;
  PlotSeries loss_series{"loss", {}, {}};
  if (resume) step = job.resume(run, parts);
  if (job.is_main()) {
    make_dirs(run + "/samples");
    for (const nlohmann::json& row : resume ? trim_train_log(run, step) : std::vector<nlohmann::json>{}) {
      loss_series.x.push_back(row["step"].get<double>());
      loss_series.y.push_back(row.value("loss", NAN));
    }
    write_json(run + "/config.json", ddpm_config_to_json(o));
  }
  const int64_t kill_at = test_kill_step();
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  std::string tasks;
  for (const auto& t : o.model.tasks) tasks += (tasks.empty() ? ", tasks " : "+") + t;
  if (job.is_main()) std::fprintf(stderr,
               "training %s (U-Net width %lld, %.2fM parameters, %s schedule, T %lld, %s prediction%s) on %s (%lld images "
               "%lldx%lldx%lld), %lld steps/epoch, %d thread%s%s\n",
               classes > 0 ? ("cddpm, " + std::to_string(classes) + " classes,").c_str() : "ddpm",
               static_cast<long long>(o.model.unet.width()), params / 1e6, o.model.schedule.c_str(),
               static_cast<long long>(o.model.timesteps), o.model.prediction.c_str(), tasks.c_str(), o.data.spec.c_str(),
               static_cast<long long>(data.size()), static_cast<long long>(data.channels()),
               static_cast<long long>(data.height()), static_cast<long long>(data.width()),
               static_cast<long long>(steps_per_epoch), summary.threads, summary.threads == 1 ? "" : "s",
               job.describe(o.batch).c_str());

  auto save_outputs = [&](int64_t epoch) {
    save_module(*ema, run + "/model.pt");
    write_png(run + "/losses.png", render_line_plot({loss_series}, "DDPM loss (mean squared error)", "step"));
    if (epoch <= 0) return;
    torch::NoGradGuard no_grad;
    DdpmModel model(ema, o.model);
    SampleOptions so;
    so.steps = o.model.sample_steps;
    torch::Generator rng = make_rng(o.seed);
    torch::Tensor images = model.sample(sample_x, sample_labels, so, 1.0, rng);
    char name[64];
    std::snprintf(name, sizeof(name), "/samples/epoch-%03lld.png", static_cast<long long>(epoch));
    write_png(run + name, make_grid(images, static_cast<int>(classes)));
  };

  torch::Generator rng = at::detail::getDefaultCPUGenerator();  // saved and restored by checkpoints
  Progress progress("train", total_steps, step, job.log());
  const auto run_start = std::chrono::steady_clock::now();
  auto window_start = run_start;
  const int64_t first_step = step;
  net->train();
  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    torch::Tensor indices = order.batch_indices(epoch, step % steps_per_epoch);
    torch::Tensor x0 = normalize_images(data.images.index_select(0, indices));
    const double lr = o.lr * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(o.warmup + 1));
    static_cast<torch::optim::AdamOptions&>(opt.param_groups()[0].options()).lr(lr);
    // Every rank draws for the global batch; the U-Net runs on this rank's share.
    torch::Tensor loss =
        ddpm_loss(net, schedule, o, x0, classes > 0 ? data.labels.index_select(0, indices) : torch::Tensor(), rng, &job);
    opt.zero_grad();
    loss.backward();
    job.average_gradients(*net);
    torch::nn::utils::clip_grad_norm_(net->parameters(), 1.0);
    opt.step();
    update_ema(*ema, *net, o.ema_decay, step);
    ++step;
    const double value = job.step_means({loss.item<double>()})[0];
    if (!std::isfinite(value)) {
      throw Error("training diverged at step " + std::to_string(step) + " (loss " + std::to_string(value) +
                      "); try a lower --lr",
                  ErrorKind::kInternal);
    }
    window += torch::tensor({value, 1.0}, torch::kFloat64);
    if (step % o.log_every == 0 || step == total_steps) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      const double steps = window[1].item<double>(), mean = window[0].item<double>() / steps;
      loss_series.x.push_back(static_cast<double>(step));
      loss_series.y.push_back(mean);
      if (job.is_main()) {
        append_jsonl(run + "/train.jsonl", {{"step", step},
                                            {"epoch", static_cast<double>(step) / steps_per_epoch},
                                            {"loss", mean},
                                            {"lr", lr},
                                            {"img_per_s", seconds > 0 ? steps * o.batch / seconds : 0.0},
                                            {"threads", summary.threads},
                                            {"ranks", job.world_size()}});
      }
      window.zero_();
      window_start = now;
    }
    if (step % o.checkpoint_every == 0 || step == total_steps) job.save_checkpoint(run, step, parts, o.keep_checkpoints);
    if (step % steps_per_epoch == 0 || step == total_steps) job.write_outputs(step, [&] { save_outputs(epoch + 1); });
    char status[96];
    std::snprintf(status, sizeof(status), "epoch %lld/%lld", static_cast<long long>(epoch + 1),
                  static_cast<long long>(o.epochs));
    std::string text = status;
    if (!loss_series.y.empty()) {
      std::snprintf(status, sizeof(status), " loss %.4f", loss_series.y.back());
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
