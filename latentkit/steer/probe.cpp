#include "latentkit/steer/probe.h"

#include <torch/script.h>

#include <algorithm>
#include <cstdio>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/progress.h"
#include "latentkit/eval/features.h"
#include "latentkit/eval/npy.h"
#include "latentkit/models/classifier.h"

namespace latentkit {
namespace {

constexpr double kInkThreshold = 0.15;

torch::Tensor to_uint8(const torch::Tensor& images) {
  return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch::kUInt8);
}

// Per image: index of the first and last true entry of mask [N, L] (L when none / -1).
std::pair<torch::Tensor, torch::Tensor> extent(const torch::Tensor& mask) {
  const int64_t length = mask.size(1);
  torch::Tensor index = torch::arange(length, torch::kFloat64).unsqueeze(0);
  torch::Tensor first = torch::where(mask, index, torch::full_like(index, static_cast<double>(length))).amin(1);
  torch::Tensor last = torch::where(mask, index, torch::full_like(index, -1.0)).amax(1);
  return {first, last};
}

}  // namespace

torch::Tensor images_to_float(const torch::Tensor& images) {
  if (images.scalar_type() == torch::kUInt8) return images.to(torch::kFloat32) / 127.5 - 1;
  return images.to(torch::kFloat32);
}

Pairs sample_pairs(Generator& generator, const std::string& run_dir, const PairOptions& o) {
  check_input(o.n >= 2, "the number of latent/image pairs must be at least 2, got " + std::to_string(o.n));
  check_input(o.batch >= 1, "batch must be at least 1, got " + std::to_string(o.batch));
  Pairs pairs;
  const std::string key_text = file_sha256(run_dir + "/model.pt") + "|" + generator.family() + "|" +
                               std::to_string(o.n) + "|" + std::to_string(o.seed) + "|" + std::to_string(o.truncation);
  const std::string base =
      (o.cache_dir.empty() ? default_cache_dir() : o.cache_dir) + "/pairs-" + sha256_hex(key_text).substr(0, 16);
  if (o.use_cache && path_exists(base + ".z.npy") && path_exists(base + ".images.npy")) {
    pairs.z = read_npy(base + ".z.npy");
    pairs.images = read_npy(base + ".images.npy");
    const auto shape = generator.image_shape();
    if (pairs.z.dim() == 2 && pairs.z.size(0) == o.n && pairs.z.size(1) == generator.latent_dim() &&
        pairs.images.dim() == 4 && pairs.images.size(0) == o.n && pairs.images.size(1) == shape[0] &&
        pairs.images.size(2) == shape[1] && pairs.images.size(3) == shape[2]) {
      pairs.cache = base;
      pairs.from_cache = true;
      std::fprintf(stderr, "%lld cached latent/image pairs from %s.*.npy\n", static_cast<long long>(o.n), base.c_str());
      return pairs;
    }
    std::fprintf(stderr, "the cached pairs in %s.*.npy do not match this model; sampling again\n", base.c_str());
  }
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(o.seed);
  pairs.z = generator.sample_latent(o.n, rng, o.truncation).to(torch::kFloat32);
  std::vector<torch::Tensor> images;
  const int64_t batches = (o.n + o.batch - 1) / o.batch;
  Progress progress("pairs", batches);
  for (int64_t b = 0; b < batches; ++b) {
    torch::Tensor z = pairs.z.slice(0, b * o.batch, std::min(o.n, (b + 1) * o.batch));
    images.push_back(to_uint8(generator.decode(z)));
    progress.update(b + 1, "", static_cast<double>(o.batch));
  }
  progress.finish(std::to_string(o.n) + " latent/image pairs");
  pairs.images = torch::cat(images);
  if (o.use_cache) {
    write_npy(base + ".z.npy", pairs.z);
    write_npy(base + ".images.npy", pairs.images);
    pairs.cache = base;
  }
  return pairs;
}

std::vector<std::string> attribute_names(int64_t channels) {
  std::vector<std::string> names = {"brightness", "contrast", "ink", "width", "height", "centre-x", "centre-y"};
  if (channels == 3) names.push_back("saturation");
  if (channels == 4) {
    for (const char* name : {"saturation", "colorfulness", "hue-cos", "hue-sin", "coverage"}) names.push_back(name);
  }
  return names;
}

