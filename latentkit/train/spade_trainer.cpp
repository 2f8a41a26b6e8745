#include "latentkit/train/spade_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/gan_trainer.h"
#include "latentkit/train/pix2pix_trainer.h"

namespace latentkit {
namespace {

using Judgement = std::vector<std::vector<torch::Tensor>>;  // per scale, every layer's output

torch::Tensor hinge_d(const Judgement& real, const Judgement& fake) {
  torch::Tensor loss = torch::zeros({});
  for (size_t s = 0; s < real.size(); ++s) {
    loss = loss + torch::relu(1 - real[s].back().to(torch::kFloat)).mean() + torch::relu(1 + fake[s].back().to(torch::kFloat)).mean();
  }
  return loss / static_cast<double>(real.size());
}

torch::Tensor hinge_g(const Judgement& fake) {
  torch::Tensor loss = torch::zeros({});
  for (const auto& scale : fake) loss = loss - scale.back().to(torch::kFloat).mean();
  return loss / static_cast<double>(fake.size());
}

// L1 between the features (all but the logits) of real and fake, averaged over layers and scales.
torch::Tensor feature_matching(const Judgement& real, const Judgement& fake) {
  torch::Tensor loss = torch::zeros({});
  int64_t terms = 0;
  for (size_t s = 0; s < real.size(); ++s) {
    for (size_t l = 0; l + 1 < real[s].size(); ++l, ++terms) {
      loss = loss + (fake[s][l].to(torch::kFloat) - real[s][l].to(torch::kFloat).detach()).abs().mean();
    }
  }
  return terms > 0 ? loss / static_cast<double>(terms) : loss;
}

class SpadeTask : public TrainTask {
 public:
  explicit SpadeTask(const SpadeTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_input(loop.batch >= 4, "--batch must be >= 4 for spade (BatchNorm and pairs of latents), got " +
                                     std::to_string(loop.batch));
    data_ = load_dataset(loop.data);
    check_input(data_.height() == data_.width(), "data " + loop.data.spec + " has " + std::to_string(data_.height()) +
                                                     "x" + std::to_string(data_.width()) +
                                                     " images; spade needs square ones (pass --size)");
    ensure_maps(data_);
    const MapPalette& palette = map_palette(data_.map_palette);
    o_.model.channels(data_.channels()).image_size(data_.height()).classes(palette.size()).palette(palette.name);
    o_.model.validate();
    return data_.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    g_ = SpadeGenerator(o_.model);
    d_ = SpadeDiscriminator(o_.model);
    job.broadcast(*g_);
    job.broadcast(*d_);
    ema_ = std::dynamic_pointer_cast<SpadeGeneratorImpl>(g_->clone());
    ema_->eval();
    const auto adam = [](double lr) { return torch::optim::AdamOptions(lr).betas({0.0, 0.9}); };
    opt_g_ = std::make_unique<torch::optim::Adam>(g_->parameters(), adam(loop.lr / 2));
    opt_d_ = std::make_unique<torch::optim::Adam>(d_->parameters(), adam(loop.lr * 2));
    // Samples: maps spread over the data, each drawn with the same 3 latents (a row per latent).
    torch::Generator sample_rng = make_rng(loop.seed ^ 0x5eedULL);
    const int64_t n = std::min(loop.sample_count, data_.size());
    sample_maps_ = data_.maps.index_select(0, torch::arange(n, torch::kInt64) * (data_.size() / n));
    sample_z_ = torch::randn({3, o_.model.latent_dim()}, sample_rng);
    g_->train();
    d_->train();
  }

  CheckpointParts parts() override {
    return {{{"generator", g_.get()}, {"discriminator", d_.get()}, {"generator_ema", ema_.get()}},
            {{"optimizer_g", opt_g_.get()}, {"optimizer_d", opt_d_.get()}}};
  }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    SpadeTrainOptions o = o_;
    o.loop = loop;
    return spade_config_to_json(o);
  }

  std::string describe() const override {
    int64_t params = 0;
    for (const auto& p : g_->parameters()) params += p.numel();
    char text[320];
    std::snprintf(text, sizeof(text),
                  "spade (width %lld, z %lld, %.2fM parameters; %lld-scale PatchGAN; feature matching %g, diversity %g) on "
                  "%s with %s maps (%lld classes)",
                  static_cast<long long>(o_.model.width()), static_cast<long long>(o_.model.latent_dim()), params / 1e6,
                  static_cast<long long>(o_.model.d_scales()), o_.fm_weight, o_.diversity, describe_data(data_).c_str(),
                  o_.model.palette().c_str(), static_cast<long long>(o_.model.classes()));
    return text;
  }

  std::vector<std::string> value_names() const override { return {"d_loss", "g_gan", "g_fm", "diversity"}; }

