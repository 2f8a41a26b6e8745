// Format version 2: each op new to it against a plain reference, the graph checks, the
// buffer plan, the enhancer's padding and tiling, the diffusion sampler against a
// reference of its formulas, and version-1 files, which still load.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "format.h"
#include "reference.h"

namespace {

using ref::ModelPtr;
using ref::put_u32;

using Value = lkrt::ModelWriter::Value;


ModelPtr load(const std::string& bytes) { return ModelPtr(ref::load_or_fail(bytes)); }

// Loads bytes that must fail; returns the message.
std::string load_error(const std::string& bytes, lkrt_status want = LKRT_ERR_FORMAT) {
  lkrt_model* m = nullptr;
  lkrt_status s = lkrt_model_load_memory_ex(bytes.data(), bytes.size(), LKRT_LOAD_SKIP_CHECKSUM, &m);
  EXPECT_EQ(s, want) << lkrt_last_error();
  lkrt_model_free(m);
  return lkrt_last_error();
}

// Reference ops in CHW, double accumulation.
std::vector<float> group_norm(const std::vector<float>& x, int C, int P, int G, double eps, const std::vector<float>& gamma,
                              const std::vector<float>& beta) {
  std::vector<float> y(x.size());
  const int cg = C / G;
  for (int g = 0; g < G; ++g) {
    double sum = 0, sq = 0;
    for (int c = g * cg; c < (g + 1) * cg; ++c)
      for (int p = 0; p < P; ++p) sum += x[size_t(c) * P + p];
    const double mean = sum / (cg * P);
    for (int c = g * cg; c < (g + 1) * cg; ++c)
      for (int p = 0; p < P; ++p) sq += (x[size_t(c) * P + p] - mean) * (x[size_t(c) * P + p] - mean);
    const double rstd = 1 / std::sqrt(sq / (cg * P) + eps);
    for (int c = g * cg; c < (g + 1) * cg; ++c)
      for (int p = 0; p < P; ++p) y[size_t(c) * P + p] = float((x[size_t(c) * P + p] - mean) * rstd * gamma[c] + beta[c]);
  }
  return y;
}

float silu(float v) { return float(v / (1 + std::exp(-double(v)))); }

// qkv [3C, P] -> [C, P], heads of C / heads channels.
std::vector<float> attention(const std::vector<float>& qkv, int C, int P, int heads, double scale) {
  std::vector<float> y(size_t(C) * P);
  const int d = C / heads;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < P; ++i) {
      std::vector<double> w(P);
      double top = -1e300, total = 0;
      for (int j = 0; j < P; ++j) {
        double dot = 0;
        for (int c = h * d; c < (h + 1) * d; ++c) dot += double(qkv[size_t(c) * P + i]) * qkv[size_t(C + c) * P + j];
        w[j] = dot * scale;
        top = std::max(top, w[j]);
      }
      for (int j = 0; j < P; ++j) total += w[j] = std::exp(w[j] - top);
      for (int c = h * d; c < (h + 1) * d; ++c) {
        double acc = 0;
        for (int j = 0; j < P; ++j) acc += w[j] / total * qkv[size_t(2 * C + c) * P + j];
        y[size_t(c) * P + i] = float(acc);
      }
    }
  return y;
}

std::vector<float> timestep_embedding(double t, int dim) {
  std::vector<float> e(dim, 0.0f);
  const int half = dim / 2;
  for (int i = 0; i < half; ++i) {
    const double f = std::exp(-std::log(10000.0) * i / std::max(half - 1, 1));
    e[i] = float(std::sin(t * f));
    e[half + i] = float(std::cos(t * f));
  }
  return e;
}

std::vector<float> sequence(size_t n, float scale, float phase = 0.3f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.7f * float(i) + phase);
  return v;
}

// ---------------------------------------------------------------------------------

