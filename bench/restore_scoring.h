#pragma once
// What the restoration benchmarks (bench_diffusion, bench_enhance, bench_colorize) share:
// timing, the first N test images of a data set (Fashion-MNIST, or the emoji) and their
// scoring (PSNR, SSIM, the classifier's agreement with the true label; RGBA on white; for
// colorization the distance to the originals in the classifier's features, FID, colorfulness
// and CIE76 delta E), batching with progress, and the classical filters they compare against.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "latentkit/codec/invert.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/data/dataset.h"
#include "latentkit/data/degrade.h"
#include "latentkit/eval/features.h"
#include "latentkit/eval/metrics.h"
#include "latentkit/models/classifier.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/registry.h"

namespace latentkit::bench {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

inline std::unique_ptr<DdpmModel> load_ddpm(const std::string& run) {
  std::unique_ptr<Generator> g = load_generator(run);
  check_input(dynamic_cast<DdpmModel*>(g.get()) != nullptr, run + " is not a diffusion run");
  return std::unique_ptr<DdpmModel>(static_cast<DdpmModel*>(g.release()));
}

// PSNR (dB) and SSIM against the clean images, mean over the images, and the share of them
// the classifier puts in their true class.
struct Scores {
  double psnr_db = 0, ssim = 0, agreement = 0;
};

struct Scorer {
  std::unique_ptr<FeatureExtractor> extractor;
  torch::Tensor originals, labels;
  // PSNR and SSIM inside weights (or everywhere), class agreement with the true labels. RGBA
  // images are compared as they show on white.
  Scores score(const torch::Tensor& images_in, const torch::Tensor& weights = {}) const {
    const bool rgba = images_in.size(1) == 4;
    const torch::Tensor images = rgba ? composite_over(images_in, Rgb{}) : images_in;
    const torch::Tensor clean = rgba ? composite_over(originals, Rgb{}) : originals;
    torch::Tensor w = weights.defined() ? weights : torch::ones({images.size(0), 1, images.size(2), images.size(3)});
    torch::Tensor mse = ((images - clean).square() * w).sum({1, 2, 3}) / (w.sum({1, 2, 3}) * images.size(1));
    Scores s;
    s.psnr_db = (10 * torch::log10(4.0 / mse.to(torch::kFloat64).clamp_min(1e-12))).mean().item<double>();
    s.ssim = latentkit::ssim(images, clean, weights).mean().item<double>();
    const torch::Tensor probs = extract_features(*extractor, images_in, 500, "").probs;
    s.agreement = (probs.argmax(1) == labels).to(torch::kFloat64).mean().item<double>();
    return s;
  }
  // One row of a Markdown table: name, PSNR, SSIM, class agreement and ms per image.
  void row(const std::string& name, const torch::Tensor& images, const torch::Tensor& weights, double seconds) const {
    const Scores s = score(images, weights);
    std::printf("| %-34s | %6.2f | %5.3f | %5.3f | %8.1f |\n", name.c_str(), s.psnr_db, s.ssim, s.agreement,
                1000 * seconds / static_cast<double>(images.size(0)));
    std::fflush(stdout);
  }
};

// The first n test images of spec at size (0: native), labelled with what the classifier learnt.
inline Scorer make_scorer(const std::string& classifier, int64_t n, const std::string& spec = "fashion-mnist", int size = 0) {
  DataOptions d;
  d.spec = spec;
  d.split = "test";
  d.limit = n;
  d.size = size;
  Dataset data = load_dataset(d);
  condition_dataset(data, classifier_labels(read_json(classifier + "/config.json")), spec);
  return {load_classifier_extractor(classifier), normalize_images(data.images), data.labels};
}

// Colorization scores against the originals: the mean per-image L2 distance between the
// classifier's features of an image and of its original, FID of the set against the
// originals (the same features), top-1 accuracy against the true labels, mean colorfulness
// (Hasler & Suesstrunk) and mean CIE76 delta E over the originals' opaque pixels.
struct ColorScores {
  double feature_distance = 0, fid = 0, accuracy = 0, colorfulness = 0, delta_e = 0;
};

struct ColorScorer {
  const Scorer& scorer;
  FeatureBatch reference;  // the originals'
  GaussianStats reference_stats;
  double reference_colorfulness = 0;

  explicit ColorScorer(const Scorer& s)
      : scorer(s),
        reference(extract_features(*s.extractor, s.originals, 500, "")),
        reference_stats(gaussian_stats(reference.features)),
        reference_colorfulness(colorfulness(s.originals).mean().item<double>()) {}

  ColorScores score(const torch::Tensor& images) const {
    const FeatureBatch f = extract_features(*scorer.extractor, images, 500, "");
    ColorScores c;
    c.feature_distance = (f.features.to(torch::kFloat64) - reference.features.to(torch::kFloat64))
                             .norm(2, {1})
                             .mean()
                             .item<double>();
    c.fid = frechet_distance(gaussian_stats(f.features), reference_stats);
    c.accuracy = (f.probs.argmax(1) == scorer.labels).to(torch::kFloat64).mean().item<double>();
    c.colorfulness = colorfulness(images).mean().item<double>();
    c.delta_e = delta_e_cie76(images, scorer.originals).mean().item<double>();
    return c;
  }
  static void header() {
    std::printf("| method | feature distance | FID | accuracy | colorfulness | gap to originals | delta E | ms per image |\n"
                "|---|---|---|---|---|---|---|---|\n");
  }
  // One row of the Markdown table; seconds < 0 leaves the time out.
  ColorScores row(const std::string& name, const torch::Tensor& images, double seconds) const {
    const ColorScores c = score(images);
    char ms[32] = "-";
    if (seconds >= 0) std::snprintf(ms, sizeof ms, "%.1f", 1000 * seconds / static_cast<double>(images.size(0)));
    std::printf("| %-22s | %7.3f | %7.2f | %5.3f | %6.2f | %5.2f | %6.2f | %8s |\n", name.c_str(), c.feature_distance, c.fid,
                c.accuracy, c.colorfulness, std::abs(c.colorfulness - reference_colorfulness), c.delta_e, ms);
    std::fflush(stdout);
    return c;
  }
};

// Runs f on batches of 100 images, printing progress.
inline torch::Tensor batched(const torch::Tensor& x, const std::function<torch::Tensor(const torch::Tensor&, int64_t)>& f) {
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += 100) {
    out.push_back(f(x.slice(0, i, i + 100), i));
    std::fprintf(stderr, "\r  %lld/%lld", static_cast<long long>(std::min(i + 100, x.size(0))), static_cast<long long>(x.size(0)));
  }
  std::fprintf(stderr, "\n");
  return torch::cat(out);
}

// Median of each 3 x 3 neighbourhood (edges replicated): the classical denoiser.
inline torch::Tensor median3(const torch::Tensor& d) {
  namespace F = torch::nn::functional;
  torch::Tensor p = F::pad(d, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReplicate));
  return std::get<0>(F::unfold(p, F::UnfoldFuncOptions({3, 3})).view({d.size(0), d.size(1), 9, -1}).median(2)).view(d.sizes());
}

// Unsharp mask: the classical sharpener, d + amount (d - blur(d)).
inline torch::Tensor unsharp_mask(const torch::Tensor& d, double sigma = 1.2, double amount = 1.5) {
  return (d + amount * (d - gaussian_blur(d, sigma))).clamp(-1, 1);
}

}  // namespace latentkit::bench
