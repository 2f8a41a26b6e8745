#include "tests/unit/test_util.h"
#include "latentkit/export/graph.h"

#include <algorithm>
#include <cstring>

#include <gtest/gtest.h>
#include <lkrt.h>
#include <lkrt_wallpaper.h>
#include <onnx/onnx_pb.h>

#include "latentkit/core/error.h"
#include "latentkit/export/lkm.h"
#include "latentkit/export/onnx.h"
#include "latentkit/data/captions.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/core/files.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/psgan.h"
#include "latentkit/models/spade.h"
#include "latentkit/models/vae.h"

using namespace latentkit;

namespace {

struct ModelDeleter {
  void operator()(lkrt_model* m) const { lkrt_model_free(m); }
};
using ModelPtr = std::unique_ptr<lkrt_model, ModelDeleter>;

// Running statistics and affine parameters far from the identity, so that folding them
// into the layer before is actually exercised.
void randomise_batchnorm(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& m : net.modules()) {
    auto set = [](auto* bn) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
    };
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) set(bn);
    if (auto* bn = m->as<torch::nn::BatchNorm1d>()) set(bn);
  }
}

double max_error(Generator& generator, const ModelGraph& graph, int64_t n) {
  torch::manual_seed(11);
  torch::Tensor z = torch::randn({n, generator.latent_dim()});
  torch::Tensor labels =
      graph.num_classes > 0 ? torch::arange(n, torch::kInt64).remainder(graph.num_classes) : torch::Tensor();
  torch::NoGradGuard no_grad;
  torch::Tensor expected = generator.decode(z, labels);
  GraphInputs in;
  in.z = z;
  in.labels = labels;
  torch::Tensor got = run_graph(graph, in);
  EXPECT_EQ(got.sizes(), expected.sizes());
  return (got - expected).abs().max().item<double>();
}

std::vector<std::string> op_types(const onnx::ModelProto& model) {
  std::vector<std::string> types;
  for (const auto& node : model.graph().node()) types.push_back(node.op_type());
  return types;
}

}  // namespace

TEST(ExportGraph, FoldedDcganPresetsReproduceTheModel) {
  for (const std::string preset : {"dcgan", "dcgan-upsample"}) {
    for (int64_t classes : {0, 4}) {
      torch::manual_seed(1);
      DcganOptions o = DcganOptions().preset(preset).channels(3).image_size(32).latent_dim(6).width(8).num_classes(classes);
      DcganGenerator net(o);
      randomise_batchnorm(*net);
      DcganModel model(net);
      ModelGraph g = extract_graph(model);
      EXPECT_EQ(g.family, classes ? "cgan" : preset);
      EXPECT_EQ(g.num_classes, classes);
      EXPECT_EQ(g.ops[0].op, Op::kInput);
      EXPECT_EQ(g.ops[0].weight.defined(), classes > 0) << "the label embedding";
      for (size_t i = 1; i < g.ops.size(); ++i) EXPECT_EQ(g.ops[i].inputs, std::vector<int64_t>{int64_t(i) - 1}) << "a chain";
      EXPECT_LT(max_error(model, g, 5), 1e-5) << preset << " classes " << classes;
    }
  }
}

TEST(ExportGraph, FoldingIsTheBatchNormFormula) {
  // One transposed convolution (bias-free) and a BatchNorm by hand: W'[:, o] = W[:, o] s_o,
  // b'_o = (0 - mean_o) s_o + beta_o with s_o = gamma_o / sqrt(var_o + eps).
  torch::manual_seed(2);
  DcganGenerator net(DcganOptions().latent_dim(3).width(4));
  randomise_batchnorm(*net);
  DcganModel model(net);
  ModelGraph g = extract_graph(model);
  ASSERT_EQ(g.ops[1].op, Op::kReshape);
  ASSERT_EQ(g.ops[2].op, Op::kConvTranspose2d);
  auto* deconv = net->main[0]->as<torch::nn::ConvTranspose2d>();
  auto* bn = net->main[1]->as<torch::nn::BatchNorm2d>();
  torch::Tensor s = bn->weight / (bn->running_var + bn->options.eps()).sqrt();
  EXPECT_TRUE(torch::allclose(g.ops[2].weight, deconv->weight * s.view({1, -1, 1, 1}), 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(g.ops[2].bias, bn->bias - bn->running_mean * s, 1e-6, 1e-7));
  EXPECT_EQ(g.ops[3].op, Op::kRelu) << "the BatchNorm itself is gone";
  EXPECT_EQ(g.ops.back().op, Op::kTanh);
}

TEST(ExportGraph, VaeAndCvaeDecoders) {
  for (int64_t classes : {0, 3}) {
    torch::manual_seed(3);
    VaeModel model(Vae(VaeOptions().channels(1).image_size(16).latent_dim(5).width(4).num_classes(classes)));
    ModelGraph g = extract_graph(model);
    EXPECT_EQ(g.family, classes ? "cvae" : "vae");
    if (classes) {
      EXPECT_TRUE(torch::equal(g.ops[0].weight, torch::eye(3))) << "one-hot labels";
    }
    EXPECT_EQ(g.ops.back().op, Op::kAffine);
    EXPECT_LT(max_error(model, g, 3), 1e-5) << classes;
  }
}

TEST(ExportOnnx, WritesACheckedOpset13Model) {
  torch::manual_seed(4);
  DcganGenerator net(DcganOptions().preset("dcgan-upsample").latent_dim(6).width(8).num_classes(2));
  DcganModel model(net);
  ModelGraph g = extract_graph(model);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(graph_to_onnx(g, "test")));
  EXPECT_EQ(m.opset_import(0).version(), 13);
  ASSERT_EQ(m.graph().input_size(), 2);
  EXPECT_EQ(m.graph().input(0).name(), "z");
  EXPECT_EQ(m.graph().input(1).name(), "label");
  EXPECT_EQ(m.graph().output(0).name(), "image");
  std::vector<std::string> types = op_types(m);
  EXPECT_EQ(types.front(), "Gather");
  EXPECT_EQ(types[1], "Concat");
  EXPECT_EQ(types.back(), "Tanh");
  EXPECT_EQ(std::count(types.begin(), types.end(), "BatchNormalization"), 0) << "folded";
  EXPECT_EQ(std::count(types.begin(), types.end(), "Resize"), 2) << "28 = 7 x 2 x 2";
  for (const auto& node : m.graph().node()) {
    if (node.op_type() != "Gemm") continue;
    ASSERT_EQ(node.attribute_size(), 1);
    EXPECT_EQ(node.attribute(0).name(), "transB");
    EXPECT_EQ(node.attribute(0).i(), 1);
  }
  // Initialisers hold every parameter of the folded graph, plus the few shape constants.
  int64_t stored = 0;
  for (const auto& t : m.graph().initializer()) {
    if (t.data_type() == onnx::TensorProto::FLOAT) stored += static_cast<int64_t>(t.raw_data().size() / 4);
  }
  EXPECT_GE(stored, g.parameter_count());
  EXPECT_LE(stored, g.parameter_count() + 16);
}

