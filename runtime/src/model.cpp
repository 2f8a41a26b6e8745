// The .lkm loader (versions 1 to 5), the buffer planner and the executor behind the C
// API of lkrt.h. Each op's own checks, shapes and kernels are in ops.cpp.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "graph.h"
#include "last_error.h"

using lkrt::fail;
using lkrt::LoadError;
using lkrt::Node;
using lkrt::Op;
using lkrt::set_error;
using lkrt::Shape;
using lkrt::TensorRef;
using lkrt::Value;

namespace {
thread_local std::string g_last_error;
constexpr uint64_t kMaxFileSize = uint64_t(1) << 32;
constexpr uint32_t kNone = UINT32_MAX;
}  // namespace

lkrt_status lkrt::set_error(lkrt_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

namespace lkrt {

void fail(lkrt_status status, const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  throw LoadError{status, buf};
}

std::string shape_text(const Shape& s) {
  return "[" + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + "]";
}

const char* weight_type_name(lkrt_weight_type t) {
  return t == LKRT_WEIGHT_FP32 ? "fp32" : t == LKRT_WEIGHT_FP16 ? "fp16" : t == LKRT_WEIGHT_INT8 ? "int8" : "mixed";
}

float TensorRef::at(uint64_t i) const {
  switch (dtype) {
    case LKRT_WEIGHT_FP16: return format::half_to_float(uint16_t(data[2 * i] | data[2 * i + 1] << 8));
    case LKRT_WEIGHT_INT8: return float(int8_t(data[i])) * scale((i / inner) % dims[axis]);
    default: return format::read_f32(data + 4 * i);
  }
}

void parallel_for(lkrt_model& m, int n, void (*fn)(void* ctx, int begin, int end), void* ctx) {
  struct Job {
    void (*fn)(void*, int, int);
    void* ctx;
    int n;
  } job{fn, ctx, n};
  auto task = [](void* p, int index, int count) {
    const Job& j = *static_cast<Job*>(p);
    int b, e;
    split_range(j.n, index, count, &b, &e);
    if (b < e) j.fn(j.ctx, b, e);
  };
  if (m.pool)
    m.pool->run(task, &job, std::min(n, 4 * m.pool->size()));
  else
    task(&job, 0, 1);
}

}  // namespace lkrt

namespace {

bool add_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (b > UINT64_MAX - a) return false;
  *out = a + b;
  return true;
}

// ---------------------------------------------------------------------------------
// Loading

std::vector<TensorRef> read_tensors(const uint8_t* data, uint64_t size, uint64_t table, uint32_t count,
                                    uint64_t data_start) {
  using namespace lkrt::format;
  std::vector<TensorRef> tensors(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* rec = data + table + uint64_t(i) * kTensorRecordSize;
    TensorRef& t = tensors[i];
    const uint32_t dtype = read_u32(rec + kTDType);
    if (dtype > LKRT_WEIGHT_INT8) fail(LKRT_ERR_UNSUPPORTED, "tensor %u: unknown dtype %u (fp32=0, fp16=1, int8=2)", i, dtype);
    t.dtype = lkrt_weight_type(dtype);
    t.rank = read_u32(rec + kTRank);
    if (t.rank < 1 || t.rank > kMaxRank) fail(LKRT_ERR_FORMAT, "tensor %u: rank %u not in 1..4", i, t.rank);
    t.numel = 1;
    for (uint32_t d = 0; d < kMaxRank; ++d) {
      t.dims[d] = read_u32(rec + kTDims + 4 * d);
      if (d < t.rank) {
        if (t.dims[d] == 0) fail(LKRT_ERR_FORMAT, "tensor %u: dimension %u is 0", i, d);
        if (!lkrt::mul_ok(t.numel, t.dims[d], &t.numel) || t.numel > (uint64_t(1) << 32))
          fail(LKRT_ERR_FORMAT, "tensor %u: shape product overflows (dimension %u = %u)", i, d, t.dims[d]);
      } else if (t.dims[d] != 0) {
        fail(LKRT_ERR_FORMAT, "tensor %u: unused dimension %u is %u, expected 0", i, d, t.dims[d]);
      }
    }
    t.axis = read_u32(rec + kTQuantAxis);
    if (read_u32(rec + kTReserved0) != 0 || read_u64(rec + kTReserved1) != 0)
      fail(LKRT_ERR_FORMAT, "tensor %u: reserved fields are not zero", i);
    const uint64_t offset = read_u64(rec + kTOffset), length = read_u64(rec + kTByteLength);
    const uint64_t scale_offset = read_u64(rec + kTScaleOffset), expected = t.numel * dtype_size(t.dtype);
    if (length != expected)
      fail(LKRT_ERR_FORMAT, "tensor %u: byte length %llu, expected %llu for its shape and dtype", i,
           (unsigned long long)length, (unsigned long long)expected);
    uint64_t end;
    if (offset % kAlign != 0) fail(LKRT_ERR_FORMAT, "tensor %u: offset %llu is not a multiple of 64", i, (unsigned long long)offset);
    if (offset < data_start || !add_ok(offset, length, &end) || end > size)
      fail(LKRT_ERR_FORMAT, "tensor %u: offset %llu+%llu outside the data section [%llu, %llu)", i,
           (unsigned long long)offset, (unsigned long long)length, (unsigned long long)data_start,
           (unsigned long long)size);
    t.data = data + offset;
    if (t.dtype == LKRT_WEIGHT_INT8) {
      if (t.axis >= t.rank) fail(LKRT_ERR_FORMAT, "tensor %u: scale axis %u, rank %u", i, t.axis, t.rank);
      for (uint32_t d = t.axis + 1; d < t.rank; ++d) t.inner *= t.dims[d];
      const uint64_t scale_bytes = uint64_t(t.dims[t.axis]) * 4;
      if (scale_offset % kAlign != 0 || scale_offset < data_start || !add_ok(scale_offset, scale_bytes, &end) ||
          end > size)
        fail(LKRT_ERR_FORMAT, "tensor %u: scales at %llu+%llu outside the data section [%llu, %llu) or not 64-aligned", i,
             (unsigned long long)scale_offset, (unsigned long long)scale_bytes, (unsigned long long)data_start,
             (unsigned long long)size);
      t.scales = data + scale_offset;
      for (uint32_t c = 0; c < t.dims[t.axis]; ++c) {
        const float s = t.scale(c);
        if (!(s >= 0.0f) || !std::isfinite(s)) fail(LKRT_ERR_FORMAT, "tensor %u: scale %u is %g, expected finite >= 0", i, c, double(s));
      }
    } else if (t.axis != 0 || scale_offset != 0) {
      fail(LKRT_ERR_FORMAT, "tensor %u: scale axis/offset set on a %s tensor", i, lkrt::weight_type_name(t.dtype));
    }
  }
  return tensors;
}

// One op record into a node. Version 1: each op reads the previous op's output and
// defines value i; its input is the latent.
Node read_node(const uint8_t* rec, uint32_t version, uint32_t i, std::vector<TensorRef>& tensors) {
  using namespace lkrt::format;
  Node n;
  const uint32_t type = read_u32(rec + kOType), last = version == 1 ? uint32_t(Op::kReshape) : uint32_t(Op::kCount) - 1;
  if (type == 0 || type > last) fail(LKRT_ERR_UNSUPPORTED, "op %u: unknown op type %u (a newer format writer?)", i, type);
  if (read_u32(rec + kOFlags) != 0) fail(LKRT_ERR_FORMAT, "op %u: flags are not zero", i);
  n.op = Op(type);
  const lkrt::OpDesc& d = lkrt::op_desc(n.op);
  const char* name = lkrt::op_name(n.op);
  uint32_t tens[kOpTensors];
  const uint32_t n_floats = version == 1 ? kOpFloatParamsV1 : kOpFloatParams;
  for (uint32_t k = 0; k < kOpIntParams; ++k) n.ints[k] = read_u32(rec + (version == 1 ? kOIntsV1 : kOInts) + 4 * k);
  for (uint32_t k = 0; k < n_floats; ++k) n.floats[k] = read_f32(rec + (version == 1 ? kOFloatsV1 : kOFloats) + 4 * k);
  for (uint32_t k = 0; k < kOpTensors; ++k) tens[k] = read_u32(rec + (version == 1 ? kOTensorsV1 : kOTensors) + 4 * k);
  if (version == 1) {
    n.n_in = i == 0 ? 0 : 1;
    n.in[0] = i == 0 ? 0 : i - 1;
    n.out = i;
    if ((i == 0) != (n.op == Op::kInput)) fail(LKRT_ERR_FORMAT, "op %u (%s): the first op, and only it, must be input", i, name);
  } else {
    for (uint32_t k = 0; k < kOpInputs; ++k) {
      const uint32_t v = read_u32(rec + kOInputs + 4 * k);
      if (v == kNoValue) continue;
      if (k != n.n_in) fail(LKRT_ERR_FORMAT, "op %u (%s): input slot %u set after an empty slot", i, name, k);
      n.in[n.n_in++] = v;
    }
    n.out = read_u32(rec + kOOutput);
    if (read_u32(rec + kOReserved) != 0) fail(LKRT_ERR_FORMAT, "op %u: reserved field is not zero", i);
  }
  if (n.n_in < d.min_inputs || n.n_in > d.max_inputs)
    fail(LKRT_ERR_FORMAT, "op %u (%s): %u inputs, expected %u..%u", i, name, n.n_in, d.min_inputs, d.max_inputs);
  for (uint32_t k = d.ints; k < kOpIntParams; ++k)
    if (n.ints[k] != 0) fail(LKRT_ERR_FORMAT, "op %u (%s): unused int parameter %u is %u, expected 0", i, name, k, n.ints[k]);
  for (uint32_t k = 0; k < n_floats; ++k) {
    if (k >= d.floats && n.floats[k] != 0.0f) fail(LKRT_ERR_FORMAT, "op %u (%s): unused float parameter %u is not 0", i, name, k);
    if (!std::isfinite(n.floats[k])) fail(LKRT_ERR_FORMAT, "op %u (%s): float parameter %u is not finite", i, name, k);
  }
  for (uint32_t k = 0; k < kOpTensors; ++k) {
    if (tens[k] == kNoTensor) continue;
    if (k >= d.tensors) fail(LKRT_ERR_FORMAT, "op %u (%s): unused tensor slot %u references tensor %u", i, name, k, tens[k]);
    if (tens[k] >= tensors.size())
      fail(LKRT_ERR_FORMAT, "op %u (%s): tensor index %u, the file has %zu tensors", i, name, tens[k], tensors.size());
    TensorRef& t = tensors[tens[k]];
    if (++t.uses > 1) fail(LKRT_ERR_FORMAT, "op %u (%s): tensor %u is used by two ops", i, name, tens[k]);
    n.t[k] = &t;
  }
  return n;
}

// Values: each defined once, before it is read (so the graph has no cycles), each read
// by some op except the last op's, which is the model's output. The inputs the kind needs.
void check_graph(lkrt_model& m, uint32_t value_count) {
  const uint32_t op_count = uint32_t(m.nodes.size());
  if (value_count != op_count)
    fail(LKRT_ERR_FORMAT, "%u values for %u ops: each op defines one value", value_count, op_count);
  m.values.assign(value_count, Value{});
  std::vector<bool> defined(value_count, false);
  uint32_t roles[uint32_t(lkrt::InputRole::kCount)] = {};
  for (uint32_t i = 0; i < op_count; ++i) {
    Node& n = m.nodes[i];
    const char* name = lkrt::op_name(n.op);
    for (uint32_t k = 0; k < n.n_in; ++k) {
      if (n.in[k] >= value_count) fail(LKRT_ERR_FORMAT, "op %u (%s): input %u is value %u, the graph has %u", i, name, k, n.in[k], value_count);
      if (!defined[n.in[k]])
        fail(LKRT_ERR_FORMAT, "op %u (%s): reads value %u before any op defines it (ops must come in order, without cycles)",
             i, name, n.in[k]);
      Value& v = m.values[n.in[k]];
      ++v.uses;
      v.last_use = i;
    }
    if (n.out >= value_count) fail(LKRT_ERR_FORMAT, "op %u (%s): output value %u, the graph has %u", i, name, n.out, value_count);
    if (defined[n.out]) fail(LKRT_ERR_FORMAT, "op %u (%s): value %u is defined twice", i, name, n.out);
    defined[n.out] = true;
    m.values[n.out].producer = i;
    n.chain = n.n_in == 0 || (n.n_in == 1 && i > 0 && n.in[0] == m.nodes[i - 1].out);
    if (n.op == Op::kInput) {
      if (n.ints[0] >= uint32_t(lkrt::InputRole::kCount)) fail(LKRT_ERR_FORMAT, "op %u (input): unknown role %u", i, n.ints[0]);
      if (++roles[n.ints[0]] > 1) fail(LKRT_ERR_FORMAT, "op %u (input): a second input of role %u", i, n.ints[0]);
    }
  }
  const uint32_t output = m.nodes.back().out;
  for (uint32_t v = 0; v < value_count; ++v)
    if (m.values[v].uses == 0 && v != output)
      fail(LKRT_ERR_FORMAT, "value %u (op %u, %s) is never read", v, m.values[v].producer,
           lkrt::op_name(m.nodes[m.values[v].producer].op));
  if (m.values[output].uses != 0) fail(LKRT_ERR_FORMAT, "the output (value %u, of the last op) is read by an op", output);
  m.values[output].last_use = kNone;

  using R = lkrt::InputRole;
  auto has = [&](R r) { return roles[uint32_t(r)] == 1; };
  const bool latent = has(R::kLatent), image = has(R::kImage), t = has(R::kTimestep), label = has(R::kLabel),
             cond = has(R::kCondition), text = has(R::kText), map = has(R::kLabelMap), grid = has(R::kGrid);
  if (map && m.kind != LKRT_KIND_MASK_GENERATOR) fail(LKRT_ERR_FORMAT, "a label map input in a model that is not a mask generator");
  if (grid != (m.kind == LKRT_KIND_WALLPAPER))
    fail(LKRT_ERR_FORMAT, grid ? "a grid input in a model that is not a wallpaper model" : "a wallpaper model has one input, the grid");
  if (text != (m.text.width > 0))
    fail(LKRT_ERR_FORMAT, text ? "a text input without a text section (the text encoder)" : "a text section but no text input");
  switch (m.kind) {
    case LKRT_KIND_GENERATOR:
      if (!latent || image || t || label || cond) fail(LKRT_ERR_FORMAT, "a generator has one input, the latent");
      break;
    case LKRT_KIND_ENHANCER:
      if (!image || latent || t || label || cond) fail(LKRT_ERR_FORMAT, "an enhancer has one input, the image");
      break;
    case LKRT_KIND_MASK_GENERATOR:
      if (!latent || !map || image || t || label || cond) fail(LKRT_ERR_FORMAT, "a mask generator has two inputs, the latent and the label map");
      break;
    case LKRT_KIND_WALLPAPER:
      if (latent || image || t || label || cond) fail(LKRT_ERR_FORMAT, "a wallpaper model has one input, the grid");
      break;
    case LKRT_KIND_DENOISER:
      if (!image || !t || latent) fail(LKRT_ERR_FORMAT, "a denoiser reads an image (x_t) and a time step");
      if (text && label) fail(LKRT_ERR_FORMAT, "a denoiser is conditioned on classes or on text, not both");
      if (label != (m.num_classes > 0))
        fail(LKRT_ERR_FORMAT, "a denoiser of %u classes %s a label input", m.num_classes, label ? "has" : "lacks");
      if (cond != (m.tasks != 0))
        fail(LKRT_ERR_FORMAT, "a denoiser with tasks %u %s a condition input", m.tasks, cond ? "has" : "lacks");
      break;
  }
}

// Elementwise ops read by nothing else run in the epilogue of the op that made their input.
void fuse(lkrt_model& m) {
  const uint32_t output = m.nodes.back().out;
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    Node& n = m.nodes[i];
    if (!lkrt::is_elementwise(n.op)) continue;
    Value& in = m.values[n.in[0]];
    Node& p = m.nodes[in.producer];
    if (!lkrt::op_desc(p.op).epilogue || in.uses != 1 || n.in[0] == output) continue;
    p.post.push_back(lkrt::Post{n.op, n.floats[0], n.floats[1]});
    p.out = n.out;
    m.values[n.out].producer = in.producer;
    in.uses = 0;
    n.fused = true;
  }
}

