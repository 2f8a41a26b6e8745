// Mask generators' label maps: the palette section of a .lkm (version 4), the palette's
// queries, and painted pixels to class ids as latentkit's read_label_map reads a map PNG
// (data/labelmaps.h): each pixel's exact color, alpha 0 the transparent class when the
// palette has one, any other color an error naming the pixel and the valid colors.
#include <cstdio>
#include <cstring>
#include <string>

#include "graph.h"
#include "last_error.h"

using lkrt::fail;
using lkrt::set_error;

namespace {

// "#rrggbb", or "#rrggbbaa" for a pixel of an image with alpha.
std::string hex(const uint8_t* rgba, bool alpha) {
  char buf[16];
  if (alpha)
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x%02x", rgba[0], rgba[1], rgba[2], rgba[3]);
  else
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgba[0], rgba[1], rgba[2]);
  return buf;
}

// "0 background #000000, 1 square #ff0000, ...", as latentkit's MapPalette::describe.
std::string describe(const lkrt::Palette& p) {
  std::string s;
  for (size_t i = 0; i < p.class_names.size(); ++i) {
    const uint8_t* c = p.colors.data() + 4 * i;
    s += (i ? ", " : "") + std::to_string(i) + " " + p.class_names[i] + " " + (c[3] == 0 ? std::string("transparent") : hex(c, false));
  }
  return s;
}

}  // namespace

namespace lkrt {

void read_palette_section(lkrt_model& m, const uint8_t* data, uint64_t size, uint64_t offset, uint64_t length,
                          uint64_t data_start) {
  using namespace format;
  if (offset % kAlign != 0 || offset < data_start || length < kPColors || length > size || offset > size - length)
    fail(LKRT_ERR_FORMAT, "palette section at %llu+%llu outside the data section [%llu, %llu) or not 64-aligned",
         (unsigned long long)offset, (unsigned long long)length, (unsigned long long)data_start, (unsigned long long)size);
  const uint8_t* p = data + offset;
  const uint32_t classes = read_u32(p + kPClasses);
  if (classes != m.num_classes) fail(LKRT_ERR_FORMAT, "palette: %u classes, the header says %u", classes, m.num_classes);
  if (read_u32(p + kPReserved) != 0) fail(LKRT_ERR_FORMAT, "palette: reserved field is not zero");
  if (kPColors + 4 * uint64_t(classes) > length)
    fail(LKRT_ERR_FORMAT, "palette: %u colors do not fit a section of %llu bytes", classes, (unsigned long long)length);
  Palette& palette = m.palette;
  palette.colors.assign(p + kPColors, p + kPColors + 4 * size_t(classes));
  int transparent = -1;
  for (uint32_t k = 0; k < classes; ++k) {
    const uint8_t* c = palette.colors.data() + 4 * k;
    if (c[3] != 0 && c[3] != 255) fail(LKRT_ERR_FORMAT, "palette: class %u has alpha %u (255, or 0 for transparent)", k, c[3]);
    if (c[3] == 0) {
      if (c[0] || c[1] || c[2]) fail(LKRT_ERR_FORMAT, "palette: the transparent class %u is not #00000000", k);
      if (transparent >= 0) fail(LKRT_ERR_FORMAT, "palette: classes %d and %u are both transparent", transparent, k);
      transparent = int(k);
    }
    for (uint32_t j = 0; j < k; ++j)
      if (std::memcmp(c, palette.colors.data() + 4 * j, 4) == 0)
        fail(LKRT_ERR_FORMAT, "palette: classes %u and %u have the same color", j, k);
  }
  // Names: the palette's, then one per class; 1 to 64 printable ASCII bytes, NUL-terminated,
  // filling the section exactly.
  const char* at = reinterpret_cast<const char*>(p) + kPColors + 4 * size_t(classes);
  const char* end = reinterpret_cast<const char*>(p) + length;
  palette.class_names.clear();
  for (uint32_t k = 0; k <= classes; ++k) {
    const size_t n = strnlen(at, size_t(end - at));
    if (at + n == end) fail(LKRT_ERR_FORMAT, "palette: name %u is missing or not NUL-terminated", k);
    if (n == 0 || n > kPaletteMaxName) fail(LKRT_ERR_FORMAT, "palette: name %u is %zu bytes (1..64)", k, n);
    for (size_t j = 0; j < n; ++j)
      if (at[j] < 0x20 || at[j] > 0x7e) fail(LKRT_ERR_FORMAT, "palette: name %u is not printable ASCII", k);
    (k == 0 ? palette.name : palette.class_names.emplace_back()).assign(at, n);
    at += n + 1;
  }
  if (at != end) fail(LKRT_ERR_FORMAT, "palette: %lld bytes after the last class name", (long long)(end - at));
}

}  // namespace lkrt

