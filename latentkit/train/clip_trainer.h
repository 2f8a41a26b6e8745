#pragma once
// Training of the clip evaluator (models/clip.h) on the training loop (loop.h): the emoji
// train split only (the test split's emoji are held-out prompts for text-to-image models, so
// the evaluator never sees them either), one random caption per image per step
// (data/captions.h's templates, drawn from LibTorch's default generator, so a resume is
// exact), a random shift of up to `shift` px, words replaced by the unknown token at random
// (so that a prompt with a word the tokenizer does not know still ranks by the rest), and CLIP's symmetric cross entropy over the
// batch with Adam, a linear warm-up and a cosine decay. After every epoch it logs R-precision
// and CLIP score on a fixed subset of train images (never test images).
#include <cstdint>
#include <string>

#include "latentkit/data/dataset.h"
#include "latentkit/eval/text_metrics.h"
#include "latentkit/models/clip.h"
#include "latentkit/train/loop.h"

namespace latentkit {

struct ClipTrainOptions {
  TrainLoopOptions loop{/*epochs=*/30, /*batch=*/128, /*lr=*/1e-3};  // lr: the peak
  int64_t width = 32;        // the image encoder's first block
  int64_t embed_dim = 128;
  int64_t text_width = 128;  // the text encoder
  int64_t text_layers = 3;
  int64_t text_heads = 4;
  int64_t max_tokens = 24;    // the tokenizer's limit
  int64_t shift = 2;          // random translation of up to this many px (0: none)
  double word_dropout = 0.1;  // chance that a caption's word is replaced by the unknown token
  int64_t warmup_steps = 200; // linear warm-up of the learning rate
  int64_t eval_images = 512;  // train images scored after every epoch (spread evenly over the split)

  ClipTrainOptions() {
    loop.data.spec = "emoji";
    loop.data.size = 32;
    loop.keep_checkpoints = 2;
  }
  void validate() const;
};

/// Options from RUN/config.json of a clip run (for --resume).
ClipTrainOptions read_clip_run_options(const std::string& run_dir);

/// Trains (or, with resume, continues from RUN/checkpoints/latest) and writes the run folder:
/// config.json (family "clip", the model options with the tokenizer, data), and after every
/// epoch model.pt, a train.jsonl row of train R-precision and CLIP score, and samples/: for 8
/// train captions (rows), the 8 train images of the scored subset that match each best.
/// Data other than the emoji train split is an Error.
TrainSummary train_clip(const ClipTrainOptions& options, bool resume);

/// Canonical captions (data/captions.h) and base emoji names (the groups of R-precision)
/// of every image of an emoji dataset.
struct CaptionedImages {
  std::vector<std::string> captions, groups;
};
CaptionedImages canonical_captions(const Dataset& data);

/// The evaluator's own ceiling: R-precision and CLIP score of the real images of `data`
/// (loaded at the model's size and channels) against their canonical captions, the pool
/// being the same images' canonical captions and the groups their base emoji names.
TextMatchScore test_clip(ClipRun& run, DataOptions data, int64_t distractors = 99, uint64_t seed = 0);

}  // namespace latentkit
