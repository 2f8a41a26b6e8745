// Whole generators: the DCGAN shape against the reference chain, determinism, and
// no heap allocation in lkrt_generate (a counting global operator new).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "reference.h"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  size_t al = std::max(size_t(a), sizeof(void*));
  void* p = nullptr;
  if (posix_memalign(&p, al, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace {


struct Dcgan {
  int width, classes;
  std::vector<float> table, w1, b1, w2, b2, w3, b3;
  int in() const { return 100 + (classes ? 32 : 0); }

  Dcgan(int width_, int classes_) : width(width_), classes(classes_) {
    table = ref::random_values(size_t(classes) * 32, 1.0f, 1);
    w1 = ref::random_values(size_t(in()) * 2 * width * 49, 0.1f, 2);
    b1 = ref::random_values(2 * width, 0.1f, 3);
    w2 = ref::random_values(size_t(2 * width) * width * 16, 0.05f, 4);
    b2 = ref::random_values(width, 0.1f, 5);
    w3 = ref::random_values(size_t(width) * 16, 0.05f, 6);
    b3 = ref::random_values(1, 0.1f, 7);
  }

  std::string lkm(lkrt_weight_type t) const {
    lkrt::ModelWriter w;
    w.set_info({"dcgan", 100, 1, 28, 28});
    if (classes)
      w.add_input(table.data(), classes, 32);
    else
      w.add_input();
    w.add_conv_transpose2d(w1.data(), in(), 2 * width, 7, 1, 0, b1.data(), t);
    w.add_activation(lkrt::Activation::kRelu);
    w.add_conv_transpose2d(w2.data(), 2 * width, width, 4, 2, 1, b2.data(), t);
    w.add_activation(lkrt::Activation::kRelu);
    w.add_conv_transpose2d(w3.data(), width, 1, 4, 2, 1, b3.data(), t);
    w.add_activation(lkrt::Activation::kTanh);
    return w.serialize();
  }

  std::vector<float> reference(const std::vector<float>& z, int label) const {
    std::vector<float> x = z;
    if (classes) x.insert(x.end(), table.begin() + label * 32, table.begin() + (label + 1) * 32);
    int h, w;
    auto relu = [](std::vector<float> v) {
      for (float& e : v) e = e > 0 ? e : 0;
      return v;
    };
    x = relu(ref::conv_transpose2d(x, in(), 1, 1, w1, b1.data(), 2 * width, 7, 1, 0, &h, &w));
    x = relu(ref::conv_transpose2d(x, 2 * width, 7, 7, w2, b2.data(), width, 4, 2, 1, &h, &w));
    x = ref::conv_transpose2d(x, width, 14, 14, w3, b3.data(), 1, 4, 2, 1, &h, &w);
    for (float& e : x) e = std::tanh(e);
    return x;
  }
};

TEST(Generate, DcganMatchesReference) {
  Dcgan net(16, 0);
  std::vector<float> z = ref::random_values(100, 1.0f, 11);
  std::vector<float> want = net.reference(z, -1);
  lkrt_model* m = ref::load_or_fail(net.lkm(LKRT_WEIGHT_FP32));
  ASSERT_NE(m, nullptr);
  std::vector<float> got = ref::run(m, z);
  EXPECT_LT(ref::max_rel_error(got, want), 1e-5);
  lkrt_model_free(m);

  // Quantised weights stay close to the fp32 network (normalised error, as ggml's test-backend-ops).
  for (lkrt_weight_type t : {LKRT_WEIGHT_FP16, LKRT_WEIGHT_INT8}) {
    m = ref::load_or_fail(net.lkm(t));
    ASSERT_NE(m, nullptr);
    got = ref::run(m, z);
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      num += (got[i] - want[i]) * double(got[i] - want[i]);
      den += want[i] * double(want[i]);
    }
    EXPECT_LT(num / den, t == LKRT_WEIGHT_INT8 ? 1e-3 : 1e-5) << "weight type " << int(t);
    lkrt_model_free(m);
  }
}

TEST(Generate, ConditionalLabelsDiffer) {
  Dcgan net(8, 10);
  std::vector<float> z = ref::random_values(100, 1.0f, 12);
  lkrt_model* m = ref::load_or_fail(net.lkm(LKRT_WEIGHT_INT8));
  ASSERT_NE(m, nullptr);
  std::vector<float> a = ref::run(m, z, 3), b = ref::run(m, z, 4);
  EXPECT_NE(a, b);
  std::vector<float> want = net.reference(z, 3);
  EXPECT_LT(ref::max_rel_error(a, want), 5e-2);
  std::vector<float> out(28 * 28);
  EXPECT_EQ(lkrt_generate(m, z.data(), 10, out.data()), LKRT_ERR_ARGUMENT);
  EXPECT_EQ(lkrt_generate(m, z.data(), -5, out.data()), LKRT_ERR_ARGUMENT);
  lkrt_model_free(m);
}

TEST(Generate, RepeatableAndAllocationFree) {
  Dcgan net(16, 0);
  for (int threads : {1, 2}) {
    lkrt_model* m = ref::load_or_fail(net.lkm(LKRT_WEIGHT_FP32));
    ASSERT_NE(m, nullptr);
    ASSERT_EQ(lkrt_set_threads(m, threads), LKRT_OK);
    std::vector<float> z = ref::random_values(100, 1.0f, 13);
    std::vector<float> first(28 * 28), again(28 * 28);
    long before = g_allocations.load();
    ASSERT_EQ(lkrt_generate(m, z.data(), -1, first.data()), LKRT_OK);
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(lkrt_generate(m, z.data(), -1, again.data()), LKRT_OK);
      ASSERT_EQ(0, std::memcmp(first.data(), again.data(), first.size() * sizeof(float))) << "call " << i;
    }
    EXPECT_EQ(g_allocations.load() - before, 0) << "lkrt_generate allocated, threads " << threads;
    lkrt_model_free(m);
  }
  EXPECT_GT(g_allocations.load(), 0);  // the counter does count
}

TEST(Generate, ModelsAreIndependent) {
  // Two models generate from different threads at the same time.
  Dcgan net(8, 0);
  std::string bytes = net.lkm(LKRT_WEIGHT_FP32);
  std::vector<float> z = ref::random_values(100, 1.0f, 14);
  lkrt::Model a(bytes.data(), bytes.size()), b(bytes.data(), bytes.size());
  std::vector<float> ra, rb;
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) ra = a.generate(z);
  });
  for (int i = 0; i < 50; ++i) rb = b.generate(z);
  t.join();
  EXPECT_EQ(ra, rb);
  EXPECT_THROW(a.generate(std::vector<float>(99)), lkrt::Error);
}

}  // namespace
