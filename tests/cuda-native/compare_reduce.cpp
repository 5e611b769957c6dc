// Every soma_cuda_* entry of cuda-kernels/reduce.cu and loss.cu, run on the emulated device, against the matching
// soma_cpu_* entry of native/src/reduce.cpp and loss.cpp. Fresh random inputs each run (SOMA_TEST_SEED repeats
// one), outputs poisoned with a NaN payload no kernel computes, device buffers and workspaces of the exact size
// (the sanitizer build sees the first byte out of bounds). Shapes take every path: one warp per row, one block
// per row, split rows through the workspace, leading-axis row chunks, several partial-sum chunks for the losses.
// Bounds: bitwise for MAX / MIN and the arg-extrema; ||out - ref|| / ||ref|| < 1e-4 (f32) or 1e-12 (f64) otherwise,
// NaN in the same places. Every call runs twice: the two results must be bitwise equal (no atomics).
//
//   cuda_compare_reduce [--subset]     --subset: f32 only, smaller shapes (the sanitizer build)
#include "soma.h"
#include "device_buffers.h"
#include "test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

bool g_subset = false;
std::mt19937_64 g_rng;

template <typename T> const char* tname() { return sizeof(T) == 8 ? "f64" : std::is_same<T, float>::value ? "f32" : "i32"; }


template <typename T> std::vector<T> gaussian(size_t n, double scale = 1, double shift = 0) {
  std::normal_distribution<double> d(shift, scale);
  std::vector<T> v(n);
  for (auto& x : v) x = T(d(g_rng));
  return v;
}
template <typename T> std::vector<T> uniform(size_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = T(d(g_rng));
  return v;
}
template <typename T> std::vector<T> small_ints(size_t n) {
  std::uniform_int_distribution<int> d(-2, 2);
  std::vector<T> v(n);
  for (auto& x : v) x = T(d(g_rng));
  return v;
}


// The workspace a call asks for, at exactly that size (null when none).
struct Workspace {
  void* p = nullptr;
  Workspace(int kind, int64_t rows, int64_t cols) {
    int64_t bytes = -1;
    TU_CHECK(soma_cuda_reduce_workspace(kind, rows, cols, &bytes) == 0 && bytes >= 0, "workspace query");
    if (bytes > 0) TU_CHECK(cudaMalloc(&p, size_t(bytes)) == cudaSuccess, "workspace cudaMalloc");
  }
  ~Workspace() { if (p) cudaFree(p); }
};

template <typename T> double bound() { return sizeof(T) == 4 ? 1e-4 : 1e-12; }

template <typename T>
void compare(const std::string& what, const std::vector<T>& got, const std::vector<T>& ref, bool exact) {
  ++tu::checks();
  std::string why;
  double d2 = 0, r2 = 0;
  if (got.size() != ref.size()) why = "sizes differ";
  for (size_t i = 0; i < got.size() && why.empty(); ++i) {
    const T g = got[i], r = ref[i];
    if (is_poison(g)) why = tu::format("element %zu never written", i);
    else if (std::is_integral<T>::value || exact) {
      if (!(g == r || (g != g && r != r))) why = tu::format("element %zu: %.9g, expected %.9g", i, double(g), double(r));
    } else if (std::isnan(double(r)) || std::isnan(double(g))) {
      if (!(std::isnan(double(r)) && std::isnan(double(g)))) why = tu::format("element %zu: NaN mismatch", i);
    } else {
      const double e = double(g) - double(r);
      d2 += e * e;
      r2 += double(r) * double(r);
    }
  }
  if (why.empty()) {
    const double err = r2 == 0 ? std::sqrt(d2) : std::sqrt(d2 / r2);
    if (!(err <= bound<T>())) why = tu::format("relative error %.3g exceeds %.1g", err, bound<T>());
  }
  if (!why.empty()) {
    --tu::checks();
    TU_CHECK(false, "%s: %s", what.c_str(), why.c_str());
  } else if (tu::verbose()) {
    std::printf("   ok %s\n", what.c_str());
  }
}

// Runs `call` twice on freshly poisoned outputs; the second result must equal the first bit for bit.
template <typename T, typename Call>
std::vector<T> twice(const std::string& what, Dev<T>& out, Call call) {
  out.repoison();
  TU_CHECK(call() == 0, "%s: status (%s)", what.c_str(), soma_emu_last_message());
  std::vector<T> first = out.get();
  out.repoison();
  TU_CHECK(call() == 0, "%s: status, second run", what.c_str());
  std::vector<T> second = out.get();
  TU_CHECK(std::memcmp(first.data(), second.data(), first.size() * sizeof(T)) == 0, "%s: two runs differ",
           what.c_str());
  return first;
}

