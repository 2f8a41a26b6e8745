// lkrt: run a .lkm model from the command line: a generator, an enhancer, a diffusion
// denoiser with its sampler, a mask generator (a label map PNG in its palette's colors) or a
// wallpaper model (a wallpaper of any size for a date). Thin: parses options into CliParams,
// validates them against the model's kind and calls the runtime's C API.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lkrt.h"
#include "lkrt_wallpaper.h"
#include "png.h"

namespace {

struct CliParams {
  std::string model;          // positional
  std::string out;            // --out: PNG to write
  std::string raw;            // --raw: the output as float32
  std::string z_file;         // --z: JSON with a "z" array
  std::string code;           // --code: placeholder code text (base64url)
  std::string image;          // --image: PNG to enhance
  std::string inpaint, mask;  // --inpaint, --mask: Palette inpainting; --mask alone: a mask generator's label map
  std::string restore;        // --restore: Palette restoration
  std::string prompt;         // --prompt: text-to-image denoisers
  bool has_prompt = false;
  std::string sampler = "ddim";  // --sampler
  uint64_t seed = 0;          // --seed
  int32_t label = -1;         // --label
  int32_t steps = 0;          // --steps (0: the model's)
  int32_t tile = 256;         // --tile
  float guidance = 1.0f;      // --guidance
  bool info = false;          // --info
  bool bench = false;         // --bench
  int iterations = 0;         // --iterations (with --bench; 0: by kind)
  int threads = 1;            // --threads
  std::string size;           // --size WIDTHxHEIGHT: wallpaper models
  std::string date;           // --date: wallpaper models (empty: today, or this hour)
  std::string every = "day";  // --every
  int32_t scale = 0;          // --scale (0: not given, the default 4)
  bool tileable = false;      // --tileable
  std::string mood;           // --mood
  bool help = false;
};

struct OptionDoc {
  const char* name;
  const char* arg;
  const char* text;
  const char* def;
};

const OptionDoc kOptions[] = {
    {"--out", "FILE", "write the image as PNG (gray, RGB or RGBA as the model's channels)", ""},
    {"--raw", "FILE", "with --out: also write the output's values as float32 little-endian, [channels, height, width] in [-1, 1] (RGBA: premultiplied)", ""},
    {"--seed", "N", "generators and denoisers: draw z (x_T) ~ N(0, 1) from lkrt's own RNG (xoshiro256** + Box-Muller; not LibTorch's); "
                    "wallpaper models: which series of wallpapers (latentkit wallpaper's --seed)", "0"},
    {"--z", "FILE", "read z (x_T of a denoiser) from a JSON file with a \"z\" array of latent_dim numbers (overrides --seed)", ""},
    {"--label", "N", "class label of a conditional model (0..num_classes-1); a conditional denoiser without one samples with no class", "-1: none"},
    {"--code", "TEXT", "generators: decode a placeholder code (base64url, docs/file-format.md): z, label and mean from the code", ""},
    {"--image", "FILE", "enhancers: the PNG to enhance, any size", ""},
    {"--tile", "N", "enhancers: run images larger than N x N in overlapping tiles (0: whole), as latentkit enhance", "256"},
    {"--steps", "N", "denoisers: sampling steps", "the model's"},
    {"--sampler", "NAME", "denoisers: ddim (eta 0) or dpmpp (DPM-Solver++(2M): DDIM's quality in fewer steps)", "ddim"},
    {"--prompt", "TEXT", "text-to-image denoisers: what to draw (words the model does not know are listed on stderr)", ""},
    {"--guidance", "W", "denoisers: classifier-free guidance with --label or --prompt (1: none)", "1"},
    {"--inpaint", "FILE", "denoisers trained for inpainting: fill the pixels --mask marks white in this PNG", ""},
    {"--mask", "FILE", "mask generators (spade): the label map to draw, a PNG of the model's size in its palette's colors "
                       "(--info lists them); denoisers: the mask of --inpaint, white fills, black keeps (the model's size)", ""},
    {"--restore", "FILE", "denoisers trained for restoring: restore this degraded PNG (the model's size)", ""},
    {"--size", "WxH", "wallpaper models: the wallpaper's size in pixels, each side 1 to 8192", "1080x2400"},
    {"--date", "DATE", "wallpaper models: the day YYYY-MM-DD, or with --every hour the hour YYYY-MM-DDTHH (UTC)", "now"},
    {"--every", "day|hour", "wallpaper models: a new wallpaper every day or every hour", "day"},
    {"--scale", "N", "wallpaper models: 1, 2 or 4: draw 1/N of the size and upscale it (bilinear)", "4"},
    {"--tileable", "", "wallpaper models: an image that tiles (sides a multiple of cell x scale, e.g. 1024x2048)", ""},
    {"--mood", "NAME", "wallpaper models: move the style toward one of the model's moods (--info lists them)", ""},
    {"--info", "", "print the model header and its ops", ""},
    {"--bench", "", "time --iterations runs of the network after a warm-up; print ms per run", ""},
    {"--iterations", "N", "runs timed by --bench", "1000 generations, 100 enhancements or denoiser calls, 5 wallpapers"},
    {"--threads", "N", "worker threads (1..64)", "1"},
    {"--help", "", "show this help", ""},
};

void print_help() {
  std::printf("usage: lkrt GENERATOR.lkm [--out FILE] [--seed N | --z FILE | --code TEXT] [--label N]\n"
              "       lkrt ENHANCER.lkm --image IN.png --out FILE [--tile N]\n"
              "       lkrt DENOISER.lkm --out FILE [--seed N | --z FILE] [--steps N] [--sampler ddim|dpmpp] [--label N\n"
              "            | --prompt TEXT] [--guidance W] [--inpaint IMAGE.png --mask MASK.png | --restore IMAGE.png]\n"
              "       lkrt MASK_GENERATOR.lkm --mask MAP.png --out FILE [--seed N | --z FILE]\n"
              "       lkrt WALLPAPER.lkm --out FILE [--size WxH] [--date YYYY-MM-DD | --every hour --date YYYY-MM-DDTHH]\n"
              "            [--seed N] [--scale 1|2|4] [--tileable] [--mood NAME]\n"
              "       lkrt MODEL.lkm [--info] [--bench] [--threads N]\n\n"
              "Runs a latentkit model exported as .lkm (docs/file-format.md) on the CPU: a generator, an enhancer\n"
              "(pix2pix), a diffusion denoiser with its sampler, a mask generator (spade: a label map and a style\n"
              "seed to an image) or a wallpaper model (psgan: a wallpaper of any size for a date, docs/wallpapers.md);\n"
              "latentkit export writes all five.\n\noptions:\n");
  for (const OptionDoc& o : kOptions) {
    std::string left = std::string(o.name) + (o.arg[0] ? std::string(" ") + o.arg : "");
    std::printf("  %-18s %s%s%s%s\n", left.c_str(), o.text, o.def[0] ? " (default: " : "", o.def, o.def[0] ? ")" : "");
  }
  std::printf("\nexit status: 0 ok, 1 bad model file or failed output, 2 bad arguments (a malformed --code, or one for\n"
              "another model, included)\n");
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "lkrt: %s\nrun lkrt --help for the options\n", message.c_str());
  std::exit(2);
}

