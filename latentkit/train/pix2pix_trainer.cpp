#include "latentkit/train/pix2pix_trainer.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/degrade.h"
#include "latentkit/data/folder.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {

torch::Tensor map_input_images(const torch::Tensor& maps, const MapPalette& palette, int64_t channels) {
  torch::Tensor m = map_images(maps, palette);
  m = channels == 4 ? m : channels == 3 ? m.slice(1, 0, 3) : luma(m.slice(1, 0, 3));
  return ((m + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

namespace {

// (input, target) in [-1, 1] for the given rows; synthetic inputs are drawn from rng.
// a: the inputs of paired data (undefined for synthetic pairs); b: the targets (uint8).
std::pair<torch::Tensor, torch::Tensor> make_batch(const torch::Tensor& a, const torch::Tensor& b,
                                                   const std::vector<std::string>& tasks, const torch::Tensor& rows,
                                                   torch::Generator& rng) {
  torch::Tensor target = normalize_images(b.index_select(0, rows));
  if (a.defined()) return {normalize_images(a.index_select(0, rows)), target};
  return {degrade_for_tasks(target, tasks, rng), target};
}

double mean_psnr(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor mse = (a.clamp(-1, 1) - b).square().mean({1, 2, 3}).to(torch::kFloat64).clamp_min(1e-10);
  return (10 * torch::log10(4.0 / mse)).mean().item<double>();
}

class Pix2pixTask : public TrainTask {
 public:
  explicit Pix2pixTask(const Pix2pixTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    const std::string& spec = loop.data.spec;
    if (o_.tasks.empty()) {
      check_input(is_pairs_spec(spec),
                  "pix2pix needs --task (deblur, denoise, dejpeg, superres, exposure, retouch, colorize or a list) to make pairs "
                  "from --data " + spec + ", or paired data: folder:A_DIR,B_DIR or pairs:DIR");
      ImagePairs pairs = load_image_pairs(loop.data);
      a_ = pairs.a;
      b_ = pairs.b;
    } else {
      check_input(!is_pairs_spec(spec),
                  spec + " is paired data: it needs no --task (--task degrades unpaired images to make pairs)");
      Dataset data = load_dataset(loop.data);
      check_input(data.height() == data.width(), "data " + spec + " has " + std::to_string(data.height()) + "x" +
                                                     std::to_string(data.width()) + " images; pix2pix trains on square ones (pass --size)");
      b_ = data.images;
      if (o_.tasks == std::vector<std::string>{"maps"}) {
        // Pairs of (label map in its palette's colors, image): pix2pix's labels-to-photo, the
        // baseline of mask-to-image models. The output owes nothing to the input's colors.
        ensure_maps(data);
        a_ = map_input_images(data.maps, map_palette(data.map_palette), data.channels());
        o_.model.residual(false);
      }
      const bool colorize = std::find(o_.tasks.begin(), o_.tasks.end(), "colorize") != o_.tasks.end();
      check_input(!colorize || data.channels() >= 3,
                  "--task colorize needs color data (RGB or RGBA); " + spec + " is gray here");
    }
    o_.model.channels(b_.size(1)).image_size(b_.size(2));
    o_.model.validate();
    spec_ = spec;
    loop.batch = std::min(loop.batch, b_.size(0));  // a small paired set: one batch of all of it
    return b_.size(0);
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    g_ = Pix2pixGenerator(o_.model);
    d_ = PatchDiscriminator(o_.model);
    job.broadcast(*g_);
    job.broadcast(*d_);
    const auto adam = torch::optim::AdamOptions(loop.lr).betas({o_.beta1, o_.beta2});
    opt_g_ = std::make_unique<torch::optim::Adam>(g_->parameters(), adam);
    opt_d_ = std::make_unique<torch::optim::Adam>(d_->parameters(), adam);
    // The sample pairs: the first images, degraded once with their own seed.
    torch::Generator sample_rng = make_rng(loop.seed ^ 0x5eedULL);
    std::tie(sample_in_, sample_target_) =
        make_batch(a_, b_, o_.tasks, torch::arange(std::min(loop.sample_count, b_.size(0)), torch::kInt64), sample_rng);
    g_->train();
    d_->train();
  }

  CheckpointParts parts() override {
    return {{{"generator", g_.get()}, {"discriminator", d_.get()}}, {{"opt_g", opt_g_.get()}, {"opt_d", opt_d_.get()}}};
  }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    Pix2pixTrainOptions o = o_;
    o.loop = loop;
    return pix2pix_config_to_json(o);
  }

  std::string describe() const override {
    int64_t params = 0;
    for (const auto& p : g_->parameters()) params += p.numel();
    std::string what = "paired data";
    if (!o_.tasks.empty()) {
      what = "tasks ";
      for (size_t i = 0; i < o_.tasks.size(); ++i) what += (i ? "+" : "") + o_.tasks[i];
    }
    const std::string critic = o_.adversarial ? "PatchGAN " + std::to_string(o_.model.patch_layers()) + " layers"
                                              : "no discriminator, L1 alone";
    char text[320];
    std::snprintf(text, sizeof(text),
                  "pix2pix (U-Net %lld levels, width %lld, %.2fM parameters, %s; %s; L1 weight %g; %s) "
                  "on %s (%lld images %lldx%lldx%lld)",
                  static_cast<long long>(o_.model.levels()), static_cast<long long>(o_.model.width()), params / 1e6,
                  o_.model.residual() ? "residual" : "tanh", critic.c_str(),
                  o_.l1_weight, what.c_str(), spec_.c_str(), static_cast<long long>(b_.size(0)),
                  static_cast<long long>(b_.size(1)), static_cast<long long>(b_.size(2)),
                  static_cast<long long>(b_.size(3)));
    return text;
  }

  std::vector<std::string> value_names() const override { return {"d_loss", "g_gan", "l1", "psnr", "psnr_input"}; }

  std::vector<double> step(const StepInput& in) override {
    // Every rank degrades the global batch (the same draws from LibTorch's default
    // generator, saved by checkpoints) and trains on its share.
    torch::Generator rng = at::detail::getDefaultCPUGenerator();
    const auto [all_input, all_target] = make_batch(a_, b_, o_.tasks, in.indices, rng);
    const torch::Tensor input = in.layout(in.job->share(all_input)), target = in.layout(in.job->share(all_target));
    Pix2pixStep r = pix2pix_train_step(*g_, *d_, *opt_g_, *opt_d_, input, target, o_.l1_weight, in.job, o_.adversarial);
    return {r.d_loss.item<double>(), r.g_gan.item<double>(), r.l1.item<double>(), mean_psnr(r.output, target),
            mean_psnr(input, target)};
  }

  std::vector<std::pair<std::string, double>> derived_values(const std::vector<double>& means) const override {
    return {{"l1_weighted", o_.l1_weight * means[2]}};
  }

  std::string plot_title() const override { return "pix2pix losses (l1_weighted = L1 x l1-weight; PSNR in dB)"; }

  void save_model(const std::string& path) override { save_module(*g_, path); }

  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    g_->eval();
    sample_out_ = g_->forward(sample_in_).clamp(-1, 1);
    g_->train();
    write_png(path, make_grid(torch::cat({sample_in_, sample_out_, sample_target_}), static_cast<int>(sample_in_.size(0))));
  }

  nlohmann::json epoch_end(const std::string&, int64_t) override {
    return {{"sample_psnr", mean_psnr(sample_out_, sample_target_)}, {"sample_psnr_input", mean_psnr(sample_in_, sample_target_)}};
  }

 private:
  Pix2pixTrainOptions o_;
  std::string spec_;
  torch::Tensor a_, b_;
  Pix2pixGenerator g_ = nullptr;
  PatchDiscriminator d_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  torch::Tensor sample_in_, sample_target_, sample_out_;
};

}  // namespace

void Pix2pixTrainOptions::validate() const {
  loop.validate();
  check_input(l1_weight >= 0 && std::isfinite(l1_weight), "--l1-weight must be >= 0");
  check_input(adversarial || l1_weight > 0, "--no-adversarial trains on the L1 term alone: --l1-weight must be > 0");
  const bool maps = std::find(tasks.begin(), tasks.end(), "maps") != tasks.end();
  check_input(!maps || tasks.size() == 1, "--task maps (label map to image) goes alone");
  for (const auto& t : tasks) {
    if (t != "maps") task_degradation(t);  // an Error for unknown tasks
  }
}

Pix2pixStep pix2pix_train_step(Pix2pixGeneratorImpl& generator, PatchDiscriminatorImpl& discriminator,
                               torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d,
                               const torch::Tensor& input, const torch::Tensor& target, double l1_weight,
                               TrainJob* job, bool adversarial) {
  namespace F = torch::nn::functional;
  // Losses in fp32 also when the layers run in bf16 (autocast).
  auto bce = [](const torch::Tensor& logits_out, double label) {
    const torch::Tensor logits = logits_out.to(torch::kFloat);
    return F::binary_cross_entropy_with_logits(logits, torch::full_like(logits, label));
  };
  Pix2pixStep r;
  torch::Tensor output = generator.forward(input).to(torch::kFloat);
  if (adversarial) {
    r.d_loss = 0.5 * (bce(discriminator.forward(input, target), 1.0) + bce(discriminator.forward(input, output.detach()), 0.0));
    opt_d.zero_grad();
    r.d_loss.backward();
    if (job) job->average_gradients(discriminator);
    opt_d.step();
    r.g_gan = bce(discriminator.forward(input, output), 1.0);
  } else {
    r.d_loss = torch::zeros({});
    r.g_gan = torch::zeros({});
  }
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
  nlohmann::json train = train_loop_options_to_json(o.loop);
  train.update({{"tasks", o.tasks}, {"l1_weight", o.l1_weight}, {"adversarial", o.adversarial}, {"beta1", o.beta1}, {"beta2", o.beta2}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", "pix2pix"},
          {"model", pix2pix_options_to_json(o.model)},
          {"data", data_options_to_json(o.loop.data)},
          {"train", train}};
}

Pix2pixTrainOptions read_pix2pix_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "pix2pix", run_dir + " is not a pix2pix run");
  try {
    Pix2pixTrainOptions o;
    const nlohmann::json& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.model = pix2pix_options_from_json(config.at("model"));
    o.tasks = t.at("tasks").get<std::vector<std::string>>();
    o.l1_weight = t.at("l1_weight").get<double>();
    o.adversarial = t.value("adversarial", true);
    o.beta1 = t.at("beta1").get<double>();
    o.beta2 = t.at("beta2").get<double>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_pix2pix(const Pix2pixTrainOptions& options, bool resume) {
  options.validate();
  Pix2pixTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
