#include "latentkit/export/graph.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/registry.h"
#include "latentkit/models/spade.h"
#include "latentkit/models/vae.h"

namespace latentkit {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

int64_t ModelGraph::add(GraphOp op) {
  for (int64_t v : op.inputs)
    check_input(v >= 0 && v < static_cast<int64_t>(ops.size()), "graph: an op reads a value not defined before it");
  ops.push_back(std::move(op));
  return static_cast<int64_t>(ops.size()) - 1;
}

int64_t ModelGraph::parameter_count() const {
  int64_t n = 0;
  for (const GraphOp& op : ops) n += (op.weight.defined() ? op.weight.numel() : 0) + (op.bias.defined() ? op.bias.numel() : 0);
  if (text_encoder) {
    for (const torch::Tensor& p : text_encoder->parameters()) n += p.numel();
    n += null_text.numel();
  }
  return n;
}

namespace {

torch::Tensor detached(const torch::Tensor& t) { return t.detach().to(torch::kFloat32).contiguous().clone(); }

GraphOp layer_op(Op op_kind, int64_t x, const torch::Tensor& weight, const torch::Tensor& bias, int64_t out_channels) {
  GraphOp op{op_kind, {x}};
  op.weight = detached(weight);
  op.bias = bias.defined() ? detached(bias) : torch::zeros({out_channels});
  return op;
}

bool is_layer(Op op) { return op == Op::kGemm || op == Op::kConv2d || op == Op::kConvTranspose2d; }

// BatchNorm (eval: running statistics) folded into the layer that made x: each output
// channel o of W and b scaled by s_o = gamma_o / sqrt(var_o + eps), b_o' = (b_o - mean_o) s_o + beta_o.
void fold_batchnorm(ModelGraph& g, int64_t x, const torch::Tensor& gamma, const torch::Tensor& beta,
                    const torch::Tensor& mean, const torch::Tensor& var, double eps) {
  check_input(x >= 0 && x == static_cast<int64_t>(g.ops.size()) - 1, "a BatchNorm with no layer before it cannot be folded");
  GraphOp& op = g.ops[x];
  check_input(is_layer(op.op), std::string("a BatchNorm after ") + lkrt::op_name(op.op) + " cannot be folded");
  torch::Tensor scale = (detached(gamma) / (detached(var) + eps).sqrt());
  const int64_t out_dim = op.op == Op::kConvTranspose2d ? 1 : 0;
  check_input(op.weight.size(out_dim) == scale.size(0), "BatchNorm size does not match the layer before it");
  std::vector<int64_t> view(static_cast<size_t>(op.weight.dim()), 1);
  view[static_cast<size_t>(out_dim)] = scale.size(0);
  op.weight = (op.weight * scale.view(view)).contiguous();
  op.bias = ((op.bias - detached(mean)) * scale + detached(beta)).contiguous();
}

int64_t first(const torch::ExpandingArray<2>& a) {
  check_input((*a)[0] == (*a)[1], "only square strides, paddings and kernels are exported");
  return (*a)[0];
}

template <typename Padding>
int64_t explicit_padding(const Padding& padding) {
  const auto* p = c10::get_if<torch::ExpandingArray<2>>(&padding);
  check_input(p != nullptr, "only explicit convolution paddings are exported");
  return first(*p);
}

int64_t conv(ModelGraph& g, int64_t x, const nn::Conv2dImpl& m) {
  const auto& o = m.options;
  check_input(o.groups() == 1 && first(o.dilation()) == 1, "only plain convolutions are exported");
  first(o.kernel_size());
  GraphOp op = layer_op(Op::kConv2d, x, m.weight, m.bias, o.out_channels());
  op.stride = first(o.stride());
  op.padding = explicit_padding(o.padding());
  return g.add(std::move(op));
}

int64_t group_norm(ModelGraph& g, int64_t x, const nn::GroupNormImpl& m) {
  GraphOp op{Op::kGroupNorm, {x}};
  op.weight = detached(m.weight);
  op.bias = detached(m.bias);
  op.groups = m.options.num_groups();
  op.channels = m.options.num_channels();
  op.alpha = m.options.eps();
  return g.add(std::move(op));
}

int64_t gemm(ModelGraph& g, int64_t x, const nn::LinearImpl& m) {
  return g.add(layer_op(Op::kGemm, x, m.weight, m.bias, m.options.out_features()));
}

int64_t unary(ModelGraph& g, Op op, int64_t x) { return g.add(GraphOp{op, {x}}); }

// The layers of seq (its first `count`), each reading the value before; returns the last value.
int64_t append_sequential(nn::SequentialImpl& seq, ModelGraph& g, int64_t x, size_t count = SIZE_MAX) {
  const auto children = seq.children();
  for (size_t i = 0; i < std::min(count, children.size()); ++i) {
    const auto& child = children[i];
    if (auto* m = child->as<nn::ConvTranspose2d>()) {
      const auto& o = m->options;
      check_input(o.groups() == 1 && first(o.dilation()) == 1 && first(o.output_padding()) == 0,
                  "only plain transposed convolutions are exported");
      first(o.kernel_size());
      GraphOp op = layer_op(Op::kConvTranspose2d, x, m->weight, m->bias, o.out_channels());
      op.stride = first(o.stride());
      op.padding = explicit_padding(o.padding());
      x = g.add(std::move(op));
    } else if (auto* m = child->as<nn::Conv2d>()) {
      x = conv(g, x, *m);
    } else if (auto* m = child->as<nn::Linear>()) {
      x = gemm(g, x, *m);
    } else if (auto* m = child->as<nn::BatchNorm2d>()) {
      fold_batchnorm(g, x, m->weight, m->bias, m->running_mean, m->running_var, m->options.eps());
    } else if (auto* m = child->as<nn::BatchNorm1d>()) {
      fold_batchnorm(g, x, m->weight, m->bias, m->running_mean, m->running_var, m->options.eps());
    } else if (child->as<nn::ReLU>()) {
      x = unary(g, Op::kRelu, x);
    } else if (auto* m = child->as<nn::LeakyReLU>()) {
      GraphOp op{Op::kLeakyRelu, {x}};
      op.alpha = m->options.negative_slope();
      x = g.add(std::move(op));
    } else if (child->as<nn::Tanh>()) {
      x = unary(g, Op::kTanh, x);
    } else if (child->as<nn::Sigmoid>()) {
      x = unary(g, Op::kSigmoid, x);
    } else if (child->as<nn::SiLU>()) {
      x = unary(g, Op::kSilu, x);
    } else if (auto* m = child->as<nn::Unflatten>()) {
      GraphOp op{Op::kReshape, {x}};
      op.shape = m->options.sizes();
      x = g.add(std::move(op));
    } else if (auto* m = child->as<nn::Upsample>()) {
      const auto& o = m->options;
      check_input(c10::get_if<torch::enumtype::kNearest>(&o.mode()) != nullptr && o.scale_factor().has_value() &&
                      o.scale_factor()->size() == 2 && (*o.scale_factor())[0] == (*o.scale_factor())[1] &&
                      (*o.scale_factor())[0] == std::floor((*o.scale_factor())[0]),
                  "only nearest upsampling by a whole factor is exported");
      GraphOp op{Op::kUpsampleNearest, {x}};
      op.stride = static_cast<int64_t>((*o.scale_factor())[0]);
      x = g.add(std::move(op));
    } else if (child->as<nn::Dropout>()) {
      // Identity at inference.
    } else {
      throw Error("cannot export a layer of type " + child->name());
    }
  }
  return x;
}

int64_t input(ModelGraph& g, InputRole role, int64_t channels = 0) {
  GraphOp op{Op::kInput};
  op.role = role;
  op.channels = channels;
  return g.add(std::move(op));
}

int64_t leaky_relu(ModelGraph& g, int64_t x, double slope) {
  GraphOp op{Op::kLeakyRelu, {x}};
  op.alpha = slope;
  return g.add(std::move(op));
}

// ---------------------------------------------------------------------------------
// SPADE: the label map at each block's size, and the normalisations.

// The one-hot map at side x side: the input itself at the image size, else one
// downsample_nearest of it per smaller size (shared by every normalisation there).
struct MapsBySize {
  int64_t input = -1, side = 0;
  std::map<int64_t, int64_t> values;