// The runtime's images for the model's own latents, against LibTorch's, as the normalised
// error mse(a, b) / mse(a, 0).
double runtime_error(Generator& generator, const std::string& weights) {
  ModelGraph g = extract_graph(generator);
  const std::string bytes = graph_to_lkm(g, weights, "test-id");
  lkrt_model* model = nullptr;
  EXPECT_EQ(lkrt_model_load_memory(bytes.data(), bytes.size(), &model), LKRT_OK) << lkrt_last_error();
  if (!model) return INFINITY;
  EXPECT_EQ(lkrt_model_latent_dim(model), g.latent_dim);
  EXPECT_EQ(lkrt_model_num_classes(model), g.num_classes);
  EXPECT_STREQ(lkrt_model_id(model), "test-id");
  const auto shape = generator.image_shape();
  torch::manual_seed(21);
  const int64_t n = 4;
  torch::Tensor z = torch::randn({n, g.latent_dim});
  torch::Tensor labels = torch::arange(n, torch::kInt64).remainder(std::max<int64_t>(g.num_classes, 1));
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = generator.decode(z, g.num_classes ? labels : torch::Tensor());
  }
  torch::Tensor got = torch::empty({n, shape[0], shape[1], shape[2]});
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor zi = z[i].contiguous();
    const int32_t label = g.num_classes ? static_cast<int32_t>(labels[i].item<int64_t>()) : -1;
    EXPECT_EQ(lkrt_generate(model, zi.data_ptr<float>(), label, got[i].data_ptr<float>()), LKRT_OK) << lkrt_last_error();
  }
  if (g.num_classes) {
    std::vector<float> out(static_cast<size_t>(shape[0] * shape[1] * shape[2]));
    EXPECT_EQ(lkrt_generate(model, z[0].contiguous().data_ptr<float>(), static_cast<int32_t>(g.num_classes), out.data()),
              LKRT_ERR_ARGUMENT) << "a label out of range";
  }
  lkrt_model_free(model);
  return (got - expected).pow(2).sum().item<double>() / expected.pow(2).sum().item<double>();
}

TEST(ExportLkm, RuntimeMatchesLibTorchForEveryFamily) {
  torch::manual_seed(5);
  std::vector<std::unique_ptr<Generator>> models;
  for (const std::string preset : {"dcgan", "dcgan-upsample"}) {
    for (int64_t classes : {0, 3}) {
      DcganGenerator net(DcganOptions().preset(preset).channels(3).image_size(32).latent_dim(6).width(8).num_classes(classes));
      randomise_batchnorm(*net);
      models.push_back(std::make_unique<DcganModel>(net));
    }
  }
  models.push_back(std::make_unique<VaeModel>(Vae(VaeOptions().image_size(28).latent_dim(5).width(8))));
  models.push_back(std::make_unique<VaeModel>(Vae(VaeOptions().image_size(28).latent_dim(5).width(8).num_classes(4))));
  // RGBA (premultiplied) generators and decoders: a fourth output channel, nothing else.
  DcganGenerator rgba(DcganOptions().channels(4).image_size(32).latent_dim(6).width(8).num_classes(3));
  randomise_batchnorm(*rgba);
  models.push_back(std::make_unique<DcganModel>(rgba));
  models.push_back(std::make_unique<VaeModel>(Vae(VaeOptions().channels(4).image_size(16).latent_dim(5).width(8).depth(3))));
  for (auto& m : models) {
    EXPECT_LT(runtime_error(*m, "fp32"), 1e-10) << m->family();
    EXPECT_LT(runtime_error(*m, "fp16"), 1e-5) << m->family();
    EXPECT_LT(runtime_error(*m, "int8"), 1e-3) << m->family();
  }
  EXPECT_THROW(graph_to_lkm(extract_graph(*models[0]), "int4", "x"), Error);
}

namespace {

// mse(a, b) / mse(a, 0).
double normalised(const torch::Tensor& want, const torch::Tensor& got) {
  return (got.to(torch::kFloat64) - want.to(torch::kFloat64)).pow(2).sum().item<double>() /
         want.to(torch::kFloat64).pow(2).sum().item<double>();
}

ModelPtr load_lkm(const std::string& bytes) {
  lkrt_model* m = nullptr;
  EXPECT_EQ(lkrt_model_load_memory(bytes.data(), bytes.size(), &m), LKRT_OK) << lkrt_last_error();
  return ModelPtr(m);
}

// A small pix2pix generator, BatchNorm far from the identity, its last layer not zero.
Pix2pixGenerator small_pix2pix(int64_t channels) {
  torch::manual_seed(6);
  Pix2pixGenerator net(Pix2pixOptions().channels(channels).image_size(16).width(4).depth(3));
  randomise_batchnorm(*net);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  net->eval();
  return net;
}

// A small U-Net denoiser: classes, the Palette tasks and v-prediction.
std::unique_ptr<DdpmModel> small_ddpm(int64_t classes, bool tasks, Prediction prediction) {
  torch::manual_seed(7);
  DdpmOptions o;
  o.unet.channels(3).image_size(8).width(8).mults({1, 2}).groups(4).num_classes(classes);
  o.timesteps = 100;
  o.prediction = prediction;
  o.sample_steps = 10;
  if (tasks) o.tasks = {"inpaint", "restore"};
  validate_ddpm_options(o);
  UNet net(o.unet);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);  // conv_out is not zero
  return std::make_unique<DdpmModel>(net, o);
}

}  // namespace

