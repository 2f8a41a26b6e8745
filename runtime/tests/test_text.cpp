// Text-to-image denoisers (format version 3): the writer -> loader round trip of the text
// section, the tokenizer's ids and messages (latentkit's Tokenizer's, data/captions.h), the
// encoder against a closed form, guidance with a prompt, hostile text sections, and the
// errors of a model without text. The encoder's parity with LibTorch is in latentkit's
// tests (tests/unit/test_export.cpp, ExportLkm.TextToImageInTheRuntime).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format.h"
#include "lkrt.h"
#include "lkrt_writer.h"

namespace {

using Value = lkrt::ModelWriter::Value;
namespace f = lkrt::format;

struct ModelDeleter {
  void operator()(lkrt_model* m) const { lkrt_model_free(m); }
};
using ModelPtr = std::unique_ptr<lkrt_model, ModelDeleter>;

ModelPtr load(const std::string& bytes) {
  lkrt_model* m = nullptr;
  EXPECT_EQ(lkrt_model_load_memory(bytes.data(), bytes.size(), &m), LKRT_OK) << lkrt_last_error();
  return ModelPtr(m);
}

std::string load_error(const std::string& bytes, lkrt_status want = LKRT_ERR_FORMAT) {
  lkrt_model* m = nullptr;
  EXPECT_EQ(lkrt_model_load_memory_ex(bytes.data(), bytes.size(), LKRT_LOAD_SKIP_CHECKSUM, &m), want) << lkrt_last_error();
  lkrt_model_free(m);
  return lkrt_last_error();
}

void put_u32(std::string& b, size_t at, uint32_t v) { f::write_u32(reinterpret_cast<uint8_t*>(&b[at]), v); }
uint32_t get_u32(const std::string& b, size_t at) { return f::read_u32(reinterpret_cast<const uint8_t*>(&b[at])); }
uint64_t get_u64(const std::string& b, size_t at) { return f::read_u64(reinterpret_cast<const uint8_t*>(&b[at])); }

const std::vector<std::string> kVocab = {"<pad>", "<unk>", "2", "cat", "eyes", "face", "grinning", "heart", "with"};

// A tiny text-to-image denoiser: a text encoder of width W (random weights, or blocks of
// zeros: then each block is the identity), and a network that is affine in the prompt's
// embedding: eps = k x + A temb(t) + E text (one 1x1 convolution over C channels).
struct TinyT2i {
  static constexpr int C = 2, H = 3, Wd = 3, W = 8, L = 5, heads = 2, layers = 2, D = 8;
  bool zero_blocks = false;
  std::vector<float> token, position, ln_out_w, ln_out_b, null_text, k, a, e;
  std::vector<std::vector<std::vector<float>>> block;  // per layer, the 12 tensors of TextLayerWeights in order

  explicit TinyT2i(bool zero = false, uint32_t seed = 3) : zero_blocks(zero) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    auto random = [&](size_t count, float scale) {
      std::vector<float> v(count);
      for (float& x : v) x = n(rng) * scale;
      return v;
    };
    token = random(kVocab.size() * W, 1.0f);
    position = random(size_t(L) * W, 0.5f);
    ln_out_w = random(W, 0.3f);
    for (float& g : ln_out_w) g += 1.0f;
    ln_out_b = random(W, 0.2f);
    null_text = random(W, 0.5f);
    const size_t sizes[12] = {W, W, 3 * W * W, 3 * W, W * W, W, W, W, 4 * W * W, 4 * W, 4 * W * W, W};
    for (int l = 0; l < layers; ++l) {
      block.emplace_back();
      for (int t = 0; t < 12; ++t) {
        const bool norm_gain = t == 0 || t == 6;
        std::vector<float> v = random(sizes[t], norm_gain ? 0.2f : 0.4f);
        if (norm_gain) for (float& g : v) g += 1.0f;
        if (zero && !(t == 0 || t == 1 || t == 6 || t == 7)) std::fill(v.begin(), v.end(), 0.0f);
        block.back().push_back(v);
      }
    }
    k = random(C * C, 0.5f);
    a = random(size_t(C) * D, 0.3f);
    e = random(size_t(C) * W, 0.3f);
  }