  int64_t at(ModelGraph& g, int64_t size) {
    if (size == side) return input;
    auto found = values.find(size);
    if (found != values.end()) return found->second;
    check_input(size > 0 && side % size == 0, "spade: a block of " + std::to_string(size) + " px does not divide the " +
                                                  std::to_string(side) + " px map (nearest resizing would not be a stride)");
    GraphOp op{Op::kDownsampleNearest, {input}};
    op.stride = side / size;
    return values[size] = g.add(std::move(op));
  }
};

// BatchNorm(x) (1 + gamma(a)) + beta(a), a = relu(shared(map)). The BatchNorm in eval is
// x s + t per channel (s = weight / sqrt(var + eps), t = bias - mean s; weight 1, bias 0
// without affine); it goes into the two convolutions on a, which are linear in their
// weights: x (s (1 + gamma)) + (beta + t (1 + gamma)). Computed in double.
int64_t spade_norm(ModelGraph& g, int64_t x, int64_t side, MapsBySize& maps, SpadeNormImpl& n) {
  const auto& bn = n.norm->options;
  check_input(bn.track_running_stats(), "spade: a normalisation without running statistics cannot be exported");
  const auto& go = n.gamma->options;
  const auto& bo = n.beta->options;
  check_input(n.gamma->weight.sizes() == n.beta->weight.sizes() && n.gamma->bias.defined() && n.beta->bias.defined() &&
                  first(go.stride()) == first(bo.stride()) &&
                  explicit_padding(go.padding()) == explicit_padding(bo.padding()),
              "spade: gamma and beta must be alike convolutions with biases");
  const int64_t a = unary(g, Op::kRelu, conv(g, maps.at(g, side), *n.shared));
  auto f64 = [](const torch::Tensor& t) { return t.detach().to(torch::kFloat64); };
  torch::Tensor s = 1 / (f64(n.norm->running_var) + bn.eps()).sqrt();
  torch::Tensor t = -f64(n.norm->running_mean) * s;
  if (bn.affine()) {
    t = t * f64(n.norm->weight) + f64(n.norm->bias);
    s = s * f64(n.norm->weight);
  }
  const torch::Tensor wg = f64(n.gamma->weight), bg = f64(n.gamma->bias) + 1;  // the "1 +"
  const torch::Tensor wb = f64(n.beta->weight), bb = f64(n.beta->bias);
  auto per_out = [](const torch::Tensor& v) { return v.view({-1, 1, 1, 1}); };
  const int64_t gamma = conv(g, a, *n.gamma);
  g.ops[static_cast<size_t>(gamma)].weight = (wg * per_out(s)).to(torch::kFloat32).contiguous();
  g.ops[static_cast<size_t>(gamma)].bias = (bg * s).to(torch::kFloat32).contiguous();
  const int64_t beta = conv(g, a, *n.beta);
  g.ops[static_cast<size_t>(beta)].weight = (wb + wg * per_out(t)).to(torch::kFloat32).contiguous();
  g.ops[static_cast<size_t>(beta)].bias = (bb + bg * t).to(torch::kFloat32).contiguous();
  return g.add(GraphOp{Op::kAdd, {g.add(GraphOp{Op::kMul, {x, gamma}}), beta}});
}

// x_s + conv1(lrelu(SPADE(conv0(lrelu(SPADE(x)))))), x_s = conv_s(SPADE(x)) or x.
int64_t spade_block(ModelGraph& g, int64_t x, int64_t side, MapsBySize& maps, SpadeBlockImpl& b) {
  const int64_t shortcut = b.conv_s ? conv(g, spade_norm(g, x, side, maps, *b.norm_s), *b.conv_s) : x;
  int64_t dx = conv(g, leaky_relu(g, spade_norm(g, x, side, maps, *b.norm0), 0.2), *b.conv0);
  dx = conv(g, leaky_relu(g, spade_norm(g, dx, side, maps, *b.norm1), 0.2), *b.conv1);
  return g.add(GraphOp{Op::kAdd, {shortcut, dx}});
}

// ---------------------------------------------------------------------------------
// The U-Nets.

}  // namespace

ModelGraph extract_mask_generator_graph(SpadeGeneratorImpl& net) {
  torch::NoGradGuard no_grad;
  const SpadeOptions& o = net.options;
  ModelGraph g;
  g.family = "spade";
  g.kind = LKRT_KIND_MASK_GENERATOR;
  g.latent_dim = o.latent_dim();
  g.num_classes = o.classes();
  g.image_shape = {o.channels(), o.image_size(), o.image_size()};
  g.palette = map_palette(o.palette());
  check_input(g.palette.size() == o.classes(), "spade: the model has " + std::to_string(o.classes()) + " classes, its " +
                                                   o.palette() + " palette " + std::to_string(g.palette.size()));
  const int64_t z = g.add(GraphOp{Op::kInput});
  MapsBySize maps;
  maps.input = input(g, InputRole::kLabelMap, o.classes());
  maps.side = o.image_size();
  GraphOp reshape{Op::kReshape, {gemm(g, z, *net.fc)}};
  reshape.shape = {net.fc->options.out_features() / 16, 4, 4};
  int64_t x = g.add(std::move(reshape)), side = 4;
  for (size_t i = 0; i < net.blocks->size(); ++i) {
    if (i > 0) {
      GraphOp up{Op::kUpsampleNearest, {x}};
      up.stride = 2;
      x = g.add(std::move(up));
      side *= 2;
    }
    x = spade_block(g, x, side, maps, *net.blocks[i]->as<SpadeBlock>());
  }
  check_input(side == o.image_size(), "spade: the blocks end at " + std::to_string(side) + " px, not the image size");
  unary(g, Op::kTanh, conv(g, leaky_relu(g, x, 0.2), *net.to_image));
  return g;
}

ModelGraph extract_wallpaper_graph(PsganGeneratorImpl& net, std::vector<std::pair<std::string, torch::Tensor>> moods) {
  torch::NoGradGuard no_grad;
  const PsganOptions& o = net.options;
  ModelGraph g;
  g.family = "psgan";
  g.kind = LKRT_KIND_WALLPAPER;
  g.latent_dim = o.global_dim();
  g.image_shape = {o.channels(), o.crop(), o.crop()};
  GraphWallpaper& w = g.wallpaper;
  w.local_dim = o.local_dim();
  w.global_dim = o.global_dim();
  w.periodic_dim = o.periodic_dim();
  w.cell = o.cell();
  w.reach = kPsganReach;
  auto* fc1 = net.wave[0]->as<nn::Linear>();
  auto* fc2 = net.wave[2]->as<nn::Linear>();
  check_input(fc1 && fc2 && net.wave[1]->as<nn::ReLU>(), "psgan: the wave MLP is not Linear, ReLU, Linear");
  w.weight1 = detached(fc1->weight);
  w.bias1 = detached(fc1->bias);
  w.weight2 = detached(fc2->weight);
  w.bias2 = detached(fc2->bias);
  w.moods = std::move(moods);
  // The stack up to its last module, a Functional (tanh): PsganGeneratorImpl::reset.
  const int64_t x = input(g, InputRole::kGrid, o.grid_channels());
  const size_t n = net.main->size();
  check_input(n > 0 && net.main[n - 1]->as<nn::Functional>() != nullptr, "psgan: the stack does not end in its tanh");
  unary(g, Op::kTanh, append_sequential(*net.main, g, x, n - 1));
  return g;
}

std::vector<std::pair<std::string, torch::Tensor>> read_wallpaper_moods(const std::string& path, int64_t global_dim) {
  std::vector<std::pair<std::string, torch::Tensor>> moods;
  if (!path_exists(path)) return moods;
  const nlohmann::json j = read_json(path);
  const auto bad = [&](const std::string& what) {
    return Error(path + ": " + what + " (expected {\"moods\": [{\"name\": \"warm\", \"shift\": [" +
                 std::to_string(global_dim) + " numbers]}, ...]}; make it with latentkit wallpaper moods)");
  };
  if (!j.is_object() || !j.contains("moods") || !j["moods"].is_array()) throw bad("no \"moods\" array");
  for (const nlohmann::json& m : j["moods"]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !m.contains("shift") || !m["shift"].is_array())
      throw bad("a mood without a name or a shift");
    std::vector<float> shift;
    for (const nlohmann::json& v : m["shift"]) {
      if (!v.is_number()) throw bad("mood " + m["name"].get<std::string>() + "'s shift holds something other than numbers");
      shift.push_back(v.get<float>());
    }
    if (static_cast<int64_t>(shift.size()) != global_dim)
      throw bad("mood " + m["name"].get<std::string>() + " shifts " + std::to_string(shift.size()) + " values, the model's global vector has " +
                std::to_string(global_dim));
    moods.emplace_back(m["name"].get<std::string>(), torch::tensor(shift, torch::kFloat32));
  }
  return moods;
}