TEST(ExportGraph, Pix2pixAndUNetsReproduceTheModel) {
  for (int64_t channels : {1, 4}) {
    Pix2pixGenerator net = small_pix2pix(channels);
    ModelGraph g = extract_enhancer_graph(*net);
    EXPECT_EQ(g.kind, LKRT_KIND_ENHANCER);
    EXPECT_EQ(g.pad_multiple, 8);
    torch::manual_seed(8);
    torch::Tensor x = torch::rand({2, channels, 16, 24}) * 2 - 1;
    torch::NoGradGuard no_grad;
    GraphInputs in;
    in.image = x;
    EXPECT_LT(normalised(net->forward(x), run_graph(g, in)), 1e-12) << channels;
  }
  for (auto [classes, tasks, prediction] : {std::tuple{0, false, Prediction::kEps}, {3, true, Prediction::kV}}) {
    auto model = small_ddpm(classes, tasks, prediction);
    ModelGraph g = extract_graph(*model);
    EXPECT_EQ(g.kind, LKRT_KIND_DENOISER);
    EXPECT_EQ(g.diffusion.tasks, tasks ? 3u : 0u);
    GraphInputs in;
    in.image = torch::randn({3, 3, 8, 8});
    in.t = torch::tensor({0, 57, 99}, torch::kInt64);
    if (classes) in.labels = torch::tensor({0, 2, 3}, torch::kInt64);  // 3: no class
    if (tasks) in.cond = torch::rand({3, 5, 8, 8});
    torch::NoGradGuard no_grad;
    EXPECT_LT(normalised(model->net()->forward(in.image, in.t, in.labels, in.cond), run_graph(g, in)), 1e-12);
  }
}

TEST(ExportLkm, EnhancerInTheRuntime) {
  // Any size: lkrt pads to the U-Net's multiple (8) as the model does; tiles blend as latentkit's.
  Pix2pixGenerator net = small_pix2pix(3);
  const ModelGraph g = extract_enhancer_graph(*net);
  for (const std::string weights : {"fp32", "int8"}) {
    ModelPtr m = load_lkm(graph_to_lkm(g, weights, "enhance"));
    ASSERT_TRUE(m);
    for (auto [h, w, tile] : {std::tuple{16, 16, 0}, {13, 21, 0}, {40, 30, 16}}) {
      torch::manual_seed(9);
      torch::Tensor x = torch::rand({1, 3, h, w}) * 2 - 1;
      torch::Tensor want = enhance_image(*net, x, tile);
      torch::Tensor got = torch::empty({1, 3, h, w});
      ASSERT_EQ(lkrt_enhance(m.get(), x.contiguous().data_ptr<float>(), h, w, tile, got.data_ptr<float>()), LKRT_OK)
          << lkrt_last_error();
      EXPECT_LT(normalised(want, got), weights == "fp32" ? 1e-10 : 1e-3) << weights << " " << w << "x" << h << " tile " << tile;
    }
  }
}

TEST(ExportLkm, DenoiserAndSamplerInTheRuntime) {
  for (auto [classes, tasks, prediction] : {std::tuple{0, false, Prediction::kEps}, {3, true, Prediction::kV}}) {
    auto model = small_ddpm(classes, tasks, prediction);
    const ModelGraph g = extract_graph(*model);
    ModelPtr m = load_lkm(graph_to_lkm(g, "fp32", "ddpm"));
    ASSERT_TRUE(m);
    EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_DENOISER);
    torch::manual_seed(10);
    torch::Tensor x = torch::randn({1, 3, 8, 8}), cond = tasks ? torch::rand({1, 5, 8, 8}) : torch::Tensor();
    const int32_t label = classes ? 1 : -1;
    torch::Tensor labels = classes ? torch::tensor({1}, torch::kInt64) : torch::Tensor();
    {  // one network call
      torch::NoGradGuard no_grad;
      torch::Tensor want = model->net()->forward(x, torch::tensor({42}, torch::kInt64), labels, cond);
      torch::Tensor got = torch::empty_like(want);
      ASSERT_EQ(lkrt_denoise(m.get(), x.data_ptr<float>(), 42, label, tasks ? cond.data_ptr<float>() : nullptr,
                             got.data_ptr<float>()), LKRT_OK) << lkrt_last_error();
      EXPECT_LT(normalised(want, got), 1e-10);
    }
    // Whole samples from the same x_T: DDIM and DPM-Solver++, with guidance on the conditional model.
    for (Sampler sampler : {Sampler::kDdim, Sampler::kDpmpp}) {
      SampleOptions so;
      so.sampler = sampler;
      so.steps = 10;
      torch::Generator rng = make_rng(0);
      const double guidance = classes ? 2.0 : 1.0;
      torch::Tensor want = diffusion_sample(model->schedule(), model->eps_function(labels, guidance, cond), x, so, rng);
      lkrt_sample_options o;
      lkrt_sample_options_init(&o);
      o.sampler = sampler == Sampler::kDdim ? LKRT_SAMPLER_DDIM : LKRT_SAMPLER_DPMPP;
      o.steps = 10;
      o.label = label;
      o.guidance = float(guidance);
      torch::Tensor got = torch::empty_like(want);
      ASSERT_EQ(lkrt_sample(m.get(), &o, x.data_ptr<float>(), tasks ? cond.data_ptr<float>() : nullptr, got.data_ptr<float>()),
                LKRT_OK) << lkrt_last_error();
      EXPECT_LT(normalised(want, got), 1e-8) << sampler_names().name(sampler) << " classes " << classes;
    }
  }
}

