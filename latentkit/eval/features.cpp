#include "latentkit/eval/features.h"

#include <torch/script.h>

#include <algorithm>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/progress.h"
#include "latentkit/data/dataset.h"
#include "latentkit/models/classifier.h"

namespace latentkit {
namespace {

// Batch of the load-time probe that checks a TorchScript module's output shape: two
// images, so a module that squeezes the batch dimension away is caught too.
constexpr int64_t kProbeBatch = 2;

void check_images(const torch::Tensor& images) {
  check_input(images.defined() && images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3 || images.size(1) == 4),
              "feature extraction needs images [N, C, H, W] with C 1, 3 or 4, got " +
                  (images.defined() ? c10::str(images.sizes()) : std::string("nothing")));
  check_input(images.size(2) > 0 && images.size(3) > 0, "feature extraction got empty images " + c10::str(images.sizes()));
}

class ClassifierExtractor final : public FeatureExtractor {
 public:
  ClassifierExtractor(ClassifierRun run, std::string run_dir, std::string hash)
      : run_(std::move(run)), run_dir_(std::move(run_dir)), hash_(std::move(hash)) {}
  std::string name() const override { return "classifier:" + run_dir_; }
  std::string file_hash() const override { return hash_; }
  int64_t feature_dim() const override { return run_.model->options.feature_dim(); }
  int64_t num_classes() const override { return run_.model->options.num_classes(); }
  int64_t input_size() const override { return run_.model->options.image_size(); }
  int64_t input_channels() const override { return run_.model->options.channels(); }
  std::vector<std::string> class_names() const override { return run_.class_names; }

  FeatureBatch extract(const torch::Tensor& images) override {
    check_images(images);
    torch::NoGradGuard no_grad;
    run_.model->eval();
    ClassifierOutput out = run_.model->forward(fit_images(images.to(torch::kFloat32), input_channels(), input_size()));
    return {out.features.contiguous(), torch::softmax(out.logits, 1)};
  }

 private:
  ClassifierRun run_;
  std::string run_dir_;
  std::string hash_;
};

class TorchScriptExtractor final : public FeatureExtractor {
 public:
  TorchScriptExtractor(torch::jit::Module module, std::string path, std::string hash, TorchScriptExtractorOptions options)
      : module_(std::move(module)), path_(std::move(path)), hash_(std::move(hash)), options_(std::move(options)) {
    module_.eval();
    FeatureBatch probe = extract(torch::zeros({kProbeBatch, 3, options_.input_size, options_.input_size}));
    feature_dim_ = probe.features.size(1);
  }
  std::string name() const override { return "torchscript:" + path_; }
  std::string file_hash() const override { return hash_; }
  int64_t feature_dim() const override { return feature_dim_; }
  int64_t num_classes() const override { return options_.num_classes; }
  int64_t input_size() const override { return options_.input_size; }
  int64_t input_channels() const override { return options_.channels; }

  FeatureBatch extract(const torch::Tensor& images) override {
    check_images(images);
    torch::NoGradGuard no_grad;
    torch::Tensor x = fit_images(images.to(torch::kFloat32), options_.channels, options_.input_size);
    if (options_.range == "0,1") {
      x = (x + 1) * 0.5;
    } else if (options_.range == "0,255") {
      x = (x + 1) * 127.5;
    }
    if (options_.normalize == "imagenet") {
      const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
      const auto std = torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
      x = (x - mean) / std;
    }
    const int64_t n = x.size(0);
    torch::IValue output;
    try {
      output = module_.forward({x});
    } catch (const c10::Error& e) {
      throw Error(path_ + ": the TorchScript module failed on a batch " + c10::str(x.sizes()) + " (" +
                  std::string(e.what_without_backtrace()).substr(0, 300) + "); check --input-size and --input-channels");
    }
    FeatureBatch batch;
    if (options_.num_classes > 0) {
      check_input(output.isTuple() && output.toTuple()->elements().size() >= 2 &&
                      output.toTuple()->elements()[0].isTensor() && output.toTuple()->elements()[1].isTensor(),
                  path_ + ": with num_classes " + std::to_string(options_.num_classes) +
                      " the module must return a tuple (features, logits), it returned " + output.tagKind());
      batch.features = output.toTuple()->elements()[0].toTensor();
      torch::Tensor logits = output.toTuple()->elements()[1].toTensor();
      check_input(logits.dim() == 2 && logits.size(0) == n && logits.size(1) == options_.num_classes,
                  path_ + ": logits must be [" + std::to_string(n) + ", " + std::to_string(options_.num_classes) +
                      "], the module returned " + c10::str(logits.sizes()) + " (is num_classes right?)");
      batch.probs = torch::softmax(logits.to(torch::kFloat32), 1).contiguous();
    } else {
      check_input(output.isTensor(), path_ + ": the module returned " +
                                         (output.isTuple() ? std::string("a tuple") : output.tagKind()) +
                                         ", expected a features tensor [N, D]; if it returns (features, logits), "
                                         "give the extractor its number of classes");
      batch.features = output.toTensor();
    }
    torch::Tensor& f = batch.features;
    // pytorch-fid's InceptionV3 returns pool3 as [N, 2048, 1, 1].
    if (f.dim() == 4 && f.size(2) == 1 && f.size(3) == 1) f = f.flatten(1);
    check_input(f.dim() == 2 && f.size(0) == n && f.size(1) > 0,
                path_ + ": features must be [" + std::to_string(n) + ", D] (or [N, D, 1, 1]), the module returned " +
                    c10::str(f.sizes()));
    f = f.to(torch::kFloat32).contiguous();
    return batch;
  }

