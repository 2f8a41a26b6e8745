// Enhancement benchmark: a pix2pix run against the damaged input, a classical filter, a plain
// L1 U-Net (a pix2pix run trained --no-adversarial) and, for the damages a diffusion model was
// trained to restore, its Palette restore.
//   bench_enhance PIX2PIX_RUN CLASSIFIER [DDPM_RUN|-] [N] [PICTURE.png|-] [L1_RUN]
// On the first N test images (default 1000) of the run's data (Fashion-MNIST, emoji), per
// task, with fixed damage:
//   deblur    Gaussian blur sigma 1.2                    vs unsharp mask (sigma 1.2, amount 1.5)
//   denoise   Gaussian noise sigma 0.2                   vs median 3x3
//   dejpeg    JPEG quality 10                            vs Gaussian blur 0.7
//   superres  pixelated by 4 (7 x 7 shown at 28 x 28)    vs bicubic from the 7 x 7 image
//   exposure  the training distribution, seeded          vs auto levels (min-max stretch)
//   retouch   the training distribution, seeded          vs auto levels (per channel)
//   colorize  gray (luma in every channel; color data)   the gray input is the baseline
// PSNR and SSIM against the clean image and the classifier's agreement with the true label;
// ms per image on 2 threads. PICTURE.png: clean images, then per task the damaged input and
// the pix2pix output.
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

// Stretches each image's (and channel's) range to [-1, 1]: the auto-levels of photo editors.
torch::Tensor auto_levels(const torch::Tensor& d) {
  torch::Tensor lo = d.amin({2, 3}, true), hi = d.amax({2, 3}, true);
  return ((d - lo) / (hi - lo).clamp_min(1e-3) * 2 - 1).clamp(-1, 1);
}

torch::Tensor bicubic_from_pixelated(const torch::Tensor& d, int64_t factor) {
  namespace F = torch::nn::functional;
  torch::Tensor low = F::avg_pool2d(d, F::AvgPool2dFuncOptions(factor));
  return F::interpolate(low, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{d.size(2), d.size(3)})
                                 .mode(torch::kBicubic)
                                 .align_corners(false))
      .clamp(-1, 1);
}

int run(const std::string& enhancer, const std::string& classifier, const std::string& ddpm_run, int64_t n,
        const std::string& picture, const std::string& l1_run) {
  const int threads = set_threads(2);
  torch::NoGradGuard no_grad;
  Pix2pixRun p2p = load_pix2pix(enhancer);
  std::unique_ptr<Pix2pixRun> l1 = l1_run.empty() ? nullptr : std::make_unique<Pix2pixRun>(load_pix2pix(l1_run));
  std::unique_ptr<DdpmModel> ddpm = ddpm_run.empty() || ddpm_run == "-" ? nullptr : load_ddpm(ddpm_run);
  const nlohmann::json config = read_json(enhancer + "/config.json");
  const std::string spec = config.at("data").at("spec").get<std::string>();
  Scorer scorer = make_scorer(classifier, n, spec, static_cast<int>(p2p.options.image_size()));
  const torch::Tensor& x = scorer.originals;
  torch::Generator rng = make_rng(5);
  std::printf("%lld %s test images%s, %s%s%s%s%s, %d threads\n", static_cast<long long>(x.size(0)), spec.c_str(),
              x.size(1) == 4 ? " (RGBA, scored on white)" : "", enhancer.c_str(), ddpm ? " and " : "",
              ddpm ? ddpm_run.c_str() : "", l1 ? " against the L1 U-Net " : "", l1 ? l1_run.c_str() : "", threads);
  std::printf("the classifier's accuracy on the clean images: %.3f\n\n",
              (scorer.extractor->extract(x).probs.argmax(1) == scorer.labels).to(torch::kFloat64).mean().item<double>());
  std::printf("| task / method | PSNR dB | SSIM | class agreement | ms per image |\n|---|---|---|---|---|\n");
  struct Case {
    std::string task, damage;
    torch::Tensor degraded;
    std::string classical;
    std::function<torch::Tensor(const torch::Tensor&)> filter;
    bool palette;  // a damage the diffusion model's restore task was trained on
  };
  const auto levels = [](const torch::Tensor& d) { return on_color(d, auto_levels); };
  std::vector<Case> cases{
      {"deblur", "blur 1.2", gaussian_blur(x, 1.2), "unsharp mask", [](const torch::Tensor& d) { return unsharp_mask(d); },
       true},
      {"denoise", "noise 0.2", on_color(x, [&](const torch::Tensor& c) { return add_noise(c, 0.2, rng); }), "median 3x3",
       median3, true},
      {"dejpeg", "JPEG q10", on_color(x, [](const torch::Tensor& c) { return jpeg_artifacts(c, 10); }), "blur 0.7",
       [](const torch::Tensor& d) { return gaussian_blur(d, 0.7); }, true},
      {"superres", "x4", pixelate(x, 4), "bicubic", [](const torch::Tensor& d) { return bicubic_from_pixelated(d, 4); },
       false},
      {"exposure", "random", degrade(x, "exposure", rng), "auto levels", levels, false},
      {"retouch", "random", degrade(x, "retouch", rng), "auto levels", levels, false}};
  if (x.size(1) >= 3) cases.push_back({"colorize", "gray", to_gray(x), "", nullptr, false});
  std::vector<torch::Tensor> rows{x.slice(0, 0, 10)};
  for (Case& c : cases) {
    const std::string name = c.task + " (" + c.damage + ")";
    scorer.row(name + ": degraded input", c.degraded, {}, 0);
    auto t0 = Clock::now();
    if (c.filter) scorer.row(name + ": " + c.classical, c.filter(c.degraded), {}, seconds_since(t0));
    if (l1) {
      t0 = Clock::now();
      torch::Tensor plain = batched(c.degraded, [&](const torch::Tensor& b, int64_t) { return enhance_image(*l1->net, b, 0); });
      scorer.row(name + ": L1 U-Net", plain, {}, seconds_since(t0));
    }
    t0 = Clock::now();
    torch::Tensor out = batched(c.degraded, [&](const torch::Tensor& b, int64_t) { return enhance_image(*p2p.net, b, 0); });
    scorer.row(name + ": pix2pix", out, {}, seconds_since(t0));
    rows.push_back(c.degraded.slice(0, 0, 10));
    rows.push_back(out.slice(0, 0, 10));
    if (ddpm && c.palette && ddpm->has_task("restore")) {
      ImageToImageOptions o;
      o.method = "palette";
      t0 = Clock::now();
      torch::Tensor restored = batched(c.degraded, [&](const torch::Tensor& b, int64_t i) {
        torch::Generator r = make_rng(static_cast<uint64_t>(2000 + i));
        return restore_image(*ddpm, b, o, r);
      });
      scorer.row(name + ": diffusion (Palette, DDIM 50)", restored, {}, seconds_since(t0));
    }
  }
  if (!picture.empty() && picture != "-") {
    write_png(picture, make_grid(torch::cat(rows), 10));
    std::fprintf(stderr, "wrote %s (rows: clean, then per task the damaged input and pix2pix)\n", picture.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 3) {
      return run(argv[1], argv[2], argc > 3 ? argv[3] : "", argc > 4 ? std::atoll(argv[4]) : 1000, argc > 5 ? argv[5] : "",
                 argc > 6 ? argv[6] : "");
    }
    std::fprintf(stderr, "usage: bench_enhance PIX2PIX_RUN CLASSIFIER [DDPM_RUN|-] [N] [PICTURE.png|-] [L1_RUN]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
