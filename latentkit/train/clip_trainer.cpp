#include "latentkit/train/clip_trainer.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <ATen/autocast_mode.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/captions.h"
#include "latentkit/data/emoji.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/checkpoint.h"

namespace latentkit {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kEvalDistractors = 99;
constexpr int64_t kSampleQueries = 8;

// Ids of strings in order of first appearance.
torch::Tensor ids_of(const std::vector<std::string>& names) {
  std::map<std::string, int64_t> table;
  std::vector<int64_t> ids;
  for (const std::string& n : names) ids.push_back(table.emplace(n, static_cast<int64_t>(table.size())).first->second);
  return torch::tensor(ids, torch::kInt64);
}

void check_clip_data(const DataOptions& data) {
  check_input(is_emoji_spec(data.spec), "clip train learns from the emoji set's captions; data '" + data.spec +
                                            "' has none (use --data emoji, emoji:google or emoji:twitter)");
}

class ClipTask : public TrainTask {
 public:
  explicit ClipTask(const ClipTrainOptions& options) : o_(options) {}

  int64_t load_data(TrainLoopOptions& loop) override {
    check_clip_data(loop.data);
    check_input(loop.data.split == "train",
                "clip train learns from the emoji train split only (the test split's emoji are held-out prompts, for "
                "this evaluator too); drop --split, and measure the test split with latentkit clip test");
    data_ = load_dataset(loop.data);
    check_input(data_.height() == data_.width(), "data " + loop.data.spec + " has " + std::to_string(data_.height()) + "x" +
                                                     std::to_string(data_.width()) + " images; clip needs square ones (pass --size)");
    facts_ = caption_facts(data_);
    std::vector<std::string> tones;
    for (const CaptionFacts& f : facts_) {
      captions_.push_back(canonical_caption(f));
      groups_.push_back(f.name);
      tones.push_back(f.skin_tone);
    }
    base_ = ids_of(groups_);
    tone_ = ids_of(tones);
    tokenizer_ = caption_tokenizer(facts_, o_.max_tokens);
    model_options_.channels(data_.channels())
        .image_size(data_.height())
        .width(o_.width)
        .embed_dim(o_.embed_dim)
        .text(TextEncoderOptions()
                  .vocab_size(tokenizer_.vocab_size())
                  .max_tokens(tokenizer_.max_tokens())
                  .width(o_.text_width)
                  .layers(o_.text_layers)
                  .heads(o_.text_heads));
    model_options_.validate();
    // The scored subset: eval_images rows spread evenly over the split.
    const int64_t k = std::min(o_.eval_images, data_.size());
    eval_rows_ = torch::linspace(0, static_cast<double>(data_.size() - 1), k, torch::kDouble).round().to(torch::kInt64);
    return data_.size();
  }

  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    // The loss contrasts every image of the batch with every caption of it; split over ranks,
    // each would see only its share's negatives and the job would compute another loss.
    check_input(job.world_size() == 1, "clip train runs as one process (its loss contrasts the whole batch); drop --nproc");
    o_.loop = loop;
    model_ = Clip(model_options_);
    opt_ = std::make_unique<torch::optim::Adam>(model_->parameters(), torch::optim::AdamOptions(loop.lr));
    model_->train();
  }

  CheckpointParts parts() override { return {{{"clip", model_.get()}}, {{"optimizer", opt_.get()}}}; }

  nlohmann::json config(const TrainLoopOptions& loop) const override {
    nlohmann::json train = train_loop_options_to_json(loop);
    train.update({{"lr_schedule", "warmup-cosine"},
                  {"width", o_.width},
                  {"embed_dim", o_.embed_dim},
                  {"text_width", o_.text_width},
                  {"text_layers", o_.text_layers},
                  {"text_heads", o_.text_heads},
                  {"max_tokens", o_.max_tokens},
                  {"shift", o_.shift},
                  {"word_dropout", o_.word_dropout},
                  {"warmup_steps", o_.warmup_steps},
                  {"eval_images", o_.eval_images},
                  {"false_negatives", "masked"}});
    nlohmann::json model = clip_options_to_json(model_options_);
    model["tokenizer"] = tokenizer_.to_json();
    return {{"latentkit_version", LATENTKIT_VERSION},
            {"family", "clip"},
            {"model", model},
            {"data", data_options_to_json(loop.data)},
            {"train", train}};
  }

