// The .lkm on-disk layout, shared by the writer and the loader. Every number is
// little-endian; docs/file-format.md describes each field.
#ifndef LKRT_FORMAT_H
#define LKRT_FORMAT_H

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lkrt.h"

namespace lkrt {
namespace format {

constexpr uint8_t kMagic[8] = {0x89, 'L', 'K', 'M', '\r', '\n', 0x1a, '\n'};
// The writer writes the lowest version that holds the model: 5 with a wallpaper section
// (wallpaper models), 4 with a palette section (mask generators), 3 with a text section
// (text-to-image denoisers), 2 otherwise; the loader reads 1..5.
constexpr uint32_t kVersion = 5;
constexpr uint32_t kVersionPalette = 4;
constexpr uint32_t kVersionText = 3;
constexpr uint32_t kVersionNoText = 2;
constexpr uint32_t kHeaderSize = 256;
constexpr uint32_t kOpRecordSizeV1 = 64;
constexpr uint32_t kOpRecordSize = 96;
constexpr uint32_t kTensorRecordSize = 64;
constexpr uint32_t kAlign = 64;
constexpr uint32_t kNoTensor = 0xFFFFFFFFu;
constexpr uint32_t kNoValue = 0xFFFFFFFFu;
constexpr uint32_t kModelIdMax = 64;
constexpr uint32_t kOpIntParams = 8;
constexpr uint32_t kOpFloatParamsV1 = 2;
constexpr uint32_t kOpFloatParams = 4;
constexpr uint32_t kOpTensors = 4;
constexpr uint32_t kOpInputs = 4;
constexpr uint32_t kMaxRank = 4;

// Header field offsets.
constexpr size_t kHMagic = 0;             // u8[8]
constexpr size_t kHVersion = 8;           // u32
constexpr size_t kHHeaderSize = 12;       // u32
constexpr size_t kHFileSize = 16;         // u64
constexpr size_t kHCrc = 24;              // u32, CRC-32 of the file with these 4 bytes zero
constexpr size_t kHFlags = 28;            // u32, 0
constexpr size_t kHLatentDim = 32;        // u32
constexpr size_t kHNumClasses = 36;       // u32
constexpr size_t kHEmbedDim = 40;         // u32
constexpr size_t kHChannels = 44;         // u32
constexpr size_t kHHeight = 48;           // u32
constexpr size_t kHWidth = 52;            // u32
constexpr size_t kHWeightType = 56;       // u32 (lkrt_weight_type)
constexpr size_t kHOpCount = 60;          // u32
constexpr size_t kHTensorCount = 64;      // u32
constexpr size_t kHModelIdLength = 68;    // u32
constexpr size_t kHOpTableOffset = 72;    // u64
constexpr size_t kHTensorTableOffset = 80;// u64
constexpr size_t kHModelId = 88;          // u8[64]
// Version 2; zero in version 1.
constexpr size_t kHKind = 152;            // u32 lkrt_kind
constexpr size_t kHValueCount = 156;      // u32, values of the graph
constexpr size_t kHPadMultiple = 160;     // u32, enhancer: input sides padded to a multiple of this
constexpr size_t kHSchedule = 164;        // u32, denoiser: 1 linear, 2 cosine
constexpr size_t kHTimesteps = 168;       // u32, denoiser: T
constexpr size_t kHPrediction = 172;      // u32, denoiser: 0 eps, 1 v
constexpr size_t kHTasks = 176;           // u32, denoiser: bit 0 inpaint, bit 1 restore (Palette)
constexpr size_t kHSampleSteps = 180;     // u32, denoiser: default sampling steps
constexpr size_t kHReservedV2 = 184;      // 184..255 reserved, zero, in version 2.
// Version 3: a text-to-image denoiser's text encoder and vocabulary (the text section).
constexpr size_t kHTextOffset = 184;      // u64, multiple of 64, after the tables
constexpr size_t kHTextSize = 192;        // u64
constexpr size_t kHReservedV3 = 200;      // 200..255 reserved, zero, in version 3.
// Version 4: a mask generator's palette (the palette section).
constexpr size_t kHPaletteOffset = 200;   // u64, multiple of 64, after the tables
constexpr size_t kHPaletteSize = 208;     // u64
constexpr size_t kHReservedV4 = 216;      // 216..255 reserved, zero, in version 4.
// Version 5: a wallpaper model's section (the wallpaper section).
constexpr size_t kHWallpaperOffset = 216; // u64, multiple of 64, after the tables
constexpr size_t kHWallpaperSize = 224;   // u64
constexpr size_t kHReservedV5 = 232;      // 232..255 reserved, zero.

// Wallpaper section field offsets.
constexpr size_t kWLocalDim = 0;     // u32 L, local noise values per cell
constexpr size_t kWGlobalDim = 4;    // u32 G, the global vector (the style); = the header's latent_dim
constexpr size_t kWPeriodicDim = 8;  // u32 P, periodic waves
constexpr size_t kWHidden = 12;      // u32, the wave MLP's hidden width; 0 when P = 0
constexpr size_t kWCell = 16;        // u32, pixels per cell on a side: 2^(transposed convolutions)
constexpr size_t kWReach = 20;       // u32, margin of cells a render adds on every side, >= 1
constexpr size_t kWMoods = 24;       // u32 M, named moods
constexpr size_t kWReserved = 28;    // u32, 0
constexpr size_t kWTensors = 32;     // u32[4], fp32 tensors of the wave MLP: weight1 [hidden, G], bias1
                                     // [hidden], weight2 [2P, hidden], bias2 [2P]; kNoTensor when P = 0
constexpr size_t kWShifts = 48;      // f32[M * G], each mood's shift of the global vector; then the
                                     // M mood names, each NUL-terminated, filling the section
constexpr uint32_t kWallpaperMaxDim = 4096;   // L, G, P, hidden
constexpr uint32_t kWallpaperMaxMoods = 64;
constexpr uint32_t kWallpaperMaxName = 64;    // bytes of a mood's name

// Palette section field offsets.
constexpr size_t kPClasses = 0;      // u32 K, = the header's num_classes
constexpr size_t kPReserved = 4;     // u32, 0
constexpr size_t kPColors = 8;       // u8[4 K], R G B A per class; then the palette's name and the K
                                     // class names, each NUL-terminated, filling the section
constexpr uint32_t kPaletteMaxClasses = 256;  // class ids are bytes
constexpr uint32_t kPaletteMaxName = 64;      // bytes of a name

// Text section field offsets.
constexpr size_t kXVocabSize = 0;    // u32 V, words of the vocabulary (<pad> and <unk> included)
constexpr size_t kXMaxTokens = 4;    // u32 L, words a prompt may have
constexpr size_t kXWidth = 8;        // u32 w
constexpr size_t kXLayers = 12;      // u32
constexpr size_t kXHeads = 16;       // u32, divides w
constexpr size_t kXTensorCount = 20; // u32, 5 + 12 * layers
constexpr size_t kXEps = 24;         // f32, the LayerNorms' epsilon
constexpr size_t kXReserved = 28;    // u32, 0
constexpr size_t kXTensors = 32;     // u32[tensor_count], tensor indices; then the words, each NUL-terminated
constexpr uint32_t kTextTensorsFixed = 5;   // token, position, ln_out weight and bias, null_text
constexpr uint32_t kTextTensorsPerLayer = 12;

// Op record field offsets, version 1 (64 bytes: each op reads the previous op's output).
constexpr size_t kOType = 0;       // u32 lkrt::Op
constexpr size_t kOFlags = 4;      // u32, 0
constexpr size_t kOIntsV1 = 8;     // u32[8]
constexpr size_t kOFloatsV1 = 40;  // f32[2]
constexpr size_t kOTensorsV1 = 48; // u32[4], tensor index or kNoTensor
// Version 2 (96 bytes: a graph over numbered values).
constexpr size_t kOInputs = 8;     // u32[4], value index or kNoValue
constexpr size_t kOOutput = 24;    // u32, the value this op defines
constexpr size_t kOReserved = 28;  // u32, 0
constexpr size_t kOInts = 32;      // u32[8]
constexpr size_t kOFloats = 64;    // f32[4]
constexpr size_t kOTensors = 80;   // u32[4], tensor index or kNoTensor

// Tensor record field offsets.
constexpr size_t kTDType = 0;        // u32 lkrt_weight_type (fp32, fp16, int8)
constexpr size_t kTRank = 4;         // u32, 1..4
constexpr size_t kTDims = 8;         // u32[4], unused dims 0
constexpr size_t kTQuantAxis = 24;   // u32, int8: axis of the scales; else 0
constexpr size_t kTReserved0 = 28;   // u32, 0
constexpr size_t kTOffset = 32;      // u64, from the start of the file, multiple of 64
constexpr size_t kTByteLength = 40;  // u64
constexpr size_t kTScaleOffset = 48; // u64, int8: fp32[dims[axis]]; else 0
constexpr size_t kTReserved1 = 56;   // u64, 0

// A tensor's type is an lkrt_weight_type other than LKRT_WEIGHT_MIXED.
inline size_t dtype_size(lkrt_weight_type t) { return t == LKRT_WEIGHT_FP32 ? 4 : t == LKRT_WEIGHT_FP16 ? 2 : 1; }

inline uint32_t read_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t read_u64(const uint8_t* p) { return uint64_t(read_u32(p)) | uint64_t(read_u32(p + 4)) << 32; }
inline float read_f32(const uint8_t* p) {
  uint32_t u = read_u32(p);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void write_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline void write_u64(uint8_t* p, uint64_t v) {
  write_u32(p, uint32_t(v));
  write_u32(p + 4, uint32_t(v >> 32));
}
inline void write_f32(uint8_t* p, float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  write_u32(p, u);
}

// CRC-32 (IEEE 802.3, the one of zlib and PNG).
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);
inline uint32_t crc32(const uint8_t* data, size_t size) { return crc32_update(0, data, size); }
// CRC of a whole .lkm image, with the CRC field read as zero.
uint32_t file_crc(const uint8_t* data, size_t size);

// IEEE half precision, round to nearest even.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace format
}  // namespace lkrt

#endif
