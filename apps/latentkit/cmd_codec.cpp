// latentkit invert, encoder train, placeholder encode | decode: GAN inversion and
// placeholder codes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/codec/encoder.h"
#include "latentkit/codec/invert.h"
#include "latentkit/codec/placeholder.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "lkrt.h"
#include "lkrt_code.h"

namespace latentkit::app {
namespace {

// Options shared by invert and placeholder encode.
struct InversionParams {
  std::string run, features, label;
  PlaceholderOptions placeholder;
  int threads = 0;
};

void add_inversion_options(CLI::App* cmd, InversionParams& p) {
  cmd->add_option("--run", p.run, "generator run folder")->required();
  cmd->add_option("--features", p.features,
                  "classifier run: its features join the loss, and it tells the class for conditional models "
                  "(e.g. models/fashion-classifier)");
  cmd->add_option("--method", p.placeholder.method,
                  "auto (posterior for a VAE, hybrid when the run has an encoder, else optimise), optimise, encoder, "
                  "hybrid (encoder start + a few steps), posterior")
      ->check(CLI::IsMember({"auto", "optimise", "encoder", "hybrid", "posterior"}))
      ->capture_default_str();
  cmd->add_option("--class", p.label, "class of the image for conditional models (name or index; default: the "
                                      "classifier's guess)");
  cmd->add_option("--steps", p.placeholder.invert.steps, "optimisation steps")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--restarts", p.placeholder.invert.restarts, "starting latents tried (optimise)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--hybrid-steps", p.placeholder.hybrid_steps, "steps after the encoder's guess (hybrid)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--seed", p.placeholder.invert.seed, "seed of the starting latents")->capture_default_str();
}

torch::Tensor labels_for(PlaceholderCodec& codec, const std::string& run, const std::string& label) {
  if (label.empty()) return {};
  Generator& g = codec.generator();
  check_input(g.num_classes() > 0, "--class is for conditional models; " + run + " is unconditional");
  return torch::tensor({parse_class(label, run_class_names(run), g.num_classes())});
}

struct InvertParams : InversionParams {
  std::string image, out, png;
};

void run_invert(InvertParams& p) {
  const int threads = torch::get_num_threads();
  PlaceholderCodec codec(p.run, p.features);
  torch::Tensor image = load_image_for(codec.generator(), p.image);
  const std::string method = codec.resolve_method(p.placeholder.method);
  std::fprintf(stderr, "inverting %s into %s (%s, %lld-dim latent) by %s, %d threads\n", p.image.c_str(),
               p.run.c_str(), codec.generator().family().c_str(),
               static_cast<long long>(codec.generator().latent_dim()), method.c_str(), threads);
  Placeholders found = codec.latents(image, p.placeholder, labels_for(codec, p.run, p.label));
  torch::NoGradGuard no_grad;
  torch::Tensor labels = found.labels;
  torch::Tensor recon = codec.generator().decode(found.z, labels);
  const double psnr_db = psnr(recon, image).item<double>(), ssim_value = ssim(recon, image).item<double>();
  torch::Tensor z = found.z[0].to(torch::kFloat64).contiguous();
  nlohmann::json out = {{"format", "latentkit-latent"},
                        {"run", p.run},
                        {"model_id", codec.model_id()},
                        {"method", found.method},
                        {"z", std::vector<double>(z.data_ptr<double>(), z.data_ptr<double>() + z.numel())},
                        {"psnr_db", psnr_db},
                        {"ssim", ssim_value},
                        {"seconds", found.seconds},
                        {"threads", threads}};
  if (labels.defined()) out["class"] = labels[0].item<int64_t>();
  write_json(p.out, out);
  if (!p.png.empty()) write_png(p.png, make_grid(torch::cat({image, recon}), 2));
  std::printf("%s: PSNR %.2f dB, SSIM %.3f, %.2f s (%s)\n", p.out.c_str(), psnr_db, ssim_value, found.seconds,
              found.method.c_str());
}

struct EncoderParams {
  std::string run;
  EncoderTrainOptions train;
  LoopFlags flags;
};

void run_encoder_train(EncoderParams& p) {
  if (p.flags.launch(encoder_dir(p.run))) return;
  std::unique_ptr<Generator> g = load_generator(p.run);
  check_input(!g->has_encoder(), p.run + " is a " + g->family() + ": it has its own encoder (placeholder --method posterior)");
  const bool resume = p.flags.resume();
  EncoderTrainOptions o = resume ? read_encoder_run_options(p.run) : p.train;
  o.loop = p.flags.apply(o.loop);
  const std::string dir = encoder_dir(p.run);
  if (!resume && path_exists(dir)) {
    // An encoder is derived from its generator: training again replaces it.
    std::fprintf(stderr, "replacing the encoder in %s (--resume continues it instead)\n", dir.c_str());
    std::filesystem::remove_all(dir);
  }
  report_training(train_encoder(*g, p.run, o, resume), dir, "latentkit encoder train --resume --run " + p.run, o.loop.dist.rank);
}

struct EncodeParams : InversionParams {
  std::vector<std::string> images;
};

void run_placeholder_encode(EncodeParams& p) {
  PlaceholderCodec codec(p.run, p.features);
  std::vector<torch::Tensor> images;
  std::vector<int32_t> aspects;
  for (const std::string& path : p.images) {
    PlaceholderImage file = load_placeholder_image(codec.generator(), path);
    images.push_back(file.image);
    aspects.push_back(file.aspect);
  }
  torch::Tensor labels = labels_for(codec, p.run, p.label);
  if (labels.defined()) labels = labels.expand({static_cast<int64_t>(images.size())}).contiguous();
  p.placeholder.invert.progress = false;
  Placeholders found = codec.encode(torch::cat(images), p.placeholder, labels, aspects);
  for (size_t i = 0; i < found.codes.size(); ++i) {
    const std::string text = lkrt::code::to_text(found.codes[i]);
    if (p.images.size() == 1) {
      std::printf("%s\n", text.c_str());
    } else {
      std::printf("%s  %s\n", text.c_str(), p.images[i].c_str());
    }
  }
  std::fprintf(stderr, "%zu-byte code%s (%zu characters), %s, %.2f s\n", p.placeholder.bytes, p.images.size() == 1 ? "" : "s",
               lkrt::code::to_text(found.codes[0]).size(), found.method.c_str(), found.seconds);
}

struct DecodeParams {
  std::string run, code, out;
  int size = 0;
  int threads = 1;  // one image of a few dozen bytes: one thread is fastest
};

void run_placeholder_decode(const DecodeParams& p) {
  PlaceholderCodec codec(p.run, "");
  std::vector<uint8_t> bytes;
  try {
    bytes = lkrt::code::from_text(p.code);
  } catch (const lkrt::Error& e) {
    throw Error(e.what());
  }
  int32_t aspect = 0;
  torch::Tensor image = codec.decode(bytes, &aspect).unsqueeze(0);
  // A code of a non-square image carries its aspect ratio: the longer side is --size.
  const double ratio = lkrt::code::aspect_ratio(aspect);
  const int64_t side = p.size > 0 ? p.size : image.size(2);
  const int64_t width = ratio >= 1 ? side : std::max<int64_t>(1, std::llround(side * ratio));
  const int64_t height = ratio <= 1 ? side : std::max<int64_t>(1, std::llround(side / ratio));
  if (height != image.size(2) || width != image.size(3)) {
    image = torch::nn::functional::interpolate(
        image, torch::nn::functional::InterpolateFuncOptions()
                   .size(std::vector<int64_t>{height, width})
                   .mode(torch::kBilinear)
                   .align_corners(false));
  }
  write_png(p.out, tensor_to_image(image[0]));
  std::fprintf(stderr, "wrote %s (%lldx%lld)\n", p.out.c_str(), static_cast<long long>(image.size(3)),
               static_cast<long long>(image.size(2)));
}

}  // namespace

void add_codec_commands(CLI::App& app) {
  auto inv = std::make_shared<InvertParams>();
  CLI::App* invert_cmd = app.add_subcommand("invert", "Find the latent whose image matches an image (GAN inversion)");
  add_inversion_options(invert_cmd, *inv);
  invert_cmd->add_option("--image", inv->image, "PNG or JPEG to invert")->required()->check(CLI::ExistingFile);
  invert_cmd->add_option("--out", inv->out, "JSON to write: the latent (edit --z reads it), class, PSNR, SSIM, time")
      ->required();
  invert_cmd->add_option("--png", inv->png, "also write the image and its reconstruction side by side");
  invert_cmd->footer(
      "Example:\n  latentkit invert --run models/fashion-cgan --features models/fashion-classifier --image shoe.png "
      "--out shoe.json --png shoe-recon.png");
  torch_command(invert_cmd, inv->threads, Work::kShort, [inv]() { run_invert(*inv); });

  CLI::App* encoder = app.add_subcommand("encoder", "An encoder image -> latent for a GAN (fast inversion)");
  encoder->require_subcommand(1);
  auto enc = std::make_shared<EncoderParams>();
  CLI::App* train = encoder->add_subcommand("train", "Train RUN/encoder/ on generated pairs and real images");
  train->add_option("--run", enc->run, "generator run folder; the encoder's run folder is RUN/encoder")->required();
  enc->flags.bind(train, enc->train.loop, /*in_run_folder=*/true);
  train->add_option("--features", enc->train.features, "classifier run whose features join the image losses");
  train->add_option("--steps", enc->train.steps, "training steps")->check(CLI::Range(1, 10000000))->capture_default_str();
  train->add_option("--width", enc->train.model.width, "channels of the first convolution")
      ->check(CLI::Range(4, 1024))
      ->capture_default_str();
  train->add_option("--real-weight", enc->train.real_weight, "weight of the loss on real images (0: generated only)")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  train->footer(
      "Example:\n  latentkit encoder train --run models/fashion-cgan --features models/fashion-classifier\n"
      "Ctrl-C saves a checkpoint in RUN/encoder/checkpoints; --resume continues it exactly.");
  torch_command(train, enc->train.loop.threads, Work::kLong, [enc]() { run_encoder_train(*enc); });

  CLI::App* placeholder = app.add_subcommand("placeholder", "Placeholder codes: an image in a few dozen bytes");
  placeholder->require_subcommand(1);
  auto e = std::make_shared<EncodeParams>();
  CLI::App* encode = placeholder->add_subcommand("encode", "Print the base64url code of each image");
  encode->add_option("images", e->images, "PNG or JPEG files")->required()->check(CLI::ExistingFile);
  add_inversion_options(encode, *e);
  encode->add_option("--bytes", e->placeholder.bytes, "size of a code in bytes (bits per latent value fill it)")
      ->check(CLI::Range(6, 4096))
      ->capture_default_str();
  encode->add_flag("--mean", e->placeholder.mean, "spend a byte on the image's mean intensity");
  encode->footer(
      "A non-square image is encoded whole (stretched to the model's square) and its code carries its aspect\n"
      "ratio in 2 of the bytes, so a page draws the preview at the image's exact shape.\n"
      "Example:\n  latentkit placeholder encode --run models/fashion-cgan24 --features models/fashion-classifier "
      "--bytes 24 shoe.png");
  torch_command(encode, e->threads, Work::kShort, [e]() { run_placeholder_encode(*e); });

  auto d = std::make_shared<DecodeParams>();
  CLI::App* decode = placeholder->add_subcommand("decode", "Decode a code into a PNG with the model that made it");
  decode->add_option("--run", d->run, "generator run folder")->required();
  decode->add_option("code", d->code, "the base64url code")->required();
  decode->add_option("--out", d->out, "PNG to write")->required();
  decode->add_option("--size", d->size,
                     "side of the PNG, the longer side for a code with an aspect ratio (bilinear; 0: the model's)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  decode->footer("Example:\n  latentkit placeholder decode --run models/fashion-cgan24 CODE --size 112 --out shoe.png");
  torch_command(decode, d->threads, Work::kShort, [d]() { run_placeholder_decode(*d); });
}

}  // namespace latentkit::app