ModelGraph extract_enhancer_graph(Pix2pixGeneratorImpl& net) {
  torch::NoGradGuard no_grad;
  const Pix2pixOptions& o = net.options;
  const int64_t depth = o.levels(), multiple = int64_t{1} << depth;
  ModelGraph g;
  g.family = "pix2pix";
  g.kind = LKRT_KIND_ENHANCER;
  g.pad_multiple = multiple;
  const int64_t side = (o.image_size() + multiple - 1) / multiple * multiple;
  g.image_shape = {o.channels(), side, side};
  const int64_t x = input(g, InputRole::kImage, o.channels());
  std::vector<int64_t> skips;
  int64_t y = x;
  for (int64_t i = 0; i < depth; ++i) {
    y = append_sequential(*net.down[i]->as<nn::Sequential>(), g, y);
    skips.push_back(y);
  }
  y = append_sequential(*net.up[depth - 1]->as<nn::Sequential>(), g, y);
  for (int64_t i = depth - 2; i >= 0; --i)
    y = append_sequential(*net.up[i]->as<nn::Sequential>(), g, g.add(GraphOp{Op::kConcat, {y, skips[i]}}));
  if (o.residual()) g.add(GraphOp{Op::kAdd, {y, x}});
  return g;
}

namespace {

int64_t res_block(ModelGraph& g, int64_t x, int64_t temb, ResBlockImpl& b) {
  int64_t h = conv(g, unary(g, Op::kSilu, group_norm(g, x, *b.norm1)), *b.conv1);
  h = g.add(GraphOp{Op::kAdd, {h, gemm(g, temb, *b.time)}});
  h = conv(g, unary(g, Op::kSilu, group_norm(g, h, *b.norm2)), *b.conv2);  // dropout: identity
  return g.add(GraphOp{Op::kAdd, {b.skip ? conv(g, x, *b.skip) : x, h}});
}

int64_t attention_block(ModelGraph& g, int64_t x, AttentionImpl& a) {
  GraphOp op{Op::kAttention, {conv(g, group_norm(g, x, *a.norm), *a.qkv)}};
  op.channels = a.channels;
  op.groups = 1;  // heads
  op.alpha = 1.0 / std::sqrt(static_cast<double>(a.channels));
  return g.add(GraphOp{Op::kAdd, {x, conv(g, g.add(std::move(op)), *a.proj)}});
}

ModelGraph unet_graph(DdpmModel& model) {
  UNetImpl& net = *model.net();
  const UNetOptions& o = net.options;
  const DdpmOptions& d = model.options();
  ModelGraph g;
  g.family = model.family();
  g.kind = LKRT_KIND_DENOISER;
  g.latent_dim = model.latent_dim();
  g.num_classes = o.num_classes();
  g.image_shape = model.image_shape();
  g.diffusion.schedule = d.schedule == ScheduleKind::kLinear ? 1 : 2;
  g.diffusion.timesteps = static_cast<uint32_t>(d.timesteps);
  g.diffusion.prediction = d.prediction == Prediction::kV ? 1 : 0;
  g.diffusion.tasks = (model.has_task("inpaint") ? 1 : 0) | (model.has_task("restore") ? 2 : 0);
  g.diffusion.sample_steps = static_cast<uint32_t>(d.sample_steps);

  const int64_t x = input(g, InputRole::kImage, o.channels()), t = input(g, InputRole::kTimestep);
  const int64_t label = o.num_classes() > 0 ? input(g, InputRole::kLabel) : -1;
  const int64_t cond = o.cond_channels() > 0 ? input(g, InputRole::kCondition, o.cond_channels()) : -1;
  const int64_t text = net.has_text() ? input(g, InputRole::kText, o.text().width()) : -1;
  GraphOp embed{Op::kTimestepEmbedding, {t}};
  embed.dim = o.width();
  int64_t temb = append_sequential(*net.time_mlp, g, g.add(std::move(embed)));
  if (net.class_embed) {
    GraphOp table{Op::kEmbedding, {label}};
    table.weight = detached(net.class_embed->weight);
    temb = g.add(GraphOp{Op::kAdd, {temb, g.add(std::move(table))}});
  }
  if (net.text_embed) {
    temb = g.add(GraphOp{Op::kAdd, {temb, gemm(g, text, *net.text_embed)}});
    g.text_encoder = net.text_encoder;
    g.null_text = detached(net.null_text);
    g.vocab = d.tokenizer.vocabulary();
  }
  int64_t h = conv(g, cond >= 0 ? g.add(GraphOp{Op::kConcat, {x, cond}}) : x, *net.conv_in);
  std::vector<int64_t> skips{h};
  const auto levels = static_cast<int64_t>(o.mults().size());
  size_t block = 0, attn = 0;
  for (int64_t level = 0; level < levels; ++level) {
    for (int64_t i = 0; i < o.res_blocks(); ++i) {
      h = res_block(g, h, temb, *net.down[block++]->as<ResBlock>());
      if (level == levels - 1) h = attention_block(g, h, *net.down_attn[attn++]->as<Attention>());
      skips.push_back(h);
    }
    if (level < levels - 1) {
      h = conv(g, h, *net.downsample[level]->as<nn::Conv2d>());
      skips.push_back(h);
    }
  }
  h = res_block(g, attention_block(g, res_block(g, h, temb, *net.mid1), *net.mid_attn), temb, *net.mid2);
  block = attn = 0;
  for (int64_t level = levels - 1; level >= 0; --level) {
    for (int64_t i = 0; i <= o.res_blocks(); ++i) {
      h = res_block(g, g.add(GraphOp{Op::kConcat, {h, skips.back()}}), temb, *net.up[block++]->as<ResBlock>());
      skips.pop_back();
      if (level == levels - 1) h = attention_block(g, h, *net.up_attn[attn++]->as<Attention>());
    }
    if (level > 0) {
      GraphOp up{Op::kUpsampleNearest, {h}};
      up.stride = 2;
      h = conv(g, g.add(std::move(up)), *net.upsample[levels - 1 - level]->as<nn::Conv2d>());
    }
  }
  conv(g, unary(g, Op::kSilu, group_norm(g, h, *net.norm_out)), *net.conv_out);
  return g;
}

}  // namespace

