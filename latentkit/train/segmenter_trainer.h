#pragma once
// Training and testing of the segmenter (models/segmenter.h) on the training loop (loop.h):
// the train split's images and label maps (data/labelmaps.h: shapes-scenes' exact maps, or
// the region maps of color data), pixel cross entropy, Adam at a constant learning rate,
// random horizontal flips of image and map alike (drawn from LibTorch's default generator,
// so a resume is exact), and after every epoch the mIoU on the test split of the same data
// (shapes-scenes: its distinct test seed; emoji: its test emoji).
#include <cstdint>
#include <string>
#include <vector>

#include "latentkit/data/dataset.h"
#include "latentkit/models/segmenter.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct SegmenterTrainOptions {
  TrainLoopOptions loop{/*epochs=*/10, /*batch=*/32, /*lr=*/1e-3};
  int64_t width = 16;
  int64_t levels = 3;
  bool flip = true;           // random horizontal flips of image and map together
  int64_t test_limit = 1000;  // test images scored after every epoch (0: the whole test split)

  SegmenterTrainOptions() {
    loop.data.spec = "shapes-scenes";
    loop.keep_checkpoints = 2;
  }
  /// An Error naming the flag for a value out of range.
  void validate() const;
};

/// Options from RUN/config.json of a segmenter run (for --resume).
SegmenterTrainOptions read_segmenter_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run folder:
/// config.json (family "segmenter", model options, "palette" and "classes": the maps' palette
/// and class names, data, test), and after every epoch model.pt, metrics.json (the test
/// scores), a train.jsonl row of test_miou, test_pixel_accuracy and test_class_iou, and
/// samples/: test images over their true and predicted maps. Gray data (no maps) is an Error.
TrainSummary train_segmenter(const SegmenterTrainOptions& options, bool resume);

/// Images and label maps of `options` (its size and channels as given) with ensure_maps.
struct SegmentationData {
  Dataset data;                          // data.maps: uint8 [N, H, W]
  std::vector<std::string> class_names;  // of data.map_palette
};
SegmentationData load_segmentation_data(const DataOptions& options);

/// Scores a trained run on `data` loaded at the model's size and channels: its maps against
/// segment()'s. Data whose maps have another palette than the model's is an Error.
SegmentationScore test_segmenter(SegmenterRun& run, DataOptions data, int64_t batch = 128);

}  // namespace latentkit
