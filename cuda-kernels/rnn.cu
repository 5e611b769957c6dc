// Embedding gather and scatter-add on CUDA, as native/src/rnn.cpp (the reference).
//
// Forward: out[i, :] = table[ids[i], :], a gather with one 2-d grid: blockIdx.y strides over ids, threads over
// the row (coalesced reads of one table row, coalesced writes of one output row). Any 4- or 8-byte dtype: the
// bits are copied.
//
// Backward, deterministic without atomics or a sort: every block owns a contiguous range of table rows
// [lo, hi) (row ownership, as the CPU's threads do). It zeroes its rows, then scans all ids in order, a tile of
// blockDim ids at a time: each thread tests one id, a warp ballot plus a per-warp prefix (in shared memory)
// compacts the matching positions of the tile into a list that keeps their order, and the threads then walk
// that list adding gradOut rows into the owned rows, one column per thread. Each table element therefore gets
// its contributions in increasing position order, exactly as the CPU adds them: the sums are the CPU's bit for
// bit, whatever the grid. Cost: every block reads all n ids (4 bytes each, L2-resident), plus n * dim adds.
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>

namespace {
using namespace soma_cuda;

constexpr int kEmbThreads = 256;
constexpr int kEmbWarps = kEmbThreads / 32;

template <typename T>
__global__ void __launch_bounds__(kEmbThreads) embedding_gather(const int32_t* ids, const T* table, T* out,
                                                                int64_t n, int64_t dim) {
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const T* src = table + int64_t(ids[i]) * dim;
    T* dst = out + i * dim;
    for (int64_t d = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; d < dim; d += int64_t(gridDim.x) * blockDim.x)
      dst[d] = src[d];
  }
}

template <typename T>
__global__ void __launch_bounds__(kEmbThreads) embedding_scatter_add(const int32_t* ids, const T* grad_out,
                                                                     T* grad_table, int64_t n, int64_t dim,
                                                                     int64_t vocab) {
  __shared__ int32_t warp_counts[kEmbWarps];
  __shared__ int64_t positions[kEmbThreads];
  const int64_t lo = vocab * blockIdx.x / gridDim.x, hi = vocab * (blockIdx.x + 1) / gridDim.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int64_t e = threadIdx.x; e < (hi - lo) * dim; e += blockDim.x) grad_table[lo * dim + e] = T(0);
  for (int64_t base = 0; base < n; base += kEmbThreads) {
    const int64_t i = base + threadIdx.x;
    int64_t row = -1;
    if (i < n) row = ids[i];
    const bool match = row >= lo && row < hi;
    const unsigned ballot = __ballot_sync(0xffffffffu, match);
    __syncthreads();  // the previous tile's readers of positions / warp_counts are done
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int offset = __popc(ballot & ((1u << lane) - 1u)), total = 0;
    for (int w = 0; w < kEmbWarps; ++w) {
      if (w < warp) offset += warp_counts[w];
      total += warp_counts[w];
    }
    if (match) positions[offset] = i;
    __syncthreads();
    for (int k = 0; k < total; ++k) {
      const int64_t p = positions[k];
      T* dst = grad_table + int64_t(ids[p]) * dim;
      const T* src = grad_out + p * dim;
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) dst[d] += src[d];
    }
  }
}

template <typename T>
int gather_typed(int64_t n, int64_t dim, const int32_t* ids, const void* table, void* out, cudaStream_t s) {
  if (n == 0 || dim == 0) return 0;
  const int64_t xblocks = (dim + kEmbThreads - 1) / kEmbThreads;
  const int64_t yblocks = n < 65535 ? n : 65535;
  return launch<embedding_gather<T>>(SOMA_SITE, dim3(unsigned(xblocks), unsigned(yblocks)), kEmbThreads, 0, s, ids,
                                     static_cast<const T*>(table), static_cast<T*>(out), n, dim);
}

template <typename T>
int scatter_typed(int64_t n, int64_t dim, int64_t vocab, const int32_t* ids, const void* grad_out, void* grad_table,
                  cudaStream_t s) {
  if (vocab == 0 || dim == 0) return 0;
  // Enough blocks to fill the device a few times over; each still reads every id once.
  int64_t blocks = int64_t(sm_count()) * 4;
  if (blocks > vocab) blocks = vocab;
  return launch<embedding_scatter_add<T>>(SOMA_SITE, dim3(unsigned(blocks)), kEmbThreads, 0, s, ids,
                                          static_cast<const T*>(grad_out), static_cast<T*>(grad_table), n, dim, vocab);
}


