#include "latentkit/train/segmenter_trainer.h"

#include <algorithm>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

constexpr int64_t kSampleColumns = 8;
constexpr int64_t kEvalBatch = 128;

// Predicted maps of uint8 images [N, C, H, W], normalised a batch at a time so the whole
// test split never sits in memory as float.
torch::Tensor predict_maps(SegmenterImpl& net, const torch::Tensor& images, int64_t batch) {
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < images.size(0); start += batch) {
    const int64_t end = std::min(images.size(0), start + batch);
    parts.push_back(segment(net, normalize_images(images.slice(0, start, end)), batch));
  }
  return torch::cat(parts);
}

// Images [N, C, H, W] in [-1, 1] as RGBA (opaque unless they have alpha), to share a grid
// with map_images.
torch::Tensor as_rgba(const torch::Tensor& images) {
  if (images.size(1) == 4) return images;
  torch::Tensor rgb = images.size(1) == 1 ? images.repeat({1, 3, 1, 1}) : images;
  return torch::cat({rgb, torch::ones_like(rgb.slice(1, 0, 1))}, 1);
}

class SegmenterTask : public TrainTask {
 public:
  explicit SegmenterTask(const SegmenterTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_input(loop.data.split == "train",
                "segmenter train trains on the train split and tests on the test split by itself; drop --split");
    train_ = load_segmentation_data(loop.data);
    DataOptions test_options = loop.data;
    test_options.split = "test";
    test_options.limit = o_.test_limit;
    test_ = load_segmentation_data(test_options);
    const Dataset& data = train_.data;
    check_input(data.height() == data.width(), "data " + loop.data.spec + " has " + std::to_string(data.height()) + "x" +
                                                   std::to_string(data.width()) +
                                                   " images; the segmenter needs square ones (pass --size)");
    check_input(test_.data.size() > 0, "data " + loop.data.spec + " has no test images to score the segmenter on");
    check_input(test_.data.map_palette == data.map_palette,
                "data " + loop.data.spec + ": the test split's maps (" + test_.data.map_palette +
                    ") differ from the train split's (" + data.map_palette + ")");
    model_options_.channels(data.channels())
        .image_size(data.height())
        .classes(map_palette(data.map_palette).size())
        .width(o_.width)
        .levels(o_.levels);
    model_options_.validate();
    return data.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    o_.loop = loop;
    model_ = Segmenter(model_options_);
    job.broadcast(*model_);
    opt_ = std::make_unique<torch::optim::Adam>(model_->parameters(), torch::optim::AdamOptions(loop.lr));
    model_->train();
  }

  CheckpointParts parts() override { return {{{"segmenter", model_.get()}}, {{"optimizer", opt_.get()}}}; }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    nlohmann::json train = train_loop_options_to_json(loop);
    train.update({{"lr_schedule", "constant"},
                  {"width", o_.width},
                  {"levels", o_.levels},
                  {"flip", o_.flip},
                  {"test_limit", o_.test_limit}});
    return {{"latentkit_version", LATENTKIT_VERSION},
            {"family", "segmenter"},
            {"model", segmenter_options_to_json(model_options_)},
            {"palette", train_.data.map_palette},
            {"classes", train_.class_names},
            {"data", data_options_to_json(loop.data)},
            {"test", {{"split", "test"}, {"limit", o_.test_limit}, {"images", test_.data.size()}}},
            {"train", train}};
  }

  std::string describe() const override {
    return "segmenter (" + std::to_string(model_options_.classes()) + " " + train_.data.map_palette + " classes, " +
           std::to_string(o_.levels) + " levels, width " + std::to_string(o_.width) + ") on " + describe_data(train_.data) +
           ", testing on " + std::to_string(test_.data.size()) + " test images";
  }

  std::string resume_command(const std::string& run_dir) const override {
    return "latentkit segmenter train --resume --out " + run_dir;
  }

  std::vector<std::string> value_names() const override { return {"loss", "pixel_accuracy"}; }

  std::vector<double> step(const StepInput& in) override {
    namespace F = torch::nn::functional;
    const torch::Tensor rows = in.job->share(in.indices);
    torch::Tensor x = normalize_images(train_.data.images.index_select(0, rows));
    torch::Tensor target = train_.data.maps.index_select(0, rows).to(torch::kInt64);
    if (o_.flip) {  // drawn for the global batch, so every rank's generator stays in step
      const torch::Tensor mirror = in.job->share(torch::rand({in.indices.size(0)})) < 0.5;
      x = torch::where(mirror.view({-1, 1, 1, 1}), x.flip({3}), x);
      target = torch::where(mirror.view({-1, 1, 1}), target.flip({2}), target);
    }
    // The loss in fp32 also when the layers run in bf16 (autocast).
    const torch::Tensor logits = model_->forward(in.layout(x)).to(torch::kFloat);
    const torch::Tensor loss = F::cross_entropy(logits, target);
    opt_->zero_grad();
    loss.backward();
    in.job->average_gradients(*model_);
    opt_->step();
    torch::NoGradGuard no_grad;
    const double accuracy = (logits.argmax(1) == target).to(torch::kFloat64).mean().item<double>();
    return {loss.item<double>(), accuracy};
  }

  std::string plot_title() const override { return "segmenter training loss and pixel accuracy"; }

  void save_model(const std::string& path) override { save_module(*model_, path); }

  // The first test images (row 1), their true maps (row 2) and the predicted ones (row 3).
  void write_samples(const std::string& path) override {
    const int64_t n = std::min(kSampleColumns, test_.data.size());
    const torch::Tensor images = normalize_images(test_.data.images.slice(0, 0, n));
    const torch::Tensor predicted = segment(*model_, images);
    const MapPalette& palette = map_palette(test_.data.map_palette);
    const torch::Tensor grid =
        torch::cat({as_rgba(images), map_images(test_.data.maps.slice(0, 0, n), palette), map_images(predicted, palette)});
    write_png(path, make_grid(grid, static_cast<int>(n)));
  }

  nlohmann::json epoch_end(const std::string& run_dir, int64_t epoch) override {
    const SegmentationScore score =
        score_segmentation(predict_maps(*model_, test_.data.images, kEvalBatch), test_.data.maps, model_options_.classes());
    const nlohmann::json scores = segmentation_score_to_json(score, train_.class_names);
    write_json(run_dir + "/metrics.json",
               {{"test_miou", score.miou},
                {"epoch", epoch},
                {"epochs", o_.loop.epochs},
                {"test_data", {{"spec", o_.loop.data.spec}, {"split", "test"}, {"images", score.images}}},
                {"test", scores}});
    return {{"test_miou", score.miou},
            {"test_pixel_accuracy", score.pixel_accuracy},
            {"test_class_iou", scores.at("class_iou")}};
  }

 private:
  SegmenterTrainOptions o_;
  SegmentationData train_, test_;
  SegmenterOptions model_options_;
  Segmenter model_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_;
};

}  // namespace

