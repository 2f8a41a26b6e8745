// lkrt: run a .lkm generator from the command line. Thin: parses options into
// CliParams, validates them and calls the runtime's C API.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lkrt.h"
#include "png.h"

namespace {

struct CliParams {
  std::string model;          // positional
  std::string out;            // --out: PNG to write
  std::string z_file;         // --z: JSON with a "z" array
  std::string code;           // --code: placeholder code text (base64url)
  uint64_t seed = 0;          // --seed
  int32_t label = -1;         // --label
  bool info = false;          // --info
  bool bench = false;         // --bench
  int iterations = 1000;      // --iterations (with --bench)
  int threads = 1;            // --threads
  bool help = false;
};

struct OptionDoc {
  const char* name;
  const char* arg;
  const char* text;
  const char* def;
};

const OptionDoc kOptions[] = {
    {"--out", "FILE", "write the generated image as PNG (8-bit gray for 1 channel, RGB for 3)", ""},
    {"--seed", "N", "draw z ~ N(0, 1) from lkrt's own RNG (xoshiro256** + Box-Muller; not LibTorch's)", "0"},
    {"--z", "FILE", "read z from a JSON file with a \"z\" array of latent_dim numbers (overrides --seed)", ""},
    {"--label", "N", "class label of a conditional model (0..num_classes-1)", "-1: none"},
    {"--code", "TEXT", "decode a placeholder code (base64url, docs/file-format.md): z, label and mean from the code", ""},
    {"--info", "", "print the model header and its ops", ""},
    {"--bench", "", "time --iterations generations after a warm-up; print ms/image and images/s", ""},
    {"--iterations", "N", "generations timed by --bench", "1000"},
    {"--threads", "N", "worker threads (1..64)", "1"},
    {"--help", "", "show this help", ""},
};

void print_help() {
  std::printf("usage: lkrt MODEL.lkm [--out FILE] [--seed N | --z FILE | --code TEXT] [--label N] [--info] [--bench] [--threads N]\n\n"
              "Runs a latentkit generator exported as .lkm (docs/file-format.md) on the CPU.\n\noptions:\n");
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
    else if (a == "--z") p.z_file = value();
    else if (a == "--code") p.code = value();
    else if (a == "--seed") p.seed = uint64_t(parse_int(a, value(), 0, INT64_MAX));
    else if (a == "--label") p.label = int32_t(parse_int(a, value(), -1, INT32_MAX));
    else if (a == "--info") p.info = true;
    else if (a == "--bench") p.bench = true;
    else if (a == "--iterations") p.iterations = int(parse_int(a, value(), 1, 100000000));
    else if (a == "--threads") p.threads = int(parse_int(a, value(), 1, 64));
    else if (a.size() > 1 && a[0] == '-') usage_error("unknown option " + a);
    else if (p.model.empty()) p.model = a;
    else usage_error("unexpected argument " + a + " (one model file only)");
  }
  if (p.help) return p;
  if (p.model.empty()) usage_error("no model file given");
  if (!p.info && !p.bench && p.out.empty()) usage_error("nothing to do: give --out FILE, --info or --bench");
  if (!p.code.empty() && (p.out.empty() || !p.z_file.empty() || p.label != -1 || p.bench))
    usage_error("--code decodes into --out FILE; it carries z and the label, so it goes without --z, --label and --bench");
  return p;
}

