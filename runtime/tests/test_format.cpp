// The .lkm writer -> loader round trip, and the loader against broken and hostile files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>

#include "format.h"
#include "reference.h"

namespace {

using ref::put_u32;
using ref::put_u64;
using ref::get_u32;
using ref::get_u64;

namespace f = lkrt::format;


// A small conditional model using every kind of tensor: embedding, int8 and fp32 weights, biases.
std::string small_model(lkrt_weight_type type = LKRT_WEIGHT_INT8) {
  std::vector<float> table = ref::random_values(3 * 4, 1.0f, 1);
  std::vector<float> w1 = ref::random_values(9 * 8 * 16, 0.2f, 2), b1 = ref::random_values(8, 0.1f, 3);
  std::vector<float> w2 = ref::random_values(8 * 2 * 9, 0.2f, 4);
  lkrt::ModelWriter w;
  w.set_info({"small", 5, 2, 8, 8});
  w.add_input(table.data(), 3, 4);
  w.add_conv_transpose2d(w1.data(), 9, 8, 4, 1, 0, b1.data(), type);
  w.add_activation(lkrt::Activation::kLeakyRelu, 0.1f);
  w.add_upsample_nearest(2);
  w.add_conv2d(w2.data(), 2, 8, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32);
  w.add_activation(lkrt::Activation::kTanh);
  return w.serialize();
}

void fix_crc(std::string& b) {
  put_u32(b, f::kHCrc, f::file_crc(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}
size_t op_record(const std::string& b, uint32_t i) { return get_u64(b, f::kHOpTableOffset) + f::kOpRecordSize * size_t(i); }
size_t tensor_record(const std::string& b, uint32_t i) { return get_u64(b, f::kHTensorTableOffset) + 64 * size_t(i); }

lkrt_status load_status(const std::string& b, uint32_t flags = 0) {
  lkrt_model* m = nullptr;
  lkrt_status s = lkrt_model_load_memory_ex(b.data(), b.size(), flags, &m);
  EXPECT_EQ(m == nullptr, s != LKRT_OK);
  if (m) {
    std::vector<float> z(size_t(lkrt_model_latent_dim(m)), 0.5f);
    std::vector<float> out(size_t(lkrt_model_channels(m)) * lkrt_model_height(m) * lkrt_model_width(m));
    int32_t label = lkrt_model_num_classes(m) ? 0 : -1;
    EXPECT_EQ(lkrt_generate(m, z.data(), label, out.data()), LKRT_OK);
  }
  lkrt_model_free(m);
  return s;
}

bool error_mentions(const char* what) { return std::strstr(lkrt_last_error(), what) != nullptr; }

TEST(Format, RoundTripKeepsTheHeader) {
  std::string bytes = small_model();
  EXPECT_EQ(bytes.size() % 64, 0u);
  EXPECT_EQ(0, std::memcmp(bytes.data(), f::kMagic, 8));
  lkrt_model* m = ref::load_or_fail(bytes);
  ASSERT_NE(m, nullptr);
  EXPECT_STREQ(lkrt_model_id(m), "small");
  EXPECT_EQ(lkrt_model_latent_dim(m), 5);
  EXPECT_EQ(lkrt_model_num_classes(m), 3);
  EXPECT_EQ(lkrt_model_embed_dim(m), 4);
  EXPECT_EQ(lkrt_model_channels(m), 2);
  EXPECT_EQ(lkrt_model_height(m), 8);
  EXPECT_EQ(lkrt_model_width(m), 8);
  EXPECT_EQ(lkrt_model_weight_type(m), LKRT_WEIGHT_MIXED);
  EXPECT_EQ(lkrt_model_op_count(m), 6);
  EXPECT_EQ(lkrt_model_param_count(m), uint64_t(12 + 9 * 8 * 16 + 8 + 8 * 2 * 9));
  EXPECT_NE(std::string(lkrt_model_op_text(m, 1)).find("conv_transpose2d 9->8 k4 s1 p0 int8 -> [8,4,4]"),
            std::string::npos)
      << lkrt_model_op_text(m, 1);
  EXPECT_EQ(lkrt_model_op_text(m, 6), nullptr);
  EXPECT_EQ(lkrt_model_op_text(m, -1), nullptr);
  lkrt_model_free(m);

  // Every tensor's data is 64-byte aligned in the file; the writer is deterministic.
  for (uint32_t i = 0; i < get_u32(bytes, f::kHTensorCount); ++i)
    EXPECT_EQ(get_u64(bytes, tensor_record(bytes, i) + f::kTOffset) % 64, 0u);
  EXPECT_EQ(bytes, small_model());
}

TEST(Format, WeightTypeInHeader) {
  for (lkrt_weight_type t : {LKRT_WEIGHT_FP32, LKRT_WEIGHT_FP16, LKRT_WEIGHT_INT8}) {
    std::vector<float> w1 = ref::random_values(3 * 2 * 4, 0.2f, 2);
    lkrt::ModelWriter w;
    w.set_info({"t", 3, 2, 2, 2});
    w.add_input();
    w.add_conv_transpose2d(w1.data(), 3, 2, 2, 1, 0, nullptr, t);
    lkrt_model* m = ref::load_or_fail(w.serialize());
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(uint32_t(lkrt_model_weight_type(m)), uint32_t(t));
    lkrt_model_free(m);
  }
}

TEST(Format, WriterFileRoundTrip) {
  std::vector<float> w1 = ref::random_values(3 * 2 * 4, 0.2f, 2);
  lkrt::ModelWriter w;
  w.set_info({"file \xc3\xa9t\xc3\xa9", 3, 2, 2, 2});  // UTF-8 id
  w.add_input();
  w.add_conv_transpose2d(w1.data(), 3, 2, 2, 1, 0, nullptr, LKRT_WEIGHT_FP32);
  std::string path = ::testing::TempDir() + "lkrt_roundtrip.lkm";
  w.write(path);
  lkrt::Model model(path);
  EXPECT_EQ(model.id(), "file \xc3\xa9t\xc3\xa9");
  std::vector<float> out = model.generate({1.0f, 2.0f, 3.0f});
  EXPECT_EQ(out.size(), 8u);
  std::remove(path.c_str());
}

TEST(Format, WriterRejectsBadArguments) {
  lkrt::ModelWriter w;
  EXPECT_THROW(w.set_info({std::string(65, 'x'), 3, 1, 1, 1}), std::invalid_argument);
  EXPECT_THROW(w.set_info({"x", -1, 1, 1, 1}), std::invalid_argument);
  EXPECT_THROW(w.add_gemm(nullptr, 1, 1, nullptr, LKRT_WEIGHT_FP32), std::invalid_argument);  // and no input yet
  w.add_input();
  EXPECT_THROW(w.add_gemm(nullptr, 1, 1, nullptr, LKRT_WEIGHT_FP32), std::invalid_argument);
  float one = 1.0f;
  EXPECT_THROW(w.add_conv2d(&one, 1, 1, 1, 0, 0, nullptr, LKRT_WEIGHT_FP32), std::invalid_argument);
  EXPECT_THROW(w.add_upsample_nearest(0), std::invalid_argument);
  EXPECT_THROW(w.add_reshape(0, 1, 1), std::invalid_argument);
}

TEST(Format, WriterChecksThatTheModelLoads) {
  std::vector<float> c = ref::random_values(4 * 3 * 9, 0.2f, 1);
  lkrt::ModelWriter w;
  w.set_info({"mismatch", 5, 4, 1, 1});
  w.add_input();
  w.add_reshape(5, 1, 1);
  w.add_conv2d(c.data(), 4, 3, 3, 1, 1, nullptr, LKRT_WEIGHT_FP32);  // 3 input channels, 5 given
  try {
    w.serialize();
    FAIL() << "serialize() accepted a conv with the wrong input channels";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("3 input channels"), std::string::npos) << e.what();
  }
  std::string bytes = w.serialize_unchecked();
  EXPECT_EQ(load_status(bytes), LKRT_ERR_FORMAT);

  lkrt::ModelWriter shape;
  shape.set_info({"shape", 4, 1, 2, 2});  // the ops give [4,1,1]
  shape.add_input();
  EXPECT_EQ(load_status(shape.serialize_unchecked()), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("header says [1,2,2]")) << lkrt_last_error();

  lkrt::ModelWriter no_input;  // the writer needs an input before the first op
  no_input.set_info({"no-input", 4, 4, 1, 1});
  EXPECT_THROW(no_input.add_activation(lkrt::Activation::kRelu), std::invalid_argument);

  lkrt::ModelWriter gemm_map;  // gemm on a [C,H,W] map needs an explicit flatten
  std::vector<float> g(4 * 4, 0.1f);
  gemm_map.set_info({"gemm-map", 4, 4, 1, 1});
  gemm_map.add_input();
  gemm_map.add_reshape(1, 2, 2);
  gemm_map.add_gemm(g.data(), 4, 4, nullptr, LKRT_WEIGHT_FP32);
  EXPECT_EQ(load_status(gemm_map.serialize_unchecked()), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("reshape")) << lkrt_last_error();
}

TEST(Format, TruncatedAtEveryLength) {
  std::string bytes = small_model();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string cut = bytes.substr(0, n);
    ASSERT_EQ(load_status(cut), LKRT_ERR_FORMAT) << "length " << n;
    ASSERT_EQ(load_status(cut, LKRT_LOAD_SKIP_CHECKSUM), LKRT_ERR_FORMAT) << "length " << n;
  }
  EXPECT_EQ(load_status(bytes + std::string(64, '\0')), LKRT_ERR_FORMAT);
  EXPECT_EQ(lkrt_model_load_memory(nullptr, 0, nullptr), LKRT_ERR_ARGUMENT);
  lkrt_model* m = nullptr;
  EXPECT_EQ(lkrt_model_load_memory(nullptr, 0, &m), LKRT_ERR_FORMAT);
}

TEST(Format, RandomByteFlips) {
  const std::string bytes = small_model();
  std::mt19937 rng(7);
  int loaded_without_checksum = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string b = bytes;
    int flips = 1 + int(rng() % 3);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= char(1 + rng() % 255);
    if (b == bytes) continue;
    // The CRC catches every change; without it the validators must hold on their own.
    ASSERT_NE(load_status(b), LKRT_OK) << "trial " << trial;
    lkrt_status s = load_status(b, LKRT_LOAD_SKIP_CHECKSUM);
    ASSERT_TRUE(s == LKRT_OK || s == LKRT_ERR_FORMAT || s == LKRT_ERR_VERSION || s == LKRT_ERR_UNSUPPORTED)
        << "trial " << trial << ": " << s;
    loaded_without_checksum += s == LKRT_OK;
  }
  EXPECT_GT(loaded_without_checksum, 0);  // flips in weights are legitimate files
}

