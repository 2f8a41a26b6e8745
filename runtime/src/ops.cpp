// One descriptor per op: its arity and parameters, prepare (checks and packs weights at
// load), infer (shapes and scratch for an input size) and run. Adding an op is one row in
// kOps below plus its three functions.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "graph.h"

namespace lkrt {
namespace {

// ---------------------------------------------------------------------------------
// Helpers shared by the ops.

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

// An fp32 vector tensor (bias, GroupNorm affine) of n values copied to dst; zeros when absent.
void load_vector(AlignedArray<float>& dst, const TensorRef* t, uint32_t op, const char* what, uint32_t n) {
  dst.allocate(n);
  if (!t) return;
  if (t->dtype != LKRT_WEIGHT_FP32) fail(LKRT_ERR_FORMAT, "op %u: %s must be fp32, is %s", op, what, weight_type_name(t->dtype));
  check_shape(*t, op, what, {n});
  for (uint32_t i = 0; i < n; ++i) dst.data()[i] = t->at(i);
}

void check_activation(const Shape& s, uint32_t op) {
  if (s.c == 0 || s.h == 0 || s.w == 0 || s.c > kMaxDim || s.h > kMaxSide || s.w > kMaxSide ||
      s.numel() > kMaxActivation)
    fail(LKRT_ERR_FORMAT, "op %u: output shape [%u,%u,%u] out of the supported range (at most %llu values)", op, s.c,
         s.h, s.w, (unsigned long long)kMaxActivation);
}

void check_channels(uint32_t op, const Node& n, uint32_t want, const Shape& in) {
  if (in.c != want)
    fail(LKRT_ERR_FORMAT, "op %u (%s): expects %u input channels, its input is %s", op, op_name(n.op), want,
         shape_text(in).c_str());
}

// Packs B[k][n] = value(k, n) with the weight tensor's values; `source(k, n)` gives the
// element index in the tensor and `channel(n)` its output channel (for int8 scales).
template <class Source, class Channel>
void pack(Packed& p, const TensorRef& t, uint32_t K, uint32_t N, bool keep_type, Source source, Channel channel) {
  p.K = K;
  p.N = N;
  p.panels = (N + kernels::kPanel - 1) / kernels::kPanel;
#if defined(__wasm__)
  // WebAssembly widens int8 and fp16 to float in several steps (no F16C): converting in the
  // matrix-vector products' inner loop costs 4-7x fp32's there, so every weight is fp32 at load.
  keep_type = false;
#endif
  p.type = keep_type ? t.dtype : LKRT_WEIGHT_FP32;
  const size_t total = size_t(p.panels) * K * kernels::kPanel;
  auto index = [&](uint32_t k, uint32_t n) {
    return (size_t(n / kernels::kPanel) * K + k) * kernels::kPanel + n % kernels::kPanel;
  };
  if (p.type == LKRT_WEIGHT_FP32) {
    p.f32.allocate(total);
    for (uint32_t k = 0; k < K; ++k)
      for (uint32_t n = 0; n < N; ++n) p.f32.data()[index(k, n)] = t.at(source(k, n));
  } else if (p.type == LKRT_WEIGHT_FP16) {
    p.f16.allocate(total);
    for (uint32_t k = 0; k < K; ++k)
      for (uint32_t n = 0; n < N; ++n) {
        uint64_t i = source(k, n);
        p.f16.data()[index(k, n)] = uint16_t(t.data[2 * i] | t.data[2 * i + 1] << 8);
      }
  } else {
    p.i8.allocate(total);
    p.col_scale.allocate(size_t(p.panels) * kernels::kPanel);
    for (uint32_t n = 0; n < N; ++n) p.col_scale.data()[n] = t.scale(channel(n));
    for (uint32_t k = 0; k < K; ++k)
      for (uint32_t n = 0; n < N; ++n) p.i8.data()[index(k, n)] = int8_t(t.data[source(k, n)]);
  }
}

std::string format_text(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format_text(const char* fmt, ...) {
  char buf[200];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

void no_prepare(lkrt_model&, Node& n, uint32_t) { n.text = op_name(n.op); }

Shape same_shape(const lkrt_model&, Node&, const Shape* in, uint32_t, Scratch&, uint64_t& flops) {
  flops += in[0].numel();
  return in[0];
}

// ---------------------------------------------------------------------------------
// input

void input_prepare(lkrt_model& m, Node& n, uint32_t i) {
  const uint32_t role = n.ints[0];
  if (role >= uint32_t(InputRole::kCount)) fail(LKRT_ERR_FORMAT, "op %u (input): unknown role %u", i, role);
  if (n.ints[1] != 0 && InputRole(role) != InputRole::kImage && InputRole(role) != InputRole::kCondition &&
      InputRole(role) != InputRole::kText && InputRole(role) != InputRole::kLabelMap && InputRole(role) != InputRole::kGrid)
    fail(LKRT_ERR_FORMAT, "op %u (input): a channel count on a role without channels", i);
  if (n.t[0] && InputRole(role) != InputRole::kLatent)
    fail(LKRT_ERR_FORMAT, "op %u (input): only the latent input has an embedding table", i);
  switch (InputRole(role)) {
    case InputRole::kLatent:
      if (n.t[0]) {
        if (m.num_classes == 0) fail(LKRT_ERR_FORMAT, "op %u (input): embedding table in an unconditional model", i);
        if (m.kind != LKRT_KIND_GENERATOR)
          fail(LKRT_ERR_FORMAT, "op %u (input): an embedding table on the latent of a model that is not a generator", i);
        if (n.t[0]->dtype != LKRT_WEIGHT_FP32) fail(LKRT_ERR_FORMAT, "op %u (input): embedding table must be fp32", i);
        check_shape(*n.t[0], i, "embedding table", {m.num_classes, m.embed_dim});
        n.table.allocate(n.t[0]->numel);
        for (uint64_t k = 0; k < n.t[0]->numel; ++k) n.table.data()[k] = n.t[0]->at(k);
        m.params += n.t[0]->numel;
        n.text = format_text("input z[%u] + embedding[%u,%u]", m.latent_dim, m.num_classes, m.embed_dim);
      } else {
        if (m.embed_dim != 0)
          fail(LKRT_ERR_FORMAT, "op %u (input): the header has %u classes but there is no embedding table", i, m.num_classes);
        n.text = format_text("input z[%u]", m.latent_dim);
      }
      break;
    case InputRole::kImage:
      if (n.ints[1] != m.image.c)
        fail(LKRT_ERR_FORMAT, "op %u (input): image of %u channels, the header says %u", i, n.ints[1], m.image.c);
      n.text = "input image";
      break;
    case InputRole::kCondition:
      if (n.ints[1] == 0 || n.ints[1] != m.cond_channels)
        fail(LKRT_ERR_FORMAT, "op %u (input): condition of %u channels, the model's tasks need %u", i, n.ints[1],
             m.cond_channels);
      n.text = "input condition";
      break;
    case InputRole::kTimestep: n.text = "input t"; break;
    case InputRole::kLabel: n.text = "input label"; break;
    case InputRole::kLabelMap:
      if (n.ints[1] == 0 || n.ints[1] != m.num_classes)
        fail(LKRT_ERR_FORMAT, "op %u (input): label map of %u classes, the header says %u", i, n.ints[1], m.num_classes);
      n.text = format_text("input label map, one-hot of %u classes", m.num_classes);
      break;
    case InputRole::kText:
      if (n.ints[1] == 0 || n.ints[1] != m.text.width)
        fail(LKRT_ERR_FORMAT, "op %u (input): text of %u values, the text encoder's width is %u", i, n.ints[1], m.text.width);
      n.text = "input text";
      break;
    case InputRole::kGrid:
      if (n.ints[1] == 0 || n.ints[1] != m.wallpaper.channels())
        fail(LKRT_ERR_FORMAT, "op %u (input): grid of %u channels, the wallpaper section's parts make %u", i, n.ints[1],
             m.wallpaper.channels());
      n.text = format_text("input grid of %u + %u + %u channels", m.wallpaper.local_dim, m.wallpaper.global_dim,
                           m.wallpaper.periodic_dim);
      break;
    default: break;
  }
}

Shape input_infer(const lkrt_model&, Node&, const Shape*, uint32_t, Scratch&, uint64_t&) {
  return {};  // set by plan(): the input shapes come from the model, not from other values
}

// x [C, H, W] NCHW into channels-last.
void to_channels_last(const float* src, const Shape& s, float* dst) {
  const size_t P = s.pixels(), C = s.c;
  if (C == 1) {
    std::memcpy(dst, src, P * sizeof(float));
    return;
  }
  for (size_t c = 0; c < C; ++c)
    for (size_t p = 0; p < P; ++p) dst[p * C + c] = src[c * P + p];
}

void input_run(lkrt_model& m, const Node& n, const Value* const*, Value& out) {
  const Inputs& x = m.inputs;
  switch (InputRole(n.ints[0])) {
    case InputRole::kLatent:
      std::memcpy(out.data, x.latent, m.latent_dim * sizeof(float));
      if (m.embed_dim)
        std::memcpy(out.data + m.latent_dim, n.table.data() + size_t(x.label) * m.embed_dim, m.embed_dim * sizeof(float));
      break;
    case InputRole::kImage: to_channels_last(x.image, out.shape, out.data); break;
    case InputRole::kGrid: to_channels_last(x.grid, out.shape, out.data); break;
    case InputRole::kCondition:
      if (x.cond)
        to_channels_last(x.cond, out.shape, out.data);
      else
        std::memset(out.data, 0, out.shape.numel() * sizeof(float));
      break;
    case InputRole::kTimestep: out.data[0] = x.timestep; break;
    case InputRole::kLabel: out.data[0] = float(x.label); break;
    case InputRole::kText: std::memcpy(out.data, x.text, m.text.width * sizeof(float)); break;
    case InputRole::kLabelMap: {  // class ids (checked by lkrt_generate_map) to one-hot, channels-last
      const size_t K = out.shape.c, P = out.shape.pixels();
      std::memset(out.data, 0, out.shape.numel() * sizeof(float));
      for (size_t p = 0; p < P; ++p) out.data[p * K + x.map[p]] = 1.0f;
      break;
    }
    default: break;
  }
}

// ---------------------------------------------------------------------------------
// gemm, conv2d, conv_transpose2d: im2col (or none), a packed GEMM, an epilogue.

void gemm_prepare(lkrt_model& m, Node& n, uint32_t i) {
  const uint32_t out = n.ints[0], in = n.ints[1];
  if (out == 0 || in == 0 || out > kMaxDim || in > kMaxDim)
    fail(LKRT_ERR_FORMAT, "op %u (gemm): out %u / in %u out of range", i, out, in);
  if (!n.t[0]) fail(LKRT_ERR_FORMAT, "op %u (gemm): no weight tensor", i);
  check_shape(*n.t[0], i, "weight", {out, in});
  n.matvec = true;
  pack(n.w, *n.t[0], in, out, true, [&](uint32_t k, uint32_t c) { return uint64_t(c) * in + k; },
       [](uint32_t c) { return c; });
  load_vector(n.bias, n.t[1], i, "bias", out);
  m.params += n.t[0]->numel + (n.t[1] ? out : 0);
  n.text = format_text("gemm %u->%u %s", in, out, weight_type_name(n.t[0]->dtype));
}

Shape gemm_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch& s, uint64_t& flops) {
  if (in[0].c != n.ints[1] || in[0].h != 1 || in[0].w != 1)
    fail(LKRT_ERR_FORMAT, "op %u (gemm): input is %s, expected [%u,1,1] (flatten with a reshape first)", i,
         shape_text(in[0]).c_str(), n.ints[1]);
  s.col = n.w.padded();
  flops += 2 * uint64_t(n.ints[0]) * n.ints[1] + n.ints[0];
  return {n.ints[0], 1, 1};
}

bool is_transposed(const Node& n) { return n.op == Op::kConvTranspose2d; }
// A 1x1 convolution of stride 1 reads its input as the GEMM's A directly.
bool is_direct(const Node& n) { return n.op == Op::kConv2d && n.ints[2] == 1 && n.ints[3] == 1 && n.ints[4] == 0; }

void conv_prepare(lkrt_model& m, Node& n, uint32_t i) {
  const bool transposed = is_transposed(n);
  const char* name = op_name(n.op);
  const uint32_t out = n.ints[0], in = n.ints[1], k = n.ints[2], stride = n.ints[3], pad = n.ints[4];
  if (out == 0 || in == 0 || out > kMaxDim || in > kMaxDim || k == 0 || k > kMaxKernel || stride == 0 ||
      stride > kMaxStride || pad > kMaxKernel)
    fail(LKRT_ERR_FORMAT,
         "op %u (%s): out %u in %u kernel %u stride %u padding %u out of range (kernel 1..16, stride 1..16, padding 0..16)",
         i, name, out, in, k, stride, pad);
  if (!n.t[0]) fail(LKRT_ERR_FORMAT, "op %u (%s): no weight tensor", i, name);
  if (transposed)
    check_shape(*n.t[0], i, "weight", {in, out, k, k});
  else
    check_shape(*n.t[0], i, "weight", {out, in, k, k});
  // Transposed: A is the input [pixels, in], column n = tap * out + co. Else A is the im2col
  // matrix, row k = tap * in + ci. The weights are packed by the first plan (at load).
  const uint64_t taps = uint64_t(k) * k, K = transposed ? in : taps * in, N = transposed ? taps * out : out;
  if (K > kMaxScratch || N > kMaxScratch) fail(LKRT_ERR_FORMAT, "op %u (%s): too large", i, name);
  load_vector(n.bias, n.t[1], i, "bias", out);
  m.params += n.t[0]->numel + (n.t[1] ? out : 0);
  n.text = format_text("%s %u->%u k%u s%u p%u %s", name, in, out, k, stride, pad, weight_type_name(n.t[0]->dtype));
}

// Packs the weights: they keep their storage type (fp16, int8) only in a matrix-vector
// layer of a generator, whose shapes never change (the first layer on [z, 1, 1]).
void conv_pack(const lkrt_model& m, Node& n, bool one_pixel) {
  const TensorRef& t = *n.t[0];
  const uint32_t out = n.ints[0], in = n.ints[1], taps = n.ints[2] * n.ints[2];
  n.matvec = one_pixel && m.kind == LKRT_KIND_GENERATOR;
  if (is_transposed(n)) {
    pack(n.w, t, in, taps * out, n.matvec,
         [&](uint32_t ci, uint32_t c) { return (uint64_t(ci) * out + c % out) * taps + c / out; },
         [&](uint32_t c) { return c % out; });
  } else {
    pack(n.w, t, taps * in, out, n.matvec,
         [&](uint32_t kk, uint32_t co) { return (uint64_t(co) * in + kk % in) * taps + kk / in; },
         [](uint32_t c) { return c; });
  }
}

Shape conv_infer(const lkrt_model& m, Node& n, const Shape* in, uint32_t i, Scratch& s, uint64_t& flops) {
  const bool transposed = is_transposed(n);
  const char* name = op_name(n.op);
  const uint32_t out = n.ints[0], k = n.ints[2], stride = n.ints[3], pad = n.ints[4];
  const Shape& x = in[0];
  check_channels(i, n, n.ints[1], x);
  int64_t oh, ow;
  if (transposed) {
    oh = (int64_t(x.h) - 1) * stride - 2 * int64_t(pad) + k;
    ow = (int64_t(x.w) - 1) * stride - 2 * int64_t(pad) + k;
  } else {
    oh = (int64_t(x.h) + 2 * int64_t(pad) - k) / stride + 1;
    ow = (int64_t(x.w) + 2 * int64_t(pad) - k) / stride + 1;
    if (int64_t(x.h) + 2 * int64_t(pad) < k || int64_t(x.w) + 2 * int64_t(pad) < k) oh = ow = 0;
  }
  if (oh <= 0 || ow <= 0 || oh > kMaxSide || ow > kMaxSide)
    fail(LKRT_ERR_FORMAT, "op %u (%s): input %s gives an output of %lldx%lld", i, name, shape_text(x).c_str(),
         (long long)oh, (long long)ow);
  const Shape y{out, uint32_t(oh), uint32_t(ow)};
  check_activation(y, i);
  const uint64_t M = transposed ? x.pixels() : y.pixels();
  if (n.w.panels == 0) conv_pack(m, n, M == 1);
  const uint64_t K = n.w.K;
  uint64_t col = 0, a = 0;
  if (!mul_ok(M, n.w.padded(), &col) || col > kMaxScratch || !mul_ok(M, K, &a) || a > kMaxScratch)
    fail(LKRT_ERR_FORMAT, "op %u (%s): needs more than %llu floats of scratch memory", i, name,
         (unsigned long long)kMaxScratch);
  s.col = col;
  if (!transposed && !is_direct(n)) s.im2col = a;
  if (M > 1 && n.sparse_input) {
    s.nz = a;
    s.nz_start = M * (kernels::sparse_blocks(int(K)) + 1);
  }
  flops += 2 * M * K * n.w.N + y.numel();
  return y;
}

struct ConvJob {
  const Node* node;
  lkrt_model* m;
  const float* in;
  Shape x, y;
  float* out;
  int phase;    // 0: im2col and sparse rows, 1: gemm, 2: epilogue
  bool sparse;  // the product skips the zeros of A (sparse_rows, gemm_f32_sparse)
};

void im2col(const Node& n, const Shape& x, const Shape& y, const float* in, float* a, int y0, int y1) {
  const uint32_t k = n.ints[2], stride = n.ints[3], pad = n.ints[4], ci = x.c;
  const size_t K = size_t(k) * k * ci;
  for (int oy = y0; oy < y1; ++oy)
    for (uint32_t ox = 0; ox < y.w; ++ox) {
      float* row = a + (size_t(oy) * y.w + ox) * K;
      for (uint32_t ky = 0; ky < k; ++ky) {
        const int64_t iy = int64_t(oy) * stride + ky - pad;
        for (uint32_t kx = 0; kx < k; ++kx) {
          const int64_t ix = int64_t(ox) * stride + kx - pad;
          float* dst = row + (size_t(ky) * k + kx) * ci;
          if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w)
            std::memset(dst, 0, ci * sizeof(float));
          else
            std::memcpy(dst, in + (size_t(iy) * x.w + size_t(ix)) * ci, ci * sizeof(float));
        }
      }
    }
}

void conv_task(void* ctx, int index, int count) {
  ConvJob& job = *static_cast<ConvJob*>(ctx);
  const Node& n = *job.node;
  lkrt_model& m = *job.m;
  const Shape &x = job.x, &y = job.y;
  const bool transposed = is_transposed(n), gemm = n.op == Op::kGemm, direct = is_direct(n);
  // A: [M, K] row-major with leading dimension lda.
  const float* A = (gemm || transposed || direct) ? job.in : m.im2col.data();
  const size_t lda = (gemm || transposed || direct) ? x.c : n.w.K;
  const int M = int(transposed ? x.pixels() : y.pixels());
  int b, e;
  if (job.phase == 0) {  // im2col and the sparse rows of A, split by rows of the map
    if (transposed) {
      split_range(int(x.h), index, count, &b, &e);
      b *= int(x.w);
      e *= int(x.w);
    } else {
      split_range(int(y.h), index, count, &b, &e);
      if (!direct) im2col(n, x, y, job.in, m.im2col.data(), b, e);
      b *= int(y.w);
      e *= int(y.w);
    }
    if (job.sparse) kernels::sparse_rows(int(n.w.K), A, lda, b, e, m.nz_idx.data(), m.nz_val.data(), m.nz_start.data());
    return;
  }
  if (job.phase == 1) {  // gemm, split by panels of output columns
    const Packed& w = n.w;
    split_range(int(w.panels), index, count, &b, &e);
    if (job.sparse) {
      kernels::gemm_f32_sparse(M, int(w.K), m.nz_idx.data(), m.nz_val.data(), m.nz_start.data(), w.f32.data(), b, e,
                               m.col.data(), w.padded());
    } else if (M > 1) {
      kernels::gemm_f32_dense(M, int(w.K), A, lda, w.f32.data(), b, e, m.col.data(), w.padded());
    } else if (w.type == LKRT_WEIGHT_FP32) {
      kernels::matvec_f32(int(w.K), A, w.f32.data(), b, e, m.col.data());
    } else if (w.type == LKRT_WEIGHT_FP16) {
      kernels::matvec_f16(int(w.K), A, w.f16.data(), b, e, m.col.data());
    } else {
      kernels::matvec_i8(int(w.K), A, w.i8.data(), w.col_scale.data(), b, e, m.col.data());
    }
    return;
  }
  // Epilogue: bias, col2im for transposed convolutions, fused elementwise ops; split by output rows.
  const size_t co = y.c, ldc = n.w.padded();
  const float* bias = n.bias.data();
  split_range(int(y.h), index, count, &b, &e);
  if (b >= e) return;
  if (!transposed) {
    for (size_t p = size_t(b) * y.w; p < size_t(e) * y.w; ++p) {
      const float* src = m.col.data() + p * ldc;
      float* dst = job.out + p * co;
      for (size_t c = 0; c < co; ++c) dst[c] = src[c] + bias[c];
    }
  } else {
    const int k = int(n.ints[2]), st = int(n.ints[3]), pad = int(n.ints[4]);
    const int ih = int(x.h), iw = int(x.w);
    for (int oy = b; oy < e; ++oy)
      for (int ox = 0; ox < int(y.w); ++ox) {
        float* dst = job.out + (size_t(oy) * y.w + ox) * co;
        std::memcpy(dst, bias, co * sizeof(float));
        for (int ky = 0; ky < k; ++ky) {
          const int ty = oy + pad - ky;
          if (ty < 0 || ty % st != 0 || ty / st >= ih) continue;
          for (int kx = 0; kx < k; ++kx) {
            const int tx = ox + pad - kx;
            if (tx < 0 || tx % st != 0 || tx / st >= iw) continue;
            const float* src = m.col.data() + (size_t(ty / st) * iw + tx / st) * ldc + size_t(ky * k + kx) * co;
            kernels::add_inplace(dst, src, co);
          }
        }
      }
  }
  apply_posts(job.out + size_t(b) * y.w * co, size_t(e - b) * y.w * co, n.post);
}

void run_job(lkrt_model& m, ConvJob& job) {
  if (m.pool)
    m.pool->run(conv_task, &job, 4 * m.pool->size());  // chunks: a busy core delays only its own
  else
    conv_task(&job, 0, 1);
}

// The share of nonzeros in x at or above which the sparse product costs more than it saves
// (its rows cannot share the weights' loads as the dense product's blocked rows do). On the
// 2-core AMD EPYC, 1 thread: the DCGAN and pix2pix inputs after a ReLU are 15-55% nonzeros
// and run 20-25% faster sparse; SPADE's gamma and beta convolutions read relu(conv(label
// map)), 29-83% nonzeros (75-83% at 32 and 64 px, where most of its work is): shapes-spade
// draws an image in 21-22 ms with this threshold, 23-25 ms at 0.7, 28-29 ms at 0.8, 38-39 ms
// with every such input sparse and 27 ms with none.
constexpr double kSparseBelow = 0.6;

// Whether the product should skip x's zeros: an input after a ReLU, mostly zeros in fact.
// Both products give the same bits, so this choice changes the speed alone.
bool sparse_product(const Node& n, const Value& x, uint64_t rows) {
  if (!n.sparse_input || rows <= 1) return false;
  const size_t count = x.shape.numel();
  size_t nonzeros = 0;
  for (size_t i = 0; i < count; ++i) nonzeros += x.data[i] != 0.0f;
  return double(nonzeros) < kSparseBelow * double(count);
}

void conv_run(lkrt_model& m, const Node& n, const Value* const* in, Value& out) {
  const uint64_t M = is_transposed(n) ? in[0]->shape.pixels() : out.shape.pixels();
  ConvJob job{&n, &m, in[0]->data, in[0]->shape, out.shape, out.data, 0, sparse_product(n, *in[0], M)};
  const bool one_pixel = M == 1;
  if (!(one_pixel && (n.op == Op::kGemm || is_transposed(n) || is_direct(n)))) run_job(m, job);
  job.phase = 1;
  run_job(m, job);
  if (n.op == Op::kGemm) {
    for (size_t c = 0; c < out.shape.c; ++c) out.data[c] = m.col.data()[c] + n.bias.data()[c];
    apply_posts(out.data, out.shape.c, n.post);
  } else {
    job.phase = 2;
    run_job(m, job);
  }
}

// ---------------------------------------------------------------------------------
// upsample_nearest, reshape

void upsample_prepare(lkrt_model&, Node& n, uint32_t i) {
  if (n.ints[0] == 0 || n.ints[0] > kMaxScale)
    fail(LKRT_ERR_FORMAT, "op %u (upsample_nearest): scale %u not in 1..16", i, n.ints[0]);
  n.text = format_text("upsample_nearest x%u", n.ints[0]);
}

Shape upsample_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t&) {
  const Shape y{in[0].c, in[0].h * n.ints[0], in[0].w * n.ints[0]};  // no overflow: sides <= 2^14, scale <= 16
  check_activation(y, i);
  return y;
}

void upsample_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const Shape &x = in[0]->shape, &y = out.shape;
  const size_t c = x.c, s = n.ints[0];
  for (size_t oy = 0; oy < y.h; ++oy)
    for (size_t ox = 0; ox < y.w; ++ox)
      std::memcpy(out.data + (oy * y.w + ox) * c, in[0]->data + ((oy / s) * x.w + ox / s) * c, c * sizeof(float));
}