long long parse_int(const std::string& option, const char* text, long long lo, long long hi) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
    usage_error(option + " expects an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + text + "'");
  return v;
}

double parse_float(const std::string& option, const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(v)) usage_error(option + " expects a number, got '" + text + "'");
  return v;
}

CliParams parse(int argc, char** argv) {
  CliParams p;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") p.help = true;
    else if (a == "--out") p.out = value();
    else if (a == "--raw") p.raw = value();
    else if (a == "--z") p.z_file = value();
    else if (a == "--code") p.code = value();
    else if (a == "--seed") p.seed = uint64_t(parse_int(a, value(), 0, INT64_MAX));
    else if (a == "--label") p.label = int32_t(parse_int(a, value(), -1, INT32_MAX));
    else if (a == "--info") p.info = true;
    else if (a == "--bench") p.bench = true;
    else if (a == "--iterations") p.iterations = int(parse_int(a, value(), 1, 100000000));
    else if (a == "--image") p.image = value();
    else if (a == "--tile") p.tile = int32_t(parse_int(a, value(), 0, 16384));
    else if (a == "--steps") p.steps = int32_t(parse_int(a, value(), 1, 100000));
    else if (a == "--sampler") p.sampler = value();
    else if (a == "--guidance") p.guidance = float(parse_float(a, value()));
    else if (a == "--inpaint") p.inpaint = value();
    else if (a == "--mask") p.mask = value();
    else if (a == "--restore") p.restore = value();
    else if (a == "--prompt") p.prompt = value(), p.has_prompt = true;
    else if (a == "--threads") p.threads = int(parse_int(a, value(), 1, 64));
    else if (a == "--size") p.size = value();
    else if (a == "--date") p.date = value();
    else if (a == "--every") p.every = value();
    else if (a == "--scale") p.scale = int32_t(parse_int(a, value(), 1, 4));
    else if (a == "--tileable") p.tileable = true;
    else if (a == "--mood") p.mood = value();
    else if (a.size() > 1 && a[0] == '-') usage_error("unknown option " + a);
    else if (p.model.empty()) p.model = a;
    else usage_error("unexpected argument " + a + " (one model file only)");
  }
  if (p.help) return p;
  if (p.model.empty()) usage_error("no model file given");
  if (!p.info && !p.bench && p.out.empty()) usage_error("nothing to do: give --out FILE, --info or --bench");
  if (!p.raw.empty() && p.out.empty()) usage_error("--raw goes with --out FILE");
  if (!p.code.empty() && (p.out.empty() || !p.z_file.empty() || p.label != -1 || p.bench))
    usage_error("--code decodes into --out FILE; it carries z and the label, so it goes without --z, --label and --bench");
  if (p.sampler != "ddim" && p.sampler != "dpmpp") usage_error("--sampler is ddim or dpmpp, got '" + p.sampler + "'");
  if (!p.inpaint.empty() && p.mask.empty()) usage_error("--inpaint and --mask go together");
  if (!p.inpaint.empty() && !p.restore.empty()) usage_error("--inpaint and --restore: one task at a time");
  if (p.every != "day" && p.every != "hour") usage_error("--every is day or hour, got '" + p.every + "'");
  return p;
}

