// Batch-1 latency on one thread of the on-device runtime lkrt (fp32, fp16 and int8 weights)
// against LibTorch, each through the call its users make, and what each runtime's outputs
// are worth. By the run's kind:
//   generator  lkrt_generate against the generator's decode; the FID (project classifier
//              features, QUALITY_N generated vs as many test images) of each runtime's
//              images of the same latents
//   enhancer   lkrt_enhance (whole image, no tiles) on a 28 px image, which lkrt pads by edge
//              replication to the U-Net's multiple (32 for fashion-enhance), and on a 256 px
//              one, against the U-Net's forward on the same padded image; the PSNR, SSIM and
//              class agreement of each runtime's restorations of QUALITY_N test images
//              damaged as the run was trained (one of its tasks per image, seeded)
//   denoiser   one lkrt_denoise call (a noised test image, a Palette restore condition when
//              the model has tasks) against the U-Net's forward; the normalised error of
//              each runtime's prediction against LibTorch's over 256 calls
//   mask generator (spade)  lkrt_generate_map on a test label map of the run's data and a
//              style z against spade_generate (one-hot map and forward); the normalised error
//              of each runtime's images against LibTorch's over min(QUALITY_N, 256) test maps
// Every runtime gets the same inputs: the calls cycle through a few fixed ones. Timing: a
// warm-up, then the median time of single calls, about SECONDS of them per runtime (the
// count is set from lkrt fp32 and kept for the others).
// bench/runtime_latency.sh runs this, then ONNX Runtime on the same inputs and call counts
// (bench/runtime_latency_ort.mjs), and prints the tables.
// Usage: bench_runtime_latency RUN CLASSIFIER OUT_DIR [SECONDS=3] [QUALITY_N=10000]
// Prints one JSON line; writes OUT_DIR/model.onnx, OUT_DIR/model-{fp32,fp16,int8}.lkm and
// OUT_DIR/cases.json: per case the ONNX inputs (raw float32 / int64 files beside it), the
// warm-up and the number of timed calls.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <lkrt.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench/restore_scoring.h"
#include "latentkit/core/threads.h"
#include "latentkit/eval/metrics.h"
#include "latentkit/export/graph.h"
#include "latentkit/export/lkm.h"
#include "latentkit/export/onnx.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/spade.h"

using namespace latentkit;
using namespace latentkit::bench;

