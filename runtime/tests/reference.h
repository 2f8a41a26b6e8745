// Naive reference implementations (double accumulation, CHW layout, loops straight
// from the definitions) and helpers that build one-op models with the writer.
#ifndef LKRT_TESTS_REFERENCE_H
#define LKRT_TESTS_REFERENCE_H

#include <cstdint>
#include <string>
#include <vector>

#include "lkrt.h"
#include "lkrt_writer.h"

namespace ref {

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
