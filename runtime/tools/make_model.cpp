// lkrt_make_model: writes .lkm models with random weights, for benchmarks and as the
// fuzzer's seed corpus.
//   lkrt_make_model dcgan OUT.lkm [--width W] [--type fp32|fp16|int8] [--classes N]
//       the DCGAN generator shape of latentkit for 28x28x1: z 100 (+ a 32-wide label
//       embedding) -> ConvT k7 to [2W,7,7] -> ReLU -> ConvT k4 s2 p1 to [W,14,14] ->
//       ReLU -> ConvT k4 s2 p1 to [1,28,28] -> tanh (BatchNorm folded: biases present)
//   lkrt_make_model t2i OUT.lkm
//       a small text-to-image denoiser (RGBA 16x16): a 1-layer text encoder of width 16 over
//       a vocabulary of emoji words, the pooled prompt into the time embedding
//   lkrt_make_model spade OUT.lkm
//       a small mask generator (RGB 16x16, latentkit's scenes palette of 4 classes, z 8): two
//       SPADE normalisations (BatchNorm folded into gamma and beta), at 8 and 16 px
//   lkrt_make_model wallpaper OUT.lkm [--width W] [--type fp32|fp16|int8]
//       latentkit's psgan generator (docs/wallpapers.md): a grid of 20 local + 32 global + 4
//       periodic channels -> ConvT k4 s2 p1 to 4W, 2W, W, then 3 channels (ReLU between,
//       tanh at the end; BatchNorm folded: biases present): cells of 16 px; the wave MLP
//       32 -> 64 -> 8 and two moods, warm and cool
//   lkrt_make_model seeds DIR
//       a few small valid models covering every op, weight type and kind
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "lkrt_writer.h"