// z (or x_T) of n values from --seed, as lkrt_normals draws it.
std::vector<float> normals(uint64_t seed, size_t n) {
  std::vector<float> out(n);
  lkrt_normals(seed, out.data(), n);
  return out;
}

// Reads the numbers of the "z" array of a JSON file; tolerant of everything else.
std::vector<float> read_z(const std::string& path, size_t expected) {
  std::ifstream f(path);
  if (!f) usage_error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  size_t key = text.find("\"z\"");
  if (key == std::string::npos) usage_error(path + ": no \"z\" key (expected {\"z\": [numbers]})");
  size_t open = text.find_first_not_of(" \t\r\n", key + 3);
  if (open == std::string::npos || text[open] != ':') usage_error(path + ": \"z\" is not followed by ':'");
  open = text.find_first_not_of(" \t\r\n", open + 1);
  if (open == std::string::npos || text[open] != '[') usage_error(path + ": \"z\" is not an array");
  std::vector<float> z;
  const char* p = text.c_str() + open + 1;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ',') ++p;
    if (*p == ']') break;
    char* end = nullptr;
    double v = std::strtod(p, &end);
    if (end == p || !std::isfinite(v))
      usage_error(path + ": \"z\" holds something other than finite numbers near offset " + std::to_string(p - text.c_str()));
    z.push_back(float(v));
    p = end;
  }
  if (z.size() != expected)
    usage_error(path + ": \"z\" has " + std::to_string(z.size()) + " numbers, the model's latent_dim is " +
                std::to_string(expected));
  return z;
}

const char* weight_type_name(lkrt_weight_type t) {
  switch (t) {
    case LKRT_WEIGHT_FP32: return "fp32";
    case LKRT_WEIGHT_FP16: return "fp16";
    case LKRT_WEIGHT_INT8: return "int8";
    default: return "mixed";
  }
}

const char* kind_name(lkrt_kind k) {
  return k == LKRT_KIND_GENERATOR        ? "generator"
         : k == LKRT_KIND_ENHANCER       ? "enhancer"
         : k == LKRT_KIND_DENOISER       ? "denoiser"
         : k == LKRT_KIND_MASK_GENERATOR ? "mask generator"
                                         : "wallpaper";
}

// "warm, cool, ..." from a wallpaper model's moods.
std::string mood_names(const lkrt_model* m) {
  std::string s;
  for (int k = 0; k < lkrt_model_mood_count(m); ++k) s += (k ? ", " : "") + std::string(lkrt_model_mood_name(m, k));
  return s;
}

// "0 background #000000, 1 square #ff0000, ..." from the model's palette (latentkit's words).
std::string palette_text(const lkrt_model* m) {
  std::string s;
  for (int k = 0; k < lkrt_model_num_classes(m); ++k) {
    const uint8_t* c = lkrt_model_class_color(m, k);
    char color[16];
    std::snprintf(color, sizeof color, "#%02x%02x%02x", c[0], c[1], c[2]);
    s += (k ? ", " : "") + std::to_string(k) + " " + lkrt_model_class_name(m, k) + " " + (c[3] ? color : "transparent");
  }
  return s;
}