// Time steps' alpha_bar in double, as latentkit's make_schedule: linear betas from 1e-4 to
// 0.02 scaled by 1000 / T (torch.linspace's two-sided evaluation), or the cosine schedule.
std::vector<double> make_alpha_bar(uint32_t schedule, uint32_t T) {
  std::vector<double> betas(T);
  if (schedule == 1) {
    const double scale = 1000.0 / T, start = scale * 1e-4, end = scale * 0.02, step = (end - start) / (T - 1);
    for (uint32_t i = 0; i < T; ++i) betas[i] = i < T / 2 ? start + step * i : end - step * (T - 1 - i);
  } else {
    const double offset = 0.008;
    auto f = [&](double u) {
      const double c = std::cos((u / T + offset) / (1 + offset) * M_PI / 2);
      return c * c;
    };
    for (uint32_t i = 0; i < T; ++i) betas[i] = std::min(1.0 - f(double(i + 1)) / f(double(i)), 0.999);
  }
  std::vector<double> ab(T);
  double prod = 1.0;
  for (uint32_t i = 0; i < T; ++i) ab[i] = prod *= 1.0 - betas[i];
  return ab;
}

void read_kind(const uint8_t* data, uint32_t version, lkrt_model& m) {
  using namespace lkrt::format;
  if (version == 1) return;  // a generator; the version-2 fields are reserved zeros
  const uint32_t kind = read_u32(data + kHKind);
  if (kind > LKRT_KIND_WALLPAPER)
    fail(LKRT_ERR_UNSUPPORTED, "model kind %u unknown (generator 0, enhancer 1, denoiser 2, mask generator 3, wallpaper 4)", kind);
  if (kind == LKRT_KIND_WALLPAPER && version < 5)
    fail(LKRT_ERR_FORMAT, "a wallpaper model in a version-%u file (wallpaper models are version 5, with their section)", version);
  if (kind == LKRT_KIND_MASK_GENERATOR && version < 4)
    fail(LKRT_ERR_FORMAT, "a mask generator in a version-%u file (mask generators are version 4, with their palette)", version);
  m.kind = lkrt_kind(kind);
  const uint32_t pad = read_u32(data + kHPadMultiple);
  m.schedule = read_u32(data + kHSchedule);
  m.timesteps = read_u32(data + kHTimesteps);
  m.prediction = read_u32(data + kHPrediction);
  m.tasks = read_u32(data + kHTasks);
  m.sample_steps = read_u32(data + kHSampleSteps);
  const bool denoiser = m.kind == LKRT_KIND_DENOISER;
  if (m.kind == LKRT_KIND_ENHANCER) {
    if (pad == 0 || pad > 1024) fail(LKRT_ERR_FORMAT, "enhancer: pad multiple %u not in 1..1024", pad);
    if (m.image.h % pad != 0 || m.image.w % pad != 0)
      fail(LKRT_ERR_FORMAT, "enhancer: the header's size %ux%u is not a multiple of %u", m.image.w, m.image.h, pad);
    m.pad_multiple = pad;
  } else if (pad != 0) {
    fail(LKRT_ERR_FORMAT, "pad multiple %u set on a model that is not an enhancer", pad);
  }
  if (denoiser) {
    if (m.schedule != 1 && m.schedule != 2) fail(LKRT_ERR_FORMAT, "denoiser: schedule %u (linear 1, cosine 2)", m.schedule);
    if (m.timesteps < 2 || m.timesteps > lkrt::kMaxTimesteps)
      fail(LKRT_ERR_FORMAT, "denoiser: %u time steps, not in 2..%u", m.timesteps, lkrt::kMaxTimesteps);
    if (m.prediction > 1) fail(LKRT_ERR_FORMAT, "denoiser: prediction %u (eps 0, v 1)", m.prediction);
    if (m.tasks > 3) fail(LKRT_ERR_FORMAT, "denoiser: tasks %u (inpaint 1, restore 2)", m.tasks);
    if (m.sample_steps < 1 || m.sample_steps > m.timesteps)
      fail(LKRT_ERR_FORMAT, "denoiser: %u sampling steps, not in 1..%u", m.sample_steps, m.timesteps);
    if (m.embed_dim != 0) fail(LKRT_ERR_FORMAT, "denoiser: embed_dim %u, expected 0 (labels go through an embedding op)", m.embed_dim);
    if (uint64_t(m.latent_dim) != m.image.numel())
      fail(LKRT_ERR_FORMAT, "denoiser: latent_dim %u, expected channels x height x width = %llu", m.latent_dim,
           (unsigned long long)m.image.numel());
    m.cond_channels = m.tasks ? m.image.c + 2 : 0;
    m.alpha_bar = make_alpha_bar(m.schedule, m.timesteps);
  } else if (m.schedule || m.timesteps || m.prediction || m.tasks || m.sample_steps) {
    fail(LKRT_ERR_FORMAT, "diffusion fields set on a model that is not a denoiser");
  }
  if (m.kind == LKRT_KIND_ENHANCER && (m.latent_dim != 0 || m.num_classes != 0 || m.embed_dim != 0))
    fail(LKRT_ERR_FORMAT, "enhancer: latent_dim, num_classes and embed_dim must be 0");
  if (m.kind == LKRT_KIND_MASK_GENERATOR) {
    if (m.num_classes < 2 || m.num_classes > kPaletteMaxClasses)
      fail(LKRT_ERR_FORMAT, "mask generator: %u classes, not in 2..%u", m.num_classes, kPaletteMaxClasses);
    if (m.embed_dim != 0) fail(LKRT_ERR_FORMAT, "mask generator: embed_dim %u, expected 0 (the classes come in the map)", m.embed_dim);
  }
  if (m.kind == LKRT_KIND_WALLPAPER && (m.latent_dim == 0 || m.num_classes != 0 || m.embed_dim != 0))
    fail(LKRT_ERR_FORMAT, "wallpaper model: latent_dim (the global vector) must be >= 1, num_classes and embed_dim 0");
  const size_t reserved = version == 2 ? kHReservedV2 : version == 3 ? kHReservedV3 : version == 4 ? kHReservedV4 : kHReservedV5;
  for (size_t i = reserved; i < kHeaderSize; ++i)
    if (data[i] != 0) fail(LKRT_ERR_FORMAT, "reserved header byte %zu is not zero", i);
}

