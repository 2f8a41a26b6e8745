#include "lkrt_writer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include "format.h"
#include "lkrt.h"

namespace lkrt {

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("lkrt::ModelWriter: " + what);
}

void require_positive(int32_t v, const std::string& name) {
  require(v > 0, name + " must be > 0, got " + std::to_string(v));
}

uint64_t align_up(uint64_t v) { return (v + format::kAlign - 1) / format::kAlign * format::kAlign; }

}  // namespace

void ModelWriter::set_info(const ModelInfo& info) {
  require(info.model_id.size() <= format::kModelIdMax,
          "model id is " + std::to_string(info.model_id.size()) + " bytes, at most 64 allowed");
  require(info.latent_dim >= 0, "latent_dim must be >= 0");
  require_positive(info.channels, "channels");
  require_positive(info.height, "height");
  require_positive(info.width, "width");
  info_ = info;
}

void ModelWriter::set_enhancer(int32_t pad_multiple) {
  require(pad_multiple >= 1 && pad_multiple <= 1024, "pad multiple must be in 1..1024");
  kind_ = LKRT_KIND_ENHANCER;
  pad_multiple_ = pad_multiple;
}

void ModelWriter::set_denoiser(const DiffusionInfo& info) {
  require(info.schedule == 1 || info.schedule == 2, "schedule must be 1 (linear) or 2 (cosine)");
  require(info.timesteps >= 2, "timesteps must be >= 2");
  require(info.prediction <= 1, "prediction must be 0 (eps) or 1 (v)");
  require(info.tasks <= 3, "tasks is a mask of 1 (inpaint) and 2 (restore)");
  require(info.sample_steps >= 1 && info.sample_steps <= info.timesteps, "sample_steps must be in 1..timesteps");
  kind_ = LKRT_KIND_DENOISER;
  diffusion_ = info;
  num_classes_ = int32_t(info.num_classes);
}

void ModelWriter::set_text_encoder(const TextEncoderInfo& info, const TextEncoderWeights& weights, lkrt_weight_type type) {
  require(text_tensors_.empty(), "set_text_encoder: called twice");
  require(info.max_tokens > 0 && info.layers > 0 && info.width > 0 && info.heads > 0 && info.width % info.heads == 0,
          "set_text_encoder: max_tokens, layers, width > 0 and heads dividing width");
  require(info.eps > 0.0f, "set_text_encoder: epsilon must be > 0");
  require(info.vocab.size() >= 3 && info.vocab[0] == "<pad>" && info.vocab[1] == "<unk>",
          "set_text_encoder: a vocabulary of <pad>, <unk> and at least one word");
  for (size_t i = 2; i < info.vocab.size(); ++i) {
    const std::string& word = info.vocab[i];
    require(!word.empty() && word.size() <= 256 &&
                std::all_of(word.begin(), word.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }),
            "set_text_encoder: word '" + word + "' is not 1 to 256 lowercase letters and digits");
    require(i == 2 || info.vocab[i - 1] < word, "set_text_encoder: the words must be sorted and unique ('" + word + "')");
  }
  require(weights.layers.size() == size_t(info.layers), "set_text_encoder: weights for every layer");
  const uint32_t w = uint32_t(info.width), v = uint32_t(info.vocab.size());
  auto vec = [&](const float* data, uint32_t n) {
    require(data != nullptr, "set_text_encoder: a tensor is null");
    text_tensors_.push_back(add_fp32_tensor(data, {n}));
  };
  auto mat = [&](const float* data, uint32_t rows, uint32_t cols, lkrt_weight_type t) {
    require(data != nullptr, "set_text_encoder: a tensor is null");
    text_tensors_.push_back(t == LKRT_WEIGHT_FP32 ? add_fp32_tensor(data, {rows, cols})
                                                  : add_weight_tensor(data, {rows, cols}, 0, t));
  };
  mat(weights.token, v, w, LKRT_WEIGHT_FP32);
  mat(weights.position, uint32_t(info.max_tokens), w, LKRT_WEIGHT_FP32);
  vec(weights.ln_out_weight, w);
  vec(weights.ln_out_bias, w);
  vec(weights.null_text, w);
  for (const TextLayerWeights& l : weights.layers) {
    vec(l.ln1_weight, w);
    vec(l.ln1_bias, w);
    mat(l.qkv_weight, 3 * w, w, type);
    vec(l.qkv_bias, 3 * w);
    mat(l.proj_weight, w, w, type);
    vec(l.proj_bias, w);
    vec(l.ln2_weight, w);
    vec(l.ln2_bias, w);
    mat(l.fc1_weight, 4 * w, w, type);
    vec(l.fc1_bias, 4 * w);
    mat(l.fc2_weight, w, 4 * w, type);
    vec(l.fc2_bias, w);
  }
  text_ = info;
}

