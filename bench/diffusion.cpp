// Diffusion benchmarks.
//   bench_diffusion speed RUN [GAN_RUN]
//     Time to sample 64 images with DDIM 50 steps on 2 threads (the goal: under 20 s),
//     beside one U-Net step on the same batch and, when given, a GAN decoding 64 images.
//   bench_diffusion inpaint RUN CLASSIFIER [N] [OUT.png]
//     Centre-mask inpainting of the first N Fashion-MNIST test images (default 1000): PSNR
//     and SSIM inside the mask and the classifier's agreement with the true label, for
//     RePaint (the model unconditionally, 25 steps x 4 passes), Palette (its inpainting
//     condition, DDIM 50), and two plain baselines (the mean of the known pixels; the known
//     pixels blurred in from the border).
//   bench_diffusion restore RUN CLASSIFIER [N]
//     Restoration of JPEG (quality 10), noise (sigma 0.2) and blur (sigma 1.2): PSNR, SSIM
//     and class agreement for the degraded input, a classical filter, SDEdit and Palette.
//   bench_diffusion samplers RUN CLASSIFIER [N] [SAMPLER:STEPS,...] [THREADS]
//     FID and KID of N samples (default 5,000) per sampler and step count (default
//     ddim:50,dpmpp:10,dpmpp:20,ddim:10,ddim:20,dpmpp:50), each from the same x_T, scored
//     as `latentkit eval --run RUN --n N` scores them (the generator's decode, the classifier's
//     features, the cached reference set of the ref split), with each FID's ratio to the
//     first configuration's and the wall time of each, on 2 threads (or THREADS).
//     bench/diffusion_samplers.sh runs it.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "bench/restore_scoring.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/core/threads.h"
#include "latentkit/eval/evaluate.h"

using namespace latentkit;
using namespace latentkit::bench;