void load(const uint8_t* data, size_t size, uint32_t flags, lkrt_model& m) {
  using namespace lkrt::format;
  if (!lkrt::kernels::cpu_supported())
    fail(LKRT_ERR_UNSUPPORTED, "this lkrt build uses %s instructions the CPU lacks; rebuild with -DLKRT_SIMD=OFF",
         lkrt::kernels::isa_name());
  if (data == nullptr && size != 0) fail(LKRT_ERR_ARGUMENT, "data is null");
  if (size < kHeaderSize) fail(LKRT_ERR_FORMAT, "truncated: %zu bytes, a .lkm header alone is %u bytes", size, kHeaderSize);
  if (std::memcmp(data, kMagic, 8) != 0) fail(LKRT_ERR_FORMAT, "not a .lkm file (bad magic bytes)");
  const uint32_t version = read_u32(data + kHVersion);
  if (version < 1 || version > kVersion)
    fail(LKRT_ERR_VERSION, "format version %u, this runtime reads versions 1 to %u; re-export the model with a matching latentkit",
         version, kVersion);
  if (read_u32(data + kHHeaderSize) != kHeaderSize)
    fail(LKRT_ERR_FORMAT, "header size %u, expected %u", read_u32(data + kHHeaderSize), kHeaderSize);
  const uint64_t file_size = read_u64(data + kHFileSize);
  if (file_size != size)
    fail(LKRT_ERR_FORMAT, "file size field says %llu bytes, got %zu (truncated or padded file)", (unsigned long long)file_size, size);
  if (size > kMaxFileSize) fail(LKRT_ERR_FORMAT, "file of %zu bytes is larger than the 4 GiB limit", size);
  if (!(flags & LKRT_LOAD_SKIP_CHECKSUM)) {
    const uint32_t want = read_u32(data + kHCrc), got = file_crc(data, size);
    if (want != got) fail(LKRT_ERR_FORMAT, "checksum mismatch (stored %08x, computed %08x): the file is corrupt", want, got);
  }
  if (read_u32(data + kHFlags) != 0) fail(LKRT_ERR_FORMAT, "header flags %u, expected 0", read_u32(data + kHFlags));
  if (version == 1)
    for (size_t i = kHModelId + kModelIdMax; i < kHeaderSize; ++i)
      if (data[i] != 0) fail(LKRT_ERR_FORMAT, "reserved header byte %zu is not zero", i);

  m.latent_dim = read_u32(data + kHLatentDim);
  m.num_classes = read_u32(data + kHNumClasses);
  m.embed_dim = read_u32(data + kHEmbedDim);
  m.image = {read_u32(data + kHChannels), read_u32(data + kHHeight), read_u32(data + kHWidth)};
  const uint32_t weight_type = read_u32(data + kHWeightType), op_count = read_u32(data + kHOpCount);
  const uint32_t tensor_count = read_u32(data + kHTensorCount), id_length = read_u32(data + kHModelIdLength);
  const uint64_t op_table = read_u64(data + kHOpTableOffset), tensor_table = read_u64(data + kHTensorTableOffset);
  const uint32_t value_count = version == 1 ? op_count : read_u32(data + kHValueCount);

  using lkrt::kMaxDim;
  if (m.latent_dim > kMaxDim) fail(LKRT_ERR_FORMAT, "latent_dim %u above %u", m.latent_dim, kMaxDim);
  if (m.num_classes > kMaxDim || m.embed_dim > kMaxDim) fail(LKRT_ERR_FORMAT, "num_classes %u / embed_dim %u above %u", m.num_classes, m.embed_dim, kMaxDim);
  if (m.image.c == 0 || m.image.h == 0 || m.image.w == 0 || m.image.c > kMaxDim || m.image.h > lkrt::kMaxSide ||
      m.image.w > lkrt::kMaxSide || m.image.numel() > lkrt::kMaxActivation)
    fail(LKRT_ERR_FORMAT, "image shape [%u,%u,%u] out of range", m.image.c, m.image.h, m.image.w);
  if (weight_type > LKRT_WEIGHT_MIXED) fail(LKRT_ERR_FORMAT, "weight type %u unknown", weight_type);
  m.weight_type = lkrt_weight_type(weight_type);
  read_kind(data, version, m);
  if (m.kind == LKRT_KIND_MASK_GENERATOR && m.latent_dim == 0) fail(LKRT_ERR_FORMAT, "latent_dim 0 not in 1..%u", kMaxDim);
  if (m.kind == LKRT_KIND_GENERATOR) {
    if (m.latent_dim == 0) fail(LKRT_ERR_FORMAT, "latent_dim %u not in 1..%u", m.latent_dim, kMaxDim);
    if ((m.num_classes == 0) != (m.embed_dim == 0))
      fail(LKRT_ERR_FORMAT, "num_classes %u / embed_dim %u: both 0 or both in 1..%u", m.num_classes, m.embed_dim, kMaxDim);
  }
  if (op_count == 0 || op_count > lkrt::kMaxOps) fail(LKRT_ERR_FORMAT, "op count %u not in 1..%u", op_count, lkrt::kMaxOps);
  if (tensor_count > lkrt::kMaxTensors) fail(LKRT_ERR_FORMAT, "tensor count %u above %u", tensor_count, lkrt::kMaxTensors);
  if (id_length > kModelIdMax) fail(LKRT_ERR_FORMAT, "model id length %u above %u", id_length, kModelIdMax);
  m.id.assign(reinterpret_cast<const char*>(data + kHModelId), id_length);
  if (m.id.find('\0') != std::string::npos) fail(LKRT_ERR_FORMAT, "model id contains a NUL byte");
  for (size_t i = kHModelId + id_length; i < kHModelId + kModelIdMax; ++i)
    if (data[i] != 0) fail(LKRT_ERR_FORMAT, "model id padding byte %zu is not zero", i);

  // Tables: after the header, inside the file, not overlapping; data follows them.
  const uint32_t record = version == 1 ? kOpRecordSizeV1 : kOpRecordSize;
  const uint64_t op_end = op_table + uint64_t(op_count) * record;  // no overflow: op_table checked first
  const uint64_t tensor_end = tensor_table + uint64_t(tensor_count) * kTensorRecordSize;
  if (op_table < kHeaderSize || op_table > size || op_end > size)
    fail(LKRT_ERR_FORMAT, "op table at %llu (%u records of %u bytes) outside the file of %zu bytes",
         (unsigned long long)op_table, op_count, record, size);
  if (tensor_table < kHeaderSize || tensor_table > size || tensor_end > size)
    fail(LKRT_ERR_FORMAT, "tensor table at %llu (%u records of 64 bytes) outside the file of %zu bytes",
         (unsigned long long)tensor_table, tensor_count, size);
  if (op_table < tensor_end && tensor_table < op_end && tensor_count > 0)
    fail(LKRT_ERR_FORMAT, "op table and tensor table overlap");
  std::vector<TensorRef> tensors = read_tensors(data, size, tensor_table, tensor_count, std::max(op_end, tensor_end));

  m.nodes.reserve(op_count);
  for (uint32_t i = 0; i < op_count; ++i) m.nodes.push_back(read_node(data + op_table + uint64_t(i) * record, version, i, tensors));
  if (version >= 3 && (read_u64(data + kHTextOffset) != 0 || read_u64(data + kHTextSize) != 0)) {
    if (m.kind != LKRT_KIND_DENOISER) fail(LKRT_ERR_FORMAT, "a text section in a model that is not a denoiser");
    lkrt::read_text_section(m, data, size, read_u64(data + kHTextOffset), read_u64(data + kHTextSize),
                            std::max(op_end, tensor_end), tensors);
  }
  const bool palette = version >= 4 && (read_u64(data + kHPaletteOffset) != 0 || read_u64(data + kHPaletteSize) != 0);
  if (palette != (m.kind == LKRT_KIND_MASK_GENERATOR))
    fail(LKRT_ERR_FORMAT, palette ? "a palette section in a model that is not a mask generator"
                                  : "a mask generator without its palette section");
  if (palette)
    lkrt::read_palette_section(m, data, size, read_u64(data + kHPaletteOffset), read_u64(data + kHPaletteSize),
                               std::max(op_end, tensor_end));
  const bool wallpaper = version >= 5 && (read_u64(data + kHWallpaperOffset) != 0 || read_u64(data + kHWallpaperSize) != 0);
  if (wallpaper != (m.kind == LKRT_KIND_WALLPAPER))
    fail(LKRT_ERR_FORMAT, wallpaper ? "a wallpaper section in a model that is not a wallpaper model"
                                    : "a wallpaper model without its wallpaper section");
  if (wallpaper)
    lkrt::read_wallpaper_section(m, data, size, read_u64(data + kHWallpaperOffset), read_u64(data + kHWallpaperSize),
                                 std::max(op_end, tensor_end), tensors);
  for (uint32_t i = 0; i < tensor_count; ++i)
    if (tensors[i].uses == 0) fail(LKRT_ERR_FORMAT, "tensor %u is not used by any op", i);
  check_graph(m, value_count);
  for (uint32_t i = 0; i < op_count; ++i) lkrt::op_desc(m.nodes[i].op).prepare(m, m.nodes[i], i);
  if (m.kind == LKRT_KIND_WALLPAPER) lkrt::check_wallpaper_graph(m);
  fuse(m);
  // Inputs after a ReLU (through reshapes, which keep the zeros) are about half zeros: their
  // products skip them (kernels.h). Other inputs (SiLU, LeakyReLU, images) take the dense
  // product, saving the compaction.
  for (Node& n : m.nodes) {
    if (n.n_in == 0) continue;
    const Node* p = &m.nodes[m.values[n.in[0]].producer];
    while (p->op == Op::kReshape && p->post.empty() && p->n_in > 0) p = &m.nodes[m.values[p->in[0]].producer];
    n.sparse_input = p->op == Op::kRelu || (!p->post.empty() && p->post.back().op == Op::kRelu);
  }
  // Packs the convolutions' weights: the tensors are at hand only now. A wallpaper model plans
  // the grid of the header's image (a multiple of its cell, checked with its section).
  const uint32_t cell = m.kind == LKRT_KIND_WALLPAPER ? m.wallpaper.cell : 1;
  lkrt::plan(m, m.image.h / cell, m.image.w / cell);
  for (Node& n : m.nodes) std::fill(n.t, n.t + lkrt::format::kOpTensors, nullptr);
  if (m.kind == LKRT_KIND_WALLPAPER) {  // activations and scratch grow with the cells
    const uint64_t cells = uint64_t(m.plan_h) * m.plan_w;
    m.wallpaper.floats_per_cell = (m.arena_floats + m.scratch_floats + cells - 1) / cells;
  }
}

