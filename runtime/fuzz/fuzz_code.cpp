// libFuzzer target: decode any bytes as a placeholder code with a conditional and an
// unconditional model, as given and with the last byte replaced by the right CRC-8 (so
// that mutations get past the checksum to the other checks), and any bytes as code text.
#include <cstdint>
#include <string>
#include <vector>

#include "lkrt.h"
#include "lkrt_code.h"
#include "lkrt_writer.h"

namespace {

// z [latent_dim] (+ a 2-wide label embedding) -> gemm -> [1, 2, 2] -> tanh.
lkrt_model* tiny_model(const char* id, int latent_dim, int classes) {
  const int in = latent_dim + (classes ? 2 : 0);
  std::vector<float> table(size_t(classes) * 2, 0.5f), weights(size_t(4) * in, 0.25f);
  lkrt::ModelWriter w;
  w.set_info({id, latent_dim, 1, 2, 2});
  if (classes)
    w.add_input(table.data(), classes, 2);
  else
    w.add_input();
  w.add_gemm(weights.data(), 4, in, nullptr, LKRT_WEIGHT_FP32);
  w.add_reshape(1, 2, 2);
  w.add_activation(lkrt::Activation::kTanh);
  const std::string bytes = w.serialize();
  lkrt_model* model = nullptr;
  if (lkrt_model_load_memory(bytes.data(), bytes.size(), &model) != LKRT_OK) __builtin_trap();
  return model;
}

// out: [4]. A decode fails with a format or argument error, or gives an image in [-1, 1].
void check(lkrt_status s, const float* out) {
  if (s != LKRT_OK && s != LKRT_ERR_FORMAT && s != LKRT_ERR_ARGUMENT) __builtin_trap();
  if (s == LKRT_OK)
    for (int i = 0; i < 4; ++i)
      if (!(out[i] >= -1.0f && out[i] <= 1.0f)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static lkrt_model* const models[] = {tiny_model("9c02b1e0aa55c3d7", 6, 10), tiny_model("no-hex-id", 1, 0)};
  std::vector<uint8_t> fixed(data, data + size);
  if (size > 0) fixed.back() = lkrt::code::crc8(fixed.data(), size - 1);
  float out[4];
  for (lkrt_model* model : models) {
    check(lkrt_decode_code(model, data, size, out), out);
    check(lkrt_decode_code(model, fixed.data(), fixed.size(), out), out);
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  check(lkrt_decode_code_text(models[0], text.c_str(), out), out);
  return 0;
}
