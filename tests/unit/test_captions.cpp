#include <set>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/data/captions.h"
#include "latentkit/data/emoji.h"
#include "latentkit/models/generator.h"

namespace latentkit {
namespace {

TEST(Tokenizer, SplitsIntoLowercaseWords) {
  EXPECT_EQ(Tokenizer::words("Smiling Face with Heart-Eyes, 2x!"),
            (std::vector<std::string>{"smiling", "face", "with", "heart", "eyes", "2x"}));
  EXPECT_TRUE(Tokenizer::words(" ,:-) ").empty());
}

TEST(Tokenizer, EncodesPadsAndFlagsUnknownWords) {
  Tokenizer t({"cat face", "dog face", "heart"}, 4);
  // <pad>, <unk>, then the words sorted.
  EXPECT_EQ(t.vocabulary(), (std::vector<std::string>{"<pad>", "<unk>", "cat", "dog", "face", "heart"}));
  std::vector<std::string> unknown;
  EXPECT_EQ(t.encode("Cat face kat", &unknown), (std::vector<int64_t>{2, 4, kUnknownToken}));
  EXPECT_EQ(unknown, (std::vector<std::string>{"kat"}));
  torch::Tensor batch = t.encode_batch({"dog", "heart face"});
  EXPECT_TRUE(torch::equal(batch, torch::tensor(std::vector<int64_t>{3, 0, 0, 0, 5, 4, 0, 0}).view({2, 4})));
  // Training captions past the limit are cut; prompts are refused.
  EXPECT_TRUE(torch::equal(t.encode_captions({"cat cat cat cat dog"}), torch::tensor(std::vector<int64_t>{2, 2, 2, 2}).view({1, 4})));
  EXPECT_THROW(t.encode("cat cat cat cat dog"), Error);
  EXPECT_THROW(t.encode(""), Error);
  EXPECT_THROW(t.encode("!!"), Error);
}

TEST(Tokenizer, NearestWordsAndWarnings) {
  Tokenizer t({"cat hat heart kite dog"}, 8);
  EXPECT_EQ(t.nearest("kat"), (std::vector<std::string>{"cat", "hat", "kite"}));
  EXPECT_EQ(t.warnings("a kat"), "unknown word 'a' (nearest known: cat, hat, dog)\nunknown word 'kat' (nearest known: cat, hat, kite)\n");
  EXPECT_EQ(t.warnings("cat"), "");
}

TEST(Tokenizer, JsonRoundTripAndMalformedInput) {
  Tokenizer t({"cat face"}, 5);
  Tokenizer back = Tokenizer::from_json(t.to_json(), "test");
  EXPECT_EQ(back.vocabulary(), t.vocabulary());
  EXPECT_EQ(back.max_tokens(), 5);
  EXPECT_THROW(Tokenizer::from_json({{"max_tokens", 5}}, "test"), Error);
  EXPECT_THROW(Tokenizer::from_json({{"max_tokens", 5}, {"vocab", {"cat"}}}, "test"), Error);
}

TEST(Captions, CanonicalAndTemplates) {
  CaptionFacts f{"waving hand", {"wave"}, {"hello", "goodbye"}, "medium-dark", "google"};
  EXPECT_EQ(canonical_caption(f), "waving hand, medium-dark skin tone");
  EXPECT_EQ(canonical_caption(CaptionFacts{"cat face", {}, {}, "", "twitter"}), "cat face");
  torch::Generator rng = make_rng(3);
  std::set<std::string> seen;
  int with_tone = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string c = random_caption(f, rng);
    seen.insert(c);
    with_tone += c.find("medium-dark skin tone") != std::string::npos;
    // Every caption names the emoji one way or another.
    EXPECT_TRUE(c.find("waving hand") != std::string::npos || c.rfind("wave", 0) == 0) << c;
  }
  // The tone shows in about 80% of them (binomial sd 8 of 400).
  EXPECT_NEAR(with_tone, 320, 40);
  EXPECT_TRUE(seen.count("an emoji of waving hand, medium-dark skin tone"));
  EXPECT_TRUE(seen.count("wave, medium-dark skin tone, in google style"));
  EXPECT_GT(seen.size(), 20u);
  // The same generator state draws the same captions (exact resume).
  torch::Generator a = make_rng(9), b = make_rng(9);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(random_caption(f, a), random_caption(f, b));
}

TEST(Captions, EmojiFactsCarryKeywordsToneAndVendor) {
  DataOptions o;
  o.spec = "emoji";
  o.size = 16;
  o.limit = 4;  // the first emoji of the train split, both vendors (grinning face is in the test split)
  Dataset d = load_dataset(o);
  std::vector<CaptionFacts> facts = caption_facts(d);
  ASSERT_EQ(facts.size(), 4u);
  EXPECT_EQ(facts[0].name, "smiling face with open mouth");
  EXPECT_EQ(facts[0].vendor, "google");
  EXPECT_EQ(facts[1].vendor, "twitter");
  EXPECT_EQ(facts[0].skin_tone, "");
  // emojilib's keywords for U+1F603 without its own name, and without ":D" and ":)".
  EXPECT_EQ(facts[0].keywords, (std::vector<std::string>{"face", "happy", "joy", "haha", "smile", "funny", "mouth",
                                                         "open", "smiley", "smiling"}));
  Tokenizer t = caption_tokenizer(facts, 24);
  std::vector<std::string> unknown;
  t.encode("an emoji of smiling face with open mouth, medium skin tone, in twitter style: haha", &unknown);
  EXPECT_TRUE(unknown.empty());
  // Data with no texts has no captions.
  DataOptions shapes;
  shapes.spec = "shapes:8";
  EXPECT_THROW(caption_facts(load_dataset(shapes)), Error);
}

TEST(Captions, SkinTonesReachTheFacts) {
  DataOptions o;
  o.spec = "emoji:google";
  o.size = 16;
  o.split = emoji_in_test_split("wave") ? "test" : "train";  // waving hand
  Dataset d = load_dataset(o);
  std::vector<CaptionFacts> facts = caption_facts(d);
  int toned = 0;
  for (size_t i = 0; i < facts.size(); ++i) {
    if (facts[i].name == "waving hand sign" && !facts[i].skin_tone.empty()) {
      ++toned;
      EXPECT_NE(canonical_caption(facts[i]).find(" skin tone"), std::string::npos);
    }
  }
  EXPECT_EQ(toned, 5);
}

}  // namespace
}  // namespace latentkit
