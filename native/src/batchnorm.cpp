// Batch normalisation in training over the last (channel) axis of a contiguous rows x cols array, fused forward
// and backward (Keras' BatchNormalization: statistics over every axis but the last).
// Forward: per column, mean and the population variance (two passes, accumulated in double, as layernorm.cpp),
// m = (T)mean, rs = (T)(1 / sqrt(var + eps)), y = (x - m) * rs * gamma + beta in T. mean, var and rstd are written.
// Backward, from the forward's mean and rstd:
//   xhat = (x - m) rs,  dbeta = sum_rows gy,  dgamma = sum_rows gy * xhat  (each term in T, summed in double),
//   dx = gamma * rs * (gy - dbeta / rows - xhat * dgamma / rows).
//
// Column sums without write conflicts and in an order fixed by the shape alone (so results do not depend on the
// thread count): rows are cut into chunks (row_chunks), each (chunk, band of columns) tile is one task writing its
// own double partials, then each column adds its chunks in order.
#include "soma.h"
#include "dtype_dispatch.h"
#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int64_t kBand = 256;        // columns per task: the tile's partials stay in L1
constexpr int64_t kChunkRows = 32;    // rows per chunk, at least
constexpr int64_t kMaxChunks = 64;    // chunks at most (partials: chunks x cols doubles per sum)

struct Chunks {
  int64_t count, rows;  // number of chunks, rows per chunk (the last may have fewer)
};

Chunks row_chunks(int64_t rows) {
  int64_t n = std::min((rows + kChunkRows - 1) / kChunkRows, kMaxChunks);
  if (n < 1) n = 1;
  const int64_t per = (rows + n - 1) / n;
  return {per > 0 ? (rows + per - 1) / per : 1, per};
}

// body(k, r0, r1, c0, c1) for every tile of row chunk k and columns [c0, c1), in parallel.
template <typename Body>
void for_each_tile(int64_t rows, int64_t cols, Chunks ch, Body&& body) {
  const int64_t bands = (cols + kBand - 1) / kBand;
  const int64_t tiles = ch.count * bands;
#pragma omp parallel for if (rows * cols > soma::kParallelGrain && tiles > 1) schedule(static)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t k = t / bands, c0 = (t % bands) * kBand;
    body(k, k * ch.rows, std::min(rows, (k + 1) * ch.rows), c0, std::min(cols, c0 + kBand));
  }
}

// Column c's chunk partials (chunks rows of cols doubles), added in chunk order.
inline double column_total(const double* partial, int64_t chunks, int64_t cols, int64_t c) {
  double s = 0;
  for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
  return s;
}

template <typename T>
void batch_norm(int64_t rows, int64_t cols, const T* x, const T* gamma, const T* beta, double eps, T* y, T* mean,
                T* var, T* rstd) {
  if (rows <= 0 || cols <= 0) return;  // Java rejects an empty batch: no statistics to take
  const Chunks ch = row_chunks(rows);
  std::vector<double> partial((size_t)(ch.count * cols)), mu((size_t)cols);
  double* part = partial.data();
  for_each_tile(rows, cols, ch, [&](int64_t k, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    double* acc = part + k * cols;
    for (int64_t c = c0; c < c1; ++c) acc[c] = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) acc[c] += (double)xr[c];
    }
  });
#pragma omp parallel for if (ch.count * cols > soma::kParallelGrain) schedule(static)
  for (int64_t c = 0; c < cols; ++c) mu[c] = column_total(part, ch.count, cols, c) / (double)rows;
  const double* m = mu.data();
  for_each_tile(rows, cols, ch, [&](int64_t k, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    double* acc = part + k * cols;
    for (int64_t c = c0; c < c1; ++c) acc[c] = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        const double d = (double)xr[c] - m[c];
        acc[c] += d * d;
      }
    }
  });
#pragma omp parallel for if (ch.count * cols > soma::kParallelGrain) schedule(static)
  for (int64_t c = 0; c < cols; ++c) {
    const double v = column_total(part, ch.count, cols, c) / (double)rows;
    mean[c] = (T)mu[c];
    var[c] = (T)v;
    rstd[c] = (T)(1.0 / std::sqrt(v + eps));
  }
#pragma omp parallel for if (rows * cols > soma::kParallelGrain && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const T xh = (xr[c] - mean[c]) * rstd[c];
      yr[c] = (gamma ? xh * gamma[c] : xh) + (beta ? beta[c] : (T)0);
    }
  }
}

template <typename T>
void batch_norm_backward(int64_t rows, int64_t cols, const T* x, const T* gamma, const T* mean, const T* rstd,
                         const T* gy, T* gx, T* ggamma, T* gbeta) {
  if (rows <= 0 || cols <= 0) return;  // no forward ran without rows
  const Chunks ch = row_chunks(rows);
  std::vector<double> partial((size_t)(2 * ch.count * cols));
  double* pg = partial.data();             // sums of gy * xhat
  double* pb = pg + ch.count * cols;       // sums of gy
  for_each_tile(rows, cols, ch, [&](int64_t k, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    double* ag = pg + k * cols;
    double* ab = pb + k * cols;
    for (int64_t c = c0; c < c1; ++c) ag[c] = ab[c] = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      const T* gr = gy + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        ag[c] += (double)(gr[c] * (xr[c] - mean[c]) * rstd[c]);
        ab[c] += (double)gr[c];
      }
    }
  });
  // Per column, in T: k = gamma * rs, mb = dbeta / rows, mg = dgamma / rows.
  std::vector<T> coef((size_t)(3 * cols));
  T* kc = coef.data();
  T* mb = kc + cols;
  T* mg = mb + cols;
#pragma omp parallel for if (ch.count * cols > soma::kParallelGrain) schedule(static)
  for (int64_t c = 0; c < cols; ++c) {
    const double sg = column_total(pg, ch.count, cols, c), sb = column_total(pb, ch.count, cols, c);
    if (ggamma) ggamma[c] = (T)sg;
    if (gbeta) gbeta[c] = (T)sb;
    kc[c] = gamma ? gamma[c] * rstd[c] : rstd[c];
    mb[c] = (T)(sb / (double)rows);
    mg[c] = (T)(sg / (double)rows);
  }
#pragma omp parallel for if (rows * cols > soma::kParallelGrain && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    T* dr = gx + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const T xh = (xr[c] - mean[c]) * rstd[c];
      dr[c] = kc[c] * (gr[c] - mb[c] - xh * mg[c]);
    }
  }
}

}  // namespace

extern "C" {

void soma_cpu_batch_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* var, void* rstd) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      batch_norm<T>(rows, cols, (const T*)x, (const T*)gamma, (const T*)beta, eps, (T*)y, (T*)mean,
                                    (T*)var, (T*)rstd));
}

void soma_cpu_batch_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      batch_norm_backward<T>(rows, cols, (const T*)x, (const T*)gamma, (const T*)mean,
                                             (const T*)rstd, (const T*)grad_y, (T*)grad_x, (T*)grad_gamma,
                                             (T*)grad_beta));
}

}  // extern "C"
