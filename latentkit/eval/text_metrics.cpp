#include "latentkit/eval/text_metrics.h"

#include <algorithm>
#include <map>

#include "latentkit/core/error.h"
#include "latentkit/data/dataset.h"

namespace latentkit {
namespace {

void check_embeddings(const torch::Tensor& t, int64_t rows, const std::string& what) {
  check_input(t.defined() && t.dim() == 2 && t.size(0) == rows,
              "text_match: " + what + " must be [" + std::to_string(rows) + ", E], got " +
                  (t.defined() ? c10::str(t.sizes()) : std::string("none")));
}

// Ids of strings in order of first appearance.
std::vector<int64_t> ids_of(const std::vector<std::string>& names, std::map<std::string, int64_t>& table) {
  std::vector<int64_t> ids;
  ids.reserve(names.size());
  for (const std::string& n : names) ids.push_back(table.emplace(n, static_cast<int64_t>(table.size())).first->second);
  return ids;
}

}  // namespace

TextMatchScore text_match_embeddings(const torch::Tensor& image_embeddings, const torch::Tensor& true_embeddings,
                                     const std::vector<std::string>& captions, const std::vector<std::string>& groups,
                                     const torch::Tensor& pool_embeddings, const std::vector<std::string>& pool_captions,
                                     const std::vector<std::string>& pool_groups, int64_t distractors, uint64_t seed) {
  const auto n = static_cast<int64_t>(captions.size());
  const auto p = static_cast<int64_t>(pool_captions.size());
  check_input(n > 0, "text_match: no images to score");
  check_input(groups.size() == captions.size(), "text_match: " + std::to_string(captions.size()) + " captions but " +
                                                    std::to_string(groups.size()) + " groups; give one of each per image");
  check_input(pool_groups.size() == pool_captions.size(),
              "text_match: the pool has " + std::to_string(pool_captions.size()) + " captions but " +
                  std::to_string(pool_groups.size()) + " groups; give one group per pool caption");
  check_input(distractors >= 1, "text_match: distractors must be >= 1, got " + std::to_string(distractors));
  check_embeddings(image_embeddings, n, "image embeddings");
  check_embeddings(true_embeddings, n, "true caption embeddings");
  check_embeddings(pool_embeddings, p, "pool embeddings");
  check_input(true_embeddings.size(1) == image_embeddings.size(1) && pool_embeddings.size(1) == image_embeddings.size(1),
              "text_match: image and caption embeddings differ in size");

  // The pool's distinct captions (the first entry's embedding stands for each), with the
  // groups each is listed under.
  std::map<std::string, int64_t> caption_ids, group_ids;
  TextMatchScore score;
  const std::vector<int64_t> pool_caption = ids_of(pool_captions, caption_ids);
  const std::vector<int64_t> pool_group = ids_of(pool_groups, group_ids);
  const auto u = static_cast<int64_t>(caption_ids.size());
  std::vector<int64_t> first_entry(static_cast<size_t>(u), -1);
  std::vector<std::vector<int64_t>> caption_groups(static_cast<size_t>(u));
  for (int64_t e = 0; e < p; ++e) {
    const auto c = static_cast<size_t>(pool_caption[static_cast<size_t>(e)]);
    if (first_entry[c] < 0) first_entry[c] = e;
    auto& g = caption_groups[c];
    if (std::find(g.begin(), g.end(), pool_group[static_cast<size_t>(e)]) == g.end()) g.push_back(pool_group[static_cast<size_t>(e)]);
  }
  torch::Tensor unique = pool_embeddings.index_select(0, torch::tensor(first_entry, torch::kInt64)).to(torch::kDouble);
  const torch::Tensor images = image_embeddings.to(torch::kDouble);
  const torch::Tensor truths = true_embeddings.to(torch::kDouble);

  torch::Generator rng = at::detail::createCPUGenerator(seed);
  int64_t hits = 0;
  double score_sum = 0.0;
  std::vector<int64_t> eligible;
  for (int64_t i = 0; i < n; ++i) {
    const auto own_caption = caption_ids.find(captions[static_cast<size_t>(i)]);
    const auto own_group = group_ids.find(groups[static_cast<size_t>(i)]);
    eligible.clear();
    for (int64_t c = 0; c < u; ++c) {
      if (own_caption != caption_ids.end() && c == own_caption->second) continue;
      const auto& g = caption_groups[static_cast<size_t>(c)];
      if (own_group != group_ids.end() && std::find(g.begin(), g.end(), own_group->second) != g.end()) continue;
      eligible.push_back(c);
    }
    check_input(static_cast<int64_t>(eligible.size()) >= distractors,
                "text_match: image " + std::to_string(i) + " ('" + captions[static_cast<size_t>(i)] + "') has only " +
                    std::to_string(eligible.size()) + " distinct pool captions outside its group '" +
                    groups[static_cast<size_t>(i)] + "'; " + std::to_string(distractors) +
                    " distractors need a larger pool or fewer --distractors");
    const torch::Tensor order = torch::randperm(static_cast<int64_t>(eligible.size()), rng).narrow(0, 0, distractors);
    const torch::Tensor drawn = torch::tensor(eligible, torch::kInt64).index_select(0, order);
    const torch::Tensor image = images[i];
    const double truth = image.dot(truths[i]).item<double>();
    const auto best = unique.index_select(0, drawn).mv(image).max(0);
    TextMatchImage row;
    row.caption = captions[static_cast<size_t>(i)];
    row.group = groups[static_cast<size_t>(i)];
    row.true_cosine = truth;
    row.distractor_cosine = std::get<0>(best).item<double>();
    row.distractor = pool_captions[static_cast<size_t>(
        first_entry[static_cast<size_t>(drawn[std::get<1>(best).item<int64_t>()].item<int64_t>())])];
    row.hit = truth > row.distractor_cosine;
    if (row.hit) ++hits;
    score_sum += 100.0 * std::max(truth, 0.0);
    score.per_image.push_back(std::move(row));
  }
  score.images = n;
  score.candidates = 1 + distractors;
  score.r_precision = static_cast<double>(hits) / static_cast<double>(n);
  score.clip_score = score_sum / static_cast<double>(n);
  return score;
}

torch::Tensor embed_captions(Clip& clip, const Tokenizer& tokenizer, const std::vector<std::string>& captions,
                             int64_t batch) {
  check_input(batch >= 1, "batch size must be positive, got " + std::to_string(batch));
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (size_t start = 0; start < captions.size(); start += static_cast<size_t>(batch)) {
    const size_t end = std::min(captions.size(), start + static_cast<size_t>(batch));
    const std::vector<std::string> part(captions.begin() + static_cast<std::ptrdiff_t>(start),
                                        captions.begin() + static_cast<std::ptrdiff_t>(end));
    out.push_back(clip->encode_text(tokenizer.encode_batch(part)));
  }
  check_input(!out.empty(), "no captions to embed");
  return torch::cat(out);
}

torch::Tensor embed_images(Clip& clip, const torch::Tensor& images, int64_t batch) {
  check_input(batch >= 1, "batch size must be positive, got " + std::to_string(batch));
  check_input(images.defined() && images.dim() == 4 && images.size(0) > 0,
              "clip takes a batch of images [N, C, H, W], got " + (images.defined() ? c10::str(images.sizes()) : std::string("none")));
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < images.size(0); start += batch) {
    torch::Tensor x = images.slice(0, start, std::min(images.size(0), start + batch));
    if (x.scalar_type() == torch::kUInt8) x = normalize_images(x);
    out.push_back(clip->encode_images(x));
  }
  return torch::cat(out);
}

