#include "latentkit/train/classifier_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/progress.h"
#include "latentkit/core/signals.h"
#include "latentkit/core/threads.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Image folders have no test split: every kHoldoutEvery-th image (by path) is held out.
constexpr int64_t kHoldoutEvery = 10;

// Sums over the current epoch, saved with checkpoints so that a resumed run logs what an
// uninterrupted one would: loss, class loss, factor loss, correct, images.
constexpr int64_t kSumCount = 5;

bool is_folder_spec(const std::string& spec) { return spec.compare(0, 7, "folder:") == 0; }

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

std::string format_fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

void validate(const ClassifierTrainOptions& o) {
  check_input(!o.out.empty(), "--out is required: the run folder to write, e.g. --out models/fashion-classifier");
  check_input(o.data.split == "train",
              "classifier train trains on the train split and tests on the test split by itself; drop --split");
  check_input(o.epochs >= 1, "--epochs must be >= 1, got " + std::to_string(o.epochs));
  check_input(o.batch >= 2, "--batch must be >= 2 (BatchNorm needs a batch), got " + std::to_string(o.batch));
  check_input(o.lr > 0 && std::isfinite(o.lr), "--lr must be a positive number");
  check_input(o.threads >= 0, "--threads must be >= 0 (0 = all cores)");
  check_input(o.test_limit >= 0, "--test-limit must be >= 0 (0 = the whole test split)");
  check_input(o.max_steps >= 0, "--max-steps must be >= 0 (0 = no limit)");
  check_input(o.keep_checkpoints >= 1, "--keep-checkpoints must be >= 1");
}

// Cosine decay from lr at step 0 towards 0 at total_steps.
double lr_at(double lr, int64_t step, int64_t total_steps) {
  return lr * 0.5 * (1.0 + std::cos(kPi * static_cast<double>(step) / static_cast<double>(total_steps)));
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

nlohmann::json config_to_json(const ClassifierTrainOptions& o, const ClassifierOptions& model, const ClassifierData& train,
                              const ClassifierData& test, bool flip_used) {
  return {
      {"latentkit_version", LATENTKIT_VERSION},
      {"family", "classifier"},
      {"model", classifier_options_to_json(model)},
      {"classes", train.data.class_names},
      {"factor_names", train.targets.names},
      {"data", data_options_to_json(o.data)},
      {"test", {{"split", test.split_name}, {"limit", o.test_limit}, {"images", test.data.size()}}},
      {"train",
       {{"epochs", o.epochs}, {"batch", o.batch}, {"lr", o.lr}, {"lr_schedule", "cosine"}, {"seed", o.seed},
        {"threads", o.threads}, {"width", o.width}, {"feature_dim", o.feature_dim}, {"dropout", o.dropout},
        {"flip", o.flip}, {"flip_used", flip_used}, {"test_limit", o.test_limit}, {"max_steps", o.max_steps},
        {"keep_checkpoints", o.keep_checkpoints}}},
  };
}

// Keeps the lines of train.jsonl written up to `up_to_step` (a resumed run rewrites the rest).
std::string kept_log(const std::string& path, int64_t up_to_step) {
  if (!path_exists(path)) return "";
  std::istringstream lines(read_file(path));
  std::string kept;
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || !row.contains("step") || row["step"].get<int64_t>() > up_to_step) continue;
    kept += line + "\n";
  }
  return kept;
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

ClassifierData load_classifier_data(const DataOptions& options, bool test_side) {
  ClassifierData out;
  DataOptions d = options;
  if (is_folder_spec(options.spec)) {
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
  ClassifierData test = load_classifier_data(data, test_side);
  check_input(static_cast<int64_t>(test.data.class_names.size()) == o.num_classes(),
              data.spec + " has " + std::to_string(test.data.class_names.size()) + " classes but the classifier was trained on " +
                  std::to_string(o.num_classes()) + "; test it on the kind of data it was trained on");
  torch::Tensor targets = test.targets.names == run.factor_names ? test.targets.values : torch::Tensor();
  return evaluate_classifier(run.model, test.data, targets, batch);
}

ClassifierTrainOptions read_classifier_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "classifier",
              run_dir + " holds a '" + config.value("family", "") + "' run, not a classifier; choose another --out");
  try {
    ClassifierTrainOptions o;
    o.out = run_dir;
    o.data = data_options_from_json(config.at("data"), run_dir + "/config.json");
    const auto& t = config.at("train");
    o.epochs = t.at("epochs").get<int64_t>();
    o.batch = t.at("batch").get<int64_t>();
    o.lr = t.at("lr").get<double>();
    o.seed = t.at("seed").get<uint64_t>();
    o.threads = t.at("threads").get<int>();
    o.width = t.at("width").get<int64_t>();
    o.feature_dim = t.at("feature_dim").get<int64_t>();
    o.dropout = t.at("dropout").get<double>();
    o.flip = t.at("flip").get<bool>();
    o.test_limit = t.at("test_limit").get<int64_t>();
    o.max_steps = t.at("max_steps").get<int64_t>();
    o.keep_checkpoints = t.at("keep_checkpoints").get<int>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit classifier train wrote");
  }
}