TEST(Graph, Version1FilesStillLoad) {
  for (const char* name : {"dcgan_w4_int8_cond", "vae_like", "flatten"}) {
    SCOPED_TRACE(name);
    const std::string path = std::string(LKRT_TEST_DATA) + "/v1/" + name + ".lkm";
    std::ifstream f(path, std::ios::binary), g(path + ".out", std::ios::binary);
    ASSERT_TRUE(f && g) << path;
    std::stringstream bytes, out;
    bytes << f.rdbuf();
    out << g.rdbuf();
    ASSERT_EQ(lkrt::format::read_u32(reinterpret_cast<const uint8_t*>(bytes.str().data()) + 8), 1u);
    ModelPtr m = load(bytes.str());
    ASSERT_TRUE(m);
    EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_GENERATOR);
    std::vector<float> want(out.str().size() / 4);
    std::memcpy(want.data(), out.str().data(), out.str().size());
    const int classes = lkrt_model_num_classes(m.get());
    std::vector<float> got = ref::run(m.get(), sequence(lkrt_model_latent_dim(m.get()), 1.0f), classes ? classes - 1 : -1);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LT(ref::max_rel_error(got, want), 1e-6);
  }
}

TEST(Graph, GroupNormWithSiluAndBroadcastAdd) {
  const int C = 8, H = 3, W = 5, P = H * W, G = 4, L = C * P;
  std::vector<float> gamma = ref::random_values(C, 1.0f, 1), beta = ref::random_values(C, 0.5f, 2);
  std::vector<float> wt = ref::random_values(size_t(C) * L, 0.05f, 3);
  lkrt::ModelWriter w;
  w.set_info({"gn", L, C, H, W});
  Value z = w.input_latent();
  Value x = w.reshape(z, C, H, W);
  Value n = w.activation(w.group_norm(x, G, C, 1e-5f, gamma.data(), beta.data()), lkrt::Activation::kSilu);
  Value b = w.gemm(z, wt.data(), C, L, nullptr, LKRT_WEIGHT_FP32);  // [C, 1, 1]
  w.add(n, b);
  ModelPtr m = load(w.serialize());
  ASSERT_TRUE(m);
  std::vector<float> in = sequence(L, 2.0f);
  std::vector<float> want = group_norm(in, C, P, G, 1e-5, gamma, beta);
  std::vector<float> bias = ref::gemm(in, wt, nullptr, C, L);
  for (int c = 0; c < C; ++c)
    for (int p = 0; p < P; ++p) want[size_t(c) * P + p] = silu(want[size_t(c) * P + p]) + bias[c];
  EXPECT_LT(ref::max_rel_error(ref::run(m.get(), in), want), 1e-6);
  // The SiLU runs in the group norm's epilogue.
  EXPECT_NE(std::string(lkrt_model_op_text(m.get(), 3)).find("(fused)"), std::string::npos) << lkrt_model_op_text(m.get(), 3);
}

TEST(Graph, AttentionMatchesReference) {
  for (int heads : {1, 2}) {
    const int C = 4, H = 3, W = 3, P = H * W, L = 3 * C * P;
    const float scale = 1.0f / std::sqrt(float(C / heads));
    lkrt::ModelWriter w;
    w.set_info({"attention", L, C, H, W});
    w.attention(w.reshape(w.input_latent(), 3 * C, H, W), C, heads, scale);
    ModelPtr m = load(w.serialize());
    ASSERT_TRUE(m);
    std::vector<float> in = sequence(L, 1.5f);
    EXPECT_LT(ref::max_rel_error(ref::run(m.get(), in), attention(in, C, P, heads, scale)), 1e-6) << heads << " heads";
  }
}

TEST(Graph, ConcatStridedConvAndUpsample) {
  // x -> conv k3 s2 p1 -> upsample x2 -> concat with x -> conv 1x1: a U-Net's skip.
  const int C = 3, H = 6, W = 4, L = C * H * W, D = 5;
  std::vector<float> w1 = ref::random_values(size_t(D) * C * 9, 0.3f, 4), b1 = ref::random_values(D, 0.1f, 5);
  std::vector<float> w2 = ref::random_values(size_t(2) * (C + D), 0.3f, 6);
  lkrt::ModelWriter w;
  w.set_info({"skip", L, 2, H, W});
  Value x = w.reshape(w.input_latent(), C, H, W);
  Value down = w.conv2d(x, w1.data(), D, C, 3, 2, 1, b1.data(), LKRT_WEIGHT_FP32);
  Value up = w.upsample_nearest(down, 2);
  w.conv2d(w.concat({x, up}), w2.data(), 2, C + D, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32);
  ModelPtr m = load(w.serialize());
  ASSERT_TRUE(m);
  std::vector<float> in = sequence(L, 1.0f);
  int oh, ow;
  std::vector<float> d = ref::conv2d(in, C, H, W, w1, b1.data(), D, 3, 2, 1, &oh, &ow);
  ASSERT_EQ(oh * 2, H);
  std::vector<float> u = ref::upsample_nearest(d, D, oh, ow, 2);
  std::vector<float> cat = in;
  cat.insert(cat.end(), u.begin(), u.end());
  std::vector<float> want = ref::conv2d(cat, C + D, H, W, w2, nullptr, 2, 1, 1, 0, &oh, &ow);
  EXPECT_LT(ref::max_rel_error(ref::run(m.get(), in), want), 1e-6);
}