TextMatchScore text_match(Clip& clip, const Tokenizer& tokenizer, const torch::Tensor& images,
                          const std::vector<std::string>& captions, const std::vector<std::string>& groups,
                          const std::vector<std::string>& pool_captions, const std::vector<std::string>& pool_groups,
                          int64_t distractors, uint64_t seed, int64_t batch) {
  check_input(images.defined() && images.dim() == 4 && images.size(0) == static_cast<int64_t>(captions.size()),
              "text_match: " + std::to_string(captions.size()) + " captions for images " +
                  (images.defined() ? c10::str(images.sizes()) : std::string("none")) + "; give one caption per image");
  const bool was_training = clip->is_training();
  clip->eval();
  // Each distinct caption is embedded once (the pool repeats a caption per vendor).
  std::map<std::string, int64_t> ids;
  const std::vector<int64_t> true_ids = ids_of(captions, ids);
  const std::vector<int64_t> pool_ids = ids_of(pool_captions, ids);
  std::vector<std::string> distinct(ids.size());
  for (const auto& [caption, id] : ids) distinct[static_cast<size_t>(id)] = caption;
  TextMatchScore score;
  try {
    const torch::Tensor text = embed_captions(clip, tokenizer, distinct, batch);
    const torch::Tensor image = embed_images(clip, images, batch);
    score = text_match_embeddings(image, text.index_select(0, torch::tensor(true_ids, torch::kInt64)), captions, groups,
                                  text.index_select(0, torch::tensor(pool_ids, torch::kInt64)), pool_captions,
                                  pool_groups, distractors, seed);
  } catch (...) {
    clip->train(was_training);
    throw;
  }
  clip->train(was_training);
  return score;
}

}  // namespace latentkit