  std::string bytes(lkrt_weight_type type = LKRT_WEIGHT_FP32) const {
    lkrt::ModelWriter w;
    w.set_info({"tiny-t2i", C * H * Wd, C, H, Wd});
    lkrt::DiffusionInfo d;
    d.timesteps = 50;
    d.sample_steps = 5;
    w.set_denoiser(d);
    lkrt::TextEncoderInfo info;
    info.max_tokens = L;
    info.width = W;
    info.layers = layers;
    info.heads = heads;
    info.vocab = kVocab;
    lkrt::TextEncoderWeights tw;
    tw.token = token.data();
    tw.position = position.data();
    tw.ln_out_weight = ln_out_w.data();
    tw.ln_out_bias = ln_out_b.data();
    tw.null_text = null_text.data();
    for (const auto& b : block)
      tw.layers.push_back({b[0].data(), b[1].data(), b[2].data(), b[3].data(), b[4].data(), b[5].data(), b[6].data(),
                           b[7].data(), b[8].data(), b[9].data(), b[10].data(), b[11].data()});
    w.set_text_encoder(info, tw, type);
    Value x = w.input(lkrt::InputRole::kImage, C);
    Value t = w.input(lkrt::InputRole::kTimestep);
    Value text = w.input(lkrt::InputRole::kText, W);
    Value temb = w.add(w.gemm(w.timestep_embedding(t, D), a.data(), C, D, nullptr, LKRT_WEIGHT_FP32),
                       w.gemm(text, e.data(), C, W, nullptr, LKRT_WEIGHT_FP32));
    w.add(w.conv2d(x, k.data(), C, C, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32), temb);
    return w.serialize();
  }

  // With zero blocks: the mean over the tokens of LayerNorm(token + position), in double.
  std::vector<double> closed_form(const std::vector<int>& ids) const {
    std::vector<double> out(W, 0.0);
    for (size_t i = 0; i < ids.size(); ++i) {
      double x[W], mean = 0, var = 0;
      for (int c = 0; c < W; ++c) mean += x[c] = double(token[size_t(ids[i]) * W + c]) + position[i * W + c];
      mean /= W;
      for (int c = 0; c < W; ++c) var += (x[c] - mean) * (x[c] - mean);
      for (int c = 0; c < W; ++c)
        out[c] += ((x[c] - mean) / std::sqrt(var / W + 1e-5) * ln_out_w[c] + ln_out_b[c]) / double(ids.size());
    }
    return out;
  }
};

std::vector<int32_t> tokenize(lkrt_model* m, const std::string& prompt, lkrt_status want = LKRT_OK) {
  std::vector<int32_t> ids(size_t(lkrt_model_max_tokens(m)), -7);
  int32_t count = -1;
  EXPECT_EQ(lkrt_tokenize(m, prompt.c_str(), ids.data(), &count), want) << prompt << ": " << lkrt_last_error();
  ids.resize(want == LKRT_OK ? size_t(count) : 0);
  return ids;
}

}  // namespace

TEST(Text, WriterAndLoaderAgreeOnTheTextSection) {
  const TinyT2i net;
  const std::string bytes = net.bytes();
  EXPECT_EQ(get_u32(bytes, f::kHVersion), 3u);  // a text section: version 3
  EXPECT_NE(get_u64(bytes, f::kHTextOffset), 0u);
  EXPECT_EQ(get_u64(bytes, f::kHTextOffset) % 64, 0u);
  ModelPtr m = load(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_kind(m.get()), LKRT_KIND_DENOISER);
  EXPECT_EQ(lkrt_model_text_width(m.get()), TinyT2i::W);
  EXPECT_EQ(lkrt_model_max_tokens(m.get()), TinyT2i::L);
  EXPECT_EQ(lkrt_model_vocab_size(m.get()), int32_t(kVocab.size()));
  for (size_t i = 0; i < kVocab.size(); ++i) EXPECT_STREQ(lkrt_model_vocab_word(m.get(), int32_t(i)), kVocab[i].c_str());
  EXPECT_EQ(lkrt_model_vocab_word(m.get(), int32_t(kVocab.size())), nullptr);
  EXPECT_EQ(lkrt_model_vocab_word(m.get(), -1), nullptr);
  // Parameters: the encoder's (token 9x8, position 5x8, 3 vectors of 8, 2 layers of 12w^2 + 13w)
  // and the network's (gemm 2x8, 2x8, conv 2x2).
  const uint64_t text = 9 * 8 + 5 * 8 + 3 * 8 + 2 * (12 * 64 + 13 * 8);
  EXPECT_EQ(lkrt_model_param_count(m.get()), text + 16 + 16 + 4);
  // A model without text is still written as version 2, which older readers load.
  lkrt::ModelWriter w;
  w.set_info({"plain", 0, 1, 4, 4});
  w.set_enhancer(1);
  std::vector<float> one(1, 1.0f);
  w.conv2d(w.input(lkrt::InputRole::kImage, 1), one.data(), 1, 1, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32);
  const std::string plain = w.serialize();
  EXPECT_EQ(get_u32(plain, f::kHVersion), 2u);
  EXPECT_EQ(lkrt_model_text_width(load(plain).get()), 0);
}

