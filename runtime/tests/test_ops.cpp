// Every op against the naive reference in reference.cpp, through the writer and the
// loader: input -> reshape to [C, H, W] -> op. Weight types: fp32, fp16 and int8
// are compared with the reference run on the weights as stored (1e-5 relative);
// int8 is also compared with the fp32 weights (quantisation error).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <ostream>
#include <stdexcept>

#include "reference.h"

namespace {



struct ModelDeleter {
  void operator()(lkrt_model* m) const { lkrt_model_free(m); }
};
using ModelPtr = std::unique_ptr<lkrt_model, ModelDeleter>;

// A writer holding input (z = x flattened) and a reshape to [C, H, W].
lkrt::ModelWriter start(int C, int H, int W, int oc, int oh, int ow) {
  lkrt::ModelWriter w;
  w.set_info({"op-test", C * H * W, oc, oh, ow});
  w.add_input();
  if (H * W > 1) w.add_reshape(C, H, W);
  return w;
}

// Runs the model with 1 and with 3 threads; both must agree exactly.
std::vector<float> run_checked(const lkrt::ModelWriter& w, const std::vector<float>& x) {
  return ref::run_checked(w.serialize(), x);
}

const char* type_name(lkrt_weight_type t) { return t == LKRT_WEIGHT_FP32 ? "fp32" : t == LKRT_WEIGHT_FP16 ? "fp16" : "int8"; }

// Inputs with every third value zero, as after a ReLU: the kernels skip zeros.
std::vector<float> input_values(size_t n, uint32_t seed) {
  std::vector<float> x = ref::random_values(n, 1.0f, seed);
  for (size_t i = 0; i < n; i += 3) x[i] = 0.0f;
  return x;
}

struct ConvCase {
  int C, H, W, out, k, stride, pad;
};

void PrintTo(const ConvCase& c, std::ostream* os) {
  *os << "[" << c.C << "," << c.H << "," << c.W << "] -> " << c.out << " k" << c.k << " s" << c.stride << " p" << c.pad;
}

class ConvTest : public ::testing::TestWithParam<std::tuple<ConvCase, lkrt_weight_type>> {};

TEST_P(ConvTest, Conv2dMatchesReference) {
  const ConvCase c = std::get<0>(GetParam());
  const lkrt_weight_type type = std::get<1>(GetParam());
  if (c.H + 2 * c.pad < c.k || c.W + 2 * c.pad < c.k) {  // a transposed-only shape: no conv2d output
    std::vector<float> wt(size_t(c.out) * c.C * c.k * c.k, 0.1f);
    lkrt::ModelWriter w = start(c.C, c.H, c.W, c.out, 1, 1);
    w.add_conv2d(wt.data(), c.out, c.C, c.k, c.stride, c.pad, nullptr, type);
    EXPECT_THROW(w.serialize(), std::runtime_error);
    return;
  }
  std::vector<float> x = input_values(size_t(c.C) * c.H * c.W, 1);
  std::vector<float> wt = ref::random_values(size_t(c.out) * c.C * c.k * c.k, 0.3f, 2);
  std::vector<float> b = ref::random_values(c.out, 0.5f, 3);
  int oh, ow;
  std::vector<float> stored = ref::as_stored(wt, {c.out, c.C, c.k, c.k}, 0, type);
  std::vector<float> want = ref::conv2d(x, c.C, c.H, c.W, stored, b.data(), c.out, c.k, c.stride, c.pad, &oh, &ow);
  for (bool with_bias : {true, false}) {
    lkrt::ModelWriter w = start(c.C, c.H, c.W, c.out, oh, ow);
    w.add_conv2d(wt.data(), c.out, c.C, c.k, c.stride, c.pad, with_bias ? b.data() : nullptr, type);
    std::vector<float> got = run_checked(w, x);
    std::vector<float> expect =
        with_bias ? want : ref::conv2d(x, c.C, c.H, c.W, stored, nullptr, c.out, c.k, c.stride, c.pad, &oh, &ow);
    EXPECT_LT(ref::max_rel_error(got, expect), 1e-5) << type_name(type) << " bias " << with_bias;
    if (type == LKRT_WEIGHT_INT8) {
      std::vector<float> exact = ref::conv2d(x, c.C, c.H, c.W, wt, with_bias ? b.data() : nullptr, c.out, c.k,
                                             c.stride, c.pad, &oh, &ow);
      EXPECT_LT(ref::max_rel_error(got, exact), 3e-2);
    }
  }
}

TEST_P(ConvTest, ConvTranspose2dMatchesReference) {
  const ConvCase c = std::get<0>(GetParam());
  const lkrt_weight_type type = std::get<1>(GetParam());
  std::vector<float> x = input_values(size_t(c.C) * c.H * c.W, 4);
  std::vector<float> wt = ref::random_values(size_t(c.C) * c.out * c.k * c.k, 0.3f, 5);
  std::vector<float> b = ref::random_values(c.out, 0.5f, 6);
  int oh, ow;
  std::vector<float> stored = ref::as_stored(wt, {c.C, c.out, c.k, c.k}, 1, type);
  std::vector<float> want =
      ref::conv_transpose2d(x, c.C, c.H, c.W, stored, b.data(), c.out, c.k, c.stride, c.pad, &oh, &ow);
  ASSERT_GT(oh, 0);
  ASSERT_GT(ow, 0);
  lkrt::ModelWriter w = start(c.C, c.H, c.W, c.out, oh, ow);
  w.add_conv_transpose2d(wt.data(), c.C, c.out, c.k, c.stride, c.pad, b.data(), type);
  std::vector<float> got = run_checked(w, x);
  EXPECT_LT(ref::max_rel_error(got, want), 1e-5) << type_name(type);
  if (type == LKRT_WEIGHT_INT8) {
    std::vector<float> exact =
        ref::conv_transpose2d(x, c.C, c.H, c.W, wt, b.data(), c.out, c.k, c.stride, c.pad, &oh, &ow);
    EXPECT_LT(ref::max_rel_error(got, exact), 3e-2);
  }
}

const ConvCase kConvCases[] = {
    {3, 8, 8, 5, 3, 1, 1},    {4, 9, 7, 6, 5, 2, 2},   {16, 7, 7, 32, 3, 2, 0}, {2, 5, 5, 17, 7, 1, 3},
    {8, 6, 6, 16, 4, 2, 1},   {7, 1, 1, 9, 1, 1, 0},   {20, 4, 4, 16, 1, 1, 0}, {3, 3, 3, 2, 3, 1, 0},
    {1, 28, 28, 8, 3, 1, 1},  {10, 1, 1, 24, 7, 1, 0}, {16, 7, 7, 8, 4, 2, 1},  {8, 4, 4, 3, 4, 2, 1},
    {5, 3, 5, 7, 3, 1, 1},    {6, 5, 5, 4, 5, 3, 2},   {3, 4, 4, 1, 4, 2, 1},   {33, 2, 3, 18, 4, 2, 1},
    {40, 1, 1, 16, 4, 1, 0},  {64, 7, 7, 32, 4, 2, 1},
};

std::string conv_name(const ::testing::TestParamInfo<std::tuple<ConvCase, lkrt_weight_type>>& info) {
  const ConvCase c = std::get<0>(info.param);
  return "c" + std::to_string(c.C) + "_" + std::to_string(c.H) + "x" + std::to_string(c.W) + "_out" +
         std::to_string(c.out) + "_k" + std::to_string(c.k) + "s" + std::to_string(c.stride) + "p" +
         std::to_string(c.pad) + "_" + type_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest,
                         ::testing::Combine(::testing::ValuesIn(kConvCases),
                                            ::testing::Values(LKRT_WEIGHT_FP32, LKRT_WEIGHT_FP16, LKRT_WEIGHT_INT8)),
                         conv_name);

class GemmTest : public ::testing::TestWithParam<std::tuple<std::pair<int, int>, lkrt_weight_type>> {};

TEST_P(GemmTest, MatchesReference) {
  const int out = std::get<0>(GetParam()).first, in = std::get<0>(GetParam()).second;
  const lkrt_weight_type type = std::get<1>(GetParam());
  std::vector<float> x = ref::random_values(in, 1.0f, 7);
  std::vector<float> wt = ref::random_values(size_t(out) * in, 0.3f, 8);
  std::vector<float> b = ref::random_values(out, 0.5f, 9);
  std::vector<float> stored = ref::as_stored(wt, {out, in}, 0, type);
  for (bool with_bias : {true, false}) {
    lkrt::ModelWriter w = start(in, 1, 1, out, 1, 1);
    w.add_gemm(wt.data(), out, in, with_bias ? b.data() : nullptr, type);
    std::vector<float> got = run_checked(w, x);
    EXPECT_LT(ref::max_rel_error(got, ref::gemm(x, stored, with_bias ? b.data() : nullptr, out, in)), 1e-5)
        << type_name(type);
    if (type == LKRT_WEIGHT_INT8) {
      EXPECT_LT(ref::max_rel_error(got, ref::gemm(x, wt, with_bias ? b.data() : nullptr, out, in)), 3e-2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmTest,
                         ::testing::Combine(::testing::Values(std::make_pair(1, 1), std::make_pair(17, 33),
                                                              std::make_pair(100, 64), std::make_pair(257, 10),
                                                              std::make_pair(16, 16), std::make_pair(3136, 100)),
                                            ::testing::Values(LKRT_WEIGHT_FP32, LKRT_WEIGHT_FP16, LKRT_WEIGHT_INT8)),
                         [](const ::testing::TestParamInfo<std::tuple<std::pair<int, int>, lkrt_weight_type>>& info) {
                           return "out" + std::to_string(std::get<0>(info.param).first) + "_in" +
                                  std::to_string(std::get<0>(info.param).second) + "_" +
                                  type_name(std::get<1>(info.param));
                         });

TEST(Ops, UpsampleNearest) {
  struct Case { int C, H, W, s; };
  for (Case c : {Case{3, 4, 5, 2}, Case{1, 1, 1, 3}, Case{16, 7, 7, 2}, Case{5, 2, 3, 1}}) {
    std::vector<float> x = ref::random_values(size_t(c.C) * c.H * c.W, 1.0f, 10);
    lkrt::ModelWriter w = start(c.C, c.H, c.W, c.C, c.H * c.s, c.W * c.s);
    w.add_upsample_nearest(c.s);
    std::vector<float> got = run_checked(w, x);
    EXPECT_EQ(got, ref::upsample_nearest(x, c.C, c.H, c.W, c.s));
  }
}

TEST(Ops, Activations) {
  std::vector<float> x = ref::random_values(3 * 5 * 7, 3.0f, 11);
  x[0] = 40.0f;
  x[1] = -40.0f;
  x[2] = 0.0f;
  struct Case {
    lkrt::Activation kind;
    float param;
    double (*f)(double, double);
  };
  const Case cases[] = {
      {lkrt::Activation::kRelu, 0.0f, [](double v, double) { return v > 0 ? v : 0.0; }},
      {lkrt::Activation::kLeakyRelu, 0.2f, [](double v, double s) { return v > 0 ? v : v * s; }},
      {lkrt::Activation::kTanh, 0.0f, [](double v, double) { return std::tanh(v); }},
      {lkrt::Activation::kSigmoid, 0.0f, [](double v, double) { return 1.0 / (1.0 + std::exp(-v)); }},
  };
  for (const Case& c : cases) {
    // Standalone (after a reshape) and fused (after a convolution with identity weights).
    lkrt::ModelWriter w = start(3, 5, 7, 3, 5, 7);
    w.add_activation(c.kind, c.param);
    std::vector<float> got = run_checked(w, x);
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = float(c.f(x[i], double(float(c.param))));
    EXPECT_LT(ref::max_rel_error(got, want), 1e-5) << int(c.kind);

    std::vector<float> identity(3 * 3, 0.0f);
    for (int i = 0; i < 3; ++i) identity[i * 3 + i] = 1.0f;
    lkrt::ModelWriter f = start(3, 5, 7, 3, 5, 7);
    f.add_conv2d(identity.data(), 3, 3, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32);
    f.add_activation(c.kind, c.param);
    EXPECT_LT(ref::max_rel_error(run_checked(f, x), want), 1e-5) << "fused " << int(c.kind);
  }
  lkrt::ModelWriter w = start(3, 5, 7, 3, 5, 7);
  w.add_activation(lkrt::Activation::kSigmoid);
  w.add_affine(2.0f, -1.0f);
  std::vector<float> got = run_checked(w, x);
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = float(2.0 / (1.0 + std::exp(-double(x[i]))) - 1.0);
  EXPECT_LT(ref::max_rel_error(got, want), 1e-5);
}

TEST(Ops, ReshapeFollowsTorchOrder) {
  // [24] -> [2,3,4] -> [4,3,2] -> [24,1,1] -> [3,2,4]: a view keeps the C-major order.
  std::vector<float> x = ref::random_values(24, 1.0f, 12);
  lkrt::ModelWriter w;
  w.set_info({"reshape", 24, 3, 2, 4});
  w.add_input();
  w.add_reshape(2, 3, 4);
  w.add_reshape(4, 3, 2);
  w.add_activation(lkrt::Activation::kRelu);
  w.add_reshape(24, 1, 1);
  w.add_reshape(3, 2, 4);
  std::vector<float> got = run_checked(w, x);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], std::max(x[i], 0.0f));
}

TEST(Ops, FlattenThenGemm) {
  // A conv map flattened as torch does (C-major) feeds a gemm.
  const int C = 3, H = 4, W = 5, out = 7;
  std::vector<float> x = ref::random_values(C * H * W, 1.0f, 13);
  std::vector<float> g = ref::random_values(size_t(out) * C * H * W, 0.3f, 14);
  lkrt::ModelWriter w = start(C, H, W, out, 1, 1);
  w.add_upsample_nearest(1);  // keeps the map channels-last inside the runtime
  w.add_reshape(C * H * W, 1, 1);
  w.add_gemm(g.data(), out, C * H * W, nullptr, LKRT_WEIGHT_FP32);
  EXPECT_LT(ref::max_rel_error(run_checked(w, x), ref::gemm(x, g, nullptr, out, C * H * W)), 1e-5);
}

TEST(Ops, GemmThenReshapeThenConv) {
  // dcgan-upsample style: gemm -> [C, H, W] -> conv; the reshape permutes to channels-last.
  const int in = 10, C = 4, H = 3, W = 3;
  std::vector<float> x = ref::random_values(in, 1.0f, 15);
  std::vector<float> g = ref::random_values(size_t(C) * H * W * in, 0.3f, 16);
  std::vector<float> c = ref::random_values(2 * C * 9, 0.3f, 17);
  lkrt::ModelWriter w = start(in, 1, 1, 2, H, W);
  w.add_gemm(g.data(), C * H * W, in, nullptr, LKRT_WEIGHT_FP32);
  w.add_reshape(C, H, W);
  w.add_conv2d(c.data(), 2, C, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32);
  int oh, ow;
  std::vector<float> want = ref::conv2d(ref::gemm(x, g, nullptr, C * H * W, in), C, H, W, c, nullptr, 2, 3, 1, 1, &oh, &ow);
  EXPECT_LT(ref::max_rel_error(run_checked(w, x), want), 1e-5);
}

TEST(Ops, InputWithEmbedding) {
  const int latent = 5, classes = 4, embed = 3;
  std::vector<float> table = ref::random_values(classes * embed, 1.0f, 18);
  lkrt::ModelWriter w;
  w.set_info({"cond", latent, latent + embed, 1, 1});
  w.add_input(table.data(), classes, embed);
  ModelPtr m(ref::load_or_fail(w.serialize()));
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_num_classes(m.get()), classes);
  EXPECT_EQ(lkrt_model_embed_dim(m.get()), embed);
  std::vector<float> z = ref::random_values(latent, 1.0f, 19);
  for (int label = 0; label < classes; ++label) {
    std::vector<float> got = ref::run(m.get(), z, label);
    for (int i = 0; i < latent; ++i) EXPECT_EQ(got[i], z[i]);
    for (int i = 0; i < embed; ++i) EXPECT_EQ(got[latent + i], table[label * embed + i]);
  }
  std::vector<float> out(latent + embed);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), classes, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("out of range"), std::string::npos) << lkrt_last_error();
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), -1, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), 1 << 30, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m.get(), nullptr, 0, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), 0, nullptr), LKRT_ERR_ARGUMENT);
}

TEST(Ops, UnconditionalRejectsLabel) {
  lkrt::ModelWriter w;
  w.set_info({"uncond", 4, 4, 1, 1});
  w.add_input();
  ModelPtr m(ref::load_or_fail(w.serialize()));
  ASSERT_TRUE(m);
  std::vector<float> z(4, 1.0f), out(4);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), 0, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m.get(), z.data(), -1, out.data()), LKRT_OK);
}

}  // namespace
