#include "latentkit/train/gan_trainer.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

class GanTask : public TrainTask {
 public:
  explicit GanTask(const GanTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_input(loop.batch >= 2, "--batch must be >= 2 (BatchNorm needs a batch), got " + std::to_string(loop.batch));
    data_ = load_generator_data(loop.data, o_.model, o_.condition_on, o_.class_names, "DCGAN");
    return data_.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    generator_ = DcganGenerator(o_.model);
    discriminator_ = DcganDiscriminator(o_.model);
    dcgan_init_weights(*generator_);
    dcgan_init_weights(*discriminator_);
    job.broadcast(*generator_);
    job.broadcast(*discriminator_);
    ema_ = std::dynamic_pointer_cast<DcganGeneratorImpl>(generator_->clone());
    const auto adam = torch::optim::AdamOptions(loop.lr).betas(std::make_tuple(o_.beta1, o_.beta2));
    opt_g_ = std::make_unique<torch::optim::Adam>(generator_->parameters(), adam);
    opt_d_ = std::make_unique<torch::optim::Adam>(discriminator_->parameters(), adam);
    // Fixed latents for the sample grids, from their own generator: drawing them must not
    // move the training RNG. Conditional grids: one column per class.
    torch::Generator sample_rng = make_rng(loop.seed ^ 0x5eedULL);
    sample_z_ = torch::randn({loop.sample_count, o_.model.latent_dim()}, sample_rng);
    if (classes() > 0) sample_labels_ = torch::arange(loop.sample_count, torch::kInt64).remainder(classes());
    generator_->train();
    discriminator_->train();
  }

  CheckpointParts parts() override {
    return {{{"generator", generator_.get()}, {"discriminator", discriminator_.get()}, {"generator_ema", ema_.get()}},
            {{"optimizer_g", opt_g_.get()}, {"optimizer_d", opt_d_.get()}}};
  }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    GanTrainOptions o = o_;
    o.loop = loop;
    return gan_config_to_json(o);
  }

  std::string describe() const override {
    const std::string what = classes() > 0 ? "cgan (" + o_.model.conditioning() + ", " + std::to_string(classes()) + " classes)"
                                           : o_.model.preset();
    return what + " on " + describe_data(data_);
  }

  std::vector<std::string> value_names() const override { return {"d_loss", "g_loss", "d_real", "d_fake"}; }

  std::vector<double> step(const StepInput& in) override {
    // This rank's share of the global batch: a disjoint part of the epoch's shuffled order.
    const torch::Tensor indices = in.job->share(in.indices);
    const torch::Tensor real = in.layout(normalize_images(data_.images.index_select(0, indices)));
    const torch::Tensor labels = classes() > 0 ? data_.labels.index_select(0, indices) : torch::Tensor();
    // With n_critic > 1 the generator moves on every n_critic-th step.
    const bool update_generator = (in.step + 1) % o_.n_critic == 0;
    GanStepResult r = gan_train_step(generator_, discriminator_, *opt_g_, *opt_d_, real,
                                     {o_.loss, o_.label_smoothing, o_.gp_weight, update_generator, o_.augment, in.job}, labels);
    if (o_.ema && update_generator) update_ema(*ema_, *generator_, o_.ema_decay, (in.step + 1) / o_.n_critic - 1);
    return {r.d_loss.item<double>(), update_generator ? r.g_loss.item<double>() : 0.0,
            torch::sigmoid(r.real_logits).mean().item<double>(), torch::sigmoid(r.fake_logits).mean().item<double>()};
  }

  // The generator moved on the multiples of n_critic among the window's steps.
  std::vector<double> window_means(const std::vector<double>& sums, double steps, int64_t first_step,
                                   int64_t last_step) const override {
    std::vector<double> means = TrainTask::window_means(sums, steps, first_step, last_step);
    const int64_t g_steps = last_step / o_.n_critic - (first_step - 1) / o_.n_critic;
    means[1] = g_steps > 0 ? sums[1] / static_cast<double>(g_steps) : NAN;
    return means;
  }

  std::string plot_title() const override {
    return o_.loss == GanLoss::kBce     ? "GAN losses (non-saturating BCE)"
           : o_.loss == GanLoss::kHinge ? "GAN losses (hinge)"
                                        : "GAN losses (WGAN-GP: critic incl. penalty)";
  }

  void save_model(const std::string& path) override { save_module(o_.ema ? *ema_ : *generator_, path); }

  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    DcganGenerator& net = o_.ema ? ema_ : generator_;
    net->eval();
    torch::Tensor images = net->forward(sample_z_, sample_labels_);
    net->train();
    write_png(path, make_grid(images, static_cast<int>(classes())));
  }

 private:
  int64_t classes() const { return o_.model.num_classes(); }

  GanTrainOptions o_;
  Dataset data_;
  DcganGenerator generator_ = nullptr, ema_ = nullptr;
  DcganDiscriminator discriminator_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  torch::Tensor sample_z_, sample_labels_;
};

}  // namespace

