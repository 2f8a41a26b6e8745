#include "latentkit/data/dataset.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/data/emoji.h"
#include "latentkit/data/folder.h"
#include "latentkit/data/idx.h"
#include "latentkit/data/shapes.h"
#include "latentkit/data/wallpapers.h"

namespace latentkit {
namespace {

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
constexpr char kValidSpecs[] =
    "fashion-mnist, idx:DIR, folder:DIR, shapes[:COUNT], shapes-scenes[:COUNT], emoji, emoji:google, emoji:twitter, wallpapers or wallpapers:DIR";
constexpr int64_t kShapesDefaultCount = 10000;
// 30 GB at the native 32 x 32: past this a typo, not a plan.
constexpr int64_t kShapesMaxCount = 10000000;
constexpr int kShapesNativeSize = 32;
constexpr int kScenesNativeSize = 64;
// Keeps the test split of shapes disjoint from train for the same --seed.
constexpr uint64_t kShapesTestSeedOffset = 1000003;
// Bounds the float copy resize_images makes: 256 images of 3 x 512 x 512 is ~800 MB.
constexpr int64_t kResizeChunk = 256;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

int64_t parse_count(const std::string& text, const std::string& spec) {
  const std::string message = "data spec '" + spec +
                              "': COUNT must be a positive whole number, e.g. shapes:5000";
  check_input(!text.empty() && text.size() <= 12 &&
                  std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }),
              message);
  const int64_t count = std::stoll(text);
  check_input(count > 0, message);
  check_input(count <= kShapesMaxCount, "data spec '" + spec + "': COUNT is at most " +
                                            std::to_string(kShapesMaxCount));
  return count;
}

Dataset load_fashion_mnist(const DataOptions& options) {
  const char* env = std::getenv("LATENTKIT_FASHION_MNIST");
  const bool from_env = env != nullptr && env[0] != '\0';
  const std::string dir = from_env ? env : kFashionMnistDir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error("fashion-mnist: " + dir + " not found" +
                (from_env ? " (from LATENTKIT_FASHION_MNIST)" : "") +
                "; install it with: apt-get install dataset-fashion-mnist (or run scripts/setup)");
  }
  Dataset data = load_idx_dir(dir, options.split, "fashion-mnist",
                              "reinstall with: apt-get install --reinstall dataset-fashion-mnist");
  const int64_t max_label = data.labels.max().item<int64_t>();
  const int64_t classes = static_cast<int64_t>(fashion_mnist_class_names().size());
  check_input(data.labels.min().item<int64_t>() >= 0 && max_label < classes,
              "fashion-mnist: labels in " + dir + " go up to " + std::to_string(max_label) +
                  ", expected 0.." + std::to_string(classes - 1) +
                  "; reinstall with: apt-get install --reinstall dataset-fashion-mnist");
  data.class_names = fashion_mnist_class_names();
  return data;
}

Dataset first_n(Dataset data, int64_t limit) {
  if (limit <= 0 || limit >= data.size()) return data;
  // clone() lets the full tensors go instead of pinning them behind a view.
  data.images = data.images.slice(0, 0, limit).clone();
  data.labels = data.labels.slice(0, 0, limit).clone();
  if (data.factors.defined()) data.factors = data.factors.slice(0, 0, limit).clone();
  for (Labeling& l : data.labelings) l.labels = l.labels.slice(0, 0, limit).clone();
  if (!data.texts.empty()) data.texts.resize(static_cast<size_t>(limit));
  if (data.maps.defined()) data.maps = data.maps.slice(0, 0, limit).clone();
  return data;
}

}  // namespace