TEST(Graph, TimestepAndLabelEmbeddings) {
  for (int dim : {8, 9}) {
    lkrt::ModelWriter w;
    w.set_info({"t", 1, dim, 1, 1});
    w.timestep_embedding(w.input_latent(), dim);
    ModelPtr m = load(w.serialize());
    ASSERT_TRUE(m);
    for (float t : {0.0f, 17.0f, 999.0f})
      EXPECT_LT(ref::max_rel_error(ref::run(m.get(), {t}), timestep_embedding(t, dim)), 2e-5) << "t " << t << " dim " << dim;
  }
  std::vector<float> table = ref::random_values(4 * 3, 1.0f, 7);
  lkrt::ModelWriter w;
  w.set_info({"label", 1, 3, 1, 1});
  w.embedding(w.input_latent(), table.data(), 4, 3);
  ModelPtr m = load(w.serialize());
  ASSERT_TRUE(m);
  EXPECT_EQ(ref::run(m.get(), {2.0f}), std::vector<float>(table.begin() + 6, table.begin() + 9));
}

// A graph built with the writer, as bytes the test can break. Ops: 0 input, 1 reshape
// [2,4,4], 2 relu, 3 conv 1x1 2->2, 4 add(2, 3).
std::string small_graph() {
  std::vector<float> k = ref::random_values(4, 0.5f, 8);
  lkrt::ModelWriter w;
  w.set_info({"dag", 32, 2, 4, 4});
  Value x = w.activation(w.reshape(w.input_latent(), 2, 4, 4), lkrt::Activation::kRelu);
  w.add(x, w.conv2d(x, k.data(), 2, 2, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32));
  return w.serialize();
}

size_t op_record(int i) { return lkrt::format::kHeaderSize + size_t(i) * lkrt::format::kOpRecordSize; }

