/// Placeholder codes (docs/file-format.md, "Placeholder codes"): a few dozen bytes that
/// hold a generator's latent z, quantised against its N(0, 1) prior, and the class label
/// of a conditional model. A device decodes one with the generator (lkrt_decode_code in
/// lkrt.h) into a small placeholder image while the real image loads. Encoding is for
/// the exporting side (the latentkit library); every function here is dependency-free.
///
///   std::vector<uint8_t> bytes = lkrt::code::pack(z, label, lkrt::code::mean_intensity(image),
///                                                 lkrt::code::model_tag(model_id), num_classes, 24);
///   std::string text = lkrt::code::to_text(bytes);   // 32 characters of base64url
#ifndef LKRT_CODE_H
#define LKRT_CODE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lkrt.h"

namespace lkrt {
namespace code {

constexpr int kVersion = 1;
constexpr int kMaxBits = 16;  ///< bits per latent dimension, at most
constexpr int kAspectSteps = 4096;  ///< aspect field units per octave of width / height
constexpr int32_t kAspectMax = 32767;  ///< |aspect field|: ratios from 1:256 to 256:1

/// A parsed code.
struct Code {
  uint16_t model_tag = 0;
  int32_t label = -1;             ///< -1: none (unconditional model)
  int32_t mean = -1;              ///< mean intensity 0..255 of the original image; -1: none
  int32_t aspect = 0;             ///< round(4096 log2(width / height)) of the original image; 0: none (square)
  int bits = 0;                   ///< bits per latent dimension, 1..16
  std::vector<uint32_t> indices;  ///< [latent_dim], each < 2^bits
};

/// The value of the first 4 hex digits of a model id (lkrt_model_id: the first 16 hex
/// digits of the SHA-256 of the model file); 0 for an id shorter than 4 characters or
/// with a character that is not a hex digit (either case).
uint16_t model_tag(const std::string& model_id);

/// Bits per latent dimension of a code of total_bytes bytes (1..16), 0 if it is too small.
int bits_per_dim(size_t total_bytes, int latent_dim, int num_classes, bool with_label, bool with_mean,
                 bool with_aspect = false);

/// The aspect field of an image of width x height: round(4096 log2(width / height)),
/// clamped to +-32767 (1:256 .. 256:1). 0 for a square image (and for one within 1/8192 of
/// square): such codes carry no field. Throws LKRT_ERR_ARGUMENT unless both are positive.
int32_t aspect_of(int64_t width, int64_t height);
/// width / height of an aspect field: 2^(aspect / 4096), within 0.0085% of the image's
/// (unclamped), so round(height x ratio) is the image's exact width up to 5,900 pixels.
double aspect_ratio(int32_t aspect);

/// Standard normal CDF Phi and its inverse (Acklam's approximation refined by one Halley
/// step: full double precision). inverse_normal_cdf(0) = -inf, (1) = +inf, NaN outside.
double normal_cdf(double x);
double inverse_normal_cdf(double p);

/// Index of z among 2^bits equiprobable bins of N(0, 1): floor(Phi(z) * 2^bits), clamped.
uint32_t quantise(double z, int bits);
/// The centroid (conditional mean of N(0, 1)) of bin `index`.
double dequantise(uint32_t index, int bits);

/// The mean byte of an image with values in [-1, 1]: round(127.5 * (mean + 1)), clamped to 0..255.
int32_t mean_intensity(const std::vector<float>& image);

/// A code of exactly total_bytes bytes. z: [latent_dim], finite; label: in
/// [0, num_classes) for a conditional model (num_classes > 0), -1 otherwise; mean: 0..255
/// or -1 for none; aspect: aspect_of(width, height) of the original image, 0 for none (the
/// field costs 2 bytes). Throws lkrt::Error(LKRT_ERR_ARGUMENT) on a bad argument or a
/// budget too small for even 1 bit per dimension.
std::vector<uint8_t> pack(const std::vector<float>& z, int32_t label, int32_t mean, uint16_t tag, int num_classes,
                          size_t total_bytes, int32_t aspect = 0);

/// Parses a code for a model of latent_dim and num_classes (0: unconditional). Throws
/// lkrt::Error(LKRT_ERR_FORMAT) for a malformed code (size, version, flags, checksum,
/// aspect, label, padding) and LKRT_ERR_ARGUMENT for bad arguments. With expected_tag >= 0 an
/// intact code of another model tag is refused (LKRT_ERR_ARGUMENT, naming both tags)
/// before its body is read; -1 does not check the tag.
Code unpack(const uint8_t* data, size_t size, int latent_dim, int num_classes, int32_t expected_tag = -1);

/// Shifts image [n] values in [-1, 1] so that their mean is mean / 127.5 - 1, then clamps
/// them to [-1, 1]: what a decoder does with a code's mean-intensity byte.
void apply_mean(float* image, size_t n, int32_t mean);

/// The dequantised latent z: [latent_dim].
std::vector<float> latent(const Code& code);

/// base64url without padding (RFC 4648, section 5).
std::string to_text(const std::vector<uint8_t>& bytes);
/// Throws lkrt::Error(LKRT_ERR_FORMAT) on a character outside the alphabet, a length of
/// 1 mod 4, or non-zero unused bits in the last character.
std::vector<uint8_t> from_text(const std::string& text);

/// CRC-8/SMBUS: polynomial 0x07, init 0, no reflection, no final xor.
uint8_t crc8(const uint8_t* data, size_t size);

}  // namespace code
}  // namespace lkrt

#endif
