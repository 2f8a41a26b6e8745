#include "latentkit/models/unet.h"

#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/data/captions.h"

namespace latentkit {
namespace {

torch::nn::Conv2d conv3(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

}  // namespace

void UNetOptions::validate() const {
  check_input(channels() == 1 || channels() == 3 || channels() == 4, "U-Net: channels must be 1, 3 or 4, got " + std::to_string(channels()));
  check_input(!mults().empty() && mults().size() <= 5, "U-Net: --mults needs 1 to 5 levels");
  for (int64_t m : mults()) check_input(m >= 1 && m <= 16, "U-Net: each width multiplier must be in 1..16");
  const int64_t factor = int64_t{1} << (mults().size() - 1);
  check_input(image_size() >= 8 && image_size() <= 256 && image_size() % factor == 0,
              "U-Net: image size " + std::to_string(image_size()) + " must be in 8..256 and divisible by " +
                  std::to_string(factor) + " (2^(levels - 1) for " + std::to_string(mults().size()) + " levels)");
  check_input(groups() >= 1 && width() >= groups() && width() % groups() == 0,
              "U-Net: --width " + std::to_string(width()) + " must be a multiple of the GroupNorm groups (" +
                  std::to_string(groups()) + ")");
  check_input(res_blocks() >= 1 && res_blocks() <= 4, "U-Net: res_blocks must be in 1..4");
  check_input(dropout() >= 0 && dropout() < 1, "U-Net: dropout must be in [0, 1)");
  check_input(num_classes() >= 0 && cond_channels() >= 0, "U-Net: num_classes and cond_channels must be >= 0");
  check_input(text().vocab_size() == 0 || num_classes() == 0, "U-Net: a model is conditioned on classes or on text, not both");
  if (text().vocab_size() > 0) text().validate();
}

nlohmann::json unet_options_to_json(const UNetOptions& o) {
  return {{"channels", o.channels()},   {"image_size", o.image_size()}, {"width", o.width()},
          {"mults", o.mults()},         {"res_blocks", o.res_blocks()}, {"groups", o.groups()},
          {"dropout", o.dropout()},     {"num_classes", o.num_classes()},
          {"cond_channels", o.cond_channels()},
          {"text", text_encoder_options_to_json(o.text())}};
}

UNetOptions unet_options_from_json(const nlohmann::json& m) {
  UNetOptions o;
  o.channels(m.at("channels").get<int64_t>())
      .image_size(m.at("image_size").get<int64_t>())
      .width(m.at("width").get<int64_t>())
      .mults(m.at("mults").get<std::vector<int64_t>>())
      .res_blocks(m.at("res_blocks").get<int64_t>())
      .groups(m.at("groups").get<int64_t>())
      .dropout(m.at("dropout").get<double>())
      .num_classes(m.at("num_classes").get<int64_t>())
      .cond_channels(m.at("cond_channels").get<int64_t>());
  // Runs from before text conditioning have no "text".
  if (m.contains("text")) o.text(text_encoder_options_from_json(m.at("text")));
  o.validate();
  return o;
}

torch::Tensor timestep_frequencies(int64_t dim) {
  const int64_t half = dim / 2;
  return torch::exp(-std::log(10000.0) * torch::arange(half, torch::kFloat32) /
                    static_cast<double>(std::max<int64_t>(half - 1, 1)));
}

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim) {
  const torch::Tensor freqs = timestep_frequencies(dim);
  torch::Tensor args = t.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  torch::Tensor emb = torch::cat({torch::sin(args), torch::cos(args)}, 1);
  if (dim % 2 == 1) emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));
  return emb;
}

ResBlockImpl::ResBlockImpl(int64_t in_, int64_t out_, int64_t time_dim_, int64_t groups_, double p_)
    : in(in_), out(out_), time_dim(time_dim_), groups(groups_), p(p_) {
  reset();
}

void ResBlockImpl::reset() {
  norm1 = register_module("norm1", torch::nn::GroupNorm(groups, in));
  conv1 = register_module("conv1", conv3(in, out));
  time = register_module("time", torch::nn::Linear(time_dim, out));
  norm2 = register_module("norm2", torch::nn::GroupNorm(groups, out));
  dropout = register_module("dropout", torch::nn::Dropout(p));
  conv2 = register_module("conv2", conv3(out, out));
  if (in != out) skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  // GroupNorm in fp32 (LibTorch 1.13 has no bf16 GroupNorm on CPU): the .to() is a no-op in
  // fp32 and, under bf16 autocast, keeps the normalisation in fp32 as mixed precision wants.
  torch::Tensor h = conv1(torch::silu(norm1(x.to(torch::kFloat))));
  h = h + time(temb).unsqueeze(-1).unsqueeze(-1);
  h = conv2(dropout(torch::silu(norm2(h.to(torch::kFloat)))));
  return (skip ? skip(x) : x) + h;
}

AttentionImpl::AttentionImpl(int64_t channels_, int64_t groups_) : channels(channels_), groups(groups_) { reset(); }