namespace {

// A small text-to-image denoiser (t2i): a vocabulary from a few captions, a 2-layer text
// encoder, v-prediction, its null_text and last layer away from zero.
std::unique_ptr<DdpmModel> small_t2i() {
  torch::manual_seed(12);
  DdpmOptions o;
  o.tokenizer = Tokenizer({"grinning face", "cat face with heart-eyes", "red heart", "smiling face 2, in google style"}, 8);
  o.unet.channels(4).image_size(8).width(8).mults({1, 2}).groups(4).text(
      TextEncoderOptions().vocab_size(o.tokenizer.vocab_size()).max_tokens(8).width(16).layers(2).heads(2));
  o.timesteps = 100;
  o.prediction = Prediction::kV;
  o.sample_steps = 10;
  validate_ddpm_options(o);
  UNet net(o.unet);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  return std::make_unique<DdpmModel>(net, o);
}

std::vector<int32_t> lkrt_ids(lkrt_model* m, const std::string& prompt) {
  std::vector<int32_t> ids(static_cast<size_t>(lkrt_model_max_tokens(m)));
  int32_t count = 0;
  if (lkrt_tokenize(m, prompt.c_str(), ids.data(), &count) != LKRT_OK) return {};
  ids.resize(static_cast<size_t>(count));
  return ids;
}

}  // namespace

TEST(ExportLkm, TextToImageInTheRuntime) {
  auto model = small_t2i();
  const Tokenizer& tokenizer = model->options().tokenizer;
  const ModelGraph g = extract_graph(*model);
  ASSERT_TRUE(g.text_encoder);
  EXPECT_EQ(g.vocab, tokenizer.vocabulary());
  ModelPtr m = load_lkm(graph_to_lkm(g, "fp32", "t2i"));
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_text_width(m.get()), 16);
  EXPECT_EQ(lkrt_model_max_tokens(m.get()), 8);
  EXPECT_EQ(lkrt_model_vocab_size(m.get()), tokenizer.vocab_size());
  EXPECT_EQ(static_cast<int64_t>(lkrt_model_param_count(m.get())), g.parameter_count());

  // The tokenizer: the same ids, warnings and errors as latentkit's.
  const std::vector<std::string> prompts = {"grinning face", "Cat face, with HEART-eyes!", "kat face with hart eyes",
                                            "smiling face 2 in google style", "red\theart\n", "caf\xc3\xa9 cat2",
                                            "zebra unicorn", "a b c d e f g h"};
  for (const std::string& prompt : prompts) {
    std::vector<int64_t> want = tokenizer.encode(prompt);
    EXPECT_EQ(lkrt_ids(m.get(), prompt), std::vector<int32_t>(want.begin(), want.end())) << prompt;
    EXPECT_EQ(lkrt_prompt_warnings(m.get(), prompt.c_str()), tokenizer.warnings(prompt)) << prompt;
  }
  // Vocabulary: <pad> <unk> 2 cat eyes face google grinning heart in red smiling style with.
  EXPECT_EQ(lkrt_ids(m.get(), "kat face with hart eyes"), (std::vector<int32_t>{1, 5, 13, 1, 4}));
  EXPECT_EQ(std::string(lkrt_prompt_warnings(m.get(), "zebra")), "unknown word 'zebra' (nearest known: heart, eyes, red)\n");
  for (const std::string bad : {"a b c d e f g h i", "", " ,.!"}) {
    std::string message;
    try {
      tokenizer.encode(bad);
    } catch (const Error& e) {
      message = e.what();
    }
    int32_t ids[8], count = 0;
    EXPECT_EQ(lkrt_tokenize(m.get(), bad.c_str(), ids, &count), LKRT_ERR_ARGUMENT) << bad;
    EXPECT_EQ(lkrt_last_error(), message) << bad;
  }

  // The pooled prompt, and no prompt (null_text), against LibTorch's text encoder.
  torch::NoGradGuard no_grad;
  std::vector<std::string> texts = {"grinning face", "cat face with heart-eyes", "kat face with hart eyes",
                                    "smiling face 2 in google style", "red heart red heart red heart 2"};
  torch::Tensor want = model->net()->encode_text(tokenizer.encode_batch(texts));
  torch::Tensor got = torch::empty_like(want);
  for (size_t i = 0; i < texts.size(); ++i)
    ASSERT_EQ(lkrt_encode_prompt(m.get(), texts[i].c_str(), got[static_cast<int64_t>(i)].data_ptr<float>()), LKRT_OK)
        << lkrt_last_error();
  const double text_error = normalised(want, got);
  EXPECT_LT(text_error, 1e-11);
  std::printf("t2i text encoder, lkrt vs LibTorch: normalised error %.2e\n", text_error);
  torch::Tensor none = torch::empty({16});
  ASSERT_EQ(lkrt_encode_tokens(m.get(), nullptr, 0, none.data_ptr<float>()), LKRT_OK);
  EXPECT_TRUE(torch::equal(none, model->net()->null_text.detach()));

  // One network call with a prompt.
  torch::manual_seed(13);
  torch::Tensor x = torch::randn({1, 4, 8, 8});
  {
    torch::Tensor text = want[1].contiguous();
    torch::Tensor call_want = model->net()->forward(x, torch::tensor({42}, torch::kInt64), {}, {}, text.unsqueeze(0));
    torch::Tensor call_got = torch::empty_like(call_want);
    ASSERT_EQ(lkrt_denoise_text(m.get(), x.data_ptr<float>(), 42, text.data_ptr<float>(), nullptr, call_got.data_ptr<float>()),
              LKRT_OK) << lkrt_last_error();
    EXPECT_LT(normalised(call_want, call_got), 1e-10);
  }

  // Whole samples from the same x_T with guidance 3: DDIM and the 10-step DPM-Solver++.
  for (Sampler sampler : {Sampler::kDdim, Sampler::kDpmpp}) {
    SampleOptions so;
    so.sampler = sampler;
    so.steps = 10;
    torch::Generator rng = make_rng(0);
    const std::string prompt = "cat face with heart-eyes";
    torch::Tensor sample_want = diffusion_sample(model->schedule(), model->eps_function(tokenizer.encode_batch({prompt}), 3.0),
                                                 x, so, rng);
    std::vector<float> text(16);
    ASSERT_EQ(lkrt_encode_prompt(m.get(), prompt.c_str(), text.data()), LKRT_OK);
    lkrt_sample_options o;
    lkrt_sample_options_init(&o);
    o.sampler = sampler == Sampler::kDdim ? LKRT_SAMPLER_DDIM : LKRT_SAMPLER_DPMPP;
    o.steps = 10;
    o.guidance = 3.0f;
    o.text = text.data();
    torch::Tensor sample_got = torch::empty_like(sample_want);
    ASSERT_EQ(lkrt_sample(m.get(), &o, x.data_ptr<float>(), nullptr, sample_got.data_ptr<float>()), LKRT_OK)
        << lkrt_last_error();
    const double e = normalised(sample_want, sample_got);
    EXPECT_LT(e, 1e-8) << sampler_names().name(sampler);
    std::printf("t2i %s 10 steps, guidance 3, lkrt vs LibTorch: normalised error %.2e\n",
                sampler_names().name(sampler).c_str(), e);
  }

  // int8: the encoder's Linear layers quantised, still close.
  ModelPtr q = load_lkm(graph_to_lkm(g, "int8", "t2i"));
  ASSERT_TRUE(q);
  torch::Tensor got8 = torch::empty_like(want);
  for (size_t i = 0; i < texts.size(); ++i)
    ASSERT_EQ(lkrt_encode_prompt(q.get(), texts[i].c_str(), got8[static_cast<int64_t>(i)].data_ptr<float>()), LKRT_OK);
  const double int8_error = normalised(want, got8);
  EXPECT_LT(int8_error, 1e-3);
  EXPECT_GT(int8_error, 0.0);
  std::printf("t2i text encoder, int8 weights: normalised error %.2e\n", int8_error);

  // ONNX: the U-Net with the pooled prompt as an input.
  onnx::ModelProto onnx_model;
  ASSERT_TRUE(onnx_model.ParseFromString(graph_to_onnx(g, "t2i")));
  std::vector<std::string> inputs;
  for (const auto& in : onnx_model.graph().input()) inputs.push_back(in.name());
  EXPECT_EQ(inputs, (std::vector<std::string>{"x", "t", "text"}));
  EXPECT_EQ(onnx_model.graph().input(2).type().tensor_type().shape().dim(1).dim_value(), 16);
}

