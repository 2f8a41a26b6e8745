#include "latentkit/data/emoji.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/json.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/image.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

constexpr int kNativeSize = 64;
constexpr char kFix[] = "reinstall it with scripts/setup (npm ci)";
// The vendors whose images are openly licensed, in label order.
const std::vector<std::string> kVendors = {"google", "twitter"};
// emoji.json's categories in Unicode order; "Component" (skin-tone swatches, hair styles) is
// not a picture of anything and is left out.
const std::vector<std::pair<std::string, std::string>> kCategories = {
    {"Smileys & Emotion", "smileys-emotion"}, {"People & Body", "people-body"},
    {"Animals & Nature", "animals-nature"},   {"Food & Drink", "food-drink"},
    {"Travel & Places", "travel-places"},     {"Activities", "activities"},
    {"Objects", "objects"},                   {"Symbols", "symbols"},
    {"Flags", "flags"}};
const std::vector<std::string> kSkinTones = {"none", "light", "medium-light", "medium", "medium-dark", "dark"};

// One image to read: where it sorts, its file and its labels.
struct Entry {
  int64_t sort_order, variant, vendor;
  std::string path;
  int64_t category, subcategory, skin_tone;
  size_t text;  // index into the texts of the emoji
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "1F3FB" .. "1F3FF" -> 1..5: the first modifier of a skin-variation key such as "1F3FB-1F3FC".
int64_t skin_tone_of(const std::string& key, const std::string& file) {
  const std::string first = key.substr(0, key.find('-'));
  static const std::vector<std::string> modifiers = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"};
  const auto it = std::find(modifiers.begin(), modifiers.end(), first);
  check_input(it != modifiers.end(), file + ": unknown skin tone modifier '" + key + "'; " + kFix);
  return 1 + (it - modifiers.begin());
}

std::string exe_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

nlohmann::json read_emoji_json(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const std::exception&) {
    throw Error("emoji: " + path + " is missing or unreadable; " + kFix);
  }
  try {
    nlohmann::json j;
    try {
      j = parse_json(bytes, path);
    } catch (const Error& e) {
      throw Error("emoji: " + path + " is damaged (" + e.what() + "); " + kFix);
    }
    check_input(j.is_array() && !j.empty(), "emoji: " + path + " is not a list of emoji; " + kFix);
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw Error("emoji: " + path + " is damaged (" + e.what() + "); " + kFix);
  }
}

}  // namespace

bool is_emoji_spec(const std::string& spec) { return spec == "emoji" || spec.rfind("emoji:", 0) == 0; }

std::vector<std::string> emoji_vendors(const std::string& spec) {
  if (spec == "emoji") return kVendors;
  const std::string vendor = spec.substr(6);
  check_input(std::find(kVendors.begin(), kVendors.end(), vendor) != kVendors.end(),
              "data spec '" + spec + "': unknown emoji vendor '" + vendor +
                  "' (expected emoji, emoji:google or emoji:twitter; the Apple and Facebook sets are not "
                  "openly licensed)");
  return {vendor};
}

bool emoji_in_test_split(const std::string& short_name) {
  // The digest as one big-endian integer, mod 10, a byte at a time.
  int remainder = 0;
  for (unsigned char byte : sha1(short_name)) remainder = (remainder * 256 + byte) % 10;
  return remainder == 0;
}

std::string npm_package_dir(const std::string& package, const std::string& marker) {
  std::vector<std::string> looked;
  const auto has = [&](const fs::path& node_modules) {
    looked.push_back(node_modules.string());
    std::error_code ec;
    return fs::is_regular_file(node_modules / package / marker, ec);
  };
  if (const char* env = std::getenv("LATENTKIT_EMOJI_DIR"); env != nullptr && env[0] != '\0') {
    if (has(env)) return (fs::path(env) / package).string();
    throw Error(package + " not found in " + env + " (from LATENTKIT_EMOJI_DIR); " +
                "install it with scripts/setup, or point LATENTKIT_EMOJI_DIR at the node_modules folder that has it");
  }
  std::error_code ec;
  for (fs::path start : {fs::current_path(ec), fs::path(exe_dir())}) {
    for (fs::path dir = start; !dir.empty(); dir = dir.parent_path()) {
      if (has(dir / "node_modules")) return (dir / "node_modules" / package).string();
      if (dir == dir.parent_path()) break;
    }
  }
  std::string places;
  for (size_t i = 0; i < std::min<size_t>(looked.size(), 4); ++i) places += (i ? ", " : "") + looked[i];
  throw Error("the npm package " + package + " was not found (looked in " + places +
              (looked.size() > 4 ? " and the folders above" : "") +
              "); install it with scripts/setup, or set LATENTKIT_EMOJI_DIR to a node_modules folder that has it");
}

std::string emoji_package_dir(const std::string& vendor) {
  try {
    return npm_package_dir("emoji-datasource-" + vendor, "emoji.json");
  } catch (const Error& e) {
    throw Error(std::string("emoji: ") + e.what());
  }
}