void AttentionImpl::reset() {
  norm = register_module("norm", torch::nn::GroupNorm(groups, channels));
  qkv = register_module("qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 3 * channels, 1)));
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  std::vector<torch::Tensor> parts = qkv(norm(x.to(torch::kFloat))).reshape({n, 3, c, h * w}).unbind(1);
  torch::Tensor weights = torch::softmax(torch::bmm(parts[0].transpose(1, 2), parts[1]) / std::sqrt(double(c)), -1);
  torch::Tensor out = torch::bmm(parts[2], weights.transpose(1, 2));  // [N, C, HW]
  return x + proj(out.reshape({n, c, h, w}));
}

UNetImpl::UNetImpl(UNetOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void UNetImpl::reset() {
  const UNetOptions& o = options;
  const int64_t w = o.width(), tdim = 4 * w, g = o.groups();
  const auto levels = static_cast<int64_t>(o.mults().size());
  conv_in = register_module("conv_in", conv3(o.channels() + o.cond_channels(), w));
  time_mlp = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(w, tdim), torch::nn::SiLU(),
                                                               torch::nn::Linear(tdim, tdim)));
  if (o.num_classes() > 0) class_embed = register_module("class_embed", torch::nn::Embedding(o.num_classes() + 1, tdim));
  if (o.text().vocab_size() > 0) {
    text_encoder = register_module("text_encoder", TextEncoder(o.text()));
    text_embed = register_module("text_embed", torch::nn::Linear(o.text().width(), tdim));
    null_text = register_parameter("null_text", torch::zeros({o.text().width()}));
  }
  down = register_module("down", torch::nn::ModuleList());
  downsample = register_module("downsample", torch::nn::ModuleList());
  down_attn = register_module("down_attn", torch::nn::ModuleList());
  up = register_module("up", torch::nn::ModuleList());
  upsample = register_module("upsample", torch::nn::ModuleList());
  up_attn = register_module("up_attn", torch::nn::ModuleList());
  // Widths of the skips pushed on the way down, in order.
  std::vector<int64_t> skips{w};
  int64_t ch = w;
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t out = w * o.mults()[level];
    for (int64_t i = 0; i < o.res_blocks(); ++i) {
      down->push_back(ResBlock(ch, out, tdim, g, o.dropout()));
      if (level == levels - 1) down_attn->push_back(Attention(out, g));
      ch = out;
      skips.push_back(ch);
    }
    if (level < levels - 1) {
      downsample->push_back(conv3(ch, ch, 2));
      skips.push_back(ch);
    }
  }
  mid1 = register_module("mid1", ResBlock(ch, ch, tdim, g, o.dropout()));
  mid_attn = register_module("mid_attn", Attention(ch, g));
  mid2 = register_module("mid2", ResBlock(ch, ch, tdim, g, o.dropout()));
  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t out = w * o.mults()[level];
    for (int64_t i = 0; i <= o.res_blocks(); ++i) {
      up->push_back(ResBlock(ch + skips.back(), out, tdim, g, o.dropout()));
      skips.pop_back();
      if (level == levels - 1) up_attn->push_back(Attention(out, g));
      ch = out;
    }
    if (level > 0) upsample->push_back(conv3(ch, ch));
  }
  norm_out = register_module("norm_out", torch::nn::GroupNorm(g, ch));
  conv_out = register_module("conv_out", conv3(ch, o.channels()));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels,
                                const torch::Tensor& cond, const torch::Tensor& text) {
  const UNetOptions& o = options;
  check_input(x.dim() == 4 && x.size(1) == o.channels() && x.size(2) == o.image_size() && x.size(3) == o.image_size(),
              "U-Net: expected images [N, " + std::to_string(o.channels()) + ", " + std::to_string(o.image_size()) +
                  ", " + std::to_string(o.image_size()) + "]");
  check_input(cond.defined() == (o.cond_channels() > 0), o.cond_channels() > 0
                                                             ? "U-Net: this image-to-image model needs a condition"
                                                             : "U-Net: this model takes no image condition");
  check_input(labels.defined() == (o.num_classes() > 0), o.num_classes() > 0
                                                             ? "U-Net: this class-conditional model needs labels"
                                                             : "U-Net: this model takes no labels");
  check_input(text.defined() == has_text(), has_text() ? "U-Net: this text-conditional model needs a prompt embedding"
                                                        : "U-Net: this model takes no prompt");
  torch::Tensor temb = time_mlp->forward(timestep_embedding(t, o.width()));
  if (class_embed) temb = temb + class_embed(labels);
  if (text_embed) temb = temb + text_embed(text);
  torch::Tensor h = conv_in(cond.defined() ? torch::cat({x, cond}, 1) : x);
  std::vector<torch::Tensor> skips{h};
  const auto levels = static_cast<int64_t>(o.mults().size());
  size_t block = 0, attn = 0;
  for (int64_t level = 0; level < levels; ++level) {
    for (int64_t i = 0; i < o.res_blocks(); ++i) {
      h = down[block++]->as<ResBlock>()->forward(h, temb);
      if (level == levels - 1) h = down_attn[attn++]->as<Attention>()->forward(h);
      skips.push_back(h);
    }
    if (level < levels - 1) {
      h = downsample[level]->as<torch::nn::Conv2d>()->forward(h);
      skips.push_back(h);
    }
  }
  h = mid2(mid_attn(mid1(h, temb)), temb);
  block = 0;
  attn = 0;
  for (int64_t level = levels - 1; level >= 0; --level) {
    for (int64_t i = 0; i <= o.res_blocks(); ++i) {
      h = up[block++]->as<ResBlock>()->forward(torch::cat({h, skips.back()}, 1), temb);
      skips.pop_back();
      if (level == levels - 1) h = up_attn[attn++]->as<Attention>()->forward(h);
    }
    if (level > 0) {
      h = torch::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2});
      h = upsample[levels - 1 - level]->as<torch::nn::Conv2d>()->forward(h);
    }
  }
  return conv_out(torch::silu(norm_out(h.to(torch::kFloat))));
}

torch::Tensor UNetImpl::encode_text(const torch::Tensor& tokens) {
  check_input(has_text(), "U-Net: this model is not text-conditional");
  const torch::Tensor none = (tokens != kPadToken).any(1).logical_not().unsqueeze(1);
  return torch::where(none, null_text.to(torch::kFloat).unsqueeze(0), text_encoder->forward(tokens));
}

}  // namespace latentkit
