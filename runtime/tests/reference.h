// Naive reference implementations (double accumulation, CHW layout, loops straight
// from the definitions) and helpers that build one-op models with the writer.
#ifndef LKRT_TESTS_REFERENCE_H
#define LKRT_TESTS_REFERENCE_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lkrt.h"
#include "lkrt_writer.h"
#include "format.h"

namespace ref {

/// An owned model, freed with lkrt_model_free.
struct ModelDeleter {
  void operator()(lkrt_model* m) const { lkrt_model_free(m); }
};
using ModelPtr = std::unique_ptr<lkrt_model, ModelDeleter>;

/// Little-endian fields of a serialized .lkm, for tests that damage one.
inline void put_u32(std::string& b, size_t at, uint32_t v) { lkrt::format::write_u32(reinterpret_cast<uint8_t*>(&b[at]), v); }
inline void put_u64(std::string& b, size_t at, uint64_t v) { lkrt::format::write_u64(reinterpret_cast<uint8_t*>(&b[at]), v); }
inline uint32_t get_u32(const std::string& b, size_t at) { return lkrt::format::read_u32(reinterpret_cast<const uint8_t*>(&b[at])); }
inline uint64_t get_u64(const std::string& b, size_t at) { return lkrt::format::read_u64(reinterpret_cast<const uint8_t*>(&b[at])); }

std::vector<float> random_values(size_t n, float scale, uint32_t seed);

// x: [C, H, W]; w: [out, C, k, k] -> [out, oh, ow]
std::vector<float> conv2d(const std::vector<float>& x, int C, int H, int W, const std::vector<float>& w,
                          const float* bias, int out, int k, int stride, int pad, int* oh, int* ow);
// x: [C, H, W]; w: [C, out, k, k] -> [out, oh, ow]
std::vector<float> conv_transpose2d(const std::vector<float>& x, int C, int H, int W, const std::vector<float>& w,
                                    const float* bias, int out, int k, int stride, int pad, int* oh, int* ow);
// W: [out, in]
std::vector<float> gemm(const std::vector<float>& x, const std::vector<float>& w, const float* bias, int out, int in);
std::vector<float> upsample_nearest(const std::vector<float>& x, int C, int H, int W, int s);

// The writer's conversions, from their definitions in docs/file-format.md.
std::vector<float> int8_roundtrip(const std::vector<float>& w, const std::vector<int>& dims, int axis);
std::vector<float> fp16_roundtrip(const std::vector<float>& w);
std::vector<float> as_stored(const std::vector<float>& w, const std::vector<int>& dims, int axis, lkrt_weight_type t);

// max |a - b| / max |b| (0 if b is all zero and a == b).
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b);

// Loads bytes; fails the current test on error.
lkrt_model* load_or_fail(const std::string& bytes);
std::vector<float> run(lkrt_model* m, const std::vector<float>& z, int label = -1);
// Loads bytes and runs z with 1 and with 3 threads; the two must agree to the bit (the
// current test fails otherwise). Empty if the load failed.
std::vector<float> run_checked(const std::string& bytes, const std::vector<float>& z);

}  // namespace ref

#endif
