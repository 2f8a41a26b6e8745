#pragma once
// A small semantic segmenter: the judge of mask-to-image models, as GauGAN (Park et al. 2019)
// scores its images by the mIoU of a segmenter's maps of them against the maps they were made
// from. A U-Net (Ronneberger et al. 2015), `levels` levels of width w x 2^i:
//   down: level i (0 outermost) is two 3x3 conv + BatchNorm + ReLU; a 2x2 max-pool between
//         levels; the innermost level is the bottleneck
//   up:   bilinear upsampling to the skip's size, concatenation with the skip, two 3x3 conv +
//         BatchNorm + ReLU down to the level's width
//   head: a 1x1 conv to one logit per class
// Any H, W >= 2^(levels - 1) works: upsampling goes to each skip's exact size.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace latentkit {

struct SegmenterOptions {
  TORCH_ARG(int64_t, channels) = 3;     // 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 64;  // the training size (the network takes any size)
  TORCH_ARG(int64_t, classes) = 4;      // map classes (the palette's size)
  TORCH_ARG(int64_t, width) = 16;       // channels of level 0; level i has width x 2^i
  TORCH_ARG(int64_t, levels) = 3;       // resolutions, the innermost at 1 / 2^(levels - 1)

 public:
  /// Throws Error naming the bad value.
  void validate() const;
};

/// Model options <-> the "model" object of a segmenter run's config.json. A missing or
/// malformed field is an Error naming `source`.
nlohmann::json segmenter_options_to_json(const SegmenterOptions& options);
SegmenterOptions segmenter_options_from_json(const nlohmann::json& model, const std::string& source = "config.json");

class SegmenterImpl : public torch::nn::Cloneable<SegmenterImpl> {
 public:
  explicit SegmenterImpl(SegmenterOptions options = {});
  void reset() override;
  // images: [N, channels, H, W] in [-1, 1], H and W >= 2^(levels - 1) -> logits [N, classes, H, W]
  torch::Tensor forward(const torch::Tensor& images);

  SegmenterOptions options;
  torch::nn::ModuleList down{nullptr};  // down[i]: level i's two convolutions (levels entries)
  torch::nn::ModuleList up{nullptr};    // up[i]: level i's on the way up (levels - 1 entries)
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(Segmenter);

/// A trained segmenter run: its options, the name of its maps' palette (data/labelmaps.h;
/// its size is options.classes()) and the net, in eval mode.
struct SegmenterRun {
  SegmenterOptions options;
  std::string palette;
  Segmenter net{nullptr};
};
/// Loads RUN/config.json (family "segmenter") and RUN/model.pt. A missing folder or file, a
/// run of another family, or a palette that does not fit the model is an Error that says
/// what was expected.
SegmenterRun load_segmenter(const std::string& run_dir);

/// Label maps of images [N, channels, H, W] in [-1, 1]: the argmax class per pixel, uint8
/// [N, H, W], in batches of `batch`, without gradients and in eval mode (the net's mode is
/// restored after).
torch::Tensor segment(SegmenterImpl& net, const torch::Tensor& images, int64_t batch = 128);

/// How predicted maps match true ones.
struct SegmentationScore {
  int64_t images = 0;
  double miou = 0.0;            // mean_iou (data/labelmaps.h): over the classes present in either
  double pixel_accuracy = 0.0;  // fraction of pixels whose class is right
  std::vector<double> class_iou;  // per class; NaN where the class is in neither map
};
/// Scores predicted maps against true ones (uint8 or int64, the same shape [N, H, W], ids
/// below classes).
SegmentationScore score_segmentation(const torch::Tensor& predicted, const torch::Tensor& truth, int64_t classes);
/// {"images", "miou", "pixel_accuracy", "class_iou": {name: value or null}}.
nlohmann::json segmentation_score_to_json(const SegmentationScore& score, const std::vector<std::string>& class_names);

}  // namespace latentkit