lkrt_status load_entry(const void* data, size_t size, uint32_t flags, lkrt_model** out) {
  if (out == nullptr) return set_error(LKRT_ERR_ARGUMENT, "out is null");
  *out = nullptr;
  return lkrt::guarded(
      [&] {
        std::unique_ptr<lkrt_model> m(new lkrt_model);
        load(static_cast<const uint8_t*>(data), size, flags, *m);
        *out = m.release();
      },
      "out of memory while loading the model");
}

// Elementwise ops and plain reshapes may write over their input when nothing reads it later.
bool can_run_in_place(const Node& n) {
  return lkrt::is_elementwise(n.op) || (n.op == Op::kReshape && n.gather.empty());
}

Shape input_shape(const lkrt_model& m, const Node& n, uint32_t h, uint32_t w) {
  switch (lkrt::InputRole(n.ints[0])) {
    case lkrt::InputRole::kLatent: return {m.latent_dim + m.embed_dim, 1, 1};
    case lkrt::InputRole::kImage: return {m.image.c, h, w};
    case lkrt::InputRole::kCondition: return {m.cond_channels, h, w};
    case lkrt::InputRole::kText: return {m.text.width, 1, 1};
    case lkrt::InputRole::kLabelMap: return {m.num_classes, m.image.h, m.image.w};
    case lkrt::InputRole::kGrid: return {m.wallpaper.channels(), h, w};
    default: return {1, 1, 1};
  }
}

}  // namespace

