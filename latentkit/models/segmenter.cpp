#include "latentkit/models/segmenter.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace nn = torch::nn;

namespace {

constexpr int64_t kMaxLevels = 6;

// Two 3x3 conv + BatchNorm + ReLU; the convolutions have no bias (BatchNorm adds one).
nn::Sequential conv_pair(int64_t in, int64_t out) {
  nn::Sequential seq;
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  seq->push_back(nn::BatchNorm2d(out));
  seq->push_back(nn::ReLU(true));
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
  seq->push_back(nn::BatchNorm2d(out));
  seq->push_back(nn::ReLU(true));
  return seq;
}

int64_t least_side(const SegmenterOptions& o) { return int64_t{1} << (o.levels() - 1); }

}  // namespace

void SegmenterOptions::validate() const {
  check_input(channels() == 1 || channels() == 3 || channels() == 4,
              "segmenter: channels must be 1, 3 or 4, got " + std::to_string(channels()));
  check_input(levels() >= 1 && levels() <= kMaxLevels,
              "segmenter: --levels must be in 1.." + std::to_string(kMaxLevels) + ", got " + std::to_string(levels()));
  check_input(width() >= 2 && width() <= 256, "segmenter: --width must be in 2..256, got " + std::to_string(width()));
  check_input(classes() >= 2 && classes() <= 256,
              "segmenter: the maps need 2..256 classes, got " + std::to_string(classes()));
  check_input(image_size() >= least_side(*this) && image_size() <= 4096,
              "segmenter: " + std::to_string(levels()) + " levels need images of at least " +
                  std::to_string(least_side(*this)) + " px, these are " + std::to_string(image_size()) +
                  " (pass a larger --size or fewer --levels)");
}

nlohmann::json segmenter_options_to_json(const SegmenterOptions& o) {
  return {{"channels", o.channels()}, {"image_size", o.image_size()}, {"classes", o.classes()},
          {"width", o.width()},       {"levels", o.levels()}};
}

SegmenterOptions segmenter_options_from_json(const nlohmann::json& model, const std::string& source) {
  SegmenterOptions o;
  try {
    o.channels(model.at("channels").get<int64_t>())
        .image_size(model.at("image_size").get<int64_t>())
        .classes(model.at("classes").get<int64_t>())
        .width(model.at("width").get<int64_t>())
        .levels(model.at("levels").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": malformed segmenter \"model\" section (" + e.what() +
                "); it must be the one latentkit segmenter train wrote");
  }
  o.validate();
  return o;
}

SegmenterImpl::SegmenterImpl(SegmenterOptions options_) : options(std::move(options_)) { reset(); }

void SegmenterImpl::reset() {
  options.validate();
  const int64_t levels = options.levels();
  auto width = [&](int64_t i) { return options.width() << i; };
  down = register_module("down", nn::ModuleList());
  up = register_module("up", nn::ModuleList());
  for (int64_t i = 0; i < levels; ++i) down->push_back(conv_pair(i == 0 ? options.channels() : width(i - 1), width(i)));
  for (int64_t i = 0; i + 1 < levels; ++i) up->push_back(conv_pair(width(i + 1) + width(i), width(i)));
  head = register_module("head", nn::Conv2d(nn::Conv2dOptions(width(0), options.classes(), 1)));
}

torch::Tensor SegmenterImpl::forward(const torch::Tensor& images) {
  namespace F = nn::functional;
  check_input(images.dim() == 4 && images.size(1) == options.channels(),
              "segmenter: expected images [N, " + std::to_string(options.channels()) + ", H, W], got " +
                  c10::str(images.sizes()));
  const int64_t least = least_side(options);
  check_input(images.size(2) >= least && images.size(3) >= least,
              "segmenter: its " + std::to_string(options.levels()) + " levels need images of at least " +
                  std::to_string(least) + "x" + std::to_string(least) + ", got " + c10::str(images.sizes()));
  const int64_t levels = options.levels();
  std::vector<torch::Tensor> skips;
  torch::Tensor h = images;
  for (int64_t i = 0; i < levels; ++i) {
    if (i > 0) h = F::max_pool2d(h, F::MaxPool2dFuncOptions(2));
    h = down[i]->as<nn::Sequential>()->forward(h);
    skips.push_back(h);
  }
  for (int64_t i = levels - 2; i >= 0; --i) {
    const torch::Tensor& skip = skips[static_cast<size_t>(i)];
    h = F::interpolate(h, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{skip.size(2), skip.size(3)})
                              .mode(torch::kBilinear)
                              .align_corners(false));
    h = up[i]->as<nn::Sequential>()->forward(torch::cat({h, skip}, 1));
  }
  return head->forward(h);
}