struct Shape {
  int64_t rows, cols;
};

std::vector<Shape> row_shapes() {
  if (g_subset) return {{1, 1}, {3, 33}, {2, 1100}};  // the split-row path: split_subset_suite
  return {{1, 1}, {1, 7}, {5, 33}, {37, 300}, {300, 7}, {2, 1025}, {3, 5000}, {2, 17000}, {1, 40000}, {3, 0}};
}

// ---------------------------------------------------------------- reductions
template <typename T> void reduce_suite() {
  for (Shape s : row_shapes()) {
    const size_t n = size_t(s.rows * s.cols);
    for (int op = SOMA_REDUCE_SUM; op <= SOMA_REDUCE_VAR; ++op) {
      if (s.cols == 0 && op != SOMA_REDUCE_SUM) continue;
      std::vector<T> x = op == SOMA_REDUCE_MAX || op == SOMA_REDUCE_MIN ? small_ints<T>(n) : gaussian<T>(n, 1, 0.5);
      if ((op == SOMA_REDUCE_MAX || op == SOMA_REDUCE_MIN) && s.rows > 1 && s.cols > 0)
        x[size_t(s.cols + int64_t(g_rng() % uint64_t(s.cols)))] = std::numeric_limits<T>::quiet_NaN();
      const std::string what = tu::format("reduce_rows op %d %s %lldx%lld", op, tname<T>(), (long long)s.rows,
                                          (long long)s.cols);
      std::vector<T> ref(size_t(s.rows));
      soma_cpu_reduce_rows(op, dtype_of<T>(), s.rows, s.cols, x.data(), ref.data());
      Dev<T> dx(x), out(Dev<T>::poison(size_t(s.rows)));
      Workspace ws(SOMA_CUDA_WORKSPACE_REDUCE_ROWS, s.rows, s.cols);
      compare(what, twice<T>(what, out, [&] {
                return soma_cuda_reduce_rows(op, dtype_of<T>(), s.rows, s.cols, dx.p, out.p, ws.p, nullptr);
              }), ref, op == SOMA_REDUCE_MAX || op == SOMA_REDUCE_MIN);
      if (s.cols == 0) continue;

      // backward
      std::vector<T> g = gaussian<T>(size_t(s.rows));
      std::vector<T> gref(n);
      soma_cpu_reduce_rows_backward(op, dtype_of<T>(), s.rows, s.cols, x.data(), g.data(), gref.data());
      Dev<T> dg(g), gi(Dev<T>::poison(n));
      compare(what + " backward", twice<T>(what + " backward", gi, [&] {
                return soma_cuda_reduce_rows_backward(op, dtype_of<T>(), s.rows, s.cols, dx.p, dg.p, gi.p, nullptr);
              }), gref, op == SOMA_REDUCE_MAX || op == SOMA_REDUCE_MIN);
    }
  }
  // leading axis: outer x inner
  std::vector<Shape> lead = g_subset ? std::vector<Shape>{{1100, 5}}
                                     : std::vector<Shape>{{1, 1}, {7, 3}, {37, 300}, {1000, 5}, {3000, 33}, {2048, 70}};
  for (Shape s : lead) {
    for (int op : {SOMA_REDUCE_SUM, SOMA_REDUCE_MEAN}) {
      std::vector<T> x = gaussian<T>(size_t(s.rows * s.cols));
      std::vector<T> ref(size_t(s.cols));
      soma_cpu_reduce_leading(op, dtype_of<T>(), s.rows, s.cols, x.data(), ref.data());
      Dev<T> dx(x), out(Dev<T>::poison(size_t(s.cols)));
      Workspace ws(SOMA_CUDA_WORKSPACE_REDUCE_LEADING, s.rows, s.cols);
      const std::string what = tu::format("reduce_leading op %d %s %lldx%lld", op, tname<T>(), (long long)s.rows,
                                          (long long)s.cols);
      compare(what, twice<T>(what, out, [&] {
                return soma_cuda_reduce_leading(op, dtype_of<T>(), s.rows, s.cols, dx.p, out.p, ws.p, nullptr);
              }), ref, false);
    }
  }
  // middle axis: batches x outer x inner, forward and backward
  struct Middle { int64_t batches, outer, inner; };
  std::vector<Middle> mid = g_subset ? std::vector<Middle>{{16, 100, 64}}
                                     : std::vector<Middle>{{2, 1, 1}, {3, 7, 5}, {16, 100, 64}, {2, 700, 3}, {4, 3, 100}};
  for (Middle s : mid) {
    for (int op : {SOMA_REDUCE_SUM, SOMA_REDUCE_MEAN}) {
      const size_t n = size_t(s.batches * s.outer * s.inner), m = size_t(s.batches * s.inner);
      std::vector<T> x = gaussian<T>(n);
      std::vector<T> ref(m);
      soma_cpu_reduce_middle(op, dtype_of<T>(), s.batches, s.outer, s.inner, x.data(), ref.data());
      Dev<T> dx(x), out(Dev<T>::poison(m));
      const std::string what = tu::format("reduce_middle op %d %s %lldx%lldx%lld", op, tname<T>(),
                                          (long long)s.batches, (long long)s.outer, (long long)s.inner);
      compare(what, twice<T>(what, out, [&] {
                return soma_cuda_reduce_middle(op, dtype_of<T>(), s.batches, s.outer, s.inner, dx.p, out.p, nullptr);
              }), ref, false);
      std::vector<T> g = gaussian<T>(m);
      std::vector<T> gref(n);
      soma_cpu_reduce_middle_backward(op, dtype_of<T>(), s.batches, s.outer, s.inner, g.data(), gref.data());
      Dev<T> dg(g), gi(Dev<T>::poison(n));
      compare(what + " backward", twice<T>(what + " backward", gi, [&] {
                return soma_cuda_reduce_middle_backward(op, dtype_of<T>(), s.batches, s.outer, s.inner, dg.p, gi.p,
                                                        nullptr);
              }), gref, false);
    }
  }
}