void ModelWriter::set_mask_generator(const PaletteInfo& palette) {
  const size_t k = palette.class_names.size();
  require(k >= 2 && k <= format::kPaletteMaxClasses && palette.colors.size() == k,
          "set_mask_generator: 2 to 256 classes, a name and a color each");
  auto name_ok = [](const std::string& name) {
    return !name.empty() && name.size() <= format::kPaletteMaxName &&
           std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  };
  require(name_ok(palette.name), "set_mask_generator: the palette's name '" + palette.name + "' is not 1 to 64 printable ASCII bytes");
  for (size_t i = 0; i < k; ++i) {
    require(name_ok(palette.class_names[i]), "set_mask_generator: class name '" + palette.class_names[i] +
                                                 "' is not 1 to 64 printable ASCII bytes");
    const auto& c = palette.colors[i];
    require(c[3] == 255 || (c[3] == 0 && !c[0] && !c[1] && !c[2]), "set_mask_generator: class " + std::to_string(i) +
                                                                       " has alpha 255, or is transparent #00000000");
    for (size_t j = 0; j < i; ++j)
      require(palette.colors[j] != c, "set_mask_generator: classes " + std::to_string(j) + " and " + std::to_string(i) +
                                          " have the same color");
  }
  kind_ = LKRT_KIND_MASK_GENERATOR;
  palette_ = palette;
}

void ModelWriter::set_wallpaper(const WallpaperInfo& info) {
  using namespace format;
  require(wallpaper_tensors_[0] == kNoTensor && kind_ != LKRT_KIND_WALLPAPER, "set_wallpaper: called twice");
  require(info.local_dim >= 0 && info.global_dim >= 1 && info.periodic_dim >= 0 &&
              uint32_t(info.local_dim) <= kWallpaperMaxDim && uint32_t(info.global_dim) <= kWallpaperMaxDim &&
              uint32_t(info.periodic_dim) <= kWallpaperMaxDim,
          "set_wallpaper: local and periodic dims 0 to 4096, the global dim 1 to 4096");
  require(info.periodic_dim == 0 ? info.hidden == 0 : info.hidden >= 1 && uint32_t(info.hidden) <= kWallpaperMaxDim,
          "set_wallpaper: a hidden width of 1 to 4096 with waves, 0 without");
  require(info.cell >= 2 && info.cell <= 64 && (info.cell & (info.cell - 1)) == 0, "set_wallpaper: a cell of 2 to 64 pixels, a power of 2");
  require(info.reach >= 1 && info.reach <= 8, "set_wallpaper: a reach of 1 to 8 cells");
  require(info.moods.size() <= kWallpaperMaxMoods, "set_wallpaper: at most 64 moods");
  for (size_t i = 0; i < info.moods.size(); ++i) {
    const std::string& name = info.moods[i].name;
    require(!name.empty() && name.size() <= kWallpaperMaxName &&
                std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c <= 0x7e; }),
            "set_wallpaper: mood name '" + name + "' is not 1 to 64 printable ASCII bytes without spaces");
    require(info.moods[i].shift.size() == size_t(info.global_dim),
            "set_wallpaper: mood '" + name + "' shifts " + std::to_string(info.moods[i].shift.size()) + " values, not global_dim");
    for (size_t j = 0; j < i; ++j) require(info.moods[j].name != name, "set_wallpaper: two moods named '" + name + "'");
  }
  if (info.periodic_dim > 0) {
    require(info.weight1 && info.bias1 && info.weight2 && info.bias2, "set_wallpaper: a wave MLP tensor is null");
    const uint32_t G = uint32_t(info.global_dim), H = uint32_t(info.hidden), P2 = 2 * uint32_t(info.periodic_dim);
    wallpaper_tensors_[0] = add_fp32_tensor(info.weight1, {H, G});
    wallpaper_tensors_[1] = add_fp32_tensor(info.bias1, {H});
    wallpaper_tensors_[2] = add_fp32_tensor(info.weight2, {P2, H});
    wallpaper_tensors_[3] = add_fp32_tensor(info.bias2, {P2});
  }
  kind_ = LKRT_KIND_WALLPAPER;
  wallpaper_ = info;
  wallpaper_.weight1 = wallpaper_.bias1 = wallpaper_.weight2 = wallpaper_.bias2 = nullptr;  // copied into tensors
}