SegmenterRun load_segmenter(const std::string& run_dir) {
  const std::string command = "latentkit segmenter train";
  nlohmann::json config = read_trained_run(run_dir, "segmenter", "segmenter", command);
  const std::string source = run_dir + "/config.json";
  SegmenterRun run;
  run.options = segmenter_options_from_json(config.at("model"), source);
  check_input(config.contains("palette") && config["palette"].is_string(),
              source + " names no label-map \"palette\"; it must be the one " + command + " wrote");
  run.palette = config["palette"].get<std::string>();
  const MapPalette& palette = map_palette(run.palette);
  check_input(palette.size() == run.options.classes(),
              source + ": the " + run.palette + " palette has " + std::to_string(palette.size()) +
                  " classes but the model predicts " + std::to_string(run.options.classes()));
  run.net = Segmenter(run.options);
  load_module(*run.net, run_dir + "/model.pt");
  run.net->eval();
  return run;
}

torch::Tensor segment(SegmenterImpl& net, const torch::Tensor& images, int64_t batch) {
  check_input(batch >= 1, "segment: batch size must be positive, got " + std::to_string(batch));
  check_input(images.dim() == 4, "segment: expected images [N, C, H, W], got " + c10::str(images.sizes()));
  check_input(images.is_floating_point(), "segment: expected float images in [-1, 1] (normalize_images), got " +
                                              std::string(c10::toString(images.scalar_type())));
  torch::NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  std::vector<torch::Tensor> parts;
  try {
    for (int64_t start = 0; start < images.size(0); start += batch) {
      const int64_t end = std::min(images.size(0), start + batch);
      parts.push_back(net.forward(images.slice(0, start, end).to(torch::kFloat)).argmax(1).to(torch::kUInt8));
    }
  } catch (...) {
    net.train(was_training);
    throw;
  }
  net.train(was_training);
  if (parts.empty()) return torch::empty({0, images.size(2), images.size(3)}, torch::kUInt8);
  return torch::cat(parts);
}

SegmentationScore score_segmentation(const torch::Tensor& predicted, const torch::Tensor& truth, int64_t classes) {
  check_input(predicted.dim() == 3 && predicted.sizes() == truth.sizes(),
              "segmentation score: expected predicted and true maps [N, H, W] of one shape, got " +
                  c10::str(predicted.sizes()) + " and " + c10::str(truth.sizes()));
  check_input(predicted.numel() > 0, "segmentation score: no maps to score");
  SegmentationScore score;
  score.images = predicted.size(0);
  score.miou = mean_iou(predicted, truth, classes, &score.class_iou);
  score.pixel_accuracy = (predicted.to(torch::kInt64) == truth.to(torch::kInt64)).to(torch::kFloat64).mean().item<double>();
  return score;
}

nlohmann::json segmentation_score_to_json(const SegmentationScore& score, const std::vector<std::string>& class_names) {
  nlohmann::json classes = nlohmann::json::object();
  for (size_t k = 0; k < score.class_iou.size(); ++k) {
    const std::string name = k < class_names.size() ? class_names[k] : std::to_string(k);
    // JSON has no NaN: a class in neither map reads as null.
    classes[name] = std::isfinite(score.class_iou[k]) ? nlohmann::json(score.class_iou[k]) : nlohmann::json(nullptr);
  }
  return {{"images", score.images}, {"miou", score.miou}, {"pixel_accuracy", score.pixel_accuracy}, {"class_iou", classes}};
}

}  // namespace latentkit