template <typename T> void arg_suite() {
  for (Shape s : row_shapes()) {
    if (s.cols == 0) continue;
    const size_t n = size_t(s.rows * s.cols);
    std::vector<T> x = small_ints<T>(n);
    if (std::is_floating_point<T>::value)
      for (int64_t r = 1; r < s.rows; r += 2) {
        x[size_t(r * s.cols + int64_t(g_rng() % uint64_t(s.cols)))] = std::numeric_limits<T>::quiet_NaN();
        x[size_t(r * s.cols + int64_t(g_rng() % uint64_t(s.cols)))] = std::numeric_limits<T>::quiet_NaN();
      }
    Dev<T> dx(x);
    for (int op : {SOMA_REDUCE_MAX, SOMA_REDUCE_MIN}) {
      std::vector<int32_t> ref(size_t(s.rows));
      soma_cpu_arg_reduce_rows(op, dtype_of<T>(), s.rows, s.cols, x.data(), ref.data());
      Dev<int32_t> out(Dev<int32_t>::poison(size_t(s.rows)));
      const std::string what = tu::format("arg_reduce_rows op %d %s %lldx%lld", op, tname<T>(), (long long)s.rows,
                                          (long long)s.cols);
      compare(what, twice<int32_t>(what, out, [&] {
                return soma_cuda_arg_reduce_rows(op, dtype_of<T>(), s.rows, s.cols, dx.p, out.p, nullptr);
              }), ref, true);
    }
  }
}

// Softmax's own paths besides the row shapes: a warp's row in 16-byte packs (100, 1024 columns), a block's row
// in registers with packs (1028, 4096) and element by element (1031), the long-row loop with packs (8196, 16384,
// 16388) and without (20001); then rows starting one element past a 16-byte boundary (element by element).
std::vector<Shape> softmax_shapes() {
  std::vector<Shape> v = row_shapes();
  if (g_subset) return v;
  for (Shape s : std::vector<Shape>{{3, 100}, {4, 1024}, {3, 1028}, {3, 1031}, {2, 4096}, {2, 8196}, {2, 16384},
                                    {2, 16388}, {1, 20001}})
    v.push_back(s);
  return v;
}

