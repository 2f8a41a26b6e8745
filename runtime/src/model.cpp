// The .lkm loader and the executor behind the C API of lkrt.h.
#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "format.h"
#include "kernels.h"
#include "last_error.h"
#include "lkrt.h"
#include "thread_pool.h"

using lkrt::format::DType;
using lkrt::format::OpType;
using lkrt::set_error;
using lkrt::split_range;

namespace {
thread_local std::string g_last_error;
}  // namespace

lkrt_status lkrt::set_error(lkrt_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

namespace {

// Bounds that keep a hostile file from asking for unbounded memory or time.
constexpr uint32_t kMaxOps = 4096;
constexpr uint32_t kMaxTensors = 4096;
constexpr uint32_t kMaxDim = 1u << 20;         // latent_dim, classes, channels
constexpr uint32_t kMaxSide = 1u << 14;        // height, width
constexpr uint64_t kMaxActivation = 1u << 24;  // floats in one activation
constexpr uint64_t kMaxScratch = 1u << 26;     // floats in a scratch buffer
constexpr uint32_t kMaxKernel = 16;
constexpr uint32_t kMaxStride = 16;
constexpr uint32_t kMaxScale = 16;
constexpr uint64_t kMaxFileSize = uint64_t(1) << 32;

struct LoadError {
  lkrt_status status;
  std::string message;
};

[[noreturn]] void fail(lkrt_status status, const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  throw LoadError{status, buf};
}

// Overflow-checked arithmetic on sizes.
bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}
bool add_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (b > UINT64_MAX - a) return false;
  *out = a + b;
  return true;
}

template <class T>
struct AlignedArray {
  struct Free {
    void operator()(T* p) const { ::operator delete(p, std::align_val_t(64)); }
  };
  std::unique_ptr<T, Free> ptr;
  size_t size = 0;
  void allocate(size_t n) {  // zero-filled, 64-byte aligned, never null
    ptr.reset(static_cast<T*>(::operator new(std::max<size_t>(n, 1) * sizeof(T), std::align_val_t(64))));
    std::memset(static_cast<void*>(ptr.get()), 0, std::max<size_t>(n, 1) * sizeof(T));
    size = n;
  }
  T* data() const { return ptr.get(); }
};

struct Shape {
  uint32_t c = 0, h = 0, w = 0;
  uint64_t numel() const { return uint64_t(c) * h * w; }
  uint32_t pixels() const { return h * w; }
};

// A validated tensor in the file.
struct TensorRef {
  DType dtype = DType::kFp32;
  uint32_t rank = 0;
  uint32_t dims[4] = {0, 0, 0, 0};
  uint32_t axis = 0;
  uint64_t numel = 0;
  const uint8_t* data = nullptr;
  const uint8_t* scales = nullptr;  // int8: fp32[dims[axis]]
  uint64_t inner = 1;               // elements after the scale axis
  int uses = 0;

  float at(uint64_t i) const {
    switch (dtype) {
      case DType::kFp32: return lkrt::format::read_f32(data + 4 * i);
      case DType::kFp16: return lkrt::format::half_to_float(uint16_t(data[2 * i] | data[2 * i + 1] << 8));
      case DType::kInt8: return float(int8_t(data[i])) * scale((i / inner) % dims[axis]);
    }
    return 0.0f;
  }
  float scale(uint64_t channel) const { return lkrt::format::read_f32(scales + 4 * channel); }
};

// Weights packed for the kernels: B[k][n], in panels of 16 columns (kernels.h).
struct Packed {
  uint32_t K = 0, N = 0, panels = 0;
  DType type = DType::kFp32;  // fp16 / int8 are kept only for matrix-vector layers
  AlignedArray<float> f32;
  AlignedArray<uint16_t> f16;
  AlignedArray<int8_t> i8;
  AlignedArray<float> col_scale;  // int8: scale of column n
  uint32_t padded() const { return panels * lkrt::kernels::kPanel; }
};

struct Post {  // an elementwise op fused into the op before it
  OpType type;
  float a, b;
};

struct Step {
  OpType type = OpType::kInput;
  Shape in, out;
  uint32_t kernel = 1, stride = 1, pad = 0, scale = 1;
  float a = 0.0f, b = 0.0f;
  bool matvec = false;  // one row of A: the weights keep their storage type
  Packed w;
  AlignedArray<float> bias;       // [out.c], zero if the file has none
  AlignedArray<float> embedding;  // input: [num_classes, embed_dim]
  std::vector<uint32_t> gather;   // reshape: source index of each output element; empty if none needed
  std::vector<Post> post;
  DType weight_dtype = DType::kFp32;
};

const char* op_name(OpType t) {
  switch (t) {
    case OpType::kInput: return "input";
    case OpType::kGemm: return "gemm";
    case OpType::kConv2d: return "conv2d";
    case OpType::kConvTranspose2d: return "conv_transpose2d";
    case OpType::kUpsampleNearest: return "upsample_nearest";
    case OpType::kRelu: return "relu";
    case OpType::kLeakyRelu: return "leaky_relu";
    case OpType::kTanh: return "tanh";
    case OpType::kSigmoid: return "sigmoid";
    case OpType::kAffine: return "affine";
    case OpType::kReshape: return "reshape";
  }
  return "?";
}

const char* dtype_name(DType t) { return t == DType::kFp32 ? "fp32" : t == DType::kFp16 ? "fp16" : "int8"; }

bool is_elementwise(OpType t) {
  return t == OpType::kRelu || t == OpType::kLeakyRelu || t == OpType::kTanh || t == OpType::kSigmoid ||
         t == OpType::kAffine;
}

void apply_post(float* x, size_t n, const Post& p) {
  switch (p.type) {
    case OpType::kRelu:
      for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case OpType::kLeakyRelu:
      for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : x[i] * p.a;
      break;
    case OpType::kTanh:
      for (size_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      break;
    case OpType::kSigmoid:
      for (size_t i = 0; i < n; ++i) x[i] = 1.0f / (1.0f + std::exp(-x[i]));
      break;
    case OpType::kAffine:
      for (size_t i = 0; i < n; ++i) x[i] = p.a * x[i] + p.b;
      break;
    default: break;
  }
}

void apply_posts(float* x, size_t n, const std::vector<Post>& posts) {
  for (const Post& p : posts) apply_post(x, n, p);
}

}  // namespace

