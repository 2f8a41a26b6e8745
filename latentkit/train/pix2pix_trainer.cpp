#include "latentkit/train/pix2pix_trainer.h"

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
#include "latentkit/data/folder.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

void validate(const Pix2pixTrainOptions& o) {
  check_input(!o.out.empty(), "--out is required: the run folder to write, e.g. --out runs/enhance");
  check_input(o.epochs >= 1 && o.batch >= 1, "--epochs and --batch must be >= 1");
  check_input(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  check_input(o.l1_weight >= 0 && std::isfinite(o.l1_weight), "--l1-weight must be >= 0");
  check_input(o.checkpoint_every >= 1 && o.keep_checkpoints >= 1 && o.log_every >= 1 && o.sample_count >= 1,
              "--checkpoint-every, --keep-checkpoints and --log-every must be >= 1");
  check_input(o.threads >= 0 && o.max_steps >= 0, "--threads and --max-steps must be >= 0");
  for (const auto& t : o.tasks) task_degradation(t);  // an Error for unknown tasks
}

// Targets (and, for paired data, inputs) as uint8 [N, C, S, S]; fits o.model to them.
struct Pairs {
  torch::Tensor a, b;  // a undefined for synthetic pairs
};

Pairs load_pairs(Pix2pixTrainOptions& o) {
  Pairs p;
  if (o.tasks.empty()) {
    check_input(is_pairs_spec(o.data.spec),
                "pix2pix needs --task (deblur, denoise, dejpeg, superres, exposure, retouch or a list) to make pairs "
                "from --data " + o.data.spec + ", or paired data: folder:A_DIR,B_DIR or pairs:DIR");
    ImagePairs pairs = load_image_pairs(o.data);
    p.a = pairs.a;
    p.b = pairs.b;
  } else {
    check_input(!is_pairs_spec(o.data.spec),
                o.data.spec + " is paired data: it needs no --task (--task degrades unpaired images to make pairs)");
    Dataset data = load_dataset(o.data);
    check_input(data.height() == data.width(), "data " + o.data.spec + " has " + std::to_string(data.height()) + "x" +
                                                   std::to_string(data.width()) + " images; pix2pix trains on square ones (pass --size)");
    p.b = data.images;
  }
  o.model.channels(p.b.size(1)).image_size(p.b.size(2));
  o.model.validate();
  return p;
}

// (input, target) in [-1, 1] for the given rows; synthetic inputs are drawn from rng.
std::pair<torch::Tensor, torch::Tensor> make_batch(const Pairs& p, const std::vector<std::string>& tasks,
                                                   const torch::Tensor& rows, torch::Generator& rng) {
  torch::Tensor target = normalize_images(p.b.index_select(0, rows));
  if (p.a.defined()) return {normalize_images(p.a.index_select(0, rows)), target};
  return {degrade_for_tasks(target, tasks, rng), target};
}

double mean_psnr(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor mse = (a.clamp(-1, 1) - b).square().mean({1, 2, 3}).to(torch::kFloat64).clamp_min(1e-10);
  return (10 * torch::log10(4.0 / mse)).mean().item<double>();
}

}  // namespace

Pix2pixStep pix2pix_train_step(Pix2pixGeneratorImpl& generator, PatchDiscriminatorImpl& discriminator,
                               torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d,
                               const torch::Tensor& input, const torch::Tensor& target, double l1_weight,
                               TrainJob* job) {
  namespace F = torch::nn::functional;
  auto bce = [](const torch::Tensor& logits, double label) {
    return F::binary_cross_entropy_with_logits(logits, torch::full_like(logits, label));
  };
  Pix2pixStep r;
  torch::Tensor output = generator.forward(input);
  r.d_loss = 0.5 * (bce(discriminator.forward(input, target), 1.0) + bce(discriminator.forward(input, output.detach()), 0.0));
  opt_d.zero_grad();
  r.d_loss.backward();
  if (job) job->average_gradients(discriminator);
  opt_d.step();
  r.g_gan = bce(discriminator.forward(input, output), 1.0);
  r.l1 = (output - target).abs().mean();
  torch::Tensor g_loss = r.g_gan + l1_weight * r.l1;
  opt_g.zero_grad();
  g_loss.backward();
  if (job) job->average_gradients(generator);
  opt_g.step();
  r.output = output.detach();
  return r;
}

