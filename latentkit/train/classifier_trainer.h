#pragma once
// Training and testing of the feature-extractor classifier (models/classifier.h) on the
// training loop (loop.h): cross entropy on the class labels plus, for data with known factors
// (shapes), a mean squared error on the standardised factors. Adam with a cosine learning-rate
// decay, random horizontal flips for data without factors, test scores after every epoch.
//
// Test data: the test split of idx data (Fashion-MNIST's t10k), a disjoint seed for
// shapes, and for image folders, which have no split, every 10th image in path order
// (index % 10 == 9: about 10% of each class subfolder), held out of training.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/data/dataset.h"
#include "latentkit/models/classifier.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct ClassifierTrainOptions {
  TrainLoopOptions loop{/*epochs=*/8, /*batch=*/128, /*lr=*/1e-3};  // lr: the peak; cosine decay to 0 over all epochs
  int64_t width = 32;
  int64_t feature_dim = 128;
  double dropout = 0.3;
  bool flip = true;        // random horizontal flips; never used on data with known factors
  int64_t test_limit = 0;  // 0: the whole test split; else its first test_limit images
  ConditionOn labels = ConditionOn::kClass;  // what it learns: the data's classes or a labeling (emoji)

  ClassifierTrainOptions() { loop.keep_checkpoints = 2; }
  void validate() const;
};

/// Regression targets derived from a dataset's known factors. Every factor but "shape"
/// (the class) and "rotation" (its symmetries make it ambiguous: a square turned by 90
/// degrees is the same image) is regressed; "hue" is circular, so it becomes two columns,
/// hue_cos and hue_sin (of 2 pi hue).
struct FactorTargets {
  std::vector<std::string> names;
  torch::Tensor values;  // float32 [N, names.size()], undefined when there are none
};
FactorTargets classifier_factor_targets(const Dataset& data);

/// The images, labels and factor targets a classifier trains or tests on.
struct ClassifierData {
  Dataset data;
  FactorTargets targets;
  std::string split_name;  // "train", "test" or "holdout" (image folders)
};

/// Loads the train or test side of `options` (whose split field is ignored), with the
/// image-folder hold-out described above; limit applies to the chosen side. labels picks the
/// labels (condition_dataset).
ClassifierData load_classifier_data(const DataOptions& options, bool test_side, ConditionOn labels = ConditionOn::kClass);

struct ClassifierScore {
  int64_t images = 0;
  double loss = 0.0;                    // mean cross entropy
  double accuracy = 0.0;                // fraction of images whose top class is the label
  std::vector<double> class_accuracy;   // per class; NaN for a class with no images
  std::vector<double> factor_r2;        // coefficient of determination per factor target
};

/// Scores a model on data at its own channels and size (eval mode, no gradients; the
/// model's training mode is restored). targets may be undefined; factor_r2 is then empty.
ClassifierScore evaluate_classifier(Classifier& model, const Dataset& data, const torch::Tensor& targets,
                                    int64_t batch = 256);

/// {"images", "loss", "accuracy", "class_accuracy": {name: value}, "factor_r2": {name: value}}.
nlohmann::json classifier_score_to_json(const ClassifierScore& score, const std::vector<std::string>& class_names,
                                        const std::vector<std::string>& factor_names);

/// Scores a trained run on `data` (its size and channels are set to the model's).
ClassifierScore test_classifier(ClassifierRun& run, DataOptions data, bool test_side, int64_t batch = 256);

/// Options from RUN/config.json of a classifier run (for --resume).
ClassifierTrainOptions read_classifier_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run folder:
/// config.json (family "classifier", model options, classes, factor_names, data), and after
/// every epoch model.pt, metrics.json (the test scores) and a train.jsonl row of test
/// scores; samples/ holds each class's most confident test images, one column per class.
TrainSummary train_classifier(const ClassifierTrainOptions& options, bool resume);

}  // namespace latentkit
