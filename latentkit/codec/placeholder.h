#pragma once
// Placeholder codes: an image as a few dozen bytes that a generator decodes into a sharp
// stand-in. The image is inverted into the generator's latent (codec/invert.h,
// codec/encoder.h, or a VAE's own encoder), and the latent (with the class for conditional
// models) is quantised to fill a byte budget in the runtime's code format
// (runtime/include/lkrt_code.h, docs/file-format.md), which the device decodes without
// LibTorch.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "latentkit/codec/encoder.h"
#include "latentkit/codec/invert.h"
#include "latentkit/models/classifier.h"
#include "latentkit/models/generator.h"

namespace latentkit {

/// The id export writes into .lkm files: the first 16 hex digits of model.pt's SHA-256.
std::string run_model_id(const std::string& run_dir);

struct PlaceholderOptions {
  size_t bytes = 24;
  // optimise | encoder | hybrid | posterior (VAEs) | auto: posterior for a VAE, hybrid when
  // the run has an encoder, else optimise.
  std::string method = "auto";
  InvertOptions invert;
  int64_t hybrid_steps = 50;
  bool mean = false;  // add the mean-intensity byte
};

/// What encoding found, per image, before and after quantisation.
struct Placeholders {
  std::vector<std::vector<uint8_t>> codes;
  std::string method;      // the one used (auto resolved)
  torch::Tensor z;         // float32 [N, D] before quantisation
  torch::Tensor labels;    // int64 [N] (conditional models), else undefined
  torch::Tensor decoded;   // what the codes decode to [N, C, H, W]
  std::vector<int32_t> aspects;  // each image's aspect field (lkrt::code::aspect_of); empty: none
  double seconds = 0;      // finding the latents (not quantising or decoding)
};

class PlaceholderCodec {
 public:
  /// run_dir: a generator run; classifier_dir: a classifier run for the feature loss and
  /// the class of conditional models ("" = none).
  PlaceholderCodec(const std::string& run_dir, const std::string& classifier_dir);
  Generator& generator() { return *generator_; }
  const std::string& model_id() const { return model_id_; }
  /// auto -> the method encode uses; others are checked against what the run offers.
  std::string resolve_method(const std::string& method) const;

  /// The latents of images as the generator makes them, [N, C, H, W] in [-1, 1], found by
  /// options.method; labels: int64 [N] for conditional models, or undefined to take the
  /// classifier's guess. Fills method, z, labels and seconds.
  Placeholders latents(const torch::Tensor& images, const PlaceholderOptions& options, torch::Tensor labels = {});
  /// Fills found.codes (bytes each, with a mean-intensity byte if mean, and an aspect field
  /// where found.aspects has one) and found.decoded from found.z and found.labels; images
  /// are the originals (for the mean byte).
  void quantise(Placeholders& found, const torch::Tensor& images, size_t bytes, bool mean);
  /// latents, then quantise; aspects: one aspect field per image (0: square), or empty.
  Placeholders encode(const torch::Tensor& images, const PlaceholderOptions& options, torch::Tensor labels = {},
                      std::vector<int32_t> aspects = {});
  /// One code -> [C, H, W] in [-1, 1]; *aspect, when given, gets the code's aspect field
  /// (0: none). Malformed codes and codes of other models are Errors.
  torch::Tensor decode(const std::vector<uint8_t>& code, int32_t* aspect = nullptr);

 private:
  std::string run_dir_, model_id_;
  std::unique_ptr<Generator> generator_;
  std::unique_ptr<ClassifierRun> classifier_;
};

/// Any image file (PNG, JPEG) -> [1, C, H, W] in [-1, 1] of the generator's channels and
/// size (resized and centre-cropped as the image-folder data is).
torch::Tensor load_image_for(const Generator& generator, const std::string& path);

/// An image file as a placeholder code sees it.
struct PlaceholderImage {
  torch::Tensor image;  // [1, C, H, W] in [-1, 1], the generator's channels and size
  int32_t aspect = 0;   // lkrt::code::aspect_of(the file's width, height); 0: square
};
/// A square file as load_image_for reads it; any other is resized whole to the generator's
/// square (stretched, not cropped): its preview is drawn stretched back to the file's
/// aspect ratio, which the code carries, so every part of the image lands where it was.
PlaceholderImage load_placeholder_image(const Generator& generator, const std::string& path);

}  // namespace latentkit
