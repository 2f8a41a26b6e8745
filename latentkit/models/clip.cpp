#include "latentkit/models/clip.h"

#include <cmath>
#include <numeric>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace nn = torch::nn;

namespace {

// The image encoder halves the image three times and pools what is left to 4x4, so 16 px is
// the smallest input with something left to pool.
constexpr int64_t kMinImageSize = 16;
constexpr int64_t kPooledSide = 4;
constexpr int64_t kStrides = 3;

// GroupNorm on fp32: LibTorch 1.13's CPU autocast leaves group_norm to its input's type, and a
// bf16 input with fp32 weights is an error. Its parameters are nn::GroupNorm's (weight, bias).
class Fp32GroupNormImpl : public nn::GroupNormImpl {
 public:
  using nn::GroupNormImpl::GroupNormImpl;
  torch::Tensor forward(const torch::Tensor& x) { return nn::GroupNormImpl::forward(x.to(torch::kFloat)); }
};
TORCH_MODULE(Fp32GroupNorm);

void add_block(nn::Sequential& seq, int64_t in, int64_t out, int64_t stride) {
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1)));
  seq->push_back(Fp32GroupNorm(nn::GroupNormOptions(std::gcd<int64_t>(out, 8), out)));
  seq->push_back(nn::SiLU());
}

}  // namespace

void ClipOptions::validate() const {
  check_input(channels() == 1 || channels() == 3 || channels() == 4,
              "clip needs 1, 3 or 4 image channels, got " + std::to_string(channels()));
  check_input(image_size() >= kMinImageSize, "clip needs images of at least " + std::to_string(kMinImageSize) +
                                                 " px, got " + std::to_string(image_size()) + " (pass --size)");
  check_input(width() >= 4, "clip's image width must be >= 4, got " + std::to_string(width()));
  check_input(embed_dim() >= 2, "clip's embedding size must be >= 2, got " + std::to_string(embed_dim()));
  text().validate();
}

nlohmann::json clip_options_to_json(const ClipOptions& o) {
  return {{"channels", o.channels()},
          {"image_size", o.image_size()},
          {"width", o.width()},
          {"embed_dim", o.embed_dim()},
          {"text", text_encoder_options_to_json(o.text())}};
}

ClipOptions clip_options_from_json(const nlohmann::json& model, const std::string& source) {
  try {
    return ClipOptions()
        .channels(model.at("channels").get<int64_t>())
        .image_size(model.at("image_size").get<int64_t>())
        .width(model.at("width").get<int64_t>())
        .embed_dim(model.at("embed_dim").get<int64_t>())
        .text(text_encoder_options_from_json(model.at("text")));
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": the clip model options are malformed (" + e.what() +
                "); expected channels, image_size, width, embed_dim and text");
  }
}

ClipImpl::ClipImpl(ClipOptions options_) : options(std::move(options_)) { reset(); }

void ClipImpl::reset() {
  options.validate();
  const int64_t w = options.width();
  nn::Sequential seq;
  add_block(seq, options.channels(), w, 1);
  int64_t c = w;
  for (int64_t i = 0; i < kStrides; ++i) {
    add_block(seq, c, 2 * c, 2);
    c *= 2;
    if (i + 1 < kStrides) add_block(seq, c, c, 1);  // the last block goes straight to the pool
  }
  seq->push_back(nn::AdaptiveAvgPool2d(kPooledSide));
  seq->push_back(nn::Flatten());
  seq->push_back(nn::Linear(c * kPooledSide * kPooledSide, options.embed_dim()));
  image = register_module("image", seq);
  text = register_module("text", TextEncoder(options.text()));
  text_proj = register_module("text_proj", nn::Linear(nn::LinearOptions(options.text().width(), options.embed_dim()).bias(false)));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));
}

torch::Tensor ClipImpl::encode_images(const torch::Tensor& x) {
  check_input(x.dim() == 4 && x.size(1) == options.channels(),
              "clip takes images [N, " + std::to_string(options.channels()) + ", H, W], got " + c10::str(x.sizes()));
  check_input(x.size(0) > 0 && x.size(2) > 0 && x.size(3) > 0, "clip got an empty batch of images " + c10::str(x.sizes()));
  torch::Tensor in = x.to(torch::kFloat);
  const int64_t s = options.image_size();
  if (x.size(2) != s || x.size(3) != s) {
    in = nn::functional::interpolate(
        in, nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{s, s}).mode(torch::kBilinear).align_corners(false).antialias(true));
  }
  return nn::functional::normalize(image->forward(in).to(torch::kFloat), nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor ClipImpl::encode_text(const torch::Tensor& tokens) {
  check_input(tokens.dim() == 2 && tokens.size(0) > 0 && tokens.scalar_type() == torch::kInt64,
              "clip takes int64 tokens [N, L], got " + c10::str(tokens.sizes()) + " " + c10::toString(tokens.scalar_type()));
  check_input(tokens.min().item<int64_t>() >= 0 && tokens.max().item<int64_t>() < options.text().vocab_size(),
              "clip got token ids outside its vocabulary of " + std::to_string(options.text().vocab_size()) +
                  "; encode prompts with the run's own tokenizer");
  torch::Tensor pooled = text->forward(tokens);
  return nn::functional::normalize(text_proj->forward(pooled).to(torch::kFloat), nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor ClipImpl::scale() { return logit_scale.clamp_max(std::log(kClipMaxLogitScale)).exp(); }

ClipRun load_clip_run(const std::string& run_dir) {
  ClipRun run;
  run.config = read_trained_run(run_dir, "clip", "clip model", "latentkit clip train");
  check_input(run.config.at("model").contains("tokenizer"),
              run_dir + "/config.json has no tokenizer in its \"model\" section; it must be the one latentkit clip train wrote");
  const std::string source = run_dir + "/config.json";
  ClipOptions options = clip_options_from_json(run.config.at("model"), source);
  run.tokenizer = Tokenizer::from_json(run.config.at("model").at("tokenizer"), source);
  check_input(run.tokenizer.vocab_size() == options.text().vocab_size() &&
                  run.tokenizer.max_tokens() == options.text().max_tokens(),
              source + ": the tokenizer (" + std::to_string(run.tokenizer.vocab_size()) + " words, " +
                  std::to_string(run.tokenizer.max_tokens()) + " tokens) does not fit the text encoder (" +
                  std::to_string(options.text().vocab_size()) + ", " + std::to_string(options.text().max_tokens()) + ")");
  run.model = Clip(options);
  load_module(*run.model, run_dir + "/model.pt");
  run.model->eval();
  return run;
}

}  // namespace latentkit
