#include "latentkit/train/ddpm_trainer.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/degrade.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/gan_trainer.h"

namespace latentkit {
namespace {

class DdpmTask : public TrainTask {
 public:
  explicit DdpmTask(const DdpmTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    data_ = load_generator_data(loop.data, o_.model.unet, o_.condition_on, o_.class_names, "the U-Net");
    if (o_.text) {
      // Captions drawn per step from each image's facts; the vocabulary is every word they
      // can hold, made once: a resumed run keeps the one in its config.json.
      facts_ = caption_facts(data_);
      if (o_.model.tokenizer.vocab_size() == 0) o_.model.tokenizer = caption_tokenizer(facts_, o_.model.unet.text().max_tokens());
      o_.model.unet.text(o_.model.unet.text().vocab_size(o_.model.tokenizer.vocab_size()));
    }
    const auto& tasks = o_.model.tasks;
    check_input(data_.channels() >= 3 || std::find(tasks.begin(), tasks.end(), "colorize") == tasks.end(),
                "--tasks colorize needs color data (RGB or RGBA); " + loop.data.spec + " is gray here");
    validate_ddpm_options(o_.model);
    return data_.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    o_.loop = loop;
    net_ = UNet(o_.model.unet);
    job.broadcast(*net_);
    ema_ = std::dynamic_pointer_cast<UNetImpl>(net_->clone());
    ema_->eval();
    schedule_ = make_schedule(o_.model.schedule, o_.model.timesteps);
    opt_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(loop.lr));
    torch::Generator sample_rng = make_rng(loop.seed ^ 0x5eedULL);
    const int64_t size = o_.model.unet.image_size();
    sample_x_ = torch::randn({loop.sample_count, o_.model.unet.channels(), size, size}, sample_rng);
    if (classes() > 0) sample_labels_ = torch::arange(loop.sample_count, torch::kInt64).remainder(classes());
    if (o_.text) {
      // The samples' prompts: the canonical captions of training images evenly spread over the set.
      std::vector<std::string> prompts;
      for (int64_t i = 0; i < loop.sample_count; ++i) {
        prompts.push_back(canonical_caption(facts_[static_cast<size_t>(i * data_.size() / loop.sample_count)]));
      }
      sample_labels_ = o_.model.tokenizer.encode_captions(prompts);
    }
    net_->train();
  }

  CheckpointParts parts() override {
    return {{{"unet", net_.get()}, {"unet_ema", ema_.get()}}, {{"optimizer", opt_.get()}}};
  }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    DdpmTrainOptions o = o_;
    o.loop = loop;
    return ddpm_config_to_json(o);
  }

  std::string describe() const override {
    int64_t params = 0;
    for (const auto& p : net_->parameters()) params += p.numel();
    std::string tasks;
    for (const auto& t : o_.model.tasks) tasks += (tasks.empty() ? ", tasks " : "+") + t;
    char text[256];
    const std::string family = o_.text ? "t2i, " + std::to_string(o_.model.tokenizer.vocab_size()) + " words,"
                               : classes() > 0 ? "cddpm, " + std::to_string(classes()) + " classes,"
                                               : "ddpm";
    std::snprintf(text, sizeof(text), "%s (U-Net width %lld, %.2fM parameters, %s schedule, T %lld, %s prediction%s)",
                  family.c_str(),
                  static_cast<long long>(o_.model.unet.width()), params / 1e6, schedule_names().name(o_.model.schedule).c_str(),
                  static_cast<long long>(o_.model.timesteps), prediction_names().name(o_.model.prediction).c_str(), tasks.c_str());
    return text + (" on " + describe_data(data_));
  }

  std::vector<std::string> value_names() const override { return {"loss"}; }

