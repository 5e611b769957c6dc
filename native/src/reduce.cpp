// Reductions. Java permutes the reduced axes last, so every reduction here is a row reduction over a
// contiguous rows x cols matrix. Sums accumulate in double for f32 inputs: long rows stay accurate.
#include "soma.h"
#include "dtype_dispatch.h"
#include <algorithm>
#include <cmath>
#include <limits>

namespace {

template <typename T>
T reduce_row(int op, const T* x, int64_t cols) {
  switch (op) {
    case SOMA_REDUCE_SUM:
    case SOMA_REDUCE_MEAN: {
      double acc = 0.0;
#pragma omp simd reduction(+ : acc)
      for (int64_t c = 0; c < cols; ++c) acc += (double)x[c];
      return (T)(op == SOMA_REDUCE_MEAN ? acc / (double)cols : acc);
    }
    case SOMA_REDUCE_MAX: {
      T m = x[0];
      for (int64_t c = 1; c < cols; ++c) m = (x[c] > m || std::isnan(x[c])) ? x[c] : m;
      return m;
    }
    case SOMA_REDUCE_MIN: {
      T m = x[0];
      for (int64_t c = 1; c < cols; ++c) m = (x[c] < m || std::isnan(x[c])) ? x[c] : m;
      return m;
    }
  }
  return T(0);
}

template <typename T>
void reduce_rows(int op, int64_t rows, int64_t cols, const T* in, T* out) {
  if (rows == 1 && cols > soma::kParallelGrain && (op == SOMA_REDUCE_SUM || op == SOMA_REDUCE_MEAN)) {
    // One long row: split it across threads.
    double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static)
    for (int64_t c = 0; c < cols; ++c) acc += (double)in[c];
    out[0] = (T)(op == SOMA_REDUCE_MEAN ? acc / (double)cols : acc);
    return;
  }
#pragma omp parallel for if (rows * cols > soma::kParallelGrain && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) out[r] = reduce_row<T>(op, in + r * cols, cols);
}

}  // namespace

extern "C" void soma_cpu_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, reduce_rows<T>(op, rows, cols, (const T*)in, (T*)out));
}