namespace lkrt {

void plan(lkrt_model& m, uint32_t h, uint32_t w) {
  if (m.kind != LKRT_KIND_ENHANCER && m.kind != LKRT_KIND_WALLPAPER) h = m.image.h, w = m.image.w;
  if (m.arena.data() && m.plan_h == h && m.plan_w == w) return;
  m.plan_h = m.plan_w = 0;
  Scratch need;
  uint64_t flops = 0;
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    Node& n = m.nodes[i];
    if (n.fused) continue;
    Shape in[format::kOpInputs];
    for (uint32_t k = 0; k < n.n_in; ++k) in[k] = m.values[n.in[k]].shape;
    Scratch s;
    const Shape y = n.op == Op::kInput ? input_shape(m, n, h, w) : op_desc(n.op).infer(m, n, in, i, s, flops);
    if (y.c == 0 || y.h == 0 || y.w == 0 || y.c > kMaxDim || y.h > kMaxSide || y.w > kMaxSide || y.numel() > kMaxActivation)
      fail(LKRT_ERR_FORMAT, "op %u (%s): output shape %s out of the supported range (at most %llu values)", i,
           op_name(n.op), shape_text(y).c_str(), (unsigned long long)kMaxActivation);
    m.values[n.out].shape = y;
    need.col = std::max(need.col, s.col);
    need.im2col = std::max(need.im2col, s.im2col);
    need.nz = std::max(need.nz, s.nz);
    need.nz_start = std::max(need.nz_start, s.nz_start);
    need.attention = std::max(need.attention, s.attention);
  }
  const Shape out = m.values[m.nodes.back().out].shape;
  const uint32_t cell = m.wallpaper.cell;
  const Shape want = m.kind == LKRT_KIND_ENHANCER    ? Shape{m.image.c, h, w}
                     : m.kind == LKRT_KIND_WALLPAPER ? Shape{m.image.c, h * cell, w * cell}
                                                     : m.image;
  if (out != want)
    fail(LKRT_ERR_FORMAT, "the ops produce %s, the header says %s", shape_text(out).c_str(), shape_text(want).c_str());

