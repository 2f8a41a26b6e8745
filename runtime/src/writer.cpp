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
  require_positive(info.latent_dim, "latent_dim");
  require_positive(info.channels, "channels");
  require_positive(info.height, "height");
  require_positive(info.width, "width");
  info_ = info;
}

uint32_t ModelWriter::add_fp32_tensor(const float* data, std::vector<uint32_t> dims) {
  Tensor t;
  t.dtype = uint32_t(format::DType::kFp32);
  size_t n = 1;
  for (uint32_t d : dims) n *= d;
  t.bytes.resize(n * 4);
  for (size_t i = 0; i < n; ++i) format::write_f32(&t.bytes[4 * i], data[i]);
  t.dims = std::move(dims);
  tensors_.push_back(std::move(t));
  return uint32_t(tensors_.size() - 1);
}

uint32_t ModelWriter::add_weight_tensor(const float* data, std::vector<uint32_t> dims, uint32_t channel_axis,
                                        WeightType type) {
  weight_types_.push_back(type);
  if (type == WeightType::kFp32) return add_fp32_tensor(data, std::move(dims));
  Tensor t;
  size_t n = 1;
  for (uint32_t d : dims) n *= d;
  if (type == WeightType::kFp16) {
    t.dtype = uint32_t(format::DType::kFp16);
    t.bytes.resize(n * 2);
    for (size_t i = 0; i < n; ++i) {
      uint16_t h = format::float_to_half(data[i]);
      t.bytes[2 * i] = uint8_t(h);
      t.bytes[2 * i + 1] = uint8_t(h >> 8);
    }
  } else if (type == WeightType::kInt8) {
    // Per output channel symmetric: scale = max|w| / 127, q = round(w / scale) in [-127, 127].
    t.dtype = uint32_t(format::DType::kInt8);
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

void ModelWriter::add_input() {
  Op op;
  op.type = uint32_t(format::OpType::kInput);
  num_classes_ = 0;
  embed_dim_ = 0;
  ops_.push_back(op);
}

void ModelWriter::add_input(const float* embedding, int32_t num_classes, int32_t embed_dim) {
  if (embedding == nullptr && num_classes == 0 && embed_dim == 0) return add_input();
  require(embedding != nullptr, "add_input: embedding table is null");
  require_positive(num_classes, "num_classes");
  require_positive(embed_dim, "embed_dim");
  Op op;
  op.type = uint32_t(format::OpType::kInput);
  op.tensors[0] = add_fp32_tensor(embedding, {uint32_t(num_classes), uint32_t(embed_dim)});
  num_classes_ = num_classes;
  embed_dim_ = embed_dim;
  ops_.push_back(op);
}

void ModelWriter::add_gemm(const float* weight, int32_t out, int32_t in, const float* bias, WeightType type) {
  require(weight != nullptr, "add_gemm: weight is null");
  require_positive(out, "gemm out");
  require_positive(in, "gemm in");
  Op op;
  op.type = uint32_t(format::OpType::kGemm);
  op.ints[0] = uint32_t(out);
  op.ints[1] = uint32_t(in);
  op.tensors[0] = add_weight_tensor(weight, {uint32_t(out), uint32_t(in)}, 0, type);
  if (bias) op.tensors[1] = add_fp32_tensor(bias, {uint32_t(out)});
  ops_.push_back(op);
}

void ModelWriter::add_convolution(bool transposed, const float* weight, int32_t out, int32_t in, int32_t kernel,
                                  int32_t stride, int32_t padding, const float* bias, WeightType type) {
  const std::string name = transposed ? "conv_transpose2d" : "conv2d";
  require(weight != nullptr, "add_" + name + ": weight is null");
  require_positive(out, name + " out");
  require_positive(in, name + " in");
  require_positive(kernel, name + " kernel");
  require_positive(stride, name + " stride");
  require(padding >= 0, name + " padding must be >= 0");
  Op op;
  op.type = uint32_t(transposed ? format::OpType::kConvTranspose2d : format::OpType::kConv2d);
  uint32_t ints[5] = {uint32_t(out), uint32_t(in), uint32_t(kernel), uint32_t(stride), uint32_t(padding)};
  std::copy(ints, ints + 5, op.ints);
  // PyTorch's layouts: conv2d [out, in, k, k], conv_transpose2d [in, out, k, k]; int8 scales
  // follow the output channel.
  const uint32_t a = uint32_t(transposed ? in : out), b = uint32_t(transposed ? out : in);
  op.tensors[0] = add_weight_tensor(weight, {a, b, uint32_t(kernel), uint32_t(kernel)}, transposed ? 1 : 0, type);
  if (bias) op.tensors[1] = add_fp32_tensor(bias, {uint32_t(out)});
  ops_.push_back(op);
}

void ModelWriter::add_conv2d(const float* weight, int32_t out, int32_t in, int32_t kernel, int32_t stride,
                             int32_t padding, const float* bias, WeightType type) {
  add_convolution(false, weight, out, in, kernel, stride, padding, bias, type);
}

void ModelWriter::add_conv_transpose2d(const float* weight, int32_t in, int32_t out, int32_t kernel,
                                       int32_t stride, int32_t padding, const float* bias, WeightType type) {
  add_convolution(true, weight, out, in, kernel, stride, padding, bias, type);
}

void ModelWriter::add_upsample_nearest(int32_t scale) {
  require_positive(scale, "upsample scale");
  Op op;
  op.type = uint32_t(format::OpType::kUpsampleNearest);
  op.ints[0] = uint32_t(scale);
  ops_.push_back(op);
}

void ModelWriter::add_activation(Activation kind, float param) {
  Op op;
  switch (kind) {
    case Activation::kRelu: op.type = uint32_t(format::OpType::kRelu); break;
    case Activation::kLeakyRelu:
      op.type = uint32_t(format::OpType::kLeakyRelu);
      op.floats[0] = param;
      break;
    case Activation::kTanh: op.type = uint32_t(format::OpType::kTanh); break;
    case Activation::kSigmoid: op.type = uint32_t(format::OpType::kSigmoid); break;
    default: require(false, "unknown activation " + std::to_string(uint32_t(kind)));
  }
  ops_.push_back(op);
}

void ModelWriter::add_affine(float a, float b) {
  Op op;
  op.type = uint32_t(format::OpType::kAffine);
  op.floats[0] = a;
  op.floats[1] = b;
  ops_.push_back(op);
}

void ModelWriter::add_reshape(int32_t c, int32_t h, int32_t w) {
  require_positive(c, "reshape c");
  require_positive(h, "reshape h");
  require_positive(w, "reshape w");
  Op op;
  op.type = uint32_t(format::OpType::kReshape);
  op.ints[0] = uint32_t(c);
  op.ints[1] = uint32_t(h);
  op.ints[2] = uint32_t(w);
  ops_.push_back(op);
}

std::string ModelWriter::serialize_unchecked() const {
  using namespace format;
  const uint64_t op_table = kHeaderSize;
  const uint64_t tensor_table = op_table + uint64_t(ops_.size()) * kOpRecordSize;
  uint64_t cursor = align_up(tensor_table + uint64_t(tensors_.size()) * kTensorRecordSize);
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
    for (WeightType t : weight_types_)
      if (uint32_t(t) != weight_type) weight_type = LKRT_WEIGHT_MIXED;
  }
  std::memcpy(p + kHMagic, kMagic, 8);
  write_u32(p + kHVersion, kVersion);
  write_u32(p + kHHeaderSize, kHeaderSize);
  write_u64(p + kHFileSize, file_size);
  write_u32(p + kHFlags, 0);
  write_u32(p + kHLatentDim, uint32_t(info_.latent_dim));
  write_u32(p + kHNumClasses, uint32_t(num_classes_));
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

  for (size_t i = 0; i < ops_.size(); ++i) {
    uint8_t* r = p + op_table + i * kOpRecordSize;
    const Op& op = ops_[i];
    write_u32(r + kOType, op.type);
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
