// Layer normalisation over the last axis of a contiguous rows x cols array, forward and backward, f32 and f64,
// with native/src/layernorm.cpp's semantics:
//   forward   mean and the population variance accumulated in double (two passes over the row, as the CPU),
//             m = (T)mean, rs = (T)(1 / sqrt(var + eps)), y = (x - m) * rs * gamma + beta in T;
//   backward  g = gy * gamma, a = sum g, b = sum g * xhat (each term in T, summed in double),
//             dx = rs * (g - a / cols - xhat * b / cols);  dgamma = sum_rows gy * xhat, dbeta = sum_rows gy.
// Statistics are summed in double for f32 too: the CPU reference does, and the kernels are bound by memory
// traffic, not by FP64 throughput (which is half of FP32's on the data-centre parts this targets).
//
// Rows: a warp per row when cols <= 1024 (eight rows per 256-thread block, shuffle reductions only), a whole block
// per row above (shuffles, then one shared-memory pass over the eight warp sums). Lanes walk the row with a
// stride of the group size, so every load is coalesced; the sums are in a fixed order (deterministic).
//
// dgamma / dbeta are column sums over rows, deterministic and without atomics: a first kernel gives each block
// 32 columns x one band of rows (32 x 8 threads: a warp reads 32 consecutive columns of a row) and writes one
// double partial per (band, column) into the caller's workspace; a second adds each column's bands in order.
// The band count depends only on rows (soma_cuda_layer_norm_backward_workspace), not on the device.
#include "column_bands.cuh"
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cmath>
#include <cstdint>

namespace {
using namespace soma_cuda;

__device__ __forceinline__ double m_rsqrt_exact(double v) { return 1.0 / sqrt(v); }

constexpr int kWarpRowMaxCols = 1024;  // up to this many columns a warp owns a row

// Sum over the R threads of a row group, in a fixed order; every thread of the group gets the total.
// R = 32: one warp. R = kThreads: the whole block (scratch: kThreads / 32 doubles of shared memory, and every
// thread of the block must call it).
template <int R>
__device__ __forceinline__ double group_sum(double v, double* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if constexpr (R == 32) {
    (void)scratch;
    return v;
  } else {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double total = 0;
#pragma unroll
    for (int w = 0; w < R / 32; ++w) total += scratch[w];
    __syncthreads();  // the scratch is written again by the next call
    return total;
  }
}

template <typename T, int R>
__global__ void __launch_bounds__(kThreads) layer_norm_forward(int64_t rows, int64_t cols, const T* x, const T* gamma,
                                                               const T* beta, double eps, T* y, T* mean, T* rstd) {
  constexpr int kRowsPerBlock = kThreads / R;
  __shared__ double scratch[kThreads / 32];
  const int lane = threadIdx.x % R;
  const int group = threadIdx.x / R;
  // The loop bound is the same for every thread of a group (a warp or the block): collectives stay converged.
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + group; r < rows; r += int64_t(gridDim.x) * kRowsPerBlock) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double s = 0;
    for (int64_t c = lane; c < cols; c += R) s += double(xr[c]);
    const double mu = group_sum<R>(s, scratch) / double(cols);
    double v = 0;
    for (int64_t c = lane; c < cols; c += R) {
      const double d = double(xr[c]) - mu;
      v += d * d;
    }
    v = group_sum<R>(v, scratch);
    const T m = T(mu);
    const T rs = T(m_rsqrt_exact(v / double(cols) + eps));
    if (lane == 0) {
      mean[r] = m;
      rstd[r] = rs;
    }
    for (int64_t c = lane; c < cols; c += R) {
      const T xh = (xr[c] - m) * rs;
      yr[c] = (gamma ? xh * gamma[c] : xh) + (beta ? beta[c] : T(0));
    }
  }
}

