// Reductions, arg-extrema and softmax. Java permutes the reduced axes last, so every kernel here works on
// contiguous rows x cols matrices, one row per output element. Sums accumulate in double for f32 inputs:
// long rows stay accurate. Backward kernels are fused (one pass writes the whole input gradient).
#include "soma.h"
#include "dtype_dispatch.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <cstring>
#include <vector>

namespace {

template <typename T>
double row_sum(const T* x, int64_t cols) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (int64_t c = 0; c < cols; ++c) acc += (double)x[c];
  return acc;
}

// Population variance (ddof = 0) in two passes: the mean first, then squared deviations (no cancellation).
template <typename T>
double row_variance(const T* x, int64_t cols) {
  double mean = row_sum(x, cols) / (double)cols;
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (int64_t c = 0; c < cols; ++c) {
    double d = (double)x[c] - mean;
    acc += d * d;
  }
  return acc / (double)cols;
}

// Index of the first maximum (is_max) or minimum; a NaN counts as the extremum, the first NaN wins, so the
// index always points at the value the MAX/MIN reduction returns.
template <typename T>
int64_t row_arg_extremum(bool is_max, const T* x, int64_t cols) {
  int64_t best = 0;
  T m = x[0];
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(m)) return 0;
  }
  for (int64_t c = 1; c < cols; ++c) {
    T v = x[c];
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(v)) return c;
    }
    if (is_max ? v > m : v < m) {
      m = v;
      best = c;
    }
  }
  return best;
}

// Max / min with NaN propagation, as two plain reductions so they vectorise.
template <typename T>
T row_max(const T* x, int64_t cols) {
  T m = x[0];
  bool nan = false;
#pragma omp simd reduction(max : m) reduction(| : nan)
  for (int64_t c = 0; c < cols; ++c) {
    m = x[c] > m ? x[c] : m;
    nan |= x[c] != x[c];
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

template <typename T>
T row_min(const T* x, int64_t cols) {
  T m = x[0];
  bool nan = false;
#pragma omp simd reduction(min : m) reduction(| : nan)
  for (int64_t c = 0; c < cols; ++c) {
    m = x[c] < m ? x[c] : m;
    nan |= x[c] != x[c];
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

template <typename T>
T reduce_row(int op, const T* x, int64_t cols) {
  switch (op) {
    case SOMA_REDUCE_SUM: return (T)row_sum(x, cols);
    case SOMA_REDUCE_MEAN: return (T)(row_sum(x, cols) / (double)cols);
    case SOMA_REDUCE_MAX: return row_max(x, cols);
    case SOMA_REDUCE_MIN: return row_min(x, cols);
    case SOMA_REDUCE_VAR: return (T)row_variance(x, cols);
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
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) out[r] = reduce_row<T>(op, in + r * cols, cols);
}

template <typename T>
void reduce_rows_backward(int op, int64_t rows, int64_t cols, const T* in, const T* g, T* gi) {
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = in ? in + r * cols : nullptr;
    T* o = gi + r * cols;
    switch (op) {
      case SOMA_REDUCE_SUM:
      case SOMA_REDUCE_MEAN: {
        T v = op == SOMA_REDUCE_SUM ? g[r] : (T)((double)g[r] / (double)cols);
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) o[c] = v;
        break;
      }
      case SOMA_REDUCE_MAX:
      case SOMA_REDUCE_MIN: {
        std::fill(o, o + cols, T(0));
        o[row_arg_extremum(op == SOMA_REDUCE_MAX, x, cols)] = g[r];
        break;
      }
      case SOMA_REDUCE_VAR: {
        const T mean = (T)(row_sum(x, cols) / (double)cols);
        const T scale = (T)(2.0 * (double)g[r] / (double)cols);
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) o[c] = scale * (x[c] - mean);
        break;
      }
    }
  }
}

template <typename T>
void arg_reduce_rows(bool is_max, int64_t rows, int64_t cols, const T* in, int32_t* out) {
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) out[r] = (int32_t)row_arg_extremum(is_max, in + r * cols, cols);
}

// Numerically stable: exp(x - max) never overflows, and log-softmax is (x - max) - log(sum), never log(0).
template <typename T>
void softmax_rows(bool log, int64_t rows, int64_t cols, const T* in, T* out) {
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = in + r * cols;
    T* y = out + r * cols;
    const T m = row_max(x, cols);
    double s = 0.0;
    if (log) {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c) s += (double)std::exp(x[c] - m);
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < cols; ++c) {
        T e = std::exp(x[c] - m);
        y[c] = e;
        s += (double)e;
      }
    }
    if (log) {
      const T shift = m + (T)std::log(s);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) y[c] = x[c] - shift;
    } else {
      const T inv = (T)(1.0 / s);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) y[c] *= inv;
    }
  }
}

// softmax: gi = y * (g - sum(g * y)); log-softmax: gi = g - exp(y) * sum(g).
template <typename T>
void softmax_rows_backward(bool log, int64_t rows, int64_t cols, const T* ys, const T* gs, T* gis) {
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* y = ys + r * cols;
    const T* g = gs + r * cols;
    T* gi = gis + r * cols;
    double acc = 0.0;
    if (log) {
#pragma omp simd reduction(+ : acc)
      for (int64_t c = 0; c < cols; ++c) acc += (double)g[c];
      const T s = (T)acc;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) gi[c] = g[c] - std::exp(y[c]) * s;
    } else {
#pragma omp simd reduction(+ : acc)
      for (int64_t c = 0; c < cols; ++c) acc += (double)g[c] * (double)y[c];
      const T dot = (T)acc;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) gi[c] = y[c] * (g[c] - dot);
    }
  }
}