uint32_t ModelWriter::add_fp32_tensor(const float* data, std::vector<uint32_t> dims) {
  Tensor t;
  t.dtype = LKRT_WEIGHT_FP32;
  size_t n = 1;
  for (uint32_t d : dims) n *= d;
  t.bytes.resize(n * 4);
  for (size_t i = 0; i < n; ++i) format::write_f32(&t.bytes[4 * i], data[i]);
  t.dims = std::move(dims);
  tensors_.push_back(std::move(t));
  return uint32_t(tensors_.size() - 1);
}

uint32_t ModelWriter::add_weight_tensor(const float* data, std::vector<uint32_t> dims, uint32_t channel_axis,
                                        lkrt_weight_type type) {
  weight_types_.push_back(type);
  if (type == LKRT_WEIGHT_FP32) return add_fp32_tensor(data, std::move(dims));
  Tensor t;
  size_t n = 1;
  for (uint32_t d : dims) n *= d;
  if (type == LKRT_WEIGHT_FP16) {
    t.dtype = LKRT_WEIGHT_FP16;
    t.bytes.resize(n * 2);
    for (size_t i = 0; i < n; ++i) {
      uint16_t h = format::float_to_half(data[i]);
      t.bytes[2 * i] = uint8_t(h);
      t.bytes[2 * i + 1] = uint8_t(h >> 8);
    }
  } else if (type == LKRT_WEIGHT_INT8) {
    // Per output channel symmetric: scale = max|w| / 127, q = round(w / scale) in [-127, 127].
    t.dtype = LKRT_WEIGHT_INT8;
    t.quant_axis = channel_axis;
    size_t channels = dims[channel_axis];
    size_t inner = 1;  // elements after the channel axis
    for (size_t a = channel_axis + 1; a < dims.size(); ++a) inner *= dims[a];
    size_t outer = n / (channels * inner);
    std::vector<float> maxabs(channels, 0.0f);
    for (size_t o = 0; o < outer; ++o)
      for (size_t c = 0; c < channels; ++c)
        for (size_t i = 0; i < inner; ++i)
          maxabs[c] = std::max(maxabs[c], std::fabs(data[(o * channels + c) * inner + i]));
    t.scales.resize(channels);
    for (size_t c = 0; c < channels; ++c) t.scales[c] = maxabs[c] / 127.0f;
    t.bytes.resize(n);
    for (size_t o = 0; o < outer; ++o)
      for (size_t c = 0; c < channels; ++c)
        for (size_t i = 0; i < inner; ++i) {
          size_t idx = (o * channels + c) * inner + i;
          float s = t.scales[c];
          float q = s > 0.0f ? std::round(data[idx] / s) : 0.0f;
          q = std::min(127.0f, std::max(-127.0f, q));
          t.bytes[idx] = uint8_t(int8_t(q));
        }
  } else {
    require(false, "unknown weight type " + std::to_string(uint32_t(type)));
  }
  t.dims = std::move(dims);
  tensors_.push_back(std::move(t));
  return uint32_t(tensors_.size() - 1);
}

