/// lkrt: the latentkit on-device runtime. Loads a generator stored as .lkm
/// (docs/file-format.md) and runs it on the CPU. C API; a thin C++ wrapper follows
/// at the end of this header. No third-party dependencies.
///
/// Threading: a model may be used from any thread, but calls that take a non-const
/// lkrt_model* (lkrt_generate, lkrt_decode_code*, lkrt_set_threads) must not run
/// concurrently on the same model. Load one model per thread for concurrent generation.
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
  LKRT_WEIGHT_MIXED = 3 /* layers use different weight types */
} lkrt_weight_type;

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
int32_t lkrt_model_op_count(const lkrt_model* model);
uint64_t lkrt_model_param_count(const lkrt_model* model);
uint64_t lkrt_model_flops(const lkrt_model* model); /* 2 x multiply-adds per image */
/// Text of op i ("conv_transpose2d 256->128 k4 s2 p1 [128,14,14] int8"), NULL if out of range.
const char* lkrt_model_op_text(const lkrt_model* model, int32_t i);

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

/// Worker threads used by lkrt_generate (1..64, default 1). Output channels and
/// output rows are split between them.
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