// Sum or mean over the middle axis of a contiguous batches x outer x inner tensor (batches = 1: the leading axis,
// a bias gradient [N*T, F] -> [F]; batches > 1: a mean over time [B, T, F] -> [B, F]), without first transposing
// it. Each batch's rows are summed in fixed blocks into double partials, then the partials in order, so the result
// does not depend on the thread count.
template <typename T>
void reduce_middle(int op, int64_t batches, int64_t outer, int64_t inner, const T* in, T* out) {
  constexpr int64_t kRows = 256, kCols = 1024;
  const int64_t blocks = (outer + kRows - 1) / kRows, col_chunks = (inner + kCols - 1) / kCols;
  std::vector<double> partial((size_t)(batches * blocks * inner));
#pragma omp parallel for collapse(3) if (batches * outer * inner > soma::element_grain()) schedule(static)
  for (int64_t n = 0; n < batches; ++n) {
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t cc = 0; cc < col_chunks; ++cc) {
        const int64_t c0 = cc * kCols, w = std::min(kCols, inner - c0);
        const T* batch = in + n * outer * inner;
        double* acc = partial.data() + (n * blocks + b) * inner + c0;
        for (int64_t c = 0; c < w; ++c) acc[c] = 0.0;
        const int64_t r1 = std::min(outer, (b + 1) * kRows);
        for (int64_t r = b * kRows; r < r1; ++r) {
          const T* row = batch + r * inner + c0;
#pragma omp simd
          for (int64_t c = 0; c < w; ++c) acc[c] += (double)row[c];
        }
      }
    }
  }
  const double scale = op == SOMA_REDUCE_MEAN ? 1.0 / (double)outer : 1.0;
#pragma omp parallel for if (batches * inner * blocks > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < batches * inner; ++i) {
    const int64_t n = i / inner, c = i % inner;
    double s = 0.0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[(n * blocks + b) * inner + c];
    out[i] = (T)(s * scale);
  }
}

// The input gradient of reduce_middle: every element of batch n, column c gets g[n, c] (mean: divided by outer,
// as reduce_rows_backward divides). The divided values are computed once per block of rows, then copied down it.
template <typename T>
void reduce_middle_backward(int op, int64_t batches, int64_t outer, int64_t inner, const T* g, T* gi) {
  constexpr int64_t kRows = 64;
  const int64_t blocks = (outer + kRows - 1) / kRows;
#pragma omp parallel if (batches * outer * inner > soma::element_grain() && batches * blocks > 1)
  {
    std::vector<T> divided(op == SOMA_REDUCE_MEAN ? (size_t)inner : 0);
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < batches; ++n) {
      for (int64_t b = 0; b < blocks; ++b) {
        const T* src = g + n * inner;
        if (op == SOMA_REDUCE_MEAN) {
#pragma omp simd
          for (int64_t c = 0; c < inner; ++c) divided[c] = (T)((double)src[c] / (double)outer);
          src = divided.data();
        }
        const int64_t r1 = std::min(outer, (b + 1) * kRows);
        for (int64_t r = b * kRows; r < r1; ++r) std::memcpy(gi + (n * outer + r) * inner, src, inner * sizeof(T));
      }
    }
  }
}

}  // namespace

extern "C" void soma_cpu_reduce_leading(int op, int dtype, int64_t outer, int64_t inner, const void* in, void* out) {
  if (outer <= 0 || inner <= 0) return;
  SOMA_DISPATCH_FLOAT(dtype, T, reduce_middle<T>(op, 1, outer, inner, (const T*)in, (T*)out));
}

extern "C" void soma_cpu_reduce_middle(int op, int dtype, int64_t batches, int64_t outer, int64_t inner,
                                       const void* in, void* out) {
  if (batches <= 0 || outer <= 0 || inner <= 0) return;
  SOMA_DISPATCH_FLOAT(dtype, T, reduce_middle<T>(op, batches, outer, inner, (const T*)in, (T*)out));
}

extern "C" void soma_cpu_reduce_middle_backward(int op, int dtype, int64_t batches, int64_t outer, int64_t inner,
                                                const void* grad_out, void* grad_in) {
  if (batches <= 0 || outer <= 0 || inner <= 0) return;
  SOMA_DISPATCH_FLOAT(dtype, T,
                      reduce_middle_backward<T>(op, batches, outer, inner, (const T*)grad_out, (T*)grad_in));
}

extern "C" void soma_cpu_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, reduce_rows<T>(op, rows, cols, (const T*)in, (T*)out));
}

extern "C" void soma_cpu_reduce_rows_backward(int op, int dtype, int64_t rows, int64_t cols, const void* in,
                                              const void* grad_out, void* grad_in) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      reduce_rows_backward<T>(op, rows, cols, (const T*)in, (const T*)grad_out, (T*)grad_in));
}

extern "C" void soma_cpu_arg_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in,
                                         int32_t* out) {
  SOMA_DISPATCH(dtype, T, arg_reduce_rows<T>(op == SOMA_REDUCE_MAX, rows, cols, (const T*)in, out));
}

extern "C" void soma_cpu_softmax_rows(int log, int dtype, int64_t rows, int64_t cols, const void* in, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, softmax_rows<T>(log != 0, rows, cols, (const T*)in, (T*)out));
}

extern "C" void soma_cpu_softmax_rows_backward(int log, int dtype, int64_t rows, int64_t cols, const void* y,
                                               const void* grad_out, void* grad_in) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      softmax_rows_backward<T>(log != 0, rows, cols, (const T*)y, (const T*)grad_out, (T*)grad_in));
}