struct lkrt_model {
  uint32_t latent_dim = 0, num_classes = 0, embed_dim = 0;
  Shape image;
  lkrt_weight_type weight_type = LKRT_WEIGHT_FP32;
  std::string id;
  std::vector<Step> steps;
  std::vector<std::string> op_texts;
  uint64_t params = 0, flops = 0;
  // Workspace, sized at load time: two activations (ping-pong), GEMM output, im2col.
  AlignedArray<float> act[2];
  AlignedArray<float> col;
  AlignedArray<float> im2col;
  AlignedArray<uint32_t> nz_idx;  // nonzeros of the rows of A (kernels.h, sparse_rows)
  AlignedArray<float> nz_val;
  AlignedArray<uint32_t> nz_start;
  std::unique_ptr<lkrt::ThreadPool> pool;
};

namespace {

// ---------------------------------------------------------------------------------
// Loading

struct Reader {
  const uint8_t* data;
  uint64_t size;
};

std::vector<TensorRef> read_tensors(const Reader& r, uint64_t table, uint32_t count, uint64_t data_start) {
  using namespace lkrt::format;
  std::vector<TensorRef> tensors(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* rec = r.data + table + uint64_t(i) * kTensorRecordSize;
    TensorRef& t = tensors[i];
    uint32_t dtype = read_u32(rec + kTDType);
    if (dtype > kDTypeMax) fail(LKRT_ERR_UNSUPPORTED, "tensor %u: unknown dtype %u (fp32=0, fp16=1, int8=2)", i, dtype);
    t.dtype = DType(dtype);
    t.rank = read_u32(rec + kTRank);
    if (t.rank < 1 || t.rank > kMaxRank) fail(LKRT_ERR_FORMAT, "tensor %u: rank %u not in 1..4", i, t.rank);
    t.numel = 1;
    for (uint32_t d = 0; d < kMaxRank; ++d) {
      t.dims[d] = read_u32(rec + kTDims + 4 * d);
      if (d < t.rank) {
        if (t.dims[d] == 0) fail(LKRT_ERR_FORMAT, "tensor %u: dimension %u is 0", i, d);
        if (!mul_ok(t.numel, t.dims[d], &t.numel) || t.numel > (uint64_t(1) << 32))
          fail(LKRT_ERR_FORMAT, "tensor %u: shape product overflows (dimension %u = %u)", i, d, t.dims[d]);
      } else if (t.dims[d] != 0) {
        fail(LKRT_ERR_FORMAT, "tensor %u: unused dimension %u is %u, expected 0", i, d, t.dims[d]);
      }
    }
    t.axis = read_u32(rec + kTQuantAxis);
    if (read_u32(rec + kTReserved0) != 0 || read_u64(rec + kTReserved1) != 0)
      fail(LKRT_ERR_FORMAT, "tensor %u: reserved fields are not zero", i);
    uint64_t offset = read_u64(rec + kTOffset);
    uint64_t length = read_u64(rec + kTByteLength);
    uint64_t scale_offset = read_u64(rec + kTScaleOffset);
    uint64_t expected = t.numel * dtype_size(t.dtype);
    if (length != expected)
      fail(LKRT_ERR_FORMAT, "tensor %u: byte length %llu, expected %llu for its shape and dtype", i,
           (unsigned long long)length, (unsigned long long)expected);
    uint64_t end;
    if (offset % kAlign != 0) fail(LKRT_ERR_FORMAT, "tensor %u: offset %llu is not a multiple of 64", i, (unsigned long long)offset);
    if (offset < data_start || !add_ok(offset, length, &end) || end > r.size)
      fail(LKRT_ERR_FORMAT, "tensor %u: offset %llu+%llu outside the data section [%llu, %llu)", i,
           (unsigned long long)offset, (unsigned long long)length, (unsigned long long)data_start,
           (unsigned long long)r.size);
    t.data = r.data + offset;
    if (t.dtype == DType::kInt8) {
      if (t.axis >= t.rank) fail(LKRT_ERR_FORMAT, "tensor %u: scale axis %u, rank %u", i, t.axis, t.rank);
      for (uint32_t d = t.axis + 1; d < t.rank; ++d) t.inner *= t.dims[d];
      uint64_t scale_bytes = uint64_t(t.dims[t.axis]) * 4;
      if (scale_offset % kAlign != 0 || scale_offset < data_start || !add_ok(scale_offset, scale_bytes, &end) ||
          end > r.size)
        fail(LKRT_ERR_FORMAT, "tensor %u: scales at %llu+%llu outside the data section [%llu, %llu) or not 64-aligned", i,
             (unsigned long long)scale_offset, (unsigned long long)scale_bytes, (unsigned long long)data_start,
             (unsigned long long)r.size);
      t.scales = r.data + scale_offset;
      for (uint32_t c = 0; c < t.dims[t.axis]; ++c) {
        float s = t.scale(c);
        if (!(s >= 0.0f) || !std::isfinite(s)) fail(LKRT_ERR_FORMAT, "tensor %u: scale %u is %g, expected finite >= 0", i, c, s);
      }
    } else if (t.axis != 0 || scale_offset != 0) {
      fail(LKRT_ERR_FORMAT, "tensor %u: scale axis/offset set on a %s tensor", i, dtype_name(t.dtype));
    }
  }
  return tensors;
}

// Packs B[k][n] = value(k, n) with the weight tensor's values; `source(k, n)` gives the
// element index in the tensor and `channel(n)` its output channel (for int8 scales).
template <class Source, class Channel>
void pack(Packed& p, const TensorRef& t, uint32_t K, uint32_t N, bool keep_type, Source source, Channel channel) {
  p.K = K;
  p.N = N;
  p.panels = (N + lkrt::kernels::kPanel - 1) / lkrt::kernels::kPanel;
  p.type = keep_type ? t.dtype : DType::kFp32;
  const size_t total = size_t(p.panels) * K * lkrt::kernels::kPanel;
  auto index = [&](uint32_t k, uint32_t n) {
    return (size_t(n / lkrt::kernels::kPanel) * K + k) * lkrt::kernels::kPanel + n % lkrt::kernels::kPanel;
  };
  if (p.type == DType::kFp32) {
    p.f32.allocate(total);
    for (uint32_t k = 0; k < K; ++k)
      for (uint32_t n = 0; n < N; ++n) p.f32.data()[index(k, n)] = t.at(source(k, n));
  } else if (p.type == DType::kFp16) {
    p.f16.allocate(total);
    for (uint32_t k = 0; k < K; ++k)
      for (uint32_t n = 0; n < N; ++n) {
        uint64_t i = source(k, n);
        p.f16.data()[index(k, n)] = uint16_t(t.data[2 * i] | t.data[2 * i + 1] << 8);
      }
  } else {
    p.i8.allocate(total);
    p.col_scale.allocate(size_t(p.panels) * lkrt::kernels::kPanel);
    for (uint32_t n = 0; n < N; ++n) p.col_scale.data()[n] = t.scale(channel(n));
    for (uint32_t k = 0; k < K; ++k)
      for (uint32_t n = 0; n < N; ++n) p.i8.data()[index(k, n)] = int8_t(t.data[source(k, n)]);
  }
}

void check_shape(const TensorRef& t, uint32_t op, const char* what, std::initializer_list<uint32_t> dims) {
  bool ok = t.rank == dims.size();
  uint32_t d = 0;
  for (uint32_t v : dims) ok = ok && t.dims[d++] == v;
  if (!ok) {
    std::string want, got;
    for (uint32_t v : dims) want += (want.empty() ? "" : ",") + std::to_string(v);
    for (uint32_t i = 0; i < t.rank; ++i) got += (got.empty() ? "" : ",") + std::to_string(t.dims[i]);
    fail(LKRT_ERR_FORMAT, "op %u: %s has shape [%s], expected [%s]", op, what, got.c_str(), want.c_str());
  }
}

void check_activation(const Shape& s, uint32_t op) {
  if (s.c == 0 || s.h == 0 || s.w == 0 || s.c > kMaxDim || s.h > kMaxSide || s.w > kMaxSide ||
      s.numel() > kMaxActivation)
    fail(LKRT_ERR_FORMAT, "op %u: output shape [%u,%u,%u] out of the supported range (at most %llu values)", op, s.c,
         s.h, s.w, (unsigned long long)kMaxActivation);
}

void load_bias(Step& s, TensorRef* bias, uint32_t op, uint32_t out) {
  s.bias.allocate(out);
  if (!bias) return;
  if (bias->dtype != DType::kFp32) fail(LKRT_ERR_FORMAT, "op %u: bias must be fp32, is %s", op, dtype_name(bias->dtype));
  check_shape(*bias, op, "bias", {out});
  for (uint32_t i = 0; i < out; ++i) s.bias.data()[i] = bias->at(i);
}

std::string shape_text(const Shape& s) {
  return "[" + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + "]";
}

void load(const uint8_t* data, size_t size, uint32_t flags, lkrt_model& m) {
  using namespace lkrt::format;
  if (!lkrt::kernels::cpu_supported())
    fail(LKRT_ERR_UNSUPPORTED, "this lkrt build uses %s instructions the CPU lacks; rebuild with -DLKRT_SIMD=OFF",
         lkrt::kernels::isa_name());
  if (data == nullptr && size != 0) fail(LKRT_ERR_ARGUMENT, "data is null");
  if (size < kHeaderSize)
    fail(LKRT_ERR_FORMAT, "truncated: %zu bytes, a .lkm header alone is %u bytes", size, kHeaderSize);
  if (std::memcmp(data, kMagic, 8) != 0) fail(LKRT_ERR_FORMAT, "not a .lkm file (bad magic bytes)");
  uint32_t version = read_u32(data + kHVersion);
  if (version != kVersion)
    fail(LKRT_ERR_VERSION, "format version %u, this runtime reads version %u; re-export the model with a matching latentkit",
         version, kVersion);
  if (read_u32(data + kHHeaderSize) != kHeaderSize)
    fail(LKRT_ERR_FORMAT, "header size %u, expected %u", read_u32(data + kHHeaderSize), kHeaderSize);
  uint64_t file_size = read_u64(data + kHFileSize);
  if (file_size != size)
    fail(LKRT_ERR_FORMAT, "file size field says %llu bytes, got %zu (truncated or padded file)",
         (unsigned long long)file_size, size);
  if (size > kMaxFileSize) fail(LKRT_ERR_FORMAT, "file of %zu bytes is larger than the 4 GiB limit", size);
  if (!(flags & LKRT_LOAD_SKIP_CHECKSUM)) {
    uint32_t want = read_u32(data + kHCrc), got = file_crc(data, size);
    if (want != got) fail(LKRT_ERR_FORMAT, "checksum mismatch (stored %08x, computed %08x): the file is corrupt", want, got);
  }
  if (read_u32(data + kHFlags) != 0) fail(LKRT_ERR_FORMAT, "header flags %u, expected 0", read_u32(data + kHFlags));
  for (size_t i = kHModelId + kModelIdMax; i < kHeaderSize; ++i)
    if (data[i] != 0) fail(LKRT_ERR_FORMAT, "reserved header byte %zu is not zero", i);

  m.latent_dim = read_u32(data + kHLatentDim);
  m.num_classes = read_u32(data + kHNumClasses);
  m.embed_dim = read_u32(data + kHEmbedDim);
  m.image = {read_u32(data + kHChannels), read_u32(data + kHHeight), read_u32(data + kHWidth)};
  uint32_t weight_type = read_u32(data + kHWeightType);
  uint32_t op_count = read_u32(data + kHOpCount);
  uint32_t tensor_count = read_u32(data + kHTensorCount);
  uint32_t id_length = read_u32(data + kHModelIdLength);
  uint64_t op_table = read_u64(data + kHOpTableOffset);
  uint64_t tensor_table = read_u64(data + kHTensorTableOffset);

  if (m.latent_dim == 0 || m.latent_dim > kMaxDim) fail(LKRT_ERR_FORMAT, "latent_dim %u not in 1..%u", m.latent_dim, kMaxDim);
  if (m.num_classes > kMaxDim || m.embed_dim > kMaxDim || (m.num_classes == 0) != (m.embed_dim == 0))
    fail(LKRT_ERR_FORMAT, "num_classes %u / embed_dim %u: both 0 or both in 1..%u", m.num_classes, m.embed_dim, kMaxDim);
  if (m.image.c == 0 || m.image.h == 0 || m.image.w == 0 || m.image.c > kMaxDim || m.image.h > kMaxSide ||
      m.image.w > kMaxSide || m.image.numel() > kMaxActivation)
    fail(LKRT_ERR_FORMAT, "output shape [%u,%u,%u] out of range", m.image.c, m.image.h, m.image.w);
  if (weight_type > LKRT_WEIGHT_MIXED) fail(LKRT_ERR_FORMAT, "weight type %u unknown", weight_type);
  m.weight_type = lkrt_weight_type(weight_type);
  if (op_count == 0 || op_count > kMaxOps) fail(LKRT_ERR_FORMAT, "op count %u not in 1..%u", op_count, kMaxOps);
  if (tensor_count > kMaxTensors) fail(LKRT_ERR_FORMAT, "tensor count %u above %u", tensor_count, kMaxTensors);
  if (id_length > kModelIdMax) fail(LKRT_ERR_FORMAT, "model id length %u above %u", id_length, kModelIdMax);
  m.id.assign(reinterpret_cast<const char*>(data + kHModelId), id_length);
  if (m.id.find('\0') != std::string::npos) fail(LKRT_ERR_FORMAT, "model id contains a NUL byte");
  for (size_t i = kHModelId + id_length; i < kHModelId + kModelIdMax; ++i)
    if (data[i] != 0) fail(LKRT_ERR_FORMAT, "model id padding byte %zu is not zero", i);

  // Tables: after the header, inside the file, not overlapping; data follows them.
  uint64_t op_end = op_table + uint64_t(op_count) * kOpRecordSize;  // no overflow: op_table checked first
  uint64_t tensor_end = tensor_table + uint64_t(tensor_count) * kTensorRecordSize;
  if (op_table < kHeaderSize || op_table > size || op_end > size)
    fail(LKRT_ERR_FORMAT, "op table at %llu (%u records of 64 bytes) outside the file of %zu bytes",
         (unsigned long long)op_table, op_count, size);
  if (tensor_table < kHeaderSize || tensor_table > size || tensor_end > size)
    fail(LKRT_ERR_FORMAT, "tensor table at %llu (%u records of 64 bytes) outside the file of %zu bytes",
         (unsigned long long)tensor_table, tensor_count, size);
  if (op_table < tensor_end && tensor_table < op_end && tensor_count > 0)
    fail(LKRT_ERR_FORMAT, "op table and tensor table overlap");
  uint64_t data_start = std::max(op_end, tensor_end);

  Reader r{data, size};
  std::vector<TensorRef> tensors = read_tensors(r, tensor_table, tensor_count, data_start);

  // Ops: validate parameters, propagate shapes, pack weights.
  Shape cur;
  m.steps.reserve(op_count);
  uint64_t max_act = 0, max_col = 0, max_im2col = 0, max_nz = 0, max_nz_start = 0, gather_total = 0;
  for (uint32_t i = 0; i < op_count; ++i) {
    const uint8_t* rec = data + op_table + uint64_t(i) * kOpRecordSize;
    uint32_t type = read_u32(rec + kOType);
    if (type == 0 || type > kOpTypeMax)
      fail(LKRT_ERR_UNSUPPORTED, "op %u: unknown op type %u (a newer format writer?)", i, type);
    if (read_u32(rec + kOFlags) != 0) fail(LKRT_ERR_FORMAT, "op %u: flags are not zero", i);
    uint32_t ints[kOpIntParams];
    float floats[kOpFloatParams];
    uint32_t tens[kOpTensors];
    for (uint32_t k = 0; k < kOpIntParams; ++k) ints[k] = read_u32(rec + kOInts + 4 * k);
    for (uint32_t k = 0; k < kOpFloatParams; ++k) floats[k] = read_f32(rec + kOFloats + 4 * k);
    for (uint32_t k = 0; k < kOpTensors; ++k) tens[k] = read_u32(rec + kOTensors + 4 * k);

    Step s;
    s.type = OpType(type);
    const char* name = op_name(s.type);
    // How many int params, float params and tensor slots this op uses; the rest must be zero / none.
    uint32_t n_ints = 0, n_floats = 0, n_tensors = 0;
    switch (s.type) {
      case OpType::kInput: n_tensors = 1; break;
      case OpType::kGemm: n_ints = 2; n_tensors = 2; break;
      case OpType::kConv2d:
      case OpType::kConvTranspose2d: n_ints = 5; n_tensors = 2; break;
      case OpType::kUpsampleNearest: n_ints = 1; break;
      case OpType::kLeakyRelu: n_floats = 1; break;
      case OpType::kAffine: n_floats = 2; break;
      case OpType::kReshape: n_ints = 3; break;
      default: break;
    }
    for (uint32_t k = n_ints; k < kOpIntParams; ++k)
      if (ints[k] != 0) fail(LKRT_ERR_FORMAT, "op %u (%s): unused int parameter %u is %u, expected 0", i, name, k, ints[k]);
    for (uint32_t k = n_floats; k < kOpFloatParams; ++k)
      if (floats[k] != 0.0f) fail(LKRT_ERR_FORMAT, "op %u (%s): unused float parameter %u is not 0", i, name, k);
    for (uint32_t k = 0; k < n_floats; ++k)
      if (!std::isfinite(floats[k])) fail(LKRT_ERR_FORMAT, "op %u (%s): float parameter %u is not finite", i, name, k);
    TensorRef* t[kOpTensors] = {nullptr, nullptr, nullptr, nullptr};
    for (uint32_t k = 0; k < kOpTensors; ++k) {
      if (tens[k] == kNoTensor) continue;
      if (k >= n_tensors) fail(LKRT_ERR_FORMAT, "op %u (%s): unused tensor slot %u references tensor %u", i, name, k, tens[k]);
      if (tens[k] >= tensor_count)
        fail(LKRT_ERR_FORMAT, "op %u (%s): tensor index %u, the file has %u tensors", i, name, tens[k], tensor_count);
      t[k] = &tensors[tens[k]];
      if (++t[k]->uses > 1) fail(LKRT_ERR_FORMAT, "op %u (%s): tensor %u is used by two ops", i, name, tens[k]);
    }
    if ((i == 0) != (s.type == OpType::kInput))
      fail(LKRT_ERR_FORMAT, "op %u (%s): the first op, and only it, must be input", i, name);

    s.in = cur;
    char text[160];
    text[0] = '\0';
    switch (s.type) {
      case OpType::kInput: {
        if (t[0]) {
          if (m.num_classes == 0) fail(LKRT_ERR_FORMAT, "op 0 (input): embedding table in an unconditional model");
          if (t[0]->dtype != DType::kFp32) fail(LKRT_ERR_FORMAT, "op 0 (input): embedding table must be fp32");
          check_shape(*t[0], i, "embedding table", {m.num_classes, m.embed_dim});
          s.embedding.allocate(t[0]->numel);
          for (uint64_t k = 0; k < t[0]->numel; ++k) s.embedding.data()[k] = t[0]->at(k);
          m.params += t[0]->numel;
        } else if (m.num_classes != 0) {
          fail(LKRT_ERR_FORMAT, "op 0 (input): the header has %u classes but there is no embedding table", m.num_classes);
        }
        s.out = {m.latent_dim + m.embed_dim, 1, 1};
        std::snprintf(text, sizeof text, "input z[%u]%s", m.latent_dim,
                      m.num_classes ? (" + embedding[" + std::to_string(m.num_classes) + "," +
                                       std::to_string(m.embed_dim) + "]").c_str()
                                    : "");
        break;
      }
      case OpType::kGemm: {
        uint32_t out = ints[0], in = ints[1];
        if (out == 0 || in == 0 || out > kMaxDim) fail(LKRT_ERR_FORMAT, "op %u (gemm): out %u / in %u out of range", i, out, in);
        if (cur.c != in || cur.h != 1 || cur.w != 1)
          fail(LKRT_ERR_FORMAT, "op %u (gemm): input is %s, expected [%u,1,1] (flatten with a reshape first)", i,
               shape_text(cur).c_str(), in);
        if (!t[0]) fail(LKRT_ERR_FORMAT, "op %u (gemm): no weight tensor", i);
        check_shape(*t[0], i, "weight", {out, in});
        s.out = {out, 1, 1};
        s.matvec = true;
        s.weight_dtype = t[0]->dtype;
        pack(s.w, *t[0], in, out, true, [&](uint32_t k, uint32_t n) { return uint64_t(n) * in + k; },
             [](uint32_t n) { return n; });
        load_bias(s, t[1], i, out);
        m.params += t[0]->numel + (t[1] ? out : 0);
        m.flops += 2 * uint64_t(in) * out;
        max_col = std::max<uint64_t>(max_col, s.w.padded());
        std::snprintf(text, sizeof text, "gemm %u->%u %s", in, out, dtype_name(s.weight_dtype));
        break;
      }
      case OpType::kConv2d:
      case OpType::kConvTranspose2d: {
        const bool transposed = s.type == OpType::kConvTranspose2d;
        uint32_t out = ints[0], in = ints[1], k = ints[2], stride = ints[3], pad = ints[4];
        if (out == 0 || in == 0 || out > kMaxDim || k == 0 || k > kMaxKernel || stride == 0 || stride > kMaxStride ||
            pad > kMaxKernel)
          fail(LKRT_ERR_FORMAT, "op %u (%s): out %u in %u kernel %u stride %u padding %u out of range (kernel 1..16, stride 1..16, padding 0..16)",
               i, name, out, in, k, stride, pad);
        if (cur.c != in)
          fail(LKRT_ERR_FORMAT, "op %u (%s): %u input channels, the previous op gives %s", i, name, in,
               shape_text(cur).c_str());
        int64_t oh, ow;
        if (transposed) {
          oh = (int64_t(cur.h) - 1) * stride - 2 * int64_t(pad) + k;
          ow = (int64_t(cur.w) - 1) * stride - 2 * int64_t(pad) + k;
        } else {
          oh = (int64_t(cur.h) + 2 * int64_t(pad) - k) / stride + 1;
          ow = (int64_t(cur.w) + 2 * int64_t(pad) - k) / stride + 1;
          if (int64_t(cur.h) + 2 * int64_t(pad) < k || int64_t(cur.w) + 2 * int64_t(pad) < k) oh = ow = 0;
        }
        if (oh <= 0 || ow <= 0 || oh > kMaxSide || ow > kMaxSide)
          fail(LKRT_ERR_FORMAT, "op %u (%s): input %s gives an output of %lldx%lld", i, name, shape_text(cur).c_str(),
               (long long)oh, (long long)ow);
        if (!t[0]) fail(LKRT_ERR_FORMAT, "op %u (%s): no weight tensor", i, name);
        if (transposed)
          check_shape(*t[0], i, "weight", {in, out, k, k});
        else
          check_shape(*t[0], i, "weight", {out, in, k, k});
        s.out = {out, uint32_t(oh), uint32_t(ow)};
        check_activation(s.out, i);
        s.kernel = k;
        s.stride = stride;
        s.pad = pad;
        s.weight_dtype = t[0]->dtype;
        const uint64_t taps = uint64_t(k) * k;
        uint64_t M, K, N;
        if (transposed) {
          M = cur.pixels();
          K = in;
          N = taps * out;  // column n = tap * out + co
        } else {
          M = uint64_t(s.out.h) * s.out.w;
          K = taps * in;  // row k = tap * in + ci
          N = out;
        }
        if (K > kMaxScratch || N > kMaxScratch) fail(LKRT_ERR_FORMAT, "op %u (%s): too large", i, name);
        s.matvec = M == 1;
        uint64_t padded = (N + 15) / 16 * 16, col = 0, a = 0;
        if (!mul_ok(M, padded, &col) || col > kMaxScratch || !mul_ok(M, K, &a) || (!transposed && a > kMaxScratch))
          fail(LKRT_ERR_FORMAT, "op %u (%s): needs more than %llu floats of scratch memory", i, name,
               (unsigned long long)kMaxScratch);
        max_col = std::max(max_col, col);
        if (!transposed && !(k == 1 && stride == 1 && pad == 0)) max_im2col = std::max(max_im2col, a);
        if (M > 1) {
          if (a > kMaxScratch) fail(LKRT_ERR_FORMAT, "op %u (%s): input too large", i, name);
          max_nz = std::max(max_nz, a);
          max_nz_start = std::max<uint64_t>(max_nz_start, M * (lkrt::kernels::sparse_blocks(int(K)) + 1));
        }
        if (transposed) {
          pack(s.w, *t[0], uint32_t(K), uint32_t(N), s.matvec,
               [&](uint32_t ci, uint32_t n) { return (uint64_t(ci) * out + n % out) * taps + n / out; },
               [&](uint32_t n) { return n % out; });
        } else {
          pack(s.w, *t[0], uint32_t(K), uint32_t(N), s.matvec,
               [&](uint32_t kk, uint32_t co) { return (uint64_t(co) * in + kk % in) * taps + kk / in; },
               [](uint32_t n) { return n; });
        }
        load_bias(s, t[1], i, out);
        m.params += t[0]->numel + (t[1] ? out : 0);
        m.flops += 2 * M * K * N;
        std::snprintf(text, sizeof text, "%s %u->%u k%u s%u p%u %s", name, in, out, k, stride, pad,
                      dtype_name(s.weight_dtype));
        break;
      }
      case OpType::kUpsampleNearest: {
        uint32_t scale = ints[0];
        if (scale == 0 || scale > kMaxScale) fail(LKRT_ERR_FORMAT, "op %u (upsample_nearest): scale %u not in 1..16", i, scale);
        s.scale = scale;
        s.out = {cur.c, cur.h * scale, cur.w * scale};  // no overflow: h, w <= 2^14, scale <= 16
        check_activation(s.out, i);
        std::snprintf(text, sizeof text, "upsample_nearest x%u", scale);
        break;
      }
      case OpType::kReshape: {
        Shape to{ints[0], ints[1], ints[2]};
        if (to.c == 0 || to.h == 0 || to.w == 0 || to.c > kMaxDim || to.h > kMaxSide || to.w > kMaxSide ||
            to.numel() != cur.numel())
          fail(LKRT_ERR_FORMAT, "op %u (reshape): %s cannot be reshaped to %s", i, shape_text(cur).c_str(),
               shape_text(to).c_str());
        s.out = to;
        // Activations are stored channels-last ([H, W, C]); the reshape follows torch's C-major order.
        const uint64_t n = to.numel();
        bool identity = true;
        std::vector<uint32_t> gather(n);
        for (uint32_t h = 0; h < to.h; ++h)
          for (uint32_t w = 0; w < to.w; ++w)
            for (uint32_t c = 0; c < to.c; ++c) {
              uint64_t f = (uint64_t(c) * to.h + h) * to.w + w;  // logical index
              uint64_t c1 = f / cur.pixels(), rem = f % cur.pixels();
              uint64_t src = rem * cur.c + c1;  // rem = h1 * W1 + w1
              uint64_t dst = (uint64_t(h) * to.w + w) * to.c + c;
              gather[dst] = uint32_t(src);
              identity = identity && src == dst;
            }
        if (!identity) {
          gather_total += n;
          if (gather_total > kMaxScratch)
            fail(LKRT_ERR_FORMAT, "op %u (reshape): the reshapes need more than %llu index entries", i,
                 (unsigned long long)kMaxScratch);
          s.gather = std::move(gather);
        }
        std::snprintf(text, sizeof text, "reshape");
        break;
      }
      default: {  // elementwise
        s.out = cur;
        s.a = floats[0];
        s.b = floats[1];
        if (s.type == OpType::kLeakyRelu)
          std::snprintf(text, sizeof text, "leaky_relu %g", double(s.a));
        else if (s.type == OpType::kAffine)
          std::snprintf(text, sizeof text, "affine %g*x%+g", double(s.a), double(s.b));
        else
          std::snprintf(text, sizeof text, "%s", name);
        break;
      }
    }
    max_act = std::max<uint64_t>(max_act, s.out.numel());
    if (s.type != OpType::kGemm && s.type != OpType::kConv2d && s.type != OpType::kConvTranspose2d)
      m.flops += s.out.numel();
    m.op_texts.push_back(std::string(text) + " -> " + shape_text(s.out));
    cur = s.out;
    m.steps.push_back(std::move(s));
  }
  if (cur.c != m.image.c || cur.h != m.image.h || cur.w != m.image.w)
    fail(LKRT_ERR_FORMAT, "the ops produce %s, the header says [%u,%u,%u]", shape_text(cur).c_str(), m.image.c,
         m.image.h, m.image.w);
  for (uint32_t i = 0; i < tensor_count; ++i)
    if (tensors[i].uses == 0) fail(LKRT_ERR_FORMAT, "tensor %u is not used by any op", i);

  // Fuse elementwise ops into the gemm / convolution before them.
  std::vector<Step> fused;
  for (Step& s : m.steps) {
    if (is_elementwise(s.type) && !fused.empty()) {
      Step& prev = fused.back();
      if (prev.type == OpType::kGemm || prev.type == OpType::kConv2d || prev.type == OpType::kConvTranspose2d) {
        prev.post.push_back(Post{s.type, s.a, s.b});
        continue;
      }
    }
    fused.push_back(std::move(s));
  }
  m.steps = std::move(fused);

  // Activation buffers hold any activation; the GEMM output of a matvec is written to col.
  m.act[0].allocate(max_act + 16);
  m.act[1].allocate(max_act + 16);
  m.col.allocate(max_col);
  m.im2col.allocate(max_im2col);
  m.nz_idx.allocate(max_nz);
  m.nz_val.allocate(max_nz);
  m.nz_start.allocate(max_nz_start);
}

// ---------------------------------------------------------------------------------
// Execution. Activations are channels-last: element (c, y, x) at (y * W + x) * C + c.

struct Job {
  const Step* step;
  const float* in;
  float* out;
  lkrt_model* m;
  int phase;  // 0: im2col, 1: gemm, 2: epilogue
};

void im2col(const Step& s, const float* in, float* a, int y0, int y1) {
  const uint32_t k = s.kernel, ci = s.in.c;
  const size_t K = size_t(k) * k * ci;
  for (int oy = y0; oy < y1; ++oy)
    for (uint32_t ox = 0; ox < s.out.w; ++ox) {
      float* row = a + (size_t(oy) * s.out.w + ox) * K;
      for (uint32_t ky = 0; ky < k; ++ky) {
        const int64_t iy = int64_t(oy) * s.stride + ky - s.pad;
        for (uint32_t kx = 0; kx < k; ++kx) {
          const int64_t ix = int64_t(ox) * s.stride + kx - s.pad;
          float* dst = row + (size_t(ky) * k + kx) * ci;
          if (iy < 0 || iy >= s.in.h || ix < 0 || ix >= s.in.w)
            std::memset(dst, 0, ci * sizeof(float));
          else
            std::memcpy(dst, in + (size_t(iy) * s.in.w + size_t(ix)) * ci, ci * sizeof(float));
        }
      }
    }
}

void job_task(void* ctx, int index, int count) {
  Job& job = *static_cast<Job*>(ctx);
  const Step& s = *job.step;
  lkrt_model& m = *job.m;
  const bool transposed = s.type == OpType::kConvTranspose2d;
  const bool direct = s.type == OpType::kConv2d && s.kernel == 1 && s.stride == 1 && s.pad == 0;
  // A: [M, K] row-major with leading dimension lda.
  const float* A = (s.type == OpType::kGemm || transposed || direct) ? job.in : m.im2col.data();
  const size_t lda = (s.type == OpType::kGemm || transposed || direct) ? s.in.c : s.w.K;
  const int M = int(transposed ? s.in.pixels() : s.out.pixels());
  int b, e;
  if (job.phase == 0) {  // im2col and the sparse rows of A, split by rows of the map
    if (transposed) {
      split_range(int(s.in.h), index, count, &b, &e);
      b *= int(s.in.w);
      e *= int(s.in.w);
    } else {
      split_range(int(s.out.h), index, count, &b, &e);
      if (!direct) im2col(s, job.in, m.im2col.data(), b, e);
      b *= int(s.out.w);
      e *= int(s.out.w);
    }
    if (M > 1)
      lkrt::kernels::sparse_rows(int(s.w.K), A, lda, b, e, m.nz_idx.data(), m.nz_val.data(), m.nz_start.data());
    return;
  }
  if (job.phase == 1) {  // gemm, split by panels of output columns
    const Packed& w = s.w;
    split_range(int(w.panels), index, count, &b, &e);
    if (M > 1) {
      lkrt::kernels::gemm_f32_sparse(M, int(w.K), m.nz_idx.data(), m.nz_val.data(), m.nz_start.data(), w.f32.data(),
                                     b, e, m.col.data(), w.padded());
    } else if (w.type == DType::kFp32) {
      lkrt::kernels::matvec_f32(int(w.K), A, w.f32.data(), b, e, m.col.data());
    } else if (w.type == DType::kFp16) {
      lkrt::kernels::matvec_f16(int(w.K), A, w.f16.data(), b, e, m.col.data());
    } else {
      lkrt::kernels::matvec_i8(int(w.K), A, w.i8.data(), w.col_scale.data(), b, e, m.col.data());
    }
    return;
  }
  // Epilogue: bias, col2im for transposed convolutions, fused elementwise ops; split by output rows.
  const size_t co = s.out.c, ldc = s.w.padded();
  const float* bias = s.bias.data();
  split_range(int(s.out.h), index, count, &b, &e);
  if (b >= e) return;
  float* out = job.out + size_t(b) * s.out.w * co;
  const size_t n = size_t(e - b) * s.out.w * co;
  if (!transposed) {
    for (size_t p = size_t(b) * s.out.w; p < size_t(e) * s.out.w; ++p) {
      const float* src = m.col.data() + p * ldc;
      float* dst = job.out + p * co;
      for (size_t c = 0; c < co; ++c) dst[c] = src[c] + bias[c];
    }
  } else {
    const int k = int(s.kernel), st = int(s.stride), pad = int(s.pad);
    const int ih = int(s.in.h), iw = int(s.in.w);
    for (int oy = b; oy < e; ++oy)
      for (int ox = 0; ox < int(s.out.w); ++ox) {
        float* dst = job.out + (size_t(oy) * s.out.w + ox) * co;
        std::memcpy(dst, bias, co * sizeof(float));
        for (int ky = 0; ky < k; ++ky) {
          const int ty = oy + pad - ky;
          if (ty < 0 || ty % st != 0 || ty / st >= ih) continue;
          for (int kx = 0; kx < k; ++kx) {
            const int tx = ox + pad - kx;
            if (tx < 0 || tx % st != 0 || tx / st >= iw) continue;
            const float* src = m.col.data() + (size_t(ty / st) * iw + tx / st) * ldc + size_t(ky * k + kx) * co;
            lkrt::kernels::add_inplace(dst, src, co);
          }
        }
      }
  }
  apply_posts(out, n, s.post);
}

void run_parallel(lkrt_model& m, Job& job) {
  if (m.pool)
    m.pool->run(job_task, &job, 4 * m.pool->size());  // chunks: a busy core delays only its own
  else
    job_task(&job, 0, 1);
}

void generate(lkrt_model& m, const float* z, int32_t label, float* out) {
  float* cur = m.act[0].data();
  float* other = m.act[1].data();
  for (const Step& s : m.steps) {
    switch (s.type) {
      case OpType::kInput:
        std::memcpy(cur, z, m.latent_dim * sizeof(float));
        if (m.num_classes)
          std::memcpy(cur + m.latent_dim, s.embedding.data() + size_t(label) * m.embed_dim, m.embed_dim * sizeof(float));
        break;
      case OpType::kGemm:
      case OpType::kConv2d:
      case OpType::kConvTranspose2d: {
        Job job{&s, cur, other, &m, 0};
        const bool direct = s.type == OpType::kConv2d && s.kernel == 1 && s.stride == 1 && s.pad == 0;
        if (!s.matvec || (s.type == OpType::kConv2d && !direct)) run_parallel(m, job);
        job.phase = 1;
        run_parallel(m, job);
        job.phase = 2;
        if (s.type == OpType::kGemm) {
          for (size_t c = 0; c < s.out.c; ++c) other[c] = m.col.data()[c] + s.bias.data()[c];
          apply_posts(other, s.out.c, s.post);
        } else {
          run_parallel(m, job);
        }
        std::swap(cur, other);
        break;
      }
      case OpType::kUpsampleNearest: {
        const size_t c = s.in.c;
        for (size_t oy = 0; oy < s.out.h; ++oy)
          for (size_t ox = 0; ox < s.out.w; ++ox)
            std::memcpy(other + (oy * s.out.w + ox) * c, cur + ((oy / s.scale) * s.in.w + ox / s.scale) * c,
                        c * sizeof(float));
        std::swap(cur, other);
        break;
      }
      case OpType::kReshape:
        if (!s.gather.empty()) {
          const size_t n = s.gather.size();
          for (size_t i = 0; i < n; ++i) other[i] = cur[s.gather[i]];
          std::swap(cur, other);
        }
        break;
      default:
        apply_post(cur, s.out.numel(), Post{s.type, s.a, s.b});
        break;
    }
  }
  // Channels-last to the caller's NCHW.
  const size_t C = m.image.c, P = m.image.pixels();
  if (C == 1) {
    std::memcpy(out, cur, P * sizeof(float));
  } else {
    for (size_t p = 0; p < P; ++p)
      for (size_t c = 0; c < C; ++c) out[c * P + p] = cur[p * C + c];
  }
}

lkrt_status load_entry(const void* data, size_t size, uint32_t flags, lkrt_model** out) {
  if (out == nullptr) return set_error(LKRT_ERR_ARGUMENT, "out is null");
  *out = nullptr;
  try {
    std::unique_ptr<lkrt_model> m(new lkrt_model);
    load(static_cast<const uint8_t*>(data), size, flags, *m);
    *out = m.release();
    return LKRT_OK;
  } catch (const LoadError& e) {
    return set_error(e.status, e.message);
  } catch (const std::bad_alloc&) {
    return set_error(LKRT_ERR_MEMORY, "out of memory while loading the model");
  } catch (const std::exception& e) {
    return set_error(LKRT_ERR_INTERNAL, e.what());
  }
}

}  // namespace

