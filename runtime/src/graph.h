// The loaded model: nodes over numbered values (docs/file-format.md), one descriptor per
// op (ops.cpp), and buffers planned once per input size (model.cpp). Activations are
// channels-last: element (c, y, x) of a [C, H, W] value at (y * W + x) * C + c.
#ifndef LKRT_GRAPH_H
#define LKRT_GRAPH_H

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "format.h"
#include "kernels.h"
#include "last_error.h"
#include "lkrt.h"
#include "lkrt_ops.h"
#include "lkrt_wallpaper.h"
#include "thread_pool.h"

namespace lkrt {

// Bounds that keep a hostile file from asking for unbounded memory or time.
constexpr uint32_t kMaxOps = 4096;
constexpr uint32_t kMaxTensors = 4096;
constexpr uint32_t kMaxDim = 1u << 20;         // latent_dim, classes, channels
constexpr uint32_t kMaxSide = 1u << 14;        // height, width
constexpr uint64_t kMaxActivation = 1u << 24;  // floats in one activation
constexpr uint64_t kMaxScratch = 1u << 26;     // floats in a scratch buffer
constexpr uint64_t kMaxArena = 1u << 28;       // floats of all activations together
constexpr uint32_t kMaxKernel = 16;
constexpr uint32_t kMaxStride = 16;
constexpr uint32_t kMaxScale = 16;
constexpr uint32_t kMaxTimesteps = 100000;

// A load or plan failure; the C API turns it into a status and lkrt_last_error().
struct LoadError {
  lkrt_status status;
  std::string message;
};
[[noreturn]] void fail(lkrt_status status, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Runs body; a LoadError, a failed allocation or another exception becomes a status and
// lkrt_last_error()'s message.
template <class F>
lkrt_status guarded(F body, const char* out_of_memory = "out of memory") {
  try {
    body();
    return LKRT_OK;
  } catch (const LoadError& e) {
    return set_error(e.status, e.message);
  } catch (const std::bad_alloc&) {
    return set_error(LKRT_ERR_MEMORY, out_of_memory);
  } catch (const std::exception& e) {
    return set_error(LKRT_ERR_INTERNAL, e.what());
  }
}

// Overflow-checked arithmetic on sizes.
inline bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

template <class T>
struct AlignedArray {
  struct Free {
    void operator()(T* p) const { ::operator delete(p, std::align_val_t(64)); }
  };
  std::unique_ptr<T, Free> ptr;
  size_t size = 0;
  void allocate(size_t n) {  // zero-filled, 64-byte aligned, never null
    ptr.reset(static_cast<T*>(::operator new(std::max<size_t>(n, 1) * sizeof(T), std::align_val_t(64))));
    std::memset(static_cast<void*>(ptr.get()), 0, std::max<size_t>(n, 1) * sizeof(T));
    size = n;
  }
  // Grows to at least n (contents lost); no allocation when already large enough.
  void reserve(size_t n) {
    if (!ptr || size < n) allocate(n);
  }
  T* data() const { return ptr.get(); }
};

struct Shape {
  uint32_t c = 0, h = 0, w = 0;
  uint64_t numel() const { return uint64_t(c) * h * w; }
  uint64_t pixels() const { return uint64_t(h) * w; }
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
};
std::string shape_text(const Shape& s);
const char* weight_type_name(lkrt_weight_type t);

// A validated tensor in the file.
struct TensorRef {
  lkrt_weight_type dtype = LKRT_WEIGHT_FP32;
  uint32_t rank = 0;
  uint32_t dims[4] = {0, 0, 0, 0};
  uint32_t axis = 0;
  uint64_t numel = 0;
  const uint8_t* data = nullptr;
  const uint8_t* scales = nullptr;  // int8: fp32[dims[axis]]
  uint64_t inner = 1;               // elements after the scale axis
  int uses = 0;

  float at(uint64_t i) const;
  float scale(uint64_t channel) const { return format::read_f32(scales + 4 * channel); }
};

// Weights packed for the kernels: B[k][n], in panels of 16 columns (kernels.h).
struct Packed {
  uint32_t K = 0, N = 0, panels = 0;
  lkrt_weight_type type = LKRT_WEIGHT_FP32;  // fp16 / int8 are kept only for matrix-vector layers
  AlignedArray<float> f32;
  AlignedArray<uint16_t> f16;
  AlignedArray<int8_t> i8;
  AlignedArray<float> col_scale;  // int8: scale of column n
  uint32_t padded() const { return panels * kernels::kPanel; }
};

struct Post {  // an elementwise op run in the epilogue of the node before it
  Op op;
  float a, b;
};
void apply_post(float* x, size_t n, const Post& p);
inline void apply_posts(float* x, size_t n, const std::vector<Post>& posts) {
  for (const Post& p : posts) apply_post(x, n, p);
}

struct Node {
  Op op = Op::kInput;
  uint32_t n_in = 0;
  uint32_t in[format::kOpInputs] = {0, 0, 0, 0};
  uint32_t out = 0;
  uint32_t ints[format::kOpIntParams] = {0, 0, 0, 0, 0, 0, 0, 0};
  float floats[format::kOpFloatParams] = {0, 0, 0, 0};
  const TensorRef* t[format::kOpTensors] = {nullptr, nullptr, nullptr, nullptr};
  // Set at load by the op's prepare().
  Packed w;
  AlignedArray<float> bias, gamma, beta, table;  // fp32 copies of the small tensors
  std::vector<Post> post;
  std::string text;      // "conv2d 3->32 k3 s1 p1 fp32"
  bool fused = false;    // an elementwise op run by the node before it
  bool chain = false;    // reads only the previous op's output (for the op texts)
  bool matvec = false;   // gemm / convolution on one pixel: the weights keep their type
  bool sparse_input = false;  // its input follows a ReLU: about half zeros, which the product skips
  // Set by plan() for the input size.
  std::vector<uint32_t> gather;  // reshape: source index of each output element; empty: none needed
};

struct Value {
  Shape shape;
  uint32_t producer = 0;  // node index
  uint32_t uses = 0;      // readers among the nodes that run
  uint32_t last_use = 0;  // node index of the last reader
  size_t offset = 0;      // in the activation arena, floats
  float* data = nullptr;
};

// Scratch floats one node needs, for the planned size.
struct Scratch {
  uint64_t col = 0, im2col = 0, nz = 0, nz_start = 0, attention = 0;
};

struct OpDesc {
  uint8_t min_inputs, max_inputs;  // values read
  uint8_t ints, floats, tensors;   // parameters used; the others must be zero / none
  bool epilogue;                   // elementwise ops after it can run in its epilogue
  // Checks parameters and weights (shapes that do not depend on the input size), packs the
  // weights, sets text and params. Fails with a message naming the op.
  void (*prepare)(lkrt_model& m, Node& n, uint32_t index);
  // The output shape for the input shapes, and the scratch and work it needs; fails when
  // the inputs do not fit. The first call (at load, while the file's tensors are at hand)
  // may pack weights.
  Shape (*infer)(const lkrt_model& m, Node& n, const Shape* in, uint32_t index, Scratch& scratch, uint64_t& flops);
  void (*run)(lkrt_model& m, const Node& n, const Value* const* in, Value& out);
};
const OpDesc& op_desc(Op op);

// What the caller passes to one run of the graph (NCHW images).
struct Inputs {
  const float* latent = nullptr;
  int32_t label = -1;
  const float* image = nullptr;
  const float* cond = nullptr;
  const float* text = nullptr;  // [text width]: the prompt's embedding, or the no-prompt vector
  const uint8_t* map = nullptr;  // [H * W] class ids of a mask generator's label map
  const float* grid = nullptr;   // [channels, cells high, cells wide]: a wallpaper model's latent grid
  float timestep = 0.0f;
};

// A mask generator's palette, from the file's palette section (palette.cpp): the name, and
// per class its name and RGBA color.
struct Palette {
  std::string name;
  std::vector<std::string> class_names;
  std::vector<uint8_t> colors;  // [classes, 4]
};

// Reads and checks the palette section [offset, offset + length) (version 4); palette.cpp.
void read_palette_section(lkrt_model& m, const uint8_t* data, uint64_t size, uint64_t offset, uint64_t length,
                          uint64_t data_start);

// A wallpaper model's section (wallpaper.cpp): the grid's parts, the wave MLP (fp32 copies,
// PyTorch layouts), the moods, and the buffers of a render.
struct Wallpaper {
  uint32_t local_dim = 0, global_dim = 0, periodic_dim = 0, hidden = 0, cell = 0, reach = 0;
  std::vector<float> weight1, bias1, weight2, bias2;  // [hidden, G], [hidden], [2P, hidden], [2P]
  std::vector<std::string> mood_names;
  std::vector<float> mood_shifts;  // [moods, G]
  uint64_t floats_per_cell = 0;    // activations and scratch per grid cell: what a tile of the render costs
  std::vector<float> global, phase, local, grid, tile, render;  // lkrt_wallpaper's work
  uint32_t channels() const { return local_dim + global_dim + periodic_dim; }
};

// Reads and checks the wallpaper section [offset, offset + length) (version 5), marking the
// tensors it uses; wallpaper.cpp.
void read_wallpaper_section(lkrt_model& m, const uint8_t* data, uint64_t size, uint64_t offset, uint64_t length,
                            uint64_t data_start, std::vector<TensorRef>& tensors);
// Checks that a wallpaper model's graph is a chain of transposed convolutions (kernel 4,
// stride 2, padding 1) and elementwise ops after its grid input, so that a pixel depends on
// the cells within 1 of its own and a render can run in tiles; wallpaper.cpp.
void check_wallpaper_graph(const lkrt_model& m);

// A text-to-image denoiser's text encoder (latentkit's TextEncoder, models/text.h) and its
// vocabulary, from the file's text section (text.cpp). Plain arrays, no strings: this is
// in the WebAssembly module, whose size counts.
struct TextEncoder {
  uint32_t vocab = 0, max_tokens = 0, width = 0, layers = 0, heads = 0;  // width 0: no text encoder
  float eps = 1e-5f;
  std::vector<char> words;          // the words as in the file, each NUL-terminated, sorted after <pad> and <unk>
  std::vector<uint32_t> word_at;    // where word i starts in words
  std::vector<float> weights;       // the section's tensors in file order, fp32 (Linear weights [out, in])
  std::vector<uint32_t> tensor_at;  // where tensor i starts in weights
  std::vector<float> work;          // the encoder's buffers for max_tokens tokens
  std::vector<double> scores;       // one row of attention weights
  std::string warnings;             // lkrt_prompt_warnings' last answer
  const char* word(uint32_t i) const { return words.data() + word_at[i]; }
  // Tensor i of the fixed five (token, position, ln_out weight, ln_out bias, null_text), or
  // tensor k of layer l (ln1 weight, bias, qkv weight, bias, proj weight, bias, ln2 weight,
  // bias, fc1 weight, bias, fc2 weight, bias).
  const float* fixed(uint32_t i) const { return weights.data() + tensor_at[i]; }
  const float* layer(uint32_t l, uint32_t k) const {
    return fixed(format::kTextTensorsFixed + l * format::kTextTensorsPerLayer + k);
  }
};

// Reads and checks the text section [offset, offset + size) (version 3), marking the
// tensors it uses; text.cpp.
void read_text_section(lkrt_model& m, const uint8_t* data, uint64_t size, uint64_t offset, uint64_t length,
                       uint64_t data_start, std::vector<TensorRef>& tensors);

}  // namespace lkrt

struct lkrt_model {
  // Header.
  uint32_t latent_dim = 0, num_classes = 0, embed_dim = 0;
  lkrt::Shape image;  // output (generator), or the image in and out (enhancer, denoiser)
  lkrt_weight_type weight_type = LKRT_WEIGHT_FP32;
  lkrt_kind kind = LKRT_KIND_GENERATOR;
  uint32_t pad_multiple = 1, schedule = 0, timesteps = 0, prediction = 0, tasks = 0, sample_steps = 0;
  uint32_t cond_channels = 0;
  std::string id;
  lkrt::TextEncoder text;  // text-to-image denoisers
  lkrt::Palette palette;   // mask generators
  lkrt::Wallpaper wallpaper;  // wallpaper models
  // Graph.
  std::vector<lkrt::Node> nodes;
  std::vector<lkrt::Value> values;
  std::vector<std::string> op_texts;  // per op of the file, for the planned size
  uint64_t params = 0, flops = 0;
  std::vector<double> alpha_bar;  // denoiser: the schedule, [T]
  // Plan for one input size: activations in one arena, scratch for the kernels.
  uint32_t plan_h = 0, plan_w = 0;
  uint64_t arena_floats = 0, scratch_floats = 0;
  lkrt::AlignedArray<float> arena;
  lkrt::AlignedArray<float> col, im2col, attention;
  lkrt::AlignedArray<uint32_t> nz_idx, nz_start;  // nonzeros of the rows of A (kernels.h, sparse_rows)
  lkrt::AlignedArray<float> nz_val;
  // Work buffers of lkrt_enhance and lkrt_sample.
  std::vector<float> work[5];
  lkrt::Inputs inputs;
  std::unique_ptr<lkrt::ThreadPool> pool;
};

namespace lkrt {
// Plans buffers for an input of height x width (pixels of the image kinds, cells of a
// wallpaper model's grid; generators ignore them).
void plan(lkrt_model& m, uint32_t height, uint32_t width);
// Runs the graph on m.inputs; returns the output value (channels-last).
const Value& run_graph(lkrt_model& m);
// Splits [0, n) between the model's threads.
void parallel_for(lkrt_model& m, int n, void (*fn)(void* ctx, int begin, int end), void* ctx);
// The buffers (activations and scratch) of one tile of a wallpaper render, in floats (16 MiB):
// a render runs in tiles of whole cells, each with a margin of kWallpaperTileMargin cells. Of
// 4, 16, 64 and 128 MiB, 16 drew a 1080x2400 wallpaper of latentkit's psgan fastest from a cold
// start at scales 4 and 2 (0.27 s, 0.56 s on one thread here), within 5% of the best at scale 1:
// zeroing fresh buffers costs more than the margins' work.
constexpr uint64_t kWallpaperTileFloats = uint64_t(1) << 22;
// A chain of transposed convolutions of kernel 4, stride 2 and padding 1 (check_wallpaper_graph)
// makes each pixel of cell c from the cells c - 1 .. c + 1 alone, so a tile with 1 cell more on
// every side gives the pixels of its cells exactly as one whole grid would.
constexpr uint32_t kWallpaperTileMargin = 1;
// lkrt_wallpaper with tiles of at most tile_floats of buffers (tests take small ones).
lkrt_status draw_wallpaper(lkrt_model* m, const lkrt_wallpaper_options* options, uint64_t tile_floats, uint8_t* rgba);
}  // namespace lkrt

#endif