template <typename T, int R>
__global__ void __launch_bounds__(kThreads) layer_norm_backward_x(int64_t rows, int64_t cols, const T* x,
                                                                  const T* gamma, const T* mean, const T* rstd,
                                                                  const T* gy, T* gx) {
  constexpr int kRowsPerBlock = kThreads / R;
  __shared__ double scratch[kThreads / 32];
  const int lane = threadIdx.x % R;
  const int group = threadIdx.x / R;
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + group; r < rows; r += int64_t(gridDim.x) * kRowsPerBlock) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    T* dr = gx + r * cols;
    const T m = mean[r], rs = rstd[r];
    double a = 0, b = 0;  // sums of g and g * xhat
    for (int64_t c = lane; c < cols; c += R) {
      const T g = gamma ? gr[c] * gamma[c] : gr[c];
      a += double(g);
      b += double(g * (xr[c] - m) * rs);
    }
    a = group_sum<R>(a, scratch);
    b = group_sum<R>(b, scratch);
    const T ma = T(a / double(cols)), mb = T(b / double(cols));
    for (int64_t c = lane; c < cols; c += R) {
      const T g = gamma ? gr[c] * gamma[c] : gr[c];
      dr[c] = rs * (g - ma - (xr[c] - m) * rs * mb);
    }
  }
}

// Block (32, 8) over columns [32 bx, 32 bx + 32) and rows of band by: partial sums of gy * xhat and gy.
template <typename T>
__global__ void __launch_bounds__(kThreads) layer_norm_column_partials(int64_t rows, int64_t cols,
                                                                       int64_t rows_per_band, const T* x,
                                                                       const T* mean, const T* rstd, const T* gy,
                                                                       double* partial_gamma, double* partial_beta) {
  __shared__ double sg[8][33];  // padded: the final pass reads a column of it
  __shared__ double sb[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * 32 + tx;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_band;
  const int64_t r1 = r0 + rows_per_band < rows ? r0 + rows_per_band : rows;
  double accg = 0, accb = 0;
  if (c < cols) {
    for (int64_t r = r0 + ty; r < r1; r += 8) {
      const T g = gy[r * cols + c];
      accg += double(g * (x[r * cols + c] - mean[r]) * rstd[r]);
      accb += double(g);
    }
  }
  sg[ty][tx] = accg;
  sb[ty][tx] = accb;
  __syncthreads();
  if (ty == 0 && c < cols) {
    double tg = 0, tb = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      tg += sg[k][tx];
      tb += sb[k][tx];
    }
    partial_gamma[int64_t(blockIdx.y) * cols + c] = tg;
    partial_beta[int64_t(blockIdx.y) * cols + c] = tb;
  }
}

// Each column's bands added in order; no bands (rows == 0) gives zeros, as the CPU.
template <typename T>
__global__ void __launch_bounds__(kThreads) layer_norm_column_finish(int64_t cols, int64_t bands,
                                                                     const double* partial_gamma,
                                                                     const double* partial_beta, T* ggamma, T* gbeta) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    double tg = 0, tb = 0;
    for (int64_t b = 0; b < bands; ++b) {
      tg += partial_gamma[b * cols + c];
      tb += partial_beta[b * cols + c];
    }
    if (ggamma) ggamma[c] = T(tg);
    if (gbeta) gbeta[c] = T(tb);
  }
}

// Blocks for a grid-stride loop over row groups of kThreads / R rows.
template <int R>
unsigned row_grid(int64_t rows) {
  constexpr int64_t per_block = kThreads / R;
  int64_t blocks = (rows + per_block - 1) / per_block;
  const int64_t cap = int64_t(sm_count()) * 32;
  if (blocks > cap) blocks = cap;
  return unsigned(blocks < 1 ? 1 : blocks);
}

