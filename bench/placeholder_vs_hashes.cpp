// Placeholders against BlurHash and ThumbHash on Fashion-MNIST test images; run by
// bench/placeholder_vs_hashes.sh, which calls
//   bench_placeholder_vs_hashes prepare DIR N                 (DIR/originals.npy: the first N test images)
//   node bench/placeholder/hashes.mjs ...           (DIR/hashes/: the peers' decoded images)
//   bench_placeholder_vs_hashes measure DIR RUN CLASSIFIER VAE_RUN INVERT_N PICTURE
// measure scores every placeholder against its original: PSNR, SSIM, distance in the
// classifier's feature space, and whether the classifier puts it in the original's class.
// It also compares the ways of finding latents (optimise, encoder, hybrid, a VAE's
// posterior) on the first INVERT_N images, and times decoding with the runtime on 1 thread.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "latentkit/codec/placeholder.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/core/threads.h"
#include "latentkit/data/dataset.h"
#include "latentkit/eval/features.h"
#include "latentkit/eval/npy.h"
#include "latentkit/export/graph.h"
#include "latentkit/export/lkm.h"
#include "lkrt.h"

using namespace latentkit;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Dataset test_images(int64_t n) {
  DataOptions d;
  d.spec = "fashion-mnist";
  d.split = "test";
  d.limit = n;
  return load_dataset(d);
}

struct Scores {
  double psnr = 0, ssim = 0, feature_distance = 0, class_agreement = 0;
};

class Scorer {
 public:
  Scorer(const std::string& classifier, const torch::Tensor& originals, const torch::Tensor& labels)
      : extractor_(load_classifier_extractor(classifier)), originals_(originals), labels_(labels) {
    originals_features_ = extractor_->extract(originals).features.to(torch::kFloat64);
  }
  Scores score(const torch::Tensor& images) {
    torch::NoGradGuard no_grad;
    FeatureBatch f = extractor_->extract(images);
    Scores s;
    s.psnr = psnr(images, originals_).mean().item<double>();
    s.ssim = ssim(images, originals_).mean().item<double>();
    s.feature_distance = (f.features.to(torch::kFloat64) - originals_features_).norm(2, 1).mean().item<double>();
    s.class_agreement = (f.probs.argmax(1) == labels_).to(torch::kFloat64).mean().item<double>();
    return s;
  }

 private:
  std::unique_ptr<FeatureExtractor> extractor_;
  torch::Tensor originals_, labels_, originals_features_;
};

nlohmann::json row(const std::string& name, double bytes, const Scores& s, const nlohmann::json& extra = {}) {
  nlohmann::json j = {{"name", name},           {"bytes", bytes},
                      {"psnr", s.psnr},         {"ssim", s.ssim},
                      {"feature_distance", s.feature_distance}, {"class_agreement", s.class_agreement}};
  if (!extra.is_null()) j.update(extra);
  return j;
}

void print_row(const nlohmann::json& r) {
  std::printf("| %-26s | %5.1f | %6.2f | %5.3f | %6.2f | %5.3f |\n", r["name"].get<std::string>().c_str(),
              r["bytes"].get<double>(), r["psnr"].get<double>(), r["ssim"].get<double>(),
              r["feature_distance"].get<double>(), r["class_agreement"].get<double>());
}

// uint8 [N, H, W] (what hashes.mjs writes) -> [N, 1, H, W] in [-1, 1].
torch::Tensor read_gray(const std::string& path) {
  torch::Tensor t = read_npy(path);
  return normalize_images(t.unsqueeze(1).contiguous());
}

int prepare(const std::string& dir, int64_t n) {
  Dataset data = test_images(n);
  make_dirs(dir);
  write_npy(dir + "/originals.npy", data.images.squeeze(1).contiguous());
  std::fprintf(stderr, "wrote %s/originals.npy (%lld test images)\n", dir.c_str(), static_cast<long long>(data.size()));
  return 0;
}