// downsample_nearest: y[c, i, j] = x[c, i f, j f], the sides multiples of f (PyTorch's
// nearest interpolation to H / f x W / f: a SPADE label map at a block's size).

void downsample_prepare(lkrt_model&, Node& n, uint32_t i) {
  if (n.ints[0] == 0 || n.ints[0] > kMaxSide)
    fail(LKRT_ERR_FORMAT, "op %u (downsample_nearest): factor %u not in 1..%u", i, n.ints[0], kMaxSide);
  n.text = format_text("downsample_nearest /%u", n.ints[0]);
}

Shape downsample_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t&) {
  const uint32_t f = n.ints[0];
  if (in[0].h % f != 0 || in[0].w % f != 0)
    fail(LKRT_ERR_FORMAT, "op %u (downsample_nearest): input %s, its sides are not multiples of %u", i,
         shape_text(in[0]).c_str(), f);
  return {in[0].c, in[0].h / f, in[0].w / f};
}

void downsample_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const Shape &x = in[0]->shape, &y = out.shape;
  const size_t c = x.c, f = n.ints[0];
  for (size_t oy = 0; oy < y.h; ++oy)
    for (size_t ox = 0; ox < y.w; ++ox)
      std::memcpy(out.data + (oy * y.w + ox) * c, in[0]->data + (oy * f * x.w + ox * f) * c, c * sizeof(float));
}