TEST(Text, TokenizerSplitsWordsAsLatentkitDoes) {
  ModelPtr m = load(TinyT2i().bytes());
  ASSERT_TRUE(m);
  // ids: 2 "2", 3 cat, 4 eyes, 5 face, 6 grinning, 7 heart, 8 with; 1 unknown.
  EXPECT_EQ(tokenize(m.get(), "cat face"), (std::vector<int32_t>{3, 5}));
  EXPECT_EQ(tokenize(m.get(), "  Cat FACE, with Heart-Eyes!"), (std::vector<int32_t>{3, 5, 8, 7, 4}));
  EXPECT_EQ(tokenize(m.get(), "grinning cat2"), (std::vector<int32_t>{6, 1}));       // "cat2" is one word
  EXPECT_EQ(tokenize(m.get(), "2 cats:)"), (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(tokenize(m.get(), "caf\xc3\xa9 cat"), (std::vector<int32_t>{1, 3}));    // non-ASCII bytes separate: "caf", "cat"
  EXPECT_EQ(tokenize(m.get(), "kat hart"), (std::vector<int32_t>{1, 1}));           // unknown words only
  EXPECT_EQ(tokenize(m.get(), "a b c d e"), (std::vector<int32_t>{1, 1, 1, 1, 1})); // max_tokens words
  // Errors as latentkit's, and nothing written.
  tokenize(m.get(), "a b c d e f", LKRT_ERR_ARGUMENT);
  EXPECT_STREQ(lkrt_last_error(), "the prompt has 6 words; this model reads at most 5");
  for (const char* empty : {"", "   ", "?!-- :)"}) {
    tokenize(m.get(), empty, LKRT_ERR_ARGUMENT);
    EXPECT_STREQ(lkrt_last_error(), "the prompt is empty: it needs at least one word (letters or digits)");
  }
  int32_t ids[5], count = 0;
  EXPECT_EQ(lkrt_tokenize(m.get(), nullptr, ids, &count), LKRT_ERR_ARGUMENT);
}

TEST(Text, WarningsNameUnknownWordsAndTheirNearestKnownOnes) {
  ModelPtr m = load(TinyT2i().bytes());
  ASSERT_TRUE(m);
  EXPECT_STREQ(lkrt_prompt_warnings(m.get(), "Grinning cat face"), "");
  // kat: cat 1, then "2", face, heart and with at 3: ties in alphabetical (byte) order.
  EXPECT_STREQ(lkrt_prompt_warnings(m.get(), "kat face"), "unknown word 'kat' (nearest known: cat, 2, face)\n");
  // hart: heart 1, cat 2, face 3; each occurrence listed, as latentkit does.
  EXPECT_STREQ(lkrt_prompt_warnings(m.get(), "hart, Hart"),
               "unknown word 'hart' (nearest known: heart, cat, face)\nunknown word 'hart' (nearest known: heart, cat, face)\n");
  EXPECT_STREQ(lkrt_prompt_warnings(m.get(), ""), "");
}

TEST(Text, EncoderMatchesItsClosedFormAndNullText) {
  // With the blocks' Linear layers all zero each block is the identity, so the pooled
  // prompt is the mean of LayerNorm(token + position) over the tokens.
  const TinyT2i net(/*zero=*/true);
  ModelPtr m = load(net.bytes());
  ASSERT_TRUE(m);
  for (const std::vector<int>& ids : {std::vector<int>{3}, {6, 3, 5}, {1, 7, 7, 2, 8}}) {
    std::vector<int32_t> tokens(ids.begin(), ids.end());
    std::vector<float> out(TinyT2i::W);
    ASSERT_EQ(lkrt_encode_tokens(m.get(), tokens.data(), int32_t(tokens.size()), out.data()), LKRT_OK) << lkrt_last_error();
    const std::vector<double> want = net.closed_form(ids);
    for (int c = 0; c < TinyT2i::W; ++c) EXPECT_NEAR(out[c], want[c], 2e-6) << c;
  }
  // No tokens: the learned "no prompt" vector, exactly.
  std::vector<float> none(TinyT2i::W);
  ASSERT_EQ(lkrt_encode_tokens(m.get(), nullptr, 0, none.data()), LKRT_OK);
  EXPECT_EQ(none, net.null_text);
  // encode_prompt is tokenize + encode_tokens.
  std::vector<float> a(TinyT2i::W), b(TinyT2i::W);
  const int32_t ids[3] = {7, 4, 1};
  ASSERT_EQ(lkrt_encode_prompt(m.get(), "heart eyes kat", a.data()), LKRT_OK);
  ASSERT_EQ(lkrt_encode_tokens(m.get(), ids, 3, b.data()), LKRT_OK);
  EXPECT_EQ(a, b);
  // Ids out of range, too many, padding.
  const int32_t bad[2] = {3, 9};
  EXPECT_EQ(lkrt_encode_tokens(m.get(), bad, 2, a.data()), LKRT_ERR_ARGUMENT);
  EXPECT_STREQ(lkrt_last_error(), "lkrt_encode_tokens: token 9 not in 1..8");
  const int32_t pad[1] = {0};
  EXPECT_EQ(lkrt_encode_tokens(m.get(), pad, 1, a.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_encode_tokens(m.get(), ids, 6, a.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_encode_prompt(m.get(), " , ", a.data()), LKRT_ERR_ARGUMENT);
}

TEST(Text, RandomEncoderIsDeterministicAndUsesEveryToken) {
  ModelPtr m = load(TinyT2i().bytes());
  ASSERT_TRUE(m);
  std::vector<float> a(TinyT2i::W), b(TinyT2i::W), c(TinyT2i::W);
  ASSERT_EQ(lkrt_encode_prompt(m.get(), "grinning cat face", a.data()), LKRT_OK);
  ASSERT_EQ(lkrt_encode_prompt(m.get(), "Grinning, cat face!", b.data()), LKRT_OK);
  ASSERT_EQ(lkrt_encode_prompt(m.get(), "grinning face cat", c.data()), LKRT_OK);
  EXPECT_EQ(a, b);
  double moved = 0;
  for (int i = 0; i < TinyT2i::W; ++i) moved += std::fabs(a[i] - c[i]);
  EXPECT_GT(moved, 1e-3);  // positions matter
  // int8 Linear weights: close to fp32's.
  ModelPtr q = load(TinyT2i().bytes(LKRT_WEIGHT_INT8));
  ASSERT_TRUE(q);
  EXPECT_EQ(lkrt_model_weight_type(q.get()), LKRT_WEIGHT_MIXED);
  ASSERT_EQ(lkrt_encode_prompt(q.get(), "grinning cat face", c.data()), LKRT_OK);
  double err = 0, norm = 0;
  for (int i = 0; i < TinyT2i::W; ++i) err += (a[i] - c[i]) * (a[i] - c[i]), norm += a[i] * a[i];
  EXPECT_LT(err / norm, 1e-3);
  EXPECT_GT(err, 0.0);
}

TEST(Text, GuidanceMovesThePromptAwayFromNoPrompt) {
  // eps is affine in the prompt's embedding, so guided eps_u + w (eps_c - eps_u) is the
  // network at null + w (text - null): the same sample as that embedding with no guidance.
  const TinyT2i net;
  ModelPtr m = load(net.bytes());
  ASSERT_TRUE(m);
  const size_t n = size_t(TinyT2i::C) * TinyT2i::H * TinyT2i::Wd;
  std::vector<float> x(n), text(TinyT2i::W), moved(TinyT2i::W);
  lkrt_normals(4, x.data(), n);
  ASSERT_EQ(lkrt_encode_prompt(m.get(), "heart eyes", text.data()), LKRT_OK);
  const float w = 3.0f;
  for (int i = 0; i < TinyT2i::W; ++i) moved[i] = net.null_text[i] + w * (text[i] - net.null_text[i]);
  for (lkrt_sampler sampler : {LKRT_SAMPLER_DDIM, LKRT_SAMPLER_DPMPP}) {
    lkrt_sample_options o;
    lkrt_sample_options_init(&o);
    EXPECT_EQ(o.text, nullptr);
    o.sampler = sampler;
    o.steps = 4;
    o.clip = 0;
    o.text = text.data();
    o.guidance = w;
    std::vector<float> guided(n), plain(n), none(n), none_guided(n);
    ASSERT_EQ(lkrt_sample(m.get(), &o, x.data(), nullptr, guided.data()), LKRT_OK) << lkrt_last_error();
    o.text = moved.data();
    o.guidance = 1.0f;
    ASSERT_EQ(lkrt_sample(m.get(), &o, x.data(), nullptr, plain.data()), LKRT_OK);
    double err = 0, norm = 0;  // normalised error, mse(a, b) / mse(a, 0)
    for (size_t i = 0; i < n; ++i) err += double(guided[i] - plain[i]) * (guided[i] - plain[i]), norm += double(plain[i]) * plain[i];
    EXPECT_LT(err / norm, 1e-10) << sampler;
    // No prompt: guidance changes nothing, and it is lkrt_denoise's null_text.
    o.text = nullptr;
    ASSERT_EQ(lkrt_sample(m.get(), &o, x.data(), nullptr, none.data()), LKRT_OK);
    o.guidance = w;
    ASSERT_EQ(lkrt_sample(m.get(), &o, x.data(), nullptr, none_guided.data()), LKRT_OK);
    EXPECT_EQ(none, none_guided);
    double differ = 0;
    for (size_t i = 0; i < n; ++i) differ += std::fabs(none[i] - plain[i]);
    EXPECT_GT(differ, 1e-3);
  }
  // One call: lkrt_denoise_text with NULL is lkrt_denoise.
  std::vector<float> a(n), b(n), c(n);
  ASSERT_EQ(lkrt_denoise_text(m.get(), x.data(), 17, nullptr, nullptr, a.data()), LKRT_OK);
  ASSERT_EQ(lkrt_denoise(m.get(), x.data(), 17, -1, nullptr, b.data()), LKRT_OK);
  EXPECT_EQ(a, b);
  ASSERT_EQ(lkrt_denoise_text(m.get(), x.data(), 17, text.data(), nullptr, c.data()), LKRT_OK);
  EXPECT_NE(a, c);
  EXPECT_EQ(lkrt_denoise(m.get(), x.data(), 17, 0, nullptr, b.data()), LKRT_ERR_ARGUMENT);  // no classes
}

TEST(Text, ModelsWithoutTextSayWhatTheyLack) {
  lkrt::ModelWriter w;
  w.set_info({"ddpm", 4, 1, 2, 2});
  lkrt::DiffusionInfo d;
  d.timesteps = 10;
  d.sample_steps = 2;
  w.set_denoiser(d);
  std::vector<float> one(1, 1.0f), a(8, 0.1f);
  Value x = w.input(lkrt::InputRole::kImage, 1);
  Value t = w.input(lkrt::InputRole::kTimestep);
  w.add(w.conv2d(x, one.data(), 1, 1, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32),
        w.gemm(w.timestep_embedding(t, 8), a.data(), 1, 8, nullptr, LKRT_WEIGHT_FP32));
  ModelPtr m = load(w.serialize());
  ASSERT_TRUE(m);
  EXPECT_EQ(lkrt_model_text_width(m.get()), 0);
  EXPECT_EQ(lkrt_model_vocab_size(m.get()), 0);
  std::vector<float> out(8), x_t(4, 0.5f);
  EXPECT_EQ(lkrt_encode_prompt(m.get(), "cat", out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("this model has no text encoder"), std::string::npos) << lkrt_last_error();
  int32_t ids[4], count;
  EXPECT_EQ(lkrt_tokenize(m.get(), "cat", ids, &count), LKRT_ERR_ARGUMENT);
  EXPECT_STREQ(lkrt_prompt_warnings(m.get(), "kat"), "");
  EXPECT_EQ(lkrt_denoise_text(m.get(), x_t.data(), 3, out.data(), nullptr, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("has no text encoder"), std::string::npos);
  lkrt_sample_options o;
  lkrt_sample_options_init(&o);
  o.text = out.data();
  EXPECT_EQ(lkrt_sample(m.get(), &o, x_t.data(), nullptr, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_NE(std::string(lkrt_last_error()).find("without a text encoder"), std::string::npos);
  EXPECT_EQ(lkrt_encode_prompt(nullptr, "cat", out.data()), LKRT_ERR_ARGUMENT);
}

TEST(Text, HostileTextSectionsAreRefused) {
  const std::string good = TinyT2i().bytes();
  const size_t at = size_t(get_u64(good, f::kHTextOffset)), size = size_t(get_u64(good, f::kHTextSize));
  struct Case {
    const char* what;
    std::function<void(std::string&)> edit;
    const char* message;
  };
  // The words: <pad> at 0, <unk> 6, 2 12, cat 14, eyes 18, face 23, grinning 28, heart 37, with 43.
  const size_t words = at + f::kXTensors + 4 * (5 + 12 * 2);
  const std::vector<Case> cases = {
      {"offset", [&](std::string& b) { put_u32(b, f::kHTextOffset, uint32_t(at + 4)); }, "not 64-aligned"},
      {"size", [&](std::string& b) { put_u32(b, f::kHTextSize, uint32_t(b.size())); }, "outside the data section"},
      {"vocab", [&](std::string& b) { put_u32(b, at + f::kXVocabSize, 2); }, "vocabulary of 2 words"},
      {"words", [&](std::string& b) { b[words + 45] = '\0'; }, "9 words and bytes after them"},  // "wi", "h"
      {"heads", [&](std::string& b) { put_u32(b, at + f::kXHeads, 3); }, "multiple of its 3 heads"},
      {"layers", [&](std::string& b) { put_u32(b, at + f::kXLayers, 1); }, "29 tensors for 1 layers"},
      {"eps", [&](std::string& b) { put_u32(b, at + f::kXEps, 0); }, "epsilon"},
      {"reserved", [&](std::string& b) { put_u32(b, at + f::kXReserved, 1); }, "reserved field"},
      {"shape", [&](std::string& b) { put_u32(b, at + f::kXWidth, 4); put_u32(b, at + f::kXHeads, 2); }, "wrong shape"},
      {"tensor", [&](std::string& b) { put_u32(b, at + f::kXTensors, 9999); }, "the file has"},
      {"twice", [&](std::string& b) { put_u32(b, at + f::kXTensors + 4, get_u32(b, at + f::kXTensors)); }, "used twice"},
      {"order", [&](std::string& b) { b[words + 18] = 'z'; }, "word 5 is out of order"},  // "eyes" -> "zyes", before "face"
      {"letters", [&](std::string& b) { b[words + 14] = 'C'; }, "lowercase letters"},   // "cat" -> "Cat"
      {"unk", [&](std::string& b) { b[words + 7] = 'x'; }, "must start <pad>, <unk>"},
      {"nul", [&](std::string& b) { b[at + size - 1] = 'x'; }, "not NUL-terminated"},
      {"version", [&](std::string& b) { put_u32(b, f::kHVersion, 2); }, "reserved header byte 184"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string bytes = good;
    c.edit(bytes);
    const std::string message = load_error(bytes);
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
  // Every cut of the file fails cleanly.
  for (size_t cut = 0; cut < good.size(); cut += 7) load_error(good.substr(0, cut));
}