void GanTrainOptions::validate() const {
  loop.validate();
  check_input(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "--beta1 and --beta2 must be in [0, 1)");
  check_input(label_smoothing >= 0 && label_smoothing < 0.5, "--label-smoothing must be in [0, 0.5)");
  check_input(label_smoothing == 0 || loss == GanLoss::kBce, "--label-smoothing applies to --loss bce only");
  check_input(n_critic >= 1, "--n-critic must be >= 1, got " + std::to_string(n_critic));
  check_input(gp_weight >= 0 && std::isfinite(gp_weight), "--gp-weight must be >= 0");
  check_input(ema_decay > 0 && ema_decay < 1, "--ema-decay must be in (0, 1)");
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
  // D's logits (and acgan's class cross-entropy) for images of the batch's classes, in fp32
  // also when the layers run in bf16 (autocast), so the losses are fp32.
  auto judge = [&](const torch::Tensor& images, torch::Tensor* class_loss) {
    if (!conditional) return discriminator->forward(images).to(torch::kFloat);
    ConditionalLogits out = discriminator->forward(images, labels);
    if (out.class_logits.defined() && class_loss) *class_loss = F::cross_entropy(out.class_logits.to(torch::kFloat), labels);
    return out.logits.to(torch::kFloat);
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
  const auto augment = [&](const torch::Tensor& x) { return diff_augment(x, o.augment, o.job); };
  r.real_logits = judge(augment(real), &real_class_loss);
  r.fake_logits = judge(augment(fake.detach()), &fake_class_loss);
  r.d_loss = discriminator_loss(o.loss, r.real_logits, r.fake_logits, o.label_smoothing);
  if (real_class_loss.defined()) r.d_loss = r.d_loss + real_class_loss + fake_class_loss;
  if (o.loss == GanLoss::kWganGp) {
    r.penalty = gradient_penalty([&](const torch::Tensor& x) { return judge(x, nullptr); }, real, fake);
    r.d_loss = r.d_loss + o.gp_weight * r.penalty;
  }
  opt_d.zero_grad();
  r.d_loss.backward();
  if (o.job) o.job->average_gradients(*discriminator);
  opt_d.step();

  if (o.update_generator) {
    torch::Tensor class_loss;
    r.g_loss = generator_loss(o.loss, judge(augment(fake), &class_loss));
    if (class_loss.defined()) r.g_loss = r.g_loss + class_loss;
    opt_g.zero_grad();
    r.g_loss.backward();
    if (o.job) o.job->average_gradients(*generator);
    opt_g.step();
  }
  return r;
}

nlohmann::json gan_config_to_json(const GanTrainOptions& o) {
  nlohmann::json train = train_loop_options_to_json(o.loop);
  train.update({{"condition_on", condition_on_names().name(o.condition_on)},
                {"beta1", o.beta1},
                {"beta2", o.beta2},
                {"loss", gan_loss_names().name(o.loss)},
                {"n_critic", o.n_critic},
                {"gp_weight", o.gp_weight},
                {"label_smoothing", o.label_smoothing},
                {"augment", diff_augment_text(o.augment)},
                {"ema", o.ema},
                {"ema_decay", o.ema_decay}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", o.model.num_classes() > 0 ? std::string("cgan") : o.model.preset()},
          {"classes", o.class_names},
          {"model", dcgan_options_to_json(o.model)},
          {"data", data_options_to_json(o.loop.data)},
          {"train", train}};
}

GanTrainOptions read_gan_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  try {
    GanTrainOptions o;
    const auto& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.model = dcgan_options_from_json(config.at("model"));
    o.condition_on = condition_on_names().parse(t.value("condition_on", std::string("class")));
    o.beta1 = t.at("beta1").get<double>();
    o.beta2 = t.at("beta2").get<double>();
    o.label_smoothing = t.at("label_smoothing").get<double>();
    o.augment = parse_diff_augment(t.value("augment", std::string("none")));
    o.loss = gan_loss_names().parse(t.value("loss", std::string("bce")));
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

TrainSummary train_gan(const GanTrainOptions& options, bool resume) {
  options.validate();
  GanTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
