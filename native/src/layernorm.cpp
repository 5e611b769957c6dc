// Layer normalisation over the last axis (rows x cols, contiguous), fused forward and backward.
// Forward: y = (x - mean) * rstd * gamma + beta with rstd = 1 / sqrt(var + eps) (population variance, as Keras),
// statistics accumulated in double. mean and rstd (one per row) are saved for the backward:
//   xhat = (x - mean) rstd,  gx = gamma * gy,
//   dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)),  dgamma = sum_rows gy * xhat,  dbeta = sum_rows gy.
#include "soma.h"
#include "dtype_dispatch.h"
#include <algorithm>
#include <cmath>

namespace {

template <typename T>
void layer_norm(int64_t rows, int64_t cols, const T* x, const T* gamma, const T* beta, double eps, T* y, T* mean,
                T* rstd) {
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; ++c) s += (double)xr[c];
    const double mu = s / (double)cols;
    double v = 0;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < cols; ++c) {
      const double d = (double)xr[c] - mu;
      v += d * d;
    }
    const T m = (T)mu;
    const T rs = (T)(1.0 / std::sqrt(v / (double)cols + eps));
    mean[r] = m;
    rstd[r] = rs;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const T xh = (xr[c] - m) * rs;
      yr[c] = (gamma ? xh * gamma[c] : xh) + (beta ? beta[c] : (T)0);
    }
  }
}

template <typename T>
void layer_norm_backward(int64_t rows, int64_t cols, const T* x, const T* gamma, const T* mean, const T* rstd,
                         const T* gy, T* gx, T* ggamma, T* gbeta) {
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* gr = gy + r * cols;
    T* dr = gx + r * cols;
    const T m = mean[r], rs = rstd[r];
    double a = 0, b = 0;  // sums of gx and gx * xhat
    // gx = gamma * gy is rounded once and kept in dr. Computed again in the second loop, gcc fused its product into
    // "gx - mean(gx)" as one FMA, whose unrounded product no longer cancels the mean: a row of equal values, whose
    // exact gradient is 0, got that rounding error times rstd (1e6 for eps = 1e-12, BERT's) instead.
#pragma omp simd reduction(+ : a, b)
    for (int64_t c = 0; c < cols; ++c) {
      const T g = gamma ? gr[c] * gamma[c] : gr[c];
      dr[c] = g;
      a += (double)g;
      b += (double)(g * (xr[c] - m) * rs);
    }
    const T ma = (T)(a / (double)cols), mb = (T)(b / (double)cols);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) dr[c] = rs * (dr[c] - ma - (xr[c] - m) * rs * mb);
  }
  if (!ggamma && !gbeta) return;
  // Column sums: each thread owns a band of columns and walks every row (no write conflicts).
  constexpr int64_t kBand = 64;
  const int64_t bands = (cols + kBand - 1) / kBand;
#pragma omp parallel for if (rows * cols > soma::kParallelGrain && bands > 1) schedule(static)
  for (int64_t band = 0; band < bands; ++band) {
    const int64_t c0 = band * kBand, c1 = std::min(cols, c0 + kBand);
    double sg[kBand] = {0}, sb[kBand] = {0};
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * cols;
      const T* gr = gy + r * cols;
      const T m = mean[r], rs = rstd[r];
      for (int64_t c = c0; c < c1; ++c) {
        sg[c - c0] += (double)(gr[c] * (xr[c] - m) * rs);
        sb[c - c0] += (double)gr[c];
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      if (ggamma) ggamma[c] = (T)sg[c - c0];
      if (gbeta) gbeta[c] = (T)sb[c - c0];
    }
  }
}

}  // namespace

extern "C" {

void soma_cpu_layer_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* rstd) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      layer_norm<T>(rows, cols, (const T*)x, (const T*)gamma, (const T*)beta, eps, (T*)y, (T*)mean,
                                    (T*)rstd));
}

void soma_cpu_layer_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      layer_norm_backward<T>(rows, cols, (const T*)x, (const T*)gamma, (const T*)mean,
                                             (const T*)rstd, (const T*)grad_y, (T*)grad_x, (T*)grad_gamma,
                                             (T*)grad_beta));
}

}  // extern "C"
