#include "latentkit/train/classifier_trainer.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/wallpapers.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Image folders have no test split: every kHoldoutEvery-th image (by path) is held out. Nor
// do wallpapers, whose classes are their files (the test split holds other files): every
// kHoldoutEvery-th crop of the train split is held out.
constexpr int64_t kHoldoutEvery = 10;

bool is_holdout_spec(const std::string& spec) { return spec.compare(0, 7, "folder:") == 0 || is_wallpapers_spec(spec); }

Dataset select_rows(const Dataset& data, const torch::Tensor& rows) {
  Dataset out = data;
  out.images = data.images.index_select(0, rows);
  out.labels = data.labels.index_select(0, rows);
  if (data.factors.defined()) out.factors = data.factors.index_select(0, rows);
  return out;
}

Dataset first_rows(const Dataset& data, int64_t limit) {
  if (limit <= 0 || limit >= data.size()) return data;
  return select_rows(data, torch::arange(limit, torch::kInt64));
}

nlohmann::json named_values(const std::vector<std::string>& names, const std::vector<double>& values) {
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string name = i < names.size() ? names[i] : std::to_string(i);
    // JSON has no NaN: a class with no test images reads as null.
    out[name] = std::isfinite(values[i]) ? nlohmann::json(values[i]) : nlohmann::json(nullptr);
  }
  return out;
}

}  // namespace

FactorTargets classifier_factor_targets(const Dataset& data) {
  FactorTargets out;
  if (!data.factors.defined() || data.factor_names.empty()) return out;
  std::vector<torch::Tensor> columns;
  for (size_t i = 0; i < data.factor_names.size(); ++i) {
    const std::string& name = data.factor_names[i];
    torch::Tensor column = data.factors.select(1, static_cast<int64_t>(i)).to(torch::kFloat32);
    if (name == "shape" || name == "rotation") continue;
    if (name == "hue") {
      out.names.push_back("hue_cos");
      columns.push_back(torch::cos(column * (2 * kPi)));
      out.names.push_back("hue_sin");
      columns.push_back(torch::sin(column * (2 * kPi)));
    } else {
      out.names.push_back(name);
      columns.push_back(column);
    }
  }
  if (!columns.empty()) out.values = torch::stack(columns, 1).contiguous();
  return out;
}

ClassifierData load_classifier_data(const DataOptions& options, bool test_side, ConditionOn labels) {
  ClassifierData out;
  DataOptions d = options;
  if (is_holdout_spec(options.spec)) {
    d.split = "train";
    d.limit = 0;
    Dataset all = load_dataset(d);
    torch::Tensor held_out = torch::arange(all.size(), torch::kInt64).remainder(kHoldoutEvery) == kHoldoutEvery - 1;
    torch::Tensor rows = (test_side ? held_out : held_out.logical_not()).nonzero().view({-1});
    check_input(rows.size(0) > 0, options.spec + " has " + std::to_string(all.size()) + " images; the classifier holds out every " +
                                      std::to_string(kHoldoutEvery) + "th for testing, so it needs at least " +
                                      std::to_string(kHoldoutEvery));
    out.data = first_rows(select_rows(all, rows), options.limit);
    out.split_name = test_side ? "holdout" : "train";
  } else {
    d.split = test_side ? "test" : "train";
    out.data = load_dataset(d);
    out.split_name = d.split;
  }
  if (labels != ConditionOn::kClass) condition_dataset(out.data, labels, options.spec);
  check_input(out.data.class_names.size() >= 2,
              options.spec + " has " + (out.data.class_names.empty() ? std::string("no class labels") : "only one class") +
                  "; a classifier needs at least 2 (an image folder needs one subfolder per class)");
  out.targets = classifier_factor_targets(out.data);
  return out;
}

