#include "latentkit/train/gan_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/plot.h"
#include "latentkit/core/progress.h"
#include "latentkit/core/threads.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/losses.h"

namespace latentkit {
namespace {

struct LogRow {
  int64_t step;
  double d_loss;
  double g_loss;
};

void validate(const GanTrainOptions& o) {
  check_input(!o.out.empty(), "--out is required: the run folder to write, e.g. --out runs/fashion");
  check_input(o.epochs >= 1, "--epochs must be >= 1, got " + std::to_string(o.epochs));
  check_input(o.batch >= 2, "--batch must be >= 2 (BatchNorm needs a batch), got " + std::to_string(o.batch));
  check_input(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  check_input(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "--beta1 and --beta2 must be in [0, 1)");
  check_input(o.label_smoothing >= 0 && o.label_smoothing < 0.5, "--label-smoothing must be in [0, 0.5)");
  check_input(std::find(gan_losses().begin(), gan_losses().end(), o.loss) != gan_losses().end(),
              "unknown --loss '" + o.loss + "' (expected bce, hinge or wgan-gp)");
  check_input(o.label_smoothing == 0 || o.loss == "bce", "--label-smoothing applies to --loss bce only");
  check_input(o.n_critic >= 1, "--n-critic must be >= 1, got " + std::to_string(o.n_critic));
  check_input(o.gp_weight >= 0 && std::isfinite(o.gp_weight), "--gp-weight must be >= 0");
  check_input(o.ema_decay > 0 && o.ema_decay < 1, "--ema-decay must be in (0, 1)");
  check_input(o.checkpoint_every >= 1, "--checkpoint-every must be >= 1");
  check_input(o.keep_checkpoints >= 1, "--keep-checkpoints must be >= 1");
  check_input(o.log_every >= 1, "--log-every must be >= 1");
  check_input(o.threads >= 0, "--threads must be >= 0 (0 = all cores)");
  check_input(o.max_steps >= 0, "--max-steps must be >= 0 (0 = no limit)");
}

void write_loss_plot(const std::string& run_dir, const std::vector<LogRow>& rows, const std::string& loss) {
  PlotSeries d{"discriminator", {}, {}};
  PlotSeries g{"generator", {}, {}};
  for (const auto& row : rows) {
    d.x.push_back(static_cast<double>(row.step));
    d.y.push_back(row.d_loss);
    g.x.push_back(static_cast<double>(row.step));
    g.y.push_back(row.g_loss);
  }
  const std::string title = loss == "bce" ? "GAN losses (non-saturating BCE)"
                            : loss == "hinge" ? "GAN losses (hinge)"
                                              : "GAN losses (WGAN-GP: critic incl. penalty)";
  write_png(run_dir + "/losses.png", render_line_plot({d, g}, title, "step"));
}

std::string format_fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

}  // namespace

void finish_summary(TrainSummary& summary, int64_t step, int64_t first_step,
                    std::chrono::steady_clock::time_point start, int64_t batch) {
  summary.steps = step;
  summary.steps_run = step - first_step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.images_per_second = summary.seconds > 0 ? summary.steps_run * batch / summary.seconds : 0.0;
}

void update_ema(torch::nn::Module& ema, const torch::nn::Module& net, double decay, int64_t step) {
  torch::NoGradGuard no_grad;
  double d = std::min(decay, (1.0 + step) / (10.0 + step));
  auto ema_params = ema.parameters();
  auto params = net.parameters();
  for (size_t i = 0; i < params.size(); ++i) ema_params[i].mul_(d).add_(params[i].detach(), 1.0 - d);
  auto ema_buffers = ema.buffers();
  auto buffers = net.buffers();
  for (size_t i = 0; i < buffers.size(); ++i) ema_buffers[i].copy_(buffers[i]);
}


GanStepResult gan_train_step(DcganGenerator& generator, DcganDiscriminator& discriminator,
                             torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d,
                             const torch::Tensor& real, const GanStepOptions& o, const torch::Tensor& labels) {
  const bool conditional = generator->options.num_classes() > 0;
  check_input(conditional == labels.defined(), conditional ? "a conditional GAN step needs the batch's labels"
                                                           : "an unconditional GAN step takes no labels");
  namespace F = torch::nn::functional;
  // D's logits (and acgan's class cross-entropy) for images of the batch's classes.
  auto judge = [&](const torch::Tensor& images, torch::Tensor* class_loss) {
    if (!conditional) return discriminator->forward(images);
    ConditionalLogits out = discriminator->forward(images, labels);
    if (out.class_logits.defined() && class_loss) *class_loss = F::cross_entropy(out.class_logits, labels);
    return out.logits;
  };
  GanStepResult r;
  const int64_t world = o.job ? o.job->world_size() : 1;
  torch::Tensor z = torch::randn({real.size(0) * world, generator->options.latent_dim()});
  if (o.job) z = o.job->share(z);
  torch::Tensor fake = o.update_generator ? generator->forward(z, labels) : [&] {
    torch::NoGradGuard no_grad;
    return generator->forward(z, labels);
  }();

  torch::Tensor real_class_loss, fake_class_loss;
  r.real_logits = judge(real, &real_class_loss);
  r.fake_logits = judge(fake.detach(), &fake_class_loss);
  r.d_loss = discriminator_loss(o.loss, r.real_logits, r.fake_logits, o.label_smoothing);
  if (real_class_loss.defined()) r.d_loss = r.d_loss + real_class_loss + fake_class_loss;
  if (o.loss == "wgan-gp") {
    r.penalty = gradient_penalty([&](const torch::Tensor& x) { return judge(x, nullptr); }, real, fake);
    r.d_loss = r.d_loss + o.gp_weight * r.penalty;
  }
  opt_d.zero_grad();
  r.d_loss.backward();
  if (o.job) o.job->average_gradients(*discriminator);
  opt_d.step();

  if (o.update_generator) {
    torch::Tensor class_loss;
    r.g_loss = generator_loss(o.loss, judge(fake, &class_loss));
    if (class_loss.defined()) r.g_loss = r.g_loss + class_loss;
    opt_g.zero_grad();
    r.g_loss.backward();
    if (o.job) o.job->average_gradients(*generator);
    opt_g.step();
  }
  return r;
}

nlohmann::json gan_config_to_json(const GanTrainOptions& o) {
  return {
      {"latentkit_version", LATENTKIT_VERSION},
      {"family", o.model.num_classes() > 0 ? std::string("cgan") : o.model.preset()},
      {"classes", o.class_names},
      {"model", dcgan_options_to_json(o.model)},
      {"data", data_options_to_json(o.data)},
      {"train", [&] {
         nlohmann::json t = train_options_json(o);
         t.update({{"beta1", o.beta1}, {"beta2", o.beta2}, {"loss", o.loss}, {"n_critic", o.n_critic},
                   {"gp_weight", o.gp_weight},
                   {"label_smoothing", o.label_smoothing}, {"ema", o.ema}, {"ema_decay", o.ema_decay}});
         return t;
       }()},
  };
}

GanTrainOptions read_gan_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  try {
    GanTrainOptions o;
    o.out = run_dir;
    o.model = dcgan_options_from_json(config.at("model"));
    o.data = data_options_from_json(config.at("data"), run_dir + "/config.json");
    const auto& t = config.at("train");
    read_train_options(t, o);
    o.beta1 = t.at("beta1").get<double>();
    o.beta2 = t.at("beta2").get<double>();
    o.label_smoothing = t.at("label_smoothing").get<double>();
    o.loss = t.value("loss", std::string("bce"));
    o.n_critic = t.value("n_critic", int64_t{1});
    o.gp_weight = t.value("gp_weight", 10.0);
    o.class_names = config.value("classes", std::vector<std::string>{});
    o.ema = t.at("ema").get<bool>();
    o.ema_decay = t.at("ema_decay").get<double>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_gan(const GanTrainOptions& options_in, bool resume) {
  GanTrainOptions o = options_in;
  validate(o);
  const std::string& run = o.out;
  std::string config_path = run + "/config.json";
  TrainJob job(o.dist);
  if (job.is_main()) check_run_folder(run, resume);

  TrainSummary summary;
  summary.threads = set_threads(o.threads);

  Dataset data = load_training_data(o, "DCGAN");
  job.check_batch(o.batch);
  BatchOrder order(data.size(), o.batch, o.seed);
  const int64_t steps_per_epoch = order.steps_per_epoch();
  int64_t total_steps = o.epochs * steps_per_epoch;
  if (o.max_steps > 0) total_steps = std::min(total_steps, o.max_steps);

  torch::manual_seed(o.seed);
  DcganGenerator generator(o.model);
  DcganDiscriminator discriminator(o.model);
  dcgan_init_weights(*generator);
  dcgan_init_weights(*discriminator);
  job.broadcast(*generator);
  job.broadcast(*discriminator);
  DcganGenerator ema = std::dynamic_pointer_cast<DcganGeneratorImpl>(generator->clone());
  torch::optim::Adam opt_g(generator->parameters(),
                           torch::optim::AdamOptions(o.lr).betas(std::make_tuple(o.beta1, o.beta2)));
  torch::optim::Adam opt_d(discriminator->parameters(),
                           torch::optim::AdamOptions(o.lr).betas(std::make_tuple(o.beta1, o.beta2)));
  // Loss sums of the current log window: saved with checkpoints so a resumed run logs the
  // same averages as an uninterrupted one.
  torch::Tensor window_sums = torch::zeros({5}, torch::kFloat64);  // d, g, D(real), D(fake), steps
  CheckpointParts parts{{{"generator", generator.get()}, {"discriminator", discriminator.get()}, {"generator_ema", ema.get()}},
                        {{"optimizer_g", &opt_g}, {"optimizer_d", &opt_d}},
                        {{"log_window", &window_sums}}};

  // Fixed latents for the sample grids, from their own generator: drawing them must not
  // move the training RNG.
  torch::Generator sample_rng = make_rng(o.seed ^ 0x5eedULL);
  torch::Tensor sample_z = torch::randn({o.sample_count, o.model.latent_dim()}, sample_rng);
  // Conditional grids: one column per class.
  const int64_t classes = o.model.num_classes();
  torch::Tensor sample_labels =
      classes > 0 ? torch::arange(o.sample_count, torch::kInt64).remainder(classes) : torch::Tensor();

  int64_t step = 0;
  std::vector<LogRow> history;
  if (resume) step = job.resume(run, parts);
  if (job.is_main()) {
    make_dirs(run + "/samples");
    for (const nlohmann::json& row : resume ? trim_train_log(run, step) : std::vector<nlohmann::json>{}) {
      auto number = [&](const char* key) { return row.contains(key) && row[key].is_number() ? row[key].get<double>() : NAN; };
      history.push_back({row["step"].get<int64_t>(), number("d_loss"), number("g_loss")});
    }
    write_json(config_path, gan_config_to_json(o));  // on resume: records an extended --epochs
  }

  const int64_t kill_at = test_kill_step();

  if (job.is_main()) std::fprintf(stderr, "training %s on %s (%lld images %lldx%lldx%lld), %lld steps/epoch, batch %lld, %d thread%s%s\n",
               (o.model.num_classes() > 0 ? "cgan (" + o.model.conditioning() + ", " +
                                                std::to_string(o.model.num_classes()) + " classes)"
                                          : o.model.preset())
                   .c_str(),
               o.data.spec.c_str(), static_cast<long long>(data.size()),
               static_cast<long long>(data.channels()), static_cast<long long>(data.height()),
               static_cast<long long>(data.width()), static_cast<long long>(steps_per_epoch),
               static_cast<long long>(o.batch), summary.threads, summary.threads == 1 ? "" : "s",
               job.describe(o.batch).c_str());

  auto save_model = [&]() { save_module(o.ema ? *ema : *generator, run + "/model.pt"); };
  auto save_samples = [&](int64_t epoch) {
    torch::NoGradGuard no_grad;
    DcganGenerator& net = o.ema ? ema : generator;
    net->eval();
    torch::Tensor images = net->forward(sample_z, sample_labels);
    net->train();
    char name[64];
    std::snprintf(name, sizeof(name), "/samples/epoch-%03lld.png", static_cast<long long>(epoch));
    write_png(run + name, make_grid(images, static_cast<int>(classes)));
  };

  Progress progress("train", total_steps, step, job.log());
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_steps = 0;  // steps timed in this window (after a resume, fewer than its sums hold)
  auto run_start = window_start;
  const int64_t first_step = step;
  generator->train();
  discriminator->train();

  while (step < total_steps) {
    const int64_t epoch = step / steps_per_epoch;
    // This rank's share of the global batch: a disjoint part of the epoch's shuffled order.
    torch::Tensor indices = job.share(order.batch_indices(epoch, step % steps_per_epoch));
    torch::Tensor real = normalize_images(data.images.index_select(0, indices));
    torch::Tensor labels = classes > 0 ? data.labels.index_select(0, indices) : torch::Tensor();
    // With n_critic > 1 the generator moves on every n_critic-th step.
    const bool update_generator = (step + 1) % o.n_critic == 0;
    GanStepResult r = gan_train_step(generator, discriminator, opt_g, opt_d, real,
                                     {o.loss, o.label_smoothing, o.gp_weight, update_generator, &job}, labels);
    if (o.ema && update_generator) update_ema(*ema, *generator, o.ema_decay, (step + 1) / o.n_critic - 1);
    ++step;
    ++window_steps;

    // The job's means: the losses of the global batch (the ranks' shares are equal).
    const std::vector<double> means =
        job.step_means({r.d_loss.item<double>(), update_generator ? r.g_loss.item<double>() : 0.0,
                        torch::sigmoid(r.real_logits).mean().item<double>(),
                        torch::sigmoid(r.fake_logits).mean().item<double>()});
    const double d_value = means[0], g_value = means[1];
    if (!std::isfinite(d_value) || !std::isfinite(g_value)) {
      auto latest = latest_checkpoint(run);
      throw Error("training diverged at step " + std::to_string(step) + ": d_loss " + std::to_string(d_value) +
                      ", g_loss " + std::to_string(g_value) + "; try a lower --lr or --label-smoothing 0.1" +
                      (latest ? "; last good checkpoint: " + *latest : std::string()),
                  ErrorKind::kInternal);
    }
    window_sums += torch::tensor({d_value, g_value, means[2], means[3], 1.0}, torch::kFloat64);

    const bool epoch_end = step % steps_per_epoch == 0 || step == total_steps;
    if (step % o.log_every == 0 || step == total_steps) {
      auto now = std::chrono::steady_clock::now();
      double seconds = std::chrono::duration<double>(now - window_start).count();
      torch::Tensor mean = window_sums.slice(0, 0, 4) / window_sums[4];
      // The window covers the steps after the previous log line; the generator moved on
      // the multiples of n_critic among them.
      const int64_t previous_log = (step - 1) / o.log_every * o.log_every;
      const int64_t g_steps = step / o.n_critic - previous_log / o.n_critic;
      const double g_mean = g_steps > 0 ? window_sums[1].item<double>() / static_cast<double>(g_steps) : NAN;
      LogRow row{step, mean[0].item<double>(), g_mean};
      history.push_back(row);
      if (job.is_main()) {
        append_jsonl(run + "/train.jsonl",
                     {{"step", step}, {"epoch", static_cast<double>(step) / steps_per_epoch}, {"d_loss", row.d_loss},
                      {"g_loss", row.g_loss}, {"d_real", mean[2].item<double>()}, {"d_fake", mean[3].item<double>()},
                      {"img_per_s", seconds > 0 ? window_steps * o.batch / seconds : 0.0}, {"lr", o.lr},
                      {"threads", summary.threads}, {"ranks", job.world_size()}});
      }
      window_sums.zero_();
      window_steps = 0;
      window_start = now;
    }
    if (step % o.checkpoint_every == 0 || step == total_steps) job.save_checkpoint(run, step, parts, o.keep_checkpoints);
    if (epoch_end) {
      job.write_outputs(step, [&] {
        save_samples(epoch + 1);
        save_model();
        write_loss_plot(run, history, o.loss);
      });
    }
    if (!history.empty()) {
      progress.update(step,
                      "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) + " d " +
                          format_fixed(history.back().d_loss, 3) + " g " + format_fixed(history.back().g_loss, 3),
                      static_cast<double>(o.batch));
    } else {
      progress.update(step, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs),
                      static_cast<double>(o.batch));
    }
    if (stop_after_step(run, step, total_steps, kill_at, parts, o.keep_checkpoints, [&] {
          save_model();
          write_loss_plot(run, history, o.loss);
        }, job.stop(), job.is_main())) {
      summary.interrupted = true;
      break;
    }
  }
  finish_summary(summary, step, first_step, run_start, o.batch);
  job.report_throughput(summary.steps_run, o.batch, summary.seconds);
  std::string last = history.empty() ? std::string()
                                     : " d " + format_fixed(history.back().d_loss, 3) + " g " +
                                           format_fixed(history.back().g_loss, 3);
  const int64_t epochs_reached = (step + steps_per_epoch - 1) / steps_per_epoch;
  progress.finish((summary.interrupted ? "interrupted, checkpoint saved; " : "") + std::string("epoch ") +
                  std::to_string(epochs_reached) + "/" + std::to_string(o.epochs) + last);
  return summary;
}

}  // namespace latentkit
