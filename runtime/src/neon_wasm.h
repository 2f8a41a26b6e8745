// The NEON intrinsics that kernels.cpp uses, on WebAssembly SIMD128 (-msimd128), so the
// arm64 kernels are also the browser's: both are 4 floats wide. Only what kernels.cpp calls
// is here, each with NEON's meaning (lane order, NaN through min/max, saturating float to
// int, ties to even), except that WebAssembly has no fused multiply-add: vfmaq_f32 is a
// multiply then an add, rounded twice, so results differ from arm64's in the last bits.
#ifndef LKRT_NEON_WASM_H
#define LKRT_NEON_WASM_H

#include <wasm_simd128.h>

#include <cstdint>

// Distinct vector types, as arm_neon.h has, so that overloads on them stay apart; clang's
// vector extensions give +, -, * on them and a bitcast to v128_t.
typedef float float32x4_t __attribute__((vector_size(16)));
typedef double float64x2_t __attribute__((vector_size(16)));
typedef int32_t int32x4_t __attribute__((vector_size(16)));
typedef uint32_t uint32x4_t __attribute__((vector_size(16)));
typedef int16_t int16x8_t __attribute__((vector_size(16)));
typedef uint16_t uint16x8_t __attribute__((vector_size(16)));
typedef int8_t int8x16_t __attribute__((vector_size(16)));
// Halves of a vector: the whole register, of which the low half is meant.
struct float32x2_t { float32x4_t v; };
struct int16x4_t { int16x8_t v; };
struct int8x8_t { int8x16_t v; };
struct float16x8_t { uint16x8_t bits; };
struct float16x4_t { uint16x8_t bits; };

#define LKRT_V(x) ((v128_t)(x))

inline float32x4_t vdupq_n_f32(float x) { return (float32x4_t)wasm_f32x4_splat(x); }
inline int32x4_t vdupq_n_s32(int32_t x) { return (int32x4_t)wasm_i32x4_splat(x); }
inline uint32x4_t vdupq_n_u32(uint32_t x) { return (uint32x4_t)wasm_i32x4_splat(static_cast<int32_t>(x)); }
inline float32x4_t vld1q_f32(const float* p) { return (float32x4_t)wasm_v128_load(p); }
inline float32x4_t vld1q_dup_f32(const float* p) { return (float32x4_t)wasm_v128_load32_splat(p); }
inline float64x2_t vld1q_f64(const double* p) { return (float64x2_t)wasm_v128_load(p); }
inline uint16x8_t vld1q_u16(const uint16_t* p) { return (uint16x8_t)wasm_v128_load(p); }
inline int8x16_t vld1q_s8(const int8_t* p) { return (int8x16_t)wasm_v128_load(p); }
inline void vst1q_f32(float* p, float32x4_t v) { wasm_v128_store(p, LKRT_V(v)); }
inline void vst1q_f64(double* p, float64x2_t v) { wasm_v128_store(p, LKRT_V(v)); }

inline float32x4_t vaddq_f32(float32x4_t a, float32x4_t b) { return a + b; }
inline float32x4_t vsubq_f32(float32x4_t a, float32x4_t b) { return a - b; }
inline float32x4_t vmulq_f32(float32x4_t a, float32x4_t b) { return a * b; }
inline float32x4_t vdivq_f32(float32x4_t a, float32x4_t b) { return a / b; }
inline float32x4_t vfmaq_f32(float32x4_t a, float32x4_t b, float32x4_t c) { return a + b * c; }
inline float32x4_t vfmsq_f32(float32x4_t a, float32x4_t b, float32x4_t c) { return a - b * c; }
inline float32x4_t vfmaq_n_f32(float32x4_t a, float32x4_t b, float c) { return a + b * vdupq_n_f32(c); }
inline float32x4_t vnegq_f32(float32x4_t a) { return (float32x4_t)wasm_f32x4_neg(LKRT_V(a)); }
inline float32x4_t vabsq_f32(float32x4_t a) { return (float32x4_t)wasm_f32x4_abs(LKRT_V(a)); }
inline float32x4_t vminq_f32(float32x4_t a, float32x4_t b) { return (float32x4_t)wasm_f32x4_min(LKRT_V(a), LKRT_V(b)); }
inline float32x4_t vmaxq_f32(float32x4_t a, float32x4_t b) { return (float32x4_t)wasm_f32x4_max(LKRT_V(a), LKRT_V(b)); }
inline float32x4_t vrndnq_f32(float32x4_t a) { return (float32x4_t)wasm_f32x4_nearest(LKRT_V(a)); }
inline uint32x4_t vcltq_f32(float32x4_t a, float32x4_t b) { return (uint32x4_t)wasm_f32x4_lt(LKRT_V(a), LKRT_V(b)); }
inline uint32x4_t vcgtq_f32(float32x4_t a, float32x4_t b) { return (uint32x4_t)wasm_f32x4_gt(LKRT_V(a), LKRT_V(b)); }
// mask ? a : b, bit by bit.
inline float32x4_t vbslq_f32(uint32x4_t mask, float32x4_t a, float32x4_t b) {
  return (float32x4_t)wasm_v128_bitselect(LKRT_V(a), LKRT_V(b), LKRT_V(mask));
}
// The pairwise order of FADDP: (a0 + a1) + (a2 + a3).
inline float vaddvq_f32(float32x4_t a) { return (a[0] + a[1]) + (a[2] + a[3]); }