  std::string describe() const override {
    return "clip (" + std::to_string(tokenizer_.vocab_size()) + " words, " + std::to_string(o_.embed_dim) +
           "-dim embeddings) on " + describe_data(data_) + ", scoring " + std::to_string(eval_rows_.size(0)) +
           " train images per epoch";
  }

  std::string resume_command(const std::string& run_dir) const override {
    return "latentkit clip train --resume --out " + run_dir;
  }

  std::vector<std::string> value_names() const override { return {"loss", "batch_accuracy", "logit_scale"}; }

  // Linear warm-up to lr over warmup_steps, then a cosine decay towards 0 at the last step.
  double learning_rate(const TrainLoopOptions& loop, int64_t step, int64_t total_steps) const override {
    const int64_t warmup = std::min(o_.warmup_steps, total_steps / 2);
    if (step < warmup) return loop.lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double t = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
    return loop.lr * 0.5 * (1.0 + std::cos(kPi * t));
  }

  std::vector<double> step(const StepInput& in) override {
    namespace F = torch::nn::functional;
    const torch::Tensor rows = in.indices;
    const int64_t b = rows.size(0);
    // Everything random from LibTorch's default generator (a checkpoint part), captions first.
    torch::Generator rng = at::detail::getDefaultCPUGenerator();
    std::vector<std::string> captions;
    std::vector<uint8_t> names_tone;  // per caption: it names a skin tone
    for (int64_t i = 0; i < b; ++i) {
      const CaptionFacts& f = facts_[static_cast<size_t>(rows[i].item<int64_t>())];
      captions.push_back(random_caption(f, rng));
      names_tone.push_back(!f.skin_tone.empty() && captions.back().find(" skin tone") != std::string::npos);
    }
    torch::Tensor x = normalize_images(data_.images.index_select(0, rows));
    if (o_.shift > 0) x = shift_images(x, o_.shift);
    x = in.layout(x);
    torch::Tensor tokens = tokenizer_.encode_captions(captions);
    if (o_.word_dropout > 0) {
      const torch::Tensor drop = (torch::rand(tokens.sizes()) < o_.word_dropout) & (tokens != kPadToken);
      tokens = tokens.masked_fill(drop, kUnknownToken);
    }

    // In-batch false negatives: caption j is also true of image i != j when both show the
    // same base emoji and caption j names no skin tone or image i's (the two vendors' images
    // of an emoji, or its skin tones under a caption without one). Those pairs are masked
    // out of both softmaxes rather than pushed apart; skin tones named in a caption stay
    // negatives, so the evaluator still learns them.
    const torch::Tensor base = base_.index_select(0, rows), tone = tone_.index_select(0, rows);
    const torch::Tensor caption_names_tone = torch::tensor(names_tone, torch::kUInt8).to(torch::kBool);
    const torch::Tensor same_base = base.unsqueeze(1) == base.unsqueeze(0);  // [image i, caption j]
    const torch::Tensor tone_fits = (tone.unsqueeze(1) == tone.unsqueeze(0)) | caption_names_tone.logical_not().unsqueeze(0);
    const torch::Tensor target = torch::arange(b, torch::kInt64);
    const torch::Tensor masked = same_base & tone_fits & (target.unsqueeze(1) != target.unsqueeze(0));

    const torch::Tensor images = model_->encode_images(x);
    const torch::Tensor texts = model_->encode_text(tokens);
    // The cosines in fp32 also under bf16 autocast: bf16's 8-bit mantissa blurs a cosine by
    // up to 0.004, which a logit scale of up to 100 turns into noise of 0.4 in the logits.
    const bool autocast = at::autocast::is_cpu_enabled();
    at::autocast::set_cpu_enabled(false);
    const torch::Tensor cosines = images.matmul(texts.t());
    at::autocast::set_cpu_enabled(autocast);
    const torch::Tensor logits = (model_->scale() * cosines).masked_fill(masked, -1e9);
    const torch::Tensor loss = 0.5 * (F::cross_entropy(logits, target) + F::cross_entropy(logits.t(), target));
    opt_->zero_grad();
    loss.backward();
    opt_->step();
    torch::NoGradGuard no_grad;
    const double correct = (logits.argmax(1) == target).sum().item<double>();
    return {loss.item<double>(), correct / static_cast<double>(b), model_->scale().item<double>()};
  }