  // Activations: greedy first fit in one arena; a value's block is free once its last reader has run.
  struct Block {
    uint64_t offset, size;
    uint32_t value;
  };
  std::vector<Block> live;  // sorted by offset
  uint64_t arena = 0;
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    if (n.fused) continue;
    live.erase(std::remove_if(live.begin(), live.end(), [&](const Block& b) { return m.values[b.value].last_use < i; }),
               live.end());
    Value& y = m.values[n.out];
    if (can_run_in_place(n) && m.values[n.in[0]].last_use == i) {
      for (Block& b : live)
        if (b.value == n.in[0]) b.value = n.out;
      y.offset = m.values[n.in[0]].offset;
      continue;
    }
    const uint64_t size = (y.shape.numel() + 15) / 16 * 16;
    uint64_t at = 0;
    auto next = live.begin();
    for (; next != live.end() && next->offset < at + size; ++next) at = std::max(at, next->offset + next->size);
    live.insert(next, Block{at, size, n.out});
    y.offset = at;
    arena = std::max(arena, at + size);
  }
  if (arena > kMaxArena)
    fail(LKRT_ERR_FORMAT, "the activations need %llu floats at %ux%u, more than the %llu allowed", (unsigned long long)arena,
         w, h, (unsigned long long)kMaxArena);
  const uint64_t scratch = need.col + need.im2col + 2 * need.nz + need.nz_start + need.attention;
  if (scratch > 4 * kMaxScratch) fail(LKRT_ERR_FORMAT, "the kernels need %llu floats of scratch memory", (unsigned long long)scratch);
  m.arena.reserve(arena + 16);
  m.col.reserve(need.col);
  m.im2col.reserve(need.im2col);
  m.nz_idx.reserve(need.nz);
  m.nz_val.reserve(need.nz);
  m.nz_start.reserve(need.nz_start);
  m.attention.reserve(need.attention);
  for (Value& v : m.values) v.data = m.arena.data() + v.offset;
  m.arena_floats = arena;
  m.scratch_floats = scratch;
  m.flops = flops;

  m.op_texts.clear();
  for (uint32_t i = 0; i < m.nodes.size(); ++i) {
    const Node& n = m.nodes[i];
    std::string text = n.text + " -> " + shape_text(m.values[n.out].shape);
    if (!n.chain) {
      text += "  <-";
      for (uint32_t k = 0; k < n.n_in; ++k) text += " op " + std::to_string(m.values[n.in[k]].producer);
    }
    if (n.fused) text += " (fused)";
    m.op_texts.push_back(text);
  }
  m.plan_h = h;
  m.plan_w = w;
}