// xoshiro256** seeded through splitmix64; normals by Box-Muller.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  std::vector<float> normals(size_t n) {
    std::vector<float> out;
    while (out.size() < n) {
      double u1 = double((next() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
      double u2 = double(next() >> 11) * 0x1.0p-53;        // [0, 1)
      double r = std::sqrt(-2.0 * std::log(u1));
      out.push_back(float(r * std::cos(2 * M_PI * u2)));
      if (out.size() < n) out.push_back(float(r * std::sin(2 * M_PI * u2)));
    }
    return out;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

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

void print_info(const lkrt_model* m) {
  std::printf("model id     %s\n", lkrt_model_id(m));
  std::printf("latent_dim   %d\n", lkrt_model_latent_dim(m));
  std::printf("num_classes  %d%s\n", lkrt_model_num_classes(m), lkrt_model_num_classes(m) ? "" : " (unconditional)");
  if (lkrt_model_num_classes(m)) std::printf("embed_dim    %d\n", lkrt_model_embed_dim(m));
  std::printf("output       [%d, %d, %d]\n", lkrt_model_channels(m), lkrt_model_height(m), lkrt_model_width(m));
  std::printf("weights      %s, %llu parameters\n", weight_type_name(lkrt_model_weight_type(m)),
              (unsigned long long)lkrt_model_param_count(m));
  std::printf("work         %.2f MFLOP per image\n", double(lkrt_model_flops(m)) / 1e6);
  std::printf("ops          %d\n", lkrt_model_op_count(m));
  for (int i = 0; i < lkrt_model_op_count(m); ++i) std::printf("  %2d  %s\n", i, lkrt_model_op_text(m, i));
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

  const int classes = lkrt_model_num_classes(model);
  if (classes == 0 && p.label != -1) usage_error("--label given, but the model is unconditional");
  if (classes > 0 && p.label >= classes)
    usage_error("--label " + std::to_string(p.label) + " out of range: the model has " + std::to_string(classes) +
                " classes (0.." + std::to_string(classes - 1) + ")");
  if (classes > 0 && p.label < 0 && !p.out.empty() && p.code.empty())
    usage_error("the model is conditional: give --label N");
  if (lkrt_set_threads(model, p.threads) != LKRT_OK) usage_error(lkrt_last_error());

  if (p.info) print_info(model);

  const size_t latent = size_t(lkrt_model_latent_dim(model));
  std::vector<float> z = p.z_file.empty() ? Rng(p.seed).normals(latent) : read_z(p.z_file, latent);
  std::vector<float> image(size_t(lkrt_model_channels(model)) * lkrt_model_height(model) * lkrt_model_width(model));
  const int32_t label = classes > 0 ? (p.label < 0 ? 0 : p.label) : -1;

  if (p.bench) {
    for (int i = 0; i < 20; ++i) lkrt_generate(model, z.data(), label, image.data());
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < p.iterations; ++i) lkrt_generate(model, z.data(), label, image.data());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double ms = seconds * 1e3 / p.iterations;
    std::printf("%s: %d images, %d thread%s: %.4f ms/image, %.1f images/s, %.2f GFLOP/s\n", p.model.c_str(),
                p.iterations, p.threads, p.threads == 1 ? "" : "s", ms, p.iterations / seconds,
                double(lkrt_model_flops(model)) / (ms * 1e6));
  }

  if (!p.out.empty()) {
    s = p.code.empty() ? lkrt_generate(model, z.data(), label, image.data())
                       : lkrt_decode_code_text(model, p.code.c_str(), image.data());
    if (s != LKRT_OK) {
      std::fprintf(stderr, "lkrt: %s%s: %s\n", p.code.empty() ? "" : "--code: ", lkrt_status_string(s), lkrt_last_error());
      return p.code.empty() || s == LKRT_ERR_MEMORY ? 1 : 2;  // a bad code is a bad argument
    }
    std::string png;
    try {
      png = lkrt::encode_png(image.data(), lkrt_model_channels(model), lkrt_model_height(model), lkrt_model_width(model));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lkrt: %s\n", e.what());
      return 1;
    }
    std::ofstream f(p.out, std::ios::binary | std::ios::trunc);
    f.write(png.data(), std::streamsize(png.size()));
    f.close();
    if (!f) {
      std::fprintf(stderr, "lkrt: cannot write %s\n", p.out.c_str());
      return 1;
    }
  }
  return 0;
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
