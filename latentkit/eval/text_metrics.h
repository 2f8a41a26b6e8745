#pragma once
// How well images match their captions, measured with the clip evaluator (models/clip.h):
//
//   R-precision  AttnGAN (Xu et al. 2018): for each image, its true caption and `distractors`
//                captions of other groups (never the image's own base emoji) drawn from a
//                pool; a hit when the true caption has the highest cosine similarity to the
//                image. r_precision = hits / images; chance is 1 / (1 + distractors).
//   CLIP score   Hessel et al. 2021, as torchmetrics' CLIPScore: the mean over images of
//                100 * max(cos(image, true caption), 0).
//
// The pool is deduplicated by caption (both vendors of an emoji share one), so the
// distractors of an image are distinct captions. Distractors are drawn from LibTorch's CPU
// generator seeded with `seed`, image by image in order, so a score is reproducible.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "latentkit/data/captions.h"
#include "latentkit/models/clip.h"

namespace latentkit {

/// How one image fared: its true caption's cosine and the best of its distractors.
struct TextMatchImage {
  std::string caption, group;  // the image's
  double true_cosine = 0.0;
  double distractor_cosine = 0.0;  // the highest of the drawn distractors
  std::string distractor;          // that distractor's caption
  bool hit = false;                // true_cosine > distractor_cosine
};

struct TextMatchScore {
  double r_precision = 0.0;  // hits / images
  double clip_score = 0.0;   // mean of 100 * max(cos, 0), in [0, 100]
  int64_t images = 0;
  int64_t candidates = 0;  // captions ranked per image: 1 + distractors
  std::vector<TextMatchImage> per_image;  // in the order of the images (for failure cases)
};

/// The scores of image embeddings against caption embeddings (rows of unit length; the dot
/// product is the cosine): image_embeddings [N, E] with the true caption's embedding of each
/// image in true_embeddings [N, E], and pool_embeddings [P, E] of pool_captions / pool_groups.
/// captions and groups name each image's true caption and group (for the exclusions).
/// Errors: size mismatches, distractors < 1, an image with fewer than `distractors` distinct
/// pool captions outside its group (and other than its own caption).
TextMatchScore text_match_embeddings(const torch::Tensor& image_embeddings, const torch::Tensor& true_embeddings,
                                     const std::vector<std::string>& captions, const std::vector<std::string>& groups,
                                     const torch::Tensor& pool_embeddings, const std::vector<std::string>& pool_captions,
                                     const std::vector<std::string>& pool_groups, int64_t distractors = 99,
                                     uint64_t seed = 0);

/// R-precision and CLIP score of images (float [N, C, H, W] in [-1, 1], any size: clip
/// resizes) against their true captions, with distractors from the pool, embedded by clip
/// (eval mode and no gradients for the call; its mode is restored) through tokenizer.
/// Captions go through Tokenizer::encode_batch, so an empty one or one over the token limit
/// is an Error. Other errors as text_match_embeddings.
TextMatchScore text_match(Clip& clip, const Tokenizer& tokenizer, const torch::Tensor& images,
                          const std::vector<std::string>& captions, const std::vector<std::string>& groups,
                          const std::vector<std::string>& pool_captions, const std::vector<std::string>& pool_groups,
                          int64_t distractors = 99, uint64_t seed = 0, int64_t batch = 256);

/// Embeddings of captions [N, E] through tokenizer and clip, in batches, with no gradients.
torch::Tensor embed_captions(Clip& clip, const Tokenizer& tokenizer, const std::vector<std::string>& captions,
                             int64_t batch = 256);
/// Embeddings of images [N, E] (float in [-1, 1] or uint8 from a Dataset) in batches, with
/// no gradients.
torch::Tensor embed_images(Clip& clip, const torch::Tensor& images, int64_t batch = 256);

}  // namespace latentkit