template <typename T> void softmax_suite() {
  for (Shape s : softmax_shapes()) {
    if (s.cols == 0) continue;
    const size_t n = size_t(s.rows * s.cols);
    for (int log : {0, 1}) {
      std::vector<T> x = gaussian<T>(n, 4);
      x[0] = T(90);
      std::vector<T> ref(n);
      soma_cpu_softmax_rows(log, dtype_of<T>(), s.rows, s.cols, x.data(), ref.data());
      Dev<T> dx(x), y(Dev<T>::poison(n));
      const std::string what = tu::format("softmax_rows log %d %s %lldx%lld", log, tname<T>(), (long long)s.rows,
                                          (long long)s.cols);
      std::vector<T> got = twice<T>(what, y, [&] {
        return soma_cuda_softmax_rows(log, dtype_of<T>(), s.rows, s.cols, dx.p, y.p, nullptr);
      });
      compare(what, got, ref, false);
      // backward from the device's y
      std::vector<T> g = gaussian<T>(n);
      std::vector<T> gref(n);
      soma_cpu_softmax_rows_backward(log, dtype_of<T>(), s.rows, s.cols, got.data(), g.data(), gref.data());
      Dev<T> dg(g), gi(Dev<T>::poison(n));
      compare(what + " backward", twice<T>(what + " backward", gi, [&] {
                return soma_cuda_softmax_rows_backward(log, dtype_of<T>(), s.rows, s.cols, y.p, dg.p, gi.p, nullptr);
              }), gref, false);
    }
  }
}

// Rows that start one element past a 16-byte boundary (a view at an offset): the kernels must not use packs.
template <typename T> void softmax_misaligned_suite() {
  if (g_subset) return;
  for (Shape s : std::vector<Shape>{{3, 100}, {2, 4096}, {1, 20000}}) {
    const size_t n = size_t(s.rows * s.cols);
    for (int log : {0, 1}) {
      std::vector<T> x = gaussian<T>(n + 1, 4);
      std::vector<T> ref(n), gref(n);
      soma_cpu_softmax_rows(log, dtype_of<T>(), s.rows, s.cols, x.data() + 1, ref.data());
      Dev<T> dx(x), y(Dev<T>::poison(n + 1));
      const std::string what = tu::format("softmax_rows misaligned log %d %s %lldx%lld", log, tname<T>(),
                                          (long long)s.rows, (long long)s.cols);
      std::vector<T> got = twice<T>(what, y, [&] {
        return soma_cuda_softmax_rows(log, dtype_of<T>(), s.rows, s.cols, dx.p + 1, y.p + 1, nullptr);
      });
      compare(what, std::vector<T>(got.begin() + 1, got.end()), ref, false);
      std::vector<T> g = gaussian<T>(n + 1);
      soma_cpu_softmax_rows_backward(log, dtype_of<T>(), s.rows, s.cols, got.data() + 1, g.data() + 1, gref.data());
      Dev<T> dg(g), gi(Dev<T>::poison(n + 1));
      std::vector<T> back = twice<T>(what + " backward", gi, [&] {
        return soma_cuda_softmax_rows_backward(log, dtype_of<T>(), s.rows, s.cols, y.p + 1, dg.p + 1, gi.p + 1,
                                               nullptr);
      });
      compare(what + " backward", std::vector<T>(back.begin() + 1, back.end()), gref, false);
    }
  }
}

// The sanitizer build's only split row (ucontext fibers are slow): SUM and VAR, the workspace's two layouts.
void split_subset_suite() {
  if (!g_subset) return;
  const Shape s{1, 16400};
  for (int op : {int(SOMA_REDUCE_SUM), int(SOMA_REDUCE_VAR)}) {
    std::vector<float> x = gaussian<float>(size_t(s.cols), 1, 0.5);
    std::vector<float> ref(1);
    soma_cpu_reduce_rows(op, SOMA_F32, s.rows, s.cols, x.data(), ref.data());
    Dev<float> dx(x), out(Dev<float>::poison(1));
    Workspace ws(SOMA_CUDA_WORKSPACE_REDUCE_ROWS, s.rows, s.cols);
    const std::string what = tu::format("reduce_rows op %d f32 split 1x16400", op);
    compare(what, twice<float>(what, out, [&] {
              return soma_cuda_reduce_rows(op, SOMA_F32, s.rows, s.cols, dx.p, out.p, ws.p, nullptr);
            }), ref, false);
  }
}