namespace {



int speed(const std::string& run, const std::string& gan_run) {
  const int threads = set_threads(2);
  torch::NoGradGuard no_grad;
  auto model = load_ddpm(run);
  torch::Generator rng = make_rng(1);
  const auto shape = model->image_shape();
  torch::Tensor x = torch::randn({64, shape[0], shape[1], shape[2]}, rng);
  model->eps_function({}, 1.0)(x, 500);  // warm-up
  auto t0 = Clock::now();
  const int reps = 5;
  for (int i = 0; i < reps; ++i) model->eps_function({}, 1.0)(x, 500);
  const double step = seconds_since(t0) / reps;
  SampleOptions o;
  o.steps = 50;
  t0 = Clock::now();
  torch::Tensor images = model->sample(x, {}, o, 1.0, rng);
  const double ddim = seconds_since(t0);
  std::printf("%s on %d threads, 64 images of %lldx%lldx%lld\n", run.c_str(), threads, static_cast<long long>(shape[0]),
              static_cast<long long>(shape[1]), static_cast<long long>(shape[2]));
  std::printf("one U-Net step (64 images)      %8.3f s\n", step);
  std::printf("DDIM 50 steps (64 images)       %8.3f s   (%.1f x one step; goal 20 s: %.2f of it)\n", ddim, ddim / step,
              ddim / 20.0);
  if (!gan_run.empty()) {
    auto gan = load_generator(gan_run);
    torch::Tensor z = gan->sample_latent(64, rng);
    gan->decode(z);
    t0 = Clock::now();
    for (int i = 0; i < reps; ++i) gan->decode(z);
    const double g = seconds_since(t0) / reps;
    std::printf("%-31s %8.3f s   (DDIM 50 is %.0f x slower)\n", (gan_run + " decode").c_str(), g, ddim / g);
  }
  return 0;
}



int inpaint(const std::string& run, const std::string& classifier, int64_t n, const std::string& picture) {
  const int threads = set_threads(2);
  torch::NoGradGuard no_grad;
  auto model = load_ddpm(run);
  Scorer scorer = make_scorer(classifier, n);
  const torch::Tensor& x = scorer.originals;
  const torch::Tensor fill = center_mask(x.size(2), x.size(3)).expand({n, 1, -1, -1}).contiguous();
  const torch::Tensor known = 1 - fill;
  std::printf("%lld Fashion-MNIST test images, centre mask (half the side), %s, %d threads\n", static_cast<long long>(n),
              run.c_str(), threads);
  std::printf("the classifier's accuracy on the originals: %.3f\n\n",
              (scorer.extractor->extract(x).probs.argmax(1) == scorer.labels).to(torch::kFloat64).mean().item<double>());
  std::printf("| method | PSNR in mask dB | SSIM in mask | class agreement | ms per image |\n|---|---|---|---|---|\n");
  auto t0 = Clock::now();
  torch::Tensor mean_fill = x * known + fill * ((x * known).sum({1, 2, 3}, true) / known.sum({1, 2, 3}, true));
  scorer.row("mean fill", mean_fill, fill, seconds_since(t0));
  // Blur fill: repeatedly blur and paste the known pixels back (diffusion of the border).
  t0 = Clock::now();
  torch::Tensor blur_fill = mean_fill.clone();
  for (int i = 0; i < 200; ++i) blur_fill = x * known + fill * gaussian_blur(blur_fill, 1.0);
  scorer.row("blur fill (harmonic)", blur_fill, fill, seconds_since(t0));
  std::map<std::string, torch::Tensor> shown;
  for (const std::string method : {"palette", "repaint"}) {
    if (method == "palette" && !model->has_task("inpaint")) continue;
    ImageToImageOptions o;
    o.method = method;
    // RePaint at 25 steps x 4 passes (100 U-Net calls per image; the CLI's default is 50 x 5)
    // to fit a 2-core session; Palette at its default, DDIM 50.
    if (method == "repaint") o.steps = 25, o.resample = 4;
    t0 = Clock::now();
    torch::Tensor out = batched(x, [&](const torch::Tensor& b, int64_t i) {
      torch::Generator rng = make_rng(static_cast<uint64_t>(1000 + i));
      return inpaint_image(*model, b, fill.slice(0, i, i + b.size(0)), o, rng);
    });
    shown[method] = out;
    scorer.row(method == "palette" ? "Palette (conditional, DDIM 50)" : "RePaint (25 steps x 4 passes)", out, fill,
               seconds_since(t0));
  }
  if (!picture.empty()) {
    std::vector<torch::Tensor> rows{x.slice(0, 0, 12), (x * known).slice(0, 0, 12), blur_fill.slice(0, 0, 12)};
    for (const auto& [name, images] : shown) rows.push_back(images.slice(0, 0, 12));
    write_png(picture, make_grid(torch::cat(rows), 12));
    std::fprintf(stderr, "wrote %s (rows: original, masked, blur fill, then %s)\n", picture.c_str(),
                 shown.size() == 2 ? "Palette, RePaint" : "RePaint");
  }
  return 0;
}

int restore(const std::string& run, const std::string& classifier, int64_t n) {
  const int threads = set_threads(2);
  torch::NoGradGuard no_grad;
  auto model = load_ddpm(run);
  Scorer scorer = make_scorer(classifier, n);
  const torch::Tensor& x = scorer.originals;
  torch::Generator rng = make_rng(5);
  std::printf("%lld Fashion-MNIST test images, %s, %d threads\n", static_cast<long long>(n), run.c_str(), threads);
  std::printf("| degradation / method | PSNR dB | SSIM | class agreement | ms per image |\n|---|---|---|---|---|\n");
  struct Case {
    std::string name;
    torch::Tensor degraded;
    std::string classical;
    std::function<torch::Tensor(const torch::Tensor&)> filter;
  };
  std::vector<Case> cases{
      {"jpeg q10", jpeg_artifacts(x, 10), "blur 0.7",
       [](const torch::Tensor& d) { return gaussian_blur(d, 0.7); }},
      {"noise 0.2", add_noise(x, 0.2, rng), "median 3x3", median3},
      {"blur 1.2", gaussian_blur(x, 1.2), "unsharp mask", [](const torch::Tensor& d) { return unsharp_mask(d); }}};
  for (Case& c : cases) {
    scorer.row(c.name + ": degraded input", c.degraded, {}, 0);
    auto t0 = Clock::now();
    scorer.row(c.name + ": " + c.classical, c.filter(c.degraded), {}, seconds_since(t0));
    for (const std::string method : {"sdedit", "palette"}) {
      if (method == "palette" && !model->has_task("restore")) continue;
      ImageToImageOptions o;
      o.method = method;
      o.strength = 0.4;
      t0 = Clock::now();
      torch::Tensor out = batched(c.degraded, [&](const torch::Tensor& b, int64_t i) {
        torch::Generator r = make_rng(static_cast<uint64_t>(2000 + i));
        return restore_image(*model, b, o, r);
      });
      scorer.row(c.name + ": " + (method == "sdedit" ? "SDEdit (strength 0.4)" : "Palette (DDIM 50)"), out, {},
                 seconds_since(t0));
    }
  }
  return 0;
}

// "ddim:50,dpmpp:10" as (sampler, steps) pairs.
std::vector<std::pair<Sampler, int64_t>> parse_configurations(const std::string& text) {
  std::vector<std::pair<Sampler, int64_t>> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(at, end - at);
    const size_t colon = item.find(':');
    check_input(colon != std::string::npos, "samplers: expected SAMPLER:STEPS, got '" + item + "'");
    out.emplace_back(sampler_names().parse(item.substr(0, colon)), std::stoll(item.substr(colon + 1)));
    at = end + 1;
  }
  return out;
}