ModelWriter::Value ModelWriter::last() const {
  require(!ops_.empty(), "the first op must be an input");
  return ops_.back().output;
}

ModelWriter::Value ModelWriter::push(OpRecord op) {
  for (Value v : op.inputs) require(v < ops_.size(), std::string(op_name(op.type)) + ": value " + std::to_string(v) + " is not defined");
  op.output = Value(ops_.size());
  ops_.push_back(op);
  return op.output;
}

ModelWriter::Value ModelWriter::input(InputRole role, int32_t channels) {
  require(role != InputRole::kLatent, "input: use input_latent for the latent");
  require(role < InputRole::kCount, "input: unknown role");
  require((role == InputRole::kImage || role == InputRole::kCondition || role == InputRole::kText ||
           role == InputRole::kLabelMap || role == InputRole::kGrid)
              ? channels > 0
              : channels == 0,
          "input: channels > 0 for the image, condition, text, label map and grid roles, 0 for the others");
  OpRecord op;
  op.type = Op::kInput;
  op.ints[0] = uint32_t(role);
  op.ints[1] = uint32_t(channels);
  return push(op);
}

ModelWriter::Value ModelWriter::input_latent(const float* embedding, int32_t num_classes, int32_t embed_dim) {
  OpRecord op;
  op.type = Op::kInput;
  op.ints[0] = uint32_t(InputRole::kLatent);
  num_classes_ = 0;
  embed_dim_ = 0;
  if (embedding != nullptr || num_classes != 0 || embed_dim != 0) {
    require(embedding != nullptr, "input_latent: embedding table is null");
    require_positive(num_classes, "num_classes");
    require_positive(embed_dim, "embed_dim");
    op.tensors[0] = add_fp32_tensor(embedding, {uint32_t(num_classes), uint32_t(embed_dim)});
    num_classes_ = num_classes;
    embed_dim_ = embed_dim;
  }
  return push(op);
}

ModelWriter::Value ModelWriter::gemm(Value x, const float* weight, int32_t out, int32_t in, const float* bias,
                                     lkrt_weight_type type) {
  require(weight != nullptr, "gemm: weight is null");
  require_positive(out, "gemm out");
  require_positive(in, "gemm in");
  OpRecord op;
  op.type = Op::kGemm;
  op.inputs = {x};
  op.ints[0] = uint32_t(out);
  op.ints[1] = uint32_t(in);
  op.tensors[0] = add_weight_tensor(weight, {uint32_t(out), uint32_t(in)}, 0, type);
  if (bias) op.tensors[1] = add_fp32_tensor(bias, {uint32_t(out)});
  return push(op);
}

ModelWriter::Value ModelWriter::convolution(Value x, bool transposed, const float* weight, int32_t out, int32_t in,
                                            int32_t kernel, int32_t stride, int32_t padding, const float* bias,
                                            lkrt_weight_type type) {
  const std::string name = transposed ? "conv_transpose2d" : "conv2d";
  require(weight != nullptr, name + ": weight is null");
  require_positive(out, name + " out");
  require_positive(in, name + " in");
  require_positive(kernel, name + " kernel");
  require_positive(stride, name + " stride");
  require(padding >= 0, name + " padding must be >= 0");
  OpRecord op;
  op.type = transposed ? Op::kConvTranspose2d : Op::kConv2d;
  op.inputs = {x};
  uint32_t ints[5] = {uint32_t(out), uint32_t(in), uint32_t(kernel), uint32_t(stride), uint32_t(padding)};
  std::copy(ints, ints + 5, op.ints);
  // PyTorch's layouts: conv2d [out, in, k, k], conv_transpose2d [in, out, k, k]; int8 scales
  // follow the output channel.
  const uint32_t a = uint32_t(transposed ? in : out), b = uint32_t(transposed ? out : in);
  op.tensors[0] = add_weight_tensor(weight, {a, b, uint32_t(kernel), uint32_t(kernel)}, transposed ? 1 : 0, type);
  if (bias) op.tensors[1] = add_fp32_tensor(bias, {uint32_t(out)});
  return push(op);
}

