// Batch normalisation in training over the columns (channels) of a contiguous rows x cols array, forward and
// backward, f32 and f64, with native/src/batchnorm.cpp's semantics:
//   forward   per column, mean and the population variance in double (two passes, as the CPU),
//             m = (T)mean, rs = (T)(1 / sqrt(var + eps)), y = (x - m) * rs * gamma + beta in T;
//   backward  dbeta = sum_rows gy, dgamma = sum_rows gy * xhat (each term in T, summed in double),
//             dx = gamma * rs * (gy - dbeta / rows - xhat * dgamma / rows).
//
// Every statistic is a column sum over rows, taken as layernorm.cu takes dgamma / dbeta: deterministic and without
// atomics. A first kernel gives each block 32 columns x one band of rows (32 x 8 threads: a warp reads 32
// consecutive columns of a row) and writes one double partial per (band, column) into the caller's workspace; a
// second adds each column's bands in order. The band count depends only on rows, so the workspace size
// (soma_cuda_batch_norm_workspace: 2 regions of bands x cols doubles) is known before the call.
// Forward: sums of x (region 0) -> column means in double (written over band 0 of region 0) -> sums of squared
// deviations (region 1) -> mean, var, rstd -> y. Backward: sums of gy * xhat and gy (regions 0 and 1) -> dgamma /
// dbeta when asked, and dgamma / rows, dbeta / rows rounded to T (over band 0 of each region: dx then needs no
// division per element) -> dx. A column's bands are read and its result written by one thread, so the results may
// overwrite band 0.
#include "column_bands.cuh"
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cmath>
#include <cstdint>

namespace {
using namespace soma_cuda;

// The terms the column sums add, element i = r * cols + c: one or two sums per column.
template <typename T>
struct SumOfX {
  static constexpr int kSums = 1;
  const T* x;
  __device__ void operator()(int64_t i, int64_t, double* acc) const { acc[0] += double(x[i]); }
};

template <typename T>
struct SquaredDeviations {
  static constexpr int kSums = 1;
  const T* x;
  const double* mu;  // column means in double
  __device__ void operator()(int64_t i, int64_t c, double* acc) const {
    const double d = double(x[i]) - mu[c];
    acc[0] += d * d;
  }
};

template <typename T>
struct GradientSums {
  static constexpr int kSums = 2;  // gy * xhat, gy
  const T* x;
  const T* mean;
  const T* rstd;
  const T* gy;
  __device__ void operator()(int64_t i, int64_t c, double* acc) const {
    const T g = gy[i];
    acc[0] += double(g * (x[i] - mean[c]) * rstd[c]);
    acc[1] += double(g);
  }
};

// Block (32, 8) over columns [32 bx, 32 bx + 32) and the rows of band by: sum k of the band goes to
// partial[(k * bands + by) * cols + c], bands = gridDim.y.
template <typename Term>
__global__ void __launch_bounds__(kThreads) column_partials(int64_t rows, int64_t cols, int64_t rows_per_band,
                                                            Term term, double* partial) {
  constexpr int K = Term::kSums;
  __shared__ double sums[K][8][33];  // padded: the final pass reads a column of it
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * 32 + tx;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_band;
  const int64_t r1 = r0 + rows_per_band < rows ? r0 + rows_per_band : rows;
  double acc[K];
#pragma unroll
  for (int k = 0; k < K; ++k) acc[k] = 0;
  if (c < cols) {
    for (int64_t r = r0 + ty; r < r1; r += 8) term(r * cols + c, c, acc);
  }
#pragma unroll
  for (int k = 0; k < K; ++k) sums[k][ty][tx] = acc[k];
  __syncthreads();
  if (ty == 0 && c < cols) {
    const int64_t bands = gridDim.y;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      double t = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) t += sums[k][j][tx];
      partial[(k * bands + int64_t(blockIdx.y)) * cols + c] = t;
    }
  }
}

// Column c of a region: its bands added in order.
__device__ __forceinline__ double column_total(const double* region, int64_t bands, int64_t cols, int64_t c) {
  double t = 0;
  for (int64_t b = 0; b < bands; ++b) t += region[b * cols + c];
  return t;
}