Dataset load_dataset(const DataOptions& options) {
  const std::string& spec = options.spec;
  check_input(options.split == "train" || options.split == "test",
              "data split must be train or test, got '" + options.split + "'");
  check_input(options.size >= 0, "image size must be positive, got " + std::to_string(options.size));
  check_input(options.channels == 0 || options.channels == 1 || options.channels == 3 || options.channels == 4,
              "channels must be 1 (gray), 3 (RGB) or 4 (RGBA), got " + std::to_string(options.channels));
  const Rgb background = options.background.empty() ? Rgb{} : parse_color(options.background, "--background");
  check_input(options.background.empty() || options.channels != 4,
              "--background composites alpha away; it cannot go with --channels 4");
  check_input(options.limit >= 0, "limit must be 0 (all) or positive, got " +
                                      std::to_string(options.limit));

  Dataset data;
  if (spec == "fashion-mnist") {
    data = load_fashion_mnist(options);
  } else if (starts_with(spec, "idx:") && spec.size() > 4) {
    data = load_idx_dir(spec.substr(4), options.split);
  } else if (is_pairs_spec(spec)) {
    throw Error(spec + " is paired data (input and target images) for image-to-image training: use it with "
                "latentkit train --model pix2pix");
  } else if (starts_with(spec, "folder:") && spec.size() > 7) {
    check_input(options.size > 0, spec + " needs --size (e.g. --size 64)");
    data = load_image_folder(spec.substr(7), options.size);
  } else if (spec == "shapes" || (starts_with(spec, "shapes:") && spec.size() > 7)) {
    int64_t count = spec == "shapes" ? kShapesDefaultCount : parse_count(spec.substr(7), spec);
    if (options.limit > 0) count = std::min(count, options.limit);
    const uint64_t seed = options.split == "test" ? options.seed + kShapesTestSeedOffset : options.seed;
    // Drawn at the requested size: exact edges beat a resampled image.
    data = make_shapes(count, options.size > 0 ? options.size : kShapesNativeSize, seed);
  } else if (spec == "shapes-scenes" || (starts_with(spec, "shapes-scenes:") && spec.size() > 14)) {
    int64_t count = spec == "shapes-scenes" ? kShapesDefaultCount : parse_count(spec.substr(14), spec);
    if (options.limit > 0) count = std::min(count, options.limit);
    const uint64_t seed = options.split == "test" ? options.seed + kShapesTestSeedOffset : options.seed;
    data = make_shape_scenes(count, options.size > 0 ? options.size : kScenesNativeSize, seed);
  } else if (is_emoji_spec(spec)) {
    data = load_emoji(options);
  } else if (is_wallpapers_spec(spec)) {
    data = load_wallpapers(options);
  } else {
    throw Error("unknown data spec '" + spec + "'; expected one of: " + kValidSpecs);
  }
  data.spec = spec;
  data = first_n(std::move(data), options.limit);
  // --background alone asks for RGB; composited images stay RGB.
  const int channels = options.channels == 0 && !options.background.empty() && data.channels() == 4 ? 3 : options.channels;
  data.images = resize_images(data.images, options.size, channels, background);
  return data;
}

nlohmann::json data_options_to_json(const DataOptions& o) {
  nlohmann::json j = {{"spec", o.spec}, {"split", o.split}, {"size", o.size}, {"channels", o.channels},
                      {"limit", o.limit}, {"seed", o.seed}};
  if (!o.background.empty()) j["background"] = o.background;
  return j;
}

DataOptions data_options_from_json(const nlohmann::json& d, const std::string& source) {
  try {
    DataOptions o;
    o.spec = d.at("spec").get<std::string>();
    o.split = d.at("split").get<std::string>();
    o.size = d.at("size").get<int>();
    o.channels = d.at("channels").get<int>();
    o.limit = d.at("limit").get<int64_t>();
    o.seed = d.at("seed").get<uint64_t>();
    o.background = d.value("background", std::string());
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": malformed \"data\" section (" + e.what() + ")");
  }
}

torch::Tensor normalize_images(const torch::Tensor& images) {
  return images.to(torch::kFloat32).div(127.5).sub(1.0);
}

torch::Tensor resize_images(const torch::Tensor& images, int size, int channels, Rgb background) {
  check_input(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "resize_images: expected uint8 images [N, C, H, W], got " +
                  std::string(c10::toString(images.scalar_type())) + " with " +
                  std::to_string(images.dim()) + " dimensions");
  check_input(size >= 0, "image size must be positive, got " + std::to_string(size));
  check_input(channels == 0 || channels == 1 || channels == 3 || channels == 4,
              "channels must be 1 (gray), 3 (RGB) or 4 (RGBA), got " + std::to_string(channels));
  const int64_t n = images.size(0);
  const int64_t c_in = images.size(1);
  const int64_t h_in = images.size(2);
  const int64_t w_in = images.size(3);
  const int64_t c_out = channels == 0 ? c_in : channels;
  const int64_t side_h = size == 0 ? h_in : size;
  const int64_t side_w = size == 0 ? w_in : size;
  const bool resize = side_h != h_in || side_w != w_in;
  if (!resize && c_out == c_in) return images;
  check_input(c_in == 1 || c_in == 3 || c_in == 4, "cannot convert images with " + std::to_string(c_in) +
                                                       " channels; expected 1, 3 or 4");

  torch::NoGradGuard no_grad;
  const bool shrink = side_h < h_in || side_w < w_in;
  torch::Tensor out = torch::empty({n, c_out, side_h, side_w}, torch::kUInt8);
  for (int64_t start = 0; start < n; start += kResizeChunk) {
    const int64_t end = std::min(n, start + kResizeChunk);
    torch::Tensor x = images.slice(0, start, end).to(torch::kFloat32);
    if (c_in == 4 && c_out != 4) {
      // Premultiplied: the background shows through by 1 - alpha.
      const torch::Tensor bg = torch::tensor({float(background.r), float(background.g), float(background.b)});
      x = x.slice(1, 0, 3) + (255.0 - x.slice(1, 3, 4)) * bg.view({1, 3, 1, 1}) / 255.0;
    }
    if (x.size(1) == 3 && c_out == 1) x = luma(x);
    if (x.size(1) == 1 && c_out >= 3) x = x.expand({-1, 3, -1, -1});
    if (x.size(1) == 3 && c_out == 4) x = torch::cat({x, torch::full_like(x.slice(1, 0, 1), 255.0)}, 1);
    if (resize) {
      namespace F = torch::nn::functional;
      x = F::interpolate(x, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{side_h, side_w})
                                .mode(torch::kBilinear)
                                .align_corners(false)
                                .antialias(shrink));
    }
    out.slice(0, start, end).copy_(x.round().clamp(0, 255).to(torch::kUInt8));
  }
  return out;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"t-shirt", "trouser", "pullover", "dress",
                                                 "coat",    "sandal",  "shirt",    "sneaker",
                                                 "bag",     "ankle-boot"};
  return names;
}