// ------------------------------------------------------------------ recurrent layers
//
// The sequence runs as in native/src/rnn.cpp (Java drives the loop, CudaRecurrent): the input projections of all
// steps as one product, then per step one small product (h_{t-1} U) and one fused kernel for all the gate
// arithmetic; backward mirrors it. The products use rnn_gemm below (a tiled shared-memory GEMM on strided
// operands, so transposed and column-slice views need no copies); the step kernels run one thread per
// (row, hidden unit) and compute every gate of that unit, so the gate arithmetic is the CPU's, element for
// element (libdevice's exp against glibc's / the CPU's polynomial: within the f32 bounds).

__device__ __forceinline__ float r_exp(float x) { return expf(x); }
__device__ __forceinline__ double r_exp(double x) { return exp(x); }

template <typename T>
__device__ __forceinline__ T activate(int act, T x) {
  switch (act) {
    case SOMA_RNN_ACT_TANH: return T(1) - T(2) / (T(1) + r_exp(T(2) * x));
    case SOMA_RNN_ACT_SIGMOID: return T(1) / (T(1) + r_exp(-x));
    case SOMA_RNN_ACT_RELU: return x < T(0) ? T(0) : x;  // NaN passes on, as on the CPU
    case SOMA_RNN_ACT_HARD_SIGMOID: {
      const T v = x / T(6) + T(0.5);
      return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
    }
    default: return x;
  }
}

template <typename T>
__device__ __forceinline__ T derivative(int act, T y) {
  switch (act) {
    case SOMA_RNN_ACT_TANH: return T(1) - y * y;
    case SOMA_RNN_ACT_SIGMOID: return y * (T(1) - y);
    case SOMA_RNN_ACT_RELU: return y > T(0) ? T(1) : T(0);
    case SOMA_RNN_ACT_HARD_SIGMOID: return y > T(0) && y < T(1) ? T(1) / T(6) : T(0);
    default: return T(1);
  }
}

// The step's int64 argument array (soma_rnn_arg), passed by value.
struct StepArgs {
  int64_t a[SOMA_RNN_ARG_COUNT];
  template <typename P> __device__ P* ptr(int i) const { return reinterpret_cast<P*>(static_cast<intptr_t>(a[i])); }
};

