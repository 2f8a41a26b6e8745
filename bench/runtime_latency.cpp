// Batch-1 generation latency on one thread: LibTorch against the on-device runtime (lkrt)
// with fp32, fp16 and int8 weights, on the same generator; the export's file sizes; and the
// FID (project classifier features, 10k generated vs the 10k test images) of the images
// each of them makes from the same latents, so quantisation's cost is measured, not guessed.
// bench/runtime_latency.sh runs this, then ONNX Runtime on the ONNX file written here, and
// prints the ratios.
// Usage: bench_runtime_latency RUN CLASSIFIER OUT_DIR [ITERATIONS=2000] [FID_N=10000]
// (prints one JSON line; writes OUT_DIR/gen.onnx, gen-*.lkm and vectors.json)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lkrt.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/files.h"
#include "latentkit/core/threads.h"
#include "latentkit/data/dataset.h"
#include "latentkit/eval/features.h"
#include "latentkit/eval/metrics.h"
#include "latentkit/export/graph.h"
#include "latentkit/export/lkm.h"
#include "latentkit/export/onnx.h"
#include "latentkit/models/registry.h"

using namespace latentkit;
using Clock = std::chrono::steady_clock;

namespace {

// The median over rounds of the mean time per call, in ms.
template <typename F>
double median_ms(int64_t iterations, F&& call) {
  for (int i = 0; i < 50; ++i) call(i);  // warm-up
  std::vector<double> rounds;
  const int64_t per_round = std::max<int64_t>(1, iterations / 5);
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < per_round; ++i) call(static_cast<int>(i));
    rounds.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / per_round);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

struct Runtime {
  lkrt_model* model = nullptr;
  explicit Runtime(const std::string& bytes) {
    if (lkrt_model_load_memory(bytes.data(), bytes.size(), &model) != LKRT_OK) {
      std::fprintf(stderr, "lkrt: %s\n", lkrt_last_error());
      std::exit(1);
    }
  }
  ~Runtime() { lkrt_model_free(model); }
  void generate(const float* z, int32_t label, float* out) {
    if (lkrt_generate(model, z, label, out) != LKRT_OK) {
      std::fprintf(stderr, "lkrt: %s\n", lkrt_last_error());
      std::exit(1);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_runtime_latency RUN CLASSIFIER OUT_DIR [ITERATIONS=2000] [FID_N=10000]\n");
    return 2;
  }
  const std::string run = argv[1], classifier = argv[2], dir = argv[3];
  const int64_t iterations = argc > 4 ? std::atoll(argv[4]) : 2000;
  const int64_t fid_n = argc > 5 ? std::atoll(argv[5]) : 10000;
  set_threads(1);
  make_dirs(dir);

  std::unique_ptr<Generator> generator = load_generator(run);
  ModelGraph graph = extract_graph(*generator);
  const int64_t classes = graph.num_classes;
  const auto shape = generator->image_shape();
  const int64_t pixels = shape[0] * shape[1] * shape[2];
  nlohmann::json out = {{"run", run}, {"threads", 1}, {"iterations", iterations}, {"parameters", graph.parameter_count()}};

  const std::string onnx = graph_to_onnx(graph, run);
  write_file_atomic(dir + "/gen.onnx", onnx);
  out["bytes"]["onnx"] = onnx.size();
  std::vector<std::pair<std::string, std::string>> lkm;
  for (const char* w : {"fp32", "fp16", "int8"}) {
    lkm.emplace_back(w, graph_to_lkm(graph, w, "bench"));
    write_file_atomic(dir + "/gen-" + w + ".lkm", lkm.back().second);
    out["bytes"][std::string("lkm_") + w] = lkm.back().second.size();
  }

  // One latent per call, drawn in advance; labels in turn for conditional models.
  torch::Generator rng = make_rng(7);
  torch::Tensor z = generator->sample_latent(std::max<int64_t>(fid_n, 256), rng).contiguous();
  auto label_of = [&](int64_t i) { return classes ? static_cast<int32_t>(i % classes) : -1; };
  write_json(dir + "/vectors.json", {{"latent_dim", graph.latent_dim}, {"classes", classes}});

  torch::NoGradGuard no_grad;
  out["ms"]["libtorch"] = median_ms(iterations, [&](int i) {
    torch::Tensor labels = classes ? torch::full({1}, label_of(i), torch::kInt64) : torch::Tensor();
    generator->decode(z.slice(0, i % 256, i % 256 + 1), labels);
  });
  std::vector<float> image(static_cast<size_t>(pixels));
  for (auto& [name, bytes] : lkm) {
    Runtime rt(bytes);
    out["ms"]["lkrt_" + name] = median_ms(iterations, [&](int i) {
      rt.generate(z[i % 256].data_ptr<float>(), label_of(i), image.data());
    });
  }

  // FID of each runtime's images of the same latents.
  if (fid_n > 0) {
    set_threads(2);
    auto extractor = load_classifier_extractor(classifier);
    DataOptions test;
    test.spec = "fashion-mnist";
    test.split = "test";
    Dataset real = load_dataset(test);
    const GaussianStats real_stats =
        gaussian_stats(extract_features(*extractor, normalize_images(real.images.slice(0, 0, fid_n)), 500, "test").features);
    auto fid_of = [&](const torch::Tensor& images, const char* name) {
      return frechet_distance(gaussian_stats(extract_features(*extractor, images, 500, name).features), real_stats);
    };
    std::vector<torch::Tensor> chunks;
    for (int64_t start = 0; start < fid_n; start += 500) {
      const int64_t end = std::min(fid_n, start + 500);
      torch::Tensor labels = classes ? torch::arange(start, end, torch::kInt64).remainder(classes) : torch::Tensor();
      chunks.push_back(generator->decode(z.slice(0, start, end), labels));
    }
    torch::Tensor reference = torch::cat(chunks);
    out["fid"]["libtorch"] = fid_of(reference, "libtorch");
    for (auto& [name, bytes] : lkm) {
      Runtime rt(bytes);
      torch::Tensor images = torch::empty({fid_n, shape[0], shape[1], shape[2]});
      for (int64_t i = 0; i < fid_n; ++i) rt.generate(z[i].data_ptr<float>(), label_of(i), images[i].data_ptr<float>());
      out["fid"]["lkrt_" + name] = fid_of(images, name.c_str());
      out["normalised_error"]["lkrt_" + name] =
          (images - reference).pow(2).sum().item<double>() / reference.pow(2).sum().item<double>();
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