// Region 0's column sums of x -> the means in double, over band 0 of region 0.
__global__ void __launch_bounds__(kThreads) finish_means(int64_t rows, int64_t cols, int64_t bands, double* sums) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride)
    sums[c] = column_total(sums, bands, cols, c) / double(rows);
}

// Region 1's sums of squared deviations and the double means -> mean, var and rstd in T.
template <typename T>
__global__ void __launch_bounds__(kThreads) finish_statistics(int64_t rows, int64_t cols, int64_t bands,
                                                              const double* mu, const double* squares, double eps,
                                                              T* mean, T* var, T* rstd) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    const double v = column_total(squares, bands, cols, c) / double(rows);
    mean[c] = T(mu[c]);
    var[c] = T(v);
    rstd[c] = T(1.0 / sqrt(v + eps));
  }
}

// Regions 0 and 1 (sums of gy * xhat, gy) -> dgamma / dbeta when asked, and over band 0 of each the column means
// T(dgamma / rows), T(dbeta / rows) (held in double, exactly).
template <typename T>
__global__ void __launch_bounds__(kThreads) finish_gradient_sums(int64_t rows, int64_t cols, int64_t bands,
                                                                 double* sg, double* sb, T* ggamma, T* gbeta) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += stride) {
    const double tg = column_total(sg, bands, cols, c), tb = column_total(sb, bands, cols, c);
    sg[c] = double(T(tg / double(rows)));
    sb[c] = double(T(tb / double(rows)));
    if (ggamma) ggamma[c] = T(tg);
    if (gbeta) gbeta[c] = T(tb);
  }
}

// y over all n = rows * cols elements (grid-stride; I: the index type, 32 bits when n allows).
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads) normalize(I n, I cols, const T* x, const T* mean, const T* rstd,
                                                      const T* gamma, const T* beta, T* y) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += stride) {
    const I c = i % cols;
    const T xh = (x[i] - mean[c]) * rstd[c];
    y[i] = (gamma ? xh * gamma[c] : xh) + (beta ? beta[c] : T(0));
  }
}

// dx over all n elements from the column means mg (of gy * xhat) and mb (of gy).
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads) backward_x(I n, I cols, const T* x, const T* gamma, const T* mean,
                                                       const T* rstd, const T* gy, const double* mg,
                                                       const double* mb, T* gx) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += stride) {
    const I c = i % cols;
    const T rs = rstd[c];
    const T k = gamma ? gamma[c] * rs : rs;
    const T xh = (x[i] - mean[c]) * rs;
    gx[i] = k * (gy[i] - T(mb[c]) - xh * T(mg[c]));
  }
}

// Whether n elements can be walked with 32-bit indices (with a margin for the grid-stride step past the end).
inline bool small_index(int64_t n) { return n < (int64_t(1) << 30); }

template <typename Term>
int launch_partials(int64_t rows, int64_t cols, int64_t bands, int64_t rows_per_band, Term term, double* partial,
                    cudaStream_t s) {
  const int64_t col_blocks = (cols + 31) / 32;
  if (col_blocks > 0x7fffffff || bands > 65535) return static_cast<int>(cudaErrorInvalidValue);
  return launch<column_partials<Term>>(SOMA_SITE, dim3(unsigned(col_blocks), unsigned(bands)), dim3(32, 8), 0, s,
                                       rows, cols, rows_per_band, term, partial);
}

template <typename T>
int forward_typed(int64_t rows, int64_t cols, const T* x, const T* gamma, const T* beta, double eps, T* y, T* mean,
                  T* var, T* rstd, double* workspace, cudaStream_t s) {
  if (rows <= 0 || cols <= 0) return 0;  // Java rejects an empty batch: no statistics to take
  if (workspace == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  int64_t bands = 0, rows_per_band = 0;
  column_bands(rows, &bands, &rows_per_band);
  double* sums = workspace;                    // region 0; band 0 becomes the means
  double* squares = workspace + bands * cols;  // region 1
  int status = launch_partials(rows, cols, bands, rows_per_band, SumOfX<T>{x}, sums, s);
  if (status != 0) return status;
  status = launch<finish_means>(SOMA_SITE, grid_for(cols), kThreads, 0, s, rows, cols, bands, sums);
  if (status != 0) return status;
  status = launch_partials(rows, cols, bands, rows_per_band, SquaredDeviations<T>{x, sums}, squares, s);
  if (status != 0) return status;
  status = launch<finish_statistics<T>>(SOMA_SITE, grid_for(cols), kThreads, 0, s, rows, cols, bands,
                                        static_cast<const double*>(sums), static_cast<const double*>(squares), eps,
                                        mean, var, rstd);
  if (status != 0) return status;
  const int64_t n = rows * cols;
  if (small_index(n))
    return launch<normalize<T, int32_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, int32_t(n), int32_t(cols), x, mean,
                                         rstd, gamma, beta, y);
  return launch<normalize<T, int64_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, n, cols, x, mean, rstd, gamma, beta, y);
}

