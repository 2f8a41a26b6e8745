#include <stdio.h>
#include <stdlib.h>
#include "lkrt.h"

int main(int argc, char** argv) {
  lkrt_model* model = NULL;
  lkrt_status s = lkrt_model_load(argc > 1 ? argv[1] : "gen.lkm", &model);
  if (s != LKRT_OK) {
    fprintf(stderr, "%s: %s\n", lkrt_status_string(s), lkrt_last_error());
    return 1;
  }
  int n = lkrt_model_channels(model) * lkrt_model_height(model) * lkrt_model_width(model);
  float* z = calloc(lkrt_model_latent_dim(model), sizeof(float)); /* the mean latent */
  float* image = malloc(n * sizeof(float));
  int label = lkrt_model_num_classes(model) > 0 ? 0 : -1;
  s = lkrt_generate(model, z, label, image); /* [C, H, W] in [-1, 1] */
  if (s == LKRT_OK) printf("pixel 0: %f\n", image[0]);
  free(z), free(image), lkrt_model_free(model);
  return s == LKRT_OK ? 0 : 1;
}
