#include "latentkit/models/classifier.h"

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace nn = torch::nn;

namespace {

// Spatial size the adaptive pool brings every input to: 4x4 keeps the dense layer small
// (2 * width * 16 inputs) at 28, 32 and 64 alike.
constexpr int64_t kPooledSide = 4;
constexpr int64_t kMinImageSize = 16;

void add_conv_block(nn::Sequential& seq, int64_t in, int64_t out) {
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  seq->push_back(nn::BatchNorm2d(out));
  seq->push_back(nn::ReLU(true));
}

}  // namespace

void ClassifierOptions::validate() const {
  check_input(channels() == 1 || channels() == 3 || channels() == 4,
              "the classifier needs 1, 3 or 4 image channels, got " + std::to_string(channels()));
  check_input(image_size() >= kMinImageSize,
              "the classifier needs images of at least " + std::to_string(kMinImageSize) + "x" +
                  std::to_string(kMinImageSize) + ", got " + std::to_string(image_size()) + " (pass --size)");
  check_input(num_classes() >= 2, "the classifier needs at least 2 classes, got " + std::to_string(num_classes()));
  check_input(num_factors() >= 0, "number of factors must be >= 0, got " + std::to_string(num_factors()));
  check_input(width() >= 4, "classifier width must be >= 4, got " + std::to_string(width()));
  check_input(feature_dim() >= 2, "feature size must be >= 2, got " + std::to_string(feature_dim()));
  check_input(dropout() >= 0 && dropout() < 1, "dropout must be in [0, 1), got " + std::to_string(dropout()));
}

ClassifierImpl::ClassifierImpl(ClassifierOptions options_) : options(std::move(options_)) { reset(); }

void ClassifierImpl::reset() {
  options.validate();
  const int64_t w = options.width();
  nn::Sequential seq;
  add_conv_block(seq, options.channels(), w);
  add_conv_block(seq, w, w);
  seq->push_back(nn::MaxPool2d(2));
  add_conv_block(seq, w, 2 * w);
  add_conv_block(seq, 2 * w, 2 * w);
  seq->push_back(nn::MaxPool2d(2));
  seq->push_back(nn::AdaptiveAvgPool2d(kPooledSide));
  seq->push_back(nn::Flatten());
  seq->push_back(nn::Linear(2 * w * kPooledSide * kPooledSide, options.feature_dim()));
  seq->push_back(nn::ReLU(true));
  feature_layers = register_module("features", seq);
  dropout = register_module("dropout", nn::Dropout(options.dropout()));
  class_head = register_module("class_head", nn::Linear(options.feature_dim(), options.num_classes()));
  if (options.num_factors() > 0) {
    factor_head = register_module("factor_head", nn::Linear(options.feature_dim(), options.num_factors()));
    factor_mean = register_buffer("factor_mean", torch::zeros({options.num_factors()}));
    factor_std = register_buffer("factor_std", torch::ones({options.num_factors()}));
  }
}

torch::Tensor ClassifierImpl::features(const torch::Tensor& x) {
  check_input(x.dim() == 4 && x.size(1) == options.channels(),
              "the classifier takes images [N, " + std::to_string(options.channels()) + ", H, W], got " +
                  c10::str(x.sizes()));
  check_input(x.size(2) >= kMinImageSize && x.size(3) >= kMinImageSize,
              "the classifier needs images of at least 16x16, got " + c10::str(x.sizes()));
  return feature_layers->forward(x);
}

ClassifierOutput ClassifierImpl::forward(const torch::Tensor& x) {
  ClassifierOutput out;
  out.features = features(x);
  torch::Tensor h = dropout->forward(out.features);
  out.logits = class_head->forward(h);
  if (factor_head) out.factors = factor_head->forward(h) * factor_std + factor_mean;
  return out;
}

nlohmann::json classifier_options_to_json(const ClassifierOptions& o) {
  return {{"channels", o.channels()},       {"image_size", o.image_size()}, {"num_classes", o.num_classes()},
          {"num_factors", o.num_factors()}, {"width", o.width()},           {"feature_dim", o.feature_dim()},
          {"dropout", o.dropout()}};
}

ClassifierOptions classifier_options_from_json(const nlohmann::json& model) {
  try {
    ClassifierOptions o;
    o.channels(model.at("channels").get<int64_t>())
        .image_size(model.at("image_size").get<int64_t>())
        .num_classes(model.at("num_classes").get<int64_t>())
        .num_factors(model.at("num_factors").get<int64_t>())
        .width(model.at("width").get<int64_t>())
        .feature_dim(model.at("feature_dim").get<int64_t>())
        .dropout(model.at("dropout").get<double>());
    o.validate();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("config.json: malformed classifier \"model\" section (") + e.what() + ")");
  }
}

ConditionOn classifier_labels(const nlohmann::json& config) {
  return condition_on_names().parse(config.contains("train") ? config["train"].value("labels", "class") : "class");
}

ClassifierRun load_classifier_run(const std::string& run_dir) {
  ClassifierRun run;
  run.config = read_trained_run(run_dir, "classifier", "classifier", "latentkit classifier train");
  run.labels = classifier_labels(run.config);
  ClassifierOptions options = classifier_options_from_json(run.config.at("model"));
  try {
    run.class_names = run.config.value("classes", std::vector<std::string>{});
    run.factor_names = run.config.value("factor_names", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json: \"classes\" and \"factor_names\" must be lists of strings (" + e.what() + ")");
  }
  check_input(run.class_names.empty() || static_cast<int64_t>(run.class_names.size()) == options.num_classes(),
              run_dir + "/config.json lists " + std::to_string(run.class_names.size()) + " class names for a model with " +
                  std::to_string(options.num_classes()) + " classes");
  check_input(run.factor_names.empty() || static_cast<int64_t>(run.factor_names.size()) == options.num_factors(),
              run_dir + "/config.json lists " + std::to_string(run.factor_names.size()) + " factor names for a model with " +
                  std::to_string(options.num_factors()) + " factor outputs");
  run.model = Classifier(options);
  load_module(*run.model, run_dir + "/model.pt");
  run.model->eval();
  return run;
}

}  // namespace latentkit