void reshape_prepare(lkrt_model&, Node& n, uint32_t i) {
  const Shape to{n.ints[0], n.ints[1], n.ints[2]};
  if (to.c == 0 || to.h == 0 || to.w == 0 || to.c > kMaxDim || to.h > kMaxSide || to.w > kMaxSide)
    fail(LKRT_ERR_FORMAT, "op %u (reshape): target %s out of range", i, shape_text(to).c_str());
  n.text = "reshape";
}

Shape reshape_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t&) {
  const Shape to{n.ints[0], n.ints[1], n.ints[2]}, &x = in[0];
  if (to.numel() != x.numel())
    fail(LKRT_ERR_FORMAT, "op %u (reshape): %s cannot be reshaped to %s", i, shape_text(x).c_str(), shape_text(to).c_str());
  // Values are channels-last; the reshape follows torch's C-major order.
  const uint64_t count = to.numel();
  bool identity = true;
  std::vector<uint32_t> gather(count);
  for (uint32_t h = 0; h < to.h; ++h)
    for (uint32_t w = 0; w < to.w; ++w)
      for (uint32_t c = 0; c < to.c; ++c) {
        const uint64_t f = (uint64_t(c) * to.h + h) * to.w + w;  // logical index
        const uint64_t c1 = f / x.pixels(), rem = f % x.pixels();
        const uint64_t src = rem * x.c + c1, dst = (uint64_t(h) * to.w + w) * to.c + c;
        gather[dst] = uint32_t(src);
        identity = identity && src == dst;
      }
  if (identity) gather.clear();
  n.gather = std::move(gather);
  return to;
}

