#include "tests/unit/test_util.h"
#include "latentkit/train/classifier_trainer.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/image.h"
#include "latentkit/data/shapes.h"
#include "latentkit/train/checkpoint.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
using latentkit::test_util::read_jsonl;
namespace fs = std::filesystem;

namespace {

ClassifierTrainOptions tiny(const std::string& out, const std::string& spec, int64_t epochs, int64_t batch) {
  ClassifierTrainOptions o;
  o.loop.out = out;
  o.loop.data.spec = spec;
  o.loop.epochs = epochs;
  o.loop.batch = batch;
  o.loop.lr = 3e-3;
  o.width = 8;
  o.feature_dim = 32;
  o.loop.seed = 5;
  o.loop.threads = 1;
  return o;
}

// A folder of solid images in two class subfolders: dark/ (10) and light/ (10).
std::string make_folder(const std::string& name) {
  std::string dir = make_temp_dir(name);
  for (int c = 0; c < 2; ++c) {
    std::string sub = dir + (c == 0 ? "/dark" : "/light");
    make_dirs(sub);
    for (int i = 0; i < 10; ++i) {
      write_png(sub + "/" + std::to_string(i) + ".png", Image(20, 20, 3, static_cast<uint8_t>(c == 0 ? 10 + i : 200 + i)));
    }
  }
  return dir;
}

}  // namespace

TEST(ClassifierTrainer, LearnsShapesAndWritesTheRunFolder) {
  std::string run = make_temp_dir("cls_trainer_run");
  ClassifierTrainOptions o = tiny(run, "shapes:1024", 2, 16);
  o.test_limit = 256;
  o.loop.log_every = 32;
  TrainSummary s = train_classifier(o, false);
  EXPECT_EQ(s.steps, 128);
  EXPECT_FALSE(s.interrupted);
  nlohmann::json metrics = read_json(run + "/metrics.json");
  const double accuracy = metrics["test_accuracy"].get<double>();
  EXPECT_EQ(metrics["epoch"], 2);
  EXPECT_EQ(metrics["test_data"]["images"], 256);
  // Chance is 1/3 (one standard error on 256 images: 0.03); a broken loss, label or data
  // path stays near it. This run reaches about 0.6.
  EXPECT_GT(accuracy, 0.5);

  nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["family"], "classifier");
  EXPECT_EQ(config["classes"], nlohmann::json({"square", "circle", "triangle"}));
  EXPECT_EQ(config["factor_names"], nlohmann::json({"scale", "x", "y", "hue_cos", "hue_sin"}));
  EXPECT_EQ(config["model"]["channels"], 3) << "the model takes its shape from the data";
  EXPECT_EQ(config["model"]["image_size"], 32);
  EXPECT_EQ(config["model"]["num_factors"], 5);
  EXPECT_EQ(config["train"]["flip_used"], false) << "flips would scramble the x factor";

  // The loop's rows every 32 steps (training loss and accuracy), and after each epoch the
  // classifier's row of test scores.
  std::vector<nlohmann::json> logged, tested;
  for (const auto& row : read_jsonl(run + "/train.jsonl")) (row.contains("test_accuracy") ? tested : logged).push_back(row);
  ASSERT_EQ(logged.size(), 4u);
  ASSERT_EQ(tested.size(), 2u);
  EXPECT_EQ(tested[1]["epoch"], 2);
  EXPECT_EQ(tested[1]["step"], 128);
  EXPECT_DOUBLE_EQ(tested[1]["test_accuracy"].get<double>(), accuracy);
  EXPECT_TRUE(tested[1]["test_factor_r2"].contains("hue_cos"));
  EXPECT_LT(logged[3]["loss"].get<double>(), logged[0]["loss"].get<double>());
  EXPECT_GT(logged[3]["train_accuracy"].get<double>(), 0.4);
  EXPECT_GT(logged[3]["img_per_s"].get<double>(), 0);
  // samples: each class's most confident test images, one column per class.
  const Image samples = read_image(run + "/samples/epoch-002.png");
  EXPECT_EQ(samples.width, 3 * 32 + 4 * 2);
  EXPECT_TRUE(fs::exists(run + "/losses.png"));

  EXPECT_EQ(metrics["test"]["class_accuracy"].size(), 3u);
  // Scale and position are easy to read off a shape even after 128 steps (R^2 about 0.6 and 0.8).
  EXPECT_GT(metrics["test"]["factor_r2"]["scale"].get<double>(), 0.3);

  ClassifierRun loaded = load_classifier_run(run);
  EXPECT_EQ(loaded.factor_names.size(), 5u);
  DataOptions data;
  data.spec = "shapes:1024";
  data.limit = 256;
  ClassifierScore again = test_classifier(loaded, data, /*test_side=*/true);
  EXPECT_DOUBLE_EQ(again.accuracy, accuracy) << "classifier test reproduces the trainer's score";
  ASSERT_EQ(again.factor_r2.size(), 5u);

  EXPECT_THROW(train_classifier(o, false), Error) << "an existing run needs --resume";
  fs::remove_all(run);
}

