// Placeholder codes: the quantiser against closed forms, the byte layout against a
// hand-assembled code, round trips, and lkrt_decode_code against broken and foreign codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "lkrt_code.h"
#include "reference.h"

namespace {

namespace code = lkrt::code;

// lkrt::Error's status from f(), LKRT_OK if it does not throw.
template <class F>
lkrt_status status_of(F f, std::string* message = nullptr) {
  try {
    f();
  } catch (const lkrt::Error& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return LKRT_OK;
}

bool error_mentions(const char* what) { return std::strstr(lkrt_last_error(), what) != nullptr; }

void fix_crc(std::vector<uint8_t>& bytes) { bytes.back() = code::crc8(bytes.data(), bytes.size() - 1); }

// z [6] (+ a 3-wide embedding of 10 classes) -> gemm -> [2, 4, 4] -> tanh, with a hex model id.
std::string small_model(int classes, const char* id = "9c02b1e0aa55c3d7") {
  const int in = 6 + (classes ? 3 : 0);
  std::vector<float> table = ref::random_values(size_t(classes) * 3, 1.0f, 1);
  std::vector<float> w = ref::random_values(size_t(32) * in, 0.3f, 2), b = ref::random_values(32, 0.1f, 3);
  lkrt::ModelWriter writer;
  writer.set_info({id, 6, 2, 4, 4});
  if (classes)
    writer.add_input(table.data(), classes, 3);
  else
    writer.add_input();
  writer.add_gemm(w.data(), 32, in, b.data(), LKRT_WEIGHT_FP32);
  writer.add_reshape(2, 4, 4);
  writer.add_activation(lkrt::Activation::kTanh);
  return writer.serialize();
}

// Status of lkrt_decode_code; an image it returns must lie in [-1, 1].
lkrt_status decode_status(lkrt_model* m, const std::vector<uint8_t>& bytes) {
  std::vector<float> out(32, 9.0f);
  lkrt_status s = lkrt_decode_code(m, bytes.data(), bytes.size(), out.data());
  if (s == LKRT_OK)
    for (float v : out) EXPECT_TRUE(v >= -1.0f && v <= 1.0f) << v;
  else
    EXPECT_STRNE(lkrt_last_error(), "");
  return s;
}

TEST(Code, NormalQuantiles) {
  EXPECT_EQ(code::inverse_normal_cdf(0.5), 0.0);
  EXPECT_NEAR(code::inverse_normal_cdf(0.25), -0.6744897501960817, 1e-15);
  EXPECT_NEAR(code::inverse_normal_cdf(0.75), 0.6744897501960817, 1e-15);
  EXPECT_NEAR(code::inverse_normal_cdf(0.975), 1.959963984540054, 1e-14);
  EXPECT_NEAR(code::inverse_normal_cdf(1e-10), -6.361340902404056, 1e-13);
  EXPECT_EQ(code::inverse_normal_cdf(0.0), -INFINITY);
  EXPECT_EQ(code::inverse_normal_cdf(1.0), INFINITY);
  EXPECT_TRUE(std::isnan(code::inverse_normal_cdf(-0.1)));
  EXPECT_TRUE(std::isnan(code::inverse_normal_cdf(NAN)));
  EXPECT_NEAR(code::normal_cdf(1.959963984540054), 0.975, 1e-15);
  // Full precision over the whole range, tails included (Acklam alone gives ~1e-9).
  for (double p = 1e-300; p < 0.5; p *= 1.7)
    EXPECT_NEAR(code::normal_cdf(code::inverse_normal_cdf(p)) / p, 1.0, 1e-12) << p;
  for (int i = 1; i < 1000; ++i) {
    const double p = i / 1000.0;
    EXPECT_NEAR(code::normal_cdf(code::inverse_normal_cdf(p)), p, 5e-16) << p;
  }
}

TEST(Code, QuantiserClosedForms) {
  const double c1 = std::sqrt(2.0 / M_PI);  // 0.7978845608: the mean of a half-normal
  EXPECT_NEAR(code::dequantise(0, 1), -c1, 1e-15);
  EXPECT_NEAR(code::dequantise(1, 1), c1, 1e-15);
  EXPECT_EQ(code::quantise(-0.01, 1), 0u);
  EXPECT_EQ(code::quantise(0.0, 1), 1u);
  // b = 2: edges -0.6745, 0, 0.6745.
  EXPECT_EQ(code::quantise(-0.6745, 2), 0u);
  EXPECT_EQ(code::quantise(-0.6744, 2), 1u);
  EXPECT_EQ(code::quantise(0.6744, 2), 2u);
  EXPECT_EQ(code::quantise(0.6745, 2), 3u);
  EXPECT_EQ(code::quantise(1e300, 16), 65535u);
  EXPECT_EQ(code::quantise(-1e300, 16), 0u);
  EXPECT_EQ(code::quantise(NAN, 4), 0u);
  EXPECT_EQ(status_of([] { code::quantise(0.0, 17); }), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(status_of([] { code::dequantise(4, 2); }), LKRT_ERR_ARGUMENT);
}

TEST(Code, QuantiserBins) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 1.5);
  std::vector<double> zs(2000);
  for (double& z : zs) z = normal(rng);
  std::sort(zs.begin(), zs.end());
  for (int bits = 1; bits <= 16; ++bits) {
    const double bins = std::ldexp(1.0, bits);
    uint32_t previous = 0;
    for (double z : zs) {
      const uint32_t i = code::quantise(z, bits);
      ASSERT_LT(i, bins);
      ASSERT_GE(i, previous) << "indices must not decrease with z, bits " << bits;
      previous = i;
      const double lo = code::inverse_normal_cdf(i / bins), hi = code::inverse_normal_cdf((i + 1) / bins);
      ASSERT_LE(lo, z + 1e-12) << bits;
      ASSERT_GE(hi, z - 1e-12) << bits;
      const double value = code::dequantise(i, bits);  // the centroid is inside the bin
      ASSERT_GT(value, lo) << bits;
      ASSERT_LT(value, hi) << bits;
      ASSERT_EQ(code::quantise(value, bits), i) << bits;
    }
  }
}

TEST(Code, CentroidMoments) {
  // Centroids are conditional means: their mean is E[z] = 0 and their second moment
  // 1 - E[(z - q(z))^2] < 1, rising toward 1 with the bits.
  double previous = 0.0;
  for (int bits = 1; bits <= 16; ++bits) {
    const uint32_t bins = 1u << bits;
    double mean = 0.0, second = 0.0;
    for (uint32_t i = 0; i < bins; ++i) {
      const double c = code::dequantise(i, bits);
      mean += c / bins;
      second += c * c / bins;
      ASSERT_EQ(c, -code::dequantise(bins - 1 - i, bits)) << "symmetry, bits " << bits << " bin " << i;
    }
    EXPECT_NEAR(mean, 0.0, 1e-12) << bits;
    EXPECT_LT(second, 1.0) << bits;
    EXPECT_GT(second, previous) << bits;
    previous = second;
    if (bits == 1) {
      EXPECT_NEAR(second, 2.0 / M_PI, 1e-15);
    }
  }
  EXPECT_GT(previous, 1.0 - 1e-4);  // 16 bits
}

TEST(Code, Crc8) {
  const char* check = "123456789";
  EXPECT_EQ(code::crc8(reinterpret_cast<const uint8_t*>(check), 9), 0xF4);  // CRC-8/SMBUS check value
  EXPECT_EQ(code::crc8(nullptr, 0), 0);
  const uint8_t with_crc[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9', 0xF4};
  EXPECT_EQ(code::crc8(with_crc, 10), 0);  // no final xor: a message followed by its CRC leaves 0
}

TEST(Code, BitsPerDim) {
  EXPECT_EQ(code::bits_per_dim(24, 24, 10, true, false), 6);  // floor((192 - 32 - 4) / 24)
  EXPECT_EQ(code::bits_per_dim(24, 24, 10, true, true), 6);   // floor((192 - 40 - 4) / 24)
  EXPECT_EQ(code::bits_per_dim(32, 24, 10, true, true), 8);   // floor((256 - 40 - 4) / 24)
  EXPECT_EQ(code::bits_per_dim(16, 100, 0, false, false), 0);  // 96 bits for 100 dimensions
  EXPECT_EQ(code::bits_per_dim(17, 100, 0, false, false), 1);
  EXPECT_EQ(code::bits_per_dim(48, 1, 0, false, true), 16);  // clamped
  EXPECT_EQ(code::bits_per_dim(SIZE_MAX, 1 << 30, 0, false, false), 16);
  EXPECT_EQ(code::bits_per_dim(8, 4, 1, true, false), 8);  // one class: 0 label bits
  EXPECT_EQ(code::bits_per_dim(8, 4, 2, true, false), 7);  // (32 - 1) / 4
  EXPECT_EQ(code::bits_per_dim(8, 4, 1000, true, false), 5);  // 10 label bits
  EXPECT_EQ(code::bits_per_dim(3, 1, 0, false, false), 0);
  EXPECT_EQ(code::bits_per_dim(100, 0, 0, false, false), 0);
  EXPECT_EQ(code::bits_per_dim(100, 4, 0, true, false), 0);  // a label needs classes
}

TEST(Code, AspectField) {
  EXPECT_EQ(code::aspect_of(64, 64), 0);
  EXPECT_EQ(code::aspect_of(2, 1), 4096);
  EXPECT_EQ(code::aspect_of(1, 2), -4096);
  EXPECT_EQ(code::aspect_of(1920, 1080), 3400);  // round(4096 log2(16 / 9)) = round(3399.97)
  EXPECT_EQ(code::aspect_of(100000, 1), 32767);  // past 256:1, clamped
  EXPECT_EQ(code::aspect_of(1, 100000), -32767);
  EXPECT_EQ(code::aspect_of(8193, 8192), 1);     // 1 + 1/8192: log2 = 1.76e-4, 0.72 steps
  EXPECT_EQ(code::aspect_of(16385, 16384), 0);   // within half a step of square: no field
  EXPECT_EQ(status_of([] { code::aspect_of(0, 5); }), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(status_of([] { code::aspect_of(5, -1); }), LKRT_ERR_ARGUMENT);
  EXPECT_DOUBLE_EQ(code::aspect_ratio(0), 1.0);
  EXPECT_DOUBLE_EQ(code::aspect_ratio(4096), 2.0);
  EXPECT_DOUBLE_EQ(code::aspect_ratio(-8192), 0.25);
  // Pixel-exact: every width up to 5,900 comes back from the height and the field, at
  // every height from 1 to the width and beyond (portrait).
  int checked = 0;
  for (int w = 1; w <= 5900; w += (w < 200 ? 1 : 37))
    for (int h : {1, 2, 3, 7, 9, 10, 16, 100, 333, 480, 1080, 1234, 4000, 5899}) {
      if (code::aspect_of(w, h) == 32767 || code::aspect_of(w, h) == -32767) continue;
      const double ratio = code::aspect_ratio(code::aspect_of(w, h));
      ASSERT_EQ(std::lround(h * ratio), w) << w << "x" << h;
      if (h <= 5900) {
        ASSERT_EQ(std::lround(w / ratio), h) << w << "x" << h;
      }
      ++checked;
    }
  EXPECT_GT(checked, 4000);
}

TEST(Code, AspectRoundTripAndLayout) {
  // Version 1, flags label + aspect (5); tag 3fa1; aspect -1234 = 0xfb2e; label 7 in 4 bits;
  // indices 1, 2, 30, 31 in 5 bits as in HandAssembledCode: 70 8b df; CRC over the rest.
  std::vector<uint8_t> bytes = {0x15, 0x3f, 0xa1, 0xfb, 0x2e, 0x70, 0x8b, 0xdf, 0x00};
  fix_crc(bytes);
  const code::Code c = code::unpack(bytes.data(), bytes.size(), 4, 10);
  EXPECT_EQ(c.aspect, -1234);
  EXPECT_EQ(c.mean, -1);
  EXPECT_EQ(c.label, 7);
  EXPECT_EQ(c.bits, 5);  // floor((72 - 8 * (3 + 2 + 1) - 4) / 4)
  EXPECT_EQ(c.indices, (std::vector<uint32_t>{1, 2, 30, 31}));
  EXPECT_EQ(code::pack(code::latent(c), 7, -1, 0x3fa1, 10, 9, -1234), bytes);
  EXPECT_EQ(bytes.back(), 0xF4);
  EXPECT_EQ(code::to_text(bytes), "FT-h-y5wi9_0");  // docs/file-format.md's second example
  // With the mean too: the mean byte first, then the field.
  const std::vector<float> z = {0.1f, -1.5f, 2.5f, 0.7f};
  const std::vector<uint8_t> both = code::pack(z, -1, 200, 0x0102, 0, 12, 3400);
  EXPECT_EQ(both[0], 0x16);
  EXPECT_EQ(both[3], 200);
  EXPECT_EQ(both[4], 0x0d);  // 3400 = 0x0d48
  EXPECT_EQ(both[5], 0x48);
  const code::Code d = code::unpack(both.data(), both.size(), 4, 0);
  EXPECT_EQ(d.mean, 200);
  EXPECT_EQ(d.aspect, 3400);
  EXPECT_EQ(d.bits, 10);  // header 3 + mean 1 + aspect 2 + CRC 1 = 7 bytes: (96 - 56) / 4
  // The field costs 2 bytes of the budget: 24-dim cGAN codes at 24 bytes drop from 6 to 5 bits.
  EXPECT_EQ(code::bits_per_dim(24, 24, 10, true, false, true), 5);  // floor((192 - 48 - 4) / 24)
  EXPECT_EQ(code::bits_per_dim(24, 32, 0, false, false, true), 4);  // emoji-vae32: floor((192 - 48) / 32)
  EXPECT_EQ(code::bits_per_dim(24, 32, 0, false, false, false), 5);
  // Square images carry no field, so their codes are byte for byte what they were.
  EXPECT_EQ(code::pack(z, -1, 200, 0x0102, 0, 12, 0), code::pack(z, -1, 200, 0x0102, 0, 12));
  EXPECT_EQ(code::pack(z, -1, 200, 0x0102, 0, 12, 0)[0] & 0x4, 0);
  std::string message;
  EXPECT_EQ(status_of([&] { code::pack(z, -1, -1, 0, 0, 12, 32768); }, &message), LKRT_ERR_ARGUMENT);
  EXPECT_NE(message.find("aspect 32768"), std::string::npos) << message;
  EXPECT_EQ(status_of([&] { code::pack(z, -1, -1, 0, 0, 12, -32768); }), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(status_of([&] { code::pack(z, -1, -1, 0, 0, 6, 100); }, &message), LKRT_ERR_ARGUMENT);
  EXPECT_NE(message.find("at least 7"), std::string::npos) << message;  // 3 + 2 + 1 + 1
  for (int32_t a : {1, -1, 32767, -32767, 4096}) {
    const std::vector<uint8_t> b = code::pack(z, -1, -1, 0, 0, 12, a);
    EXPECT_EQ(code::unpack(b.data(), b.size(), 4, 0).aspect, a);
  }
  // A field of 0 (square is written as no field) or -32768 is refused: one text per code.
  for (uint16_t raw : {uint16_t(0x0000), uint16_t(0x8000)}) {
    std::vector<uint8_t> b = code::pack(z, -1, -1, 0, 0, 12, 5);
    b[3] = uint8_t(raw >> 8);
    b[4] = uint8_t(raw);
    fix_crc(b);
    EXPECT_EQ(status_of([&] { code::unpack(b.data(), b.size(), 4, 0); }, &message), LKRT_ERR_FORMAT);
    EXPECT_NE(message.find("aspect field"), std::string::npos) << message;
  }
}

TEST(Code, CodesWithoutAspectStillDecode) {
  // A code written before the aspect field existed (the hand-assembled one) parses as it
  // did, with no aspect; and codes from this runtime decode to the same image with or
  // without a field: the field says how to show the image, not what it is.
  const std::vector<uint8_t> old = {0x13, 0x3f, 0xa1, 0x80, 0x70, 0x8b, 0xdf, 0x75};
  EXPECT_EQ(code::unpack(old.data(), old.size(), 4, 10).aspect, 0);
  const std::string bytes = small_model(0, "0a0b");
  lkrt::Model model(bytes.data(), bytes.size());
  const std::vector<float> z = ref::random_values(6, 1.0f, 31);
  // At 20 bytes both reach 16 bits per dimension (floor(120 / 6), floor(104 / 6), capped),
  // so the latents are equal.
  const std::vector<uint8_t> plain = code::pack(z, -1, 100, 0x0a0b, 0, 20);
  const std::vector<uint8_t> wide = code::pack(z, -1, 100, 0x0a0b, 0, 20, code::aspect_of(640, 360));
  ASSERT_EQ(code::unpack(plain.data(), plain.size(), 6, 0).bits, 16);
  ASSERT_EQ(code::unpack(wide.data(), wide.size(), 6, 0).bits, 16);
  EXPECT_EQ(model.decode_code(plain), model.decode_code(wide));
  const std::string text = code::to_text(wide);
  std::vector<float> out(32);
  EXPECT_EQ(lkrt_decode_code_text(model.get(), text.c_str(), out.data()), LKRT_OK) << lkrt_last_error();
  EXPECT_EQ(out, model.decode_code(plain));
}

TEST(Code, ModelTag) {
  EXPECT_EQ(code::model_tag("9c02b1e0aa55c3d7"), 0x9c02);
  EXPECT_EQ(code::model_tag("3FA1B2C3D4E5F607"), 0x3fa1);
  EXPECT_EQ(code::model_tag("0001"), 0x0001);
  EXPECT_EQ(code::model_tag(""), 0);
  EXPECT_EQ(code::model_tag("abc"), 0);
  EXPECT_EQ(code::model_tag("dcgan-fashion-mnist"), 0);
  EXPECT_EQ(code::model_tag("face-model"), 0);  // hex letters first, but not a hex id
}

TEST(Code, HandAssembledCode) {
  // Version 1, flags label + mean; tag 3fa1; mean 128; label 7 in 4 bits (10 classes);
  // indices 1, 2, 30, 31 in 5 bits: 0111 00001 00010 11110 11111 = 70 8b df; CRC 75.
  const std::vector<uint8_t> bytes = {0x13, 0x3f, 0xa1, 0x80, 0x70, 0x8b, 0xdf, 0x75};
  const code::Code c = code::unpack(bytes.data(), bytes.size(), 4, 10);
  EXPECT_EQ(c.model_tag, 0x3fa1);
  EXPECT_EQ(c.mean, 128);
  EXPECT_EQ(c.label, 7);
  EXPECT_EQ(c.bits, 5);
  EXPECT_EQ(c.indices, (std::vector<uint32_t>{1, 2, 30, 31}));
  EXPECT_EQ(code::pack(code::latent(c), 7, 128, 0x3fa1, 10, 8), bytes);
  EXPECT_EQ(code::to_text(bytes), "Ez-hgHCL33U");
  EXPECT_EQ(code::from_text("Ez-hgHCL33U"), bytes);
}

TEST(Code, PackUnpackRoundTrip) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int latents[] = {1, 3, 8, 24, 100};
  const int classes[] = {0, 1, 2, 10, 1000};
  const size_t sizes[] = {4, 5, 9, 16, 17, 24, 32, 48, 64};
  int bits_seen[17] = {0}, too_small = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int latent_dim = latents[rng() % 5], num_classes = classes[rng() % 5];
    const size_t size = sizes[rng() % 9];
    const int32_t label = num_classes ? int32_t(rng() % num_classes) : -1;
    const int32_t mean = rng() % 3 ? int32_t(rng() % 256) : -1;
    const uint16_t tag = uint16_t(rng());
    std::vector<float> z(static_cast<size_t>(latent_dim));
    for (float& v : z) v = trial % 7 ? normal(rng) : 8.0f * normal(rng);  // some far in the tails
    const int bits = code::bits_per_dim(size, latent_dim, num_classes, num_classes > 0, mean >= 0);
    if (bits == 0) {
      std::string message;
      ASSERT_EQ(status_of([&] { code::pack(z, label, mean, tag, num_classes, size); }, &message), LKRT_ERR_ARGUMENT);
      ASSERT_NE(message.find("too few"), std::string::npos) << message;
      ++too_small;
      continue;
    }
    const std::vector<uint8_t> bytes = code::pack(z, label, mean, tag, num_classes, size);
    ASSERT_EQ(bytes.size(), size);
    const code::Code c = code::unpack(bytes.data(), bytes.size(), latent_dim, num_classes);
    ASSERT_EQ(c.model_tag, tag);
    ASSERT_EQ(c.label, label);
    ASSERT_EQ(c.mean, mean);
    ASSERT_EQ(c.bits, bits);
    ASSERT_EQ(c.indices.size(), z.size());
    for (size_t i = 0; i < z.size(); ++i) ASSERT_EQ(c.indices[i], code::quantise(z[i], bits)) << "trial " << trial;
    const std::vector<float> back = code::latent(c);
    for (size_t i = 0; i < z.size(); ++i) ASSERT_EQ(back[i], float(code::dequantise(c.indices[i], bits)));
    ASSERT_EQ(code::from_text(code::to_text(bytes)), bytes);
    ++bits_seen[bits];
  }
  EXPECT_GT(bits_seen[1], 0);
  EXPECT_GT(bits_seen[16], 0);
  EXPECT_GT(too_small, 0);
}

TEST(Code, PackRejectsBadArguments) {
  const std::vector<float> z(24, 0.5f);
  std::string message;
  auto pack_status = [&](const std::vector<float>& zz, int32_t label, int32_t mean, int classes, size_t size) {
    return status_of([&] { code::pack(zz, label, mean, 0x1234, classes, size); }, &message);
  };
  EXPECT_EQ(pack_status(z, 3, -1, 10, 24), LKRT_OK);
  EXPECT_EQ(pack_status(z, 3, -1, 10, 7), LKRT_ERR_ARGUMENT);
  EXPECT_NE(message.find("at least 8"), std::string::npos) << message;  // 4 + ceil((4 + 24) / 8)
  EXPECT_EQ(pack_status(z, 10, -1, 10, 24), LKRT_ERR_ARGUMENT);
  EXPECT_NE(message.find("label 10 out of range"), std::string::npos) << message;
  EXPECT_EQ(pack_status(z, -1, -1, 10, 24), LKRT_ERR_ARGUMENT);  // a conditional model needs its label
  EXPECT_EQ(pack_status(z, 0, -1, 0, 24), LKRT_ERR_ARGUMENT);
  EXPECT_NE(message.find("unconditional"), std::string::npos) << message;
  EXPECT_EQ(pack_status(z, -1, 256, 0, 24), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(pack_status(z, -1, -2, 0, 24), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(pack_status({}, -1, -1, 0, 24), LKRT_ERR_ARGUMENT);
  std::vector<float> bad = z;
  bad[5] = NAN;
  EXPECT_EQ(pack_status(bad, -1, -1, 0, 24), LKRT_ERR_ARGUMENT);
  EXPECT_NE(message.find("z[5]"), std::string::npos) << message;
  bad[5] = INFINITY;
  EXPECT_EQ(pack_status(bad, -1, -1, 0, 24), LKRT_ERR_ARGUMENT);
}

TEST(Code, UnpackRejectsMalformedCodes) {
  // latent 3, 10 classes, mean, 8 bytes: 4 label bits, 6 bits per dimension, 2 padding bits.
  const std::vector<float> z = {0.1f, -1.5f, 2.5f};
  const std::vector<uint8_t> good = code::pack(z, 7, 128, 0x3fa1, 10, 8);
  struct Case {
    const char* name;
    void (*patch)(std::vector<uint8_t>&);
    const char* message;
  };
  const Case cases[] = {
      {"empty", [](std::vector<uint8_t>& b) { b.clear(); }, "empty"},
      {"3 bytes", [](std::vector<uint8_t>& b) { b.resize(3); }, "truncated: 3 bytes"},
      {"version 2", [](std::vector<uint8_t>& b) { b[0] = 0x23; fix_crc(b); }, "version 2"},
      {"version 0", [](std::vector<uint8_t>& b) { b[0] = 0x03; fix_crc(b); }, "version 0"},
      {"reserved flag", [](std::vector<uint8_t>& b) { b[0] |= 0x8; fix_crc(b); }, "reserved flag"},
      {"checksum", [](std::vector<uint8_t>& b) { b.back() ^= 1; }, "checksum mismatch"},
      {"body", [](std::vector<uint8_t>& b) { b[5] ^= 0x10; }, "checksum mismatch"},
      {"label 12", [](std::vector<uint8_t>& b) { b[4] = uint8_t((b[4] & 0x0f) | 0xc0); fix_crc(b); }, "label 12"},
      {"padding", [](std::vector<uint8_t>& b) { b[b.size() - 2] |= 1; fix_crc(b); }, "padding"},
      {"no label flag", [](std::vector<uint8_t>& b) { b[0] &= ~1; fix_crc(b); }, "no class label"},
      {"too short for the model", [](std::vector<uint8_t>& b) { b.resize(5); fix_crc(b); }, "at least 6"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> b = good;
    c.patch(b);
    std::string message;
    EXPECT_EQ(status_of([&] { code::unpack(b.data(), b.size(), 3, 10); }, &message), LKRT_ERR_FORMAT) << c.name;
    EXPECT_NE(message.find(c.message), std::string::npos) << c.name << ": " << message;
    EXPECT_EQ(message.rfind("placeholder code", 0), 0u) << message;
  }
  std::string message;
  EXPECT_EQ(status_of([&] { code::unpack(good.data(), good.size(), 3, 0); }, &message), LKRT_ERR_FORMAT);
  EXPECT_NE(message.find("unconditional"), std::string::npos) << message;
  EXPECT_EQ(status_of([&] { code::unpack(good.data(), good.size(), 0, 10); }), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(status_of([&] { code::unpack(nullptr, 4, 3, 10); }), LKRT_ERR_ARGUMENT);
  const code::Code c = code::unpack(good.data(), good.size(), 3, 10);
  EXPECT_EQ(c.bits, 6);
  EXPECT_EQ(c.label, 7);
}

TEST(Code, Base64Url) {
  auto bytes = [](const char* s) { return std::vector<uint8_t>(s, s + std::strlen(s)); };
  // RFC 4648 section 10, without the padding.
  const char* vectors[][2] = {{"", ""},          {"f", "Zg"},         {"fo", "Zm8"},        {"foo", "Zm9v"},
                              {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& v : vectors) {
    EXPECT_EQ(code::to_text(bytes(v[0])), v[1]);
    EXPECT_EQ(code::from_text(v[1]), bytes(v[0]));
  }
  EXPECT_EQ(code::to_text({0xfb, 0xff}), "-_8");  // the url-safe characters
  EXPECT_EQ(code::from_text("-_8"), (std::vector<uint8_t>{0xfb, 0xff}));
  std::mt19937 rng(3);
  for (size_t n = 0; n < 40; ++n) {
    std::vector<uint8_t> b(n);
    for (uint8_t& x : b) x = uint8_t(rng());
    const std::string text = code::to_text(b);
    EXPECT_EQ(text.size(), (n * 4 + 2) / 3);
    EXPECT_EQ(code::from_text(text), b);
  }
  for (const char* bad : {"Zm9v=", "Zm9vYg==", "Zm+v", "Zm/v", "Zm9 v", "Zm9v\n", "Z", "Zm9vY", "Zh", "Zm9"}) {
    std::string message;
    EXPECT_EQ(status_of([&] { code::from_text(bad); }, &message), LKRT_ERR_FORMAT) << bad;
    EXPECT_FALSE(message.empty());
  }
  std::string message;
  status_of([] { code::from_text(std::string("Zm\x01v", 4)); }, &message);
  EXPECT_NE(message.find("0x01 at position 2"), std::string::npos) << message;
}

TEST(Code, MeanIntensity) {
  EXPECT_EQ(code::mean_intensity({-1.0f, -1.0f}), 0);
  EXPECT_EQ(code::mean_intensity({1.0f, 1.0f}), 255);
  EXPECT_EQ(code::mean_intensity({-0.5f, 0.5f}), 128);  // 127.5 rounds up
  EXPECT_EQ(code::mean_intensity({0.2f}), 153);         // 127.5 * 1.2 = 153
  EXPECT_EQ(code::mean_intensity({-3.0f}), 0);          // clamped
  EXPECT_EQ(status_of([] { code::mean_intensity({}); }), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(status_of([] { code::mean_intensity({NAN}); }), LKRT_ERR_ARGUMENT);
}

TEST(Code, DecodeMatchesGenerate) {
  const std::string bytes = small_model(10);
  lkrt::Model model(bytes.data(), bytes.size());
  const uint16_t tag = code::model_tag(model.id());
  ASSERT_EQ(tag, 0x9c02);
  const std::vector<float> z = ref::random_values(6, 1.0f, 21);
  for (size_t size : {size_t(16), size_t(24), size_t(32)}) {
    const std::vector<uint8_t> c = code::pack(z, 3, -1, tag, 10, size);
    const std::vector<float> want = model.generate(code::latent(code::unpack(c.data(), c.size(), 6, 10)), 3);
    EXPECT_EQ(model.decode_code(c), want) << size;
    EXPECT_EQ(model.decode_code_text(code::to_text(c)), want) << size;
    std::vector<float> out(want.size());
    ASSERT_EQ(lkrt_decode_code(model.get(), c.data(), c.size(), out.data()), LKRT_OK);
    EXPECT_EQ(out, want);
  }
  // More bits, closer to the image of z itself.
  const std::vector<float> exact = model.generate(z, 3);
  double previous = INFINITY;
  for (size_t size : {size_t(8), size_t(10), size_t(16)}) {  // 4, 7 and 15 bits per dimension
    const std::vector<float> got = model.decode_code(code::pack(z, 3, -1, tag, 10, size));
    double err = 0.0;
    for (size_t i = 0; i < got.size(); ++i) err += (got[i] - exact[i]) * double(got[i] - exact[i]);
    EXPECT_LT(err, previous) << size;
    previous = err;
  }
  EXPECT_LT(previous, 1e-6);
}

TEST(Code, DecodeWithMean) {
  const std::string bytes = small_model(0, "0a0b");
  lkrt::Model model(bytes.data(), bytes.size());
  const std::vector<float> z = ref::random_values(6, 1.0f, 22);
  const std::vector<uint8_t> plain = code::pack(z, -1, -1, 0x0a0b, 0, 16);
  const std::vector<float> image = model.decode_code(plain);
  const int32_t own = code::mean_intensity(image);
  int unclamped = 0;
  for (int32_t mean : {0, own - 1, own, 255}) {  // the image spans about [-0.97, 0.99]
    const std::vector<uint8_t> c = code::pack(z, -1, mean, 0x0a0b, 0, 16);
    std::vector<float> want = model.generate(code::latent(code::unpack(c.data(), c.size(), 6, 0)));
    double sum = 0.0;
    for (float v : want) sum += v;
    const double target = mean / 127.5 - 1.0;
    const float shift = float(target - sum / want.size());
    bool clamps = false;
    for (float& v : want) {
      clamps = clamps || std::fabs(v + shift) > 1.0f;
      v = std::clamp(v + shift, -1.0f, 1.0f);
    }
    const std::vector<float> got = model.decode_code(c);
    EXPECT_EQ(got, want) << mean;
    double got_mean = 0.0;
    for (float v : got) got_mean += v / got.size();
    if (!clamps) {
      EXPECT_NEAR(got_mean, target, 1e-6) << mean;
      ++unclamped;
    } else {
      EXPECT_LT(std::fabs(got_mean - target), std::fabs(sum / want.size() - target)) << mean;  // still moves toward it
    }
  }
  EXPECT_GE(unclamped, 2);
}

TEST(Code, DecodeRefusesOtherModelsAndKinds) {
  const std::string conditional = small_model(10), unconditional = small_model(0, "");
  lkrt::Model cond(conditional.data(), conditional.size()), uncond(unconditional.data(), unconditional.size());
  const std::vector<float> z(6, 0.3f);
  std::vector<float> out(32);
  const std::vector<uint8_t> foreign = code::pack(z, 3, -1, 0x3fa1, 10, 16);
  EXPECT_EQ(lkrt_decode_code(cond.get(), foreign.data(), foreign.size(), out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_STREQ(lkrt_last_error(),
               "placeholder code is for model tag 3fa1, this model's is 9c02 (decode it with the model that encoded it)");
  try {
    cond.decode_code(foreign);
    FAIL() << "decoded a code of another model";
  } catch (const lkrt::Error& e) {
    EXPECT_EQ(e.status(), LKRT_ERR_ARGUMENT);
  }
  // Tag 0 (empty id), but a label for an unconditional model.
  const std::vector<uint8_t> with_label = code::pack(z, 3, -1, 0, 10, 16);
  EXPECT_EQ(lkrt_decode_code(uncond.get(), with_label.data(), with_label.size(), out.data()), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("unconditional")) << lkrt_last_error();
  const std::vector<uint8_t> without_label = code::pack(z, -1, -1, 0x9c02, 0, 16);
  EXPECT_EQ(lkrt_decode_code(cond.get(), without_label.data(), without_label.size(), out.data()), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("no class label")) << lkrt_last_error();

  EXPECT_EQ(lkrt_decode_code(nullptr, foreign.data(), foreign.size(), out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_decode_code(cond.get(), nullptr, 16, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_decode_code(cond.get(), foreign.data(), foreign.size(), nullptr), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_decode_code_text(cond.get(), nullptr, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_decode_code_text(cond.get(), "", out.data()), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("empty")) << lkrt_last_error();
  EXPECT_EQ(lkrt_decode_code_text(cond.get(), "Ez-hgHCL3*U", out.data()), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("'*' at position 9")) << lkrt_last_error();
}

TEST(Code, EveryByteCorruptionAndTruncation) {
  const std::string conditional = small_model(10), unconditional = small_model(0, "");
  lkrt_model* cond = ref::load_or_fail(conditional);
  lkrt_model* uncond = ref::load_or_fail(unconditional);
  ASSERT_TRUE(cond && uncond);
  const std::vector<float> z = ref::random_values(6, 1.0f, 23);
  struct Valid {
    lkrt_model* model;
    std::vector<uint8_t> bytes;
  };
  const Valid valid[] = {
      {cond, code::pack(z, 9, 77, 0x9c02, 10, 16)}, {cond, code::pack(z, 0, -1, 0x9c02, 10, 11)},
      {uncond, code::pack(z, -1, -1, 0, 0, 24)},    {uncond, code::pack(z, -1, 3, 0, 0, 9)},
      {uncond, code::pack(z, -1, -1, 0, 0, 48)},    {uncond, code::pack(z, -1, -1, 0, 0, 24, code::aspect_of(1920, 1080))},
      {cond, code::pack(z, 4, 90, 0x9c02, 10, 16, code::aspect_of(3, 4))},
  };
  int decoded_after_fix = 0, refused_after_fix = 0;
  for (const Valid& v : valid) {
    ASSERT_EQ(decode_status(v.model, v.bytes), LKRT_OK) << lkrt_last_error();
    for (size_t pos = 0; pos < v.bytes.size(); ++pos)
      for (uint8_t x : {0x01, 0x02, 0x10, 0x80, 0x0f, 0xf0, 0x5a, 0xff}) {
        std::vector<uint8_t> b = v.bytes;
        b[pos] ^= x;
        // A CRC-8 catches every error burst of up to 8 bits, so every single-byte change.
        lkrt_status s = decode_status(v.model, b);
        ASSERT_TRUE(s == LKRT_ERR_FORMAT || s == LKRT_ERR_ARGUMENT) << "byte " << pos << " ^ " << int(x);
        if (pos + 1 == b.size()) continue;
        fix_crc(b);  // past the CRC, the other checks must hold on their own
        s = decode_status(v.model, b);
        ASSERT_TRUE(s == LKRT_OK || s == LKRT_ERR_FORMAT || s == LKRT_ERR_ARGUMENT) << "byte " << pos << ": " << s;
        (s == LKRT_OK ? decoded_after_fix : refused_after_fix)++;
      }
    for (size_t n = 0; n < v.bytes.size(); ++n) {
      const std::vector<uint8_t> cut(v.bytes.begin(), v.bytes.begin() + n);
      ASSERT_NE(decode_status(v.model, cut), LKRT_OK) << "cut to " << n << " bytes";
    }
  }
  EXPECT_GT(decoded_after_fix, 0);  // changed indices are valid codes
  EXPECT_GT(refused_after_fix, 0);
  lkrt_model_free(cond);
  lkrt_model_free(uncond);
}

}  // namespace
