// Row gather (embedding lookup) and its gradient, a scatter-add of rows. ids are checked by Java to lie in
// [0, table rows).
#include "soma.h"
#include "dtype_dispatch.h"
#include <algorithm>
#include <cstring>

namespace {

template <typename T>
void gather_rows(int64_t n, int64_t cols, const T* table, const int32_t* ids, T* out) {
#pragma omp parallel for if (n * cols > soma::kParallelGrain && n > 1) schedule(static)
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * cols, table + (int64_t)ids[i] * cols, cols * sizeof(T));
}

// Repeated ids add up; each thread owns a band of columns and walks every id, so no two threads write one element.
template <typename T>
void scatter_add_rows(int64_t n, int64_t cols, const int32_t* ids, const T* grad_out, int64_t rows, T* grad_table) {
  std::fill(grad_table, grad_table + rows * cols, (T)0);
  constexpr int64_t kBand = 64;
  const int64_t bands = (cols + kBand - 1) / kBand;
#pragma omp parallel for if (n * cols > soma::kParallelGrain && bands > 1) schedule(static)
  for (int64_t band = 0; band < bands; ++band) {
    const int64_t c0 = band * kBand, c1 = std::min(cols, c0 + kBand);
    for (int64_t i = 0; i < n; ++i) {
      T* dst = grad_table + (int64_t)ids[i] * cols;
      const T* src = grad_out + i * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

}  // namespace

extern "C" {

void soma_cpu_gather_rows(int dtype, int64_t n, int64_t cols, const void* table, const int32_t* ids, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, gather_rows<T>(n, cols, (const T*)table, ids, (T*)out));
}

void soma_cpu_scatter_add_rows(int dtype, int64_t n, int64_t cols, const int32_t* ids, const void* grad_out,
                               int64_t rows, void* grad_table) {
  SOMA_DISPATCH_FLOAT(dtype, T, scatter_add_rows<T>(n, cols, ids, (const T*)grad_out, rows, (T*)grad_table));
}

}  // extern "C"