Dataset load_emoji(const DataOptions& options) {
  const std::string& spec = options.spec;
  const std::vector<std::string> vendors = emoji_vendors(spec);
  const int size = options.size == 0 ? kNativeSize : options.size;
  check_input(size == 64 || size == 32 || size == 16,
              "data spec '" + spec + "': --size must be 64 (native), 32 or 16 (area downsampling), got " +
                  std::to_string(size));
  const bool test = options.split == "test";

  Dataset data;
  std::vector<Entry> entries;
  std::vector<std::string> subcategories;  // in order of first appearance in the whole set
  std::map<std::string, size_t> text_of;   // short_name -> index in data.texts
  for (const std::string& vendor : vendors) {
    const std::string dir = emoji_package_dir(vendor);
    const std::string json_path = dir + "/emoji.json";
    const nlohmann::json list = read_emoji_json(json_path);
    const std::string has_img = "has_img_" + vendor;
    const int64_t vendor_index = std::find(kVendors.begin(), kVendors.end(), vendor) - kVendors.begin();
    std::vector<nlohmann::json> sorted(list.begin(), list.end());
    try {
      std::stable_sort(sorted.begin(), sorted.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
        return a.at("sort_order").get<int64_t>() < b.at("sort_order").get<int64_t>();
      });
      for (const nlohmann::json& e : sorted) {
        const std::string category = e.at("category").get<std::string>();
        if (category == "Component") continue;
        const auto cat = std::find_if(kCategories.begin(), kCategories.end(),
                                      [&](const auto& c) { return c.first == category; });
        check_input(cat != kCategories.end(), json_path + ": unknown category '" + category + "'; " + kFix);
        const std::string subcategory = e.at("subcategory").get<std::string>();
        auto sub = std::find(subcategories.begin(), subcategories.end(), subcategory);
        if (sub == subcategories.end()) sub = subcategories.insert(sub, subcategory);
        const std::string short_name = e.at("short_name").get<std::string>();
        if (emoji_in_test_split(short_name) != test) continue;
        auto [text, fresh] = text_of.emplace(short_name, data.texts.size());
        if (fresh) data.texts.push_back({lower(e.at("name").get<std::string>()), e.at("short_names").get<std::vector<std::string>>(),
                                     e.at("unified").get<std::string>()});
        Entry base{e.at("sort_order").get<int64_t>(), 0, vendor_index, "",
                   cat - kCategories.begin(), sub - subcategories.begin(), 0, text->second};
        const auto add = [&](const nlohmann::json& variant, Entry entry) {
          if (!variant.value(has_img, false)) return;
          entry.path = dir + "/img/" + vendor + "/64/" + variant.at("image").get<std::string>();
          entries.push_back(entry);
        };
        add(e, base);
        if (e.contains("skin_variations")) {
          int64_t v = 0;
          for (const auto& [key, variant] : e.at("skin_variations").items()) {
            Entry entry = base;
            entry.variant = ++v;
            entry.skin_tone = skin_tone_of(key, json_path);
            add(variant, entry);
          }
        }
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error("emoji: " + json_path + " is damaged (" + e.what() + "); " + kFix);
    }
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.sort_order, a.variant, a.vendor) < std::tie(b.sort_order, b.variant, b.vendor);
  });
  if (options.limit > 0 && static_cast<int64_t>(entries.size()) > options.limit) entries.resize(options.limit);
  check_input(!entries.empty(), "emoji: no images in " + spec + " (" + options.split + " split)");

  const int64_t n = static_cast<int64_t>(entries.size());
  const int64_t frame = int64_t{4} * kNativeSize * kNativeSize;
  torch::Tensor images = torch::empty({n, 4, kNativeSize, kNativeSize}, torch::kUInt8);
  torch::Tensor category = torch::empty({n}, torch::kInt64), subcategory = torch::empty({n}, torch::kInt64);
  torch::Tensor vendor = torch::empty({n}, torch::kInt64), skin_tone = torch::empty({n}, torch::kInt64);
  std::vector<ImageText> texts;
  for (int64_t i = 0; i < n; ++i) {
    const Entry& e = entries[static_cast<size_t>(i)];
    Image image;
    try {
      image = read_image(e.path);
    } catch (const std::exception& error) {
      const std::string what = error.what();
      throw Error("emoji: " + (what.find(e.path) == std::string::npos ? e.path + ": " : "") + what + "; " + kFix);
    }
    check_input(image.width == kNativeSize && image.height == kNativeSize,
                "emoji: " + e.path + " is " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                    ", expected 64x64; " + kFix);
    image = convert_channels(image, 4);
    premultiply(image);
    uint8_t* out = images.data_ptr<uint8_t>() + i * frame;
    const size_t plane = size_t{kNativeSize} * kNativeSize;
    for (size_t p = 0; p < plane; ++p) {
      for (size_t c = 0; c < 4; ++c) out[c * plane + p] = image.pixels[p * 4 + c];
    }
    category[i] = e.category;
    subcategory[i] = e.subcategory;
    vendor[i] = e.vendor;
    skin_tone[i] = e.skin_tone;
    texts.push_back(data.texts[e.text]);
  }
  if (size != kNativeSize) {
    // Exact area averages: every output pixel is the mean of a k x k block (premultiplied).
    const int64_t k = kNativeSize / size;
    images = torch::avg_pool2d(images.to(torch::kFloat), k, k).round().to(torch::kUInt8);
  }
  data.images = images;
  std::vector<std::string> categories;
  for (const auto& c : kCategories) categories.push_back(c.second);
  data.labels = category;
  data.class_names = categories;
  data.labelings = {{"category", category, categories},
                    {"subcategory", subcategory, subcategories},
                    {"vendor", vendor, kVendors},
                    {"skin-tone", skin_tone, kSkinTones}};
  data.texts = std::move(texts);
  return data;
}

}  // namespace latentkit
