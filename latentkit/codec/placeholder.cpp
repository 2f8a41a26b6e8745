#include "latentkit/codec/placeholder.h"

#include <chrono>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/image.h"
#include "latentkit/eval/features.h"
#include "latentkit/models/registry.h"
#include "lkrt.h"
#include "lkrt_code.h"

namespace latentkit {

std::string run_model_id(const std::string& run_dir) { return file_sha256(run_dir + "/model.pt").substr(0, 16); }

PlaceholderCodec::PlaceholderCodec(const std::string& run_dir, const std::string& classifier_dir)
    : run_dir_(run_dir), model_id_(run_model_id(run_dir)), generator_(load_generator(run_dir)) {
  if (!classifier_dir.empty()) classifier_ = std::make_unique<ClassifierRun>(load_classifier_run(classifier_dir));
}

std::string PlaceholderCodec::resolve_method(const std::string& method) const {
  if (method == "auto") {
    if (generator_->has_encoder()) return "posterior";
    return has_encoder_file(run_dir_) ? "hybrid" : "optimise";
  }
  check_input(method == "optimise" || method == "encoder" || method == "hybrid" || method == "posterior",
              "unknown inversion method '" + method + "' (auto, optimise, encoder, hybrid, posterior)");
  check_input(method != "posterior" || generator_->has_encoder(),
              "--method posterior needs a model with its own encoder (vae, cvae); " + run_dir_ + " is a " +
                  generator_->family());
  check_input((method != "encoder" && method != "hybrid") || has_encoder_file(run_dir_),
              run_dir_ + " has no encoder for --method " + method + "; train one with: latentkit encoder train --run " +
                  run_dir_);
  return method;
}

Placeholders PlaceholderCodec::latents(const torch::Tensor& images, const PlaceholderOptions& o, torch::Tensor labels) {
  Generator& g = *generator_;
  const int64_t n = images.size(0), k = g.num_classes();
  Placeholders out;
  out.method = resolve_method(o.method);
  if (k > 0 && !labels.defined()) {
    check_input(classifier_ != nullptr, "a conditional model needs the class of each image: give --class K or "
                                        "--features CLASSIFIER_RUN to let a classifier tell");
    torch::NoGradGuard no_grad;
    const ClassifierOptions& co = classifier_->model->options;
    labels = classifier_->model->forward(fit_images(images, co.channels(), co.image_size())).logits.argmax(1);
    check_input(co.num_classes() == k, "the classifier has " + std::to_string(co.num_classes()) +
                                           " classes, the model " + std::to_string(k));
  }
  if (k > 0) {
    check_input(labels.numel() == n && labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < k,
                "class labels must be in [0, " + std::to_string(k) + ")");
    out.labels = labels.to(torch::kInt64);
  }
  const auto started = std::chrono::steady_clock::now();
  if (out.method == "posterior") {
    torch::NoGradGuard no_grad;
    out.z = g.posterior(images, out.labels).first;
  } else {
    torch::Tensor start;
    if (out.method != "optimise") {
      torch::NoGradGuard no_grad;
      start = load_encoder(g, run_dir_)->forward(images, out.labels);
    }
    if (out.method == "encoder") {
      out.z = start;
    } else {
      InvertOptions io = o.invert;
      if (out.method == "hybrid") {
        io.steps = o.hybrid_steps;
        io.restarts = 1;
        io.noise = 0;
      }
      out.z = invert(g, images, out.labels, classifier_.get(), io, start).z;
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

Placeholders PlaceholderCodec::encode(const torch::Tensor& images, const PlaceholderOptions& o, torch::Tensor labels,
                                      std::vector<int32_t> aspects) {
  Placeholders out = latents(images, o, labels);
  out.aspects = std::move(aspects);
  quantise(out, images, o.bytes, o.mean);
  return out;
}

void PlaceholderCodec::quantise(Placeholders& found, const torch::Tensor& images, size_t bytes, bool mean) {
  const int64_t n = found.z.size(0), k = generator_->num_classes();
  check_input(found.aspects.empty() || found.aspects.size() == static_cast<size_t>(n),
              "placeholder: " + std::to_string(found.aspects.size()) + " aspect fields for " + std::to_string(n) +
                  " images");
  const uint16_t tag = lkrt::code::model_tag(model_id_);
  torch::Tensor z = found.z.to(torch::kFloat32).contiguous();
  found.codes.clear();
  std::vector<torch::Tensor> decoded;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> zi(z[i].data_ptr<float>(), z[i].data_ptr<float>() + z.size(1));
    const int32_t label = k > 0 ? static_cast<int32_t>(found.labels[i].item<int64_t>()) : -1;
    try {
      int32_t level = -1;
      if (mean) {
        const torch::Tensor pixels = images[i].to(torch::kFloat32).contiguous();
        level = lkrt::code::mean_intensity(
            std::vector<float>(pixels.data_ptr<float>(), pixels.data_ptr<float>() + pixels.numel()));
      }
      const int32_t aspect = found.aspects.empty() ? 0 : found.aspects[static_cast<size_t>(i)];
      found.codes.push_back(lkrt::code::pack(zi, label, level, tag, static_cast<int>(k), bytes, aspect));
    } catch (const lkrt::Error& e) {
      throw Error(e.what());
    }
    decoded.push_back(decode(found.codes.back()));
  }
  found.decoded = torch::stack(decoded);
}

torch::Tensor PlaceholderCodec::decode(const std::vector<uint8_t>& bytes, int32_t* aspect) {
  Generator& g = *generator_;
  lkrt::code::Code code;
  try {
    code = lkrt::code::unpack(bytes.data(), bytes.size(), static_cast<int>(g.latent_dim()),
                              static_cast<int>(g.num_classes()), lkrt::code::model_tag(model_id_));
  } catch (const lkrt::Error& e) {
    throw Error(e.what());
  }
  if (aspect) *aspect = code.aspect;
  const std::vector<float> z = lkrt::code::latent(code);
  torch::NoGradGuard no_grad;
  torch::Tensor labels = code.label >= 0 ? torch::tensor({static_cast<int64_t>(code.label)}) : torch::Tensor();
  torch::Tensor image = g.decode(torch::tensor(z).unsqueeze(0), labels)[0].contiguous();
  if (code.mean >= 0) lkrt::code::apply_mean(image.data_ptr<float>(), static_cast<size_t>(image.numel()), code.mean);
  return image;
}

namespace {

// An image file in the generator's channels; the generator must draw square images.
Image read_image_for(const Generator& generator, const std::string& path) {
  const auto shape = generator.image_shape();
  check_input(shape[1] == shape[2], "placeholders need a generator of square images");
  return convert_channels(read_image(path), static_cast<int>(shape[0]));
}

}  // namespace

torch::Tensor load_image_for(const Generator& generator, const std::string& path) {
  const int size = static_cast<int>(generator.image_shape()[1]);
  return image_to_tensor(resize_center_crop(read_image_for(generator, path), size)).unsqueeze(0);
}

PlaceholderImage load_placeholder_image(const Generator& generator, const std::string& path) {
  const Image file = read_image_for(generator, path);
  PlaceholderImage out;
  try {
    out.aspect = lkrt::code::aspect_of(file.width, file.height);
  } catch (const lkrt::Error& e) {
    throw Error(path + ": " + e.what());
  }
  const int64_t size = generator.image_shape()[1];
  if (out.aspect == 0) {
    out.image = image_to_tensor(resize_center_crop(file, static_cast<int>(size))).unsqueeze(0);
    return out;
  }
  // Each axis scaled on its own; bilinear with antialiasing (area-like when shrinking) on
  // the premultiplied values, so hidden colors do not bleed, as in resize_center_crop.
  torch::NoGradGuard no_grad;
  out.image = torch::nn::functional::interpolate(image_to_tensor(file).unsqueeze(0),
                                                 torch::nn::functional::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{size, size})
                                                     .mode(torch::kBilinear)
                                                     .align_corners(false)
                                                     .antialias(true))
                  .clamp(-1, 1);
  return out;
}

}  // namespace latentkit