TEST(Format, HostileHeaders) {
  const std::string good = small_model();
  struct Case {
    const char* name;
    void (*patch)(std::string&);
    lkrt_status want;
    const char* message;
  };
  const Case cases[] = {
      {"magic", [](std::string& b) { b[1] = 'X'; }, LKRT_ERR_FORMAT, "magic"},
      {"version", [](std::string& b) { put_u32(b, f::kHVersion, 6); }, LKRT_ERR_VERSION, "version 6"},
      {"header size", [](std::string& b) { put_u32(b, f::kHHeaderSize, 1 << 30); }, LKRT_ERR_FORMAT, "header size"},
      {"file size", [](std::string& b) { put_u64(b, f::kHFileSize, ~0ull); }, LKRT_ERR_FORMAT, "file size"},
      {"op count", [](std::string& b) { put_u32(b, f::kHOpCount, 0xFFFFFFFFu); }, LKRT_ERR_FORMAT, "op count"},
      {"zero ops", [](std::string& b) { put_u32(b, f::kHOpCount, 0); }, LKRT_ERR_FORMAT, "op count"},
      {"tensor count", [](std::string& b) { put_u32(b, f::kHTensorCount, 0xFFFFFFFFu); }, LKRT_ERR_FORMAT, "tensor count"},
      {"tensor count just above", [](std::string& b) { put_u32(b, f::kHTensorCount, get_u32(b, f::kHTensorCount) + 1); },
       LKRT_ERR_FORMAT, ""},
      {"op table offset", [](std::string& b) { put_u64(b, f::kHOpTableOffset, ~0ull - 10); }, LKRT_ERR_FORMAT, "op table"},
      {"tensor table offset", [](std::string& b) { put_u64(b, f::kHTensorTableOffset, ~0ull - 63); }, LKRT_ERR_FORMAT,
       "tensor table"},
      {"tables overlap", [](std::string& b) { put_u64(b, f::kHTensorTableOffset, get_u64(b, f::kHOpTableOffset)); },
       LKRT_ERR_FORMAT, ""},
      {"model id length", [](std::string& b) { put_u32(b, f::kHModelIdLength, 65); }, LKRT_ERR_FORMAT, "model id"},
      {"latent dim", [](std::string& b) { put_u32(b, f::kHLatentDim, 0xFFFFFFFFu); }, LKRT_ERR_FORMAT, "latent_dim"},
      {"image shape", [](std::string& b) { put_u32(b, f::kHHeight, 0x10000); put_u32(b, f::kHWidth, 0x10000); },
       LKRT_ERR_FORMAT, "image shape"},
      {"classes", [](std::string& b) { put_u32(b, f::kHNumClasses, 1000); }, LKRT_ERR_FORMAT, "embedding table"},
      {"tensor offset past end",
       [](std::string& b) { put_u64(b, tensor_record(b, 1) + f::kTOffset, b.size() - 64); }, LKRT_ERR_FORMAT,
       "tensor 1: offset"},
      {"tensor offset overflow",
       [](std::string& b) { put_u64(b, tensor_record(b, 1) + f::kTOffset, ~0ull - 63); }, LKRT_ERR_FORMAT, "tensor 1"},
      {"tensor offset unaligned", [](std::string& b) { put_u64(b, tensor_record(b, 1) + f::kTOffset, 300); },
       LKRT_ERR_FORMAT, "multiple of 64"},
      {"tensor into the tables", [](std::string& b) { put_u64(b, tensor_record(b, 0) + f::kTOffset, 256); },
       LKRT_ERR_FORMAT, "outside the data section"},
      {"shape overflow",
       [](std::string& b) {
         size_t r = tensor_record(b, 1);
         put_u32(b, r + f::kTRank, 4);
         for (int d = 0; d < 4; ++d) put_u32(b, r + f::kTDims + 4 * d, 0xFFFFFFFFu);
       },
       LKRT_ERR_FORMAT, "overflows"},
      {"shape product wraps to the byte length",
       [](std::string& b) {
         size_t r = tensor_record(b, 1);  // 2^32 * 2^32 * ... would wrap a 64-bit product to 0
         put_u32(b, r + f::kTRank, 4);
         put_u32(b, r + f::kTDims, 0x10000);
         put_u32(b, r + f::kTDims + 4, 0x10000);
         put_u32(b, r + f::kTDims + 8, 0x10000);
         put_u32(b, r + f::kTDims + 12, 0x10000);
       },
       LKRT_ERR_FORMAT, "overflows"},
      {"byte length", [](std::string& b) { put_u64(b, tensor_record(b, 1) + f::kTByteLength, 1); }, LKRT_ERR_FORMAT,
       "byte length"},
      {"zero dim", [](std::string& b) { put_u32(b, tensor_record(b, 1) + f::kTDims, 0); }, LKRT_ERR_FORMAT, "is 0"},
      {"rank", [](std::string& b) { put_u32(b, tensor_record(b, 1) + f::kTRank, 9); }, LKRT_ERR_FORMAT, "rank"},
      {"dtype", [](std::string& b) { put_u32(b, tensor_record(b, 1) + f::kTDType, 7); }, LKRT_ERR_UNSUPPORTED, "dtype"},
      {"scale axis", [](std::string& b) { put_u32(b, tensor_record(b, 1) + f::kTQuantAxis, 4); }, LKRT_ERR_FORMAT,
       "scale axis"},
      {"scale offset", [](std::string& b) { put_u64(b, tensor_record(b, 1) + f::kTScaleOffset, b.size()); },
       LKRT_ERR_FORMAT, "scales"},
      {"nan scale",
       [](std::string& b) { f::write_f32(reinterpret_cast<uint8_t*>(&b[get_u64(b, tensor_record(b, 1) + f::kTScaleOffset)]), NAN); },
       LKRT_ERR_FORMAT, "scale 0"},
      {"op type", [](std::string& b) { put_u32(b, op_record(b, 2) + f::kOType, 99); }, LKRT_ERR_UNSUPPORTED, "op type 99"},
      {"second input", [](std::string& b) { put_u32(b, op_record(b, 3) + f::kOType, 1); }, LKRT_ERR_FORMAT, "input"},
      {"tensor index", [](std::string& b) { put_u32(b, op_record(b, 1) + f::kOTensors, 1000); }, LKRT_ERR_FORMAT,
       "tensor index 1000"},
      {"tensor used twice", [](std::string& b) { put_u32(b, op_record(b, 4) + f::kOTensors, 1); }, LKRT_ERR_FORMAT, ""},
      {"weight shape", [](std::string& b) { put_u32(b, op_record(b, 1) + f::kOInts, 7); }, LKRT_ERR_FORMAT, "shape"},
      {"stride 0", [](std::string& b) { put_u32(b, op_record(b, 1) + f::kOInts + 12, 0); }, LKRT_ERR_FORMAT, "stride"},
      {"huge padding", [](std::string& b) { put_u32(b, op_record(b, 4) + f::kOInts + 16, 0xFFFFFFF0u); }, LKRT_ERR_FORMAT,
       "padding"},
      {"upsample scale", [](std::string& b) { put_u32(b, op_record(b, 3) + f::kOInts, 0x40000000u); }, LKRT_ERR_FORMAT,
       "scale"},
      {"unused param", [](std::string& b) { put_u32(b, op_record(b, 3) + f::kOInts + 4, 1); }, LKRT_ERR_FORMAT, "unused"},
      {"nan slope", [](std::string& b) { f::write_f32(reinterpret_cast<uint8_t*>(&b[op_record(b, 2) + f::kOFloats]), NAN); },
       LKRT_ERR_FORMAT, "finite"},
      {"flags", [](std::string& b) { put_u32(b, f::kHFlags, 1); }, LKRT_ERR_FORMAT, "flags"},
  };
  for (const Case& c : cases) {
    std::string b = good;
    c.patch(b);
    fix_crc(b);
    EXPECT_EQ(load_status(b), c.want) << c.name << ": " << lkrt_last_error();
    EXPECT_TRUE(error_mentions(c.message)) << c.name << ": " << lkrt_last_error();
  }
  std::string b = good;
  b[1000] ^= 1;  // without fixing the CRC
  EXPECT_EQ(load_status(b), LKRT_ERR_FORMAT);
  EXPECT_TRUE(error_mentions("checksum")) << lkrt_last_error();
}