void SegmenterTrainOptions::validate() const {
  loop.validate();
  check_input(loop.batch >= 2, "--batch must be >= 2 (BatchNorm needs a batch), got " + std::to_string(loop.batch));
  check_input(width >= 2 && width <= 256, "--width must be in 2..256, got " + std::to_string(width));
  check_input(levels >= 1 && levels <= 6, "--levels must be in 1..6, got " + std::to_string(levels));
  check_input(test_limit >= 0, "--test-limit must be >= 0 (0 = the whole test split), got " + std::to_string(test_limit));
}

SegmenterTrainOptions read_segmenter_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "segmenter",
              run_dir + " holds a '" + config.value("family", "") + "' run, not a segmenter; choose another --out");
  try {
    SegmenterTrainOptions o;
    const auto& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.width = t.at("width").get<int64_t>();
    o.levels = t.at("levels").get<int64_t>();
    o.flip = t.at("flip").get<bool>();
    o.test_limit = t.at("test_limit").get<int64_t>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit segmenter train wrote");
  }
}

TrainSummary train_segmenter(const SegmenterTrainOptions& options, bool resume) {
  options.validate();
  SegmenterTask task(options);
  return run_training(options.loop, task, resume);
}

SegmentationData load_segmentation_data(const DataOptions& options) {
  SegmentationData out;
  out.data = load_dataset(options);
  check_input(out.data.size() > 0, "data " + options.spec + " (" + options.split + " split) has no images");
  ensure_maps(out.data);
  check_input(out.data.maps.dim() == 3 && out.data.maps.size(0) == out.data.size() &&
                  out.data.maps.size(1) == out.data.height() && out.data.maps.size(2) == out.data.width(),
              "data " + options.spec + ": its label maps " + c10::str(out.data.maps.sizes()) + " do not fit its images " +
                  c10::str(out.data.images.sizes()));
  out.class_names = map_palette(out.data.map_palette).class_names;
  return out;
}

SegmentationScore test_segmenter(SegmenterRun& run, DataOptions data, int64_t batch) {
  check_input(batch >= 1, "--batch must be positive, got " + std::to_string(batch));
  data.size = static_cast<int>(run.options.image_size());
  data.channels = static_cast<int>(run.options.channels());
  const SegmentationData test = load_segmentation_data(data);
  check_input(test.data.map_palette == run.palette,
              "data " + data.spec + " has " + test.data.map_palette + " maps but the segmenter was trained on " +
                  run.palette + " maps; test it on the kind of data it was trained on");
  return score_segmentation(predict_maps(*run.net, test.data.images, batch), test.data.maps, run.options.classes());
}

}  // namespace latentkit