ClassifierScore evaluate_classifier(Classifier& model, const Dataset& data, const torch::Tensor& targets, int64_t batch) {
  check_input(data.size() > 0, "no images to test the classifier on");
  check_input(batch >= 1, "batch size must be positive, got " + std::to_string(batch));
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t k = model->options.num_classes();
  const bool with_factors = targets.defined() && model->factor_head;
  if (with_factors) {
    check_input(targets.dim() == 2 && targets.size(0) == data.size() && targets.size(1) == model->options.num_factors(),
                "factor targets " + c10::str(targets.sizes()) + " do not fit a model with " +
                    std::to_string(model->options.num_factors()) + " factor outputs");
  }
  torch::Tensor class_total = torch::zeros({k}, torch::kInt64);
  torch::Tensor class_hits = torch::zeros({k}, torch::kInt64);
  double loss_sum = 0.0;
  std::vector<torch::Tensor> predictions;
  for (int64_t start = 0; start < data.size(); start += batch) {
    const int64_t end = std::min(data.size(), start + batch);
    ClassifierOutput out = model->forward(normalize_images(data.images.slice(0, start, end)));
    torch::Tensor labels = data.labels.slice(0, start, end);
    check_input(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < k,
                "labels of the data go beyond the model's " + std::to_string(k) + " classes");
    loss_sum += torch::nn::functional::cross_entropy(
                    out.logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    torch::Tensor hits = out.logits.argmax(1) == labels;
    class_total += torch::bincount(labels, {}, k);
    class_hits += torch::bincount(labels.masked_select(hits), {}, k);
    if (with_factors) predictions.push_back(out.factors);
  }
  model->train(was_training);

  ClassifierScore score;
  score.images = data.size();
  score.loss = loss_sum / static_cast<double>(data.size());
  score.accuracy = class_hits.sum().item<double>() / static_cast<double>(data.size());
  for (int64_t c = 0; c < k; ++c) {
    const int64_t total = class_total[c].item<int64_t>();
    score.class_accuracy.push_back(total > 0 ? static_cast<double>(class_hits[c].item<int64_t>()) / total : NAN);
  }
  if (with_factors) {
    torch::Tensor predicted = torch::cat(predictions).to(torch::kFloat64);
    torch::Tensor truth = targets.to(torch::kFloat64);
    torch::Tensor residual = (predicted - truth).pow(2).sum(0);
    torch::Tensor spread = (truth - truth.mean(0)).pow(2).sum(0);
    for (int64_t f = 0; f < truth.size(1); ++f) {
      const double total = spread[f].item<double>();
      score.factor_r2.push_back(total > 0 ? 1.0 - residual[f].item<double>() / total : NAN);
    }
  }
  return score;
}

nlohmann::json classifier_score_to_json(const ClassifierScore& score, const std::vector<std::string>& class_names,
                                        const std::vector<std::string>& factor_names) {
  nlohmann::json out = {{"images", score.images},
                        {"loss", score.loss},
                        {"accuracy", score.accuracy},
                        {"class_accuracy", named_values(class_names, score.class_accuracy)}};
  if (!score.factor_r2.empty()) out["factor_r2"] = named_values(factor_names, score.factor_r2);
  return out;
}

ClassifierScore test_classifier(ClassifierRun& run, DataOptions data, bool test_side, int64_t batch) {
  const ClassifierOptions& o = run.model->options;
  data.size = static_cast<int>(o.image_size());
  data.channels = static_cast<int>(o.channels());
  ClassifierData test = load_classifier_data(data, test_side, run.labels);
  check_input(static_cast<int64_t>(test.data.class_names.size()) == o.num_classes(),
              data.spec + " has " + std::to_string(test.data.class_names.size()) + " classes but the classifier was trained on " +
                  std::to_string(o.num_classes()) + "; test it on the kind of data it was trained on");
  torch::Tensor targets = test.targets.names == run.factor_names ? test.targets.values : torch::Tensor();
  return evaluate_classifier(run.model, test.data, targets, batch);
}

namespace {

class ClassifierTask : public TrainTask {
 public:
  explicit ClassifierTask(const ClassifierTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_input(loop.data.split == "train",
                "classifier train trains on the train split and tests on the test split by itself; drop --split");
    train_ = load_classifier_data(loop.data, false, o_.labels);
    DataOptions test_options = loop.data;
    test_options.limit = o_.test_limit;
    test_ = load_classifier_data(test_options, true, o_.labels);
    const Dataset& data = train_.data;
    check_input(data.height() == data.width(), "data " + loop.data.spec + " has " + std::to_string(data.height()) + "x" +
                                                   std::to_string(data.width()) + " images; the classifier needs square ones (pass --size)");
    // A mirrored shape has its x factor mirrored too: flips would teach the factor head noise.
    flip_ = o_.flip && !with_factors();
    model_options_.channels(data.channels())
        .image_size(data.height())
        .num_classes(static_cast<int64_t>(data.class_names.size()))
        .num_factors(static_cast<int64_t>(train_.targets.names.size()))
        .width(o_.width)
        .feature_dim(o_.feature_dim)
        .dropout(o_.dropout);
    model_options_.validate();
    return data.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    o_.loop = loop;
    model_ = Classifier(model_options_);
    if (with_factors()) {
      torch::NoGradGuard no_grad;
      model_->factor_mean.copy_(train_.targets.values.mean(0));
      model_->factor_std.copy_(train_.targets.values.std(0).clamp_min(1e-6));
      factor_scale_ = model_->factor_std.clone();
    }
    job.broadcast(*model_);
    opt_ = std::make_unique<torch::optim::Adam>(model_->parameters(), torch::optim::AdamOptions(loop.lr));
    model_->train();
  }

  CheckpointParts parts() override { return {{{"classifier", model_.get()}}, {{"optimizer", opt_.get()}}}; }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    nlohmann::json train = train_loop_options_to_json(loop);
    train.update({{"lr_schedule", "cosine"},
                  {"width", o_.width},
                  {"feature_dim", o_.feature_dim},
                  {"dropout", o_.dropout},
                  {"flip", o_.flip},
                  {"flip_used", flip_},
                  {"test_limit", o_.test_limit},
                  {"labels", condition_on_names().name(o_.labels)}});
    return {{"latentkit_version", LATENTKIT_VERSION},
            {"family", "classifier"},
            {"model", classifier_options_to_json(model_options_)},
            {"classes", train_.data.class_names},
            {"factor_names", train_.targets.names},
            {"data", data_options_to_json(loop.data)},
            {"test", {{"split", test_.split_name}, {"limit", o_.test_limit}, {"images", test_.data.size()}}},
            {"train", train}};
  }

  std::string describe() const override {
    const Dataset& data = train_.data;
    return "classifier (" + std::to_string(data.class_names.size()) + " classes" +
           (with_factors() ? ", " + std::to_string(train_.targets.names.size()) + " factors" : std::string()) + ") on " +
           describe_data(data) + ", testing on " + std::to_string(test_.data.size()) + " " + test_.split_name + " images";
  }

  std::string resume_command(const std::string& run_dir) const override {
    return "latentkit classifier train --resume --out " + run_dir;
  }

  std::vector<std::string> value_names() const override { return {"loss", "class_loss", "factor_loss", "train_accuracy"}; }

  // Cosine decay from lr at step 0 towards 0 at the last step of the last epoch.
  double learning_rate(const TrainLoopOptions& loop, int64_t step, int64_t total_steps) const override {
    return loop.lr * 0.5 * (1.0 + std::cos(kPi * static_cast<double>(step) / static_cast<double>(total_steps)));
  }

  std::vector<double> step(const StepInput& in) override {
    namespace F = torch::nn::functional;
    const torch::Tensor rows = in.job->share(in.indices);
    torch::Tensor x = in.layout(normalize_images(train_.data.images.index_select(0, rows)));
    if (flip_) {  // drawn for the global batch, so every rank's generator stays in step
      torch::Tensor mirror = (in.job->share(torch::rand({in.indices.size(0)})) < 0.5).view({-1, 1, 1, 1});
      x = torch::where(mirror, x.flip({3}), x);
    }
    const torch::Tensor labels = train_.data.labels.index_select(0, rows);
    ClassifierOutput out = model_->forward(x);
    // Losses in fp32 also when the layers run in bf16 (autocast).
    const torch::Tensor logits = out.logits.to(torch::kFloat);
    torch::Tensor class_loss = F::cross_entropy(logits, labels);
    torch::Tensor factor_loss = torch::zeros({});
    if (with_factors()) {
      torch::Tensor target = train_.targets.values.index_select(0, rows);
      factor_loss = ((out.factors.to(torch::kFloat) - target) / factor_scale_).pow(2).mean();
    }
    torch::Tensor loss = class_loss + factor_loss;
    opt_->zero_grad();
    loss.backward();
    in.job->average_gradients(*model_);
    opt_->step();
    torch::NoGradGuard no_grad;
    const double correct = (logits.argmax(1) == labels).sum().item<double>();
    return {loss.item<double>(), class_loss.item<double>(), factor_loss.item<double>(),
            correct / static_cast<double>(x.size(0))};
  }

  std::string plot_title() const override { return "classifier training loss and accuracy"; }

  void save_model(const std::string& path) override { save_module(*model_, path); }

  // Each class's most confident test images, one column per class, best first; with too many
  // classes for two rows (emoji subcategories), the best image of each class, in class order,
  // in a square grid.
  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    model_->eval();
    const Dataset& test = test_.data;
    const int64_t n = std::min<int64_t>(test.size(), 2048);
    const torch::Tensor images = normalize_images(test.images.slice(0, 0, n));
    const torch::Tensor probs = torch::softmax(model_->forward(images).logits, 1);
    model_->train();
    const int64_t classes = probs.size(1);
    const int64_t rows = std::max<int64_t>(1, std::min(o_.loop.sample_count / classes, n));
    const torch::Tensor best = std::get<1>(probs.topk(rows, 0));  // [rows, classes]
    write_png(path, make_grid(images.index_select(0, best.reshape({-1})), rows == 1 ? 0 : static_cast<int>(classes)));
  }

  nlohmann::json epoch_end(const std::string& run_dir, int64_t epoch) override {
    const ClassifierScore score = evaluate_classifier(model_, test_.data, test_.targets.values);
    write_json(run_dir + "/metrics.json",
               {{"test_accuracy", score.accuracy},
                {"epoch", epoch},
                {"epochs", o_.loop.epochs},
                {"test_data", {{"spec", o_.loop.data.spec}, {"split", test_.split_name}, {"images", score.images}}},
                {"test", classifier_score_to_json(score, train_.data.class_names, train_.targets.names)}});
    nlohmann::json row = {{"test_accuracy", score.accuracy}, {"test_loss", score.loss}};
    if (with_factors()) row["test_factor_r2"] = named_values(train_.targets.names, score.factor_r2);
    return row;
  }

 private:
  bool with_factors() const { return train_.targets.values.defined(); }

  ClassifierTrainOptions o_;
  ClassifierData train_, test_;
  bool flip_ = false;
  ClassifierOptions model_options_;
  Classifier model_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_;
  torch::Tensor factor_scale_;  // [F]: the loss is the MSE of standardised factors
};

}  // namespace

void ClassifierTrainOptions::validate() const {
  loop.validate();
  check_input(loop.batch >= 2, "--batch must be >= 2 (BatchNorm needs a batch), got " + std::to_string(loop.batch));
  check_input(test_limit >= 0, "--test-limit must be >= 0 (0 = the whole test split)");
}

ClassifierTrainOptions read_classifier_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "classifier",
              run_dir + " holds a '" + config.value("family", "") + "' run, not a classifier; choose another --out");
  try {
    ClassifierTrainOptions o;
    const auto& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.width = t.at("width").get<int64_t>();
    o.feature_dim = t.at("feature_dim").get<int64_t>();
    o.dropout = t.at("dropout").get<double>();
    o.flip = t.at("flip").get<bool>();
    o.test_limit = t.at("test_limit").get<int64_t>();
    o.labels = condition_on_names().parse(t.value("labels", std::string("class")));
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit classifier train wrote");
  }
}

TrainSummary train_classifier(const ClassifierTrainOptions& options, bool resume) {
  options.validate();
  ClassifierTask task(options);
  return run_training(options.loop, task, resume);
}

}  // namespace latentkit