ModelGraph extract_graph(Generator& generator) {
  torch::NoGradGuard no_grad;
  ModelGraph g;
  g.family = generator.family();
  g.latent_dim = generator.latent_dim();
  g.num_classes = generator.num_classes();
  g.image_shape = generator.image_shape();
  if (auto* ddpm = dynamic_cast<DdpmModel*>(&generator)) return unet_graph(*ddpm);
  GraphOp in{Op::kInput};
  if (auto* dcgan = dynamic_cast<DcganModel*>(&generator)) {
    DcganGenerator& net = dcgan->net();
    if (g.num_classes > 0) in.weight = detached(net->embed->weight);
    int64_t x = g.add(std::move(in));
    if (net->options.preset() == "dcgan") {
      GraphOp reshape{Op::kReshape, {x}};
      reshape.shape = {g.latent_dim + (g.num_classes > 0 ? g.ops[0].weight.size(1) : 0), 1, 1};
      x = g.add(std::move(reshape));
    }
    append_sequential(*net->main, g, x);
  } else if (auto* vae = dynamic_cast<VaeModel*>(&generator)) {
    Vae& net = vae->net();
    if (g.num_classes > 0) in.weight = torch::eye(g.num_classes);  // one-hot
    int64_t x = append_sequential(*net->decoder, g, g.add(std::move(in)));
    GraphOp affine{Op::kAffine, {unary(g, Op::kSigmoid, x)}};
    affine.alpha = 2.0;  // 2 sigmoid(logits) - 1
    affine.beta = -1.0;
    g.add(std::move(affine));
  } else {
    throw Error("a " + g.family + " model cannot be exported (exportable: dcgan, dcgan-upsample, cgan, vae, cvae, ddpm, "
                "cddpm, t2i, pix2pix, spade, psgan)");
  }
  return g;
}

