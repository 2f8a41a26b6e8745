// Placeholder codes (docs/file-format.md, "Placeholder codes"): the byte layout,
// quantisation against the N(0, 1) prior, base64url, and lkrt_decode_code.
#include "lkrt_code.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <limits>
#include <new>

#include "last_error.h"

namespace lkrt {
namespace code {

namespace {

constexpr uint8_t kFlagLabel = 1;
constexpr uint8_t kFlagMean = 2;
constexpr uint8_t kFlagAspect = 4;
constexpr uint8_t kFlagsReserved = 0x8;
constexpr size_t kHeaderBytes = 3;  // version and flags, model tag
constexpr double kSqrt2Pi = 2.50662827463100050242;

[[noreturn]] void fail(lkrt_status status, const std::string& message) {
  throw Error(status, "placeholder code: " + message);
}

std::string hex4(uint16_t tag) {
  char text[8];
  std::snprintf(text, sizeof text, "%04x", unsigned(tag));
  return text;
}

void check_bits(int bits) {
  if (bits < 1 || bits > kMaxBits)
    fail(LKRT_ERR_ARGUMENT, std::to_string(bits) + " bits per dimension, expected 1.." + std::to_string(kMaxBits));
}

// ceil(log2(num_classes)): 0 for a single class.
int class_bits(int num_classes) {
  int bits = 0;
  while ((int64_t(1) << bits) < num_classes) ++bits;
  return bits;
}

// The bytes between the tag and the bit stream: the mean byte, the 2-byte aspect field.
size_t field_bytes(bool with_mean, bool with_aspect) { return size_t(with_mean) + 2 * size_t(with_aspect); }

// The size of a code at 1 bit per dimension.
size_t min_size(int latent_dim, int label_bits, size_t fields) {
  return kHeaderBytes + fields + (size_t(label_bits) + size_t(latent_dim) + 7) / 8 + 1;
}

double normal_density(double x) { return std::exp(-0.5 * x * x) / kSqrt2Pi; }

struct BitWriter {  // MSB first; the buffer starts zeroed
  uint8_t* data;
  size_t bit = 0;
  void put(uint32_t value, int bits) {
    for (int i = bits - 1; i >= 0; --i, ++bit)
      if ((value >> i) & 1) data[bit / 8] |= uint8_t(0x80u >> (bit % 8));
  }
};

struct BitReader {
  const uint8_t* data;
  size_t bit = 0;
  uint32_t get(int bits) {
    uint32_t value = 0;
    for (int i = 0; i < bits; ++i, ++bit) value = value << 1 | ((data[bit / 8] >> (7 - bit % 8)) & 1u);
    return value;
  }
};

// What precedes the bit stream, once the size, version, checksum and flags are checked.
struct Envelope {
  uint16_t tag;
  bool has_label, has_mean, has_aspect;
};

Envelope open_envelope(const uint8_t* data, size_t size) {
  if (size == 0) fail(LKRT_ERR_FORMAT, "empty");
  const int version = data[0] >> 4;
  if (version != kVersion)
    fail(LKRT_ERR_FORMAT, "version " + std::to_string(version) + ", this runtime reads version " +
                              std::to_string(kVersion) + " (re-encode it, or update the runtime)");
  if (size < kHeaderBytes + 1)
    fail(LKRT_ERR_FORMAT, "truncated: " + std::to_string(size) + " bytes, a code has at least " +
                              std::to_string(kHeaderBytes + 1));
  if (crc8(data, size - 1) != data[size - 1]) fail(LKRT_ERR_FORMAT, "checksum mismatch (the code is corrupt or truncated)");
  if (data[0] & kFlagsReserved)
    fail(LKRT_ERR_FORMAT, "reserved flag bit set (flags " + std::to_string(data[0] & 0xF) +
                              ", expected bit 3 zero): a newer encoder?");
  return {uint16_t(data[1] << 8 | data[2]), (data[0] & kFlagLabel) != 0, (data[0] & kFlagMean) != 0,
          (data[0] & kFlagAspect) != 0};
}

}  // namespace

uint16_t model_tag(const std::string& model_id) {
  if (model_id.size() < 4) return 0;
  for (char c : model_id)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return 0;
  return uint16_t(std::stoul(model_id.substr(0, 4), nullptr, 16));
}

int bits_per_dim(size_t total_bytes, int latent_dim, int num_classes, bool with_label, bool with_mean,
                 bool with_aspect) {
  if (latent_dim < 1 || (with_label && num_classes < 1)) return 0;
  // 2^40 bytes hold 16 bits for any int latent_dim: capping avoids overflow and changes nothing.
  const uint64_t bits = std::min<uint64_t>(total_bytes, uint64_t(1) << 40) * 8;
  const uint64_t overhead =
      8 * (kHeaderBytes + field_bytes(with_mean, with_aspect) + 1) + (with_label ? class_bits(num_classes) : 0);
  if (bits < overhead + uint64_t(latent_dim)) return 0;
  return int(std::min<uint64_t>(kMaxBits, (bits - overhead) / uint64_t(latent_dim)));
}

int32_t aspect_of(int64_t width, int64_t height) {
  if (width < 1 || height < 1)
    fail(LKRT_ERR_ARGUMENT, "aspect of a " + std::to_string(width) + "x" + std::to_string(height) +
                                " image: width and height must be positive");
  const double a = std::round(kAspectSteps * std::log2(double(width) / double(height)));
  return int32_t(std::clamp(a, double(-kAspectMax), double(kAspectMax)));
}

double aspect_ratio(int32_t aspect) { return std::exp2(double(aspect) / kAspectSteps); }

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double inverse_normal_cdf(double p) {
  if (!(p >= 0.0 && p <= 1.0)) return std::numeric_limits<double>::quiet_NaN();
  if (p == 0.0) return -std::numeric_limits<double>::infinity();
  if (p > 0.5) return -inverse_normal_cdf(1.0 - p);  // 1 - p is exact here; keeps the tails accurate
  // Acklam's rational approximation (relative error below 1.2e-9) ...
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2.0 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  }
  // ... and one Halley step on Phi(x) - p = 0, which brings it to full double precision.
  const double u = (normal_cdf(x) - p) * kSqrt2Pi * std::exp(0.5 * x * x);
  return x - u / (1.0 + 0.5 * x * u);
}

uint32_t quantise(double z, int bits) {
  check_bits(bits);
  const double bins = std::ldexp(1.0, bits);
  const double i = std::floor(normal_cdf(z) * bins);
  if (!(i > 0.0)) return 0;  // also NaN
  return i >= bins ? uint32_t(bins) - 1 : uint32_t(i);
}

double dequantise(uint32_t index, int bits) {
  check_bits(bits);
  const double bins = std::ldexp(1.0, bits);
  if (index >= bins) fail(LKRT_ERR_ARGUMENT, "index " + std::to_string(index) + " of " + std::to_string(bits) + " bits");
  // The mean of N(0, 1) on [lo, hi), whose probability is 1 / bins; phi(+-inf) = 0.
  const double lo = inverse_normal_cdf(index / bins), hi = inverse_normal_cdf((index + 1) / bins);
  return bins * (normal_density(lo) - normal_density(hi));
}

int32_t mean_intensity(const std::vector<float>& image) {
  if (image.empty()) fail(LKRT_ERR_ARGUMENT, "mean_intensity of an empty image");
  double sum = 0.0;
  for (float v : image) sum += v;
  const double mean = sum / double(image.size());
  if (!std::isfinite(mean)) fail(LKRT_ERR_ARGUMENT, "mean_intensity: the image holds non-finite values");
  return int32_t(std::clamp(std::round(127.5 * (mean + 1.0)), 0.0, 255.0));
}

std::vector<uint8_t> pack(const std::vector<float>& z, int32_t label, int32_t mean, uint16_t tag, int num_classes,
                          size_t total_bytes, int32_t aspect) {
  if (z.empty() || z.size() > size_t(INT_MAX)) fail(LKRT_ERR_ARGUMENT, "z has " + std::to_string(z.size()) + " values");
  if (num_classes < 0) fail(LKRT_ERR_ARGUMENT, "num_classes " + std::to_string(num_classes) + " is negative");
  if (num_classes == 0 && label != -1)
    fail(LKRT_ERR_ARGUMENT, "label " + std::to_string(label) + " given for an unconditional model (pass -1)");
  if (num_classes > 0 && (label < 0 || label >= num_classes))
    fail(LKRT_ERR_ARGUMENT, "label " + std::to_string(label) + " out of range: the model has " +
                                std::to_string(num_classes) + " classes (0.." + std::to_string(num_classes - 1) + ")");
  if (mean < -1 || mean > 255) fail(LKRT_ERR_ARGUMENT, "mean " + std::to_string(mean) + " not in 0..255 (-1: none)");
  if (aspect < -kAspectMax || aspect > kAspectMax)
    fail(LKRT_ERR_ARGUMENT, "aspect " + std::to_string(aspect) + " not in -32767..32767 (0: none; see aspect_of)");
  for (size_t i = 0; i < z.size(); ++i)
    if (!std::isfinite(z[i]))
      fail(LKRT_ERR_ARGUMENT, "z[" + std::to_string(i) + "] is " + std::to_string(z[i]) + ", expected a finite number");
  const int latent_dim = int(z.size());
  const bool with_label = num_classes > 0, with_mean = mean >= 0, with_aspect = aspect != 0;
  const int label_bits = with_label ? class_bits(num_classes) : 0;
  const int bits = bits_per_dim(total_bytes, latent_dim, num_classes, with_label, with_mean, with_aspect);
  if (bits == 0)
    fail(LKRT_ERR_ARGUMENT, std::to_string(total_bytes) + " bytes are too few for latent_dim " +
                                std::to_string(latent_dim) + ": at least " +
                                std::to_string(min_size(latent_dim, label_bits, field_bytes(with_mean, with_aspect))) +
                                " (1 bit per dimension)");

  std::vector<uint8_t> out(total_bytes, 0);
  out[0] = uint8_t(kVersion << 4 | (with_label ? kFlagLabel : 0) | (with_mean ? kFlagMean : 0) |
                   (with_aspect ? kFlagAspect : 0));
  out[1] = uint8_t(tag >> 8);
  out[2] = uint8_t(tag);
  size_t pos = kHeaderBytes;
  if (with_mean) out[pos++] = uint8_t(mean);
  if (with_aspect) {  // big-endian two's complement
    out[pos++] = uint8_t(uint16_t(int16_t(aspect)) >> 8);
    out[pos++] = uint8_t(uint16_t(int16_t(aspect)));
  }
  BitWriter w{out.data() + pos};
  if (with_label) w.put(uint32_t(label), label_bits);
  for (float v : z) w.put(quantise(v, bits), bits);
  out.back() = crc8(out.data(), out.size() - 1);
  return out;
}

Code unpack(const uint8_t* data, size_t size, int latent_dim, int num_classes, int32_t expected_tag) {
  if ((data == nullptr && size != 0) || latent_dim < 1 || num_classes < 0 || expected_tag > 0xFFFF)
    fail(LKRT_ERR_ARGUMENT, "unpack: null data, latent_dim < 1, num_classes < 0 or a tag above 0xffff");
  const Envelope e = open_envelope(data, size);
  if (expected_tag >= 0 && e.tag != expected_tag)
    throw Error(LKRT_ERR_ARGUMENT, "placeholder code is for model tag " + hex4(e.tag) + ", this model's is " +
                                       hex4(uint16_t(expected_tag)) + " (decode it with the model that encoded it)");
  if (e.has_label && num_classes == 0) fail(LKRT_ERR_FORMAT, "it carries a class label, but the model is unconditional");
  if (!e.has_label && num_classes > 0)
    fail(LKRT_ERR_FORMAT, "it has no class label, but the model is conditional (" + std::to_string(num_classes) +
                              " classes)");
  const int label_bits = e.has_label ? class_bits(num_classes) : 0;
  Code code;
  code.model_tag = e.tag;
  code.bits = bits_per_dim(size, latent_dim, num_classes, e.has_label, e.has_mean, e.has_aspect);
  if (code.bits == 0)
    fail(LKRT_ERR_FORMAT, "truncated: " + std::to_string(size) + " bytes, a code for this model (latent_dim " +
                              std::to_string(latent_dim) + ") has at least " +
                              std::to_string(min_size(latent_dim, label_bits, field_bytes(e.has_mean, e.has_aspect))));
  size_t pos = kHeaderBytes;
  if (e.has_mean) code.mean = data[pos++];
  if (e.has_aspect) {
    code.aspect = int16_t(uint16_t(data[pos] << 8 | data[pos + 1]));
    pos += 2;
    // 0 is written as no field, -32768 is outside the symmetric range: one text per code.
    if (code.aspect == 0 || code.aspect < -kAspectMax)
      fail(LKRT_ERR_FORMAT, "aspect field " + std::to_string(code.aspect) +
                                " (a code carries one only for a non-square image, within -32767..32767)");
  }
  BitReader r{data + pos};
  if (e.has_label) {
    code.label = int32_t(r.get(label_bits));
    if (code.label >= num_classes)
      fail(LKRT_ERR_FORMAT, "label " + std::to_string(code.label) + " out of range: the model has " +
                                std::to_string(num_classes) + " classes");
  }
  code.indices.resize(size_t(latent_dim));
  for (uint32_t& index : code.indices) index = r.get(code.bits);
  const size_t stream_bits = (size - 1 - pos) * 8;
  while (r.bit < stream_bits)
    if (r.get(1) != 0)
      fail(LKRT_ERR_FORMAT, "non-zero padding bits (the code is corrupt, or for a model with another latent_dim)");
  return code;
}

void apply_mean(float* image, size_t n, int32_t mean) {
  if (image == nullptr || n == 0 || mean < 0 || mean > 255) fail(LKRT_ERR_ARGUMENT, "apply_mean: no image or a mean outside 0..255");
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += image[i];
  const float shift = float(mean / 127.5 - 1.0 - sum / double(n));
  for (size_t i = 0; i < n; ++i) image[i] = std::clamp(image[i] + shift, -1.0f, 1.0f);
}

std::vector<float> latent(const Code& code) {
  std::vector<float> z(code.indices.size());
  for (size_t i = 0; i < z.size(); ++i) z[i] = float(dequantise(code.indices[i], code.bits));
  return z;
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}
}  // namespace