int samplers(const std::string& run, const std::string& classifier, int64_t n, const std::string& configurations,
             int threads) {
  EvalOptions o;  // eval's defaults: seed 0, batch 250, 100 KID subsets of 1,000, the test split
  o.run = run;
  o.n = n;
  o.features = classifier;
  o.metrics = {"fid", "kid"};
  o.threads = set_threads(threads);
  auto model = load_ddpm(run);
  std::unique_ptr<FeatureExtractor> extractor = load_classifier_extractor(classifier);
  const nlohmann::json config = read_json(run + "/config.json");
  const DataOptions data = run_data(config, o.ref);
  nlohmann::json record;
  const FeatureBatch reference = real_features(o, *extractor, data, n, "reference (" + o.ref + ")", &record);
  std::printf("%s, %lld samples per configuration from the same x_T (seed %llu), against %lld %s %s images in %s's "
              "features; %d threads\n\n",
              run.c_str(), static_cast<long long>(n), static_cast<unsigned long long>(o.seed),
              static_cast<long long>(reference.features.size(0)), data.spec.c_str(), o.ref.c_str(), classifier.c_str(),
              o.threads);
  const std::vector<std::pair<Sampler, int64_t>> rows = parse_configurations(configurations);
  const std::string first = sampler_names().name(rows.at(0).first) + "-" + std::to_string(rows[0].second);
  std::printf("| sampler | steps | FID | FID / %s's | KID | wall time | time / %s's | img/s |\n"
              "|---|---|---|---|---|---|---|---|\n",
              first.c_str(), first.c_str());
  std::fflush(stdout);
  double first_fid = 0, first_seconds = 0;
  for (const auto& [sampler, steps] : rows) {
    model->set_decode(sampler, steps, 1.0);
    torch::Tensor labels;
    const auto t0 = Clock::now();
    const FeatureBatch generated = generated_features(o, *extractor, *model, &labels);
    const double seconds = seconds_since(t0);
    const nlohmann::json scores = score_features(generated, reference, o);
    const double fid = scores.at("fid").get<double>();
    if (first_fid == 0) first_fid = fid, first_seconds = seconds;
    std::printf("| %s | %lld | %.2f | %.3f | %.2f +- %.2f | %d:%02d | %.2f | %.2f |\n",
                sampler_names().name(sampler).c_str(), static_cast<long long>(steps), fid, fid / first_fid,
                scores["kid"]["mean"].get<double>(), scores["kid"]["std"].get<double>(), static_cast<int>(seconds) / 60,
                static_cast<int>(seconds) % 60, seconds / first_seconds, static_cast<double>(n) / seconds);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "speed" && argc >= 3) return speed(argv[2], argc > 3 ? argv[3] : "");
    if (mode == "inpaint" && argc >= 4) return inpaint(argv[2], argv[3], argc > 4 ? std::atoll(argv[4]) : 1000, argc > 5 ? argv[5] : "");
    if (mode == "restore" && argc >= 4) return restore(argv[2], argv[3], argc > 4 ? std::atoll(argv[4]) : 1000);
    if (mode == "samplers" && argc >= 4) {
      return samplers(argv[2], argv[3], argc > 4 ? std::atoll(argv[4]) : 5000,
                      argc > 5 ? argv[5] : "ddim:50,dpmpp:10,dpmpp:20,ddim:10,ddim:20,dpmpp:50",
                      argc > 6 ? std::atoi(argv[6]) : 2);
    }
    std::fprintf(stderr,
                 "usage: bench_diffusion speed RUN [GAN_RUN]\n"
                 "       bench_diffusion inpaint RUN CLASSIFIER [N] [PICTURE.png]\n"
                 "       bench_diffusion restore RUN CLASSIFIER [N]\n"
                 "       bench_diffusion samplers RUN CLASSIFIER [N] [SAMPLER:STEPS,...] [THREADS]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
