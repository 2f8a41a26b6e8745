#pragma once
// A dataset held in memory as uint8 tensors, the `--data` spec that names one, and the
// seeded batch order used by every trainer.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/image.h"
#include "latentkit/core/names.h"

namespace latentkit {

/// One way of labelling every image of a dataset (emoji: category, subcategory, vendor,
/// skin-tone), for --condition-on.
struct Labeling {
  std::string name;                      // what --condition-on calls it
  torch::Tensor labels;                  // int64 [N]
  std::vector<std::string> class_names;  // label order
};

/// What an image shows, in words (emoji: "smiling face with heart-eyes"; short names
/// "heart_eyes"; unified "1F60D", its code points, which emojilib's keywords key on), kept
/// for text conditioning (data/captions.h).
struct ImageText {
  std::string name;
  std::vector<std::string> short_names;
  std::string unified;
};

struct Dataset {
  std::string spec;                      // as given to load_dataset, e.g. "fashion-mnist"
  torch::Tensor images;                  // uint8 [N, C, H, W]
  torch::Tensor labels;                  // int64 [N]; all 0 when the data has no classes
  std::vector<std::string> class_names;  // empty when the data has no classes
  torch::Tensor factors;                 // float32 [N, F] known generative factors, or undefined
  std::vector<std::string> factor_names; // F names (shapes: shape, scale, x, y, rotation, hue)
  std::vector<Labeling> labelings;       // further labels beside `labels`, or empty
  std::vector<ImageText> texts;          // per image, or empty
  torch::Tensor maps;                    // uint8 [N, H, W] exact label maps (shapes-scenes), or undefined
  std::string map_palette;               // their classes and colors: map_palette(name) (data/labelmaps.h)

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

/// What `--data` and its companion flags ask for.
///   fashion-mnist         /usr/share/datasets/fashion-mnist (or $LATENTKIT_FASHION_MNIST)
///   idx:DIR               any folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
///   folder:DIR            PNG / JPEG images; class subfolders become labels (ImageFolder)
///   shapes[:COUNT]        procedural shapes with known factors (default 10000 images)
///   shapes-scenes[:COUNT] 2 to 4 overlapping shapes per image with exact label maps (10000, 64 px)
///   emoji[:VENDOR]        the emoji set (latentkit/data/emoji.h), both vendors or one
/// RGBA images are held premultiplied (core/grid.h); dropping alpha composites onto
/// `background`.
struct DataOptions {
  std::string spec = "fashion-mnist";
  std::string split = "train";  // train or test (idx data, emoji); shapes use a different seed for test
  int size = 0;                 // 0: native size (idx 28, shapes 32, emoji 64, folders: required)
  int channels = 0;             // 0: native (idx 1, shapes 3, emoji 4, folders 4 when a file has
                                // alpha, else 3); 1 gray, 3 RGB or 4 RGBA
  std::string background;       // "" or --background: white, black or #rrggbb (""
                                // composites onto white); given alone, it asks for RGB
  int64_t limit = 0;            // 0: all; else the first `limit` images
  uint64_t seed = 0;            // shapes generation seed
};

/// DataOptions <-> the "data" object of a run's config.json.
nlohmann::json data_options_to_json(const DataOptions& options);
/// Throws Error naming `source` when a field is missing or of the wrong type.
DataOptions data_options_from_json(const nlohmann::json& data, const std::string& source);

/// Loads or generates the data. Throws Error with a message naming the file, what was
/// expected and what to do, for any missing, truncated or foreign input.
Dataset load_dataset(const DataOptions& options);

/// Images uint8 [N, C, H, W] -> float32 in [-1, 1].
torch::Tensor normalize_images(const torch::Tensor& images);
/// Resizes (bilinear, antialiased when shrinking) and converts channels (1, 3 or 4) of a
/// uint8 batch; RGBA is premultiplied and composited onto background when alpha is dropped.
torch::Tensor resize_images(const torch::Tensor& images, int size, int channels, Rgb background = {});

/// Class names of Fashion-MNIST in label order.
const std::vector<std::string>& fashion_mnist_class_names();

/// Hue buckets of shapes for --condition-on hue: hue in [0, 1) -> 0..5.
torch::Tensor hue_buckets(const torch::Tensor& hue);
const std::vector<std::string>& hue_bucket_names();

/// What a conditional model's label is: the data's own classes, shapes' hue in 6 buckets, or
/// one of the data's labelings (emoji).
enum class ConditionOn { kClass, kHue, kCategory, kSubcategory, kVendor, kSkinTone };
/// class, hue, category, subcategory, vendor, skin-tone: the names --condition-on takes and
/// config.json holds.
const NameTable<ConditionOn>& condition_on_names();

/// Makes data.labels and data.class_names what a conditional model is trained on:
/// the data's own classes, hue_buckets of shapes' hue, or the labeling of that name. A clear Error when the data has no
/// such labels (spec names the data in the message).
void condition_dataset(Dataset& data, ConditionOn condition_on, const std::string& spec);

/// The order in which a trainer visits a dataset: epoch e is a permutation drawn from
/// (seed, e) alone, so any (epoch, step) can be reproduced after a resume without state.
/// The last partial batch of an epoch is dropped.
class BatchOrder {
 public:
  BatchOrder(int64_t dataset_size, int64_t batch_size, uint64_t seed);
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  /// Indices int64 [batch] for the given step (0-based) of the given epoch (0-based).
  torch::Tensor batch_indices(int64_t epoch, int64_t step_in_epoch);

 private:
  int64_t dataset_size_;
  int64_t batch_size_;
  uint64_t seed_;
  int64_t steps_per_epoch_;
  int64_t cached_epoch_ = -1;
  torch::Tensor permutation_;
};

}  // namespace latentkit