TEST(ExportGraph, RefusesWhatItCannotExport) {
  struct Other : Generator {
    std::string family() const override { return "mystery"; }
    int64_t latent_dim() const override { return 2; }
    std::array<int64_t, 3> image_shape() const override { return {1, 2, 2}; }
    torch::Tensor decode(const torch::Tensor& z, const torch::Tensor&) override { return torch::zeros({z.size(0), 1, 2, 2}); }
  } other;
  EXPECT_THROW(extract_graph(other), Error);
}

TEST(ExportAxes, WritesWhatThePageNeedsAsAnAxesFile) {
  AxisSet set;
  set.latent_dim = 4;
  set.meta = {{"run", "models/some-gan"}, {"n", 1000}};
  Axis a;
  a.name = "heart";
  a.kind = "logistic";
  a.source = "class";
  a.direction = torch::tensor({0.123456789012, -0.5, 0.75, 0.0}, torch::kFloat64);
  a.direction /= a.direction.norm();
  a.slope = 1.25;
  a.metric = "accuracy";
  a.quality = 0.98;
  a.details = {{"auc", 0.84}, {"bias", -4.5}, {"positive_rate", 0.0}};
  Axis b = a;
  b.name = "brightness";
  b.kind = "ridge";
  b.source = "attribute";
  b.direction = torch::tensor({0.3, 0.3, -0.1, 0.9}, torch::kFloat64);
  b.direction /= b.direction.norm();
  b.metric = "r2";
  b.quality = 0.5;
  b.details = {{"bias", 0.62}, {"mean", 0.6}, {"std", 0.1}};
  set.axes = {a, b};
  ModelGraph g;
  g.kind = LKRT_KIND_GENERATOR;
  g.latent_dim = 4;

  const nlohmann::json j = axes_for_runtime(set, g, "0123456789abcdef", "models/some-gan", "axes.json");
  const AxisSet back = axes_from_json(j, "written");  // still an axes file
  ASSERT_EQ(back.axes.size(), 2u);
  EXPECT_EQ(back.latent_dim, 4);
  EXPECT_EQ(j["meta"]["model_id"], "0123456789abcdef");
  EXPECT_EQ(j["meta"]["fitted_on"], "models/some-gan");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back.axes[i].name, set.axes[i].name);
    EXPECT_DOUBLE_EQ(back.axes[i].slope, 1.25);
    EXPECT_LT((back.axes[i].direction - set.axes[i].direction).abs().max().item<double>(), 0.51e-7);
    EXPECT_EQ(back.axes[i].details.size(), 1u);  // the bias alone
  }
  EXPECT_DOUBLE_EQ(back.axes[0].details["bias"].get<double>(), -4.5);
  // A class axis shows its AUC, as the editor does; an attribute keeps its R^2.
  EXPECT_EQ(back.axes[0].metric, "auc");
  EXPECT_DOUBLE_EQ(back.axes[0].quality, 0.84);
  EXPECT_EQ(back.axes[1].metric, "r2");
  // 7 decimals: the direction's text is short.
  for (const nlohmann::json& axis : j["axes"]) {
    for (const nlohmann::json& v : axis["direction"]) EXPECT_LE(v.dump().size(), 10u) << v.dump();  // "-0.1234567"
  }

  g.latent_dim = 5;
  EXPECT_THROW(axes_for_runtime(set, g, "id", "run", "axes.json"), Error);
  g.latent_dim = 4;
  g.kind = LKRT_KIND_ENHANCER;
  EXPECT_THROW(axes_for_runtime(set, g, "id", "run", "axes.json"), Error);

  EXPECT_EQ(axes_path_beside("out/gen.lkm"), "out/gen.axes.json");
  EXPECT_EQ(axes_path_beside("gen.onnx"), "gen.onnx.axes.json");
  EXPECT_EQ(axes_path_beside(".lkm"), ".lkm.axes.json");
}