namespace {

// The attributes of RGBA images x [N, 4, H, W] in [0, 1] premultiplied: those of
// image_attributes measured on the drawn pixels (weighted by alpha; ink is alpha > 0.5),
// then saturation, colorfulness (Hasler and Suesstrunk 2003: std + 0.3 mean of the
// opponent channels R - G and (R + G) / 2 - B), the chroma-weighted mean hue as (cos + 1) / 2
// and (sin + 1) / 2, and coverage (mean alpha).
// Every value's gradient is finite, so a backward pass through any one column of score_graph
// stays free of NaN (a zero upstream gradient times an infinite local one is NaN): square
// roots take at least 1e-24, and the hue direction is a ratio taken only where it is defined.
std::vector<torch::Tensor> rgba_attributes(const torch::Tensor& x) {
  const int64_t n = x.size(0);
  const auto root = [](const torch::Tensor& v) { return v.clamp_min(1e-24).sqrt(); };
  const torch::Tensor alpha = x.select(1, 3);                                                    // [N, H, W]
  const torch::Tensor rgb = torch::minimum(x.slice(1, 0, 3), alpha.unsqueeze(1)) / alpha.unsqueeze(1).clamp_min(1e-6);
  const torch::Tensor weight = alpha.flatten(1), total = weight.sum(1).clamp_min(1e-6);
  const auto mean = [&](const torch::Tensor& v) { return (v.flatten(1) * weight).sum(1) / total; };
  const auto std_dev = [&](const torch::Tensor& v) {
    const torch::Tensor m = mean(v).view({n, 1});
    return root(((v.flatten(1) - m).pow(2) * weight).sum(1).div(total));
  };
  const torch::Tensor r = rgb.select(1, 0), g = rgb.select(1, 1), b = rgb.select(1, 2);
  const torch::Tensor y = luma(rgb).squeeze(1);
  const torch::Tensor chroma = std::get<0>(rgb.max(1)) - std::get<0>(rgb.min(1));
  const torch::Tensor rg = r - g, yb = 0.5 * (r + g) - b;
  const torch::Tensor colorfulness = root(std_dev(rg).pow(2) + std_dev(yb).pow(2)) +
                                     0.3 * root(mean(rg).pow(2) + mean(yb).pow(2));
  // The hue angle of HSV, as a unit vector (cos, sin) weighted by chroma and alpha; gray
  // pixels, which have no hue, count as (0, 0).
  const torch::Tensor hue_x = 2 * r - g - b, hue_y = std::sqrt(3.0) * (g - b);
  const torch::Tensor norm = root(hue_x.pow(2) + hue_y.pow(2)), has_hue = norm > 1e-6;
  const torch::Tensor safe_norm = torch::where(has_hue, norm, torch::ones_like(norm));
  const torch::Tensor cos_hue = torch::where(has_hue, hue_x / safe_norm, torch::zeros_like(norm));
  const torch::Tensor sin_hue = torch::where(has_hue, hue_y / safe_norm, torch::zeros_like(norm));
  const torch::Tensor hx = mean(chroma * cos_hue), hy = mean(chroma * sin_hue);
  const torch::Tensor length = root(hx.pow(2) + hy.pow(2));
  const torch::Tensor grey = length < 1e-6;
  const torch::Tensor hue_cos = torch::where(grey, torch::ones_like(hx), hx / length.clamp_min(1e-6));
  const torch::Tensor hue_sin = torch::where(grey, torch::zeros_like(hy), hy / length.clamp_min(1e-6));

  const int64_t h = x.size(2), w = x.size(3);
  const torch::Tensor ink = alpha > 0.5;
  const torch::Tensor ink_f = ink.to(torch::kFloat64), ink_count = ink_f.sum({1, 2});
  auto [col_first, col_last] = extent(ink.any(1));
  auto [row_first, row_last] = extent(ink.any(2));
  const torch::Tensor xs = (torch::arange(w, torch::kFloat64) + 0.5) / static_cast<double>(w);
  const torch::Tensor ys = (torch::arange(h, torch::kFloat64) + 0.5) / static_cast<double>(h);
  const torch::Tensor safe = ink_count.clamp_min(1), none = ink_count == 0;
  return {mean(y),
          std_dev(y),
          ink_f.flatten(1).mean(1),
          ((col_last - col_first + 1) / static_cast<double>(w)).clamp_min(0),
          ((row_last - row_first + 1) / static_cast<double>(h)).clamp_min(0),
          torch::where(none, torch::full_like(safe, 0.5), (ink_f.sum(1) * xs).sum(1) / safe),
          torch::where(none, torch::full_like(safe, 0.5), (ink_f.sum(2) * ys).sum(1) / safe),
          mean(chroma),
          colorfulness,
          (hue_cos + 1) / 2,
          (hue_sin + 1) / 2,
          weight.mean(1)};
}

}  // namespace

