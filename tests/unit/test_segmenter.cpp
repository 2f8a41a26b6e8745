#include "tests/unit/test_util.h"
#include "latentkit/models/segmenter.h"
#include "latentkit/train/segmenter_trainer.h"

#include <cmath>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/data/labelmaps.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
using latentkit::test_util::read_jsonl;

namespace {

SegmenterOptions small_options() { return SegmenterOptions().channels(3).image_size(32).classes(4).width(4).levels(3); }

}  // namespace

TEST(Segmenter, LogitsHaveTheInputsSizeAtAnySize) {
  torch::manual_seed(1);
  Segmenter net(small_options());
  EXPECT_EQ(net->forward(torch::rand({2, 3, 32, 32}) * 2 - 1).sizes(), (std::vector<int64_t>{2, 4, 32, 32}));
  // Sides that do not halve evenly: upsampling goes to each skip's exact size.
  EXPECT_EQ(net->forward(torch::rand({1, 3, 20, 27}) * 2 - 1).sizes(), (std::vector<int64_t>{1, 4, 20, 27}));
  EXPECT_THROW(net->forward(torch::zeros({1, 4, 32, 32})), Error) << "wrong channel count";
  EXPECT_THROW(net->forward(torch::zeros({1, 3, 3, 32})), Error) << "3 levels need 4 px";
  // The registered names are the checkpoint format.
  const auto params = net->named_parameters();
  EXPECT_TRUE(params.contains("down.0.0.weight"));
  EXPECT_TRUE(params.contains("down.2.3.weight"));
  EXPECT_TRUE(params.contains("up.1.0.weight"));
  EXPECT_EQ(params["up.1.0.weight"].sizes(), (std::vector<int64_t>{8, 16 + 8, 3, 3})) << "upsampled 16 + skip 8 -> 8";
  EXPECT_FALSE(params.contains("up.2.0.weight")) << "levels - 1 up blocks";
  EXPECT_EQ(params["head.weight"].sizes(), (std::vector<int64_t>{4, 4, 1, 1}));
}

TEST(Segmenter, SegmentGivesClassIdsAndKeepsTheMode) {
  torch::manual_seed(2);
  Segmenter net(small_options().classes(14).channels(4));
  net->train();
  const torch::Tensor images = torch::rand({5, 4, 32, 32}) * 2 - 1;
  const torch::Tensor maps = segment(*net, images, /*batch=*/2);
  EXPECT_EQ(maps.sizes(), (std::vector<int64_t>{5, 32, 32}));
  EXPECT_EQ(maps.scalar_type(), torch::kUInt8);
  EXPECT_LT(maps.max().item<int64_t>(), 14);
  EXPECT_TRUE(net->is_training()) << "segment restores the mode it found";
  // Eval-mode argmax of the logits, whatever the batching.
  net->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(maps, net->forward(images).argmax(1).to(torch::kUInt8)));
  EXPECT_EQ(segment(*net, images.slice(0, 0, 0)).sizes(), (std::vector<int64_t>{0, 32, 32}));
  EXPECT_THROW(segment(*net, torch::zeros({1, 4, 32, 32}, torch::kUInt8)), Error) << "uint8 images are not in [-1, 1]";
}

TEST(Segmenter, OptionsRoundTripThroughJson) {
  const SegmenterOptions o = SegmenterOptions().channels(4).image_size(48).classes(14).width(12).levels(4);
  const nlohmann::json j = segmenter_options_to_json(o);
  EXPECT_EQ(j, nlohmann::json({{"channels", 4}, {"image_size", 48}, {"classes", 14}, {"width", 12}, {"levels", 4}}));
  const SegmenterOptions back = segmenter_options_from_json(j);
  EXPECT_EQ(back.channels(), 4);
  EXPECT_EQ(back.image_size(), 48);
  EXPECT_EQ(back.classes(), 14);
  EXPECT_EQ(back.width(), 12);
  EXPECT_EQ(back.levels(), 4);

  nlohmann::json missing = j;
  missing.erase("levels");
  EXPECT_THROW(segmenter_options_from_json(missing), Error);
  nlohmann::json too_deep = j;
  too_deep["levels"] = 7;
  EXPECT_THROW(segmenter_options_from_json(too_deep), Error);
  EXPECT_THROW(SegmenterOptions().image_size(16).levels(6).validate(), Error) << "6 levels need 32 px";
  EXPECT_THROW(SegmenterOptions().channels(2).validate(), Error);
  EXPECT_THROW(SegmenterOptions().classes(1).validate(), Error);
}