namespace {

// A small spade generator: 16 px, blocks at 4, 8 and 16 px (the 8 and 16 px ones with a
// learned shortcut: their widths change), the normalisations' running statistics far from
// the identity.
SpadeGenerator small_spade(int64_t channels, const std::string& palette) {
  torch::manual_seed(14);
  SpadeGenerator net(SpadeOptions()
                         .channels(channels)
                         .image_size(16)
                         .classes(map_palette(palette).size())
                         .palette(palette)
                         .latent_dim(8)
                         .width(4));
  torch::NoGradGuard no_grad;
  for (auto& m : net->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.3, 2.0);
    }
  }
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  net->eval();
  return net;
}

// Maps of random classes in 2 x 2 blocks (so that the 8 and 4 px blocks see several classes).
torch::Tensor block_maps(int64_t n, int64_t classes, int64_t size) {
  torch::manual_seed(15);
  return torch::randint(classes, {n, size / 2, size / 2}, torch::kInt64)
      .repeat_interleave(2, 1)
      .repeat_interleave(2, 2)
      .to(torch::kUInt8)
      .contiguous();
}

}  // namespace

TEST(ExportGraph, SpadeFoldsItsNormalisationsAndReproducesTheModel) {
  SpadeGenerator net = small_spade(3, "scenes");
  ModelGraph g = extract_mask_generator_graph(*net);
  EXPECT_EQ(g.kind, LKRT_KIND_MASK_GENERATOR);
  EXPECT_EQ(g.family, "spade");
  EXPECT_EQ(g.num_classes, 4);
  EXPECT_EQ(g.palette.name, "scenes");
  ASSERT_EQ(g.ops[1].op, Op::kInput);
  EXPECT_EQ(g.ops[1].role, InputRole::kLabelMap);
  // One downsample of the map per block size below the image's (4 and 8 px), shared by
  // every normalisation there; no BatchNorm left: 2 normalisations a block, 3 in the one
  // with a learned shortcut, each a mul and an add.
  int64_t downsamples = 0, muls = 0;
  for (const GraphOp& op : g.ops) {
    downsamples += op.op == Op::kDownsampleNearest;
    muls += op.op == Op::kMul;
  }
  EXPECT_EQ(downsamples, 2);
  int64_t norms = 0;
  for (const auto& b : *net->blocks) norms += b->as<SpadeBlock>()->conv_s ? 3 : 2;
  EXPECT_EQ(muls, norms);

  // The fold, by hand, for the first normalisation: gamma' = s (1 + gamma), beta' = beta + t (1 + gamma).
  SpadeBlockImpl& b0 = *net->blocks[0]->as<SpadeBlock>();
  SpadeNormImpl& n0 = b0.conv_s ? *b0.norm_s : *b0.norm0;
  const torch::Tensor s = 1 / (n0.norm->running_var.to(torch::kFloat64) + n0.norm->options.eps()).sqrt();
  const torch::Tensor t = -n0.norm->running_mean.to(torch::kFloat64) * s;
  size_t mul = 0;
  while (g.ops[mul].op != Op::kMul) ++mul;
  const GraphOp& gamma = g.ops[static_cast<size_t>(g.ops[mul].inputs[1])];
  const GraphOp& beta = g.ops[static_cast<size_t>(g.ops[mul + 1].inputs[1])];
  const torch::Tensor wg = n0.gamma->weight.to(torch::kFloat64), bg = n0.gamma->bias.to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(gamma.weight.to(torch::kFloat64), wg * s.view({-1, 1, 1, 1}), 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(gamma.bias.to(torch::kFloat64), (1 + bg) * s, 1e-6, 1e-7));
  EXPECT_TRUE(torch::allclose(beta.weight.to(torch::kFloat64),
                              n0.beta->weight.to(torch::kFloat64) + wg * t.view({-1, 1, 1, 1}), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(beta.bias.to(torch::kFloat64), n0.beta->bias.to(torch::kFloat64) + (1 + bg) * t, 1e-6, 1e-6));

  GraphInputs in;
  in.z = torch::randn({3, 8});
  in.maps = block_maps(3, 4, 16);
  const torch::Tensor want = spade_generate(*net, in.maps, in.z);
  const double e = normalised_error(run_graph(g, in), want);
  EXPECT_LT(e, 1e-12);
  std::printf("spade graph, BatchNorm folded into gamma and beta, vs the model: normalised error %.2e\n", e);
  in.maps[0][3][5] = 4;
  EXPECT_THROW(run_graph(g, in), Error) << "a class id out of range";
}

TEST(ExportLkm, SpadeInTheRuntime) {
  for (const auto& [channels, palette] : {std::pair<int64_t, std::string>{3, "scenes"}, {4, "regions"}}) {
    SpadeGenerator net = small_spade(channels, palette);
    const ModelGraph g = extract_mask_generator_graph(*net);
    const MapPalette& p = map_palette(palette);
    torch::Tensor z = torch::randn({4, 8});
    const torch::Tensor maps = block_maps(4, p.size(), 16);
    const torch::Tensor want = spade_generate(*net, maps, z);
    for (const std::string weights : {"fp32", "fp16", "int8"}) {
      ModelPtr m = load_lkm(graph_to_lkm(g, weights, "spade-test"));
      ASSERT_TRUE(m);
      EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_MASK_GENERATOR);
      EXPECT_EQ(lkrt_model_num_classes(m.get()), p.size());
      EXPECT_EQ(lkrt_model_latent_dim(m.get()), 8);
      EXPECT_EQ(static_cast<int64_t>(lkrt_model_param_count(m.get())), g.parameter_count());
      // The palette travels: names and colors as latentkit's.
      EXPECT_EQ(lkrt_model_palette_name(m.get()), palette);
      for (int32_t k = 0; k < p.size(); ++k) {
        EXPECT_EQ(lkrt_model_class_name(m.get(), k), p.class_names[static_cast<size_t>(k)]);
        EXPECT_EQ(0, std::memcmp(lkrt_model_class_color(m.get(), k), p.colors[static_cast<size_t>(k)].data(), 4));
      }
      torch::Tensor got = torch::empty(want.sizes());  // NCHW, whatever the model's output layout
      for (int64_t i = 0; i < 4; ++i) {
        ASSERT_EQ(lkrt_generate_map(m.get(), z[i].contiguous().data_ptr<float>(), maps[i].contiguous().data_ptr<uint8_t>(),
                                    got[i].data_ptr<float>()),
                  LKRT_OK)
            << lkrt_last_error();
      }
      const double e = normalised(want, got);
      EXPECT_LT(e, weights == "fp32" ? 1e-10 : weights == "fp16" ? 1e-5 : 1e-3) << palette << " " << weights;
      std::printf("spade %s (%lld channels) in lkrt, %s weights: normalised error %.2e\n", palette.c_str(),
                  static_cast<long long>(channels), weights.c_str(), e);
    }
  }
}