namespace {

const char* const kWeights[] = {"fp32", "fp16", "int8"};

void check_lkrt(lkrt_status s) {
  if (s != LKRT_OK) throw lkrt::Error(s, std::string("lkrt: ") + lkrt_status_string(s) + ": " + lkrt_last_error());
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// How a case is timed on every runtime, ONNX Runtime's included.
struct Timing {
  int64_t warmup = 0, calls = 0;
};

// Warm-up calls, then the median of `calls` single calls, in ms.
double median_ms(const Timing& timing, const std::function<void(int64_t)>& call) {
  for (int64_t i = 0; i < timing.warmup; ++i) call(i);
  std::vector<double> ms(static_cast<size_t>(timing.calls));
  for (int64_t i = 0; i < timing.calls; ++i) {
    const auto t0 = Clock::now();
    call(i);
    ms[static_cast<size_t>(i)] = ms_since(t0);
  }
  std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
  return ms[ms.size() / 2];
}

// About `seconds` of calls at the speed of `call` (after 3 untimed ones), at least 20; a
// tenth as many warm-up calls, 5 to 50.
Timing timing_for(double seconds, const std::function<void(int64_t)>& call) {
  for (int64_t i = 0; i < 3; ++i) call(i);
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < 3; ++i) call(i);
  const double per_call = ms_since(t0) / 3;
  Timing t;
  t.calls = std::clamp<int64_t>(static_cast<int64_t>(1000 * seconds / std::max(per_call, 1e-3)), 20, 100000);
  t.warmup = std::clamp<int64_t>(t.calls / 10, 5, 50);
  return t;
}

// One timed call: what each runtime is given. Call i uses input i % variants.
struct Case {
  std::string name;
  int64_t variants = 1;
  // ONNX Runtime's inputs by name: [variants, per-call shape...], float32 or int64.
  std::vector<std::pair<std::string, torch::Tensor>> onnx_inputs;
  std::function<void(int64_t)> libtorch;
  std::function<void(lkrt_model*, int64_t)> lkrt;
};

struct Runtimes {
  std::vector<std::pair<std::string, std::unique_ptr<lkrt::Model>>> lkrt;  // by weight type
};

// Times a case on LibTorch and on each lkrt model; writes its ONNX inputs for
// runtime_latency_ort.mjs. Returns the case's JSON.
nlohmann::json time_case(const Case& c, int index, Runtimes& runtimes, double seconds, const std::string& dir) {
  nlohmann::json out = {{"name", c.name}};
  lkrt_model* first = runtimes.lkrt.front().second->get();
  const Timing timing = timing_for(seconds, [&](int64_t i) { c.lkrt(first, i); });
  out["warmup"] = timing.warmup;
  out["calls"] = timing.calls;
  std::fprintf(stderr, "%s: %lld calls per runtime after %lld warm-up\n", c.name.c_str(),
               static_cast<long long>(timing.calls), static_cast<long long>(timing.warmup));
  out["ms"]["libtorch"] = median_ms(timing, c.libtorch);
  for (auto& [weights, model] : runtimes.lkrt) {
    lkrt_model* m = model->get();
    const std::string name = "lkrt_" + weights;
    out["ms"][name] = median_ms(timing, [&](int64_t i) { c.lkrt(m, i); });
    // Planned for this case's input size by the calls above.
    out["activation_bytes"][name] = lkrt_model_activation_bytes(m);
    out["scratch_bytes"][name] = lkrt_model_scratch_bytes(m);
    out["flops"] = lkrt_model_flops(m);
  }
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& [name, tensor] : c.onnx_inputs) {
    const torch::Tensor t = tensor.contiguous();
    const std::string file = dir + "/case" + std::to_string(index) + "-" + name + ".bin";
    write_file_atomic(file, std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
    const auto sizes = t.sizes().slice(1);
    inputs.push_back({{"name", name},
                      {"type", t.scalar_type() == torch::kInt64 ? "int64" : "float32"},
                      {"shape", std::vector<int64_t>(sizes.begin(), sizes.end())},
                      {"file", file}});
  }
  out["onnx_inputs"] = inputs;
  out["variants"] = c.variants;
  return out;
}

// The first n Fashion-MNIST (or the run's data) test images in [-1, 1].
torch::Tensor test_images(const std::string& spec, int64_t n) {
  DataOptions d;
  d.spec = spec;
  d.split = "test";
  d.limit = n;
  return normalize_images(load_dataset(d).images);
}

// ---------------------------------------------------------------------------------
// Generators

void bench_generator(const std::string& run, const std::string& classifier, const std::string& dir, double seconds,
                     int64_t quality_n, Runtimes& runtimes, nlohmann::json& out) {
  std::unique_ptr<Generator> generator = load_generator(run);
  const int64_t classes = generator->num_classes();
  const auto shape = generator->image_shape();
  const int64_t pixels = shape[0] * shape[1] * shape[2], variants = 256;
  torch::Generator rng = make_rng(7);
  torch::Tensor z = generator->sample_latent(std::max<int64_t>(quality_n, variants), rng).contiguous();
  torch::Tensor labels = torch::arange(z.size(0), torch::kInt64).remainder(std::max<int64_t>(classes, 1));
  const int64_t latent = z.size(1);
  std::vector<float> image(static_cast<size_t>(pixels));

  Case c;
  c.name = "generate";
  c.variants = variants;
  c.onnx_inputs.emplace_back("z", z.slice(0, 0, variants).view({variants, 1, latent}));
  if (classes) c.onnx_inputs.emplace_back("label", labels.slice(0, 0, variants).view({variants, 1}));
  c.libtorch = [&](int64_t i) {
    const int64_t v = i % variants;
    generator->decode(z.slice(0, v, v + 1), classes ? labels.slice(0, v, v + 1) : torch::Tensor());
  };
  c.lkrt = [&](lkrt_model* m, int64_t i) {
    const int64_t v = i % variants;
    check_lkrt(lkrt_generate(m, z.data_ptr<float>() + v * latent, classes ? static_cast<int32_t>(v % classes) : -1,
                             image.data()));
  };
  out["cases"].push_back(time_case(c, 0, runtimes, seconds, dir));

  // FID of each runtime's images of the same latents.
  if (quality_n <= 0) return;
  set_threads(2);
  auto extractor = load_classifier_extractor(classifier);
  const torch::Tensor real = test_images("fashion-mnist", quality_n);
  const GaussianStats real_stats = gaussian_stats(extract_features(*extractor, real, 500, "test").features);
  auto fid_of = [&](const torch::Tensor& images, const std::string& name) {
    return frechet_distance(gaussian_stats(extract_features(*extractor, images, 500, name).features), real_stats);
  };
  std::vector<torch::Tensor> chunks;
  for (int64_t start = 0; start < quality_n; start += 500) {
    const int64_t end = std::min(quality_n, start + 500);
    chunks.push_back(generator->decode(z.slice(0, start, end), classes ? labels.slice(0, start, end) : torch::Tensor()));
  }
  const torch::Tensor reference = torch::cat(chunks);
  out["quality"]["n"] = quality_n;
  out["quality"]["fid"]["libtorch"] = fid_of(reference, "libtorch");
  for (auto& [weights, model] : runtimes.lkrt) {
    torch::Tensor images = torch::empty({quality_n, shape[0], shape[1], shape[2]});
    for (int64_t i = 0; i < quality_n; ++i) {
      check_lkrt(lkrt_generate(model->get(), z.data_ptr<float>() + i * latent,
                               classes ? static_cast<int32_t>(i % classes) : -1, images.data_ptr<float>() + i * pixels));
    }
    out["quality"]["fid"]["lkrt_" + weights] = fid_of(images, weights);
    out["quality"]["normalised_error"]["lkrt_" + weights] = normalised_error(images, reference);
  }
}

// ---------------------------------------------------------------------------------
// Enhancers

void bench_enhancer(const std::string& run, const std::string& classifier, const std::string& dir, double seconds,
                    int64_t quality_n, int64_t multiple, Runtimes& runtimes, nlohmann::json& out) {
  Pix2pixRun p2p = load_pix2pix(run);
  const std::string spec = read_json(run + "/config.json").at("data").at("spec").get<std::string>();
  const int64_t C = p2p.options.channels();
  // Realistic inputs: test images damaged for the run's tasks; the large ones scaled up.
  torch::Generator rng = make_rng(11);
  const torch::Tensor small = degrade_for_tasks(test_images(spec, 16), p2p.tasks, rng).contiguous();
  namespace F = torch::nn::functional;
  const torch::Tensor large = F::interpolate(small.slice(0, 0, 4), F::InterpolateFuncOptions()
                                                                       .size(std::vector<int64_t>{256, 256})
                                                                       .mode(torch::kBicubic)
                                                                       .align_corners(false))
                                  .clamp(-1, 1)
                                  .contiguous();
  int index = 0;
  for (const torch::Tensor& images : {small, large}) {
    const int64_t variants = images.size(0), H = images.size(2), W = images.size(3);
    const torch::Tensor padded = pad_to_multiple(images, multiple).contiguous();
    const int64_t hp = padded.size(2), wp = padded.size(3);
    std::vector<torch::Tensor> inputs;  // LibTorch's: one [1, C, hp, wp] per variant
    for (int64_t v = 0; v < variants; ++v) inputs.push_back(padded.slice(0, v, v + 1));
    std::vector<float> enhanced(static_cast<size_t>(C * H * W));
    Case c;
    c.name = std::to_string(H) + " px image";
    if (hp != H || wp != W)
      c.name += " (lkrt pads it to " + std::to_string(hp) + "; LibTorch and ONNX Runtime get the padded image)";
    c.variants = variants;
    c.onnx_inputs.emplace_back("image", padded.view({variants, 1, C, hp, wp}));
    c.libtorch = [&](int64_t i) { p2p.net->forward(inputs[static_cast<size_t>(i % variants)]); };
    c.lkrt = [&](lkrt_model* m, int64_t i) {
      check_lkrt(lkrt_enhance(m, images.data_ptr<float>() + (i % variants) * C * H * W, static_cast<int32_t>(H),
                              static_cast<int32_t>(W), 0, enhanced.data()));
    };
    out["cases"].push_back(time_case(c, index++, runtimes, seconds, dir));
  }

  // Restoration quality of each runtime on test images damaged as in training.
  if (quality_n <= 0) return;
  set_threads(2);
  const Scorer scorer = make_scorer(classifier, quality_n, spec);
  const torch::Tensor& clean = scorer.originals;
  torch::Generator damage_rng = make_rng(5);
  const torch::Tensor degraded = degrade_for_tasks(clean, p2p.tasks, damage_rng).contiguous();
  const torch::Tensor reference =
      batched(degraded, [&](const torch::Tensor& b, int64_t) { return enhance_image(*p2p.net, b, 0); });
  nlohmann::json& q = out["quality"];
  q["n"] = clean.size(0);
  q["tasks"] = p2p.tasks;
  auto record = [&](const std::string& name, const torch::Tensor& images) {
    const Scores s = scorer.score(images);
    q["psnr_db"][name] = s.psnr_db;
    q["ssim"][name] = s.ssim;
    q["agreement"][name] = s.agreement;
    if (name != "degraded" && name != "libtorch") q["normalised_error"][name] = normalised_error(images, reference);
  };
  record("degraded", degraded);
  record("libtorch", reference);
  const int64_t H = clean.size(2), W = clean.size(3), pixels = C * H * W;
  for (auto& [weights, model] : runtimes.lkrt) {
    torch::Tensor images = torch::empty_like(degraded);
    for (int64_t i = 0; i < clean.size(0); ++i) {
      check_lkrt(lkrt_enhance(model->get(), degraded.data_ptr<float>() + i * pixels, static_cast<int32_t>(H),
                              static_cast<int32_t>(W), 0, images.data_ptr<float>() + i * pixels));
    }
    record("lkrt_" + weights, images);
  }
}

// ---------------------------------------------------------------------------------
// Denoisers

void bench_denoiser(const std::string& run, const std::string& dir, double seconds, Runtimes& runtimes,
                    nlohmann::json& out) {
  std::unique_ptr<DdpmModel> ddpm = load_ddpm(run);
  UNet& net = ddpm->net();
  net->eval();
  const std::string spec = read_json(run + "/config.json").at("data").at("spec").get<std::string>();
  const int64_t n = 256, T = ddpm->options().timesteps, classes = ddpm->num_classes();
  const bool tasks = net->options.cond_channels() > 0;
  // x_t from test images at time steps spread over [0, T); the restore condition of the
  // damage the model was trained to undo.
  torch::Generator rng = make_rng(13);
  const torch::Tensor x0 = test_images(spec, n);
  const torch::Tensor t = torch::div(torch::arange(n, torch::kInt64) * T, n, "floor");
  const torch::Tensor x = q_sample(ddpm->schedule(), x0, t, torch::randn(x0.sizes(), rng)).contiguous();
  const torch::Tensor cond = tasks ? restore_condition(degrade(x0, "mixed", rng)).contiguous() : torch::Tensor();
  const torch::Tensor labels = classes ? torch::full({n}, classes, torch::kInt64) : torch::Tensor();
  const int64_t pixels = x0[0].numel(), cond_size = tasks ? cond[0].numel() : 0;
  auto slice = [](const torch::Tensor& a, int64_t i) { return a.defined() ? a.slice(0, i, i + 1) : torch::Tensor(); };
  std::vector<int32_t> steps(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) steps[static_cast<size_t>(i)] = static_cast<int32_t>(t[i].item<int64_t>());
  auto lkrt_call = [&](lkrt_model* m, int64_t i, float* eps) {
    check_lkrt(lkrt_denoise(m, x.data_ptr<float>() + i * pixels, steps[static_cast<size_t>(i)], -1,
                            tasks ? cond.data_ptr<float>() + i * cond_size : nullptr, eps));
  };

  // Timed: the first 16 calls (t = 0 to 15 T / 256; the time step does not change the work).
  const int64_t variants = 16;
  std::vector<torch::Tensor> xs, ts, conds, ls;  // LibTorch's inputs, one batch of 1 per variant
  for (int64_t v = 0; v < variants; ++v) {
    xs.push_back(slice(x, v));
    ts.push_back(slice(t, v));
    conds.push_back(slice(cond, v));
    ls.push_back(slice(labels, v));
  }
  std::vector<float> eps(static_cast<size_t>(pixels));
  Case c;
  c.name = "one U-Net call (x_t, t" + std::string(tasks ? ", restore condition" : "") +
           (classes ? ", no-class label" : "") + ")";
  c.variants = variants;
  const auto per_call = [&](const torch::Tensor& a) {
    std::vector<int64_t> shape{variants, 1};
    for (int64_t d = 1; d < a.dim(); ++d) shape.push_back(a.size(d));
    return a.slice(0, 0, variants).reshape(shape);
  };
  c.onnx_inputs.emplace_back("x", per_call(x));
  c.onnx_inputs.emplace_back("t", per_call(t));
  if (tasks) c.onnx_inputs.emplace_back("cond", per_call(cond));
  if (classes) c.onnx_inputs.emplace_back("label", per_call(labels));
  c.libtorch = [&](int64_t i) {
    const size_t v = static_cast<size_t>(i % variants);
    net->forward(xs[v], ts[v], ls[v], conds[v]);
  };
  c.lkrt = [&](lkrt_model* m, int64_t i) { lkrt_call(m, i % variants, eps.data()); };
  out["cases"].push_back(time_case(c, 0, runtimes, seconds, dir));

  // Each runtime's prediction on all n calls against LibTorch's.
  const torch::Tensor reference = net->forward(x, t, labels, cond);
  out["quality"]["n"] = n;
  for (auto& [weights, model] : runtimes.lkrt) {
    torch::Tensor predicted = torch::empty_like(x);
    for (int64_t i = 0; i < n; ++i) lkrt_call(model->get(), i, predicted.data_ptr<float>() + i * pixels);
    out["quality"]["normalised_error"]["lkrt_" + weights] = normalised_error(predicted, reference);
  }
}

// ---------------------------------------------------------------------------------
// Mask generators

void bench_mask_generator(const std::string& run, const std::string& dir, double seconds, int64_t quality_n,
                          Runtimes& runtimes, nlohmann::json& out) {
  SpadeRun spade = load_spade(run);
  SpadeGeneratorImpl& net = *spade.net;
  const int64_t n = std::clamp<int64_t>(quality_n, 16, 256), size = spade.options.image_size();
  DataOptions d;
  d.spec = read_json(run + "/config.json").at("data").at("spec").get<std::string>();
  d.split = "test";
  d.limit = n;
  Dataset data = load_dataset(d);
  ensure_maps(data);
  const torch::Tensor maps = resize_maps(data.maps, size).to(torch::kUInt8).contiguous();
  torch::Generator rng = make_rng(17);
  const torch::Tensor z = torch::randn({maps.size(0), spade.options.latent_dim()}, rng).contiguous();
  const int64_t latent = z.size(1), pixels = size * size, image = spade.options.channels() * pixels;
  std::vector<float> picture(static_cast<size_t>(image));

  const int64_t variants = 16;
  Case c;
  c.name = "one image (a " + std::to_string(size) + " px test map of " + d.spec + ", a style z)";
  c.variants = variants;
  c.onnx_inputs.emplace_back("z", z.slice(0, 0, variants).view({variants, 1, latent}));
  c.onnx_inputs.emplace_back("map", maps.slice(0, 0, variants).to(torch::kInt64).view({variants, 1, size, size}));
  c.libtorch = [&](int64_t i) {
    const int64_t v = i % variants;
    spade_generate(net, maps.slice(0, v, v + 1), z.slice(0, v, v + 1));
  };
  c.lkrt = [&](lkrt_model* m, int64_t i) {
    const int64_t v = i % variants;
    check_lkrt(lkrt_generate_map(m, z.data_ptr<float>() + v * latent, maps.data_ptr<uint8_t>() + v * pixels, picture.data()));
  };
  out["cases"].push_back(time_case(c, 0, runtimes, seconds, dir));

  // Each runtime's images of all n maps against LibTorch's.
  const torch::Tensor reference = spade_generate(net, maps, z);
  out["quality"]["n"] = maps.size(0);
  for (auto& [weights, model] : runtimes.lkrt) {
    torch::Tensor images = torch::empty(reference.sizes());  // NCHW (the model's output may be channels-last)
    for (int64_t i = 0; i < maps.size(0); ++i) {
      check_lkrt(lkrt_generate_map(model->get(), z.data_ptr<float>() + i * latent, maps.data_ptr<uint8_t>() + i * pixels,
                                   images.data_ptr<float>() + i * image));
    }
    out["quality"]["normalised_error"]["lkrt_" + weights] = normalised_error(images, reference);
  }
}

int run(const std::string& run_dir, const std::string& classifier, const std::string& dir, double seconds,
        int64_t quality_n) {
  set_threads(1);
  make_dirs(dir);
  torch::NoGradGuard no_grad;
  const ModelGraph graph = extract_run_graph(run_dir);
  nlohmann::json out = {{"run", run_dir}, {"threads", 1}, {"parameters", graph.parameter_count()},
                        {"cases", nlohmann::json::array()}};
  out["kind"] = graph.kind == LKRT_KIND_GENERATOR        ? "generator"
                : graph.kind == LKRT_KIND_MASK_GENERATOR ? "mask generator"
                : graph.kind == LKRT_KIND_ENHANCER       ? "enhancer"
                                                         : "denoiser";

  const std::string onnx = graph_to_onnx(graph, run_dir);
  write_file_atomic(dir + "/model.onnx", onnx);
  out["onnx"] = dir + "/model.onnx";
  out["bytes"]["onnx"] = onnx.size();
  Runtimes runtimes;
  for (const char* w : kWeights) {
    const std::string bytes = graph_to_lkm(graph, w, "bench");
    write_file_atomic(dir + "/model-" + w + ".lkm", bytes);
    out["bytes"][std::string("lkm_") + w] = bytes.size();
    auto model = std::make_unique<lkrt::Model>(bytes.data(), bytes.size());
    model->set_threads(1);
    runtimes.lkrt.emplace_back(w, std::move(model));
  }

  if (graph.kind == LKRT_KIND_GENERATOR) {
    bench_generator(run_dir, classifier, dir, seconds, quality_n, runtimes, out);
  } else if (graph.kind == LKRT_KIND_ENHANCER) {
    bench_enhancer(run_dir, classifier, dir, seconds, quality_n, graph.pad_multiple, runtimes, out);
  } else if (graph.kind == LKRT_KIND_MASK_GENERATOR) {
    bench_mask_generator(run_dir, dir, seconds, quality_n, runtimes, out);
  } else {
    bench_denoiser(run_dir, dir, seconds, runtimes, out);
  }
  nlohmann::json cases = out["cases"];
  for (auto& c : cases) c["onnx"] = out["onnx"];
  write_json(dir + "/cases.json", cases);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_runtime_latency RUN CLASSIFIER OUT_DIR [SECONDS=3] [QUALITY_N=10000]\n");
    return 2;
  }
  try {
    return run(argv[1], argv[2], argv[3], argc > 4 ? std::atof(argv[4]) : 3.0, argc > 5 ? std::atoll(argv[5]) : 10000);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
