// Colorization benchmark (issue 24): on the first N emoji test images made gray (to_gray: the
// luma in every color channel, alpha kept), four ways back to color, in one run:
//   gray input  the input itself
//   L1 U-Net    a pix2pix run trained without the adversarial loss (blind: one generator for
//               all its tasks, which it tells apart from the input, so no task is chosen)
//   pix2pix     the adversarial run of the same kind
//   diffusion   Palette's colorize (colorize_image), one sample per image from a fixed seed,
//               the run's own sampler (DDIM, eta 0) and step count (its sample_steps); every
//               step keeps the input's luma, as `latentkit colorize` does (DDNM's projection)
// and two rows that show what the kept luma does: the L1 U-Net's output moved onto the
// input's luma (with_luma), and the diffusion model without it (`colorize --free-luma`).
// Each against the originals: the mean per-image L2 distance between the classifier's features
// of an image and of its original, FID of the set against the originals (the same features),
// the classifier's top-1 accuracy against the true labels, the mean colorfulness (Hasler &
// Suesstrunk) and its gap to the originals', the mean CIE76 delta E over the originals' opaque
// pixels, and ms per image. Goal: diffusion's feature distance <= 0.9 x the L1 U-Net's with
// its colorfulness within 5 of the originals' (regression to the mean makes the U-Net dull).
//   bench_colorize [N=0: all] [THREADS=2] [PICTURE.png|-] [DDPM_RUN=runs/emoji-colorize]
//                  [L1_RUN=runs/emoji-l1] [PIX2PIX_RUN=models/emoji-enhance]
//                  [CLASSIFIER=models/emoji-classifier]
// PICTURE.png: the first 8 images in rows original, gray, L1 U-Net, pix2pix, diffusion.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/restore_scoring.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/core/threads.h"
#include "latentkit/models/pix2pix.h"

using namespace latentkit;
using namespace latentkit::bench;