// ---------------------------------------------------------------- losses
template <typename T> void elementwise_loss_suite() {
  std::vector<int64_t> sizes = g_subset ? std::vector<int64_t>{1, 4097} : std::vector<int64_t>{1, 7, 4097, 30011};
  for (int64_t n : sizes) {
    for (int kind = 0; kind < 3; ++kind) {  // mse, bce, bce from logits
      std::vector<T> x = kind == 0 ? gaussian<T>(size_t(n)) : kind == 1 ? uniform<T>(size_t(n), 0, 1)
                                                                       : uniform<T>(size_t(n), -6, 6);
      if (kind == 1 && n > 2) {
        x[0] = T(0);
        x[1] = T(1);
      }
      std::vector<T> z = kind == 0 ? gaussian<T>(size_t(n)) : uniform<T>(size_t(n), 0, 1);
      std::vector<T> g = {T(1.25)};
      std::vector<T> ref(1), gref(static_cast<size_t>(n));
      if (kind == 0) {
        soma_cpu_mse(dtype_of<T>(), n, x.data(), z.data(), ref.data());
        soma_cpu_mse_backward(dtype_of<T>(), n, x.data(), z.data(), g.data(), gref.data());
      } else {
        soma_cpu_bce(kind == 2, dtype_of<T>(), n, x.data(), z.data(), ref.data());
        soma_cpu_bce_backward(kind == 2, dtype_of<T>(), n, x.data(), z.data(), g.data(), gref.data());
      }
      Dev<T> dx(x), dz(z), dg(g), out(Dev<T>::poison(1)), gx(Dev<T>::poison(size_t(n)));
      Workspace ws(SOMA_CUDA_WORKSPACE_LOSS_ELEMENTS, 1, n);
      const std::string what = tu::format("%s %s n=%lld", kind == 0 ? "mse" : kind == 1 ? "bce" : "bce logits",
                                          tname<T>(), (long long)n);
      compare(what, twice<T>(what, out, [&] {
                return kind == 0 ? soma_cuda_mse(dtype_of<T>(), n, dx.p, dz.p, out.p, ws.p, nullptr)
                                 : soma_cuda_bce(kind == 2, dtype_of<T>(), n, dx.p, dz.p, out.p, ws.p, nullptr);
              }), ref, false);
      compare(what + " backward", twice<T>(what + " backward", gx, [&] {
                return kind == 0 ? soma_cuda_mse_backward(dtype_of<T>(), n, dx.p, dz.p, dg.p, gx.p, nullptr)
                                 : soma_cuda_bce_backward(kind == 2, dtype_of<T>(), n, dx.p, dz.p, dg.p, gx.p, nullptr);
              }), gref, false);
    }
  }
}

template <typename T> void cross_entropy_suite() {
  for (Shape s : row_shapes()) {
    if (s.cols == 0) continue;
    const size_t n = size_t(s.rows * s.cols);
    for (int sparse : {0, 1}) {
      std::vector<T> x = gaussian<T>(n, 3);
      x[0] = T(90);
      std::vector<T> t = uniform<T>(n, 0, 1);
      std::vector<int32_t> labels(size_t(s.rows));
      for (auto& l : labels) l = int32_t(g_rng() % uint64_t(s.cols));
      std::vector<T> g = {T(0.75)};
      std::vector<T> ref(1), pref(n), gref(n);
      if (sparse) soma_cpu_sparse_softmax_cross_entropy(dtype_of<T>(), s.rows, s.cols, x.data(), labels.data(),
                                                        ref.data(), pref.data());
      else soma_cpu_softmax_cross_entropy(dtype_of<T>(), s.rows, s.cols, x.data(), t.data(), ref.data(), pref.data());
      Dev<T> dx(x), dt(t), dg(g), out(Dev<T>::poison(1)), probs(Dev<T>::poison(n)), gx(Dev<T>::poison(n));
      Dev<int32_t> dl(labels);
      Workspace ws(SOMA_CUDA_WORKSPACE_LOSS_ROWS, s.rows, s.cols);
      const std::string what = tu::format("%ssoftmax cross-entropy %s %lldx%lld", sparse ? "sparse " : "",
                                          tname<T>(), (long long)s.rows, (long long)s.cols);
      auto forward = [&](T* p) {
        return sparse ? soma_cuda_sparse_softmax_cross_entropy(dtype_of<T>(), s.rows, s.cols, dx.p, dl.p, out.p, p,
                                                               ws.p, nullptr)
                      : soma_cuda_softmax_cross_entropy(dtype_of<T>(), s.rows, s.cols, dx.p, dt.p, out.p, p, ws.p,
                                                        nullptr);
      };
      compare(what + " without probs", twice<T>(what, out, [&] { return forward(nullptr); }), ref, false);
      probs.repoison();
      compare(what, twice<T>(what, out, [&] { return forward(probs.p); }), ref, false);
      std::vector<T> p = probs.get();
      compare(what + " probs", p, pref, false);
      if (sparse) soma_cpu_sparse_softmax_cross_entropy_backward(dtype_of<T>(), s.rows, s.cols, p.data(),
                                                                 labels.data(), g.data(), gref.data());
      else soma_cpu_softmax_cross_entropy_backward(dtype_of<T>(), s.rows, s.cols, p.data(), t.data(), g.data(),
                                                   gref.data());
      compare(what + " backward", twice<T>(what + " backward", gx, [&] {
                return sparse ? soma_cuda_sparse_softmax_cross_entropy_backward(dtype_of<T>(), s.rows, s.cols, probs.p,
                                                                                dl.p, dg.p, gx.p, nullptr)
                              : soma_cuda_softmax_cross_entropy_backward(dtype_of<T>(), s.rows, s.cols, probs.p, dt.p,
                                                                         dg.p, gx.p, nullptr);
              }), gref, false);
    }
  }
}