ModelWriter::Value ModelWriter::conv2d(Value x, const float* weight, int32_t out, int32_t in, int32_t kernel,
                                       int32_t stride, int32_t padding, const float* bias, lkrt_weight_type type) {
  return convolution(x, false, weight, out, in, kernel, stride, padding, bias, type);
}

ModelWriter::Value ModelWriter::conv_transpose2d(Value x, const float* weight, int32_t in, int32_t out, int32_t kernel,
                                                 int32_t stride, int32_t padding, const float* bias,
                                                 lkrt_weight_type type) {
  return convolution(x, true, weight, out, in, kernel, stride, padding, bias, type);
}

ModelWriter::Value ModelWriter::upsample_nearest(Value x, int32_t scale) {
  require_positive(scale, "upsample scale");
  OpRecord op;
  op.type = Op::kUpsampleNearest;
  op.inputs = {x};
  op.ints[0] = uint32_t(scale);
  return push(op);
}

ModelWriter::Value ModelWriter::activation(Value x, Activation kind, float param) {
  OpRecord op;
  op.inputs = {x};
  switch (kind) {
    case Activation::kRelu: op.type = Op::kRelu; break;
    case Activation::kLeakyRelu:
      op.type = Op::kLeakyRelu;
      op.floats[0] = param;
      break;
    case Activation::kTanh: op.type = Op::kTanh; break;
    case Activation::kSigmoid: op.type = Op::kSigmoid; break;
    case Activation::kSilu: op.type = Op::kSilu; break;
    default: require(false, "unknown activation " + std::to_string(uint32_t(kind)));
  }
  return push(op);
}

ModelWriter::Value ModelWriter::affine(Value x, float a, float b) {
  OpRecord op;
  op.type = Op::kAffine;
  op.inputs = {x};
  op.floats[0] = a;
  op.floats[1] = b;
  return push(op);
}

ModelWriter::Value ModelWriter::reshape(Value x, int32_t c, int32_t h, int32_t w) {
  require_positive(c, "reshape c");
  require_positive(h, "reshape h");
  require_positive(w, "reshape w");
  OpRecord op;
  op.type = Op::kReshape;
  op.inputs = {x};
  op.ints[0] = uint32_t(c);
  op.ints[1] = uint32_t(h);
  op.ints[2] = uint32_t(w);
  return push(op);
}

ModelWriter::Value ModelWriter::group_norm(Value x, int32_t groups, int32_t channels, float eps, const float* gamma,
                                           const float* beta) {
  require(gamma != nullptr && beta != nullptr, "group_norm: weight or bias is null");
  require(groups > 0 && channels > 0 && channels % groups == 0, "group_norm: the groups must divide the channels");
  require(eps > 0.0f, "group_norm: epsilon must be > 0");
  OpRecord op;
  op.type = Op::kGroupNorm;
  op.inputs = {x};
  op.ints[0] = uint32_t(groups);
  op.ints[1] = uint32_t(channels);
  op.floats[0] = eps;
  op.tensors[0] = add_fp32_tensor(gamma, {uint32_t(channels)});
  op.tensors[1] = add_fp32_tensor(beta, {uint32_t(channels)});
  return push(op);
}

ModelWriter::Value ModelWriter::add(Value a, Value b) {
  OpRecord op;
  op.type = Op::kAdd;
  op.inputs = {a, b};
  return push(op);
}

ModelWriter::Value ModelWriter::concat(const std::vector<Value>& values) {
  require(values.size() >= 2 && values.size() <= format::kOpInputs, "concat: 2 to 4 values");
  OpRecord op;
  op.type = Op::kConcat;
  op.inputs = values;
  return push(op);
}