void reshape_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const size_t count = out.shape.numel();
  if (n.gather.empty()) {
    if (out.data != in[0]->data) std::memcpy(out.data, in[0]->data, count * sizeof(float));
    return;
  }
  for (size_t i = 0; i < count; ++i) out.data[i] = in[0]->data[n.gather[i]];
}

// ---------------------------------------------------------------------------------
// Elementwise ops (when not fused into the node before them).

void elementwise_prepare(lkrt_model&, Node& n, uint32_t i) {
  for (uint32_t k = 0; k < format::kOpFloatParams; ++k)
    if (!std::isfinite(n.floats[k])) fail(LKRT_ERR_FORMAT, "op %u (%s): float parameter %u is not finite", i, op_name(n.op), k);
  if (n.op == Op::kLeakyRelu)
    n.text = format_text("leaky_relu %g", double(n.floats[0]));
  else if (n.op == Op::kAffine)
    n.text = format_text("affine %g*x%+g", double(n.floats[0]), double(n.floats[1]));
  else
    n.text = op_name(n.op);
}

void elementwise_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const size_t count = out.shape.numel();
  if (out.data != in[0]->data) std::memcpy(out.data, in[0]->data, count * sizeof(float));
  apply_post(out.data, count, Post{n.op, n.floats[0], n.floats[1]});
}

