// The emoji set: split, labels, sizes, and the errors for a missing or damaged package.
// Counts and split members are golden values from Python's hashlib and json over the same
// emoji.json (emoji-datasource-* 16.0.0).
#include "latentkit/data/emoji.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/image.h"
#include "tests/unit/test_util.h"

namespace latentkit {
namespace {

using test_util::error_of;
using test_util::ScopedEnv;
using test_util::TempDir;

namespace fs = std::filesystem;

DataOptions emoji_options(const std::string& spec, const std::string& split = "train") {
  DataOptions o;
  o.spec = spec;
  o.split = split;
  return o;
}

TEST(Emoji, Sha1MatchesTheStandardVectors) {
  auto hex = [](const std::string& digest) {
    std::string out;
    for (unsigned char c : digest) out += "0123456789abcdef"[c >> 4], out += "0123456789abcdef"[c & 15];
    return out;
  };
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(Emoji, TheSplitIsSha1OfTheShortNameMod10) {
  // From Python: int(hashlib.sha1(name.encode()).hexdigest(), 16) % 10 == 0.
  EXPECT_TRUE(emoji_in_test_split("grinning"));
  EXPECT_TRUE(emoji_in_test_split("cat"));
  for (const char* train : {"smile", "heart_eyes", "santa", "+1", "flag-us"}) EXPECT_FALSE(emoji_in_test_split(train)) << train;
}

TEST(Emoji, VendorsAndSpecs) {
  EXPECT_TRUE(is_emoji_spec("emoji"));
  EXPECT_TRUE(is_emoji_spec("emoji:google"));
  EXPECT_FALSE(is_emoji_spec("emojis"));
  EXPECT_EQ(emoji_vendors("emoji"), (std::vector<std::string>{"google", "twitter"}));
  EXPECT_EQ(emoji_vendors("emoji:twitter"), (std::vector<std::string>{"twitter"}));
  const std::string message = error_of([] { emoji_vendors("emoji:apple"); });
  EXPECT_NE(message.find("unknown emoji vendor 'apple'"), std::string::npos) << message;
  EXPECT_NE(message.find("emoji:google or emoji:twitter"), std::string::npos) << message;
}

TEST(Emoji, BothSplitsOfTheWholeSet) {
  const Dataset train = load_dataset(emoji_options("emoji"));
  const Dataset test = load_dataset(emoji_options("emoji", "test"));
  // 3,781 images per vendor once the 5 "Component" swatches are left out: 3,433 train, 348 test.
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{6866, 4, 64, 64}));
  ASSERT_EQ(test.size(), 696);
  EXPECT_EQ(train.images.scalar_type(), torch::kUInt8);
  ASSERT_EQ(train.labelings.size(), 4u);
  EXPECT_EQ(train.labelings[0].name, "category");
  EXPECT_EQ(train.class_names.size(), 9u);
  EXPECT_EQ(train.class_names[0], "smileys-emotion");
  EXPECT_EQ(train.labelings[2].class_names, (std::vector<std::string>{"google", "twitter"}));
  EXPECT_EQ(train.labelings[3].class_names.size(), 6u);
  // Subcategory numbering comes from the whole set, so both splits agree on it.
  EXPECT_EQ(train.labelings[1].class_names, test.labelings[1].class_names);
  // Vendor inner: image 2i is google, 2i + 1 twitter, of the same emoji.
  EXPECT_TRUE(train.labelings[2].labels.slice(0, 0, 4).equal(torch::tensor({0, 1, 0, 1}, torch::kInt64)));
  EXPECT_EQ(train.texts[0].name, train.texts[1].name);
  EXPECT_EQ(train.texts[0].name, "smiling face with open mouth");
  EXPECT_EQ(train.texts[0].short_names, (std::vector<std::string>{"smiley"}));
  EXPECT_EQ(test.texts[0].name, "grinning face");
  // No base emoji is in both splits.
  std::set<std::string> train_names;
  for (const ImageText& t : train.texts) train_names.insert(t.short_names[0]);
  for (const ImageText& t : test.texts) EXPECT_EQ(train_names.count(t.short_names[0]), 0u) << t.short_names[0];
  // Skin tones: 316 people in 5 tones plus pairs; each tone has images in train.
  const torch::Tensor tones = torch::bincount(train.labelings[3].labels, {}, 6);
  EXPECT_GT(tones[0].item<int64_t>(), 3000);
  for (int t = 1; t <= 5; ++t) EXPECT_GT(tones[t].item<int64_t>(), 400) << t;
  // Premultiplied: no color above its alpha.
  EXPECT_TRUE(train.images.slice(1, 0, 3).le(train.images.slice(1, 3, 4)).all().item<bool>());
  // Mostly transparent corners (flags and keycaps fill theirs), mostly opaque middles.
  const torch::Tensor alpha = train.images.select(1, 3);
  EXPECT_GT(alpha.select(1, 0).select(1, 0).eq(0).to(torch::kFloat).mean().item<double>(), 0.9);
  EXPECT_GT(alpha.select(1, 32).select(1, 32).eq(255).to(torch::kFloat).mean().item<double>(), 0.8);
}

TEST(Emoji, SmallerSizesAreExactAreaAverages) {
  DataOptions o = emoji_options("emoji:google");
  o.limit = 3;
  const Dataset full = load_dataset(o);
  o.size = 32;
  const Dataset half = load_dataset(o);
  ASSERT_EQ(half.images.sizes(), (std::vector<int64_t>{3, 4, 32, 32}));
  const torch::Tensor expected = torch::avg_pool2d(full.images.to(torch::kFloat), 2, 2).round().to(torch::kUInt8);
  EXPECT_TRUE(half.images.equal(expected));
  o.size = 48;
  EXPECT_NE(error_of([&] { load_dataset(o); }).find("--size must be 64 (native), 32 or 16"), std::string::npos);
}

TEST(Emoji, ConditionOnEachLabeling) {
  DataOptions o = emoji_options("emoji");
  o.limit = 40;
  Dataset data = load_dataset(o);
  condition_dataset(data, ConditionOn::kVendor, o.spec);
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"google", "twitter"}));
  EXPECT_EQ(data.labels[1].item<int64_t>(), 1);
  condition_dataset(data, ConditionOn::kSkinTone, o.spec);
  EXPECT_EQ(data.class_names[0], "none");
  condition_dataset(data, ConditionOn::kSubcategory, o.spec);
  EXPECT_EQ(data.class_names[static_cast<size_t>(data.labels[0].item<int64_t>())], "face-smiling");
  // Data without such labels: the error names what it has.
  Dataset shapes = load_dataset([] {
    DataOptions s;
    s.spec = "shapes:4";
    return s;
  }());
  const std::string message = error_of([&] { condition_dataset(shapes, ConditionOn::kVendor, "shapes:4"); });
  EXPECT_NE(message.find("--condition-on vendor needs data with vendor labels"), std::string::npos) << message;
}

