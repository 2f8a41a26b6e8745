#pragma once
// Captions of the emoji set and the tokenizer that turns them into model input.
//
// Every emoji image has its facts in words: its name ("smiling face with heart-eyes"), its
// short names ("heart_eyes"), its skin tone ("medium-dark"), its vendor ("google") and the
// keywords of the npm package emojilib ("love", "crush", ...). A caption is drawn from them
// through a few templates, so that prompts can be phrased loosely; the canonical caption
// (the name, and the skin tone when it has one) is what evaluation and held-out prompts use.
//
// The tokenizer splits text into lowercase words (runs of a-z and 0-9; "heart-eyes" is
// "heart", "eyes"), maps each to an id in a vocabulary of the training captions' words, and
// pads to a fixed number of tokens. Id 0 pads, 1 stands for a word it does not know.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/data/dataset.h"

namespace latentkit {

/// The facts one caption is made from.
struct CaptionFacts {
  std::string name;                      // lowercase
  std::vector<std::string> short_names;  // "heart_eyes"
  std::vector<std::string> keywords;     // emojilib's, without the name itself
  std::string skin_tone;                 // "" or light, medium-light, medium, medium-dark, dark
  std::string vendor;                    // "" or google, twitter
};

/// emojilib's keywords (node_modules/emojilib/dist/emoji-en-US.json, found like the emoji
/// images), keyed by unified code points as emoji-datasource writes them ("1F60D",
/// "1F469-200D-1F4BB"; variation selectors FE0F dropped). The first entry of each list
/// (the name as a snake_case word) is left out. A missing package is an Error naming
/// scripts/setup.
std::map<std::string, std::vector<std::string>> load_emoji_keywords();

/// The facts of every image of a dataset with texts (the emoji set; its skin-tone and vendor
/// labelings when present). Data without texts is an Error naming the spec.
std::vector<CaptionFacts> caption_facts(const Dataset& data);

/// The name, and ", <tone> skin tone" when it has one: "waving hand, medium-dark skin tone".
std::string canonical_caption(const CaptionFacts& facts);

/// A caption drawn through the templates with LibTorch's generator rng: a base phrase (the
/// name, "an emoji of" the name, or a short name), then each with its own chance the skin
/// tone (0.8 when it has one), the vendor ("in google style", 0.3) and 1 to 3 keywords (0.3).
std::string random_caption(const CaptionFacts& facts, torch::Generator& rng);

constexpr int64_t kPadToken = 0;
constexpr int64_t kUnknownToken = 1;

class Tokenizer {
 public:
  Tokenizer() = default;
  /// A vocabulary of every word in texts (sorted, after the pad and unknown tokens).
  Tokenizer(const std::vector<std::string>& texts, int64_t max_tokens);

  /// The lowercase words of text, in order.
  static std::vector<std::string> words(const std::string& text);

  /// A prompt's ids (unpadded). An empty prompt (no words) and one of more than max_tokens
  /// words are Errors saying so; unknown words map to kUnknownToken and are listed in
  /// `unknown` when given.
  std::vector<int64_t> encode(const std::string& prompt, std::vector<std::string>* unknown = nullptr) const;
  /// A batch of prompts checked as encode does, int64 [N, max_tokens], padded with kPadToken.
  torch::Tensor encode_batch(const std::vector<std::string>& prompts) const;
  /// Training captions: as encode_batch, but words past max_tokens are dropped.
  torch::Tensor encode_captions(const std::vector<std::string>& captions) const;

  /// The k known words nearest to word by edit distance (ties: alphabetical).
  std::vector<std::string> nearest(const std::string& word, size_t k = 3) const;
  /// "unknown word 'kat' (nearest known: cat, hat, kite)" for each unknown word of prompt,
  /// one per line; empty when every word is known.
  std::string warnings(const std::string& prompt) const;

  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  int64_t max_tokens() const { return max_tokens_; }
  const std::vector<std::string>& vocabulary() const { return vocab_; }

  /// {"max_tokens": L, "vocab": ["<pad>", "<unk>", "a", ...]}: what config.json holds.
  nlohmann::json to_json() const;
  /// Throws Error naming source when malformed.
  static Tokenizer from_json(const nlohmann::json& j, const std::string& source);

 private:
  std::vector<std::string> vocab_;
  std::map<std::string, int64_t> ids_;
  int64_t max_tokens_ = 0;
};

/// The tokenizer of a text model trained on facts: every word any template can produce.
Tokenizer caption_tokenizer(const std::vector<CaptionFacts>& facts, int64_t max_tokens);

}  // namespace latentkit
