#include "latentkit/train/vae_trainer.h"

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

class VaeTask : public TrainTask {
 public:
  explicit VaeTask(const VaeTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    data_ = load_generator_data(loop.data, o_.model, o_.condition_on, o_.class_names, "the VAE");
    return data_.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    batch_ = loop.batch;
    net_ = Vae(o_.model);
    job.broadcast(*net_);
    opt_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(loop.lr));
    torch::Generator sample_rng = make_rng(loop.seed ^ 0x5eedULL);
    sample_z_ = torch::randn({loop.sample_count, o_.model.latent_dim()}, sample_rng);
    // Conditional grids: one column per class.
    if (classes() > 0) sample_labels_ = torch::arange(loop.sample_count, torch::kInt64).remainder(classes());
    net_->train();
  }

  CheckpointParts parts() override { return {{{"vae", net_.get()}}, {{"optimizer", opt_.get()}}}; }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    VaeTrainOptions o = o_;
    o.loop = loop;
    return vae_config_to_json(o);
  }

  std::string describe() const override {
    char text[160];
    std::snprintf(text, sizeof(text), "%s (latent %lld, beta %g, %s)",
                  classes() > 0 ? ("cvae, " + std::to_string(classes()) + " classes,").c_str() : "vae",
                  static_cast<long long>(o_.model.latent_dim()), o_.model.beta(), o_.model.recon().c_str());
    return text + (" on " + describe_data(data_));
  }

  std::vector<std::string> value_names() const override { return {"recon", "kl"}; }

  std::vector<double> step(const StepInput& in) override {
    // This rank's share of the global batch, and of the noise drawn for all of it.
    const torch::Tensor indices = in.job->share(in.indices);
    const torch::Tensor eps = in.job->share(torch::randn({batch_, o_.model.latent_dim()}));
    const torch::Tensor x = in.layout(normalize_images(data_.images.index_select(0, indices)));
    VaeLoss l = net_->loss(x, classes() > 0 ? data_.labels.index_select(0, indices) : torch::Tensor(), eps);
    opt_->zero_grad();
    l.loss.backward();
    in.job->average_gradients(*net_);
    opt_->step();
    return {l.recon.item<double>(), l.kl.item<double>()};
  }

  std::vector<std::pair<std::string, double>> derived_values(const std::vector<double>& means) const override {
    return {{"elbo", -(means[0] + means[1])}};
  }

  std::string plot_title() const override { return "VAE loss per image (nats; elbo = -(recon + KL))"; }

  void save_model(const std::string& path) override { save_module(*net_, path); }

  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    net_->eval();
    torch::Tensor images = 2 * torch::sigmoid(net_->decode_logits(sample_z_, sample_labels_)) - 1;
    net_->train();
    write_png(path, make_grid(images, static_cast<int>(classes())));
  }

 private:
  int64_t classes() const { return o_.model.num_classes(); }

  VaeTrainOptions o_;
  Dataset data_;
  int64_t batch_ = 0;
  Vae net_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_;
  torch::Tensor sample_z_, sample_labels_;
};

}  // namespace

nlohmann::json vae_config_to_json(const VaeTrainOptions& o) {
  nlohmann::json train = train_loop_options_to_json(o.loop);
  train["condition_on"] = condition_on_names().name(o.condition_on);
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", o.model.num_classes() > 0 ? "cvae" : "vae"},
          {"classes", o.class_names},
          {"model", vae_options_to_json(o.model)},
          {"data", data_options_to_json(o.loop.data)},
          {"train", train}};
}

VaeTrainOptions read_vae_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  const std::string family = config.value("family", "");
  check_input(family == "vae" || family == "cvae", run_dir + " is not a VAE run");
  try {
    VaeTrainOptions o;
    const auto& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.model = vae_options_from_json(config.at("model"));
    o.condition_on = condition_on_names().parse(t.value("condition_on", std::string("class")));
    o.class_names = config.value("classes", std::vector<std::string>{});
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_vae(const VaeTrainOptions& options, bool resume) {
  VaeTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