// ---------------------------------------------------------------------------------
// group_norm: y = (x - mean_g) / sqrt(var_g + eps) gamma_c + beta_c over each group of
// channels and all pixels (torch.nn.GroupNorm); statistics in double, two passes.

void group_norm_prepare(lkrt_model& m, Node& n, uint32_t i) {
  const uint32_t groups = n.ints[0], channels = n.ints[1];
  const float eps = n.floats[0];
  if (groups == 0 || channels == 0 || channels > kMaxDim || channels % groups != 0)
    fail(LKRT_ERR_FORMAT, "op %u (group_norm): %u channels in %u groups (the groups must divide the channels)", i,
         channels, groups);
  if (!(eps > 0.0f) || !std::isfinite(eps)) fail(LKRT_ERR_FORMAT, "op %u (group_norm): epsilon %g must be > 0", i, double(eps));
  if (!n.t[0] || !n.t[1]) fail(LKRT_ERR_FORMAT, "op %u (group_norm): needs the weight and bias tensors", i);
  load_vector(n.gamma, n.t[0], i, "weight", channels);
  load_vector(n.beta, n.t[1], i, "bias", channels);
  m.params += 2 * uint64_t(channels);
  n.text = format_text("group_norm %u groups eps %g", groups, double(eps));
}

Shape group_norm_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch& s, uint64_t& flops) {
  check_channels(i, n, n.ints[1], in[0]);
  s.col = 6 * uint64_t(n.ints[1]);  // GroupNormJob's work: 2 doubles and 2 floats per channel
  flops += 8 * in[0].numel();
  return in[0];
}

