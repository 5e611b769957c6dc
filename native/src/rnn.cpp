// Embedding gather / scatter-add and the fused per-timestep kernels of the recurrent cells (SimpleRNN, LSTM,
// GRU with reset_after or before). The matrix products (all timesteps' input projections at once, one recurrent product
// per step) run in oneDNN from Java; these kernels do everything element-wise in between, in one pass.
#include "soma.h"
#include "dtype_dispatch.h"
#include "rnn_cells.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <omp.h>
#include <type_traits>

namespace {

using soma::rnn::Step;
using soma::rnn::with_activations;

// ------------------------------------------------------------------ embedding

template <typename T>
void embedding_forward(int64_t n, int64_t dim, const int32_t* ids, const T* table, T* out) {
#pragma omp parallel for if (n * dim > soma::kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * dim, table + (int64_t)ids[i] * dim, sizeof(T) * dim);
}

// Deterministic scatter-add: every thread owns a contiguous range of table rows and scans all ids in order, so
// each row's sum is accumulated in the same order whatever the thread count, with no atomics.
template <typename T>
void embedding_backward(int64_t n, int64_t dim, int64_t vocab, const int32_t* ids, const T* grad_out, T* grad_table) {
  const bool parallel = n * dim > soma::kParallelGrain;
#pragma omp parallel if (parallel)
  {
    const int threads = omp_get_num_threads();
    const int me = omp_get_thread_num();
    const int64_t lo = vocab * me / threads, hi = vocab * (me + 1) / threads;
    std::memset(grad_table + lo * dim, 0, sizeof(T) * (hi - lo) * dim);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = ids[i];
      if (row < lo || row >= hi) continue;
      T* dst = grad_table + row * dim;
      const T* src = grad_out + i * dim;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) dst[d] += src[d];
    }
  }
}

// Rows of a step run in parallel only when the step is large enough to pay for waking the pool.
inline bool parallel_rows(int64_t n, int64_t work_per_row) { return n > 1 && n * work_per_row > soma::kParallelGrain; }

template <typename T, int act, int ract>
void step_forward(const Step* s) {
  const int64_t n = s->n, gh = soma::rnn::gate_blocks(s->cell) * s->hidden;
#pragma omp parallel for if (parallel_rows(n, gh * 8)) schedule(static)
  for (int64_t r = 0; r < n; ++r) soma::rnn::forward_row<T, act, ract>(s, r);
}

template <typename T, int act, int ract>
void step_backward(const Step* s) {
  const int64_t n = s->n, gh = soma::rnn::gate_blocks(s->cell) * s->hidden;
#pragma omp parallel for if (parallel_rows(n, gh * 4)) schedule(static)
  for (int64_t r = 0; r < n; ++r) soma::rnn::backward_row<T, act, ract>(s, r);
}

// out[c] = sum_r in[r, c] (rows x cols, contiguous), accumulated in row order: deterministic.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* in, T* out) {
  const int64_t block = 64;
  const int64_t blocks = (cols + block - 1) / block;
#pragma omp parallel for if (rows * cols > soma::kParallelGrain && blocks > 1) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * block, c1 = std::min(cols, c0 + block);
    T acc[64] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = in + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += row[c];
    }
    for (int64_t c = c0; c < c1; ++c) out[c] = acc[c - c0];
  }
}

}  // namespace

extern "C" void soma_cpu_embedding_forward(int dtype, int64_t n, int64_t dim, const int32_t* ids, const void* table,
                                           void* out) {
  SOMA_DISPATCH(dtype, T, embedding_forward<T>(n, dim, ids, (const T*)table, (T*)out));
}

extern "C" void soma_cpu_embedding_backward(int dtype, int64_t n, int64_t dim, int64_t vocab, const int32_t* ids,
                                            const void* grad_out, void* grad_table) {
  SOMA_DISPATCH_FLOAT(dtype, T, embedding_backward<T>(n, dim, vocab, ids, (const T*)grad_out, (T*)grad_table));
}

template <typename T>
void run_step(bool backward, const int64_t* args) {
  const Step s(args);
  with_activations(s.activation, s.recurrent_activation, [&](auto a, auto r) {
    if (backward) step_backward<T, decltype(a)::value, decltype(r)::value>(&s);
    else step_forward<T, decltype(a)::value, decltype(r)::value>(&s);
  });
}

extern "C" void soma_cpu_rnn_step_forward(int dtype, const int64_t* args) {
  SOMA_DISPATCH_FLOAT(dtype, T, run_step<T>(false, args));
}

extern "C" void soma_cpu_rnn_step_backward(int dtype, const int64_t* args) {
  SOMA_DISPATCH_FLOAT(dtype, T, run_step<T>(true, args));
}

extern "C" void soma_cpu_column_sums(int dtype, int64_t rows, int64_t cols, const void* in, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, column_sums<T>(rows, cols, (const T*)in, (T*)out));
}

extern "C" int soma_cpu_get_max_threads(void) { return omp_get_max_threads(); }

extern "C" void soma_cpu_set_max_threads(int threads) { omp_set_num_threads(threads < 1 ? 1 : threads); }