void print_info(const lkrt_model* m) {
  const lkrt_kind kind = lkrt_model_kind(m);
  std::printf("model id     %s\n", lkrt_model_id(m));
  std::printf("kind         %s\n", kind_name(kind));
  if (kind == LKRT_KIND_ENHANCER) std::printf("padding      sides to a multiple of %d\n", lkrt_model_pad_multiple(m));
  if (kind == LKRT_KIND_DENOISER) {
    const int tasks = lkrt_model_tasks(m);
    std::printf("diffusion    %d steps, predicts %s, samples in %d steps by default%s%s%s\n", lkrt_model_timesteps(m),
                lkrt_model_prediction(m) ? "v" : "eps", lkrt_model_sample_steps(m), tasks ? "; trained for" : "",
                tasks & 1 ? " inpainting" : "", tasks & 2 ? (tasks & 1 ? " and restoring" : " restoring") : "");
  }
  std::printf("latent_dim   %d\n", lkrt_model_latent_dim(m));
  std::printf("num_classes  %d%s\n", lkrt_model_num_classes(m),
              kind == LKRT_KIND_MASK_GENERATOR ? " (of the label map)"
              : lkrt_model_num_classes(m)      ? ""
              : lkrt_model_text_width(m)       ? " (conditioned on text)"
                                               : " (unconditional)");
  if (kind == LKRT_KIND_MASK_GENERATOR)
    std::printf("palette      %s: %s\n", lkrt_model_palette_name(m), palette_text(m).c_str());
  else if (lkrt_model_num_classes(m))
    std::printf("embed_dim    %d\n", lkrt_model_embed_dim(m));
  if (kind == LKRT_KIND_WALLPAPER) {
    std::printf("grid         %d local + %d global + %d periodic values per cell of %d px, a margin of %d cells\n",
                lkrt_model_local_dim(m), lkrt_model_global_dim(m), lkrt_model_periodic_dim(m), lkrt_model_cell(m),
                lkrt_model_reach(m));
    std::printf("moods        %s\n", lkrt_model_mood_count(m) ? mood_names(m).c_str() : "none");
  }
  if (lkrt_model_text_width(m))
    std::printf("text         encoder of width %d, prompts of up to %d words, a vocabulary of %d words\n",
                lkrt_model_text_width(m), lkrt_model_max_tokens(m), lkrt_model_vocab_size(m) - 2);
  std::printf("%s [%d, %d, %d]%s\n", kind == LKRT_KIND_ENHANCER || kind == LKRT_KIND_DENOISER ? "image       " : "output      ",
              lkrt_model_channels(m), lkrt_model_height(m), lkrt_model_width(m),
              kind == LKRT_KIND_WALLPAPER ? " (the training crop; it draws any size)" : "");
  std::printf("weights      %s, %llu parameters\n", weight_type_name(lkrt_model_weight_type(m)),
              (unsigned long long)lkrt_model_param_count(m));
  std::printf("work         %.2f MFLOP per image\n", double(lkrt_model_flops(m)) / 1e6);
  std::printf("memory       %.1f KiB of activations (dead ones share memory), %.1f KiB of scratch, at %dx%d\n",
              double(lkrt_model_activation_bytes(m)) / 1024, double(lkrt_model_scratch_bytes(m)) / 1024,
              lkrt_model_width(m), lkrt_model_height(m));
  std::printf("ops          %d\n", lkrt_model_op_count(m));
  for (int i = 0; i < lkrt_model_op_count(m); ++i) std::printf("  %2d  %s\n", i, lkrt_model_op_text(m, i));
}

// Writes bytes to path; returns the exit status.
int write_file(const std::string& path, const char* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data, std::streamsize(size));
  f.close();
  if (!f) {
    std::fprintf(stderr, "lkrt: cannot write %s\n", path.c_str());
    return 1;
  }
  return 0;
}

// Writes [C, H, W] in [-1, 1] as the PNG --out, and as floats to --raw when given; returns
// the exit status.
int write_outputs(const CliParams& p, const std::vector<float>& chw, int channels, int height, int width) {
  std::string png;
  try {
    png = lkrt::encode_png(chw.data(), channels, height, width);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lkrt: %s\n", e.what());
    return 1;
  }
  static_assert(sizeof(float) == 4, "float32");
  const int status = write_file(p.out, png.data(), png.size());
  if (status != 0 || p.raw.empty()) return status;
  // The host's floats are little-endian on every target lkrt builds for (x86-64, arm64, wasm32).
  return write_file(p.raw, reinterpret_cast<const char*>(chw.data()), chw.size() * sizeof(float));
}

// A PNG as [channels, H, W] in [-1, 1] (RGBA premultiplied); a bad file is a usage error.
struct Picture {
  std::vector<float> chw;
  int height = 0, width = 0;
};
Picture read_png(const std::string& option, const std::string& path, int channels) {
  std::ifstream f(path, std::ios::binary);
  if (!f) usage_error(option + ": cannot open " + path);
  std::stringstream bytes;
  bytes << f.rdbuf();
  try {
    lkrt::DecodedPng png = lkrt::decode_png(bytes.str());
    return {lkrt::png_to_chw(png, channels), png.height, png.width};
  } catch (const std::exception& e) {
    usage_error(option + ": " + path + ": " + e.what());
  }
}