struct GroupNormJob {
  const Node* node;
  const float* x;
  float* y;
  size_t pixels;
  // Per channel: the sums of the statistics (then the groups' squared deviations), the
  // group's mean, and the scale and shift of the normalisation pass.
  double* sum;
  double* mean;
  float* scale;
  float* shift;
};

// Statistics, split by groups: the sums per channel over the pixels (kernels.h), then per
// group, in double; sets the scale and shift of the group's channels.
void group_norm_stats_task(void* ctx, int index, int count) {
  const GroupNormJob& job = *static_cast<GroupNormJob*>(ctx);
  const Node& n = *job.node;
  const size_t C = n.ints[1], G = n.ints[0], cg = C / G, P = job.pixels;
  int g0, g1;
  split_range(int(G), index, count, &g0, &g1);
  if (g0 >= g1) return;
  const size_t a = size_t(g0) * cg, width = size_t(g1 - g0) * cg;
  double* sum = job.sum + a;
  std::fill(sum, sum + width, 0.0);
  kernels::column_sums_f64(P, width, job.x + a, C, sum);
  for (size_t g = 0; g < size_t(g1 - g0); ++g) {
    double total = 0;
    for (size_t c = 0; c < cg; ++c) total += sum[g * cg + c];
    std::fill(job.mean + a + g * cg, job.mean + a + (g + 1) * cg, total / double(P * cg));
  }
  std::fill(sum, sum + width, 0.0);
  kernels::column_sq_deviations_f64(P, width, job.x + a, C, job.mean + a, sum);
  for (size_t g = 0; g < size_t(g1 - g0); ++g) {
    double sq = 0;
    for (size_t c = 0; c < cg; ++c) sq += sum[g * cg + c];
    const double mean = job.mean[a + g * cg];
    const double rstd = 1.0 / std::sqrt(sq / double(P * cg) + double(n.floats[0]));
    for (size_t c = a + g * cg; c < a + (g + 1) * cg; ++c) {
      job.scale[c] = float(rstd * n.gamma.data()[c]);
      job.shift[c] = float(n.beta.data()[c] - mean * rstd * n.gamma.data()[c]);
    }
  }
}

// y = x * scale[c] + shift[c] with a fused SiLU in the same pass (and other fused ops
// after it), split by pixels.
void group_norm_apply_task(void* ctx, int index, int count) {
  const GroupNormJob& job = *static_cast<GroupNormJob*>(ctx);
  const Node& n = *job.node;
  const size_t C = n.ints[1];
  int p0, p1;
  split_range(int(job.pixels), index, count, &p0, &p1);
  if (p0 >= p1) return;
  const bool silu = !n.post.empty() && n.post[0].op == Op::kSilu;
  float* y = job.y + size_t(p0) * C;
  kernels::channel_affine(size_t(p1 - p0), C, job.x + size_t(p0) * C, job.scale, job.shift, silu, y);
  for (size_t k = silu ? 1 : 0; k < n.post.size(); ++k) apply_post(y, size_t(p1 - p0) * C, n.post[k]);
}

void group_norm_run(lkrt_model& m, const Node& n, const Value* const* in, Value& out) {
  const size_t C = n.ints[1];
  double* work = reinterpret_cast<double*>(m.col.data());  // 6 C floats (group_norm_infer), 64-byte aligned
  GroupNormJob job{&n, in[0]->data, out.data, size_t(in[0]->shape.pixels()), work, work + C,
                   reinterpret_cast<float*>(work + 2 * C), reinterpret_cast<float*>(work + 2 * C) + C};
  if (m.pool) {
    m.pool->run(group_norm_stats_task, &job, std::min<int>(int(n.ints[0]), 4 * m.pool->size()));
    m.pool->run(group_norm_apply_task, &job, std::min<int>(int(job.pixels), 4 * m.pool->size()));
  } else {
    group_norm_stats_task(&job, 0, 1);
    group_norm_apply_task(&job, 0, 1);
  }
}

// ---------------------------------------------------------------------------------
// add (the second input may be [C, 1, 1], added at every pixel), concat (channels)

Shape add_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t& flops) {
  const Shape &a = in[0], &b = in[1];
  if (a.c != b.c || !((b.h == a.h && b.w == a.w) || (b.h == 1 && b.w == 1)))
    fail(LKRT_ERR_FORMAT, "op %u (add): %s + %s (the second must have the first's shape, or [C,1,1])", i,
         shape_text(a).c_str(), shape_text(b).c_str());
  flops += a.numel();
  (void)n;
  return a;
}

void add_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const size_t count = out.shape.numel(), C = out.shape.c;
  const float *a = in[0]->data, *b = in[1]->data;
  if (in[1]->shape.pixels() == 1 && out.shape.pixels() > 1) {
    for (size_t p = 0; p < count; p += C)
      for (size_t c = 0; c < C; ++c) out.data[p + c] = a[p + c] + b[c];
  } else {
    for (size_t k = 0; k < count; ++k) out.data[k] = a[k] + b[k];
  }
  apply_posts(out.data, count, n.post);
}