ModelWriter::Value ModelWriter::attention(Value qkv, int32_t channels, int32_t heads, float scale) {
  require(channels > 0 && heads > 0 && channels % heads == 0, "attention: the heads must divide the channels");
  require(scale > 0.0f, "attention: scale must be > 0");
  OpRecord op;
  op.type = Op::kAttention;
  op.inputs = {qkv};
  op.ints[0] = uint32_t(heads);
  op.ints[1] = uint32_t(channels);
  op.floats[0] = scale;
  return push(op);
}

ModelWriter::Value ModelWriter::timestep_embedding(Value t, int32_t dim) {
  require(dim >= 2, "timestep_embedding: dim must be >= 2");
  OpRecord op;
  op.type = Op::kTimestepEmbedding;
  op.inputs = {t};
  op.ints[0] = uint32_t(dim);
  return push(op);
}

ModelWriter::Value ModelWriter::embedding(Value label, const float* table, int32_t rows, int32_t dim) {
  require(table != nullptr, "embedding: table is null");
  require_positive(rows, "embedding rows");
  require_positive(dim, "embedding dim");
  OpRecord op;
  op.type = Op::kEmbedding;
  op.inputs = {label};
  op.ints[0] = uint32_t(rows);
  op.ints[1] = uint32_t(dim);
  op.tensors[0] = add_fp32_tensor(table, {uint32_t(rows), uint32_t(dim)});
  return push(op);
}

ModelWriter::Value ModelWriter::mul(Value a, Value b) {
  OpRecord op;
  op.type = Op::kMul;
  op.inputs = {a, b};
  return push(op);
}

ModelWriter::Value ModelWriter::downsample_nearest(Value x, int32_t factor) {
  require_positive(factor, "downsample factor");
  OpRecord op;
  op.type = Op::kDownsampleNearest;
  op.inputs = {x};
  op.ints[0] = uint32_t(factor);
  return push(op);
}