TEST(ClassifierTrainer, StoppedAndResumedEqualsUninterrupted) {
  std::string straight = make_temp_dir("cls_trainer_straight");
  std::string split = make_temp_dir("cls_trainer_split");
  ClassifierTrainOptions o = tiny(straight, "folder:" + make_folder("cls_trainer_folder_a"), 2, 4);
  o.loop.data.size = 16;
  train_classifier(o, false);  // 18 training images: 4 steps per epoch, flips on

  ClassifierTrainOptions first = o;
  first.loop.out = split;
  first.loop.max_steps = 3;  // stops inside epoch 1
  TrainSummary a = train_classifier(first, false);
  EXPECT_EQ(a.steps, 3);
  ClassifierTrainOptions rest = read_classifier_run_options(split);
  rest.loop.max_steps = 0;
  TrainSummary b = train_classifier(rest, true);
  EXPECT_EQ(b.steps, 8);
  EXPECT_EQ(b.steps_run, 5);

  EXPECT_EQ(read_file(straight + "/model.pt"), read_file(split + "/model.pt")) << "bitwise identical weights";
  EXPECT_EQ(read_file(straight + "/metrics.json"), read_file(split + "/metrics.json"));
  auto rows_a = read_jsonl(straight + "/train.jsonl");
  auto rows_b = read_jsonl(split + "/train.jsonl");
  ASSERT_EQ(rows_a.back()["step"], 8);
  ASSERT_EQ(rows_b.back()["step"], 8);
  for (const char* key : {"test_accuracy", "test_loss"}) EXPECT_EQ(rows_a.back()[key], rows_b.back()[key]) << key;
  fs::remove_all(straight);
  fs::remove_all(split);
  fs::remove_all(o.loop.data.spec.substr(7));
}

TEST(ClassifierTrainer, HoldsOutEveryTenthImageOfAFolder) {
  std::string dir = make_folder("cls_trainer_folder_b");
  DataOptions d;
  d.spec = "folder:" + dir;
  d.size = 16;
  ClassifierData train = load_classifier_data(d, false);
  ClassifierData test = load_classifier_data(d, true);
  EXPECT_EQ(train.data.size(), 18);
  EXPECT_EQ(test.data.size(), 2);
  EXPECT_EQ(test.split_name, "holdout");
  // Images 9 (dark/9.png) and 19 (light/9.png) in path order.
  EXPECT_EQ(test.data.labels[0].item<int64_t>(), 0);
  EXPECT_EQ(test.data.labels[1].item<int64_t>(), 1);
  EXPECT_EQ(test.data.images[0][0][0][0].item<uint8_t>(), 19);
  EXPECT_EQ(test.data.images[1][0][0][0].item<uint8_t>(), 209);
  EXPECT_FALSE(train.targets.values.defined()) << "a folder has no known factors";

  fs::remove_all(dir + "/light");
  EXPECT_THROW(load_classifier_data(d, false), Error) << "one class is not a classification";
  fs::remove_all(dir);
}

TEST(ClassifierTrainer, RegressesHueAsAnAngle) {
  Dataset shapes = make_shapes(6, 16, 3);
  FactorTargets t = classifier_factor_targets(shapes);
  ASSERT_EQ(t.names, (std::vector<std::string>{"scale", "x", "y", "hue_cos", "hue_sin"}));
  ASSERT_EQ(t.values.sizes(), (std::vector<int64_t>{6, 5}));
  for (int64_t i = 0; i < 6; ++i) {
    const double hue = shapes.factors[i][5].item<double>();
    EXPECT_FLOAT_EQ(t.values[i][0].item<float>(), shapes.factors[i][1].item<float>());
    EXPECT_NEAR(t.values[i][3].item<double>(), std::cos(2 * M_PI * hue), 1e-5);
    EXPECT_NEAR(t.values[i][4].item<double>(), std::sin(2 * M_PI * hue), 1e-5);
  }
}

TEST(ClassifierTrainer, RejectsBadOptions) {
  ClassifierTrainOptions o = tiny(make_temp_dir("cls_trainer_bad"), "shapes:64", 1, 16);
  o.loop.data.split = "test";
  EXPECT_THROW(train_classifier(o, false), Error);
  o.loop.data.split = "train";
  o.loop.batch = 1;
  EXPECT_THROW(train_classifier(o, false), Error);
  o.loop.batch = 16;
  EXPECT_THROW(train_classifier(o, true), Error) << "nothing to resume";
  EXPECT_FALSE(fs::exists(o.loop.out + "/config.json"));
}