namespace {

std::vector<float> random_values(size_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

lkrt_weight_type parse_type(const std::string& s) {
  if (s == "fp32") return LKRT_WEIGHT_FP32;
  if (s == "fp16") return LKRT_WEIGHT_FP16;
  if (s == "int8") return LKRT_WEIGHT_INT8;
  std::fprintf(stderr, "lkrt_make_model: --type is fp32, fp16 or int8, got %s\n", s.c_str());
  std::exit(2);
}

lkrt::ModelWriter dcgan(int width, lkrt_weight_type type, int classes, uint32_t seed) {
  std::mt19937 rng(seed);
  const int latent = 100, embed = classes ? 32 : 0, in = latent + embed, c1 = 2 * width, c2 = width;
  lkrt::ModelWriter w;
  w.set_info({"dcgan-random-w" + std::to_string(width), latent, 1, 28, 28});
  if (classes) {
    std::vector<float> table = random_values(size_t(classes) * embed, 1.0f, rng);
    w.add_input(table.data(), classes, embed);
  } else {
    w.add_input();
  }
  std::vector<float> w1 = random_values(size_t(in) * c1 * 49, 0.1f, rng), b1 = random_values(c1, 0.1f, rng);
  std::vector<float> w2 = random_values(size_t(c1) * c2 * 16, 0.05f, rng), b2 = random_values(c2, 0.1f, rng);
  std::vector<float> w3 = random_values(size_t(c2) * 1 * 16, 0.05f, rng), b3 = random_values(1, 0.1f, rng);
  w.add_conv_transpose2d(w1.data(), in, c1, 7, 1, 0, b1.data(), type);
  w.add_activation(lkrt::Activation::kRelu);
  w.add_conv_transpose2d(w2.data(), c1, c2, 4, 2, 1, b2.data(), type);
  w.add_activation(lkrt::Activation::kRelu);
  w.add_conv_transpose2d(w3.data(), c2, 1, 4, 2, 1, b3.data(), type);
  w.add_activation(lkrt::Activation::kTanh);
  return w;
}

// A text-to-image denoiser: temb = gemm(timestep_embedding(t)) + gemm(text); GroupNorm,
// SiLU and a 3x3 convolution over x_t, plus temb at every pixel.
lkrt::ModelWriter t2i(uint32_t seed, lkrt_weight_type type) {
  std::mt19937 rng(seed);
  const int C = 4, S = 16, W = 16, D = 16, hidden = 8;
  lkrt::ModelWriter w;
  w.set_info({"t2i-random", C * S * S, C, S, S});
  lkrt::DiffusionInfo d;
  d.timesteps = 100;
  d.sample_steps = 10;
  w.set_denoiser(d);
  lkrt::TextEncoderInfo info;
  info.max_tokens = 8;
  info.width = W;
  info.layers = 1;
  info.heads = 2;
  info.vocab = {"<pad>", "<unk>", "cat", "eyes", "face", "google", "grinning", "heart", "red", "smiling", "style", "with"};
  std::vector<float> token = random_values(info.vocab.size() * W, 1.0f, rng), position = random_values(8 * W, 0.3f, rng);
  std::vector<float> ones(4 * W, 1.0f), zeros(4 * W, 0.0f), null_text = random_values(W, 0.5f, rng);
  std::vector<float> qkv = random_values(3 * W * W, 0.3f, rng), proj = random_values(W * W, 0.3f, rng);
  std::vector<float> fc1 = random_values(4 * W * W, 0.3f, rng), fc2 = random_values(4 * W * W, 0.2f, rng);
  lkrt::TextEncoderWeights tw;
  tw.token = token.data();
  tw.position = position.data();
  tw.ln_out_weight = ones.data();
  tw.ln_out_bias = zeros.data();
  tw.null_text = null_text.data();
  tw.layers.push_back({ones.data(), zeros.data(), qkv.data(), zeros.data(), proj.data(), zeros.data(), ones.data(),
                       zeros.data(), fc1.data(), zeros.data(), fc2.data(), zeros.data()});
  w.set_text_encoder(info, tw, type);
  auto x = w.input(lkrt::InputRole::kImage, C);
  auto t = w.input(lkrt::InputRole::kTimestep);
  auto text = w.input(lkrt::InputRole::kText, W);
  std::vector<float> mlp = random_values(hidden * D, 0.3f, rng), embed = random_values(hidden * W, 0.3f, rng);
  auto temb = w.add(w.gemm(w.timestep_embedding(t, D), mlp.data(), hidden, D, nullptr, type),
                    w.gemm(text, embed.data(), hidden, W, nullptr, type));
  std::vector<float> c_in = random_values(hidden * C * 9, 0.2f, rng), gamma(hidden, 1.0f), beta(hidden, 0.0f);
  auto h = w.add(w.conv2d(x, c_in.data(), hidden, C, 3, 1, 1, nullptr, type), temb);
  h = w.activation(w.group_norm(h, 2, hidden, 1e-5f, gamma.data(), beta.data()), lkrt::Activation::kSilu);
  std::vector<float> out = random_values(C * hidden * 9, 0.2f, rng);
  w.conv2d(h, out.data(), C, hidden, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32);
  return w;
}

// A SPADE-shaped mask generator: z -> gemm -> [C, 8, 8]; at 8 px (the map downsampled) and
// again at 16 px: x * gamma(a) + beta(a), a = relu(shared(map)), LeakyReLU; conv, tanh.
lkrt::ModelWriter spade(uint32_t seed, lkrt_weight_type type) {
  std::mt19937 rng(seed);
  const int Z = 8, K = 4, C = 8, hidden = 8, S = 16;
  lkrt::ModelWriter w;
  w.set_info({"spade-random", Z, 3, S, S});
  w.set_mask_generator({"scenes",
                        {"background", "square", "circle", "triangle"},
                        {{{0, 0, 0, 255}}, {{255, 0, 0, 255}}, {{0, 255, 0, 255}}, {{0, 0, 255, 255}}}});
  auto z = w.input_latent();
  auto map = w.input(lkrt::InputRole::kLabelMap, K);
  std::vector<float> fc = random_values(size_t(C) * 64 * Z, 0.3f, rng);
  auto x = w.reshape(w.gemm(z, fc.data(), C * 64, Z, nullptr, type), C, 8, 8);
  std::vector<std::vector<float>> keep;
  auto weights = [&](size_t n, float scale) {
    keep.push_back(random_values(n, scale, rng));
    return keep.back().data();
  };
  for (int i = 0; i < 2; ++i) {
    if (i == 1) x = w.upsample_nearest(x, 2);
    auto m = i == 0 ? w.downsample_nearest(map, 2) : map;
    auto a = w.activation(w.conv2d(m, weights(size_t(hidden) * K * 9, 0.5f), hidden, K, 3, 1, 1, nullptr, type),
                          lkrt::Activation::kRelu);
    std::vector<float> one(C, 1.0f);
    keep.push_back(one);
    auto g = w.conv2d(a, weights(size_t(C) * hidden * 9, 0.1f), C, hidden, 3, 1, 1, keep.back().data(), type);
    auto b = w.conv2d(a, weights(size_t(C) * hidden * 9, 0.1f), C, hidden, 3, 1, 1, nullptr, type);
    x = w.activation(w.add(w.mul(x, g), b), lkrt::Activation::kLeakyRelu, 0.2f);
  }
  w.activation(w.conv2d(x, weights(3 * C * 9, 0.2f), 3, C, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32), lkrt::Activation::kTanh);
  return w;
}

// latentkit's PsganGenerator (models/psgan.h) with `layers` upsamplings, the last of 3 channels.
lkrt::ModelWriter wallpaper(int width, int layers, lkrt_weight_type type, uint32_t seed) {
  std::mt19937 rng(seed);
  const int L = 20, G = 32, P = 4, hidden = 64, crop = 4 << layers;
  lkrt::ModelWriter w;
  w.set_info({"wallpaper-random", G, 3, crop, crop});
  std::vector<float> w1 = random_values(size_t(hidden) * G, 0.2f, rng), b1 = random_values(hidden, 0.1f, rng);
  std::vector<float> w2 = random_values(size_t(2 * P) * hidden, 0.2f, rng), b2 = random_values(2 * P, 0.1f, rng);
  lkrt::WallpaperInfo info;
  info.local_dim = L, info.global_dim = G, info.periodic_dim = P, info.hidden = hidden, info.cell = 1 << layers;
  info.weight1 = w1.data(), info.bias1 = b1.data(), info.weight2 = w2.data(), info.bias2 = b2.data();
  info.moods = {{"warm", random_values(G, 1.0f, rng)}, {"cool", random_values(G, 1.0f, rng)}};
  w.set_wallpaper(info);
  auto x = w.input(lkrt::InputRole::kGrid, L + G + P);
  int in = L + G + P;
  for (int i = 0; i < layers; ++i) {
    const bool last = i + 1 == layers;
    const int out = last ? 3 : width << (layers - 2 - i);
    std::vector<float> k = random_values(size_t(in) * out * 16, 1.0f / std::sqrt(float(in) * 4), rng);
    std::vector<float> b = random_values(size_t(out), 0.1f, rng);
    x = w.activation(w.conv_transpose2d(x, k.data(), in, out, 4, 2, 1, b.data(), last ? LKRT_WEIGHT_FP32 : type),
                     last ? lkrt::Activation::kTanh : lkrt::Activation::kRelu);
    in = out;
  }
  return w;
}

void write_seeds(const std::string& dir) {
  std::mt19937 rng(1);
  auto save = [&](const lkrt::ModelWriter& w, const char* name) { w.write(dir + "/" + name); };
  save(dcgan(4, LKRT_WEIGHT_FP32, 0, 1), "dcgan_w4_fp32.lkm");
  save(dcgan(4, LKRT_WEIGHT_INT8, 3, 2), "dcgan_w4_int8_cond.lkm");
  {
    // gemm -> reshape -> upsample -> conv2d -> leaky_relu -> conv2d -> sigmoid -> affine (VAE-like)
    lkrt::ModelWriter w;
    w.set_info({"seed-vae", 6, 3, 8, 8});
    std::vector<float> onehot(4 * 4, 0.0f);
    for (int i = 0; i < 4; ++i) onehot[i * 4 + i] = 1.0f;
    w.add_input(onehot.data(), 4, 4);
    std::vector<float> g = random_values(10 * 32, 0.3f, rng), gb = random_values(32, 0.1f, rng);
    w.add_gemm(g.data(), 32, 10, gb.data(), LKRT_WEIGHT_FP16);
    w.add_activation(lkrt::Activation::kRelu);
    w.add_reshape(8, 2, 2);
    w.add_upsample_nearest(2);
    std::vector<float> c = random_values(4 * 8 * 9, 0.2f, rng);
    w.add_conv2d(c.data(), 4, 8, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32);
    w.add_activation(lkrt::Activation::kLeakyRelu, 0.2f);
    w.add_upsample_nearest(2);
    std::vector<float> c2 = random_values(3 * 4 * 25, 0.2f, rng), b2 = random_values(3, 0.1f, rng);
    w.add_conv2d(c2.data(), 3, 4, 5, 1, 2, b2.data(), LKRT_WEIGHT_INT8);
    w.add_activation(lkrt::Activation::kSigmoid);
    w.add_affine(2.0f, -1.0f);
    save(w, "vae_like.lkm");
  }
  {
    // strided conv and flatten back through a gemm
    lkrt::ModelWriter w;
    w.set_info({"seed-flatten", 16, 2, 3, 3});
    w.add_input();
    w.add_reshape(1, 4, 4);
    std::vector<float> c = random_values(5 * 1 * 9, 0.3f, rng);
    w.add_conv2d(c.data(), 5, 1, 3, 2, 1, nullptr, LKRT_WEIGHT_FP32);
    w.add_reshape(20, 1, 1);
    std::vector<float> g = random_values(18 * 20, 0.3f, rng);
    w.add_gemm(g.data(), 18, 20, nullptr, LKRT_WEIGHT_INT8);
    w.add_reshape(2, 3, 3);
    w.add_activation(lkrt::Activation::kTanh);
    save(w, "flatten.lkm");
  }
  {
    // An enhancer: a U-Net's skip (stride-2 conv, upsample, concat) and a residual add.
    lkrt::ModelWriter w;
    w.set_info({"seed-enhancer", 0, 3, 8, 8});
    w.set_enhancer(4);
    auto x = w.input(lkrt::InputRole::kImage, 3);
    std::vector<float> c1 = random_values(4 * 3 * 16, 0.2f, rng), c2 = random_values(3 * 7 * 9, 0.2f, rng);
    auto down = w.activation(w.conv2d(x, c1.data(), 4, 3, 4, 2, 1, nullptr, LKRT_WEIGHT_INT8), lkrt::Activation::kLeakyRelu, 0.2f);
    auto up = w.upsample_nearest(down, 2);
    auto y = w.conv2d(w.concat({up, x}), c2.data(), 3, 7, 3, 1, 1, nullptr, LKRT_WEIGHT_FP16);
    w.add(y, x);
    save(w, "enhancer.lkm");
  }
  {
    // A class-conditional denoiser with a Palette condition: timestep and label embeddings,
    // GroupNorm + SiLU, attention.
    lkrt::ModelWriter w;
    w.set_info({"seed-denoiser", 2 * 4 * 4, 2, 4, 4});
    lkrt::DiffusionInfo d;
    d.timesteps = 20;
    d.tasks = 1;
    d.sample_steps = 4;
    d.num_classes = 2;
    w.set_denoiser(d);
    auto x = w.input(lkrt::InputRole::kImage, 2);
    auto t = w.input(lkrt::InputRole::kTimestep);
    auto label = w.input(lkrt::InputRole::kLabel);
    auto cond = w.input(lkrt::InputRole::kCondition, 4);
    std::vector<float> mlp = random_values(4 * 8, 0.3f, rng), table = random_values(3 * 4, 0.3f, rng);
    auto temb = w.add(w.gemm(w.timestep_embedding(t, 8), mlp.data(), 4, 8, nullptr, LKRT_WEIGHT_FP32),
                      w.embedding(label, table.data(), 3, 4));
    std::vector<float> c_in = random_values(4 * 6 * 9, 0.2f, rng), gamma(4, 1.0f), beta(4, 0.0f);
    auto h = w.add(w.conv2d(w.concat({x, cond}), c_in.data(), 4, 6, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32), temb);
    h = w.activation(w.group_norm(h, 2, 4, 1e-5f, gamma.data(), beta.data()), lkrt::Activation::kSilu);
    std::vector<float> qkv = random_values(12 * 4, 0.3f, rng), out = random_values(2 * 4 * 9, 0.2f, rng);
    h = w.add(h, w.attention(w.conv2d(h, qkv.data(), 12, 4, 1, 1, 0, nullptr, LKRT_WEIGHT_FP32), 4, 2, 0.7f));
    w.conv2d(h, out.data(), 2, 4, 3, 1, 1, nullptr, LKRT_WEIGHT_INT8);
    save(w, "denoiser.lkm");
  }
  save(t2i(3, LKRT_WEIGHT_INT8), "t2i_int8.lkm");
  save(spade(4, LKRT_WEIGHT_FP16), "spade_fp16.lkm");
  save(wallpaper(2, 2, LKRT_WEIGHT_INT8, 5), "wallpaper_int8.lkm");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string(argv[1]) == "seeds") {
      write_seeds(argv[2]);
      return 0;
    }
    if (argc >= 3 && std::string(argv[1]) == "dcgan") {
      int width = 64, classes = 0;
      lkrt_weight_type type = LKRT_WEIGHT_FP32;
      for (int i = 3; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--width") width = std::atoi(argv[i + 1]);
        else if (a == "--type") type = parse_type(argv[i + 1]);
        else if (a == "--classes") classes = std::atoi(argv[i + 1]);
        else {
          std::fprintf(stderr, "lkrt_make_model: unknown option %s\n", a.c_str());
          return 2;
        }
      }
      if (width < 1 || classes < 0) {
        std::fprintf(stderr, "lkrt_make_model: --width must be >= 1 and --classes >= 0\n");
        return 2;
      }
      dcgan(width, type, classes, 42).write(argv[2]);
      return 0;
    }
    if (argc == 3 && std::string(argv[1]) == "t2i") {
      t2i(42, LKRT_WEIGHT_FP32).write(argv[2]);
      return 0;
    }
    if (argc == 3 && std::string(argv[1]) == "spade") {
      spade(42, LKRT_WEIGHT_FP32).write(argv[2]);
      return 0;
    }
    if (argc >= 3 && std::string(argv[1]) == "wallpaper") {
      int width = 64;
      lkrt_weight_type type = LKRT_WEIGHT_FP32;
      for (int i = 3; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--width") width = std::atoi(argv[i + 1]);
        else if (a == "--type") type = parse_type(argv[i + 1]);
        else {
          std::fprintf(stderr, "lkrt_make_model: unknown option %s\n", a.c_str());
          return 2;
        }
      }
      if (width < 1) {
        std::fprintf(stderr, "lkrt_make_model: --width must be >= 1\n");
        return 2;
      }
      wallpaper(width, 4, type, 42).write(argv[2]);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lkrt_make_model: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: lkrt_make_model dcgan OUT.lkm [--width W] [--type fp32|fp16|int8] [--classes N]\n"
               "       lkrt_make_model t2i OUT.lkm\n"
               "       lkrt_make_model spade OUT.lkm\n"
               "       lkrt_make_model wallpaper OUT.lkm [--width W] [--type fp32|fp16|int8]\n"
               "       lkrt_make_model seeds DIR\n");
  return 2;
}