 private:
  torch::jit::Module module_;
  std::string path_;
  std::string hash_;
  TorchScriptExtractorOptions options_;
  int64_t feature_dim_ = 0;
};

}  // namespace

torch::Tensor fit_images(const torch::Tensor& images, int64_t channels, int64_t size) {
  check_images(images);
  check_input(channels == 1 || channels == 3 || channels == 4, "channels must be 1, 3 or 4, got " + std::to_string(channels));
  check_input(size >= 0, "image size must be >= 0, got " + std::to_string(size));
  torch::Tensor x = images;
  // RGBA for an RGB or gray network: composited onto white, as the images are seen on a page.
  if (x.size(1) == 4 && channels != 4) x = composite_over(x, Rgb{255, 255, 255}).to(images.scalar_type());
  if (x.size(1) == 1 && channels >= 3) x = x.expand({-1, 3, -1, -1});
  if (x.size(1) == 3 && channels == 4) x = torch::cat({x, torch::ones_like(x.slice(1, 0, 1))}, 1);
  if (x.size(1) == 3 && channels == 1) x = luma(x);
  if (size > 0 && (x.size(2) != size || x.size(3) != size)) {
    namespace F = torch::nn::functional;
    const bool shrink = x.size(2) > size || x.size(3) > size;
    x = F::interpolate(x.contiguous(), F::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{size, size})
                                           .mode(torch::kBilinear)
                                           .align_corners(false)
                                           .antialias(shrink));
  }
  return x.contiguous();
}

std::unique_ptr<FeatureExtractor> load_classifier_extractor(const std::string& run_dir) {
  ClassifierRun run = load_classifier_run(run_dir);
  std::string hash = file_sha256(run_dir + "/model.pt");
  return std::make_unique<ClassifierExtractor>(std::move(run), run_dir, std::move(hash));
}

std::unique_ptr<FeatureExtractor> load_torchscript_extractor(const std::string& path,
                                                             const TorchScriptExtractorOptions& options) {
  check_input(options.input_size >= 1 && options.input_size <= 4096,
              "TorchScript input size must be 1..4096 pixels, got " + std::to_string(options.input_size));
  check_input(options.range == "0,1" || options.range == "-1,1" || options.range == "0,255",
              "TorchScript input range must be 0,1 or -1,1 or 0,255, got '" + options.range + "'");
  check_input(options.channels == 1 || options.channels == 3,
              "TorchScript input channels must be 1 or 3, got " + std::to_string(options.channels));
  check_input(options.normalize.empty() || options.normalize == "imagenet",
              "normalization must be empty or imagenet, got '" + options.normalize + "'");
  check_input(options.normalize.empty() || (options.range == "0,1" && options.channels == 3),
              "imagenet normalization works on RGB images in range 0,1 (torchvision's convention); "
              "pass range 0,1 and 3 channels with it");
  check_input(options.num_classes >= 0, "number of classes must be >= 0, got " + std::to_string(options.num_classes));
  check_input(path_exists(path), "feature extractor " + path + " not found (expected a TorchScript file saved with "
                                 "torch.jit.save, e.g. an InceptionV3 exported from PyTorch)");
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw Error(path + " is not a TorchScript module, or it is corrupt (" +
                std::string(e.what_without_backtrace()).substr(0, 200) +
                "); export one in Python with torch.jit.script(model).save(path) or torch.jit.trace");
  }
  return std::make_unique<TorchScriptExtractor>(std::move(module), path, file_sha256(path), options);
}

FeatureBatch extract_features(FeatureExtractor& extractor, const torch::Tensor& images, int64_t batch_size,
                              const std::string& progress_label) {
  check_images(images);
  check_input(batch_size >= 1, "batch size must be >= 1, got " + std::to_string(batch_size));
  check_input(images.scalar_type() == torch::kUInt8 || images.is_floating_point(),
              "images for feature extraction must be uint8 (0..255) or float in [-1, 1], got " +
                  std::string(c10::toString(images.scalar_type())));
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0);
  const int64_t batches = (n + batch_size - 1) / batch_size;
  std::unique_ptr<Progress> progress;
  if (!progress_label.empty()) progress = std::make_unique<Progress>(progress_label, batches);
  std::vector<torch::Tensor> features, probs;
  for (int64_t b = 0; b < batches; ++b) {
    torch::Tensor chunk = images.slice(0, b * batch_size, std::min(n, (b + 1) * batch_size));
    chunk = chunk.scalar_type() == torch::kUInt8 ? normalize_images(chunk) : chunk.to(torch::kFloat32);
    FeatureBatch out = extractor.extract(chunk);
    features.push_back(out.features);
    if (out.probs.defined()) probs.push_back(out.probs);
    if (progress) progress->update(b + 1, "", static_cast<double>(batch_size));
  }
  if (progress) progress->finish(std::to_string(n) + " images, " + std::to_string(extractor.feature_dim()) + " features each");
  FeatureBatch all;
  all.features = n > 0 ? torch::cat(features) : torch::empty({0, extractor.feature_dim()});
  if (!probs.empty()) all.probs = torch::cat(probs);
  return all;
}

}  // namespace latentkit