extern "C" {

lkrt_status lkrt_model_load_memory_ex(const void* data, size_t size, uint32_t flags, lkrt_model** out) {
  return load_entry(data, size, flags, out);
}

lkrt_status lkrt_model_load_memory(const void* data, size_t size, lkrt_model** out) {
  return load_entry(data, size, 0, out);
}

lkrt_status lkrt_model_load(const char* path, lkrt_model** out) {
  if (out) *out = nullptr;
  if (path == nullptr || out == nullptr) return set_error(LKRT_ERR_ARGUMENT, "path or out is null");
  std::vector<char> bytes;
  try {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) return set_error(LKRT_ERR_IO, std::string(path) + ": cannot open (" + std::strerror(errno) + ")");
    std::streamoff size = f.tellg();
    if (size < 0) return set_error(LKRT_ERR_IO, std::string(path) + ": cannot read its size");
    if (uint64_t(size) > kMaxFileSize) return set_error(LKRT_ERR_FORMAT, std::string(path) + ": larger than 4 GiB");
    bytes.resize(size_t(size));
    f.seekg(0);
    if (size > 0 && !f.read(bytes.data(), size)) return set_error(LKRT_ERR_IO, std::string(path) + ": read failed");
  } catch (const std::bad_alloc&) {
    return set_error(LKRT_ERR_MEMORY, std::string(path) + ": out of memory reading the file");
  }
  lkrt_status s = load_entry(bytes.data(), bytes.size(), 0, out);
  if (s != LKRT_OK) g_last_error = std::string(path) + ": " + g_last_error;
  return s;
}