template <typename T>
int backward_typed(int64_t rows, int64_t cols, const T* x, const T* gamma, const T* mean, const T* rstd, const T* gy,
                   T* gx, T* gg, T* gb, double* workspace, cudaStream_t s) {
  if (rows <= 0 || cols <= 0) return 0;
  if (workspace == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  int64_t bands = 0, rows_per_band = 0;
  column_bands(rows, &bands, &rows_per_band);
  double* sg = workspace;                 // region 0: gy * xhat; band 0 becomes its column means
  double* sb = workspace + bands * cols;  // region 1: gy; likewise
  int status = launch_partials(rows, cols, bands, rows_per_band, GradientSums<T>{x, mean, rstd, gy}, sg, s);
  if (status != 0) return status;
  status = launch<finish_gradient_sums<T>>(SOMA_SITE, grid_for(cols), kThreads, 0, s, rows, cols, bands, sg, sb, gg,
                                           gb);
  if (status != 0) return status;
  const int64_t n = rows * cols;
  if (small_index(n))
    return launch<backward_x<T, int32_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, int32_t(n), int32_t(cols), x,
                                          gamma, mean, rstd, gy, static_cast<const double*>(sg),
                                          static_cast<const double*>(sb), gx);
  return launch<backward_x<T, int64_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, n, cols, x, gamma, mean, rstd, gy,
                                        static_cast<const double*>(sg), static_cast<const double*>(sb), gx);
}

}  // namespace

extern "C" {

int soma_cuda_batch_norm_workspace(int64_t rows, int64_t cols, int64_t* bytes) {
  int64_t bands = 0, rows_per_band = 0;
  column_bands(rows, &bands, &rows_per_band);
  *bytes = 2 * bands * (cols > 0 ? cols : 0) * int64_t(sizeof(double));
  return 0;
}

int soma_cuda_batch_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* var, void* rstd, void* workspace, void* stream) {
  cudaStream_t s = as_stream(stream);
  double* ws = static_cast<double*>(workspace);
  switch (dtype) {
    case SOMA_F32:
      return forward_typed<float>(rows, cols, static_cast<const float*>(x), static_cast<const float*>(gamma),
                                  static_cast<const float*>(beta), eps, static_cast<float*>(y),
                                  static_cast<float*>(mean), static_cast<float*>(var), static_cast<float*>(rstd), ws,
                                  s);
    case SOMA_F64:
      return forward_typed<double>(rows, cols, static_cast<const double*>(x), static_cast<const double*>(gamma),
                                   static_cast<const double*>(beta), eps, static_cast<double*>(y),
                                   static_cast<double*>(mean), static_cast<double*>(var), static_cast<double*>(rstd),
                                   ws, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_batch_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta, void* workspace, void* stream) {
  cudaStream_t s = as_stream(stream);
  double* ws = static_cast<double*>(workspace);
  switch (dtype) {
    case SOMA_F32:
      return backward_typed<float>(rows, cols, static_cast<const float*>(x), static_cast<const float*>(gamma),
                                   static_cast<const float*>(mean), static_cast<const float*>(rstd),
                                   static_cast<const float*>(grad_y), static_cast<float*>(grad_x),
                                   static_cast<float*>(grad_gamma), static_cast<float*>(grad_beta), ws, s);
    case SOMA_F64:
      return backward_typed<double>(rows, cols, static_cast<const double*>(x), static_cast<const double*>(gamma),
                                    static_cast<const double*>(mean), static_cast<const double*>(rstd),
                                    static_cast<const double*>(grad_y), static_cast<double*>(grad_x),
                                    static_cast<double*>(grad_gamma), static_cast<double*>(grad_beta), ws, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