// Runs fn `iterations` times after a warm-up and prints the time per run.
template <class F>
void bench(const CliParams& p, const char* what, int iterations, uint64_t flops, F fn) {
  for (int i = 0; i < std::max(2, iterations / 50); ++i) fn();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) fn();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double ms = seconds * 1e3 / iterations;
  std::printf("%s: %d %s, %d thread%s: %.4f ms each, %.1f per second", p.model.c_str(), iterations, what, p.threads,
              p.threads == 1 ? "" : "s", ms, iterations / seconds);
  if (flops) std::printf(", %.2f GFLOP/s", double(flops) / (ms * 1e6));
  std::printf("\n");
}

void reject(bool given, const std::string& option, lkrt_kind kind) {
  if (given) usage_error(option + " does not apply to " + (kind == LKRT_KIND_ENHANCER ? "an " : "a ") + kind_name(kind) + " model");
}

int fail_status(lkrt_status s, const char* what) {
  std::fprintf(stderr, "lkrt: %s%s: %s\n", what, lkrt_status_string(s), lkrt_last_error());
  return s == LKRT_ERR_ARGUMENT ? 2 : 1;
}

int run_generator(const CliParams& p, lkrt_model* model) {
  const int classes = lkrt_model_num_classes(model);
  if (classes > 0 && p.label < 0 && !p.out.empty() && p.code.empty()) usage_error("the model is conditional: give --label N");
  const size_t latent = size_t(lkrt_model_latent_dim(model));
  std::vector<float> z = p.z_file.empty() ? normals(p.seed, latent) : read_z(p.z_file, latent);
  const int C = lkrt_model_channels(model), H = lkrt_model_height(model), W = lkrt_model_width(model);
  std::vector<float> image(size_t(C) * H * W);
  const int32_t label = classes > 0 ? (p.label < 0 ? 0 : p.label) : -1;
  if (p.bench)
    bench(p, "images", p.iterations ? p.iterations : 1000, lkrt_model_flops(model),
          [&] { lkrt_generate(model, z.data(), label, image.data()); });
  if (p.out.empty()) return 0;
  const lkrt_status s = p.code.empty() ? lkrt_generate(model, z.data(), label, image.data())
                                       : lkrt_decode_code_text(model, p.code.c_str(), image.data());
  if (s != LKRT_OK) {
    std::fprintf(stderr, "lkrt: %s%s: %s\n", p.code.empty() ? "" : "--code: ", lkrt_status_string(s), lkrt_last_error());
    return p.code.empty() || s == LKRT_ERR_MEMORY ? 1 : 2;  // a bad code is a bad argument
  }
  return write_outputs(p, image, C, H, W);
}

int run_enhancer(const CliParams& p, lkrt_model* model) {
  const int C = lkrt_model_channels(model);
  if (!p.out.empty() && p.image.empty()) usage_error("an enhancer needs --image IN.png");
  Picture in;
  if (!p.image.empty()) {
    in = read_png("--image", p.image, C);
  } else {  // --bench alone: the model's own size
    in.height = lkrt_model_height(model);
    in.width = lkrt_model_width(model);
    in.chw.assign(size_t(C) * in.height * in.width, 0.0f);
  }
  std::vector<float> out(in.chw.size());
  auto enhance = [&] { return lkrt_enhance(model, in.chw.data(), in.height, in.width, p.tile, out.data()); };
  lkrt_status s = enhance();
  if (s != LKRT_OK) return fail_status(s, "");
  if (p.bench) {
    char what[64];
    std::snprintf(what, sizeof what, "enhancements of %dx%d", in.width, in.height);
    bench(p, what, p.iterations ? p.iterations : 100, lkrt_model_flops(model), enhance);
  }
  return p.out.empty() ? 0 : write_outputs(p, out, C, in.height, in.width);
}

// A label map PNG in the model's palette, at the model's size, as class ids; anything else is
// a usage error naming the pixel and the valid colors (as latentkit's read_label_map).
std::vector<uint8_t> read_map(const std::string& path, const lkrt_model* model) {
  const int H = lkrt_model_height(model), W = lkrt_model_width(model);
  std::ifstream f(path, std::ios::binary);
  if (!f) usage_error("--mask: cannot open " + path);
  std::stringstream bytes;
  bytes << f.rdbuf();
  lkrt::DecodedPng png;
  try {
    png = lkrt::decode_png(bytes.str());
  } catch (const std::exception& e) {
    usage_error("--mask: " + path + ": " + e.what());
  }
  if (png.width != W || png.height != H)
    usage_error("--mask: " + path + " is " + std::to_string(png.width) + "x" + std::to_string(png.height) +
                " but the model draws " + std::to_string(W) + "x" + std::to_string(H) + ": give a map of that size");
  std::vector<uint8_t> ids(size_t(H) * W);
  if (lkrt_map_from_pixels(model, png.pixels.data(), png.channels, H, W, ids.data()) != LKRT_OK)
    usage_error("--mask: " + path + ": " + lkrt_last_error());
  return ids;
}