torch::Tensor image_attributes(const torch::Tensor& images_in) {
  check_input(images_in.dim() == 4 && (images_in.size(1) == 1 || images_in.size(1) == 3 || images_in.size(1) == 4),
              "image attributes need [N, 1, 3 or 4, H, W] images, got " + c10::str(images_in.sizes()));
  torch::Tensor x = (images_to_float(images_in).to(torch::kFloat64) + 1) / 2;  // [0, 1]
  if (x.size(1) == 4) return torch::stack(rgba_attributes(x.clamp(0, 1)), 1);
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  torch::Tensor gray = x.mean(1);  // [N, H, W]
  torch::Tensor flat = gray.flatten(1);
  // The background is the mean of the border pixels.
  torch::Tensor border = torch::cat({gray.select(1, 0), gray.select(1, h - 1), gray.select(2, 0), gray.select(2, w - 1)}, 1);
  torch::Tensor ink = (gray - border.mean(1).view({n, 1, 1})).abs() > kInkThreshold;  // [N, H, W]
  torch::Tensor ink_f = ink.to(torch::kFloat64);
  torch::Tensor ink_count = ink_f.sum({1, 2});
  auto [col_first, col_last] = extent(ink.any(1));
  auto [row_first, row_last] = extent(ink.any(2));
  torch::Tensor width = ((col_last - col_first + 1) / static_cast<double>(w)).clamp_min(0);
  torch::Tensor height = ((row_last - row_first + 1) / static_cast<double>(h)).clamp_min(0);
  torch::Tensor xs = (torch::arange(w, torch::kFloat64) + 0.5) / static_cast<double>(w);
  torch::Tensor ys = (torch::arange(h, torch::kFloat64) + 0.5) / static_cast<double>(h);
  torch::Tensor safe = ink_count.clamp_min(1);
  torch::Tensor none = ink_count == 0;
  torch::Tensor centre_x = torch::where(none, torch::full_like(safe, 0.5), (ink_f.sum(1) * xs).sum(1) / safe);
  torch::Tensor centre_y = torch::where(none, torch::full_like(safe, 0.5), (ink_f.sum(2) * ys).sum(1) / safe);
  std::vector<torch::Tensor> columns = {flat.mean(1), flat.std(1, /*unbiased=*/false), ink_f.flatten(1).mean(1),
                                        width, height, centre_x, centre_y};
  if (x.size(1) == 3) columns.push_back((std::get<0>(x.max(1)) - std::get<0>(x.min(1))).flatten(1).mean(1));
  return torch::stack(columns, 1);
}

struct ImageScorer::Models {
  ClassifierRun classifier;
  std::vector<torch::jit::Module> scorers;
  std::vector<std::string> hashes;  // classifier first (when there is one), then scorers
};

