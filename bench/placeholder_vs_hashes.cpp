// Placeholders against BlurHash and ThumbHash on the test split of a data set (Fashion-MNIST
// or the emoji); run by bench/placeholder_vs_hashes.sh, which calls
//   bench_placeholder_vs_hashes prepare DIR N DATA  (DIR/originals.npy: the first N test images,
//                                                    RGBA straight as in PNG files; DIR/data.json)
//   node bench/placeholder/hashes.mjs ...           (DIR/hashes/: the peers' decoded images)
//   bench_placeholder_vs_hashes measure DIR RUN CLASSIFIER VAE_RUN INVERT_N PICTURE
// measure scores every placeholder against its original: PSNR, SSIM, distance in the
// classifier's feature space, and whether the classifier puts it in the original's class
// (the classes it learnt: emoji subcategories for models/emoji-classifier). On RGBA, PSNR is
// of RGB composited onto white, SSIM of its luma, and alpha MAE is the mean |alpha error|.
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
#include "latentkit/models/classifier.h"
#include "latentkit/eval/npy.h"
#include "latentkit/export/graph.h"
#include "latentkit/export/lkm.h"
#include "lkrt.h"

using namespace latentkit;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The first n test images of spec, labelled with what the classifier learnt.
Dataset test_images(const std::string& spec, int64_t n, const std::string& classifier = "") {
  DataOptions d;
  d.spec = spec;
  d.split = "test";
  d.limit = n;
  Dataset data = load_dataset(d);
  if (!classifier.empty()) condition_dataset(data, classifier_labels(read_json(classifier + "/config.json")), spec);
  return data;
}

// uint8 [N, C, H, W] as stored (RGBA premultiplied) -> uint8 [N, H, W] or [N, H, W, 4] with
// straight alpha, as hashes.mjs (and PNG files) take them.
torch::Tensor as_files_hold_them(const torch::Tensor& images) {
  if (images.size(1) == 1) return images.squeeze(1).contiguous();
  std::vector<torch::Tensor> out;
  const torch::Tensor x = normalize_images(images);
  for (int64_t i = 0; i < x.size(0); ++i) {
    const Image image = tensor_to_image(x[i]);
    out.push_back(torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 4}, torch::kUInt8).clone());
  }
  return torch::stack(out);
}

struct Scores {
  double psnr = 0, ssim = 0, alpha_mae = 0, feature_distance = 0, class_agreement = 0;
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
    if (images.size(1) == 4) {
      const torch::Tensor a = composite_over(images, Rgb{}), b = composite_over(originals_, Rgb{});
      s.psnr = psnr(a, b).mean().item<double>();
      s.ssim = ssim(luma(a), luma(b)).mean().item<double>();
      s.alpha_mae = ((images.select(1, 3) - originals_.select(1, 3)).abs() / 2).mean().item<double>();
    } else {
      s.psnr = psnr(images, originals_).mean().item<double>();
      s.ssim = ssim(images, originals_).mean().item<double>();
    }
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
                      {"psnr", s.psnr},         {"ssim", s.ssim},         {"alpha_mae", s.alpha_mae},
                      {"feature_distance", s.feature_distance}, {"class_agreement", s.class_agreement}};
  if (!extra.is_null()) j.update(extra);
  return j;
}

bool g_rgba = false;  // the alpha MAE column

void print_row(const nlohmann::json& r) {
  std::printf("| %-26s | %5.1f | %6.2f | %5.3f |", r["name"].get<std::string>().c_str(), r["bytes"].get<double>(),
              r["psnr"].get<double>(), r["ssim"].get<double>());
  if (g_rgba) std::printf(" %5.3f |", r["alpha_mae"].get<double>());
  std::printf(" %6.2f | %5.3f |\n", r["feature_distance"].get<double>(), r["class_agreement"].get<double>());
}

// What hashes.mjs writes: uint8 [N, H, W] or straight RGBA [N, H, W, 4] -> [N, C, H, W] in
// [-1, 1], RGBA premultiplied.
torch::Tensor read_decoded(const std::string& path) {
  const torch::Tensor t = read_npy(path);
  if (t.dim() == 3) return normalize_images(t.unsqueeze(1).contiguous());
  const torch::Tensor x = t.permute({0, 3, 1, 2}).to(torch::kFloat64) / 255.0;
  const torch::Tensor alpha = x.slice(1, 3, 4);
  return (torch::cat({x.slice(1, 0, 3) * alpha, alpha}, 1) * 2 - 1).to(torch::kFloat32).contiguous();
}