int run_mask_generator(const CliParams& p, lkrt_model* model) {
  const int C = lkrt_model_channels(model), H = lkrt_model_height(model), W = lkrt_model_width(model);
  const int classes = lkrt_model_num_classes(model);
  if (!p.out.empty() && p.mask.empty())
    usage_error("a mask generator draws from a label map: give --mask MAP.png, a " + std::to_string(W) + "x" +
                std::to_string(H) + " PNG in its " + lkrt_model_palette_name(model) + " palette's colors (" +
                palette_text(model) + ")");
  std::vector<uint8_t> map;
  if (!p.mask.empty()) {
    map = read_map(p.mask, model);
  } else {  // --bench alone: a stripe of each class
    map.resize(size_t(H) * W);
    for (size_t i = 0; i < map.size(); ++i) map[i] = uint8_t(int(i % size_t(W)) * classes / W);
  }
  const size_t latent = size_t(lkrt_model_latent_dim(model));
  std::vector<float> z = p.z_file.empty() ? normals(p.seed, latent) : read_z(p.z_file, latent);
  std::vector<float> image(size_t(C) * H * W);
  auto generate = [&] { return lkrt_generate_map(model, z.data(), map.data(), image.data()); };
  const lkrt_status s = generate();
  if (s != LKRT_OK) return fail_status(s, "");
  if (p.bench) bench(p, "images", p.iterations ? p.iterations : 1000, lkrt_model_flops(model), generate);
  return p.out.empty() ? 0 : write_outputs(p, image, C, H, W);
}

