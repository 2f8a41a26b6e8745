/// lkrt: the latentkit on-device runtime. Loads a model stored as .lkm
/// (docs/file-format.md): a generator (latent -> image), an enhancer (image -> image, any
/// size), a diffusion denoiser with its noise schedule and sampler, or a mask generator
/// (SPADE: a label map and a style latent -> image) or a wallpaper model (lkrt_wallpaper.h),
/// and runs it on the CPU. C API; a thin C++ wrapper follows at the end of this header. No third-party
/// dependencies.
///
/// Threading: a model may be used from any thread, but calls that take a non-const
/// lkrt_model* must not run concurrently on the same model. Load one model per thread for
/// concurrent use.
#ifndef LKRT_H
#define LKRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lkrt_model lkrt_model;

typedef enum {
  LKRT_OK = 0,
  LKRT_ERR_IO = 1,          /* file cannot be opened or read */
  LKRT_ERR_FORMAT = 2,      /* not a valid .lkm (magic, sizes, offsets, shapes, checksum) */
  LKRT_ERR_VERSION = 3,     /* a .lkm of a format version this runtime does not read */
  LKRT_ERR_ARGUMENT = 4,    /* bad argument (null pointer, label out of range, ...) */
  LKRT_ERR_MEMORY = 5,      /* allocation failed */
  LKRT_ERR_UNSUPPORTED = 6, /* unknown op or dtype (a newer writer), or a CPU without the
                               instructions this build was compiled for */
  LKRT_ERR_INTERNAL = 7
} lkrt_status;

typedef enum {
  LKRT_WEIGHT_FP32 = 0,
  LKRT_WEIGHT_FP16 = 1,
  LKRT_WEIGHT_INT8 = 2,
  LKRT_WEIGHT_MIXED = 3 /* layers use different weight types (the header only) */
} lkrt_weight_type;

typedef enum {
  LKRT_KIND_GENERATOR = 0, /* z [latent_dim] (+ label) -> image: lkrt_generate */
  LKRT_KIND_ENHANCER = 1,  /* image -> image of the same size: lkrt_enhance */
  LKRT_KIND_DENOISER = 2,  /* x_t, t (+ label, condition) -> eps or v: lkrt_denoise, lkrt_sample */
  LKRT_KIND_MASK_GENERATOR = 3, /* z [latent_dim] and a label map [height x width] of class ids -> image:
                                  lkrt_generate_map; its palette names and colors the classes */
  LKRT_KIND_WALLPAPER = 4 /* a latent grid of any number of cells -> an image cell x larger (latentkit's
                             psgan): lkrt_wallpaper and the rest of lkrt_wallpaper.h */
} lkrt_kind;

typedef enum {
  LKRT_SAMPLER_DDIM = 0,  /* DDIM, eta 0 (Song et al. 2021) */
  LKRT_SAMPLER_DPMPP = 1  /* DPM-Solver++(2M) (Lu et al. 2022): the quality of DDIM in fewer steps */
} lkrt_sampler;

/* Flags for lkrt_model_load_memory_ex. */
#define LKRT_LOAD_SKIP_CHECKSUM 1u /* do not verify the CRC-32 (fuzzing, tests) */

/// Loads a .lkm file. On success *out owns the model (free with lkrt_model_free).
lkrt_status lkrt_model_load(const char* path, lkrt_model** out);
/// Loads from memory; the bytes are not referenced after the call returns.
lkrt_status lkrt_model_load_memory(const void* data, size_t size, lkrt_model** out);
lkrt_status lkrt_model_load_memory_ex(const void* data, size_t size, uint32_t flags, lkrt_model** out);
void lkrt_model_free(lkrt_model* model);

/// Short fixed text for a status ("format error", ...).
const char* lkrt_status_string(lkrt_status status);
/// Detailed message of the last failing call on this thread ("" if none).
const char* lkrt_last_error(void);