int measure(const std::string& dir, const std::string& run, const std::string& classifier, const std::string& vae_run,
            int64_t invert_n, const std::string& picture) {
  set_threads(2);
  const torch::Tensor stored = read_npy(dir + "/originals.npy");
  const int64_t n = stored.size(0);
  Dataset data = test_images(n);
  check_input(torch::equal(data.images.squeeze(1), stored), "originals.npy is not the first test images");
  const torch::Tensor originals = normalize_images(data.images), labels = data.labels;
  Scorer scorer(classifier, originals, labels);
  nlohmann::json rows = nlohmann::json::array();
  std::printf("%lld Fashion-MNIST test images; classifier %s (its accuracy on the originals: %.3f)\n\n",
              static_cast<long long>(n), classifier.c_str(), scorer.score(originals).class_agreement);
  std::printf("| placeholder | bytes | PSNR dB | SSIM | feature distance | class agreement |\n|---|---|---|---|---|---|\n");

  // Ours: one set of latents per model, quantised to each budget.
  std::map<std::string, torch::Tensor> shown;
  auto ours = [&](const std::string& model_run, const std::string& label) {
    PlaceholderCodec codec(model_run, classifier);
    PlaceholderOptions o;
    const auto started = Clock::now();
    Placeholders found = codec.latents(originals, o);
    const double find_ms = 1000 * seconds_since(started) / static_cast<double>(n);
    for (size_t bytes : {16, 24, 32, 48}) {
      codec.quantise(found, originals, bytes, false);
      const std::string name = label + " " + found.method + " " + std::to_string(bytes) + " B";
      rows.push_back(row(name, static_cast<double>(bytes), scorer.score(found.decoded),
                         {{"method", found.method}, {"run", model_run}, {"encode_ms_per_image", find_ms},
                          {"text_chars", (bytes * 4 + 2) / 3}}));
      print_row(rows.back());
      if (bytes == 24) shown[label] = found.decoded.clone();
    }
    return found;
  };
  Placeholders gan = ours(run, "latentkit");
  if (!vae_run.empty()) ours(vae_run, "VAE baseline");

  // The peers: for each method and size, every component count was decoded; the table
  // keeps the best SSIM per size, the JSON all of them.
  const nlohmann::json summary = read_json(dir + "/hashes/summary.json");
  std::map<std::pair<std::string, int>, nlohmann::json> best;
  nlohmann::json all_hashes = nlohmann::json::array();
  for (const nlohmann::json& config : summary) {
    const std::string name = config["name"];
    torch::Tensor images = read_gray(dir + "/hashes/" + name + ".npy");
    const double bytes = config.value("mean_bytes", config["bytes"].get<double>());
    nlohmann::json r = row(name, bytes, scorer.score(images), {{"method", config["method"]}});
    all_hashes.push_back(r);
    const auto key = std::make_pair(config["method"].get<std::string>(), static_cast<int>(std::lround(bytes)));
    if (!best.count(key) || best[key]["ssim"].get<double>() < r["ssim"].get<double>()) best[key] = r;
    if (name == "thumbhash") shown["ThumbHash"] = images;
  }
  double best_blurhash = -1;
  for (const auto& [key, r] : best) {
    print_row(r);
    rows.push_back(r);
    if (key.first == "blurhash-ref" && key.second <= 28 && r["ssim"].get<double>() > best_blurhash) {
      best_blurhash = r["ssim"].get<double>();
      shown["BlurHash"] = read_gray(dir + "/hashes/" + r["name"].get<std::string>() + ".npy");
    }
  }

  // Decoding on the device: the runtime, 1 thread, the 24-byte codes.
  nlohmann::json timing;
  {
    PlaceholderCodec codec(run, classifier);
    codec.quantise(gan, originals, 24, false);
    GeneratorGraph graph = extract_graph(codec.generator());
    const std::string lkm = graph_to_lkm(graph, "fp32", codec.model_id());
    lkrt::Model model(lkm.data(), lkm.size());
    model.set_threads(1);
    double largest = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> out = model.decode_code(gan.codes[static_cast<size_t>(i)]);
      torch::Tensor device = torch::from_blob(out.data(), {static_cast<int64_t>(out.size())}, torch::kFloat32);
      largest = std::max(largest, (device - gan.decoded[i].flatten()).abs().max().item<double>());
    }
    const int rounds = 5;
    const auto started = Clock::now();
    for (int r = 0; r < rounds; ++r) {
      for (const auto& code : gan.codes) model.decode_code(code);
    }
    const double ms = 1000 * seconds_since(started) / (rounds * static_cast<double>(n));
    timing = {{"decode_ms_per_image_lkrt_1_thread", ms}, {"lkrt_vs_library_max_abs_difference", largest}};
    std::printf("\nDecoding a 24-byte code with lkrt (fp32, 1 thread): %.3f ms per image (largest difference from "
                "the library's decode: %.1e)\n",
                ms, largest);
  }

  // The ways of finding latents, before quantisation, on the first invert_n images.
  nlohmann::json methods = nlohmann::json::array();
  if (invert_n > 0) {
    const torch::Tensor few = originals.slice(0, 0, invert_n), few_labels = labels.slice(0, 0, invert_n);
    Scorer few_scorer(classifier, few, few_labels);
    std::printf("\nFinding latents, %lld images, before quantisation (2 threads):\n\n", static_cast<long long>(invert_n));
    std::printf("| method | PSNR dB | SSIM | feature distance | class agreement | ms per image |\n|---|---|---|---|---|---|\n");
    auto method = [&](const std::string& model_run, const std::string& name) {
      PlaceholderCodec codec(model_run, classifier);
      PlaceholderOptions o;
      o.method = name;
      Placeholders found = codec.latents(few, o);
      torch::NoGradGuard no_grad;
      Scores s = few_scorer.score(codec.generator().decode(found.z, found.labels));
      const double ms = 1000 * found.seconds / static_cast<double>(invert_n);
      std::printf("| %s (%s) | %.2f | %.3f | %.2f | %.3f | %.1f |\n", name.c_str(), model_run.c_str(), s.psnr, s.ssim,
                  s.feature_distance, s.class_agreement, ms);
      methods.push_back(row(name, 0, s, {{"run", model_run}, {"ms_per_image", ms}}));
    };
    for (const std::string name : {"optimise", "encoder", "hybrid"}) method(run, name);
    if (!vae_run.empty()) method(vae_run, "posterior");
  }

  // The picture: original, ours at 24 bytes, ThumbHash, the best BlurHash up to 28 characters.
  if (!picture.empty()) {
    const int64_t columns = 12;
    std::vector<torch::Tensor> picture_rows = {originals.slice(0, 0, columns), shown["latentkit"].slice(0, 0, columns)};
    if (shown.count("ThumbHash")) picture_rows.push_back(shown["ThumbHash"].slice(0, 0, columns));
    if (shown.count("BlurHash")) picture_rows.push_back(shown["BlurHash"].slice(0, 0, columns));
    torch::Tensor grid = torch::cat(picture_rows).repeat_interleave(3, 2).repeat_interleave(3, 3);
    write_png(picture, make_grid(grid, static_cast<int>(columns)));
    std::fprintf(stderr, "wrote %s (rows: original, latentkit 24 B, ThumbHash, BlurHash)\n", picture.c_str());
  }
  write_json(dir + "/results.json", {{"n", n},
                                     {"run", run},
                                     {"classifier", classifier},
                                     {"rows", rows},
                                     {"hashes", all_hashes},
                                     {"timing", timing},
                                     {"methods", methods}});
  std::fprintf(stderr, "wrote %s/results.json\n", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "prepare" && argc == 4) return prepare(argv[2], std::stoll(argv[3]));
    if (mode == "measure" && argc == 8) {
      return measure(argv[2], argv[3], argv[4], argv[5], std::stoll(argv[6]), argv[7]);
    }
    std::fprintf(stderr,
                 "usage: bench_placeholder_vs_hashes prepare DIR N\n"
                 "       bench_placeholder_vs_hashes measure DIR RUN CLASSIFIER VAE_RUN INVERT_N PICTURE\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