TEST(ExportLkm, SpadeMapsAreReadAsLatentkitReadsThem) {
  // lkrt_map_from_pixels and map_from_image agree on ids, and on the message for a color
  // outside the palette (latentkit's names the file first).
  for (const std::string palette : {"scenes", "regions"}) {
    SpadeGenerator net = small_spade(palette == "scenes" ? 3 : 4, palette);
    ModelPtr m = load_lkm(graph_to_lkm(extract_mask_generator_graph(*net), "fp32", "spade-maps"));
    ASSERT_TRUE(m);
    const MapPalette& p = map_palette(palette);
    const torch::Tensor ids = block_maps(1, p.size(), 16)[0];
    Image image(16, 16, 4);
    for (int64_t i = 0; i < 256; ++i)
      for (size_t c = 0; c < 4; ++c)
        image.pixels[static_cast<size_t>(i) * 4 + c] = p.colors[ids.view(-1)[i].item<uint8_t>()][c];
    if (palette == "regions") {  // alpha 0 is the transparent class, whatever the color under it
      image.pixels[3 * 4 + 0] = 99;
      image.pixels[3 * 4 + 3] = 0;
    }
    std::vector<uint8_t> got(256);
    ASSERT_EQ(lkrt_map_from_pixels(m.get(), image.pixels.data(), 4, 16, 16, got.data()), LKRT_OK) << lkrt_last_error();
    const torch::Tensor want = map_from_image(image, p, "map.png");
    EXPECT_TRUE(torch::equal(torch::from_blob(got.data(), {16, 16}, torch::kUInt8), want)) << palette;
    image.pixels[(5 * 16 + 7) * 4 + 1] = 77;
    image.pixels[(5 * 16 + 7) * 4 + 3] = 255;
    EXPECT_EQ(lkrt_map_from_pixels(m.get(), image.pixels.data(), 4, 16, 16, got.data()), LKRT_ERR_ARGUMENT);
    std::string message;
    try {
      map_from_image(image, p, "map.png");
    } catch (const Error& e) {
      message = e.what();
    }
    EXPECT_EQ("map.png: " + std::string(lkrt_last_error()), message);
  }
}

TEST(ExportOnnx, SpadeTakesClassIdsAndSlicesTheMap) {
  SpadeGenerator net = small_spade(3, "scenes");
  const ModelGraph g = extract_mask_generator_graph(*net);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(graph_to_onnx(g, "spade")));
  ASSERT_EQ(m.graph().input_size(), 2);
  EXPECT_EQ(m.graph().input(0).name(), "z");
  EXPECT_EQ(m.graph().input(1).name(), "map");
  EXPECT_EQ(m.graph().input(1).type().tensor_type().elem_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(m.graph().input(1).type().tensor_type().shape().dim_size(), 3);
  EXPECT_EQ(m.graph().output(0).name(), "image");
  const std::vector<std::string> types = op_types(m);
  EXPECT_EQ(std::count(types.begin(), types.end(), "OneHot"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "Slice"), 2) << "the map at 8 and at 4 px";
  EXPECT_EQ(std::count(types.begin(), types.end(), "BatchNormalization"), 0) << "folded";
  EXPECT_EQ(types.back(), "Tanh");
}

namespace {

// A small psgan generator (2 layers: cells of 4 px) with BatchNorm statistics far from the
// identity, in eval mode as export reads it.
PsganGenerator small_psgan() {
  torch::manual_seed(5);
  PsganGenerator net(PsganOptions().local_dim(3).global_dim(4).periodic_dim(2).mlp_hidden(6).layers(2).width(4).crop(16));
  randomise_batchnorm(*net);
  net->eval();
  return net;
}

// Grids of 3 x 5 cells as PsganGeneratorImpl::grid makes them.
torch::Tensor psgan_grids(PsganGeneratorImpl& net, int64_t n) {
  PsganLatent z;
  z.local = torch::randn({n, net.options.local_dim(), 3, 5});
  z.global = torch::randn({n, net.options.global_dim()});
  z.phase = torch::rand({n, net.options.periodic_dim()}) * (2 * M_PI);
  z.x0 = z.y0 = -kPsganReach;
  torch::NoGradGuard no_grad;
  return net.grid(z);
}

}  // namespace