int32_t lkrt_model_latent_dim(const lkrt_model* model);
int32_t lkrt_model_num_classes(const lkrt_model* model); /* 0: unconditional */
int32_t lkrt_model_embed_dim(const lkrt_model* model);   /* label embedding width, 0 if none */
int32_t lkrt_model_channels(const lkrt_model* model);
int32_t lkrt_model_height(const lkrt_model* model);
int32_t lkrt_model_width(const lkrt_model* model);
lkrt_weight_type lkrt_model_weight_type(const lkrt_model* model);
const char* lkrt_model_id(const lkrt_model* model); /* UTF-8, NUL-terminated, may be "" */
lkrt_kind lkrt_model_kind(const lkrt_model* model);
int32_t lkrt_model_op_count(const lkrt_model* model);
uint64_t lkrt_model_param_count(const lkrt_model* model);
uint64_t lkrt_model_flops(const lkrt_model* model); /* 2 x multiply-adds per image */
/// Text of op i ("conv_transpose2d 256->128 k4 s2 p1 [128,14,14] int8"), NULL if out of range.
const char* lkrt_model_op_text(const lkrt_model* model, int32_t i);
/// Bytes of activation memory planned for the last input size (dead activations share
/// memory), and of the other scratch buffers (im2col, GEMM output, attention).
uint64_t lkrt_model_activation_bytes(const lkrt_model* model);
uint64_t lkrt_model_scratch_bytes(const lkrt_model* model);

/// z: [latent_dim]; label: -1 for unconditional models, else in [0, num_classes);
/// out: [channels * height * width] in NCHW order (batch 1), values of the network
/// (in [-1, 1] for the latentkit generators). Does not allocate after the first call.
lkrt_status lkrt_generate(lkrt_model* model, const float* z, int32_t label, float* out);

/// Decodes a placeholder code (docs/file-format.md; encoders in lkrt_code.h): checks its
/// version, flags and CRC-8 (LKRT_ERR_FORMAT), its model tag against lkrt_model_id
/// (LKRT_ERR_ARGUMENT when it was made for another model), then generates from the
/// dequantised latent and label into out: [channels * height * width]. If the code holds
/// a mean intensity, the image is shifted to that mean and clamped to [-1, 1].
lkrt_status lkrt_decode_code(lkrt_model* model, const uint8_t* code, size_t size, float* out);
/// The same for the code's text form: base64url without padding, NUL-terminated.
lkrt_status lkrt_decode_code_text(lkrt_model* model, const char* text, float* out);

/// Mask generator (latentkit's spade): z [latent_dim] (the style) and map [height * width],
/// the class id of each pixel row by row, each < num_classes (one-hot inside the runtime);
/// out [channels * height * width] as lkrt_generate. A class id out of range is
/// LKRT_ERR_ARGUMENT naming the first such pixel. Does not allocate after the first call.
lkrt_status lkrt_generate_map(lkrt_model* model, const float* z, const uint8_t* map, float* out);

/// A mask generator's palette (the classes of its label maps; other models have none): its
/// name ("scenes"), each class's name and its color as 4 bytes R, G, B, A (alpha 255, or 0 for
/// a "transparent" class, which any pixel of alpha 0 is). NULL (or "") out of range.
const char* lkrt_model_palette_name(const lkrt_model* model);
const char* lkrt_model_class_name(const lkrt_model* model, int32_t class_id);
const uint8_t* lkrt_model_class_color(const lkrt_model* model, int32_t class_id);
/// A label map painted in the palette's colors -> class ids: pixels [height * width *
/// channels] (channels 3: RGB, 4: RGBA with straight alpha, as PNG and a canvas's ImageData
/// hold them) into ids [height * width]. A pixel of alpha 0 is the transparent class when
/// the palette has one; any other color outside the palette is LKRT_ERR_ARGUMENT, e.g.
/// "pixel (3, 0) is #808080, not a color of the scenes palette; the valid colors are: 0
/// background #000000, 1 square #ff0000, ...". Any size: lkrt_generate_map takes the model's.
lkrt_status lkrt_map_from_pixels(const lkrt_model* model, const uint8_t* pixels, int32_t channels, int32_t height,
                                 int32_t width, uint8_t* ids);

/// Enhancer: in and out [channels * height * width] in NCHW order, values in [-1, 1]; any
/// size from 1x1. Each side is padded by edge replication to a multiple of
/// lkrt_model_pad_multiple, as latentkit enhance does; images larger than tile x tile are
/// run in tiles of that size overlapping by max(tile / 8, 8) and blended linearly (tile 0:
/// whole). The output is clamped to [-1, 1]. A new size plans new buffers; the same size
/// again allocates nothing.
lkrt_status lkrt_enhance(lkrt_model* model, const float* in, int32_t height, int32_t width, int32_t tile, float* out);
int32_t lkrt_model_pad_multiple(const lkrt_model* model);

/// Denoiser facts: time steps T, what the network predicts (0 eps, 1 v), the Palette tasks
/// it was trained for (bit 0 inpaint, bit 1 restore; its condition then has channels + 2
/// channels) and its default number of sampling steps.
int32_t lkrt_model_timesteps(const lkrt_model* model);
int32_t lkrt_model_prediction(const lkrt_model* model);
int32_t lkrt_model_tasks(const lkrt_model* model);
int32_t lkrt_model_sample_steps(const lkrt_model* model);

