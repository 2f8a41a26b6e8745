#include "latentkit/data/captions.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/json.h"
#include "latentkit/data/emoji.h"

namespace latentkit {
namespace {

// "1F60D-FE0F" -> "1F60D": the variation selector changes how an emoji is drawn, not what
// it is, and the two packages disagree on where they write it.
std::string strip_selectors(const std::string& unified) {
  std::string out;
  size_t start = 0;
  while (start <= unified.size()) {
    size_t end = unified.find('-', start);
    if (end == std::string::npos) end = unified.size();
    const std::string part = unified.substr(start, end - start);
    if (part != "FE0F" && !part.empty()) out += (out.empty() ? "" : "-") + part;
    start = end + 1;
  }
  return out;
}

// The code points of a UTF-8 string as emoji-datasource writes them: "1F469-200D-1F4BB".
std::string unified_of(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    uint32_t cp = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k <= extra && i + k < text.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    i += static_cast<size_t>(extra) + 1;
    char hex[16];
    std::snprintf(hex, sizeof(hex), "%04X", cp);
    out += (out.empty() ? "" : "-") + std::string(hex);
  }
  return strip_selectors(out);
}

std::string replace_all(std::string s, char from, char to) {
  std::replace(s.begin(), s.end(), from, to);
  return s;
}

// A uniform draw in [0, 1) and an integer in [0, n) from LibTorch's generator.
double uniform(torch::Generator& rng) { return torch::rand({1}, rng).item<double>(); }
int64_t pick(int64_t n, torch::Generator& rng) { return torch::randint(n, {1}, rng).item<int64_t>(); }

int edit_distance(const std::string& a, const std::string& b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The fixed words of the templates, so that a prompt using them is never "unknown".
const std::vector<std::string> kTemplateWords = {"an emoji of", "skin tone", "light medium dark", "in style",
                                                 "google twitter"};

}  // namespace

std::map<std::string, std::vector<std::string>> load_emoji_keywords() {
  std::string path;
  try {
    path = npm_package_dir("emojilib", "dist/emoji-en-US.json") + "/dist/emoji-en-US.json";
  } catch (const Error& e) {
    throw Error(std::string("captions: the emoji keywords are missing: ") + e.what());
  }
  std::map<std::string, std::vector<std::string>> keywords;
  try {
    nlohmann::json j;
    try {
      j = parse_json(read_file(path), path);
    } catch (const Error& e) {
      throw Error("captions: " + path + " is damaged (" + e.what() + "); reinstall it with scripts/setup (npm ci)");
    }
    check_input(j.is_object() && !j.empty(), path + " is not a map of emoji to keywords");
    for (const auto& [emoji, list] : j.items()) {
      std::vector<std::string> words = list.get<std::vector<std::string>>();
      if (!words.empty()) words.erase(words.begin());  // the name, snake_case
      keywords[unified_of(emoji)] = words;
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("captions: " + path + " is damaged (" + e.what() + "); reinstall it with scripts/setup (npm ci)");
  }
  return keywords;
}

std::vector<CaptionFacts> caption_facts(const Dataset& data) {
  check_input(!data.texts.empty() && static_cast<int64_t>(data.texts.size()) == data.size(),
              "data '" + data.spec + "' has no captions; text models train on the emoji set (--data emoji)");
  const auto keywords = load_emoji_keywords();
  const Labeling* tone = nullptr;
  const Labeling* vendor = nullptr;
  for (const Labeling& l : data.labelings) {
    if (l.name == "skin-tone") tone = &l;
    if (l.name == "vendor") vendor = &l;
  }
  std::vector<CaptionFacts> facts;
  facts.reserve(data.texts.size());
  for (size_t i = 0; i < data.texts.size(); ++i) {
    const ImageText& text = data.texts[i];
    CaptionFacts f;
    f.name = text.name;
    f.short_names = text.short_names;
    if (auto it = keywords.find(strip_selectors(text.unified)); it != keywords.end()) {
      for (const std::string& k : it->second) {
        const std::string words = replace_all(k, '_', ' ');
        // Keywords of letters, digits and spaces (not ":D"), and not the name again.
        const bool plain = std::all_of(words.begin(), words.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '-'; });
        if (plain && !words.empty() && words != f.name) f.keywords.push_back(words);
      }
    }
    const auto label = [&](const Labeling* l) {
      return l ? l->class_names.at(static_cast<size_t>(l->labels[static_cast<int64_t>(i)].item<int64_t>())) : "";
    };
    f.skin_tone = label(tone);
    if (f.skin_tone == "none") f.skin_tone.clear();
    f.vendor = label(vendor);
    facts.push_back(std::move(f));
  }
  return facts;
}

std::string canonical_caption(const CaptionFacts& facts) {
  return facts.skin_tone.empty() ? facts.name : facts.name + ", " + facts.skin_tone + " skin tone";
}

std::string random_caption(const CaptionFacts& f, torch::Generator& rng) {
  std::string caption;
  const int64_t base = pick(f.short_names.empty() ? 2 : 3, rng);
  if (base == 0) caption = f.name;
  if (base == 1) caption = "an emoji of " + f.name;
  if (base == 2) caption = replace_all(f.short_names[static_cast<size_t>(pick(static_cast<int64_t>(f.short_names.size()), rng))], '_', ' ');
  if (!f.skin_tone.empty() && uniform(rng) < 0.8) caption += ", " + f.skin_tone + " skin tone";
  if (!f.vendor.empty() && uniform(rng) < 0.3) caption += ", in " + f.vendor + " style";
  if (!f.keywords.empty() && uniform(rng) < 0.3) {
    const int64_t n = std::min<int64_t>(1 + pick(3, rng), static_cast<int64_t>(f.keywords.size()));
    torch::Tensor order = torch::randperm(static_cast<int64_t>(f.keywords.size()), rng);
    for (int64_t k = 0; k < n; ++k) caption += (k == 0 ? ": " : ", ") + f.keywords[static_cast<size_t>(order[k].item<int64_t>())];
  }
  return caption;
}

Tokenizer::Tokenizer(const std::vector<std::string>& texts, int64_t max_tokens) : max_tokens_(max_tokens) {
  check_input(max_tokens > 0, "the tokenizer's max_tokens must be > 0");
  std::set<std::string> all;
  for (const std::string& t : texts) {
    for (std::string& w : words(t)) all.insert(std::move(w));
  }
  vocab_ = {"<pad>", "<unk>"};
  vocab_.insert(vocab_.end(), all.begin(), all.end());
  for (size_t i = 0; i < vocab_.size(); ++i) ids_[vocab_[i]] = static_cast<int64_t>(i);
}

std::vector<std::string> Tokenizer::words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
      word += l;
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

std::vector<int64_t> Tokenizer::encode(const std::string& prompt, std::vector<std::string>* unknown) const {
  const std::vector<std::string> w = words(prompt);
  check_input(!w.empty(), "the prompt is empty: it needs at least one word (letters or digits)");
  check_input(static_cast<int64_t>(w.size()) <= max_tokens_,
              "the prompt has " + std::to_string(w.size()) + " words; this model reads at most " +
                  std::to_string(max_tokens_));
  std::vector<int64_t> ids;
  for (const std::string& word : w) {
    auto it = ids_.find(word);
    if (it == ids_.end() && unknown) unknown->push_back(word);
    ids.push_back(it == ids_.end() ? kUnknownToken : it->second);
  }
  return ids;
}

torch::Tensor Tokenizer::encode_batch(const std::vector<std::string>& prompts) const {
  torch::Tensor out = torch::full({static_cast<int64_t>(prompts.size()), max_tokens_}, kPadToken, torch::kInt64);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<int64_t> ids = encode(prompts[i]);
    for (size_t k = 0; k < ids.size(); ++k) out[static_cast<int64_t>(i)][static_cast<int64_t>(k)] = ids[k];
  }
  return out;
}