void lkrt_model_free(lkrt_model* model) { delete model; }

const char* lkrt_status_string(lkrt_status status) {
  switch (status) {
    case LKRT_OK: return "ok";
    case LKRT_ERR_IO: return "i/o error";
    case LKRT_ERR_FORMAT: return "format error";
    case LKRT_ERR_VERSION: return "unsupported format version";
    case LKRT_ERR_ARGUMENT: return "invalid argument";
    case LKRT_ERR_MEMORY: return "out of memory";
    case LKRT_ERR_UNSUPPORTED: return "unsupported";
    case LKRT_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* lkrt_last_error(void) { return g_last_error.c_str(); }

int32_t lkrt_model_latent_dim(const lkrt_model* m) { return m ? int32_t(m->latent_dim) : 0; }
int32_t lkrt_model_num_classes(const lkrt_model* m) { return m ? int32_t(m->num_classes) : 0; }
int32_t lkrt_model_embed_dim(const lkrt_model* m) { return m ? int32_t(m->embed_dim) : 0; }
int32_t lkrt_model_channels(const lkrt_model* m) { return m ? int32_t(m->image.c) : 0; }
int32_t lkrt_model_height(const lkrt_model* m) { return m ? int32_t(m->image.h) : 0; }
int32_t lkrt_model_width(const lkrt_model* m) { return m ? int32_t(m->image.w) : 0; }
lkrt_weight_type lkrt_model_weight_type(const lkrt_model* m) { return m ? m->weight_type : LKRT_WEIGHT_FP32; }
const char* lkrt_model_id(const lkrt_model* m) { return m ? m->id.c_str() : ""; }
int32_t lkrt_model_op_count(const lkrt_model* m) { return m ? int32_t(m->op_texts.size()) : 0; }
uint64_t lkrt_model_param_count(const lkrt_model* m) { return m ? m->params : 0; }
uint64_t lkrt_model_flops(const lkrt_model* m) { return m ? m->flops : 0; }
const char* lkrt_model_op_text(const lkrt_model* m, int32_t i) {
  if (!m || i < 0 || size_t(i) >= m->op_texts.size()) return nullptr;
  return m->op_texts[size_t(i)].c_str();
}

lkrt_status lkrt_generate(lkrt_model* m, const float* z, int32_t label, float* out) {
  if (!m || !z || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_generate: model, z or out is null");
  if (m->num_classes == 0 && label != -1)
    return set_error(LKRT_ERR_ARGUMENT, "label " + std::to_string(label) + " given to an unconditional model (pass -1)");
  if (m->num_classes != 0 && (label < 0 || uint32_t(label) >= m->num_classes))
    return set_error(LKRT_ERR_ARGUMENT, "label " + std::to_string(label) + " out of range: the model has " +
                                            std::to_string(m->num_classes) + " classes (0.." +
                                            std::to_string(m->num_classes - 1) + ")");
  generate(*m, z, label, out);
  return LKRT_OK;
}

lkrt_status lkrt_set_threads(lkrt_model* m, int n) {
  if (!m) return set_error(LKRT_ERR_ARGUMENT, "lkrt_set_threads: model is null");
  if (n < 1 || n > 64) return set_error(LKRT_ERR_ARGUMENT, "threads " + std::to_string(n) + " not in 1..64");
  try {
    m->pool.reset();
    if (n > 1) m->pool.reset(new lkrt::ThreadPool(n));
  } catch (const std::exception& e) {
    m->pool.reset();
    return set_error(LKRT_ERR_MEMORY, std::string("cannot start threads: ") + e.what());
  }
  return LKRT_OK;
}

}  // extern "C"
