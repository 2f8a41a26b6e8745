// The few entry points that lkrt.mjs needs beyond lkrt.h and lkrt_wallpaper.h: a sampler call
// and a wallpaper with flat arguments (the prompt's embedding among them), the seeded normals with the seed in two halves (JavaScript numbers hold 53
// bits), 64-bit counters as doubles, and pixels to and from a canvas's RGBA bytes and to PNG
// with the lkrt command's own conversions (tools/png.h), so that the browser's bytes are the
// PNG's.
#include <emscripten/emscripten.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <exception>
#include <vector>

#include "kernels.h"
#include "last_error.h"
#include "lkrt.h"
#include "lkrt_wallpaper.h"
#include "png.h"

extern "C" {

EMSCRIPTEN_KEEPALIVE lkrt_status lkrt_wasm_sample(lkrt_model* model, int32_t sampler, int32_t steps, int32_t label,
                                                  float guidance, const float* text, const float* x_T, const float* cond,
                                                  float* out) {
  lkrt_sample_options o;
  lkrt_sample_options_init(&o);
  o.sampler = sampler == 1 ? LKRT_SAMPLER_DPMPP : LKRT_SAMPLER_DDIM;
  o.steps = steps;
  o.label = label;
  o.guidance = guidance;
  o.text = text;
  return lkrt_sample(model, &o, x_T, cond, out);
}

// lkrt_wallpaper with the options as arguments (the seed in two halves); shift may be NULL.
EMSCRIPTEN_KEEPALIVE lkrt_status lkrt_wasm_wallpaper(lkrt_model* model, double day, uint32_t seed_low, uint32_t seed_high,
                                                     int32_t width, int32_t height, int32_t scale, int32_t tileable,
                                                     int32_t mood, const float* shift, uint8_t* rgba) {
  lkrt_wallpaper_options o;
  lkrt_wallpaper_options_init(&o);
  o.day = day;
  o.seed = uint64_t(seed_high) << 32 | seed_low;
  o.width = width;
  o.height = height;
  o.scale = scale;
  o.tileable = tileable;
  o.mood = mood;
  o.shift = shift;
  return lkrt_wallpaper(model, &o, rgba);
}

EMSCRIPTEN_KEEPALIVE void lkrt_wasm_normals(uint32_t seed_low, uint32_t seed_high, float* out, uint32_t n) {
  lkrt_normals(uint64_t(seed_high) << 32 | seed_low, out, n);
}

// 0 parameters, 1 FLOPs, 2 activation bytes, 3 scratch bytes.
EMSCRIPTEN_KEEPALIVE double lkrt_wasm_u64(const lkrt_model* model, int32_t which) {
  switch (which) {
    case 0: return double(lkrt_model_param_count(model));
    case 1: return double(lkrt_model_flops(model));
    case 2: return double(lkrt_model_activation_bytes(model));
    default: return double(lkrt_model_scratch_bytes(model));
  }
}

EMSCRIPTEN_KEEPALIVE const char* lkrt_wasm_isa() { return lkrt::kernels::isa_name(); }

EMSCRIPTEN_KEEPALIVE lkrt_status lkrt_wasm_to_rgba(const float* chw, int32_t channels, int32_t height, int32_t width,
                                                   uint8_t* rgba) {
  try {
    lkrt::chw_to_rgba8(chw, channels, height, width, rgba);
    return LKRT_OK;
  } catch (const std::exception& e) {
    return lkrt::set_error(LKRT_ERR_ARGUMENT, e.what());
  }
}

// The image as the lkrt command writes it to PNG (tools/png.h), in memory the caller frees
// with free(); *size gets its length. NULL on failure (lkrt_last_error says why).
EMSCRIPTEN_KEEPALIVE uint8_t* lkrt_wasm_png(const float* chw, int32_t channels, int32_t height, int32_t width,
                                           uint32_t* size) {
  try {
    const std::string png = lkrt::encode_png(chw, channels, height, width);
    uint8_t* out = static_cast<uint8_t*>(std::malloc(png.size()));
    if (!out) {
      lkrt::set_error(LKRT_ERR_MEMORY, "out of memory");
      return nullptr;
    }
    std::memcpy(out, png.data(), png.size());
    *size = uint32_t(png.size());
    return out;
  } catch (const std::bad_alloc&) {
    lkrt::set_error(LKRT_ERR_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    lkrt::set_error(LKRT_ERR_ARGUMENT, e.what());
  }
  return nullptr;
}

// RGBA bytes (straight alpha, as ImageData) to the model's channels in [-1, 1], as the lkrt
// command reads a PNG: premultiplied for RGBA models, composited onto white for the others.
EMSCRIPTEN_KEEPALIVE lkrt_status lkrt_wasm_from_rgba(const uint8_t* rgba, int32_t height, int32_t width,
                                                     int32_t channels, float* chw) {
  try {
    lkrt::DecodedPng png;
    png.channels = 4, png.height = height, png.width = width;
    png.pixels.assign(rgba, rgba + size_t(height) * width * 4);
    const std::vector<float> out = lkrt::png_to_chw(png, channels);
    std::copy(out.begin(), out.end(), chw);
    return LKRT_OK;
  } catch (const std::bad_alloc&) {
    return lkrt::set_error(LKRT_ERR_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return lkrt::set_error(LKRT_ERR_ARGUMENT, e.what());
  }
}

}  // extern "C"
