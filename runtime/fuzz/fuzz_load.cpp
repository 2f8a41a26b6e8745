// libFuzzer target: load any bytes as a .lkm (checksum skipped, so that the fuzzer
// reaches the validators: the header, the tensors, the graph's values, shapes and kinds)
// and, if they load and are cheap enough, run the model once as its kind asks: a
// generation, an enhancement of an odd-sized image in tiles, a two-step sample (from a
// prompt with an unknown word, its warnings asked for, when the model has a text encoder),
// a mask generator's image of a map of every class, or a small wallpaper (odd-sized, with
// a mood when the model has one, and tileable).
#include <cstdint>
#include <cstring>
#include <vector>

#include "lkrt.h"
#include "lkrt_wallpaper.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lkrt_model* model = nullptr;
  if (lkrt_model_load_memory_ex(data, size, LKRT_LOAD_SKIP_CHECKSUM, &model) != LKRT_OK) {
    if (model != nullptr) __builtin_trap();  // a failed load must not hand out a model
    return 0;
  }
  if (lkrt_model_flops(model) < 50000000) {
    const size_t C = size_t(lkrt_model_channels(model)), H = size_t(lkrt_model_height(model)),
                 W = size_t(lkrt_model_width(model));
    std::vector<float> z(size_t(lkrt_model_latent_dim(model)), 0.5f), out(C * H * W);
    const int32_t classes = lkrt_model_num_classes(model);
    lkrt_status s = LKRT_OK;
    switch (lkrt_model_kind(model)) {
      case LKRT_KIND_GENERATOR: s = lkrt_generate(model, z.data(), classes > 0 ? classes - 1 : -1, out.data()); break;
      case LKRT_KIND_ENHANCER: {
        // One size the planner has not seen, in tiles when it is larger than the model's.
        const int32_t h = int32_t(H) + 3, w = int32_t(W) + 5;
        std::vector<float> in(C * size_t(h) * size_t(w), 0.25f), enhanced(in.size());
        s = lkrt_enhance(model, in.data(), h, w, h > 16 ? 16 : 0, enhanced.data());
        if (s == LKRT_ERR_FORMAT || s == LKRT_ERR_MEMORY) s = LKRT_OK;  // a size this graph cannot take: an error, fine
        break;
      }
      case LKRT_KIND_MASK_GENERATOR: {
        // Every class, in stripes; the palette's names and colors read.
        std::vector<uint8_t> map(H * W);
        for (size_t i = 0; i < map.size(); ++i) map[i] = uint8_t(i % size_t(classes));
        for (int32_t k = 0; k < classes; ++k)
          if (!lkrt_model_class_name(model, k) || !lkrt_model_class_color(model, k)) __builtin_trap();
        s = lkrt_generate_map(model, z.data(), map.data(), out.data());
        break;
      }
      case LKRT_KIND_WALLPAPER: {
        lkrt_wallpaper_options o;
        lkrt_wallpaper_options_init(&o);
        o.width = 37, o.height = 23, o.scale = 2, o.day = 20793.5;
        o.mood = lkrt_model_mood_count(model) - 1;
        for (int32_t k = 0; k < lkrt_model_mood_count(model); ++k)
          if (!lkrt_model_mood_name(model, k)) __builtin_trap();
        std::vector<uint8_t> rgba(size_t(37) * 23 * 4);
        s = lkrt_wallpaper(model, &o, rgba.data());
        const int32_t unit = lkrt_model_cell(model);
        o.width = o.height = unit, o.scale = 1, o.tileable = 1;
        if (s == LKRT_OK && unit <= 37) s = lkrt_wallpaper(model, &o, rgba.data());
        if (s == LKRT_ERR_FORMAT || s == LKRT_ERR_MEMORY) s = LKRT_OK;  // a grid this graph cannot take: an error, fine
        break;
      }
      case LKRT_KIND_DENOISER: {
        lkrt_sample_options o;
        lkrt_sample_options_init(&o);
        o.steps = 2;
        o.sampler = LKRT_SAMPLER_DPMPP;
        o.label = classes > 0 ? 0 : -1;
        o.guidance = 2.0f;
        std::vector<float> text(size_t(lkrt_model_text_width(model)));
        if (!text.empty()) {
          lkrt_prompt_warnings(model, "Grinning FACE, with zzyzx-eyes 2");
          s = lkrt_encode_prompt(model, "Grinning FACE, with zzyzx-eyes 2", text.data());
          if (s == LKRT_ERR_ARGUMENT) s = lkrt_encode_prompt(model, "a", text.data());  // a max_tokens under 6
          o.text = text.data();
        }
        if (s == LKRT_OK) s = lkrt_sample(model, &o, z.data(), nullptr, out.data());
        break;
      }
    }
    if (s != LKRT_OK) __builtin_trap();
  }
  lkrt_model_free(model);
  return 0;
}