int prepare(const std::string& dir, int64_t n, const std::string& spec) {
  Dataset data = test_images(spec, n);
  make_dirs(dir);
  write_npy(dir + "/originals.npy", as_files_hold_them(data.images));
  write_json(dir + "/data.json", {{"spec", spec}, {"n", data.size()}});
  std::fprintf(stderr, "wrote %s/originals.npy (%lld %s test images)\n", dir.c_str(), static_cast<long long>(data.size()),
               spec.c_str());
  return 0;
}

int measure(const std::string& dir, const std::string& run, const std::string& classifier, const std::string& vae_run,
            int64_t invert_n, const std::string& picture) {
  set_threads(2);
  const torch::Tensor stored = read_npy(dir + "/originals.npy");
  const int64_t n = stored.size(0);
  const std::string spec = path_exists(dir + "/data.json") ? read_json(dir + "/data.json").value("spec", "fashion-mnist")
                                                           : "fashion-mnist";
  Dataset data = test_images(spec, n, classifier);
  check_input(torch::equal(as_files_hold_them(data.images), stored), "originals.npy is not the first test images of " + spec);
  g_rgba = data.channels() == 4;
  const torch::Tensor originals = normalize_images(data.images), labels = data.labels;
  Scorer scorer(classifier, originals, labels);
  nlohmann::json rows = nlohmann::json::array();
  std::printf("%lld %s test images; classifier %s (its accuracy on the originals: %.3f)%s\n\n", static_cast<long long>(n),
              spec.c_str(), classifier.c_str(), scorer.score(originals).class_agreement,
              g_rgba ? "; PSNR of RGB on white, SSIM of its luma" : "");
  std::printf("| placeholder | bytes | PSNR dB | SSIM |%s feature distance | class agreement |\n|---|---|---|---|%s---|---|\n",
              g_rgba ? " alpha MAE |" : "", g_rgba ? "---|" : "");

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
    torch::Tensor images = read_decoded(dir + "/hashes/" + name + ".npy");
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
      shown["BlurHash"] = read_decoded(dir + "/hashes/" + r["name"].get<std::string>() + ".npy");
    }
  }

  // Decoding on the device: the runtime, 1 thread, the 24-byte codes.
  nlohmann::json timing;
  {
    PlaceholderCodec codec(run, classifier);
    codec.quantise(gan, originals, 24, false);
    ModelGraph graph = extract_graph(codec.generator());
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
    // A VAE's own encoder (posterior) against optimisation; a GAN's encoder, hybrid and optimisation.
    const bool vae = PlaceholderCodec(run, classifier).generator().has_encoder();
    for (const std::string& name : vae ? std::vector<std::string>{"posterior", "optimise"}
                                      : std::vector<std::string>{"optimise", "encoder", "hybrid"}) {
      method(run, name);
    }
    if (!vae_run.empty()) method(vae_run, "posterior");
  }

  // The picture: original, ours at 24 bytes, ThumbHash, the best BlurHash up to 28 characters.
  if (!picture.empty()) {
    const int64_t columns = 12;
    std::vector<torch::Tensor> picture_rows = {originals.slice(0, 0, columns), shown["latentkit"].slice(0, 0, columns)};
    if (shown.count("ThumbHash")) picture_rows.push_back(shown["ThumbHash"].slice(0, 0, columns));
    if (shown.count("BlurHash")) picture_rows.push_back(shown["BlurHash"].slice(0, 0, columns));
    const int64_t scale = std::max<int64_t>(1, 96 / originals.size(2));  // 28 px shown 3x, 64 px as they are
    torch::Tensor grid = torch::cat(picture_rows).repeat_interleave(scale, 2).repeat_interleave(scale, 3);
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
    if (mode == "prepare" && (argc == 4 || argc == 5)) return prepare(argv[2], std::stoll(argv[3]), argc == 5 ? argv[4] : "fashion-mnist");
    if (mode == "measure" && argc == 8) {
      return measure(argv[2], argv[3], argv[4], argv[5], std::stoll(argv[6]), argv[7]);
    }
    std::fprintf(stderr,
                 "usage: bench_placeholder_vs_hashes prepare DIR N [DATA]\n"
                 "       bench_placeholder_vs_hashes measure DIR RUN CLASSIFIER VAE_RUN INVERT_N PICTURE\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