int run_denoiser(const CliParams& p, lkrt_model* model) {
  const int C = lkrt_model_channels(model), H = lkrt_model_height(model), W = lkrt_model_width(model);
  const size_t n = size_t(C) * H * W;
  const int tasks = lkrt_model_tasks(model), classes = lkrt_model_num_classes(model);
  if (!p.inpaint.empty() && !(tasks & 1))
    usage_error("--inpaint: this model was not trained for inpainting (latentkit train --model ddpm --tasks inpaint)");
  if (!p.restore.empty() && !(tasks & 2))
    usage_error("--restore: this model was not trained for restoring (latentkit train --model ddpm --tasks restore)");
  const bool text = lkrt_model_text_width(model) > 0;
  if (p.guidance != 1.0f && !(text ? p.has_prompt : p.label >= 0))
    usage_error(text ? "--guidance steers towards a prompt: give --prompt TEXT" : "--guidance steers towards a class: give --label N");
  std::vector<float> prompt;  // the prompt's embedding
  if (p.has_prompt) {
    if (!text)
      usage_error("--prompt: this model has no text encoder (export a text-to-image run: latentkit train --model t2i, then "
                  "latentkit export)");
    prompt.resize(size_t(lkrt_model_text_width(model)));
    const lkrt_status s = lkrt_encode_prompt(model, p.prompt.c_str(), prompt.data());
    if (s != LKRT_OK) usage_error("--prompt: " + std::string(lkrt_last_error()));
    const std::string warnings = lkrt_prompt_warnings(model, p.prompt.c_str());
    for (size_t at = 0, end; (end = warnings.find('\n', at)) != std::string::npos; at = end + 1)
      std::fprintf(stderr, "lkrt: warning: %s\n", warnings.substr(at, end - at).c_str());
  }
  const int T = lkrt_model_timesteps(model);
  if (p.steps > T) usage_error("--steps " + std::to_string(p.steps) + ": the model has " + std::to_string(T) + " time steps");
  auto same_size = [&](const std::string& option, const Picture& pic) {
    if (pic.height != H || pic.width != W)
      usage_error(option + ": the image is " + std::to_string(pic.width) + "x" + std::to_string(pic.height) +
                  ", the model works on " + std::to_string(W) + "x" + std::to_string(H));
  };
  std::vector<float> cond, fill;
  Picture known;
  if (!p.inpaint.empty()) {
    known = read_png("--inpaint", p.inpaint, C);
    same_size("--inpaint", known);
    Picture mask = read_png("--mask", p.mask, 1);
    same_size("--mask", mask);
    fill.resize(size_t(H) * W);
    for (size_t i = 0; i < fill.size(); ++i) fill[i] = mask.chw[i] > 0.0f ? 1.0f : 0.0f;  // white: fill
    if (std::find(fill.begin(), fill.end(), 1.0f) == fill.end()) usage_error("--mask has nothing to fill (white marks the pixels to fill)");
    cond.resize(size_t(C + 2) * H * W);
    lkrt_inpaint_condition(model, known.chw.data(), fill.data(), cond.data());
  } else if (!p.restore.empty()) {
    Picture degraded = read_png("--restore", p.restore, C);
    same_size("--restore", degraded);
    cond.resize(size_t(C + 2) * H * W);
    lkrt_restore_condition(model, degraded.chw.data(), cond.data());
  }
  const float* c = cond.empty() ? nullptr : cond.data();
  std::vector<float> x = p.z_file.empty() ? normals(p.seed, n) : read_z(p.z_file, n), out(n);
  if (p.bench) {
    bench(p, "network calls", p.iterations ? p.iterations : 100, lkrt_model_flops(model),
          [&] { lkrt_denoise(model, x.data(), T / 2, p.label, c, out.data()); });
  }
  if (p.out.empty()) return 0;
  lkrt_sample_options o;
  lkrt_sample_options_init(&o);
  o.sampler = p.sampler == "dpmpp" ? LKRT_SAMPLER_DPMPP : LKRT_SAMPLER_DDIM;
  o.steps = p.steps;
  o.label = p.label;
  o.guidance = p.guidance;
  o.text = prompt.empty() ? nullptr : prompt.data();
  const auto t0 = std::chrono::steady_clock::now();
  const lkrt_status s = lkrt_sample(model, &o, x.data(), c, out.data());
  if (s != LKRT_OK) return fail_status(s, "");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!fill.empty())  // the known pixels come back as they were
    for (int ch = 0; ch < C; ++ch)
      for (size_t i = 0; i < fill.size(); ++i)
        if (fill[i] == 0.0f) out[size_t(ch) * fill.size() + i] = known.chw[size_t(ch) * fill.size() + i];
  std::string condition = text      ? (p.has_prompt ? ", prompt \"" + p.prompt + "\"" : ", no prompt")
                          : classes ? (p.label >= 0 ? ", class " + std::to_string(p.label) : ", no class")
                                    : "";
  if (p.guidance != 1.0f) {
    char guidance[48];
    std::snprintf(guidance, sizeof guidance, ", guidance %g", double(p.guidance));
    condition += guidance;
  }
  std::fprintf(stderr, "lkrt: %s, %d steps%s in %.2f s (%d thread%s)\n", p.sampler.c_str(),
               p.steps ? p.steps : lkrt_model_sample_steps(model), condition.c_str(), seconds, p.threads,
               p.threads == 1 ? "" : "s");
  return write_outputs(p, out, C, H, W);
}

// --date as lkrt_wallpaper_day reads it (now, UTC, without one); every day drops the hour.
double wallpaper_day(const CliParams& p) {
  std::string text = p.date;
  if (text.empty()) {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H", &utc);
    text = buf;
  }
  double day = 0;
  if (lkrt_wallpaper_day(text.c_str(), &day) != LKRT_OK) usage_error("--date: " + std::string(lkrt_last_error()));
  return p.every == "day" ? std::floor(day) : day;
}