nlohmann::json pix2pix_config_to_json(const Pix2pixTrainOptions& o) {
  nlohmann::json train = train_options_json(o);
  train.erase("condition_on");
  train.update({{"tasks", o.tasks}, {"l1_weight", o.l1_weight}, {"beta1", o.beta1}, {"beta2", o.beta2}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", "pix2pix"},
          {"model", pix2pix_options_to_json(o.model)},
          {"data", data_options_to_json(o.data)},
          {"train", train}};
}

Pix2pixTrainOptions read_pix2pix_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "pix2pix", run_dir + " is not a pix2pix run");
  try {
    Pix2pixTrainOptions o;
    o.out = run_dir;
    o.model = pix2pix_options_from_json(config.at("model"));
    o.data = data_options_from_json(config.at("data"), run_dir + "/config.json");
    const nlohmann::json& t = config.at("train");
    read_train_options(t, o);
    o.tasks = t.at("tasks").get<std::vector<std::string>>();
    o.l1_weight = t.at("l1_weight").get<double>();
    o.beta1 = t.at("beta1").get<double>();
    o.beta2 = t.at("beta2").get<double>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_pix2pix(const Pix2pixTrainOptions& options_in, bool resume) {
  Pix2pixTrainOptions o = options_in;
  validate(o);
  const std::string& run = o.out;
  TrainJob job(o.dist);
  if (job.is_main()) check_run_folder(run, resume);
  TrainSummary summary;
  summary.threads = set_threads(o.threads);
  const Pairs pairs = load_pairs(o);
  const int64_t n = pairs.b.size(0);
  o.batch = std::min(o.batch, n);
  job.check_batch(o.batch);
  BatchOrder order(n, o.batch, o.seed);
  const int64_t steps_per_epoch = order.steps_per_epoch();
  const int64_t total_steps =
      o.max_steps > 0 ? std::min(o.epochs * steps_per_epoch, o.max_steps) : o.epochs * steps_per_epoch;

  torch::manual_seed(o.seed);
  Pix2pixGenerator g(o.model);
  PatchDiscriminator d(o.model);
  job.broadcast(*g);
  job.broadcast(*d);
  torch::optim::Adam opt_g(g->parameters(), torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}));
  torch::optim::Adam opt_d(d->parameters(), torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}));
  torch::Tensor window = torch::zeros({6}, torch::kFloat64);  // d, g_gan, l1, psnr, psnr of the input, steps
  CheckpointParts parts{{{"generator", g.get()}, {"discriminator", d.get()}},
                        {{"opt_g", &opt_g}, {"opt_d", &opt_d}},
                        {{"log_window", &window}}};
  // The sample pairs: the first images, degraded once with their own seed.
  torch::Generator sample_rng = make_rng(o.seed ^ 0x5eedULL);
  const auto [sample_in, sample_target] =
      make_batch(pairs, o.tasks, torch::arange(std::min(o.sample_count, n), torch::kInt64), sample_rng);

  int64_t step = 0;
  std::vector<PlotSeries> curves{{"D", {}, {}}, {"G (GAN)", {}, {}}, {"L1 x l1-weight", {}, {}}};
  if (resume) step = job.resume(run, parts);
  if (job.is_main()) {
    make_dirs(run + "/samples");
    for (const nlohmann::json& row : resume ? trim_train_log(run, step) : std::vector<nlohmann::json>{}) {
      if (!row.contains("d_loss")) continue;
      const double x = row["step"].get<double>();
      const double ys[3] = {row["d_loss"].get<double>(), row["g_gan"].get<double>(), o.l1_weight * row["l1"].get<double>()};
      for (int k = 0; k < 3; ++k) {
        curves[k].x.push_back(x);
        curves[k].y.push_back(ys[k]);
      }
    }
    write_json(run + "/config.json", pix2pix_config_to_json(o));
  }
  const int64_t kill_at = test_kill_step();
  int64_t params = 0;
  for (const auto& p : g->parameters()) params += p.numel();
  std::string what = "paired data";
  if (!o.tasks.empty()) {
    what = "tasks ";
    for (size_t i = 0; i < o.tasks.size(); ++i) what += (i ? "+" : "") + o.tasks[i];
  }
  if (job.is_main()) std::fprintf(stderr,
               "training pix2pix (U-Net %lld levels, width %lld, %.2fM parameters, %s; PatchGAN %lld layers; L1 weight %g; "
               "%s) on %s (%lld images %lldx%lldx%lld), %lld steps/epoch, %d thread%s%s\n",
               static_cast<long long>(o.model.levels()), static_cast<long long>(o.model.width()), params / 1e6,
               o.model.residual() ? "residual" : "tanh", static_cast<long long>(o.model.patch_layers()), o.l1_weight,
               what.c_str(), o.data.spec.c_str(), static_cast<long long>(n), static_cast<long long>(pairs.b.size(1)),
               static_cast<long long>(pairs.b.size(2)), static_cast<long long>(pairs.b.size(3)),
               static_cast<long long>(steps_per_epoch), summary.threads, summary.threads == 1 ? "" : "s",
               job.describe(o.batch).c_str());

  auto save_outputs = [&](int64_t epoch) {
    save_module(*g, run + "/model.pt");
    write_png(run + "/losses.png", render_line_plot(curves, "pix2pix losses", "step"));
    if (epoch <= 0) return;
    torch::NoGradGuard no_grad;
    g->eval();
    torch::Tensor out = g->forward(sample_in).clamp(-1, 1);
    g->train();
    char name[64];
    std::snprintf(name, sizeof(name), "/samples/epoch-%03lld.png", static_cast<long long>(epoch));
    write_png(run + name, make_grid(torch::cat({sample_in, out, sample_target}), static_cast<int>(sample_in.size(0))));
    append_jsonl(run + "/train.jsonl", {{"step", step},
                                        {"epoch", epoch},
                                        {"sample_psnr", mean_psnr(out, sample_target)},
                                        {"sample_psnr_input", mean_psnr(sample_in, sample_target)}});
  };

  torch::Generator rng = at::detail::getDefaultCPUGenerator();  // saved and restored by checkpoints
  Progress progress("train", total_steps, step, job.log());
  const auto run_start = std::chrono::steady_clock::now();
  auto window_start = run_start;
  const int64_t first_step = step;
  g->train();
  d->train();
  std::string last;
  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    // Every rank degrades the global batch (the same draws) and trains on its share.
    const auto [all_input, all_target] =
        make_batch(pairs, o.tasks, order.batch_indices(epoch, step % steps_per_epoch), rng);
    const torch::Tensor input = job.share(all_input), target = job.share(all_target);
    Pix2pixStep r = pix2pix_train_step(*g, *d, opt_g, opt_d, input, target, o.l1_weight, &job);
    ++step;
    const std::vector<double> means =
        job.step_means({r.d_loss.item<double>(), r.g_gan.item<double>(), r.l1.item<double>(),
                        mean_psnr(r.output, target), mean_psnr(input, target)});
    const double dl = means[0], gl = means[1], l1 = means[2];
    if (!std::isfinite(dl) || !std::isfinite(gl) || !std::isfinite(l1)) {
      throw Error("training diverged at step " + std::to_string(step) + "; try a lower --lr", ErrorKind::kInternal);
    }
    window += torch::tensor({dl, gl, l1, means[3], means[4], 1.0}, torch::kFloat64);
    if (step % o.log_every == 0 || step == total_steps) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      const double steps = window[5].item<double>();
      torch::Tensor mean = window / steps;
      const double m[5] = {mean[0].item<double>(), mean[1].item<double>(), mean[2].item<double>(),
                           mean[3].item<double>(), mean[4].item<double>()};
      for (int k = 0; k < 3; ++k) {
        curves[k].x.push_back(static_cast<double>(step));
        curves[k].y.push_back(k == 2 ? o.l1_weight * m[2] : m[k]);
      }
      if (job.is_main()) {
        append_jsonl(run + "/train.jsonl", {{"step", step},
                                            {"epoch", static_cast<double>(step) / steps_per_epoch},
                                            {"d_loss", m[0]},
                                            {"g_gan", m[1]},
                                            {"l1", m[2]},
                                            {"psnr", m[3]},
                                            {"psnr_input", m[4]},
                                            {"img_per_s", seconds > 0 ? steps * o.batch / seconds : 0.0},
                                            {"threads", summary.threads},
                                            {"ranks", job.world_size()}});
      }
      char text[96];
      std::snprintf(text, sizeof(text), " L1 %.4f PSNR %.2f dB (input %.2f)", m[2], m[3], m[4]);
      last = text;
      window.zero_();
      window_start = now;
    }
    if (step % o.checkpoint_every == 0 || step == total_steps) job.save_checkpoint(run, step, parts, o.keep_checkpoints);
    if (step % steps_per_epoch == 0 || step == total_steps) job.write_outputs(step, [&] { save_outputs(epoch + 1); });
    progress.update(step, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) + last,
                    static_cast<double>(o.batch));
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