void status_suite() {
  int64_t bytes = 0;
  TU_CHECK(soma_cuda_reduce_workspace(99, 1, 1, &bytes) == cudaErrorInvalidValue, "unknown workspace kind");
  TU_CHECK(soma_cuda_reduce_workspace(SOMA_CUDA_WORKSPACE_REDUCE_ROWS, 2, 17000, &bytes) == 0 && bytes > 0,
           "split rows need a workspace");
  TU_CHECK(soma_cuda_reduce_rows(SOMA_REDUCE_SUM, SOMA_F32, 2, 17000, nullptr, nullptr, nullptr, nullptr) ==
               cudaErrorInvalidValue, "a missing workspace is an invalid value");
  TU_CHECK(soma_cuda_reduce_rows(SOMA_REDUCE_SUM, SOMA_I32, 2, 3, nullptr, nullptr, nullptr, nullptr) ==
               cudaErrorInvalidValue, "int32 sums are not a kernel");
  TU_CHECK(soma_cuda_reduce_leading(SOMA_REDUCE_MAX, SOMA_F32, 2, 3, nullptr, nullptr, nullptr, nullptr) ==
               cudaErrorInvalidValue, "leading MAX is not a kernel");
  TU_CHECK(soma_cuda_mse(SOMA_F32, 5, nullptr, nullptr, nullptr, nullptr, nullptr) == cudaErrorInvalidValue,
           "losses need their workspace");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--subset") g_subset = true;
    else {
      std::fprintf(stderr, "usage: %s [--subset]\n", argv[0]);
      return 2;
    }
  }
  setenv("SOMA_EMU_SMS", "1", 0);  // small grids: the grid-stride loops over rows go round several times
  tu::banner(g_subset ? "cuda_compare_reduce --subset" : "cuda_compare_reduce");
  g_rng.seed(tu::seed());
  const auto t0 = std::chrono::steady_clock::now();
  const std::pair<const char*, void (*)()> parts[] = {
      {"status codes", status_suite},
      {"reductions f32", reduce_suite<float>},
      {"split rows f32 (--subset)", split_subset_suite},
      {"arg-extrema f32, i32", [] { arg_suite<float>(); arg_suite<int32_t>(); }},
      {"softmax f32", [] { softmax_suite<float>(); softmax_misaligned_suite<float>(); }},
      {"element-wise losses f32", elementwise_loss_suite<float>},
      {"cross-entropies f32", cross_entropy_suite<float>},
      {"reductions f64", [] { if (!g_subset) reduce_suite<double>(); }},
      {"arg-extrema f64", [] { if (!g_subset) arg_suite<double>(); }},
      {"softmax f64", [] { if (!g_subset) { softmax_suite<double>(); softmax_misaligned_suite<double>(); } }},
      {"element-wise losses f64", [] { if (!g_subset) elementwise_loss_suite<double>(); }},
      {"cross-entropies f64", [] { if (!g_subset) cross_entropy_suite<double>(); }},
  };
  for (const auto& part : parts) {
    const auto t1 = std::chrono::steady_clock::now();
    const int before = tu::failures(), checks = tu::checks();
    part.second();
    std::printf("   %-34s %s %5d checks %.3f s\n", part.first, tu::failures() == before ? "ok  " : "FAIL",
                tu::checks() - checks, std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
  }
  std::printf("   %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return tu::finish("cuda_compare_reduce");
}