  std::string plot_title() const override { return "clip training loss and in-batch accuracy"; }

  void save_model(const std::string& path) override { save_module(*model_, path); }

  // For kSampleQueries canonical captions of the scored subset (rows), its kSampleQueries
  // images that match each best, best first.
  void write_samples(const std::string& path) override {
    torch::NoGradGuard no_grad;
    model_->eval();
    const torch::Tensor images = data_.images.index_select(0, eval_rows_);
    const torch::Tensor image_embeddings = embed_images(model_, images);
    std::vector<std::string> queries;
    const int64_t n = eval_rows_.size(0);
    const int64_t q = std::min(kSampleQueries, n);
    for (int64_t k = 0; k < q; ++k) {
      queries.push_back(captions_[static_cast<size_t>(eval_rows_[k * n / q].item<int64_t>())]);
    }
    const torch::Tensor text_embeddings = embed_captions(model_, tokenizer_, queries);
    model_->train();
    const int64_t top = std::min(kSampleQueries, n);
    const torch::Tensor best = std::get<1>(text_embeddings.matmul(image_embeddings.t()).topk(top, 1));  // [q, top]
    write_png(path, make_grid(normalize_images(images.index_select(0, best.reshape({-1}))), static_cast<int>(top)));
  }

  nlohmann::json epoch_end(const std::string& run_dir, int64_t epoch) override {
    std::vector<std::string> captions, groups;
    for (int64_t k = 0; k < eval_rows_.size(0); ++k) {
      const auto row = static_cast<size_t>(eval_rows_[k].item<int64_t>());
      captions.push_back(captions_[row]);
      groups.push_back(groups_[row]);
    }
    const int64_t distractors = std::min<int64_t>(kEvalDistractors, distinct_groups() - 1);
    const TextMatchScore score = text_match(model_, tokenizer_, data_.images.index_select(0, eval_rows_), captions, groups,
                                            captions_, groups_, distractors, /*seed=*/0);
    return {{"train_r_precision", score.r_precision},
            {"train_clip_score", score.clip_score},
            {"train_scored", {{"images", score.images}, {"candidates", score.candidates}}}};
  }

 private:
  // A random translation of each image by up to s px on each axis, the uncovered border
  // transparent (-1 everywhere: premultiplied RGBA, or black for RGB and gray).
  torch::Tensor shift_images(const torch::Tensor& x, int64_t s) const {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    const torch::Tensor offsets = torch::randint(0, 2 * s + 1, {n, 2}, torch::kInt64);
    const torch::Tensor padded = torch::constant_pad_nd(x, {s, s, s, s}, -1.0);
    std::vector<torch::Tensor> out;
    out.reserve(static_cast<size_t>(n));
    auto a = offsets.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) out.push_back(padded[i].narrow(1, a[i][0], h).narrow(2, a[i][1], w));
    return torch::stack(out);
  }

  int64_t distinct_groups() const { return base_.numel() > 0 ? base_.max().item<int64_t>() + 1 : 0; }

  ClipTrainOptions o_;
  Dataset data_;
  std::vector<CaptionFacts> facts_;
  std::vector<std::string> captions_, groups_;  // canonical caption and base emoji name per image
  torch::Tensor base_, tone_;                   // int64 [N]: ids of the base emoji and the skin tone
  torch::Tensor eval_rows_;
  Tokenizer tokenizer_;
  ClipOptions model_options_;
  Clip model_ = nullptr;
  std::unique_ptr<torch::optim::Adam> opt_;
};

}  // namespace