std::string to_text(const std::vector<uint8_t>& bytes) {
  std::string text;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);  // n bytes give n + 1 characters
    uint32_t group = uint32_t(bytes[i]) << 16;
    if (n > 1) group |= uint32_t(bytes[i + 1]) << 8;
    if (n > 2) group |= bytes[i + 2];
    for (size_t k = 0; k <= n; ++k) text += kAlphabet[(group >> (18 - 6 * k)) & 63];
  }
  return text;
}

std::vector<uint8_t> from_text(const std::string& text) {
  if (text.size() % 4 == 1)
    fail(LKRT_ERR_FORMAT, "text of " + std::to_string(text.size()) + " characters: base64url is never 1 mod 4 long");
  std::vector<uint8_t> bytes;
  uint32_t pending = 0;  // bits not yet emitted
  int pending_bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int v = base64_value(text[i]);
    if (v < 0) {
      char shown[8];
      std::snprintf(shown, sizeof shown, std::isprint(static_cast<unsigned char>(text[i])) ? "'%c'" : "0x%02x",
                    static_cast<unsigned char>(text[i]));
      fail(LKRT_ERR_FORMAT, "character " + std::string(shown) + " at position " + std::to_string(i) +
                                " is not base64url (A-Z a-z 0-9 - _, no padding)");
    }
    pending = pending << 6 | uint32_t(v);
    pending_bits += 6;
    if (pending_bits >= 8) {
      pending_bits -= 8;
      bytes.push_back(uint8_t(pending >> pending_bits));
      pending &= (1u << pending_bits) - 1;
    }
  }
  if (pending != 0) fail(LKRT_ERR_FORMAT, "non-zero unused bits in the last character (not canonical base64url)");
  return bytes;
}