std::string ModelWriter::serialize_unchecked() const {
  using namespace format;
  const uint64_t op_table = kHeaderSize;
  const uint64_t tensor_table = op_table + uint64_t(ops_.size()) * kOpRecordSize;
  uint64_t cursor = align_up(tensor_table + uint64_t(tensors_.size()) * kTensorRecordSize);
  // The text section: its fields, its tensors' indices, the words each NUL-terminated.
  std::string text;
  if (!text_tensors_.empty()) {
    text.assign(kXTensors + 4 * text_tensors_.size(), '\0');
    uint8_t* x = reinterpret_cast<uint8_t*>(&text[0]);
    write_u32(x + kXVocabSize, uint32_t(text_.vocab.size()));
    write_u32(x + kXMaxTokens, uint32_t(text_.max_tokens));
    write_u32(x + kXWidth, uint32_t(text_.width));
    write_u32(x + kXLayers, uint32_t(text_.layers));
    write_u32(x + kXHeads, uint32_t(text_.heads));
    write_u32(x + kXTensorCount, uint32_t(text_tensors_.size()));
    write_f32(x + kXEps, text_.eps);
    for (size_t i = 0; i < text_tensors_.size(); ++i) write_u32(x + kXTensors + 4 * i, text_tensors_[i]);
    for (const std::string& word : text_.vocab) text += word + '\0';
  }
  const uint64_t text_offset = text.empty() ? 0 : cursor;
  cursor = align_up(cursor + text.size());
  // The palette section: the class count, the colors, the palette's name and the class names.
  std::string palette;
  if (kind_ == LKRT_KIND_MASK_GENERATOR) {
    palette.assign(kPColors, '\0');
    write_u32(reinterpret_cast<uint8_t*>(&palette[0]) + kPClasses, uint32_t(palette_.class_names.size()));
    for (const auto& c : palette_.colors) palette.append(reinterpret_cast<const char*>(c.data()), 4);
    palette += palette_.name + '\0';
    for (const std::string& name : palette_.class_names) palette += name + '\0';
  }
  const uint64_t palette_offset = palette.empty() ? 0 : cursor;
  cursor = align_up(cursor + palette.size());
  // The wallpaper section: the sizes, the wave MLP's tensors, the moods' shifts and names.
  std::string wallpaper;
  if (kind_ == LKRT_KIND_WALLPAPER) {
    const WallpaperInfo& wp = wallpaper_;
    wallpaper.assign(kWShifts + 4 * wp.moods.size() * size_t(wp.global_dim), '\0');
    uint8_t* x = reinterpret_cast<uint8_t*>(&wallpaper[0]);
    write_u32(x + kWLocalDim, uint32_t(wp.local_dim));
    write_u32(x + kWGlobalDim, uint32_t(wp.global_dim));
    write_u32(x + kWPeriodicDim, uint32_t(wp.periodic_dim));
    write_u32(x + kWHidden, uint32_t(wp.hidden));
    write_u32(x + kWCell, uint32_t(wp.cell));
    write_u32(x + kWReach, uint32_t(wp.reach));
    write_u32(x + kWMoods, uint32_t(wp.moods.size()));
    for (uint32_t k = 0; k < 4; ++k) write_u32(x + kWTensors + 4 * k, wallpaper_tensors_[k]);
    for (size_t i = 0; i < wp.moods.size(); ++i)
      for (size_t j = 0; j < wp.moods[i].shift.size(); ++j)
        write_f32(x + kWShifts + 4 * (i * size_t(wp.global_dim) + j), wp.moods[i].shift[j]);
    for (const auto& mood : wp.moods) wallpaper += mood.name + '\0';
  }
  const uint64_t wallpaper_offset = wallpaper.empty() ? 0 : cursor;
  cursor = align_up(cursor + wallpaper.size());
  std::vector<uint64_t> offsets(tensors_.size()), scale_offsets(tensors_.size(), 0);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    offsets[i] = cursor;
    cursor = align_up(cursor + tensors_[i].bytes.size());
    if (!tensors_[i].scales.empty()) {
      scale_offsets[i] = cursor;
      cursor = align_up(cursor + tensors_[i].scales.size() * 4);
    }
  }
  const uint64_t file_size = cursor;
  std::string out(file_size, '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(&out[0]);

  uint32_t weight_type = LKRT_WEIGHT_FP32;
  if (!weight_types_.empty()) {
    weight_type = uint32_t(weight_types_[0]);
    for (lkrt_weight_type t : weight_types_)
      if (uint32_t(t) != weight_type) weight_type = LKRT_WEIGHT_MIXED;
  }
  std::memcpy(p + kHMagic, kMagic, 8);
  // What an older reader can read keeps its version: 2, 3 with text, 4 with a palette.
  write_u32(p + kHVersion, !wallpaper.empty() ? kVersion
                           : !palette.empty() ? kVersionPalette
                           : !text.empty()    ? kVersionText
                                              : kVersionNoText);
  write_u32(p + kHHeaderSize, kHeaderSize);
  write_u64(p + kHFileSize, file_size);
  write_u32(p + kHFlags, 0);
  write_u32(p + kHLatentDim, uint32_t(info_.latent_dim));
  write_u32(p + kHNumClasses, uint32_t(kind_ == LKRT_KIND_MASK_GENERATOR ? palette_.class_names.size() : num_classes_));
  write_u32(p + kHKind, uint32_t(kind_));
  write_u32(p + kHValueCount, uint32_t(ops_.size()));
  if (kind_ == LKRT_KIND_ENHANCER) write_u32(p + kHPadMultiple, uint32_t(pad_multiple_));
  if (kind_ == LKRT_KIND_DENOISER) {
    write_u32(p + kHSchedule, diffusion_.schedule);
    write_u32(p + kHTimesteps, diffusion_.timesteps);
    write_u32(p + kHPrediction, diffusion_.prediction);
    write_u32(p + kHTasks, diffusion_.tasks);
    write_u32(p + kHSampleSteps, diffusion_.sample_steps);
  }
  write_u32(p + kHEmbedDim, uint32_t(embed_dim_));
  write_u32(p + kHChannels, uint32_t(info_.channels));
  write_u32(p + kHHeight, uint32_t(info_.height));
  write_u32(p + kHWidth, uint32_t(info_.width));
  write_u32(p + kHWeightType, weight_type);
  write_u32(p + kHOpCount, uint32_t(ops_.size()));
  write_u32(p + kHTensorCount, uint32_t(tensors_.size()));
  write_u32(p + kHModelIdLength, uint32_t(info_.model_id.size()));
  write_u64(p + kHOpTableOffset, op_table);
  write_u64(p + kHTensorTableOffset, tensor_table);
  std::memcpy(p + kHModelId, info_.model_id.data(), info_.model_id.size());
  if (!text.empty()) {
    write_u64(p + kHTextOffset, text_offset);
    write_u64(p + kHTextSize, text.size());
    std::memcpy(p + text_offset, text.data(), text.size());
  }
  if (!wallpaper.empty()) {
    write_u64(p + kHWallpaperOffset, wallpaper_offset);
    write_u64(p + kHWallpaperSize, wallpaper.size());
    std::memcpy(p + wallpaper_offset, wallpaper.data(), wallpaper.size());
  }
  if (!palette.empty()) {
    write_u64(p + kHPaletteOffset, palette_offset);
    write_u64(p + kHPaletteSize, palette.size());
    std::memcpy(p + palette_offset, palette.data(), palette.size());
  }

  for (size_t i = 0; i < ops_.size(); ++i) {
    uint8_t* r = p + op_table + i * kOpRecordSize;
    const OpRecord& op = ops_[i];
    write_u32(r + kOType, uint32_t(op.type));
    for (uint32_t k = 0; k < kOpInputs; ++k) write_u32(r + kOInputs + 4 * k, k < op.inputs.size() ? op.inputs[k] : kNoValue);
    write_u32(r + kOOutput, op.output);
    for (uint32_t k = 0; k < kOpIntParams; ++k) write_u32(r + kOInts + 4 * k, op.ints[k]);
    for (uint32_t k = 0; k < kOpFloatParams; ++k) write_f32(r + kOFloats + 4 * k, op.floats[k]);
    for (uint32_t k = 0; k < kOpTensors; ++k) write_u32(r + kOTensors + 4 * k, op.tensors[k]);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    uint8_t* r = p + tensor_table + i * kTensorRecordSize;
    const Tensor& t = tensors_[i];
    write_u32(r + kTDType, t.dtype);
    write_u32(r + kTRank, uint32_t(t.dims.size()));
    for (size_t k = 0; k < t.dims.size(); ++k) write_u32(r + kTDims + 4 * k, t.dims[k]);
    write_u32(r + kTQuantAxis, t.quant_axis);
    write_u64(r + kTOffset, offsets[i]);
    write_u64(r + kTByteLength, t.bytes.size());
    write_u64(r + kTScaleOffset, scale_offsets[i]);
    if (!t.bytes.empty()) std::memcpy(p + offsets[i], t.bytes.data(), t.bytes.size());
    for (size_t c = 0; c < t.scales.size(); ++c) write_f32(p + scale_offsets[i] + 4 * c, t.scales[c]);
  }
  write_u32(p + kHCrc, file_crc(p, file_size));
  return out;
}

std::string ModelWriter::serialize() const {
  std::string bytes = serialize_unchecked();
  lkrt_model* model = nullptr;
  lkrt_status s = lkrt_model_load_memory(bytes.data(), bytes.size(), &model);
  if (s != LKRT_OK)
    throw std::runtime_error(std::string("lkrt::ModelWriter: the model would not load: ") + lkrt_last_error());
  lkrt_model_free(model);
  return bytes;
}

void ModelWriter::write(const std::string& path) const {
  std::string bytes = serialize();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("lkrt::ModelWriter: cannot open " + path + " for writing");
  f.write(bytes.data(), std::streamsize(bytes.size()));
  f.close();
  if (!f) throw std::runtime_error("lkrt::ModelWriter: writing " + path + " failed (disk full?)");
}

}  // namespace lkrt