template <typename T>
__global__ void rnn_step_forward(StepArgs s) {
  const int cell = int(s.a[SOMA_RNN_ARG_CELL]), act = int(s.a[SOMA_RNN_ARG_ACTIVATION]);
  const int ract = int(s.a[SOMA_RNN_ARG_RECURRENT_ACTIVATION]), phase = int(s.a[SOMA_RNN_ARG_PHASE]);
  const int64_t n = s.a[SOMA_RNN_ARG_N], h = s.a[SOMA_RNN_ARG_HIDDEN];
  const bool before = cell == SOMA_RNN_GRU_RESET_BEFORE;
  const int64_t g = cell == SOMA_RNN_LSTM ? 4 : (cell == SOMA_RNN_GRU || before) ? 3 : 1;
  const int64_t saved = (cell == SOMA_RNN_GRU || before) ? 4 : g;
  const T* xp = s.ptr<const T>(SOMA_RNN_ARG_XP);
  const T* hu = s.ptr<const T>(SOMA_RNN_ARG_HU);
  const T* bias = s.ptr<const T>(SOMA_RNN_ARG_BIAS);
  const T* rbias = s.ptr<const T>(SOMA_RNN_ARG_RECURRENT_BIAS);
  const T* h_prev = s.ptr<const T>(SOMA_RNN_ARG_H_PREV);
  const T* c_prev = s.ptr<const T>(SOMA_RNN_ARG_C_PREV);
  const T* mask = s.ptr<const T>(SOMA_RNN_ARG_MASK);
  const T* h_mm = s.ptr<const T>(SOMA_RNN_ARG_H_MM);
  T* gates = s.ptr<T>(SOMA_RNN_ARG_GATES);
  T* h_out = s.ptr<T>(SOMA_RNN_ARG_H_OUT);
  T* c_out = s.ptr<T>(SOMA_RNN_ARG_C_OUT);
  T* y = s.ptr<T>(SOMA_RNN_ARG_Y);
  const int64_t total = n * h, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / h, j = e - r * h;
    const T* x = xp + r * g * h;
    const T hp = h_prev[r * h + j];
    T* gs = gates + r * saved * h;
    const bool keep = !mask || mask[r * s.a[SOMA_RNN_ARG_MASK_STRIDE]] != T(0);
    T ho;
    if (before) {
      if (phase == 0) {
        const T* u = hu ? hu + r * 2 * h : nullptr;
        for (int64_t q = j; q < 2 * h; q += h)
          gs[q] = activate(ract, x[q] + (bias ? bias[q] : T(0)) + (u ? u[q] : T(0)));
        gs[3 * h + j] = gs[h + j] * h_mm[r * h + j];
        continue;
      }
      const T* u = hu ? hu + r * h : nullptr;
      const T hh = activate(act, x[2 * h + j] + (bias ? bias[2 * h + j] : T(0)) + (u ? u[j] : T(0)));
      gs[2 * h + j] = hh;
      const T zv = gs[j];
      ho = keep ? zv * hp + (T(1) - zv) * hh : hp;
    } else if (cell == SOMA_RNN_LSTM) {
      const T* u = hu ? hu + r * 4 * h : nullptr;
      T pre[4];
      for (int q = 0; q < 4; ++q) {
        const int64_t c = q * h + j;
        pre[q] = x[c] + (u ? u[c] : T(0)) + (bias ? bias[c] : T(0));
      }
      const T iv = activate(ract, pre[0]), fv = activate(ract, pre[1]);
      const T gv = activate(act, pre[2]), ov = activate(ract, pre[3]);
      gs[j] = iv;
      gs[h + j] = fv;
      gs[2 * h + j] = gv;
      gs[3 * h + j] = ov;
      const T cp = c_prev[r * h + j];
      if (keep) {
        const T c = fv * cp + iv * gv;
        c_out[r * h + j] = c;
        ho = ov * activate(act, c);
      } else {
        c_out[r * h + j] = cp;
        ho = hp;
      }
    } else if (cell == SOMA_RNN_GRU) {
      const T* u = hu ? hu + r * 3 * h : nullptr;
      for (int64_t q = j; q < 2 * h; q += h)
        gs[q] = activate(ract, x[q] + (bias ? bias[q] : T(0)) + (u ? u[q] : T(0)) + (rbias ? rbias[q] : T(0)));
      const T rec = (u ? u[2 * h + j] : T(0)) + (rbias ? rbias[2 * h + j] : T(0));
      const T hh = activate(act, x[2 * h + j] + (bias ? bias[2 * h + j] : T(0)) + gs[h + j] * rec);
      gs[2 * h + j] = hh;
      gs[3 * h + j] = rec;
      const T zv = gs[j];
      ho = keep ? zv * hp + (T(1) - zv) * hh : hp;
    } else {
      const T* u = hu ? hu + r * h : nullptr;
      const T hv = activate(act, x[j] + (u ? u[j] : T(0)) + (bias ? bias[j] : T(0)));
      gs[j] = hv;
      ho = keep ? hv : hp;
    }
    h_out[r * h + j] = ho;
    if (y) y[r * s.a[SOMA_RNN_ARG_Y_STRIDE] + j] = ho;
  }
}