RunModel load_run_model(const std::string& run_dir) {
  RunModel m;
  const std::string family = run_family(run_dir);
  if (family == "pix2pix")
    m.enhancer = load_pix2pix(run_dir).net;
  else if (family == "spade")
    m.spade = load_spade(run_dir).net;
  else
    m.generator = load_generator(run_dir);
  if (auto* psgan = dynamic_cast<PsganModel*>(m.generator.get()))
    m.moods = read_wallpaper_moods(run_dir + "/moods.json", psgan->net()->options.global_dim());
  return m;
}

ModelGraph extract_graph(RunModel& model) {
  if (model.enhancer) return extract_enhancer_graph(*model.enhancer);
  if (model.spade) return extract_mask_generator_graph(*model.spade);
  if (auto* psgan = dynamic_cast<PsganModel*>(model.generator.get())) return extract_wallpaper_graph(*psgan->net(), model.moods);
  return extract_graph(*model.generator);
}

ModelGraph extract_run_graph(const std::string& run_dir) {
  RunModel model = load_run_model(run_dir);
  return extract_graph(model);
}

double normalised_error(const torch::Tensor& got, const torch::Tensor& want) {
  const torch::Tensor w = want.to(torch::kFloat64);
  return (got.to(torch::kFloat64) - w).pow(2).sum().item<double>() / std::max(w.pow(2).sum().item<double>(), 1e-300);
}

