// Targets for the files of a run folder and of the data: IDX and .npy arrays, config.json,
// axes.json, moods.json, emoji-datasource's emoji.json and emojilib's keywords.
#include <cstdlib>
#include <filesystem>
#include <string>

#include "latentkit/core/files.h"
#include "latentkit/core/json.h"
#include "latentkit/core/image.h"
#include "latentkit/data/captions.h"
#include "latentkit/data/dataset.h"
#include "latentkit/data/emoji.h"
#include "latentkit/data/idx.h"
#include "latentkit/eval/npy.h"
#include "latentkit/models/registry.h"
#include "latentkit/steer/axes.h"
#include "latentkit/steer/wallpaper.h"
#include "latentkit/train/loop.h"
#include "tests/fuzz/fuzz.h"

namespace fs = std::filesystem;
using namespace latentkit;
using namespace latentkit::fuzz;

LATENTKIT_FUZZ_TARGET(idx, "IDX files (Fashion-MNIST's format), plain or gzip: read_idx") {
  read_idx(write_scratch("data.idx", data, size));
}

LATENTKIT_FUZZ_TARGET(npy, ".npy arrays (eval --save-features, --ref-features): read_npy") {
  read_npy(write_scratch("features.npy", data, size));
}

// config.json of a run folder as every command that takes --run reads it: the family's
// network (load_generator: model.pt is missing, so a config that parses ends in that
// error) and the training options --resume reads.
LATENTKIT_FUZZ_TARGET(config, "a run's config.json: load_generator, and the options --resume reads") {
  const std::string run = scratch_dir() + "/run";
  fs::create_directories(run);
  write_scratch("run/config.json", data, size);
  try {
    load_generator(run);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kBadInput) throw;
  }
  const nlohmann::json config = read_json(run + "/config.json");
  if (config.is_object() && config.contains("train") && config.contains("data")) {
    train_loop_options_from_json(config["train"], config["data"], run);
    data_options_from_json(config["data"], run + "/config.json");
  }
}

LATENTKIT_FUZZ_TARGET(axes, "axes.json (latentkit axes, edit, serve): read_axes") {
  read_axes(write_scratch("axes.json", data, size));
}

LATENTKIT_FUZZ_TARGET(moods, "a wallpaper run's moods.json: read_moods") {
  read_moods(write_scratch("moods.json", data, size));
}

namespace {

// A node_modules folder of scratch_dir() with the packages the emoji loaders look for:
// emoji-datasource-google (emoji.json replaced by each input, one 64 px image) and emojilib.
std::string emoji_root() {
  static const std::string root = [] {
    const std::string dir = scratch_dir() + "/node_modules";
    fs::create_directories(dir + "/emoji-datasource-google/img/google/64");
    fs::create_directories(dir + "/emojilib/dist");
    write_png(dir + "/emoji-datasource-google/img/google/64/1f600.png", Image(64, 64, 4, 200));
    setenv("LATENTKIT_EMOJI_DIR", dir.c_str(), 1);
    return dir;
  }();
  return root;
}

}  // namespace

LATENTKIT_FUZZ_TARGET(emoji, "emoji-datasource's emoji.json (--data emoji): load_emoji on both splits") {
  const std::string root = emoji_root();
  write_scratch("node_modules/emoji-datasource-google/emoji.json", data, size);
  for (const char* split : {"train", "test"}) {
    DataOptions options;
    options.spec = "emoji:google";
    options.split = split;
    options.size = 16;
    try {
      load_emoji(options);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kBadInput) throw;
    }
  }
}

// The input is emojilib's keywords file up to the first NUL; after it, a tokenizer's JSON
// (a text model's config.json holds one) and prompts to encode with it, one per line.
LATENTKIT_FUZZ_TARGET(captions, "captions: emojilib's keywords, a tokenizer's JSON and prompts typed to it") {
  const std::string root = emoji_root();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  write_scratch("node_modules/emojilib/dist/emoji-en-US.json", data, std::min(size, nul));
  try {
    load_emoji_keywords();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kBadInput) throw;
  }
  if (nul == std::string::npos) return;
  const std::string rest = input.substr(nul + 1);
  const size_t line = rest.find('\n');
  // As a text model's config.json gives it: through parse_json (read_json's parser).
  const Tokenizer tokenizer = Tokenizer::from_json(parse_json(rest.substr(0, line), "tokenizer"), "fuzz");
  for (size_t at = line; at != std::string::npos && at < rest.size();) {
    const size_t end = rest.find('\n', at + 1);
    const std::string prompt = rest.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
    tokenizer.warnings(prompt);
    try {
      tokenizer.encode_batch({prompt});
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kBadInput) throw;
    }
    at = end;
  }
}
