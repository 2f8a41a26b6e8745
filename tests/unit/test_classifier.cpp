#include "tests/unit/test_util.h"
#include "latentkit/models/classifier.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

namespace {

ClassifierOptions small(int64_t channels, int64_t size) {
  ClassifierOptions o;
  o.channels(channels).image_size(size).num_classes(4).width(8).feature_dim(16);
  return o;
}

}  // namespace

TEST(Classifier, GivesFeaturesAndLogitsAtEverySizeAndChannelCount) {
  torch::manual_seed(0);
  for (int64_t channels : {1, 3}) {
    for (int64_t size : {16, 28, 32, 64}) {
      Classifier model(small(channels, size));
      model->eval();
      torch::NoGradGuard no_grad;
      torch::Tensor x = torch::rand({3, channels, size, size}) * 2 - 1;
      ClassifierOutput out = model->forward(x);
      EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{3, 16})) << channels << "x" << size;
      EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 4}));
      EXPECT_FALSE(out.factors.defined()) << "no factor head without factors";
      EXPECT_GE(out.features.min().item<float>(), 0.0f) << "features are post-ReLU activations";
      EXPECT_TRUE(torch::equal(model->features(x), out.features)) << "features() is forward's penultimate layer";
    }
  }
}

TEST(Classifier, FactorHeadReportsInTheFactorsUnits) {
  torch::manual_seed(1);
  Classifier model(small(3, 32).num_factors(5));
  ASSERT_TRUE(model->factor_head);
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::rand({2, 3, 32, 32});
  torch::Tensor standard = model->forward(x).factors;
  EXPECT_EQ(standard.sizes(), (std::vector<int64_t>{2, 5}));
  model->factor_mean.fill_(10.0);
  model->factor_std.fill_(2.0);
  EXPECT_TRUE(torch::allclose(model->forward(x).factors, standard * 2 + 10, 1e-5, 1e-5));
}

TEST(Classifier, RegisteredNamesAreTheCheckpointFormat) {
  Classifier model(small(1, 28).num_factors(2));
  auto params = model->named_parameters();
  EXPECT_NE(params.find("features.0.weight"), nullptr);
  EXPECT_NE(params.find("class_head.weight"), nullptr);
  EXPECT_NE(params.find("factor_head.bias"), nullptr);
  EXPECT_NE(model->named_buffers().find("factor_std"), nullptr);
  EXPECT_EQ(Classifier(small(1, 28))->named_parameters().find("factor_head.weight"), nullptr);
}

TEST(Classifier, OptionsRoundTripThroughJson) {
  ClassifierOptions o = small(3, 64).num_factors(5).dropout(0.1);
  ClassifierOptions back = classifier_options_from_json(classifier_options_to_json(o));
  EXPECT_EQ(back.channels(), 3);
  EXPECT_EQ(back.image_size(), 64);
  EXPECT_EQ(back.num_classes(), 4);
  EXPECT_EQ(back.num_factors(), 5);
  EXPECT_EQ(back.width(), 8);
  EXPECT_EQ(back.feature_dim(), 16);
  EXPECT_DOUBLE_EQ(back.dropout(), 0.1);
  nlohmann::json broken = classifier_options_to_json(o);
  broken.erase("width");
  EXPECT_THROW(classifier_options_from_json(broken), Error);
}

TEST(Classifier, RejectsBadOptionsAndInputs) {
  EXPECT_THROW(Classifier(small(2, 28)), Error);
  EXPECT_THROW(Classifier(small(1, 8)), Error);
  EXPECT_THROW(Classifier(small(1, 28).num_classes(1)), Error);
  Classifier model(small(1, 28));
  EXPECT_THROW(model->forward(torch::zeros({1, 3, 28, 28})), Error) << "wrong channel count";
  EXPECT_THROW(model->forward(torch::zeros({1, 1, 8, 8})), Error) << "too small";
}

TEST(Classifier, LoadsARunFolderWithItsWeights) {
  std::string run = make_temp_dir("classifier_run");
  torch::manual_seed(2);
  Classifier model(small(1, 28));
  save_module(*model, run + "/model.pt");
  write_json(run + "/config.json", {{"family", "classifier"},
                                    {"model", classifier_options_to_json(model->options)},
                                    {"classes", {"a", "b", "c", "d"}}});
  ClassifierRun loaded = load_classifier_run(run);
  EXPECT_FALSE(loaded.model->is_training());
  EXPECT_EQ(loaded.class_names, (std::vector<std::string>{"a", "b", "c", "d"}));
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::rand({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(loaded.model->forward(x).logits, model->forward(x).logits));
  EXPECT_EQ(loaded.labels, ConditionOn::kClass) << "a config without train.labels learnt the data's classes";

  write_json(run + "/config.json", {{"family", "classifier"},
                                    {"model", classifier_options_to_json(model->options)},
                                    {"train", {{"labels", "subcategory"}}}});
  EXPECT_EQ(load_classifier_run(run).labels, ConditionOn::kSubcategory);
  write_json(run + "/config.json", {{"family", "classifier"},
                                    {"model", classifier_options_to_json(model->options)},
                                    {"train", {{"labels", "colour"}}}});
  EXPECT_THROW(load_classifier_run(run), Error) << "labels no data has";

  write_json(run + "/config.json", {{"family", "dcgan"}, {"model", classifier_options_to_json(model->options)}});
  EXPECT_THROW(load_classifier_run(run), Error) << "a run of another family";
  EXPECT_THROW(load_classifier_run(run + "/missing"), Error);
  fs::remove_all(run);
}