TEST(Emoji, BackgroundCompositesToRgb) {
  DataOptions o = emoji_options("emoji:twitter");
  o.limit = 2;
  o.background = "#ff0000";
  const Dataset red = load_dataset(o);
  ASSERT_EQ(red.channels(), 3);
  // The top-left corner is transparent: it shows the background.
  EXPECT_TRUE(red.images[0].select(1, 0).select(1, 0).equal(torch::tensor({255, 0, 0}, torch::kUInt8)));
  o.channels = 4;
  EXPECT_NE(error_of([&] { load_dataset(o); }).find("cannot go with --channels 4"), std::string::npos);
  o.channels = 3;
  o.background = "pink";
  EXPECT_NE(error_of([&] { load_dataset(o); }).find("expected white, black or #rrggbb"), std::string::npos);
}

// A copy of the google package with only the first few emoji, to damage.
std::string small_package(const TempDir& dir) {
  const std::string source = emoji_package_dir("google");
  const std::string package = dir.file("node_modules/emoji-datasource-google/x");
  const std::string root = fs::path(package).parent_path().string();
  std::string json = read_file(source + "/emoji.json");
  nlohmann::json list = nlohmann::json::parse(json);
  nlohmann::json few = nlohmann::json::array();
  for (const auto& e : list) {
    if (e.at("short_name") == "smiley" || e.at("short_name") == "smile") few.push_back(e);
  }
  write_file_atomic(root + "/emoji.json", few.dump());
  fs::create_directories(root + "/img/google/64");
  for (const auto& e : few) {
    const std::string image = e.at("image").get<std::string>();
    fs::copy_file(source + "/img/google/64/" + image, root + "/img/google/64/" + image);
  }
  return root;
}

TEST(Emoji, MissingOrDamagedPackagesNameTheFileAndTheFix) {
  TempDir dir;
  const std::string root = small_package(dir);
  ScopedEnv env("LATENTKIT_EMOJI_DIR", dir.str() + "/node_modules");
  const DataOptions o = emoji_options("emoji:google");
  EXPECT_EQ(load_dataset(o).size(), 2);

  // A truncated PNG.
  const std::string png = root + "/img/google/64/1f603.png";
  const std::string bytes = read_file(png);
  write_file_atomic(png, bytes.substr(0, bytes.size() / 2));
  std::string message = error_of([&] { load_dataset(o); });
  EXPECT_NE(message.find(png), std::string::npos) << message;
  EXPECT_NE(message.find("scripts/setup"), std::string::npos) << message;

  // A wrong size.
  write_png(png, Image(32, 32, 4));
  message = error_of([&] { load_dataset(o); });
  EXPECT_NE(message.find(png + " is 32x32, expected 64x64"), std::string::npos) << message;

  // A damaged emoji.json, then none at all.
  write_file_atomic(root + "/emoji.json", "[{\"name\": ");
  message = error_of([&] { load_dataset(o); });
  EXPECT_NE(message.find(root + "/emoji.json is damaged"), std::string::npos) << message;
  fs::remove(root + "/emoji.json");
  message = error_of([&] { load_dataset(o); });
  EXPECT_NE(message.find("emoji-datasource-google not found in " + dir.str() + "/node_modules"), std::string::npos)
      << message;
  EXPECT_NE(message.find("scripts/setup"), std::string::npos) << message;
}

}  // namespace
}  // namespace latentkit