template <typename T>
__global__ void rnn_step_backward(StepArgs s) {
  const int cell = int(s.a[SOMA_RNN_ARG_CELL]), act = int(s.a[SOMA_RNN_ARG_ACTIVATION]);
  const int ract = int(s.a[SOMA_RNN_ARG_RECURRENT_ACTIVATION]), phase = int(s.a[SOMA_RNN_ARG_PHASE]);
  const int64_t n = s.a[SOMA_RNN_ARG_N], h = s.a[SOMA_RNN_ARG_HIDDEN];
  const bool before = cell == SOMA_RNN_GRU_RESET_BEFORE;
  const int64_t g = cell == SOMA_RNN_LSTM ? 4 : (cell == SOMA_RNN_GRU || before) ? 3 : 1;
  const int64_t saved = (cell == SOMA_RNN_GRU || before) ? 4 : g;
  const T* gates = s.ptr<const T>(SOMA_RNN_ARG_GATES);
  const T* h_prev = s.ptr<const T>(SOMA_RNN_ARG_H_PREV);
  const T* c_prev = s.ptr<const T>(SOMA_RNN_ARG_C_PREV);
  const T* c_cur = s.ptr<const T>(SOMA_RNN_ARG_C_OUT);
  const T* mask = s.ptr<const T>(SOMA_RNN_ARG_MASK);
  const T* dy = s.ptr<const T>(SOMA_RNN_ARG_Y);
  const T* dh_mm = s.ptr<const T>(SOMA_RNN_ARG_HU);
  const T* h_mm = s.ptr<const T>(SOMA_RNN_ARG_H_MM);
  const T* drop = s.ptr<const T>(SOMA_RNN_ARG_RECURRENT_DROP);
  T* carry = s.ptr<T>(SOMA_RNN_ARG_H_OUT);
  T* dc = s.ptr<T>(SOMA_RNN_ARG_DC);
  T* dz = s.ptr<T>(SOMA_RNN_ARG_DZ);
  T* dzh = s.ptr<T>(SOMA_RNN_ARG_DZ_RECURRENT);
  const int64_t total = n * h, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / h, j = e - r * h, rj = r * h + j;
    const T* gs = gates + r * saved * h;
    T* d = dz + r * g * h;
    const bool keep = !mask || mask[r * s.a[SOMA_RNN_ARG_MASK_STRIDE]] != T(0);
    if (before && phase == 1) {
      if (keep) {
        const T rv = gs[h + j], drh = dh_mm[rj];
        d[h + j] = drh * h_mm[rj] * derivative(ract, rv);
        carry[rj] += drop ? drh * rv * drop[rj] : drh * rv;
      }
      continue;
    }
    const T dh = carry[rj] + (dy ? dy[r * s.a[SOMA_RNN_ARG_Y_STRIDE] + j] : T(0)) +
                 (dh_mm ? (drop ? dh_mm[rj] * drop[rj] : dh_mm[rj]) : T(0));
    if (!keep) {
      carry[rj] = dh;
      for (int64_t q = j; q < g * h; q += h) {
        d[q] = T(0);
        if (dzh) dzh[r * g * h + q] = T(0);
      }
      continue;
    }
    if (cell == SOMA_RNN_LSTM) {
      const T iv = gs[j], fv = gs[h + j], gv = gs[2 * h + j], ov = gs[3 * h + j];
      const T ac = activate(act, c_cur[rj]);
      const T dct = dc[rj] + dh * ov * derivative(act, ac);
      d[j] = dct * gv * derivative(ract, iv);
      d[h + j] = dct * c_prev[rj] * derivative(ract, fv);
      d[2 * h + j] = dct * iv * derivative(act, gv);
      d[3 * h + j] = dh * ac * derivative(ract, ov);
      dc[rj] = dct * fv;
      carry[rj] = T(0);
    } else if (before) {
      const T zv = gs[j], hh = gs[2 * h + j];
      d[j] = dh * (h_prev[rj] - hh) * derivative(ract, zv);
      d[h + j] = T(0);
      d[2 * h + j] = dh * (T(1) - zv) * derivative(act, hh);
      carry[rj] = dh * zv;
    } else if (cell == SOMA_RNN_GRU) {
      const T zv = gs[j], rv = gs[h + j], hh = gs[2 * h + j], rec = gs[3 * h + j];
      const T dpre = dh * (T(1) - zv) * derivative(act, hh);
      const T dzv = dh * (h_prev[rj] - hh) * derivative(ract, zv);
      const T drv = dpre * rec * derivative(ract, rv);
      d[j] = dzv;
      d[h + j] = drv;
      d[2 * h + j] = dpre;
      T* dr = dzh + r * g * h;
      dr[j] = dzv;
      dr[h + j] = drv;
      dr[2 * h + j] = dpre * rv;
      carry[rj] = dh * zv;
    } else {
      d[j] = dh * derivative(act, gs[j]);
      carry[rj] = T(0);
    }
  }
}

// C[m, n] (row stride ldc, unit column stride) = A[m, k] B[k, n] with A and B read through (row, column) element
// strides, so transposed and column-slice views need no copies. 64 x 64 output tiles, 256 threads each owning a
// 4 x 4 patch in registers, 16-deep k slices of A and B through shared memory. Each output is one thread's sum
// in k order: deterministic.
constexpr int kGemmTile = 64, kGemmK = 16;

template <typename T>
__global__ void __launch_bounds__(256) rnn_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t as0,
                                                int64_t as1, const T* b, int64_t bs0, int64_t bs1, T* c,
                                                int64_t ldc) {
  __shared__ T at[kGemmK][kGemmTile + 1];
  __shared__ T bt[kGemmK][kGemmTile + 1];
  const int64_t i0 = int64_t(blockIdx.y) * kGemmTile, j0 = int64_t(blockIdx.x) * kGemmTile;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  T acc[4][4] = {};
  for (int64_t p0 = 0; p0 < k; p0 += kGemmK) {
    __syncthreads();
    for (int idx = threadIdx.x; idx < kGemmK * kGemmTile; idx += 256) {
      const int p = idx / kGemmTile, q = idx - p * kGemmTile;  // q: the row of A / column of B in the tile
      const int64_t kk = p0 + p;
      at[p][q] = (kk < k && i0 + q < m) ? a[(i0 + q) * as0 + kk * as1] : T(0);
      bt[p][q] = (kk < k && j0 + q < n) ? b[kk * bs0 + (j0 + q) * bs1] : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < kGemmK; ++p) {
      T av[4], bv[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        av[u] = at[p][ty + 16 * u];
        bv[u] = bt[p][tx + 16 * u];
      }
#pragma unroll
      for (int u = 0; u < 4; ++u)
#pragma unroll
        for (int v = 0; v < 4; ++v) acc[u][v] += av[u] * bv[v];
    }
  }
#pragma unroll
  for (int u = 0; u < 4; ++u)
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      const int64_t i = i0 + ty + 16 * u, j = j0 + tx + 16 * v;
      if (i < m && j < n) c[i * ldc + j] = acc[u][v];
    }
}