TEST(Graph, LoaderRejectsBrokenGraphs) {
  using namespace lkrt::format;
  ASSERT_TRUE(load(small_graph()));
  struct Case {
    const char* what;
    std::function<void(std::string&)> edit;
    const char* message;
  };
  const Case cases[] = {
      {"cycle", [](std::string& b) { put_u32(b, op_record(2) + kOInputs, 3); }, "before any op defines it"},
      {"reads itself", [](std::string& b) { put_u32(b, op_record(2) + kOInputs, 2); }, "before any op defines it"},
      {"undefined value", [](std::string& b) { put_u32(b, op_record(4) + kOInputs + 4, 77); }, "the graph has 5"},
      {"defined twice", [](std::string& b) { put_u32(b, op_record(3) + kOOutput, 2); }, "defined twice"},
      {"never read", [](std::string& b) { put_u32(b, op_record(4) + kOInputs + 4, 2); }, "never read"},
      {"too many inputs", [](std::string& b) { put_u32(b, op_record(2) + kOInputs + 4, 0); }, "2 inputs, expected 1..1"},
      {"gap in the inputs", [](std::string& b) { put_u32(b, op_record(4) + kOInputs, kNoValue); }, "after an empty slot"},
      {"value count", [](std::string& b) { put_u32(b, kHValueCount, 9); }, "9 values for 5 ops"},
      {"shape mismatch", [](std::string& b) { put_u32(b, op_record(1) + kOInts, 1), put_u32(b, op_record(1) + kOInts + 4, 8); },
       "expects 2 input channels"},
      {"huge reshape", [](std::string& b) { put_u32(b, op_record(1) + kOInts, 1u << 30); }, "out of range"},
      {"unknown kind", [](std::string& b) { put_u32(b, kHKind, 9); }, "kind 9 unknown"},
      {"enhancer without an image", [](std::string& b) { put_u32(b, kHKind, LKRT_KIND_ENHANCER), put_u32(b, kHPadMultiple, 1), put_u32(b, kHLatentDim, 0); },
       "one input, the image"},
      {"reserved", [](std::string& b) { put_u32(b, 200, 1); }, "reserved header byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string bytes = small_graph();
    c.edit(bytes);
    lkrt_status want = std::string(c.what) == "unknown kind" ? LKRT_ERR_UNSUPPORTED : LKRT_ERR_FORMAT;
    EXPECT_NE(load_error(bytes, want).find(c.message), std::string::npos) << lkrt_last_error();
  }
  std::string bytes = small_graph();
  put_u32(bytes, kHVersion, 6);
  EXPECT_NE(load_error(bytes, LKRT_ERR_VERSION).find("versions 1 to 5"), std::string::npos);
}

TEST(Graph, DeadActivationsShareMemory) {
  // Ten 3x3 convolutions on [8, 16, 16]: two buffers at a time suffice.
  const int C = 8, S = 16, L = C * S * S;
  std::vector<std::vector<float>> k;
  lkrt::ModelWriter w;
  w.set_info({"chain", L, C, S, S});
  Value x = w.reshape(w.input_latent(), C, S, S);
  for (int i = 0; i < 10; ++i) {
    k.push_back(ref::random_values(size_t(C) * C * 9, 0.1f, 10 + i));
    x = w.activation(w.conv2d(x, k.back().data(), C, C, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32), lkrt::Activation::kRelu);
  }
  ModelPtr m = load(w.serialize());
  ASSERT_TRUE(m);
  const uint64_t value_bytes = 4ull * L;
  EXPECT_LE(lkrt_model_activation_bytes(m.get()), 2 * value_bytes + 128);
  EXPECT_GE(lkrt_model_activation_bytes(m.get()), 2 * value_bytes);
  // And the result is the chain's.
  std::vector<float> in = sequence(L, 1.0f), want = in;
  for (int i = 0; i < 10; ++i) {
    int oh, ow;
    want = ref::conv2d(want, C, S, S, k[i], nullptr, C, 3, 1, 1, &oh, &ow);
    for (float& v : want) v = std::max(v, 0.0f);
  }
  EXPECT_LT(ref::max_rel_error(ref::run(m.get(), in), want), 1e-5);
}

// An enhancer: y = x + conv3x3(x) (+ tanh on the correction), padded to a multiple of 4.
struct Enhancer {
  static constexpr int C = 2;
  std::vector<float> k = ref::random_values(size_t(C) * C * 9, 0.2f, 20), b = ref::random_values(C, 0.1f, 21);
  std::string bytes() const {
    lkrt::ModelWriter w;
    w.set_info({"enhance", 0, C, 8, 8});
    w.set_enhancer(4);
    Value x = w.input(lkrt::InputRole::kImage, C);
    w.add(x, w.activation(w.conv2d(x, k.data(), C, C, 3, 1, 1, b.data(), LKRT_WEIGHT_FP32), lkrt::Activation::kTanh));
    return w.serialize();
  }
  // The reference on a region: replicate-pad to a multiple of 4 (half before), run, crop,
  // clamp (once, on the whole image).
  std::vector<float> run(const std::vector<float>& img, int H, int W, bool clamp = true) const {
    const int ph = (4 - H % 4) % 4, pw = (4 - W % 4) % 4, hp = H + ph, wp = W + pw;
    std::vector<float> x(size_t(C) * hp * wp);
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < hp; ++y)
        for (int xx = 0; xx < wp; ++xx) {
          const int sy = std::min(std::max(y - ph / 2, 0), H - 1), sx = std::min(std::max(xx - pw / 2, 0), W - 1);
          x[(size_t(c) * hp + y) * wp + xx] = img[(size_t(c) * H + sy) * W + sx];
        }
    int oh, ow;
    std::vector<float> r = ref::conv2d(x, C, hp, wp, k, b.data(), C, 3, 1, 1, &oh, &ow);
    std::vector<float> out(size_t(C) * H * W);
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H; ++y)
        for (int xx = 0; xx < W; ++xx) {
          const size_t i = (size_t(c) * hp + y + ph / 2) * wp + xx + pw / 2;
          const float v = x[i] + std::tanh(r[i]);
          out[(size_t(c) * H + y) * W + xx] = clamp ? std::min(1.0f, std::max(-1.0f, v)) : v;
        }
    return out;
  }
};