template <typename T>
int forward_typed(int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta, double eps, void* y,
                  void* mean, void* rstd, cudaStream_t s) {
  if (rows <= 0 || cols <= 0) return 0;
  if (cols <= kWarpRowMaxCols)
    return launch<layer_norm_forward<T, 32>>(SOMA_SITE, row_grid<32>(rows), kThreads, 0, s, rows, cols,
                                             static_cast<const T*>(x), static_cast<const T*>(gamma),
                                             static_cast<const T*>(beta), eps, static_cast<T*>(y),
                                             static_cast<T*>(mean), static_cast<T*>(rstd));
  return launch<layer_norm_forward<T, kThreads>>(SOMA_SITE, row_grid<kThreads>(rows), kThreads, 0, s, rows, cols,
                                                 static_cast<const T*>(x), static_cast<const T*>(gamma),
                                                 static_cast<const T*>(beta), eps, static_cast<T*>(y),
                                                 static_cast<T*>(mean), static_cast<T*>(rstd));
}

template <typename T>
int backward_typed(int64_t rows, int64_t cols, const void* xv, const void* gammav, const void* meanv,
                   const void* rstdv, const void* gyv, void* gxv, void* ggv, void* gbv, void* workspace,
                   cudaStream_t s) {
  if (cols <= 0) return 0;
  const T* x = static_cast<const T*>(xv);
  const T* gamma = static_cast<const T*>(gammav);
  const T* mean = static_cast<const T*>(meanv);
  const T* rstd = static_cast<const T*>(rstdv);
  const T* gy = static_cast<const T*>(gyv);
  T* gx = static_cast<T*>(gxv);
  T* gg = static_cast<T*>(ggv);
  T* gb = static_cast<T*>(gbv);
  int status = 0;
  if (rows > 0) {
    status = cols <= kWarpRowMaxCols
                 ? launch<layer_norm_backward_x<T, 32>>(SOMA_SITE, row_grid<32>(rows), kThreads, 0, s, rows, cols, x,
                                                        gamma, mean, rstd, gy, gx)
                 : launch<layer_norm_backward_x<T, kThreads>>(SOMA_SITE, row_grid<kThreads>(rows), kThreads, 0, s,
                                                              rows, cols, x, gamma, mean, rstd, gy, gx);
    if (status != 0) return status;
  }
  if (!gg && !gb) return 0;
  int64_t bands = 0, rows_per_band = 0;
  column_bands(rows, &bands, &rows_per_band);
  if (bands > 0 && workspace == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  double* pg = static_cast<double*>(workspace);
  double* pb = pg ? pg + bands * cols : nullptr;
  if (bands > 0) {
    const int64_t col_blocks = (cols + 31) / 32;
    if (col_blocks > 0x7fffffff) return static_cast<int>(cudaErrorInvalidValue);
    status = launch<layer_norm_column_partials<T>>(SOMA_SITE, dim3(unsigned(col_blocks), unsigned(bands)), dim3(32, 8),
                                                   0, s, rows, cols, rows_per_band, x, mean, rstd, gy, pg, pb);
    if (status != 0) return status;
  }
  return launch<layer_norm_column_finish<T>>(SOMA_SITE, grid_for(cols), kThreads, 0, s, cols, bands,
                                             static_cast<const double*>(pg), static_cast<const double*>(pb), gg, gb);
}

}  // namespace

extern "C" {

int soma_cuda_layer_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* rstd, void* stream) {
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32: return forward_typed<float>(rows, cols, x, gamma, beta, eps, y, mean, rstd, s);
    case SOMA_F64: return forward_typed<double>(rows, cols, x, gamma, beta, eps, y, mean, rstd, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_layer_norm_backward_workspace(int64_t rows, int64_t cols, int64_t* bytes) {
  int64_t bands = 0, rows_per_band = 0;
  column_bands(rows, &bands, &rows_per_band);
  *bytes = 2 * bands * (cols > 0 ? cols : 0) * int64_t(sizeof(double));
  return 0;
}

int soma_cuda_layer_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta, void* workspace, void* stream) {
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32: return backward_typed<float>(rows, cols, x, gamma, mean, rstd, grad_y, grad_x, grad_gamma, grad_beta,
                                                workspace, s);
    case SOMA_F64: return backward_typed<double>(rows, cols, x, gamma, mean, rstd, grad_y, grad_x, grad_gamma,
                                                 grad_beta, workspace, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