TEST(Segmenter, ScoresByHand) {
  // Truth: 2 images of 2x2. Class 0 on 5 pixels, 1 on 2, 2 on 1; class 3 nowhere.
  const torch::Tensor truth = torch::tensor({0, 0, 1, 1, 0, 0, 0, 2}, torch::kUInt8).view({2, 2, 2});
  const torch::Tensor predicted = torch::tensor({0, 1, 1, 1, 0, 0, 0, 0}, torch::kUInt8).view({2, 2, 2});
  const SegmentationScore s = score_segmentation(predicted, truth, 4);
  EXPECT_EQ(s.images, 2);
  EXPECT_DOUBLE_EQ(s.pixel_accuracy, 6.0 / 8.0);
  ASSERT_EQ(s.class_iou.size(), 4u);
  EXPECT_DOUBLE_EQ(s.class_iou[0], 4.0 / 6.0);  // 4 hits; union: 5 true + 1 predicted on class 2
  EXPECT_DOUBLE_EQ(s.class_iou[1], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.class_iou[2], 0.0);
  EXPECT_TRUE(std::isnan(s.class_iou[3]));
  EXPECT_DOUBLE_EQ(s.miou, (4.0 / 6.0 + 2.0 / 3.0 + 0.0) / 3.0);
  const nlohmann::json j = segmentation_score_to_json(s, {"a", "b", "c", "d"});
  EXPECT_TRUE(j["class_iou"]["d"].is_null());
  EXPECT_DOUBLE_EQ(j["miou"].get<double>(), s.miou);
  EXPECT_DOUBLE_EQ(score_segmentation(truth, truth, 4).miou, 1.0);
  EXPECT_THROW(score_segmentation(predicted, truth.view({1, 2, 4}), 4), Error);
}

TEST(SegmenterTrainer, LearnsShapesScenesFarAboveAllBackground) {
  const std::string run = make_temp_dir("segmenter_run");
  SegmenterTrainOptions o;
  o.loop.out = run;
  o.loop.data.spec = "shapes-scenes:384";
  o.loop.data.size = 32;
  o.loop.epochs = 8;
  o.loop.batch = 16;
  o.loop.lr = 3e-3;
  o.loop.seed = 7;
  o.loop.threads = 1;
  o.loop.log_every = 24;
  o.width = 8;
  o.test_limit = 64;
  const TrainSummary summary = train_segmenter(o, false);
  EXPECT_EQ(summary.steps, 192);

  const nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["family"], "segmenter");
  EXPECT_EQ(config["palette"], "scenes");
  EXPECT_EQ(config["classes"], nlohmann::json({"background", "square", "circle", "triangle"}));
  EXPECT_EQ(config["model"]["image_size"], 32);
  EXPECT_EQ(config["model"]["classes"], 4);
  EXPECT_EQ(config["test"]["images"], 64);

  // The same test images the trainer scored: the test seed of the same data.
  DataOptions test_data = o.loop.data;
  test_data.split = "test";
  test_data.limit = 64;
  const SegmentationData test = load_segmentation_data(test_data);
  const SegmentationScore background = score_segmentation(torch::zeros_like(test.data.maps), test.data.maps, 4);

  SegmenterRun loaded = load_segmenter(run);
  EXPECT_EQ(loaded.palette, "scenes");
  EXPECT_FALSE(loaded.net->is_training());
  const SegmentationScore score = test_segmenter(loaded, test_data);
  // All background scores the background's share of the pixels over 4 classes (0.20 here);
  // these 192 steps reach 0.69 (every shape class 0.45 to 0.70). A broken loss, map, flip or
  // argmax stays near the floor.
  EXPECT_LT(background.miou, 0.25);
  EXPECT_GT(score.miou, background.miou + 0.3) << "all background: " << background.miou;
  EXPECT_GT(score.pixel_accuracy, background.pixel_accuracy);
  for (int k = 1; k < 4; ++k) EXPECT_GT(score.class_iou[static_cast<size_t>(k)], 0.2) << "class " << k;

  const nlohmann::json metrics = read_json(run + "/metrics.json");
  EXPECT_EQ(metrics["epoch"], 8);
  EXPECT_NEAR(metrics["test_miou"].get<double>(), score.miou, 1e-12) << "model.pt is the net the trainer scored";
  int tested = 0;
  for (const nlohmann::json& row : read_jsonl(run + "/train.jsonl")) {
    if (!row.contains("test_miou")) continue;
    ++tested;
    EXPECT_GE(row["test_miou"].get<double>(), 0.0);
    EXPECT_LE(row["test_miou"].get<double>(), 1.0);
    EXPECT_TRUE(row["test_class_iou"].contains("triangle"));
  }
  EXPECT_EQ(tested, 8) << "one test row per epoch";
  EXPECT_TRUE(path_exists(run + "/samples/epoch-008.png"));
  EXPECT_THROW(train_segmenter(o, false), Error) << "an existing run needs --resume";
}

TEST(SegmenterTrainer, BadInputIsAnError) {
  SegmenterTrainOptions o;
  o.loop.out = make_temp_dir("segmenter_bad") + "/run";
  o.loop.threads = 1;
  o.loop.data.spec = "shapes-scenes:8";
  o.loop.data.size = 32;
  o.loop.data.split = "test";
  EXPECT_THROW(train_segmenter(o, false), Error) << "it picks its test split itself";
  o.loop.data.split = "train";
  o.loop.data.spec = "shapes:8";
  o.loop.data.channels = 1;
  EXPECT_THROW(train_segmenter(o, false), Error) << "gray images have no label maps";
  o.loop.data.spec = "shapes-scenes:8";
  o.loop.data.channels = 0;
  o.levels = 7;
  EXPECT_THROW(train_segmenter(o, false), Error);
  EXPECT_THROW(load_segmenter(o.loop.out + "/none"), Error);
}