const Value& run_graph(lkrt_model& m) {
  for (const Node& n : m.nodes) {
    if (n.fused) continue;
    const Value* in[format::kOpInputs] = {nullptr, nullptr, nullptr, nullptr};
    for (uint32_t k = 0; k < n.n_in; ++k) in[k] = &m.values[n.in[k]];
    op_desc(n.op).run(m, n, in, m.values[n.out]);
  }
  return m.values[m.nodes.back().out];
}

}  // namespace lkrt

namespace {
// The output value (channels-last) into the caller's NCHW.
void to_nchw(const Value& y, float* out) {
  const size_t C = y.shape.c, P = y.shape.pixels();
  for (size_t p = 0; p < P; ++p)
    for (size_t c = 0; c < C; ++c) out[c * P + p] = y.data[p * C + c];
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
    const std::streamoff size = f.tellg();
    if (size < 0) return set_error(LKRT_ERR_IO, std::string(path) + ": cannot read its size");
    if (uint64_t(size) > kMaxFileSize) return set_error(LKRT_ERR_FORMAT, std::string(path) + ": larger than 4 GiB");
    bytes.resize(size_t(size));
    f.seekg(0);
    if (size > 0 && !f.read(bytes.data(), size)) return set_error(LKRT_ERR_IO, std::string(path) + ": read failed");
  } catch (const std::bad_alloc&) {
    return set_error(LKRT_ERR_MEMORY, std::string(path) + ": out of memory reading the file");
  }
  const lkrt_status s = load_entry(bytes.data(), bytes.size(), 0, out);
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
lkrt_kind lkrt_model_kind(const lkrt_model* m) { return m ? m->kind : LKRT_KIND_GENERATOR; }
const char* lkrt_model_id(const lkrt_model* m) { return m ? m->id.c_str() : ""; }
int32_t lkrt_model_op_count(const lkrt_model* m) { return m ? int32_t(m->op_texts.size()) : 0; }
uint64_t lkrt_model_param_count(const lkrt_model* m) { return m ? m->params : 0; }
uint64_t lkrt_model_flops(const lkrt_model* m) { return m ? m->flops : 0; }
uint64_t lkrt_model_activation_bytes(const lkrt_model* m) { return m ? 4 * m->arena_floats : 0; }
uint64_t lkrt_model_scratch_bytes(const lkrt_model* m) { return m ? 4 * m->scratch_floats : 0; }
int32_t lkrt_model_pad_multiple(const lkrt_model* m) { return m ? int32_t(m->pad_multiple) : 0; }
int32_t lkrt_model_timesteps(const lkrt_model* m) { return m ? int32_t(m->timesteps) : 0; }
int32_t lkrt_model_prediction(const lkrt_model* m) { return m ? int32_t(m->prediction) : 0; }
int32_t lkrt_model_tasks(const lkrt_model* m) { return m ? int32_t(m->tasks) : 0; }
int32_t lkrt_model_sample_steps(const lkrt_model* m) { return m ? int32_t(m->sample_steps) : 0; }
const char* lkrt_model_op_text(const lkrt_model* m, int32_t i) {
  if (!m || i < 0 || size_t(i) >= m->op_texts.size()) return nullptr;
  return m->op_texts[size_t(i)].c_str();
}

lkrt_status lkrt_generate(lkrt_model* m, const float* z, int32_t label, float* out) {
  if (!m || !z || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_generate: model, z or out is null");
  if (m->kind != LKRT_KIND_GENERATOR)
    return set_error(LKRT_ERR_ARGUMENT, m->kind == LKRT_KIND_MASK_GENERATOR
                                            ? "lkrt_generate: the model is a mask generator: it draws from a label map (use lkrt_generate_map)"
                                        : m->kind == LKRT_KIND_WALLPAPER
                                            ? "lkrt_generate: the model is a wallpaper model: it draws any size (use lkrt_wallpaper)"
                                            : "lkrt_generate: the model is not a generator (use lkrt_enhance or lkrt_sample)");
  if (m->num_classes == 0 && label != -1)
    return set_error(LKRT_ERR_ARGUMENT, "label " + std::to_string(label) + " given to an unconditional model (pass -1)");
  if (m->num_classes != 0 && (label < 0 || uint32_t(label) >= m->num_classes))
    return set_error(LKRT_ERR_ARGUMENT, "label " + std::to_string(label) + " out of range: the model has " +
                                            std::to_string(m->num_classes) + " classes (0.." +
                                            std::to_string(m->num_classes - 1) + ")");
  m->inputs = lkrt::Inputs{};
  m->inputs.latent = z;
  m->inputs.label = label;
  to_nchw(lkrt::run_graph(*m), out);
  return LKRT_OK;
}

lkrt_status lkrt_generate_map(lkrt_model* m, const float* z, const uint8_t* map, float* out) {
  if (!m || !z || !map || !out) return set_error(LKRT_ERR_ARGUMENT, "lkrt_generate_map: model, z, map or out is null");
  if (m->kind != LKRT_KIND_MASK_GENERATOR)
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_generate_map: the model is not a mask generator (it takes no label map)");
  const size_t W = m->image.w, P = m->image.pixels();
  for (size_t p = 0; p < P; ++p)
    if (map[p] >= m->num_classes)
      return set_error(LKRT_ERR_ARGUMENT, "map pixel (" + std::to_string(p % W) + ", " + std::to_string(p / W) +
                                              ") is class " + std::to_string(map[p]) + ", the model has " +
                                              std::to_string(m->num_classes) + " classes (0.." +
                                              std::to_string(m->num_classes - 1) + ")");
  m->inputs = lkrt::Inputs{};
  m->inputs.latent = z;
  m->inputs.map = map;
  to_nchw(lkrt::run_graph(*m), out);
  return LKRT_OK;
}

lkrt_status lkrt_set_threads(lkrt_model* m, int n) {
  if (!m) return set_error(LKRT_ERR_ARGUMENT, "lkrt_set_threads: model is null");
  if (n < 1 || n > 64) return set_error(LKRT_ERR_ARGUMENT, "threads " + std::to_string(n) + " not in 1..64");
#if defined(LKRT_NO_THREADS)
  if (n > 1)
    return set_error(LKRT_ERR_UNSUPPORTED, "threads " + std::to_string(n) +
                                               ": this lkrt is built without threads (LKRT_THREADS=OFF): use 1 thread");
#endif
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