void ClipTrainOptions::validate() const {
  loop.validate();
  check_input(loop.batch >= 2, "--batch must be >= 2 (the clip loss contrasts the images of a batch), got " +
                                   std::to_string(loop.batch));
  check_input(width >= 4, "--width must be >= 4, got " + std::to_string(width));
  check_input(embed_dim >= 2, "--embed-dim must be >= 2, got " + std::to_string(embed_dim));
  check_input(text_width > 0 && text_heads > 0 && text_width % text_heads == 0,
              "--text-width (" + std::to_string(text_width) + ") must be a positive multiple of --text-heads (" +
                  std::to_string(text_heads) + ")");
  check_input(text_layers >= 1, "--text-layers must be >= 1, got " + std::to_string(text_layers));
  check_input(max_tokens >= 1, "--max-tokens must be >= 1, got " + std::to_string(max_tokens));
  check_input(shift >= 0 && shift <= 8, "--shift must be in [0, 8] px, got " + std::to_string(shift));
  check_input(word_dropout >= 0 && word_dropout < 1, "--word-dropout must be in [0, 1), got " + std::to_string(word_dropout));
  check_input(warmup_steps >= 0, "--warmup-steps must be >= 0, got " + std::to_string(warmup_steps));
  check_input(eval_images >= 2, "--eval-images must be >= 2, got " + std::to_string(eval_images));
}

ClipTrainOptions read_clip_run_options(const std::string& run_dir) {
  nlohmann::json config = read_run_config(run_dir);
  check_input(config.value("family", "") == "clip",
              run_dir + " holds a '" + config.value("family", "") + "' run, not a clip model; choose another --out");
  try {
    ClipTrainOptions o;
    const auto& t = config.at("train");
    o.loop = train_loop_options_from_json(t, config.at("data"), run_dir);
    o.width = t.at("width").get<int64_t>();
    o.embed_dim = t.at("embed_dim").get<int64_t>();
    o.text_width = t.at("text_width").get<int64_t>();
    o.text_layers = t.at("text_layers").get<int64_t>();
    o.text_heads = t.at("text_heads").get<int64_t>();
    o.max_tokens = t.at("max_tokens").get<int64_t>();
    o.shift = t.at("shift").get<int64_t>();
    o.word_dropout = t.value("word_dropout", 0.0);  // runs before it had none
    o.warmup_steps = t.at("warmup_steps").get<int64_t>();
    o.eval_images = t.at("eval_images").get<int64_t>();
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit clip train wrote");
  }
}

TrainSummary train_clip(const ClipTrainOptions& options, bool resume) {
  options.validate();
  check_clip_data(options.loop.data);
  ClipTask task(options);
  return run_training(options.loop, task, resume);
}

CaptionedImages canonical_captions(const Dataset& data) {
  const std::vector<CaptionFacts> facts = caption_facts(data);
  CaptionedImages out;
  for (const CaptionFacts& f : facts) {
    out.captions.push_back(canonical_caption(f));
    out.groups.push_back(f.name);
  }
  return out;
}

TextMatchScore test_clip(ClipRun& run, DataOptions data, int64_t distractors, uint64_t seed) {
  const ClipOptions& o = run.model->options;
  data.size = static_cast<int>(o.image_size());
  data.channels = static_cast<int>(o.channels());
  const Dataset d = load_dataset(data);
  check_input(d.size() > 0, "data " + data.spec + " (" + data.split + " split) has no images");
  const CaptionedImages c = canonical_captions(d);
  return text_match(run.model, run.tokenizer, normalize_images(d.images), c.captions, c.groups, c.captions, c.groups,
                    distractors, seed);
}

}  // namespace latentkit