// mul: a * b elementwise; b has a's shape or is [C, 1, 1] (as add). SPADE's x * (1 + gamma).

Shape mul_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t& flops) {
  const Shape &a = in[0], &b = in[1];
  if (a.c != b.c || !((b.h == a.h && b.w == a.w) || (b.h == 1 && b.w == 1)))
    fail(LKRT_ERR_FORMAT, "op %u (mul): %s * %s (the second must have the first's shape, or [C,1,1])", i,
         shape_text(a).c_str(), shape_text(b).c_str());
  flops += a.numel();
  (void)n;
  return a;
}

void mul_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const size_t count = out.shape.numel(), C = out.shape.c;
  const float *a = in[0]->data, *b = in[1]->data;
  if (in[1]->shape.pixels() == 1 && out.shape.pixels() > 1) {
    for (size_t p = 0; p < count; p += C)
      for (size_t c = 0; c < C; ++c) out.data[p + c] = a[p + c] * b[c];
  } else {
    for (size_t k = 0; k < count; ++k) out.data[k] = a[k] * b[k];
  }
  apply_posts(out.data, count, n.post);
}

Shape concat_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t&) {
  Shape y = in[0];
  for (uint32_t k = 1; k < n.n_in; ++k) {
    if (in[k].h != y.h || in[k].w != y.w)
      fail(LKRT_ERR_FORMAT, "op %u (concat): input %u is %s, input 0 is %s (the sides must match)", i, k,
           shape_text(in[k]).c_str(), shape_text(in[0]).c_str());
    y.c += in[k].c;
  }
  check_activation(y, i);
  return y;
}

void concat_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const size_t P = out.shape.pixels(), C = out.shape.c;
  size_t c0 = 0;
  for (uint32_t k = 0; k < n.n_in; ++k) {
    const size_t ck = in[k]->shape.c;
    for (size_t p = 0; p < P; ++p) std::memcpy(out.data + p * C + c0, in[k]->data + p * ck, ck * sizeof(float));
    c0 += ck;
  }
}

// ---------------------------------------------------------------------------------
// attention: the input holds q, k and v of each pixel ([3C, H, W], channels [0, C), [C,
// 2C), [2C, 3C)); each head of d = C / heads channels: out_i = sum_j softmax_j(scale q_i .
// k_j) v_j, over the pixels i, j.

void attention_prepare(lkrt_model&, Node& n, uint32_t i) {
  const uint32_t heads = n.ints[0], channels = n.ints[1];
  if (heads == 0 || channels == 0 || channels > kMaxDim || channels % heads != 0)
    fail(LKRT_ERR_FORMAT, "op %u (attention): %u channels in %u heads", i, channels, heads);
  if (!(n.floats[0] > 0.0f) || !std::isfinite(n.floats[0]))
    fail(LKRT_ERR_FORMAT, "op %u (attention): scale %g must be > 0", i, double(n.floats[0]));
  n.text = format_text("attention %u heads, %u channels", heads, channels);
}

Shape attention_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch& s, uint64_t& flops) {
  check_channels(i, n, 3 * n.ints[1], in[0]);
  const uint64_t P = in[0].pixels();
  if (P > (1u << 16)) fail(LKRT_ERR_FORMAT, "op %u (attention): %llu pixels, at most 65536", i, (unsigned long long)P);
  s.attention = P * 64;  // one row of weights per thread (at most 64)
  flops += 4 * P * P * n.ints[1] + 3 * P * P * n.ints[0];
  return {n.ints[1], in[0].h, in[0].w};
}

struct AttentionJob {
  const Node* node;
  const float* x;
  float* y;
  size_t pixels;
  float* weights;  // [chunks, pixels]
};

void attention_task(void* ctx, int index, int count) {
  const AttentionJob& job = *static_cast<AttentionJob*>(ctx);
  const Node& n = *job.node;
  const size_t C = n.ints[1], H = n.ints[0], d = C / H, P = job.pixels, stride = 3 * C;
  const float scale = n.floats[0];
  float* w = job.weights + size_t(index) * P;
  int b, e;
  split_range(int(P * H), index, count, &b, &e);
  for (int r = b; r < e; ++r) {
    const size_t i = size_t(r) / H, h = size_t(r) % H;
    const float* q = job.x + i * stride + h * d;
    float top = -INFINITY;
    for (size_t j = 0; j < P; ++j) {
      w[j] = kernels::dot(q, job.x + j * stride + C + h * d, d) * scale;
      top = std::max(top, w[j]);
    }
    double total = 0;
    for (size_t j = 0; j < P; ++j) {
      w[j] = std::exp(w[j] - top);
      total += w[j];
    }
    const float inv = float(1.0 / total);
    float* y = job.y + i * C + h * d;
    std::fill(y, y + d, 0.0f);
    for (size_t j = 0; j < P; ++j) kernels::axpy(w[j] * inv, job.x + j * stride + 2 * C + h * d, y, d);
  }
}

void attention_run(lkrt_model& m, const Node& n, const Value* const* in, Value& out) {
  AttentionJob job{&n, in[0]->data, out.data, size_t(in[0]->shape.pixels()), m.attention.data()};
  if (m.pool)
    m.pool->run(attention_task, &job, std::min(64, 4 * m.pool->size()));
  else
    attention_task(&job, 0, 1);
}

// ---------------------------------------------------------------------------------
// timestep_embedding: t -> [sin(t f_0..f_{h-1}), cos(t f_0..f_{h-1})] (and a 0 when dim is
// odd), f_i = exp(-ln(10000) i / max(h - 1, 1)), h = dim / 2; computed in float as
// latentkit's timestep_embedding does.  embedding: row `label` of a table.

void timestep_prepare(lkrt_model&, Node& n, uint32_t i) {
  if (n.ints[0] < 2 || n.ints[0] > kMaxDim) fail(LKRT_ERR_FORMAT, "op %u (timestep_embedding): dimension %u", i, n.ints[0]);
  n.text = format_text("timestep_embedding %u", n.ints[0]);
}