int run_wallpaper(const CliParams& p, lkrt_model* model) {
  lkrt_wallpaper_options o;
  lkrt_wallpaper_options_init(&o);
  if (!p.size.empty()) {
    char x = 0, rest = 0;
    long long w = 0, h = 0;
    if (std::sscanf(p.size.c_str(), "%lld%c%lld%c", &w, &x, &h, &rest) != 3 || x != 'x' || w < 1 || h < 1 ||
        w > LKRT_WALLPAPER_MAX_SIDE || h > LKRT_WALLPAPER_MAX_SIDE)
      usage_error("--size expects WIDTHxHEIGHT, each side 1 to " + std::to_string(LKRT_WALLPAPER_MAX_SIDE) +
                  " pixels (e.g. 1080x2400), got '" + p.size + "'");
    o.width = int32_t(w);
    o.height = int32_t(h);
  }
  o.day = wallpaper_day(p);
  o.seed = p.seed;
  if (p.scale) o.scale = p.scale;
  o.tileable = p.tileable;
  if (!p.mood.empty()) {
    o.mood = lkrt_model_mood_index(model, p.mood.c_str());
    if (o.mood < 0)
      usage_error("--mood " + p.mood + ": " +
                  (lkrt_model_mood_count(model) ? "the model's moods are " + mood_names(model)
                                                : std::string("the model has no moods (export a run that has moods.json)")));
  }
  std::vector<uint8_t> rgba(size_t(o.width) * size_t(o.height) * 4);
  auto draw = [&] { return lkrt_wallpaper(model, &o, rgba.data()); };
  const auto t0 = std::chrono::steady_clock::now();
  const lkrt_status s = draw();
  if (s != LKRT_OK) return fail_status(s, "");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (p.bench) {
    char what[64];
    std::snprintf(what, sizeof what, "wallpapers of %dx%d at scale %d", o.width, o.height, o.scale);
    bench(p, what, p.iterations ? p.iterations : 5, 0, draw);
  }
  if (p.out.empty()) return 0;
  std::fprintf(stderr, "lkrt: a %dx%d wallpaper at scale %d%s%s%s in %.2f s (%d thread%s)\n", o.width, o.height, o.scale,
               o.tileable ? ", tileable" : "", p.mood.empty() ? "" : ", mood ", p.mood.c_str(), seconds, p.threads,
               p.threads == 1 ? "" : "s");
  std::string png;
  try {
    png = lkrt::encode_png_rgba8(rgba.data(), 3, o.height, o.width);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lkrt: %s\n", e.what());
    return 1;
  }
  return write_file(p.out, png.data(), png.size());
}

int run(const CliParams& p) {
  lkrt_model* model = nullptr;
  lkrt_status s = lkrt_model_load(p.model.c_str(), &model);
  if (s != LKRT_OK) {
    std::fprintf(stderr, "lkrt: %s: %s\n", lkrt_status_string(s), lkrt_last_error());
    return s == LKRT_ERR_ARGUMENT ? 2 : 1;
  }
  struct Free {
    lkrt_model* m;
    ~Free() { lkrt_model_free(m); }
  } free_model{model};

  const lkrt_kind kind = lkrt_model_kind(model);
  const int classes = lkrt_model_num_classes(model);
  if (kind == LKRT_KIND_MASK_GENERATOR && p.label != -1)
    usage_error("--label does not apply to a mask generator: its classes come from the label map (--mask)");
  if (classes == 0 && p.label != -1)
    usage_error(lkrt_model_text_width(model) ? "--label given, but the model is conditioned on text: give --prompt TEXT"
                                             : "--label given, but the model is unconditional");
  if (classes > 0 && p.label >= classes)
    usage_error("--label " + std::to_string(p.label) + " out of range: the model has " + std::to_string(classes) +
                " classes (0.." + std::to_string(classes - 1) + ")");
  reject(kind != LKRT_KIND_ENHANCER && !p.image.empty(), "--image", kind);
  reject((kind == LKRT_KIND_GENERATOR || kind == LKRT_KIND_ENHANCER || kind == LKRT_KIND_WALLPAPER) && !p.mask.empty(), "--mask", kind);
  if (kind == LKRT_KIND_DENOISER && !p.mask.empty() && p.inpaint.empty())
    usage_error("--mask goes with --inpaint IMAGE.png for a denoiser (the pixels to fill)");
  reject(kind == LKRT_KIND_ENHANCER && (p.seed != 0 || !p.z_file.empty()), "--seed / --z", kind);
  reject(kind != LKRT_KIND_GENERATOR && !p.code.empty(), "--code", kind);
  reject(kind != LKRT_KIND_DENOISER && (p.steps || p.sampler != "ddim" || p.guidance != 1.0f || !p.inpaint.empty() ||
                                        !p.restore.empty() || p.has_prompt),
         "--steps / --sampler / --guidance / --prompt / --inpaint / --restore", kind);
  const bool wallpaper = kind == LKRT_KIND_WALLPAPER;
  reject(!wallpaper && (!p.size.empty() || !p.date.empty() || p.every != "day" || p.scale || p.tileable || !p.mood.empty()),
         "--size / --date / --every / --scale / --tileable / --mood", kind);
  reject(wallpaper && (!p.z_file.empty() || !p.raw.empty()), "--z / --raw", kind);
  if (lkrt_set_threads(model, p.threads) != LKRT_OK) usage_error(lkrt_last_error());
  if (p.info) print_info(model);
  switch (kind) {
    case LKRT_KIND_ENHANCER: return run_enhancer(p, model);
    case LKRT_KIND_DENOISER: return run_denoiser(p, model);
    case LKRT_KIND_MASK_GENERATOR: return run_mask_generator(p, model);
    case LKRT_KIND_WALLPAPER: return run_wallpaper(p, model);
    default: return run_generator(p, model);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CliParams p = parse(argc, argv);
  if (p.help) {
    print_help();
    return 0;
  }
  return run(p);
}
