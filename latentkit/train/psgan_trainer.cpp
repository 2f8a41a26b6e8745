#include "latentkit/train/psgan_trainer.h"

#include <cmath>
#include <cstdio>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/gan_trainer.h"

namespace latentkit {
namespace {

class PsganTask : public TrainTask {
 public:
  explicit PsganTask(const PsganTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_input(loop.batch >= 2, "--batch must be >= 2 (BatchNorm needs a batch), got " + std::to_string(loop.batch));
    data_ = load_dataset(loop.data);
    check_input(data_.height() == data_.width() && data_.channels() == 3,
                "psgan trains on square RGB crops; " + loop.data.spec + " gives " + std::to_string(data_.channels()) +
                    " x " + std::to_string(data_.height()) + " x " + std::to_string(data_.width()) +
                    " (use --data wallpapers, or pass --size and --channels 3)");
    o_.model.crop(data_.height());
    o_.model.validate();
    return data_.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    g_ = PsganGenerator(o_.model);
    d_ = PsganDiscriminator(o_.model);
    dcgan_init_weights(*g_);
    dcgan_init_weights(*d_);
    job.broadcast(*g_);
    job.broadcast(*d_);
    ema_ = std::dynamic_pointer_cast<PsganGeneratorImpl>(g_->clone());
    const auto adam = torch::optim::AdamOptions(loop.lr).betas(std::make_tuple(o_.beta1, o_.beta2));
    opt_g_ = std::make_unique<torch::optim::Adam>(g_->parameters(), adam);
    opt_d_ = std::make_unique<torch::optim::Adam>(d_->parameters(), adam);
    // Samples at twice the crop's side, from their own generator so the training RNG stays put.
    const int64_t cells = 2 * o_.model.crop() / o_.model.cell() + 2 * kPsganReach;
    sample_z_ = psgan_training_latent(o_.model, loop.sample_count, cells, make_rng(loop.seed ^ 0x5eedULL));
    sample_z_.x0 = sample_z_.y0 = -kPsganReach;
    g_->train();
    d_->train();
  }

  CheckpointParts parts() override {
    return {{{"generator", g_.get()}, {"discriminator", d_.get()}, {"generator_ema", ema_.get()}},
            {{"optimizer_g", opt_g_.get()}, {"optimizer_d", opt_d_.get()}}};
  }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    PsganTrainOptions o = o_;
    o.loop = loop;
    return psgan_config_to_json(o);
  }

  std::string describe() const override {
    int64_t params = 0;
    for (const auto& p : g_->parameters()) params += p.numel();
    char text[320];
    std::snprintf(text, sizeof(text),
                  "psgan (local %lld, global %lld, periodic %lld; %lld-pixel cells; width %lld, %.2fM parameters) on %s",
                  static_cast<long long>(o_.model.local_dim()), static_cast<long long>(o_.model.global_dim()),
                  static_cast<long long>(o_.model.periodic_dim()), static_cast<long long>(o_.model.cell()),
                  static_cast<long long>(o_.model.width()), params / 1e6, describe_data(data_).c_str());
    return text;
  }

  std::vector<std::string> value_names() const override { return {"d_loss", "g_loss", "d_real", "d_fake"}; }

  std::vector<double> step(const StepInput& in) override {
    const torch::Tensor indices = in.job->share(in.indices);
    const torch::Tensor real = in.layout(normalize_images(data_.images.index_select(0, indices)));
    const int64_t n = real.size(0), world = in.job->world_size();
    // The whole global batch's noise, so a data-parallel job draws what one process does.
    PsganLatent z = psgan_training_latent(o_.model, n * world, o_.model.crop() / o_.model.cell());
    z.local = in.job->share(z.local);
    z.global = in.job->share(z.global);
    z.phase = in.job->share(z.phase);
    torch::Tensor fake = g_->forward(g_->grid(z));
    const auto judge = [&](const torch::Tensor& x) { return d_->forward(diff_augment(x, o_.augment, in.job)).to(torch::kFloat); };
    torch::Tensor real_logits = judge(real), fake_logits = judge(fake.detach());
    torch::Tensor d_loss = discriminator_loss(o_.loss, real_logits, fake_logits);
    opt_d_->zero_grad();
    d_loss.backward();
    in.job->average_gradients(*d_);
    opt_d_->step();

    torch::Tensor g_loss = generator_loss(o_.loss, judge(fake));
    opt_g_->zero_grad();
    g_loss.backward();
    in.job->average_gradients(*g_);
    opt_g_->step();
    if (o_.ema) update_ema(*ema_, *g_, o_.ema_decay, in.step);
    return {d_loss.item<double>(), g_loss.item<double>(), torch::sigmoid(real_logits).mean().item<double>(),
            torch::sigmoid(fake_logits).mean().item<double>()};
  }

  std::string plot_title() const override {
    return o_.loss == GanLoss::kHinge ? "psgan losses (hinge)" : "psgan losses (non-saturating BCE)";
  }

  void save_model(const std::string& path) override { save_module(o_.ema ? *ema_ : *g_, path); }

  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    PsganGenerator& net = o_.ema ? ema_ : g_;
    net->eval();
    const int64_t margin = kPsganReach * o_.model.cell(), side = 2 * o_.model.crop();
    torch::Tensor images = net->forward(net->grid(sample_z_)).narrow(2, margin, side).narrow(3, margin, side);
    net->train();
    write_png(path, make_grid(images, 4));
  }

 private:
  PsganTrainOptions o_;
  Dataset data_;
  PsganGenerator g_ = nullptr, ema_ = nullptr;
  PsganDiscriminator d_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  PsganLatent sample_z_;
};

}  // namespace

void PsganTrainOptions::validate() const {
  loop.validate();
  check_input(loss == GanLoss::kBce || loss == GanLoss::kHinge, "psgan: --loss must be bce or hinge");
  check_input(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "--beta1 and --beta2 must be in [0, 1)");
  check_input(ema_decay > 0 && ema_decay < 1, "--ema-decay must be in (0, 1)");
}

nlohmann::json psgan_config_to_json(const PsganTrainOptions& o) {
  nlohmann::json train = train_loop_options_to_json(o.loop);
  train.update({{"loss", gan_loss_names().name(o.loss)},
                {"augment", diff_augment_text(o.augment)},
                {"beta1", o.beta1},
                {"beta2", o.beta2},
                {"ema", o.ema},
                {"ema_decay", o.ema_decay}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", "psgan"},
          {"model", psgan_options_to_json(o.model)},
          {"data", data_options_to_json(o.loop.data)},
          {"train", train}};
}

PsganTrainOptions read_psgan_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "psgan", run_dir + " is not a psgan run");
  try {
    PsganTrainOptions o;
    const nlohmann::json& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.model = psgan_options_from_json(config.at("model"));
    o.loss = gan_loss_names().parse(t.at("loss").get<std::string>());
    o.augment = parse_diff_augment(t.at("augment").get<std::string>());
    o.beta1 = t.at("beta1").get<double>();
    o.beta2 = t.at("beta2").get<double>();
    o.ema = t.at("ema").get<bool>();
    o.ema_decay = t.at("ema_decay").get<double>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_psgan(const PsganTrainOptions& options, bool resume) {
  options.validate();
  PsganTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