extern "C" {

const char* lkrt_model_palette_name(const lkrt_model* m) { return m ? m->palette.name.c_str() : ""; }

const char* lkrt_model_class_name(const lkrt_model* m, int32_t id) {
  if (!m || id < 0 || size_t(id) >= m->palette.class_names.size()) return nullptr;
  return m->palette.class_names[size_t(id)].c_str();
}

const uint8_t* lkrt_model_class_color(const lkrt_model* m, int32_t id) {
  if (!m || id < 0 || size_t(id) >= m->palette.class_names.size()) return nullptr;
  return m->palette.colors.data() + 4 * size_t(id);
}

lkrt_status lkrt_map_from_pixels(const lkrt_model* m, const uint8_t* pixels, int32_t channels, int32_t height,
                                 int32_t width, uint8_t* ids) {
  if (!m || !pixels || !ids) return set_error(LKRT_ERR_ARGUMENT, "lkrt_map_from_pixels: model, pixels or ids is null");
  const lkrt::Palette& palette = m->palette;
  if (palette.class_names.empty())
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_map_from_pixels: the model has no palette (it is not a mask generator)");
  if (channels != 3 && channels != 4)
    return set_error(LKRT_ERR_ARGUMENT, "a label map must be an RGB or RGBA image in the palette's colors (" +
                                            describe(palette) + "), got " + std::to_string(channels) + " channels");
  if (height < 1 || width < 1 || height > int32_t(lkrt::kMaxSide) || width > int32_t(lkrt::kMaxSide))
    return set_error(LKRT_ERR_ARGUMENT, "lkrt_map_from_pixels: a size of " + std::to_string(width) + "x" +
                                            std::to_string(height) + " (each side 1..16384)");
  const size_t K = palette.class_names.size();
  int transparent = -1;
  for (size_t k = 0; k < K; ++k)
    if (palette.colors[4 * k + 3] == 0) transparent = int(k);
  for (size_t p = 0; p < size_t(height) * size_t(width); ++p) {
    const uint8_t* px = pixels + p * size_t(channels);
    const uint8_t rgba[4] = {px[0], px[1], px[2], uint8_t(channels == 4 ? px[3] : 255)};
    int found = rgba[3] == 0 ? transparent : -1;
    for (size_t k = 0; found < 0 && k < K; ++k)
      if (std::memcmp(palette.colors.data() + 4 * k, rgba, 4) == 0) found = int(k);
    if (found < 0)
      return set_error(LKRT_ERR_ARGUMENT, "pixel (" + std::to_string(p % size_t(width)) + ", " +
                                              std::to_string(p / size_t(width)) + ") is " + hex(rgba, channels == 4) +
                                              ", not a color of the " + palette.name + " palette; the valid colors are: " +
                                              describe(palette) +
                                              (transparent >= 0 ? " (any pixel with alpha 0 is transparent)" : ""));
    ids[p] = uint8_t(found);
  }
  return LKRT_OK;
}

}  // extern "C"