torch::Tensor run_graph(const ModelGraph& g, const GraphInputs& in) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> values;
  values.reserve(g.ops.size());
  for (const GraphOp& op : g.ops) {
    auto v = [&](size_t k) -> const torch::Tensor& { return values[static_cast<size_t>(op.inputs[k])]; };
    torch::Tensor y;
    switch (op.op) {
      case Op::kInput:
        switch (op.role) {
          case InputRole::kLatent: {
            check_input(in.z.defined() && in.z.dim() == 2 && in.z.size(1) == g.latent_dim, "run_graph: z must be [N, latent_dim]");
            y = in.z.to(torch::kFloat32);
            if (op.weight.defined()) {
              check_input(in.labels.defined() && in.labels.size(0) == in.z.size(0), "run_graph: one label per latent");
              y = torch::cat({y, op.weight.index_select(0, in.labels.to(torch::kInt64))}, 1);
            }
            y = y.view({y.size(0), y.size(1), 1, 1});
            break;
          }
          case InputRole::kImage: y = in.image.to(torch::kFloat32); break;
          case InputRole::kGrid:
            check_input(in.grid.defined() && in.grid.dim() == 4 && in.grid.size(1) == op.channels,
                        "run_graph: grid must be [N, " + std::to_string(op.channels) + ", cells_h, cells_w]");
            y = in.grid.to(torch::kFloat32);
            break;
          case InputRole::kCondition: y = in.cond.to(torch::kFloat32); break;
          case InputRole::kTimestep: y = in.t.to(torch::kFloat32).view({-1, 1, 1, 1}); break;
          case InputRole::kLabel: y = in.labels.to(torch::kFloat32).view({-1, 1, 1, 1}); break;
          case InputRole::kText:
            check_input(in.text.defined() && in.text.dim() == 2 && in.text.size(1) == op.channels,
                        "run_graph: text must be [N, " + std::to_string(op.channels) + "]");
            y = in.text.to(torch::kFloat32).view({-1, op.channels, 1, 1});
            break;
          case InputRole::kLabelMap:
            check_input(in.maps.defined() && in.maps.dim() == 3 && in.maps.size(1) == g.image_shape[1] &&
                            in.maps.size(2) == g.image_shape[2],
                        "run_graph: maps must be class ids [N, " + std::to_string(g.image_shape[1]) + ", " +
                            std::to_string(g.image_shape[2]) + "]");
            y = one_hot_maps(in.maps, op.channels);
            break;
          default: throw Error("run_graph: unknown input role", ErrorKind::kInternal);
        }
        check_input(y.defined(), "run_graph: an input of the graph was not given");
        break;
      case Op::kGemm: y = F::linear(v(0).flatten(1), op.weight, op.bias).view({-1, op.weight.size(0), 1, 1}); break;
      case Op::kConv2d:
        y = F::conv2d(v(0), op.weight, F::Conv2dFuncOptions().bias(op.bias).stride(op.stride).padding(op.padding));
        break;
      case Op::kConvTranspose2d:
        y = F::conv_transpose2d(v(0), op.weight,
                                F::ConvTranspose2dFuncOptions().bias(op.bias).stride(op.stride).padding(op.padding));
        break;
      case Op::kUpsampleNearest: {
        const double s = static_cast<double>(op.stride);
        y = F::interpolate(v(0), F::InterpolateFuncOptions().scale_factor(std::vector<double>{s, s}).mode(torch::kNearest));
        break;
      }
      case Op::kRelu: y = torch::relu(v(0)); break;
      case Op::kLeakyRelu: y = F::leaky_relu(v(0), F::LeakyReLUFuncOptions().negative_slope(op.alpha)); break;
      case Op::kTanh: y = torch::tanh(v(0)); break;
      case Op::kSigmoid: y = torch::sigmoid(v(0)); break;
      case Op::kSilu: y = torch::silu(v(0)); break;
      case Op::kAffine: y = v(0) * op.alpha + op.beta; break;
      case Op::kReshape: {
        std::vector<int64_t> shape = {v(0).size(0)};
        shape.insert(shape.end(), op.shape.begin(), op.shape.end());
        shape.resize(4, 1);
        y = v(0).reshape(shape);
        break;
      }
      case Op::kGroupNorm: y = F::group_norm(v(0), F::GroupNormFuncOptions(op.groups).weight(op.weight).bias(op.bias).eps(op.alpha)); break;
      case Op::kAdd: y = v(0) + v(1); break;
      case Op::kMul: y = v(0) * v(1); break;
      case Op::kDownsampleNearest:  // in[i f][j f]: PyTorch's nearest to size H / f x W / f
        y = v(0).slice(2, 0, v(0).size(2), op.stride).slice(3, 0, v(0).size(3), op.stride);
        break;
      case Op::kConcat: {
        std::vector<torch::Tensor> parts;
        for (size_t k = 0; k < op.inputs.size(); ++k) parts.push_back(v(k));
        y = torch::cat(parts, 1);
        break;
      }
      case Op::kAttention: {
        const torch::Tensor& x = v(0);
        const int64_t n = x.size(0), c = op.channels, heads = op.groups, d = c / heads, hw = x.size(2) * x.size(3);
        std::vector<torch::Tensor> qkv = x.reshape({n, 3, heads, d, hw}).unbind(1);  // [N, heads, d, HW] each
        torch::Tensor w = torch::softmax(torch::matmul(qkv[0].transpose(2, 3), qkv[1]) * op.alpha, -1);  // [N, heads, HW, HW]
        y = torch::matmul(qkv[2], w.transpose(2, 3)).reshape({n, c, x.size(2), x.size(3)});
        break;
      }
      case Op::kTimestepEmbedding: {
        const torch::Tensor e = timestep_embedding(v(0).flatten(), op.dim);
        y = e.view({e.size(0), e.size(1), 1, 1});
        break;
      }
      case Op::kEmbedding:
        y = op.weight.index_select(0, v(0).flatten().to(torch::kInt64));
        y = y.view({y.size(0), y.size(1), 1, 1});
        break;
      default: throw Error(std::string("run_graph: op ") + lkrt::op_name(op.op) + " not handled", ErrorKind::kInternal);
    }
    values.push_back(y);
  }
  return values.back();
}

}  // namespace latentkit