TEST(Format, LoadFromPath) {
  lkrt_model* m = nullptr;
  EXPECT_EQ(lkrt_model_load("/nonexistent/dir/model.lkm", &m), LKRT_ERR_IO);
  EXPECT_EQ(m, nullptr);
  EXPECT_TRUE(error_mentions("/nonexistent/dir/model.lkm")) << lkrt_last_error();
  EXPECT_EQ(lkrt_model_load(nullptr, &m), LKRT_ERR_ARGUMENT);
  try {
    lkrt::Model model("/nonexistent.lkm");
    FAIL();
  } catch (const lkrt::Error& e) {
    EXPECT_EQ(e.status(), LKRT_ERR_IO);
  }
  EXPECT_STREQ(lkrt_status_string(LKRT_ERR_VERSION), "unsupported format version");
  EXPECT_EQ(lkrt_set_threads(nullptr, 2), LKRT_ERR_ARGUMENT);
}

TEST(Format, HalfConversion) {
  EXPECT_EQ(f::float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(f::float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(f::float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(f::float_to_half(1e6f), 0x7c00);
  EXPECT_EQ(f::float_to_half(5.960464477539063e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f::float_to_half(1.0f + 1.0f / 2048), 0x3c00);       // tie to even
  EXPECT_EQ(f::float_to_half(1.0f + 3.0f / 2048), 0x3c02);
  for (uint32_t h = 0; h < 0x7c00; ++h) ASSERT_EQ(f::float_to_half(f::half_to_float(uint16_t(h))), h);
}

}  // namespace