// out[c] = sum_r in[r, c] in row order (the CPU's order): one thread per column.
template <typename T>
__global__ void rnn_column_sums(int64_t rows, int64_t cols, const T* in, T* out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    T acc = T(0);
    for (int64_t r = 0; r < rows; ++r) acc += in[r * cols + c];
    out[c] = acc;
  }
}

template <typename T>
int step_typed(bool backward, const int64_t* args, cudaStream_t s) {
  StepArgs a;
  for (int i = 0; i < SOMA_RNN_ARG_COUNT; ++i) a.a[i] = args[i];
  const int64_t total = a.a[SOMA_RNN_ARG_N] * a.a[SOMA_RNN_ARG_HIDDEN];
  if (total == 0) return 0;
  if (backward) return launch<rnn_step_backward<T>>(SOMA_SITE, grid_for(total), kThreads, 0, s, a);
  return launch<rnn_step_forward<T>>(SOMA_SITE, grid_for(total), kThreads, 0, s, a);
}

template <typename T>
int gemm_typed(int64_t m, int64_t n, int64_t k, const void* a, const int64_t* as, const void* b, const int64_t* bs,
               void* c, int64_t ldc, cudaStream_t s) {
  if (m == 0 || n == 0) return 0;
  const dim3 grid(unsigned((n + kGemmTile - 1) / kGemmTile), unsigned((m + kGemmTile - 1) / kGemmTile));
  return launch<rnn_gemm<T>>(SOMA_SITE, grid, 256, 0, s, m, n, k, static_cast<const T*>(a), as[0], as[1],
                             static_cast<const T*>(b), bs[0], bs[1], static_cast<T*>(c), ldc);
}

}  // namespace

extern "C" {

int soma_cuda_embedding_forward(int dtype, int64_t n, int64_t dim, const int32_t* ids, const void* embeddings, void* out,
                                void* stream) {
  switch (dtype) {
    case SOMA_F32:
    case SOMA_I32: return gather_typed<uint32_t>(n, dim, ids, embeddings, out, as_stream(stream));
    case SOMA_F64: return gather_typed<uint64_t>(n, dim, ids, embeddings, out, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_embedding_backward(int dtype, int64_t n, int64_t dim, int64_t vocab, const int32_t* ids,
                                 const void* grad_out, void* grad_table, void* stream) {
  switch (dtype) {
    case SOMA_F32: return scatter_typed<float>(n, dim, vocab, ids, grad_out, grad_table, as_stream(stream));
    case SOMA_F64: return scatter_typed<double>(n, dim, vocab, ids, grad_out, grad_table, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_rnn_step(int dtype, int backward, const int64_t* args, void* stream) {
  switch (dtype) {
    case SOMA_F32: return step_typed<float>(backward != 0, args, as_stream(stream));
    case SOMA_F64: return step_typed<double>(backward != 0, args, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_rnn_gemm(int dtype, int64_t m, int64_t n, int64_t k, const void* a, const int64_t* a_strides,
                       const void* b, const int64_t* b_strides, void* c, int64_t ldc, void* stream) {
  switch (dtype) {
    case SOMA_F32: return gemm_typed<float>(m, n, k, a, a_strides, b, b_strides, c, ldc, as_stream(stream));
    case SOMA_F64: return gemm_typed<double>(m, n, k, a, a_strides, b, b_strides, c, ldc, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_column_sums(int dtype, int64_t rows, int64_t cols, const void* in, void* out, void* stream) {
  if (cols == 0) return 0;
  switch (dtype) {
    case SOMA_F32:
      return launch<rnn_column_sums<float>>(SOMA_SITE, grid_for(cols), kThreads, 0, as_stream(stream), rows, cols,
                                            static_cast<const float*>(in), static_cast<float*>(out));
    case SOMA_F64:
      return launch<rnn_column_sums<double>>(SOMA_SITE, grid_for(cols), kThreads, 0, as_stream(stream), rows, cols,
                                             static_cast<const double*>(in), static_cast<double*>(out));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