BatchOrder::BatchOrder(int64_t dataset_size, int64_t batch_size, uint64_t seed)
    : dataset_size_(dataset_size), batch_size_(batch_size), seed_(seed), steps_per_epoch_(0) {
  check_input(dataset_size > 0, "the dataset is empty; nothing to train on");
  check_input(batch_size > 0, "batch size must be positive, got " + std::to_string(batch_size));
  check_input(batch_size <= dataset_size,
              "batch size " + std::to_string(batch_size) + " is larger than the dataset (" +
                  std::to_string(dataset_size) + " images); use a smaller batch size");
  steps_per_epoch_ = dataset_size / batch_size;
}

torch::Tensor BatchOrder::batch_indices(int64_t epoch, int64_t step_in_epoch) {
  if (epoch < 0 || step_in_epoch < 0 || step_in_epoch >= steps_per_epoch_) {
    throw Error("batch_indices: epoch " + std::to_string(epoch) + " step " +
                    std::to_string(step_in_epoch) + " is out of range (" +
                    std::to_string(steps_per_epoch_) + " steps per epoch)",
                ErrorKind::kInternal);
  }
  if (epoch != cached_epoch_) {
    // Unsigned arithmetic wraps by definition, so every (seed, epoch) maps to one seed.
    auto generator = at::detail::createCPUGenerator(seed_ * 1000003u + static_cast<uint64_t>(epoch));
    permutation_ = torch::randperm(dataset_size_, generator, torch::kInt64);
    cached_epoch_ = epoch;
  }
  return permutation_.slice(0, step_in_epoch * batch_size_, (step_in_epoch + 1) * batch_size_);
}

const std::vector<std::string>& hue_bucket_names() {
  static const std::vector<std::string> names = {"red", "yellow", "green", "cyan", "blue", "magenta"};
  return names;
}

torch::Tensor hue_buckets(const torch::Tensor& hue) {
  // Bucket b is centred on hue b / 6, so red spans both ends of the circle.
  return torch::floor(hue.to(torch::kFloat64) * 6 + 0.5).to(torch::kInt64).remainder(6);
}

const NameTable<ConditionOn>& condition_on_names() {
  static const NameTable<ConditionOn> table("--condition-on", {{ConditionOn::kClass, "class"},
                                                               {ConditionOn::kHue, "hue"},
                                                               {ConditionOn::kCategory, "category"},
                                                               {ConditionOn::kSubcategory, "subcategory"},
                                                               {ConditionOn::kVendor, "vendor"},
                                                               {ConditionOn::kSkinTone, "skin-tone"}});
  return table;
}

void condition_dataset(Dataset& data, ConditionOn condition_on, const std::string& spec) {
  if (condition_on == ConditionOn::kHue) {
    const auto& f = data.factor_names;
    const auto hue = std::find(f.begin(), f.end(), "hue");
    check_input(data.factors.defined() && hue != f.end(),
                "--condition-on hue needs data with a hue factor (shapes); " + spec + " has none");
    data.labels = hue_buckets(data.factors.select(1, hue - f.begin()));
    data.class_names = hue_bucket_names();
  } else if (condition_on != ConditionOn::kClass) {
    const std::string& name = condition_on_names().name(condition_on);
    std::string have;
    for (const Labeling& l : data.labelings) {
      if (l.name == name) {
        data.labels = l.labels;
        data.class_names = l.class_names;
        return;
      }
      have += (have.empty() ? "" : ", ") + l.name;
    }
    throw Error("--condition-on " + name + " needs data with " + name + " labels (emoji); " + spec +
                (have.empty() ? " has only class labels" : " has: class, " + have));
  } else {
    check_input(!data.class_names.empty(),
                "data " + spec + " has no classes to condition on (a folder needs class subfolders)");
  }
}

}  // namespace latentkit