/// One call of a denoiser's network at time step t in [0, T): x_t and out [channels *
/// height * width] (NCHW); label -1 or in [0, num_classes] (num_classes: no class, as -1)
/// for class-conditional models, -1 otherwise; cond [(channels + 2) * height * width] for
/// a model with tasks (NULL: zeros, an unconditional sample), NULL otherwise.
lkrt_status lkrt_denoise(lkrt_model* model, const float* x_t, int32_t t, int32_t label, const float* cond, float* out);

/// Text-to-image denoisers (lkrt_model_text_width > 0): the same call with the prompt's
/// embedding (lkrt_encode_prompt) in place of a label; text NULL: no prompt (the model's
/// learned "no prompt" vector, as lkrt_denoise uses).
lkrt_status lkrt_denoise_text(lkrt_model* model, const float* x_t, int32_t t, const float* text, const float* cond,
                              float* out);

typedef struct {
  lkrt_sampler sampler; /* LKRT_SAMPLER_DDIM or LKRT_SAMPLER_DPMPP */
  int32_t steps;        /* 1..T; 0: the model's default */
  int32_t label;        /* as lkrt_denoise */
  float guidance;       /* classifier-free guidance w for a label >= 0 or a prompt (1: none) */
  int32_t clip;         /* nonzero: clip the predicted x0 to [-1, 1] (latentkit's default) */
  /* called after each step with (done, total); may be NULL */
  void (*on_step)(void* user, int32_t done, int32_t total);
  void* user;
  /* text-to-image models: the prompt's embedding [text_width] from lkrt_encode_prompt (read
     during the call only); NULL: no prompt. Must be NULL for other models. */
  const float* text;
} lkrt_sample_options;

/// Fills options with the defaults: DDIM, the model's steps, label -1, guidance 1, clip, no prompt.
void lkrt_sample_options_init(lkrt_sample_options* options);

/// Samples one image from x_T (out may equal x_T), with latentkit's time steps: DDIM (eta 0)
/// from T - T/n evenly down to 0; DPM-Solver++ from the last step whose lambda =
/// log(alpha / sigma) is at least -5.1 evenly down to that step / n, the last call's x0 the
/// sample. cond as lkrt_denoise. The same x_T gives latentkit generate's
/// image within float round-off.
lkrt_status lkrt_sample(lkrt_model* model, const lkrt_sample_options* options, const float* x_T, const float* cond,
                        float* out);

/// Palette conditions (models with tasks): inpaint keeps image where fill = 0 and fills
/// where fill = 1 (fill [height * width], 0 or 1); restore takes a degraded image.
/// cond: [(channels + 2) * height * width].
lkrt_status lkrt_inpaint_condition(const lkrt_model* model, const float* image, const float* fill, float* cond);
lkrt_status lkrt_restore_condition(const lkrt_model* model, const float* degraded, float* cond);

/// Text-to-image denoisers carry a text encoder and its vocabulary (latentkit's t2i family).
/// A prompt is split into lowercase words (runs of ASCII letters and digits; every other
/// byte separates them: "Heart-Eyes!" is "heart", "eyes"), each mapped to its id in the
/// vocabulary (1: a word it does not know), as latentkit's Tokenizer does; the encoder maps
/// the ids to one vector of text_width values, which the sampler takes (options.text).
int32_t lkrt_model_text_width(const lkrt_model* model); /* 0: no text encoder */
int32_t lkrt_model_max_tokens(const lkrt_model* model); /* words a prompt may have */
int32_t lkrt_model_vocab_size(const lkrt_model* model); /* with id 0 <pad> and 1 <unk> */
/// Word id of the vocabulary, NULL out of range.
const char* lkrt_model_vocab_word(const lkrt_model* model, int32_t id);
/// prompt (NUL-terminated) -> ids in tokens (room for lkrt_model_max_tokens), *count of them.
/// A prompt with no word, or more than max_tokens words, is LKRT_ERR_ARGUMENT with a message
/// that says so; unknown words are id 1 (lkrt_prompt_warnings names them).
lkrt_status lkrt_tokenize(const lkrt_model* model, const char* prompt, int32_t* tokens, int32_t* count);
/// One line per unknown word of prompt, "unknown word 'kat' (nearest known: cat, hat, kite)\n"
/// (the three nearest by edit distance, ties alphabetical); "" when every word is known, and
/// for a model without text. The text is the model's until the next call on it.
const char* lkrt_prompt_warnings(lkrt_model* model, const char* prompt);
/// The text encoder on count ids (1..vocab_size - 1; count 0..max_tokens) -> out [text_width]:
/// the mean of its final states over the tokens. count 0 gives the "no prompt" vector.
lkrt_status lkrt_encode_tokens(lkrt_model* model, const int32_t* tokens, int32_t count, float* out);
/// lkrt_tokenize, then lkrt_encode_tokens.
lkrt_status lkrt_encode_prompt(lkrt_model* model, const char* prompt, float* out);