Shape timestep_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t& flops) {
  if (in[0].numel() != 1) fail(LKRT_ERR_FORMAT, "op %u (timestep_embedding): input %s, expected [1,1,1]", i, shape_text(in[0]).c_str());
  flops += 4 * uint64_t(n.ints[0]);
  return {n.ints[0], 1, 1};
}

void timestep_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  const uint32_t dim = n.ints[0], half = dim / 2;
  const float t = in[0]->data[0], log_base = -float(std::log(10000.0)), denom = float(std::max<uint32_t>(half - 1, 1));
  for (uint32_t k = 0; k < half; ++k) {
    const float arg = t * std::exp(log_base * float(k) / denom);
    out.data[k] = std::sin(arg);
    out.data[half + k] = std::cos(arg);
  }
  if (dim % 2) out.data[dim - 1] = 0.0f;
}

void embedding_prepare(lkrt_model& m, Node& n, uint32_t i) {
  const uint32_t rows = n.ints[0], dim = n.ints[1];
  if (rows == 0 || dim == 0 || rows > kMaxDim || dim > kMaxDim) fail(LKRT_ERR_FORMAT, "op %u (embedding): %u rows of %u", i, rows, dim);
  if (!n.t[0]) fail(LKRT_ERR_FORMAT, "op %u (embedding): no table", i);
  if (n.t[0]->dtype != LKRT_WEIGHT_FP32) fail(LKRT_ERR_FORMAT, "op %u (embedding): the table must be fp32", i);
  check_shape(*n.t[0], i, "table", {rows, dim});
  if (m.num_classes != 0 && rows != m.num_classes + 1)
    fail(LKRT_ERR_FORMAT, "op %u (embedding): %u rows, the model has %u classes and a no-class row", i, rows, m.num_classes);
  n.table.allocate(n.t[0]->numel);
  for (uint64_t k = 0; k < n.t[0]->numel; ++k) n.table.data()[k] = n.t[0]->at(k);
  m.params += n.t[0]->numel;
  n.text = format_text("embedding %u x %u", rows, dim);
}

Shape embedding_infer(const lkrt_model&, Node& n, const Shape* in, uint32_t i, Scratch&, uint64_t&) {
  if (in[0].numel() != 1) fail(LKRT_ERR_FORMAT, "op %u (embedding): input %s, expected [1,1,1]", i, shape_text(in[0]).c_str());
  return {n.ints[1], 1, 1};
}

void embedding_run(lkrt_model&, const Node& n, const Value* const* in, Value& out) {
  // The C API checks labels; a value outside the table reads its last row.
  const float label = in[0]->data[0];
  const uint32_t rows = n.ints[0], dim = n.ints[1];
  const uint32_t row = label >= 0.0f && label < float(rows) ? uint32_t(label) : rows - 1;
  std::memcpy(out.data, n.table.data() + size_t(row) * dim, dim * sizeof(float));
}

// ---------------------------------------------------------------------------------

// Index: the op's number. Columns: inputs min, max; ints, floats and tensors used; epilogue.
const OpDesc kOps[] = {
    {0, 0, 0, 0, 0, false, nullptr, nullptr, nullptr},                                        // none
    {0, 0, 2, 0, 1, false, input_prepare, input_infer, input_run},                            // input
    {1, 1, 2, 0, 2, true, gemm_prepare, gemm_infer, conv_run},                                // gemm
    {1, 1, 5, 0, 2, true, conv_prepare, conv_infer, conv_run},                                // conv2d
    {1, 1, 5, 0, 2, true, conv_prepare, conv_infer, conv_run},                                // conv_transpose2d
    {1, 1, 1, 0, 0, false, upsample_prepare, upsample_infer, upsample_run},                   // upsample_nearest
    {1, 1, 0, 0, 0, false, elementwise_prepare, same_shape, elementwise_run},                 // relu
    {1, 1, 0, 1, 0, false, elementwise_prepare, same_shape, elementwise_run},                 // leaky_relu
    {1, 1, 0, 0, 0, false, elementwise_prepare, same_shape, elementwise_run},                 // tanh
    {1, 1, 0, 0, 0, false, elementwise_prepare, same_shape, elementwise_run},                 // sigmoid
    {1, 1, 0, 2, 0, false, elementwise_prepare, same_shape, elementwise_run},                 // affine
    {1, 1, 3, 0, 0, false, reshape_prepare, reshape_infer, reshape_run},                      // reshape
    {1, 1, 0, 0, 0, false, elementwise_prepare, same_shape, elementwise_run},                 // silu
    {1, 1, 2, 1, 2, true, group_norm_prepare, group_norm_infer, group_norm_run},              // group_norm
    {2, 2, 0, 0, 0, true, no_prepare, add_infer, add_run},                                    // add
    {2, 4, 0, 0, 0, false, no_prepare, concat_infer, concat_run},                             // concat
    {1, 1, 2, 1, 0, false, attention_prepare, attention_infer, attention_run},                // attention
    {1, 1, 1, 0, 0, false, timestep_prepare, timestep_infer, timestep_run},                   // timestep_embedding
    {1, 1, 2, 0, 1, false, embedding_prepare, embedding_infer, embedding_run},                // embedding
    {2, 2, 0, 0, 0, true, no_prepare, mul_infer, mul_run},                                    // mul
    {1, 1, 1, 0, 0, false, downsample_prepare, downsample_infer, downsample_run},             // downsample_nearest
};
static_assert(sizeof kOps / sizeof kOps[0] == size_t(Op::kCount), "a descriptor for every op");

}  // namespace

const OpDesc& op_desc(Op op) { return kOps[uint32_t(op) < uint32_t(Op::kCount) ? uint32_t(op) : 0]; }

void apply_post(float* x, size_t n, const Post& p) {
  switch (p.op) {
    case Op::kRelu:
      for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case Op::kLeakyRelu:
      for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : x[i] * p.a;
      break;
    case Op::kTanh: kernels::tanh_inplace(x, n); break;
    case Op::kSigmoid: kernels::sigmoid_inplace(x, n); break;
    case Op::kSilu: kernels::silu_inplace(x, n); break;
    case Op::kAffine:
      for (size_t i = 0; i < n; ++i) x[i] = p.a * x[i] + p.b;
      break;
    default: break;
  }
}

}  // namespace lkrt