torch::Tensor Tokenizer::encode_captions(const std::vector<std::string>& captions) const {
  torch::Tensor out = torch::full({static_cast<int64_t>(captions.size()), max_tokens_}, kPadToken, torch::kInt64);
  auto a = out.accessor<int64_t, 2>();
  for (size_t i = 0; i < captions.size(); ++i) {
    const std::vector<std::string> w = words(captions[i]);
    for (size_t k = 0; k < w.size() && static_cast<int64_t>(k) < max_tokens_; ++k) {
      auto it = ids_.find(w[k]);
      a[static_cast<int64_t>(i)][static_cast<int64_t>(k)] = it == ids_.end() ? kUnknownToken : it->second;
    }
  }
  return out;
}

std::vector<std::string> Tokenizer::nearest(const std::string& word, size_t k) const {
  std::vector<std::pair<int, std::string>> scored;
  for (size_t i = 2; i < vocab_.size(); ++i) scored.emplace_back(edit_distance(word, vocab_[i]), vocab_[i]);
  k = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < k; ++i) out.push_back(scored[i].second);
  return out;
}

std::string Tokenizer::warnings(const std::string& prompt) const {
  std::string out;
  for (const std::string& w : words(prompt)) {
    if (ids_.count(w)) continue;
    std::string near;
    for (const std::string& n : nearest(w)) near += (near.empty() ? "" : ", ") + n;
    out += "unknown word '" + w + "' (nearest known: " + near + ")\n";
  }
  return out;
}

nlohmann::json Tokenizer::to_json() const { return {{"max_tokens", max_tokens_}, {"vocab", vocab_}}; }

Tokenizer Tokenizer::from_json(const nlohmann::json& j, const std::string& source) {
  try {
    Tokenizer t;
    t.max_tokens_ = j.at("max_tokens").get<int64_t>();
    t.vocab_ = j.at("vocab").get<std::vector<std::string>>();
    // (A prompt is encoded into max_tokens ids: a bound keeps a damaged file from asking for
    // gigabytes; the fuzzer's captions target found it.)
    check_input(t.max_tokens_ > 0 && t.max_tokens_ <= 4096 && t.vocab_.size() >= 2 && t.vocab_[0] == "<pad>" &&
                    t.vocab_[1] == "<unk>",
                source + ": the tokenizer needs max_tokens in 1..4096 and a vocabulary starting <pad>, <unk>");
    for (size_t i = 0; i < t.vocab_.size(); ++i) t.ids_[t.vocab_[i]] = static_cast<int64_t>(i);
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": the tokenizer is malformed (" + e.what() + ")");
  }
}

Tokenizer caption_tokenizer(const std::vector<CaptionFacts>& facts, int64_t max_tokens) {
  std::vector<std::string> texts = kTemplateWords;
  for (const CaptionFacts& f : facts) {
    texts.push_back(f.name);
    for (const std::string& s : f.short_names) texts.push_back(s);
    for (const std::string& k : f.keywords) texts.push_back(k);
    texts.push_back(f.skin_tone + " " + f.vendor);
  }
  return Tokenizer(texts, max_tokens);
}

}  // namespace latentkit