/// n standard normal values from a seed, as the lkrt command's --seed draws z and x_T:
/// xoshiro256** seeded through splitmix64, Box-Muller in pairs (cos, then sin), in double,
/// rounded to float. The same on every platform up to the C library's log, cos and sin.
void lkrt_normals(uint64_t seed, float* out, size_t n);

/// Worker threads used by every call that runs the network (1..64, default 1). Output
/// channels and output rows are split between them.
lkrt_status lkrt_set_threads(lkrt_model* model, int n);

#ifdef __cplusplus
} /* extern "C" */

#include <stdexcept>
#include <string>
#include <vector>

namespace lkrt {

/// Thrown by the C++ wrapper; status() is the C status.
class Error : public std::runtime_error {
 public:
  Error(lkrt_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  lkrt_status status() const { return status_; }

 private:
  lkrt_status status_;
};

/// Owning C++ handle over lkrt_model.
class Model {
 public:
  explicit Model(const std::string& path) { check(lkrt_model_load(path.c_str(), &model_)); }
  Model(const void* data, size_t size) { check(lkrt_model_load_memory(data, size, &model_)); }
  ~Model() { lkrt_model_free(model_); }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Model(Model&& other) noexcept : model_(other.model_) { other.model_ = nullptr; }
  Model& operator=(Model&& other) noexcept {
    std::swap(model_, other.model_);
    return *this;
  }

  int latent_dim() const { return lkrt_model_latent_dim(model_); }
  int num_classes() const { return lkrt_model_num_classes(model_); }
  int channels() const { return lkrt_model_channels(model_); }
  int height() const { return lkrt_model_height(model_); }
  int width() const { return lkrt_model_width(model_); }
  size_t output_size() const { return size_t(channels()) * height() * width(); }
  std::string id() const { return lkrt_model_id(model_); }
  void set_threads(int n) { check(lkrt_set_threads(model_, n)); }

  /// z: [latent_dim]; returns [C*H*W].
  std::vector<float> generate(const std::vector<float>& z, int label = -1) {
    if (z.size() != size_t(latent_dim()))
      throw Error(LKRT_ERR_ARGUMENT, "z has " + std::to_string(z.size()) + " values, the model expects " +
                                         std::to_string(latent_dim()));
    std::vector<float> out(output_size());
    check(lkrt_generate(model_, z.data(), label, out.data()));
    return out;
  }
  /// A mask generator's image: z [latent_dim] and map [H*W] of class ids; returns [C*H*W].
  std::vector<float> generate_map(const std::vector<float>& z, const std::vector<uint8_t>& map) {
    if (z.size() != size_t(latent_dim()))
      throw Error(LKRT_ERR_ARGUMENT, "z has " + std::to_string(z.size()) + " values, the model expects " +
                                         std::to_string(latent_dim()));
    if (map.size() != size_t(height()) * size_t(width()))
      throw Error(LKRT_ERR_ARGUMENT, "the map has " + std::to_string(map.size()) + " class ids, the model draws " +
                                         std::to_string(width()) + "x" + std::to_string(height()));
    std::vector<float> out(output_size());
    check(lkrt_generate_map(model_, z.data(), map.data(), out.data()));
    return out;
  }
  /// A placeholder code's bytes or text (lkrt_decode_code); returns [C*H*W].
  std::vector<float> decode_code(const std::vector<uint8_t>& code) {
    std::vector<float> out(output_size());
    check(lkrt_decode_code(model_, code.data(), code.size(), out.data()));
    return out;
  }
  std::vector<float> decode_code_text(const std::string& text) {
    std::vector<float> out(output_size());
    check(lkrt_decode_code_text(model_, text.c_str(), out.data()));
    return out;
  }
  lkrt_model* get() { return model_; }

 private:
  static void check(lkrt_status s) {
    if (s != LKRT_OK) throw Error(s, std::string(lkrt_status_string(s)) + ": " + lkrt_last_error());
  }
  lkrt_model* model_ = nullptr;
};

}  // namespace lkrt
#endif /* __cplusplus */

#endif /* LKRT_H */