namespace {

constexpr uint64_t kSeed = 2400;  // diffusion: batch i (of 100) draws its x_T from seed kSeed + i

void check_colorizer(const Pix2pixRun& run, const std::string& dir, const std::array<int64_t, 3>& shape) {
  check_input(run.options.channels() == shape[0] && run.options.image_size() == shape[1],
              dir + " works on " + std::to_string(run.options.channels()) + " channels at " +
                  std::to_string(run.options.image_size()) + " px; the diffusion run on " + std::to_string(shape[0]) +
                  " at " + std::to_string(shape[1]));
  check_input(run.tasks.empty() || std::find(run.tasks.begin(), run.tasks.end(), "colorize") != run.tasks.end(),
              dir + " was not trained for colorize (train it with --task colorize, or with a task list that has it)");
}

const char* verdict(bool met) { return met ? "met" : "not met"; }

int run(int64_t n, int threads_asked, const std::string& picture, const std::string& ddpm_run, const std::string& l1_run,
        const std::string& p2p_run, const std::string& classifier) {
  const int threads = set_threads(threads_asked);
  torch::NoGradGuard no_grad;
  std::unique_ptr<DdpmModel> ddpm = load_ddpm(ddpm_run);
  check_input(ddpm->has_task("colorize"),
              ddpm_run + " was not trained for colorize (latentkit train --model ddpm --tasks colorize)");
  const std::array<int64_t, 3> shape = ddpm->image_shape();
  check_input(shape[0] >= 3, ddpm_run + " is a gray model: colorize needs a color one");
  Pix2pixRun l1 = load_pix2pix(l1_run), p2p = load_pix2pix(p2p_run);
  check_colorizer(l1, l1_run, shape);
  check_colorizer(p2p, p2p_run, shape);
  const nlohmann::json config = read_json(ddpm_run + "/config.json");
  const std::string spec = config.at("data").at("spec").get<std::string>();
  Scorer scorer = make_scorer(classifier, n, spec, static_cast<int>(shape[1]));
  const torch::Tensor& x = scorer.originals;
  check_input(x.size(1) == shape[0], spec + " has " + std::to_string(x.size(1)) + " channels; " + ddpm_run + " works on " +
                                         std::to_string(shape[0]));
  const int64_t steps = ddpm->options().sample_steps;
  std::printf("%lld %s test images (%lld px, %s), %d thread%s; diffusion %s (DDIM %lld steps), L1 U-Net %s, pix2pix %s; "
              "features and accuracy: %s\n",
              static_cast<long long>(x.size(0)), spec.c_str(), static_cast<long long>(shape[1]),
              x.size(1) == 4 ? "RGBA" : "RGB", threads, threads == 1 ? "" : "s", ddpm_run.c_str(),
              static_cast<long long>(steps), l1_run.c_str(), p2p_run.c_str(), classifier.c_str());
  if (x.size(0) < scorer.extractor->feature_dim()) {
    std::printf("(n %lld is under the %lld feature dimensions: the covariances are singular and FID reads high)\n",
                static_cast<long long>(x.size(0)), static_cast<long long>(scorer.extractor->feature_dim()));
  }
  std::printf("\n");
  const ColorScorer colors(scorer);
  ColorScorer::header();
  colors.row("originals", x, -1);
  auto t0 = Clock::now();
  const torch::Tensor gray = to_gray(x);
  colors.row("gray input", gray, seconds_since(t0));
  const auto enhance = [&](Pix2pixRun& r) {
    return batched(gray, [&](const torch::Tensor& b, int64_t) { return enhance_image(*r.net, b, 0); });
  };
  t0 = Clock::now();
  const torch::Tensor plain = enhance(l1);
  const ColorScores l1_scores = colors.row("L1 U-Net", plain, seconds_since(t0));
  t0 = Clock::now();
  const torch::Tensor adversarial = enhance(p2p);
  colors.row("pix2pix", adversarial, seconds_since(t0));
  // The same constraint as the diffusion sampler's, applied once to the U-Net's output: how
  // much of the diffusion row is the kept luma alone.
  colors.row("L1 U-Net, input luma", with_luma(plain, gray).clamp(-1, 1), 0);
  const auto diffusion = [&](bool keep_luma) {
    ImageToImageOptions o;
    o.method = "palette";
    o.sampler = Sampler::kDdim;
    o.steps = steps;
    o.keep_luma = keep_luma;
    return batched(gray, [&](const torch::Tensor& b, int64_t i) {
      torch::Generator rng = make_rng(kSeed + static_cast<uint64_t>(i));
      return colorize_image(*ddpm, b, "colorize", o, rng);
    });
  };
  t0 = Clock::now();
  const torch::Tensor free = diffusion(false);
  colors.row("diffusion, free luma", free, seconds_since(t0));
  t0 = Clock::now();
  const torch::Tensor sampled = diffusion(true);
  const ColorScores d = colors.row("diffusion", sampled, seconds_since(t0));
  const double ratio = d.feature_distance / l1_scores.feature_distance;
  const double gap = std::abs(d.colorfulness - colors.reference_colorfulness);
  std::printf("\ngoal: diffusion's feature distance / the L1 U-Net's = %.3f (<= 0.9: %s); diffusion's colorfulness gap to "
              "the originals' = %.2f (<= 5: %s)\n",
              ratio, verdict(ratio <= 0.9), gap, verdict(gap <= 5));
  if (!picture.empty() && picture != "-") {
    const int64_t k = std::min<int64_t>(8, x.size(0));
    write_png(picture, make_grid(torch::cat({x.slice(0, 0, k), gray.slice(0, 0, k), plain.slice(0, 0, k),
                                             adversarial.slice(0, 0, k), sampled.slice(0, 0, k)}),
                                 static_cast<int>(k)));
    std::fprintf(stderr, "wrote %s (rows: original, gray, L1 U-Net, pix2pix, diffusion)\n", picture.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto arg = [&](int i, const char* fallback) { return std::string(argc > i ? argv[i] : fallback); };
    if (argc > 8 || (argc > 1 && (arg(1, "") == "-h" || arg(1, "") == "--help"))) {
      std::fprintf(stderr,
                   "usage: bench_colorize [N=0: all] [THREADS=2] [PICTURE.png|-] [DDPM_RUN=runs/emoji-colorize] "
                   "[L1_RUN=runs/emoji-l1] [PIX2PIX_RUN=models/emoji-enhance] [CLASSIFIER=models/emoji-classifier]\n");
      return 2;
    }
    return run(std::atoll(arg(1, "0").c_str()), std::atoi(arg(2, "2").c_str()), arg(3, "-"), arg(4, "runs/emoji-colorize"),
               arg(5, "runs/emoji-l1"), arg(6, "models/emoji-enhance"), arg(7, "models/emoji-classifier"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