uint8_t crc8(const uint8_t* data, size_t size) {
  uint8_t crc = 0;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = uint8_t((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

namespace {

// out: [C*H*W]
void decode(lkrt_model* model, const uint8_t* data, size_t size, float* out) {
  const Code code = unpack(data, size, lkrt_model_latent_dim(model), lkrt_model_num_classes(model),
                           model_tag(lkrt_model_id(model)));
  const std::vector<float> z = latent(code);
  const lkrt_status s = lkrt_generate(model, z.data(), code.label, out);
  if (s != LKRT_OK) throw Error(s, lkrt_last_error());
  if (code.mean >= 0)
    apply_mean(out, size_t(lkrt_model_channels(model)) * lkrt_model_height(model) * lkrt_model_width(model), code.mean);
}

template <class F>
lkrt_status guarded(F f) {
  try {
    f();
    return LKRT_OK;
  } catch (const Error& e) {
    return set_error(e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return set_error(LKRT_ERR_MEMORY, "out of memory decoding a placeholder code");
  }
}

}  // namespace
}  // namespace code
}  // namespace lkrt

extern "C" {

lkrt_status lkrt_decode_code(lkrt_model* model, const uint8_t* code, size_t size, float* out) {
  if (!model || (!code && size != 0) || !out)
    return lkrt::set_error(LKRT_ERR_ARGUMENT, "lkrt_decode_code: model, code or out is null");
  return lkrt::code::guarded([&] { lkrt::code::decode(model, code, size, out); });
}

lkrt_status lkrt_decode_code_text(lkrt_model* model, const char* text, float* out) {
  if (!model || !text || !out) return lkrt::set_error(LKRT_ERR_ARGUMENT, "lkrt_decode_code_text: model, text or out is null");
  return lkrt::code::guarded([&] {
    const std::vector<uint8_t> bytes = lkrt::code::from_text(text);
    lkrt::code::decode(model, bytes.data(), bytes.size(), out);
  });
}

}  // extern "C"