ImageScorer::ImageScorer(const FeatureSpec& spec, int64_t channels)
    : spec_(spec), channels_(channels), models_(std::make_unique<Models>()) {
  check_input(channels == 1 || channels == 3 || channels == 4, "images must have 1, 3 or 4 channels, got " + std::to_string(channels));
  if (!spec.classifier.empty()) {
    models_->classifier = load_classifier_run(spec.classifier);
    models_->hashes.push_back(file_sha256(spec.classifier + "/model.pt"));
    // One column per output of the network, named by the run where it names them.
    const ClassifierRun& run = models_->classifier;
    const ClassifierOptions& o = run.model->options;
    for (int64_t c = 0; c < o.num_classes(); ++c) {
      const size_t i = static_cast<size_t>(c);
      columns_.push_back({i < run.class_names.size() ? run.class_names[i] : "class-" + std::to_string(c),
                          "probability", "class"});
    }
    for (int64_t f = 0; f < o.num_factors(); ++f) {
      const size_t i = static_cast<size_t>(f);
      columns_.push_back({i < run.factor_names.size() ? run.factor_names[i] : "factor-" + std::to_string(f),
                          "continuous", "factor"});
    }
  }
  if (spec.attributes) {
    for (const std::string& a : attribute_names(channels)) columns_.push_back({a, "continuous", "attribute"});
  }
  for (const std::string& item : spec.scorers) {
    const size_t eq = item.find('=');
    check_input(eq != std::string::npos && eq > 0 && eq + 1 < item.size(),
                "--scorer '" + item + "' must be NAME=MODEL.pt (a TorchScript module: images -> [N] scores)");
    const std::string name = item.substr(0, eq), path = item.substr(eq + 1);
    check_input(path_exists(path), "scorer '" + name + "': no file " + path);
    try {
      models_->scorers.push_back(torch::jit::load(path, torch::kCPU));
    } catch (const c10::Error& e) {
      throw Error("scorer '" + name + "': " + path + " is not a TorchScript module (" +
                  std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
    models_->scorers.back().eval();
    models_->hashes.push_back(file_sha256(path));
    columns_.push_back({name, "continuous", "scorer"});
  }
  check_input(!columns_.empty(), "no features to score: give --features CLASSIFIER_RUN, --scorer NAME=MODEL.pt, "
                                 "or leave the image attributes on");
  for (size_t i = 0; i < columns_.size(); ++i) {
    const std::string slug = axis_slug(columns_[i].label);
    check_input(!slug.empty(), "feature '" + columns_[i].label + "' needs a name with a letter or digit");
    for (size_t j = 0; j < i; ++j) {
      check_input(axis_slug(columns_[j].label) != slug,
                  "two features are both called '" + slug + "'; rename the scorer (--scorer OTHER_NAME=...)");
    }
  }
}

ImageScorer::~ImageScorer() = default;

torch::Tensor ImageScorer::score(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  torch::Tensor scores = score_graph(images);
  check_input(torch::isfinite(scores).all().item<bool>(), "a feature scored NaN or Inf on generated images");
  return scores;
}

torch::Tensor ImageScorer::score_graph(const torch::Tensor& images_in) {
  check_input(images_in.dim() == 4 && images_in.size(1) == channels_,
              "images to score must be [N, " + std::to_string(channels_) + ", H, W], got " + c10::str(images_in.sizes()));
  torch::Tensor images = images_to_float(images_in);
  const int64_t n = images.size(0);
  std::vector<torch::Tensor> parts;
  if (models_->classifier.model) {
    const ClassifierOptions& o = models_->classifier.model->options;
    ClassifierOutput out = models_->classifier.model->forward(fit_images(images, o.channels(), o.image_size()));
    parts.push_back(torch::softmax(out.logits, 1));
    if (out.factors.defined()) parts.push_back(out.factors);
  }
  if (spec_.attributes) parts.push_back(image_attributes(images));
  for (size_t s = 0; s < models_->scorers.size(); ++s) {
    torch::Tensor out;
    try {
      out = models_->scorers[s].forward({images}).toTensor();
    } catch (const c10::Error& e) {
      throw Error("scorer '" + spec_.scorers[s].substr(0, spec_.scorers[s].find('=')) +
                  "' failed on a batch of images: " + std::string(e.what_without_backtrace()).substr(0, 200));
    }
    check_input(out.numel() == n, "scorer '" + spec_.scorers[s].substr(0, spec_.scorers[s].find('=')) +
                                      "' must return [N] or [N, 1] scores, got " + c10::str(out.sizes()));
    parts.push_back(out.reshape({n, 1}));
  }
  for (torch::Tensor& p : parts) p = p.to(torch::kFloat64);
  return torch::cat(parts, 1);
}

bool ImageScorer::has_gradient(size_t column) const {
  check_input(column < columns_.size(), "feature column out of range");
  const FeatureColumn& c = columns_[column];
  // Not the thresholded ones (ink and its box) nor hue and colorfulness, whose atan2 and
  // square roots have no gradient at gray or flat images.
  return c.source != "attribute" || c.label == "brightness" || c.label == "contrast" || c.label == "saturation" ||
         c.label == "coverage";
}

torch::Tensor ImageScorer::score_all(const torch::Tensor& images, int64_t batch, const std::string& label) {
  check_input(batch >= 1, "batch must be at least 1");
  const int64_t n = images.size(0), batches = (n + batch - 1) / batch;
  std::unique_ptr<Progress> progress;
  if (!label.empty()) progress = std::make_unique<Progress>(label, batches);
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < batches; ++b) {
    parts.push_back(score(images.slice(0, b * batch, std::min(n, (b + 1) * batch))));
    if (progress) progress->update(b + 1, "", static_cast<double>(batch));
  }
  if (progress) progress->finish(std::to_string(n) + " images, " + std::to_string(columns_.size()) + " features");
  return torch::cat(parts);
}

nlohmann::json ImageScorer::describe() const {
  nlohmann::json j = {{"attributes", spec_.attributes}, {"scorers", spec_.scorers}};
  size_t h = 0;
  if (!spec_.classifier.empty()) {
    j["classifier"] = spec_.classifier;
    j["classifier_sha256"] = models_->hashes[h++];
  }
  nlohmann::json hashes = nlohmann::json::array();
  for (; h < models_->hashes.size(); ++h) hashes.push_back(models_->hashes[h]);
  j["scorer_sha256"] = hashes;
  return j;
}

FeatureSpec feature_spec_from_json(const nlohmann::json& json) {
  FeatureSpec spec;
  try {
    spec.classifier = json.value("classifier", "");
    spec.attributes = json.value("attributes", true);
    spec.scorers = json.value("scorers", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed feature description in the axes file: ") + e.what());
  }
  return spec;
}

}  // namespace latentkit