  double learning_rate(const TrainLoopOptions& loop, int64_t step, int64_t) const override {
    return loop.lr * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(o_.warmup + 1));
  }

  std::vector<double> step(const StepInput& in) override {
    const torch::Tensor x0 = in.layout(normalize_images(data_.images.index_select(0, in.indices)));
    // Every rank draws for the global batch from LibTorch's default generator (saved by
    // checkpoints); the U-Net runs on this rank's share.
    torch::Generator rng = at::detail::getDefaultCPUGenerator();
    torch::Tensor condition;
    if (classes() > 0) condition = data_.labels.index_select(0, in.indices);
    if (o_.text) {
      std::vector<std::string> captions;
      auto index = in.indices.accessor<int64_t, 1>();
      for (int64_t i = 0; i < index.size(0); ++i) captions.push_back(random_caption(facts_[static_cast<size_t>(index[i])], rng));
      condition = o_.model.tokenizer.encode_captions(captions);
    }
    torch::Tensor loss = ddpm_loss(net_, schedule_, o_, x0, condition, rng, in.job);
    opt_->zero_grad();
    loss.backward();
    in.job->average_gradients(*net_);
    torch::nn::utils::clip_grad_norm_(net_->parameters(), 1.0);
    opt_->step();
    update_ema(*ema_, *net_, o_.ema_decay, in.step);
    return {loss.item<double>()};
  }

  std::string plot_title() const override { return "DDPM loss (mean squared error)"; }

  void save_model(const std::string& path) override { save_module(*ema_, path); }

  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    DdpmModel model(ema_, o_.model);
    SampleOptions so;
    so.steps = o_.model.sample_steps;
    torch::Generator rng = make_rng(o_.loop.seed);
    write_png(path, make_grid(model.sample(sample_x_, sample_labels_, so, 1.0, rng), static_cast<int>(classes())));
  }

 private:
  int64_t classes() const { return o_.model.unet.num_classes(); }

  DdpmTrainOptions o_;
  Dataset data_;
  UNet net_ = nullptr, ema_ = nullptr;
  NoiseSchedule schedule_;
  std::unique_ptr<torch::optim::Adam> opt_;
  torch::Tensor sample_x_, sample_labels_;
  std::vector<CaptionFacts> facts_;  // text models: each image's caption facts
};

}  // namespace

void DdpmTrainOptions::validate() const {
  loop.validate();
  check_input(warmup >= 0, "--warmup must be >= 0");
  check_input(ema_decay > 0 && ema_decay < 1, "--ema-decay must be in (0, 1)");
  check_input(label_dropout >= 0 && label_dropout < 1, "--label-dropout must be in [0, 1)");
  check_input(uncond_share >= 0 && uncond_share < 1, "--uncond-share must be in [0, 1)");
}

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
      const std::string& task = model.tasks[k];
      const char* kind = task == "restore" ? "mixed" : task == "colorize" ? "gray" : "lineart";
      b.cond = torch::where(pick, restore_condition(degrade(x0, kind, rng)), b.cond);
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
  const bool text = net->has_text();
  if (text) {  // labels are prompt tokens [N, L]; a dropped prompt is a row of padding
    torch::Tensor drop = (torch::rand({n}, rng) < o.label_dropout).unsqueeze(1);
    labels = torch::where(drop, torch::full_like(labels, kPadToken), labels);
  }
  PaletteBatch b = palette_batch(x0, o.model, o.uncond_share, rng);
  torch::Tensor target = o.model.prediction == Prediction::kV ? v_target(schedule, x0, t, noise) : noise;
  auto mine = [&](const torch::Tensor& all) { return job ? job->share(all) : all; };
  const int64_t world = job ? job->world_size() : 1;
  // The loss in fp32 also when the U-Net runs in bf16 (autocast).
  torch::Tensor prediction =
      (text ? net->forward(mine(x_t), mine(t), {}, mine(b.cond), net->encode_text(mine(labels)))
            : net->forward(mine(x_t), mine(t), mine(labels), mine(b.cond)))
          .to(torch::kFloat);
  torch::Tensor err = (prediction - mine(target)).square() * mine(b.weights);
  // x world: the ranks' mean is then the global batch's loss.
  return err.sum() * world / (b.weights.sum() * x0.size(1)).clamp_min(1.0);
}

nlohmann::json ddpm_config_to_json(const DdpmTrainOptions& o) {
  nlohmann::json train = train_loop_options_to_json(o.loop);
  train.update({{"condition_on", condition_on_names().name(o.condition_on)},
                {"warmup", o.warmup},
                {"ema_decay", o.ema_decay},
                {"label_dropout", o.label_dropout},
                {"uncond_share", o.uncond_share}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", ddpm_family(o.model.unet)},
          {"classes", o.class_names},
          {"model", ddpm_options_to_json(o.model)},
          {"data", data_options_to_json(o.loop.data)},
          {"train", train}};
}

DdpmTrainOptions read_ddpm_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  const std::string family = config.value("family", "");
  check_input(family == "ddpm" || family == "cddpm" || family == "t2i", run_dir + " is not a diffusion run");
  try {
    DdpmTrainOptions o;
    const nlohmann::json& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.model = ddpm_options_from_json(config.at("model"));
    o.condition_on = condition_on_names().parse(t.value("condition_on", std::string("class")));
    o.warmup = t.at("warmup").get<int64_t>();
    o.ema_decay = t.at("ema_decay").get<double>();
    o.label_dropout = t.at("label_dropout").get<double>();
    o.uncond_share = t.at("uncond_share").get<double>();
    o.class_names = config.value("classes", std::vector<std::string>{});
    o.text = family == "t2i";
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_ddpm(const DdpmTrainOptions& options, bool resume) {
  options.validate();
  DdpmTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