TEST(Graph, EnhancerPadsEveryImageSize) {
  Enhancer e;
  ModelPtr m = load(e.bytes());
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_ENHANCER);
  EXPECT_EQ(lkrt_model_pad_multiple(m.get()), 4);
  for (auto [H, W] : {std::pair{8, 8}, {5, 7}, {1, 1}, {13, 4}, {8, 8}}) {
    std::vector<float> in = sequence(size_t(Enhancer::C) * H * W, 0.9f), out(in.size());
    ASSERT_EQ(lkrt_enhance(m.get(), in.data(), H, W, 0, out.data()), LKRT_OK) << lkrt_last_error();
    EXPECT_LT(ref::max_rel_error(out, e.run(in, H, W)), 1e-6) << W << "x" << H;
  }
  std::vector<float> in(8), out(8);
  EXPECT_EQ(lkrt_enhance(m.get(), in.data(), 0, 4, 0, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m.get(), in.data(), -1, out.data()), LKRT_ERR_ARGUMENT);
}

TEST(Graph, EnhancerTilesBlendLinearly) {
  // Tiles of 16 overlapping by 8 on 40x23: each pixel is the blend of the tiles over it,
  // weights falling linearly across the overlap (latentkit's apply_tiled).
  Enhancer e;
  ModelPtr m = load(e.bytes());
  ASSERT_TRUE(m);
  const int H = 23, W = 40, C = Enhancer::C, tile = 16, overlap = 8;
  std::vector<float> in = sequence(size_t(C) * H * W, 0.9f), out(in.size());
  ASSERT_EQ(lkrt_enhance(m.get(), in.data(), H, W, tile, out.data()), LKRT_OK) << lkrt_last_error();
  auto starts = [&](int size) {
    std::vector<int> s;
    for (int p = 0; p + tile < size; p += tile - overlap) s.push_back(p);
    s.push_back(size - tile);
    return s;
  };
  auto ramp = [&](int j, int n) { return std::min(std::min(j + 1, n - j) / double(overlap + 1), 1.0); };
  std::vector<double> sum(in.size(), 0.0), weight(size_t(H) * W, 0.0);
  for (int y0 : starts(H))
    for (int x0 : starts(W)) {
      std::vector<float> part(size_t(C) * tile * tile);
      for (int c = 0; c < C; ++c)
        for (int y = 0; y < tile; ++y)
          for (int x = 0; x < tile; ++x) part[(size_t(c) * tile + y) * tile + x] = in[(size_t(c) * H + y0 + y) * W + x0 + x];
      std::vector<float> r = e.run(part, tile, tile, false);
      for (int y = 0; y < tile; ++y)
        for (int x = 0; x < tile; ++x) {
          const double wt = ramp(y, tile) * ramp(x, tile);
          for (int c = 0; c < C; ++c) sum[(size_t(c) * H + y0 + y) * W + x0 + x] += r[(size_t(c) * tile + y) * tile + x] * wt;
          weight[size_t(y0 + y) * W + x0 + x] += wt;
        }
    }
  std::vector<float> want(in.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::clamp(float(sum[i] / weight[i % (size_t(H) * W)]), -1.0f, 1.0f);
  EXPECT_LT(ref::max_rel_error(out, want), 1e-5);
  // A different tile size on the same model plans again and still agrees with whole images
  // where one tile covers the image.
  std::vector<float> small = sequence(size_t(C) * 6 * 6, 0.5f), a(small.size()), b(small.size());
  ASSERT_EQ(lkrt_enhance(m.get(), small.data(), 6, 6, 16, a.data()), LKRT_OK);
  ASSERT_EQ(lkrt_enhance(m.get(), small.data(), 6, 6, 0, b.data()), LKRT_OK);
  EXPECT_EQ(a, b);
}

// A class-conditional denoiser small enough for a reference: eps = k * x (a 1x1
// convolution) + W temb(t) + E[label], where temb is the timestep embedding, on [1, 2, 2]
// images; trained for inpainting, its condition adds c * cond[0].
struct Denoiser {
  static constexpr int C = 1, H = 2, W = 2, P = 4, D = 6, classes = 2;
  uint32_t prediction = 0;
  std::vector<float> k = {0.3f}, wt = ref::random_values(size_t(C) * D, 0.2f, 30), table = ref::random_values(3, 0.2f, 31);
  std::vector<float> kc = ref::random_values(C * (C + 2), 0.3f, 32);

  std::string bytes() const {
    lkrt::ModelWriter w;
    w.set_info({"denoise", C * P, C, H, W});
    lkrt::DiffusionInfo d;
    d.schedule = 2;
    d.timesteps = 100;
    d.prediction = prediction;
    d.tasks = 1;
    d.sample_steps = 10;
    d.num_classes = classes;
    w.set_denoiser(d);
    Value x = w.input(lkrt::InputRole::kImage, C);
    Value t = w.input(lkrt::InputRole::kTimestep);
    Value label = w.input(lkrt::InputRole::kLabel);
    Value cond = w.input(lkrt::InputRole::kCondition, C + 2);
    Value temb = w.add(w.gemm(w.timestep_embedding(t, D), wt.data(), C, D, nullptr, LKRT_WEIGHT_FP32),
                       w.embedding(label, table.data(), classes + 1, C));
    Value conv = w.conv2d(w.concat({x, cond}), concat_kernel().data(), C, 2 * C + 2, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32);
    w.add(conv, temb);
    return w.serialize();
  }
  std::vector<float> concat_kernel() const {
    std::vector<float> kk = k;
    kk.insert(kk.end(), kc.begin(), kc.end());
    return kk;
  }
  // The network output at x (CHW) for step t, label (-1: the no-class row) and condition.
  std::vector<double> net(const std::vector<double>& x, int t, int label, const std::vector<float>& cond) const {
    std::vector<float> e = timestep_embedding(t, D);
    double shift = table[label < 0 ? classes : label];
    for (int d = 0; d < D; ++d) shift += double(wt[d]) * e[d];
    std::vector<double> y(P);
    for (int p = 0; p < P; ++p) {
      y[p] = k[0] * x[p] + shift;
      for (int c = 0; c < C + 2; ++c) y[p] += kc[c] * (cond.empty() ? 0.0 : cond[size_t(c) * P + p]);
    }
    return y;
  }
};

std::vector<double> cosine_alpha_bar(int T) {
  auto f = [&](double u) {
    const double c = std::cos((u / T + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  std::vector<double> ab(T);
  double prod = 1;
  for (int i = 0; i < T; ++i) ab[i] = prod *= 1 - std::min(1 - f(i + 1) / f(i), 0.999);
  return ab;
}

// DDIM (eta 0) and DPM-Solver++(2M) in double, from their definitions (latentkit's diffusion.h).
std::vector<double> reference_sample(const Denoiser& d, const std::vector<double>& x_T, int steps, bool dpmpp, int label,
                                     double guidance, const std::vector<float>& cond) {
  const int T = 100;
  const std::vector<double> ab = cosine_alpha_bar(T);
  std::vector<int> times;
  if (dpmpp) {  // from the last t with lambda >= -5.1 evenly down to start / steps
    int start = T - 1;
    while (start > 0 && 0.5 * std::log(ab[start] / (1 - ab[start])) < -5.1) --start;
    for (int i = 0; i < steps; ++i) times.push_back(int(std::llround(double(start) * (steps - i) / steps)));
  } else {  // T - T / steps evenly down to 0
    const int start = T - T / steps;
    for (int i = 0; i < steps; ++i) times.push_back(int(std::llround(double(start) * (steps - 1 - i) / (steps - 1))));
  }
  std::vector<double> x = x_T, prev_x0;
  double prev_lambda = 0;
  for (size_t i = 0; i < times.size(); ++i) {
    const int t = times[i];
    const double a = ab[t], a_prev = i + 1 < times.size() ? ab[times[i + 1]] : 1.0;
    auto eps_of = [&](int l) {
      std::vector<double> out = d.net(x, t, l, cond);
      if (d.prediction == 1)
        for (int p = 0; p < Denoiser::P; ++p) out[p] = std::sqrt(a) * out[p] + std::sqrt(1 - a) * x[p];
      return out;
    };
    std::vector<double> eps = eps_of(label);
    if (label >= 0 && guidance != 1) {
      std::vector<double> u = eps_of(-1);
      for (int p = 0; p < Denoiser::P; ++p) eps[p] = u[p] + guidance * (eps[p] - u[p]);
    }
    std::vector<double> x0(Denoiser::P);
    for (int p = 0; p < Denoiser::P; ++p) {
      x0[p] = std::clamp((x[p] - std::sqrt(1 - a) * eps[p]) / std::sqrt(a), -1.0, 1.0);
      eps[p] = (x[p] - std::sqrt(a) * x0[p]) / std::sqrt(1 - a);
    }
    const double lambda = 0.5 * std::log(a / (1 - a));
    for (int p = 0; p < Denoiser::P; ++p) {
      if (!dpmpp) {
        x[p] = std::sqrt(a_prev) * x0[p] + std::sqrt(1 - a_prev) * eps[p];
      } else if (i + 1 == times.size()) {
        x[p] = x0[p];
      } else {
        const double h = 0.5 * std::log(a_prev / (1 - a_prev)) - lambda;
        const double D = i == 0 ? x0[p] : x0[p] + (x0[p] - prev_x0[p]) * h / (2 * (lambda - prev_lambda));
        x[p] = std::sqrt((1 - a_prev) / (1 - a)) * x[p] - std::sqrt(a_prev) * std::expm1(-h) * D;
      }
    }
    prev_x0 = x0;
    prev_lambda = lambda;
  }
  return x;
}

TEST(Graph, SamplersMatchTheirDefinitions) {
  for (uint32_t prediction : {0u, 1u}) {
    Denoiser d;
    d.prediction = prediction;
    ModelPtr m = load(d.bytes());
    ASSERT_TRUE(m);
    EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_DENOISER);
    EXPECT_EQ(lkrt_model_timesteps(m.get()), 100);
    const std::vector<float> x_T = {0.8f, -1.2f, 0.3f, 1.9f};
    std::vector<float> image = {0.5f, -0.5f, 0.9f, 0.1f}, fill = {0, 1, 1, 0}, cond(4 * 3);
    ASSERT_EQ(lkrt_inpaint_condition(m.get(), image.data(), fill.data(), cond.data()), LKRT_OK);
    EXPECT_EQ(cond, (std::vector<float>{0.5f, 0, 0, 0.1f, 1, 0, 0, 1, 0, 0, 0, 0}));
    struct Case {
      lkrt_sampler sampler;
      int steps, label;
      float guidance;
      bool with_cond;
    };
    for (const Case& c : {Case{LKRT_SAMPLER_DDIM, 10, -1, 1, false}, Case{LKRT_SAMPLER_DPMPP, 10, 1, 1, false},
                          Case{LKRT_SAMPLER_DPMPP, 7, 0, 3, true}, Case{LKRT_SAMPLER_DDIM, 20, 1, 2, true}}) {
      SCOPED_TRACE(std::to_string(c.sampler) + " " + std::to_string(c.steps) + " steps, prediction " + std::to_string(prediction));
      lkrt_sample_options o;
      lkrt_sample_options_init(&o);
      o.sampler = c.sampler;
      o.steps = c.steps;
      o.label = c.label;
      o.guidance = c.guidance;
      std::vector<float> out(4);
      ASSERT_EQ(lkrt_sample(m.get(), &o, x_T.data(), c.with_cond ? cond.data() : nullptr, out.data()), LKRT_OK)
          << lkrt_last_error();
      std::vector<double> want =
          reference_sample(d, {x_T.begin(), x_T.end()}, c.steps, c.sampler == LKRT_SAMPLER_DPMPP, c.label, c.guidance,
                           c.with_cond ? cond : std::vector<float>{});
      for (int p = 0; p < 4; ++p) EXPECT_NEAR(out[p], want[p], 2e-5) << p;
    }
  }
  Denoiser d;
  ModelPtr m = load(d.bytes());
  lkrt_sample_options o;
  lkrt_sample_options_init(&o);
  std::vector<float> x(4), out(4);
  o.label = 3;
  EXPECT_EQ(lkrt_sample(m.get(), &o, x.data(), nullptr, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("label 3 out of range"), std::string::npos);
  EXPECT_EQ(lkrt_denoise(m.get(), x.data(), 100, -1, nullptr, out.data()), LKRT_ERR_ARGUMENT);
}

}  // namespace
