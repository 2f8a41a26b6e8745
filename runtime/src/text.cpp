// Text-to-image denoisers: the text section of a .lkm (version 3), the tokenizer and the
// text encoder, hand-written like the sampler rather than a graph over the op table (its
// values are sequences, and it runs once per prompt, not once per step). They follow
// latentkit's Tokenizer (data/captions.h) and TextEncoder (models/text.h):
//   words: runs of ASCII letters and digits, lowercased; every other byte separates them
//   ids: the word's place in the sorted vocabulary, 1 for a word it lacks
//   encoder: token + position embeddings; layers x pre-norm blocks (multi-head softmax
//   attention, a 4w MLP with the exact GELU); LayerNorm; the mean over the tokens
// A prompt runs on its own L tokens: latentkit masks padding keys, so padding changes nothing.
// Words are ranges of the prompt compared in place, and the encoder's buffers are sized at
// load: no strings, no allocation per prompt (this is in the WebAssembly module too).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "graph.h"
#include "last_error.h"

using lkrt::fail;
using lkrt::set_error;

namespace {

constexpr uint32_t kMaxWord = 256;  // bytes of a vocabulary word

bool is_word_byte(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

}  // namespace

namespace lkrt {

void read_text_section(lkrt_model& m, const uint8_t* data, uint64_t size, uint64_t offset, uint64_t length,
                       uint64_t data_start, std::vector<TensorRef>& tensors) {
  using namespace format;
  TextEncoder& e = m.text;
  if (offset % kAlign != 0 || offset < data_start || length < kXTensors || length > size || offset > size - length)
    fail(LKRT_ERR_FORMAT, "text section at %llu+%llu outside the data section [%llu, %llu) or not 64-aligned",
         (unsigned long long)offset, (unsigned long long)length, (unsigned long long)data_start, (unsigned long long)size);
  const uint8_t* p = data + offset;
  e.vocab = read_u32(p + kXVocabSize);
  e.max_tokens = read_u32(p + kXMaxTokens);
  e.width = read_u32(p + kXWidth);
  e.layers = read_u32(p + kXLayers);
  e.heads = read_u32(p + kXHeads);
  e.eps = read_f32(p + kXEps);
  const uint32_t count = read_u32(p + kXTensorCount), w = e.width;
  if (e.vocab < 3 || e.vocab > kMaxDim) fail(LKRT_ERR_FORMAT, "text: vocabulary of %u words, not in 3..%u", e.vocab, kMaxDim);
  if (e.max_tokens < 1 || e.max_tokens > 1024) fail(LKRT_ERR_FORMAT, "text: max_tokens %u not in 1..1024", e.max_tokens);
  if (w < 1 || w > 4096 || e.heads < 1 || w % e.heads != 0)
    fail(LKRT_ERR_FORMAT, "text: width %u (1..4096) is not a multiple of its %u heads", w, e.heads);
  if (e.layers < 1 || e.layers > 64) fail(LKRT_ERR_FORMAT, "text: %u layers, not in 1..64", e.layers);
  if (!(e.eps > 0.0f) || !std::isfinite(e.eps)) fail(LKRT_ERR_FORMAT, "text: LayerNorm epsilon %g, expected finite > 0", double(e.eps));
  if (read_u32(p + kXReserved) != 0) fail(LKRT_ERR_FORMAT, "text: reserved field is not zero");
  if (count != kTextTensorsFixed + kTextTensorsPerLayer * e.layers || kXTensors + uint64_t(count) * 4 > length)
    fail(LKRT_ERR_FORMAT, "text: %u tensors for %u layers (expected %u) in a section of %llu bytes", count, e.layers,
         kTextTensorsFixed + kTextTensorsPerLayer * e.layers, (unsigned long long)length);

  // Tensors: shapes from the options; the Linear weights may be fp16 or int8, the rest fp32.
  e.tensor_at.assign(count + 1, 0);
  std::vector<TensorRef*> refs(count);
  for (uint32_t i = 0; i < count; ++i) {
    // Per layer, in units of w: rows (0: a vector) and columns.
    static const uint8_t kRows[kTextTensorsPerLayer] = {0, 0, 3, 0, 1, 0, 0, 0, 4, 0, 1, 0};
    static const uint8_t kCols[kTextTensorsPerLayer] = {1, 1, 1, 3, 1, 1, 1, 1, 1, 4, 4, 1};
    const uint32_t k = (i - kTextTensorsFixed) % kTextTensorsPerLayer;
    const uint32_t rows = i == 0 ? e.vocab : i == 1 ? e.max_tokens : i < kTextTensorsFixed ? 0 : kRows[k] * w;
    const uint32_t cols = i < kTextTensorsFixed ? w : kCols[k] * w;
    const uint32_t index = read_u32(p + kXTensors + 4 * i);
    if (index >= tensors.size()) fail(LKRT_ERR_FORMAT, "text: tensor %u is index %u, the file has %zu tensors", i, index, tensors.size());
    TensorRef& t = *(refs[i] = &tensors[index]);
    if (++t.uses > 1) fail(LKRT_ERR_FORMAT, "text: tensor %u is used twice", index);
    if (rows ? t.rank != 2 || t.dims[0] != rows || t.dims[1] != cols : t.rank != 1 || t.dims[0] != cols)
      fail(LKRT_ERR_FORMAT, "text: tensor %u (section entry %u) has the wrong shape for width %u (expected [%u%s%u])", index, i,
           w, rows ? rows : cols, rows ? "," : "", rows ? cols : 0);
    if ((i < 2 || rows == 0) && t.dtype != LKRT_WEIGHT_FP32) fail(LKRT_ERR_FORMAT, "text: section entry %u must be fp32", i);
    e.tensor_at[i + 1] = e.tensor_at[i] + uint32_t(t.numel);
  }
  e.weights.resize(e.tensor_at[count]);
  for (uint32_t i = 0; i < count; ++i)
    for (uint64_t j = 0; j < refs[i]->numel; ++j) e.weights[e.tensor_at[i] + j] = refs[i]->at(j);
  m.params += e.weights.size();
  e.work.assign(size_t(e.max_tokens) * w * 10, 0.0f);  // x, h, att: L w each; qkv 3 L w; mid 4 L w
  e.scores.assign(e.max_tokens, 0.0);

  // Words: <pad>, <unk>, then 1 to 256 of a-z and 0-9, strictly increasing (byte order).
  const char* begin = reinterpret_cast<const char*>(p) + kXTensors + 4 * uint64_t(count);
  e.words.assign(begin, reinterpret_cast<const char*>(p) + length);
  e.word_at.clear();
  for (uint32_t at = 0; at < e.words.size() && e.word_at.size() < e.vocab;) {
    const char* word = e.words.data() + at;
    const size_t n = strnlen(word, e.words.size() - at);
    if (at + n == e.words.size()) fail(LKRT_ERR_FORMAT, "text: word %zu is not NUL-terminated", e.word_at.size());
    const uint32_t i = uint32_t(e.word_at.size());
    if (i == 0 && std::strcmp(word, "<pad>") != 0) fail(LKRT_ERR_FORMAT, "text: the vocabulary must start <pad>, <unk>");
    if (i == 1 && std::strcmp(word, "<unk>") != 0) fail(LKRT_ERR_FORMAT, "text: the vocabulary must start <pad>, <unk>");
    if (i >= 2 && (n == 0 || n > kMaxWord || !std::all_of(word, word + n, is_word_byte)))
      fail(LKRT_ERR_FORMAT, "text: word %u is not 1 to 256 lowercase letters and digits", i);
    if (i > 2 && std::strcmp(e.word(i - 1), word) >= 0) fail(LKRT_ERR_FORMAT, "text: word %u is out of order or repeated", i);
    e.word_at.push_back(at);
    at += uint32_t(n) + 1;
  }
  const uint32_t used = e.word_at.size() == e.vocab ? e.word_at.back() + uint32_t(std::strlen(e.word(e.vocab - 1))) + 1 : 0;
  if (e.word_at.size() != e.vocab || used != e.words.size())
    fail(LKRT_ERR_FORMAT, "text: the section holds %zu words%s, the vocabulary %u", e.word_at.size(),
         e.word_at.size() == e.vocab ? " and bytes after them" : "", e.vocab);
}

}  // namespace lkrt

namespace {

// Calls fn(begin, length) for each word of text: a run of ASCII letters and digits (read
// lowercased by the helpers below).
template <class F>
void for_each_word(const char* text, F fn) {
  const char* start = nullptr;
  for (const char* p = text;; ++p) {
    const bool in = is_word_byte(lower(*p));
    if (in && !start) start = p;
    if (!in && start) fn(start, size_t(p - start)), start = nullptr;
    if (*p == '\0') return;
  }
}

// The prompt's word [a, a + n) (lowercased) against vocabulary word b: < 0, 0, > 0.
int compare(const char* a, size_t n, const char* b) {
  for (size_t i = 0; i < n; ++i)
    if (lower(a[i]) != b[i]) return (unsigned char)lower(a[i]) - (unsigned char)b[i];  // b's NUL sorts first
  return b[n] ? -1 : 0;
}

// The id of a word, 1 (unknown) when the vocabulary lacks it.
int32_t word_id(const lkrt::TextEncoder& e, const char* a, size_t n) {
  uint32_t lo = 2, hi = e.vocab;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    const int c = compare(a, n, e.word(mid));
    if (c == 0) return int32_t(mid);
    if (c < 0) hi = mid; else lo = mid + 1;
  }
  return 1;
}

// Levenshtein distance between the prompt's word and vocabulary word b (at most 256 bytes).
size_t edit_distance(const char* a, size_t n, const char* b) {
  size_t row[kMaxWord + 1];
  const size_t m = std::strlen(b);
  for (size_t j = 0; j <= m; ++j) row[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t up = row[j];
      row[j] = std::min(std::min(row[j] + 1, row[j - 1] + 1), diagonal + (lower(a[i - 1]) == b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[m];
}

// y [n, out] = x [n, in] W^T + b, W [out, in]; sums in double.
void linear(const float* x, uint32_t n, uint32_t in, const float* weight, const float* bias, uint32_t out, float* y) {
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t o = 0; o < out; ++o) {
      double s = bias[o];
      for (uint32_t k = 0; k < in; ++k) s += double(weight[size_t(o) * in + k]) * x[size_t(i) * in + k];
      y[size_t(i) * out + o] = float(s);
    }
}

// torch.nn.LayerNorm over the last dimension (w) of each of n rows.
void layer_norm(const float* x, uint32_t n, uint32_t w, const float* gamma, const float* beta, float eps, float* y) {
  for (uint32_t i = 0; i < n; ++i, x += w, y += w) {
    double mean = 0, var = 0;
    for (uint32_t c = 0; c < w; ++c) mean += x[c];
    mean /= w;
    for (uint32_t c = 0; c < w; ++c) var += (x[c] - mean) * (x[c] - mean);
    const double inv = 1.0 / std::sqrt(var / w + eps);
    for (uint32_t c = 0; c < w; ++c) y[c] = float((x[c] - mean) * inv * gamma[c] + beta[c]);
  }
}

// The pooled prompt of ids [L] (1 <= L <= max_tokens) into out [w].
void encode(lkrt::TextEncoder& e, const int32_t* ids, uint32_t L, float* out) {
  const uint32_t w = e.width, d = w / e.heads, lw = L * w;
  float *x = e.work.data(), *h = x + lw, *att = h + lw, *qkv = att + lw, *mid = qkv + 3 * lw;
  double* p = e.scores.data();
  for (uint32_t i = 0; i < L; ++i)
    for (uint32_t c = 0; c < w; ++c) x[i * w + c] = e.fixed(0)[size_t(ids[i]) * w + c] + e.fixed(1)[i * w + c];
  for (uint32_t l = 0; l < e.layers; ++l) {
    // x + proj(attention(ln1(x))): q, k, v are the thirds of qkv's columns, heads of d in each.
    layer_norm(x, L, w, e.layer(l, 0), e.layer(l, 1), e.eps, h);
    linear(h, L, w, e.layer(l, 2), e.layer(l, 3), 3 * w, qkv);
    for (uint32_t head = 0; head < e.heads; ++head)
      for (uint32_t i = 0; i < L; ++i) {
        const float* q = qkv + i * 3 * w + head * d;
        double top = -INFINITY, sum = 0;
        for (uint32_t j = 0; j < L; ++j) {
          double s = 0;
          for (uint32_t c = 0; c < d; ++c) s += double(q[c]) * qkv[j * 3 * w + w + head * d + c];
          p[j] = s / std::sqrt(double(d));
          top = std::max(top, p[j]);
        }
        for (uint32_t j = 0; j < L; ++j) sum += p[j] = std::exp(p[j] - top);
        for (uint32_t c = 0; c < d; ++c) {
          double s = 0;
          for (uint32_t j = 0; j < L; ++j) s += p[j] * qkv[j * 3 * w + 2 * w + head * d + c];
          att[i * w + head * d + c] = float(s / sum);
        }
      }
    linear(att, L, w, e.layer(l, 4), e.layer(l, 5), w, h);
    for (uint32_t k = 0; k < lw; ++k) x[k] += h[k];
    // x + fc2(GELU(fc1(ln2(x)))), GELU(v) = v (1 + erf(v / sqrt 2)) / 2.
    layer_norm(x, L, w, e.layer(l, 6), e.layer(l, 7), e.eps, h);
    linear(h, L, w, e.layer(l, 8), e.layer(l, 9), 4 * w, mid);
    for (uint32_t k = 0; k < 4 * lw; ++k) mid[k] = float(0.5 * mid[k] * (1.0 + std::erf(mid[k] * M_SQRT1_2)));
    linear(mid, L, 4 * w, e.layer(l, 10), e.layer(l, 11), w, h);
    for (uint32_t k = 0; k < lw; ++k) x[k] += h[k];
  }
  layer_norm(x, L, w, e.fixed(2), e.fixed(3), e.eps, h);
  for (uint32_t c = 0; c < w; ++c) {
    double s = 0;
    for (uint32_t i = 0; i < L; ++i) s += h[i * w + c];
    out[c] = float(s / L);
  }
}

lkrt_status no_text(const char* what) {
  return set_error(LKRT_ERR_ARGUMENT, std::string(what) +
                                          ": this model has no text encoder (export a text-to-image run, latentkit train --model t2i)");
}

}  // namespace

extern "C" {

int32_t lkrt_model_text_width(const lkrt_model* m) { return m ? int32_t(m->text.width) : 0; }
int32_t lkrt_model_max_tokens(const lkrt_model* m) { return m ? int32_t(m->text.max_tokens) : 0; }
int32_t lkrt_model_vocab_size(const lkrt_model* m) { return m ? int32_t(m->text.vocab) : 0; }

const char* lkrt_model_vocab_word(const lkrt_model* m, int32_t id) {
  return m && id >= 0 && uint32_t(id) < m->text.vocab ? m->text.word(uint32_t(id)) : nullptr;
}

lkrt_status lkrt_tokenize(const lkrt_model* m, const char* prompt, int32_t* tokens, int32_t* count) {
  if (!m || !m->text.width) return no_text("lkrt_tokenize");
  if (!prompt || !tokens || !count) return set_error(LKRT_ERR_ARGUMENT, "lkrt_tokenize: prompt, tokens or count is null");
  const lkrt::TextEncoder& e = m->text;
  size_t n = 0;
  for_each_word(prompt, [&](const char* word, size_t length) {
    if (n < e.max_tokens) tokens[n] = word_id(e, word, length);
    ++n;
  });
  char message[96];
  if (n == 0) return set_error(LKRT_ERR_ARGUMENT, "the prompt is empty: it needs at least one word (letters or digits)");
  if (n > e.max_tokens) {
    std::snprintf(message, sizeof message, "the prompt has %zu words; this model reads at most %u", n, e.max_tokens);
    return set_error(LKRT_ERR_ARGUMENT, message);
  }
  *count = int32_t(n);
  return LKRT_OK;
}

const char* lkrt_prompt_warnings(lkrt_model* m, const char* prompt) {
  if (!m || !prompt || m->text.width == 0) return "";
  lkrt::TextEncoder& e = m->text;
  e.warnings.clear();
  for_each_word(prompt, [&](const char* word, size_t n) {
    if (word_id(e, word, n) != 1) return;
    // The three nearest known words, ties in the vocabulary's (alphabetical) order.
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    uint32_t id[3] = {0, 0, 0};
    for (uint32_t i = 2; i < e.vocab; ++i) {
      size_t dist = edit_distance(word, n, e.word(i));
      for (uint32_t k = 0, at = i; k < 3; ++k)  // insertion into the sorted three, by (distance, id)
        if (dist < best[k] || (dist == best[k] && at < id[k])) std::swap(dist, best[k]), std::swap(at, id[k]);
    }
    e.warnings += "unknown word '";
    for (size_t k = 0; k < n; ++k) e.warnings += lower(word[k]);
    e.warnings += "' (nearest known: ";
    for (uint32_t k = 0; k < 3 && id[k]; ++k) (e.warnings += k ? ", " : "") += e.word(id[k]);
    e.warnings += ")\n";
  });
  return e.warnings.c_str();
}

lkrt_status lkrt_encode_tokens(lkrt_model* m, const int32_t* tokens, int32_t count, float* out) {
  if (!m || !m->text.width) return no_text("lkrt_encode_tokens");
  lkrt::TextEncoder& e = m->text;
  if (!out || (count > 0 && !tokens)) return set_error(LKRT_ERR_ARGUMENT, "lkrt_encode_tokens: tokens or out is null");
  char message[96];
  if (count < 0 || uint32_t(count) > e.max_tokens) {
    std::snprintf(message, sizeof message, "lkrt_encode_tokens: %d tokens, not in 0..%u", int(count), e.max_tokens);
    return set_error(LKRT_ERR_ARGUMENT, message);
  }
  for (int32_t i = 0; i < count; ++i)
    if (tokens[i] < 1 || uint32_t(tokens[i]) >= e.vocab) {
      std::snprintf(message, sizeof message, "lkrt_encode_tokens: token %d not in 1..%u", int(tokens[i]), e.vocab - 1);
      return set_error(LKRT_ERR_ARGUMENT, message);
    }
  if (count == 0)
    std::copy(e.fixed(4), e.fixed(4) + e.width, out);  // no prompt: the learned null_text
  else
    encode(e, tokens, uint32_t(count), out);
  return LKRT_OK;
}

lkrt_status lkrt_encode_prompt(lkrt_model* m, const char* prompt, float* out) {
  int32_t tokens[1024], count = 0;  // max_tokens is at most 1024
  const lkrt_status s = lkrt_tokenize(m, prompt, tokens, &count);
  return s != LKRT_OK ? s : lkrt_encode_tokens(m, tokens, count, out);
}

}  // extern "C"