ClassifierTrainSummary train_classifier(const ClassifierTrainOptions& o, bool resume) {
  validate(o);
  const std::string& run = o.out;
  const std::string config_path = run + "/config.json";
  check_run_folder(run, resume);

  ClassifierTrainSummary summary;
  summary.threads = set_threads(o.threads);

  ClassifierData train = load_classifier_data(o.data, false);
  DataOptions test_options = o.data;
  test_options.limit = o.test_limit;
  ClassifierData test = load_classifier_data(test_options, true);
  const Dataset& data = train.data;
  check_input(data.height() == data.width(), "data " + o.data.spec + " has " + std::to_string(data.height()) + "x" +
                                                 std::to_string(data.width()) + " images; the classifier needs square ones (pass --size)");
  const bool with_factors = train.targets.values.defined();
  // A mirrored shape has its x factor mirrored too: flips would teach the factor head noise.
  const bool flip = o.flip && !with_factors;

  ClassifierOptions model_options;
  model_options.channels(data.channels())
      .image_size(data.height())
      .num_classes(static_cast<int64_t>(data.class_names.size()))
      .num_factors(static_cast<int64_t>(train.targets.names.size()))
      .width(o.width)
      .feature_dim(o.feature_dim)
      .dropout(o.dropout);
  model_options.validate();

  BatchOrder order(data.size(), o.batch, o.seed);
  const int64_t steps_per_epoch = order.steps_per_epoch();
  const int64_t total_steps = o.epochs * steps_per_epoch;
  const int64_t end_step = o.max_steps > 0 ? std::min(total_steps, o.max_steps) : total_steps;

  torch::manual_seed(o.seed);
  Classifier model(model_options);
  torch::Tensor factor_scale;  // [F]: the loss is the MSE of standardised factors
  if (with_factors) {
    torch::NoGradGuard no_grad;
    model->factor_mean.copy_(train.targets.values.mean(0));
    model->factor_std.copy_(train.targets.values.std(0).clamp_min(1e-6));
    factor_scale = model->factor_std.clone();
  }
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.lr));
  torch::Tensor sums = torch::zeros({kSumCount}, torch::kFloat64);
  CheckpointParts parts{{{"classifier", model.get()}}, {{"optimizer", &optimizer}}, {{"epoch_sums", &sums}}};

  int64_t step = 0;
  if (resume) {
    step = resume_latest(run, parts);
    write_file_atomic(run + "/train.jsonl", kept_log(run + "/train.jsonl", step));
  }
  make_dirs(run);
  write_json(config_path, config_to_json(o, model_options, train, test, flip));

  std::fprintf(stderr,
               "training classifier on %s (%lld images %lldx%lldx%lld, %zu classes%s), testing on %lld %s images, "
               "%lld steps/epoch, batch %lld, %d thread%s\n",
               o.data.spec.c_str(), static_cast<long long>(data.size()), static_cast<long long>(data.channels()),
               static_cast<long long>(data.height()), static_cast<long long>(data.width()), data.class_names.size(),
               with_factors ? (", " + std::to_string(train.targets.names.size()) + " factors").c_str() : "",
               static_cast<long long>(test.data.size()), test.split_name.c_str(), static_cast<long long>(steps_per_epoch),
               static_cast<long long>(o.batch), summary.threads, summary.threads == 1 ? "" : "s");

  namespace F = torch::nn::functional;
  Progress progress("classifier", end_step, step);
  const int64_t first_step = step;
  double train_seconds = 0.0;    // this call's training time, test passes excluded
  double epoch_seconds = 0.0;    // this epoch's, in this call
  int64_t epoch_steps_timed = 0;
  std::string last_test;
  model->train();

  while (step < end_step) {
    const int64_t epoch = step / steps_per_epoch;
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = lr_at(o.lr, step, total_steps);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    torch::Tensor rows = order.batch_indices(epoch, step % steps_per_epoch);
    torch::Tensor x = normalize_images(data.images.index_select(0, rows));
    if (flip) {
      torch::Tensor mirror = (torch::rand({x.size(0)}) < 0.5).view({-1, 1, 1, 1});
      x = torch::where(mirror, x.flip({3}), x);
    }
    torch::Tensor labels = data.labels.index_select(0, rows);
    ClassifierOutput out = model->forward(x);
    torch::Tensor class_loss = F::cross_entropy(out.logits, labels);
    torch::Tensor factor_loss = torch::zeros({});
    if (with_factors) {
      torch::Tensor target = train.targets.values.index_select(0, rows);
      factor_loss = ((out.factors - target) / factor_scale).pow(2).mean();
    }
    torch::Tensor loss = class_loss + factor_loss;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    ++step;

    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      auto latest = latest_checkpoint(run);
      throw Error("classifier training diverged at step " + std::to_string(step) + " (loss " + std::to_string(loss_value) +
                      "); try a lower --lr" + (latest ? "; last good checkpoint: " + *latest : std::string()),
                  ErrorKind::kInternal);
    }
    {
      torch::NoGradGuard no_grad;
      const double n = static_cast<double>(x.size(0));
      const double correct = (out.logits.argmax(1) == labels).sum().item<double>();
      sums += torch::tensor({loss_value * n, class_loss.item<double>() * n, factor_loss.item<double>() * n, correct, n},
                            torch::kFloat64);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += seconds;
    epoch_seconds += seconds;
    ++epoch_steps_timed;

    if (step % steps_per_epoch == 0) {
      ClassifierScore score = evaluate_classifier(model, test.data, test.targets.values);
      const double images = sums[4].item<double>();
      nlohmann::json row = {{"epoch", epoch + 1},
                            {"step", step},
                            {"loss", sums[0].item<double>() / images},
                            {"class_loss", sums[1].item<double>() / images},
                            {"train_accuracy", sums[3].item<double>() / images},
                            {"test_accuracy", score.accuracy},
                            {"test_loss", score.loss},
                            {"img_per_s", epoch_seconds > 0 ? epoch_steps_timed * o.batch / epoch_seconds : 0.0},
                            {"lr", lr},
                            {"threads", summary.threads}};
      if (with_factors) {
        row["factor_loss"] = sums[2].item<double>() / images;
        row["test_factor_r2"] = named_values(train.targets.names, score.factor_r2);
      }
      append_jsonl(run + "/train.jsonl", row);
      save_module(*model, run + "/model.pt");
      nlohmann::json metrics = {{"test_accuracy", score.accuracy},
                                {"epoch", epoch + 1},
                                {"epochs", o.epochs},
                                {"test_data", {{"spec", o.data.spec}, {"split", test.split_name}, {"images", score.images}}},
                                {"test", classifier_score_to_json(score, data.class_names, train.targets.names)}};
      write_json(run + "/metrics.json", metrics);
      sums.zero_();
      save_checkpoint(run, step, parts, o.keep_checkpoints);
      summary.test = score;
      last_test = " test " + format_fixed(score.accuracy, 4);
      epoch_seconds = 0.0;
      epoch_steps_timed = 0;
    } else if (step == end_step) {
      save_checkpoint(run, step, parts, o.keep_checkpoints);
    }
    const double seen = sums[4].item<double>();
    progress.update(step,
                    "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) +
                        (seen > 0 ? " loss " + format_fixed(sums[0].item<double>() / seen, 3) + " acc " +
                                        format_fixed(sums[3].item<double>() / seen, 3)
                                  : std::string()) +
                        last_test,
                    static_cast<double>(o.batch));
    if (stop_requested() && step < end_step) {
      if (step % steps_per_epoch != 0) save_checkpoint(run, step, parts, o.keep_checkpoints);
      summary.interrupted = true;
      break;
    }
  }

  summary.steps = step;
  summary.steps_run = step - first_step;
  summary.epochs_done = step / steps_per_epoch;
  summary.seconds = train_seconds;
  summary.images_per_second = train_seconds > 0 ? summary.steps_run * o.batch / train_seconds : 0.0;
  progress.finish((summary.interrupted ? "interrupted, checkpoint saved; " : "") + std::string("epoch ") +
                  std::to_string(summary.epochs_done) + "/" + std::to_string(o.epochs) + last_test);
  return summary;
}

}  // namespace latentkit