inline int32x4_t vaddq_s32(int32x4_t a, int32x4_t b) { return a + b; }
inline int32x4_t vshlq_n_s32(int32x4_t a, int n) { return (int32x4_t)wasm_i32x4_shl(LKRT_V(a), n); }
inline float32x4_t vcvtq_f32_s32(int32x4_t a) { return (float32x4_t)wasm_f32x4_convert_i32x4(LKRT_V(a)); }
inline int32x4_t vcvtq_s32_f32(float32x4_t a) { return (int32x4_t)wasm_i32x4_trunc_sat_f32x4(LKRT_V(a)); }
inline float32x4_t vreinterpretq_f32_s32(int32x4_t a) { return (float32x4_t)a; }

inline int8x8_t vget_low_s8(int8x16_t a) { return {a}; }
inline int16x8_t vmovl_s8(int8x8_t a) { return (int16x8_t)wasm_i16x8_extend_low_i8x16(LKRT_V(a.v)); }
inline int16x8_t vmovl_high_s8(int8x16_t a) { return (int16x8_t)wasm_i16x8_extend_high_i8x16(LKRT_V(a)); }
inline int16x4_t vget_low_s16(int16x8_t a) { return {a}; }
inline int32x4_t vmovl_s16(int16x4_t a) { return (int32x4_t)wasm_i32x4_extend_low_i16x8(LKRT_V(a.v)); }
inline int32x4_t vmovl_high_s16(int16x8_t a) { return (int32x4_t)wasm_i32x4_extend_high_i16x8(LKRT_V(a)); }

// IEEE half to float, exact for every value (zero, subnormal, inf, NaN): the half's exponent
// and mantissa shifted into place and rebiased; inf/NaN get the rest of the exponent;
// subnormals are renormalised by subtracting 2^-14 as a float.
inline float32x4_t lkrt_half_to_float(int32x4_t h) {
  const int32x4_t magnitude = (h & 0x7fff) << 13;
  const int32x4_t exponent = magnitude & (0x7c00 << 13);
  int32x4_t bits = magnitude + ((127 - 15) << 23);
  bits += (exponent == (0x7c00 << 13)) & ((128 - 16) << 23);
  const float32x4_t sub = (float32x4_t)(bits + (1 << 23)) - (float32x4_t)vdupq_n_s32(113 << 23);
  bits = (int32x4_t)wasm_v128_bitselect(LKRT_V(sub), LKRT_V(bits), LKRT_V(exponent == 0));
  return (float32x4_t)(bits | ((h & 0x8000) << 16));
}
inline float16x8_t vreinterpretq_f16_u16(uint16x8_t a) { return {a}; }
inline float16x4_t vget_low_f16(float16x8_t a) { return {a.bits}; }
inline float32x4_t vcvt_f32_f16(float16x4_t a) {
  return lkrt_half_to_float((int32x4_t)wasm_u32x4_extend_low_u16x8(LKRT_V(a.bits)));
}
inline float32x4_t vcvt_high_f32_f16(float16x8_t a) {
  return lkrt_half_to_float((int32x4_t)wasm_u32x4_extend_high_u16x8(LKRT_V(a.bits)));
}

inline float32x2_t vget_low_f32(float32x4_t a) { return {a}; }
inline float64x2_t vcvt_f64_f32(float32x2_t a) { return (float64x2_t)wasm_f64x2_promote_low_f32x4(LKRT_V(a.v)); }
inline float64x2_t vcvt_high_f64_f32(float32x4_t a) {
  return (float64x2_t)wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(LKRT_V(a), LKRT_V(a), 2, 3, 2, 3));
}
inline float64x2_t vaddq_f64(float64x2_t a, float64x2_t b) { return a + b; }
inline float64x2_t vsubq_f64(float64x2_t a, float64x2_t b) { return a - b; }
inline float64x2_t vfmaq_f64(float64x2_t a, float64x2_t b, float64x2_t c) { return a + b * c; }

#undef LKRT_V

#endif  // LKRT_NEON_WASM_H
