// libFuzzer target: load any bytes as a .lkm (checksum skipped, so that the fuzzer
// reaches the validators) and, if they load and are cheap enough, run one generation.
#include <cstdint>
#include <cstring>
#include <vector>

#include "lkrt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lkrt_model* model = nullptr;
  if (lkrt_model_load_memory_ex(data, size, LKRT_LOAD_SKIP_CHECKSUM, &model) != LKRT_OK) {
    if (model != nullptr) __builtin_trap();  // a failed load must not hand out a model
    return 0;
  }
  if (lkrt_model_flops(model) < 50000000) {
    std::vector<float> z(size_t(lkrt_model_latent_dim(model)), 0.0f);
    std::vector<float> out(size_t(lkrt_model_channels(model)) * lkrt_model_height(model) * lkrt_model_width(model));
    int32_t label = lkrt_model_num_classes(model) > 0 ? lkrt_model_num_classes(model) - 1 : -1;
    if (lkrt_generate(model, z.data(), label, out.data()) != LKRT_OK) __builtin_trap();
  }
  lkrt_model_free(model);
  return 0;
}