TEST(ExportGraph, PsganIsAWallpaperModelOnGridsOfAnySize) {
  PsganGenerator net = small_psgan();
  const std::vector<std::pair<std::string, torch::Tensor>> moods = {{"warm", torch::full({4}, 0.5f)}};
  const ModelGraph g = extract_wallpaper_graph(*net, moods);
  EXPECT_EQ(g.kind, LKRT_KIND_WALLPAPER);
  EXPECT_EQ(g.latent_dim, 4);
  EXPECT_EQ(g.wallpaper.cell, 4);
  EXPECT_EQ(g.wallpaper.reach, kPsganReach);
  EXPECT_EQ(g.ops.front().role, InputRole::kGrid);
  EXPECT_EQ(g.ops.front().channels, 9);
  EXPECT_EQ(g.ops.back().op, Op::kTanh);
  for (int64_t cells : {2, 3}) {
    GraphInputs in;
    in.grid = torch::randn({2, 9, cells, cells + 2});
    torch::NoGradGuard no_grad;
    EXPECT_LT(normalised(net->forward(in.grid), run_graph(g, in)), 1e-12) << cells;
  }
}

TEST(ExportLkm, WallpaperInTheRuntime) {
  PsganGenerator net = small_psgan();
  const torch::Tensor warm = torch::randn({4});
  const ModelGraph g = extract_wallpaper_graph(*net, {{"warm", warm}, {"cool", -warm}});
  const torch::Tensor grids = psgan_grids(*net, 3);
  torch::NoGradGuard no_grad;
  const torch::Tensor want = net->forward(grids);
  for (const std::string weights : {"fp32", "int8"}) {
    ModelPtr m = load_lkm(graph_to_lkm(g, weights, "psgan-test"));
    ASSERT_TRUE(m);
    EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_WALLPAPER);
    EXPECT_EQ(lkrt_model_cell(m.get()), 4);
    EXPECT_EQ(lkrt_model_local_dim(m.get()), 3);
    EXPECT_EQ(lkrt_model_periodic_dim(m.get()), 2);
    EXPECT_EQ(static_cast<int64_t>(lkrt_model_param_count(m.get())),
              g.parameter_count() + g.wallpaper.weight1.numel() + g.wallpaper.bias1.numel() + g.wallpaper.weight2.numel() +
                  g.wallpaper.bias2.numel());
    ASSERT_EQ(lkrt_model_mood_count(m.get()), 2);
    EXPECT_STREQ(lkrt_model_mood_name(m.get(), 1), "cool");
    torch::Tensor got = torch::empty(want.sizes());
    for (int64_t i = 0; i < 3; ++i) {
      const torch::Tensor grid = grids[i].contiguous();
      ASSERT_EQ(lkrt_wallpaper_network(m.get(), grid.data_ptr<float>(), 3, 5, got[i].data_ptr<float>()), LKRT_OK)
          << lkrt_last_error();
    }
    const double e = normalised(want, got);
    EXPECT_LT(e, weights == "fp32" ? 1e-10 : 1e-3) << weights;
    // The wave MLP stays fp32: kx then ky, as PsganGeneratorImpl::waves.
    const torch::Tensor global = torch::randn({4});
    torch::Tensor k = torch::empty({4});
    ASSERT_EQ(lkrt_wallpaper_waves(m.get(), global.data_ptr<float>(), k.data_ptr<float>()), LKRT_OK);
    EXPECT_LT(normalised(net->waves(global.view({1, 4})).flatten(), k), 1e-12);
    std::printf("psgan in lkrt, %s weights: normalised error %.2e\n", weights.c_str(), e);
  }
}

TEST(ExportLkm, WallpaperMoodsAreReadFromTheRun) {
  test_util::TempDir dir;
  const std::string path = dir.file("moods.json");
  EXPECT_TRUE(read_wallpaper_moods(path, 3).empty()) << "no file: no moods";
  write_file_atomic(path, R"({"format": "latentkit-moods", "moods": [{"name": "warm", "axis": "warmth", "shift": [1, 2, 3]},
                              {"name": "dark", "shift": [-1, 0, 0.5]}], "axes": {}})");
  const auto moods = read_wallpaper_moods(path, 3);
  ASSERT_EQ(moods.size(), 2u);
  EXPECT_EQ(moods[1].first, "dark");
  EXPECT_FLOAT_EQ(moods[1].second[2].item<float>(), 0.5f);
  write_file_atomic(path, R"({"moods": [{"name": "warm", "shift": [1, 2]}]})");
  try {
    read_wallpaper_moods(path, 3);
    FAIL() << "a shift of the wrong length";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mood warm shifts 2 values, the model's global vector has 3"), std::string::npos)
        << e.what();
  }
  write_file_atomic(path, R"({"mood": []})");
  EXPECT_THROW(read_wallpaper_moods(path, 3), Error);
}

TEST(ExportOnnx, PsganTakesAGridOfAnySize) {
  PsganGenerator net = small_psgan();
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(graph_to_onnx(extract_wallpaper_graph(*net), "psgan")));
  EXPECT_EQ(m.graph().name(), "psgan_wallpaper");
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "grid");
  const auto& in = m.graph().input(0).type().tensor_type().shape();
  ASSERT_EQ(in.dim_size(), 4);
  EXPECT_EQ(in.dim(1).dim_value(), 9);
  EXPECT_EQ(in.dim(2).dim_param(), "height");
  EXPECT_EQ(in.dim(3).dim_param(), "width");
  const auto& out = m.graph().output(0).type().tensor_type().shape();
  EXPECT_EQ(m.graph().output(0).name(), "image");
  EXPECT_EQ(out.dim(2).dim_param(), "image_height");
  EXPECT_EQ(out.dim(3).dim_param(), "image_width");
  const std::vector<std::string> types = op_types(m);
  EXPECT_EQ(std::count(types.begin(), types.end(), "ConvTranspose"), 2);
  EXPECT_EQ(std::count(types.begin(), types.end(), "BatchNormalization"), 0) << "folded";
  EXPECT_EQ(types.back(), "Tanh");
}