  std::vector<double> step(const StepInput& in) override {
    const torch::Tensor indices = in.job->share(in.indices);
    const torch::Tensor real = in.layout(normalize_images(data_.images.index_select(0, indices)));
    const torch::Tensor maps = in.layout(one_hot_maps(data_.maps.index_select(0, indices), o_.model.classes()));
    const int64_t n = real.size(0), world = in.job->world_size();
    torch::Tensor z = torch::randn({n * world, o_.model.latent_dim()});
    z = in.job->share(z);
    // With diversity, the first half of the maps twice: pairs (i, i + h) share a map.
    const int64_t h = o_.diversity > 0 ? n / 2 : n;
    torch::Tensor g_maps = o_.diversity > 0 ? torch::cat({maps.slice(0, 0, h), maps.slice(0, 0, h)}) : maps;
    torch::Tensor g_real = o_.diversity > 0 ? torch::cat({real.slice(0, 0, h), real.slice(0, 0, h)}) : real;
    z = z.slice(0, 0, g_maps.size(0));
    torch::Tensor fake = g_->forward(z, g_maps).to(torch::kFloat);

    auto judge = [&](const torch::Tensor& images, const torch::Tensor& m, bool augment) {
      torch::Tensor x = torch::cat({images, m.to(images.dtype())}, 1);
      if (augment && o_.augment.any()) x = diff_augment(x, o_.augment, in.job);
      return d_->forward(x);
    };
    torch::Tensor d_loss = hinge_d(judge(real, maps, true), judge(fake.detach(), g_maps, true));
    opt_d_->zero_grad();
    d_loss.backward();
    in.job->average_gradients(*d_);
    opt_d_->step();

    Judgement plain = judge(fake, g_maps, false);
    torch::Tensor g_gan = hinge_g(o_.augment.any() ? judge(fake, g_maps, true) : plain);
    Judgement real_features;
    {
      torch::NoGradGuard no_grad;
      real_features = judge(g_real, g_maps, false);
    }
    torch::Tensor g_fm = feature_matching(real_features, plain);
    torch::Tensor g_loss = g_gan + o_.fm_weight * g_fm;
    torch::Tensor ratio = torch::zeros({});
    if (o_.diversity > 0) {
      torch::Tensor images = (fake.slice(0, 0, h) - fake.slice(0, h, 2 * h)).abs().flatten(1).mean(1);
      torch::Tensor latents = (z.slice(0, 0, h) - z.slice(0, h, 2 * h)).abs().mean(1);
      ratio = (images / latents.clamp_min(1e-6)).clamp_max(1.0).mean();
      g_loss = g_loss - o_.diversity * ratio;
    }
    opt_g_->zero_grad();
    g_loss.backward();
    in.job->average_gradients(*g_);
    opt_g_->step();
    if (o_.ema) update_ema(*ema_, *g_, o_.ema_decay, in.step);
    return {d_loss.item<double>(), g_gan.item<double>(), g_fm.item<double>(), ratio.item<double>()};
  }

  std::string plot_title() const override {
    return "spade losses (hinge; g_fm: feature matching; diversity: |dG| / |dz|)";
  }

  void save_model(const std::string& path) override { save_module(o_.ema ? *ema_ : *g_, path); }

  void write_samples(const std::string& path) override {
    SpadeGenerator& net = o_.ema ? ema_ : g_;
    const int64_t n = sample_maps_.size(0), c = o_.model.channels();
    std::vector<torch::Tensor> rows{normalize_images(map_input_images(sample_maps_, map_palette(o_.model.palette()), c))};
    for (int64_t r = 0; r < sample_z_.size(0); ++r) {
      rows.push_back(spade_generate(*net, sample_maps_, sample_z_.slice(0, r, r + 1).expand({n, -1})));
    }
    if (!o_.ema) g_->train();
    write_png(path, make_grid(torch::cat(rows), static_cast<int>(n)));
  }

 private:
  SpadeTrainOptions o_;
  Dataset data_;
  SpadeGenerator g_ = nullptr, ema_ = nullptr;
  SpadeDiscriminator d_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  torch::Tensor sample_maps_, sample_z_;
};

}  // namespace

void SpadeTrainOptions::validate() const {
  loop.validate();
  check_input(fm_weight >= 0 && std::isfinite(fm_weight), "--fm-weight must be >= 0");
  check_input(diversity >= 0 && std::isfinite(diversity), "--diversity must be >= 0");
  check_input(ema_decay > 0 && ema_decay < 1, "--ema-decay must be in (0, 1)");
}

nlohmann::json spade_config_to_json(const SpadeTrainOptions& o) {
  nlohmann::json train = train_loop_options_to_json(o.loop);
  train.update({{"fm_weight", o.fm_weight},
                {"diversity", o.diversity},
                {"augment", diff_augment_text(o.augment)},
                {"ema", o.ema},
                {"ema_decay", o.ema_decay}});
  return {{"latentkit_version", LATENTKIT_VERSION},
          {"family", "spade"},
          {"classes", map_palette(o.model.palette()).class_names},
          {"model", spade_options_to_json(o.model)},
          {"data", data_options_to_json(o.loop.data)},
          {"train", train}};
}

SpadeTrainOptions read_spade_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "spade", run_dir + " is not a spade run");
  try {
    SpadeTrainOptions o;
    const nlohmann::json& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.model = spade_options_from_json(config.at("model"));
    o.fm_weight = t.at("fm_weight").get<double>();
    o.diversity = t.at("diversity").get<double>();
    o.augment = parse_diff_augment(t.at("augment").get<std::string>());
    o.ema = t.at("ema").get<bool>();
    o.ema_decay = t.at("ema_decay").get<double>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
}

TrainSummary train_spade(const SpadeTrainOptions& options, bool resume) {
  options.validate();
  SpadeTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
