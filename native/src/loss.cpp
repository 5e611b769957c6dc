// Losses, each the mean over the batch, accumulated in double. The cross-entropies are fused with a
// max-subtracted log-softmax: finite for any finite logits, and they leave softmax(x) behind so the backward
// is one pass. Targets get no gradient.
#include "soma.h"
#include "dtype_dispatch.h"
#include <algorithm>
#include <cmath>
#include <limits>

namespace {

// Keras's epsilon for clamping probabilities.
constexpr double kProbabilityEps = 1e-7;

template <typename T>
void mse(int64_t n, const T* p, const T* z, T* out) {
  double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (n > soma::kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double d = (double)p[i] - (double)z[i];
    acc += d * d;
  }
  out[0] = (T)(acc / (double)n);
}

template <typename T>
void mse_backward(int64_t n, const T* p, const T* z, const T* g, T* gp) {
  const T scale = (T)(2.0 * (double)g[0] / (double)n);
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < n; ++i) gp[i] = scale * (p[i] - z[i]);
}

template <typename T>
void bce(bool from_logits, int64_t n, const T* x, const T* z, T* out) {
  double acc = 0.0;
  if (from_logits) {
#pragma omp parallel for reduction(+ : acc) if (n > soma::kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      double v = (double)x[i];
      acc += std::max(v, 0.0) - v * (double)z[i] + std::log1p(std::exp(-std::fabs(v)));
    }
  } else {
#pragma omp parallel for reduction(+ : acc) if (n > soma::kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      double p = std::min(std::max((double)x[i], kProbabilityEps), 1.0 - kProbabilityEps);
      double t = (double)z[i];
      acc -= t * std::log(p) + (1.0 - t) * std::log1p(-p);
    }
  }
  out[0] = (T)(acc / (double)n);
}

template <typename T>
void bce_backward(bool from_logits, int64_t n, const T* x, const T* z, const T* g, T* gx) {
  const double scale = (double)g[0] / (double)n;
  if (from_logits) {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      double v = (double)x[i];
      // sigmoid without overflow for either sign
      double e = std::exp(-std::fabs(v));
      double s = v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
      gx[i] = (T)((s - (double)z[i]) * scale);
    }
  } else {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      double p = (double)x[i];
      double t = (double)z[i];
      // The clamp passes no gradient where it is active (as clip_by_value in Keras/TF).
      bool inside = p >= kProbabilityEps && p <= 1.0 - kProbabilityEps;
      gx[i] = inside ? (T)((-t / p + (1.0 - t) / (1.0 - p)) * scale) : T(0);
    }
  }
}

// Writes softmax(x) into p when p is not null; returns log(sum exp(x - max)) and sets m to the max.
template <typename T>
double log_sum_exp(const T* x, int64_t cols, T* p, T& m) {
  T mx = x[0];
  bool nan = false;
#pragma omp simd reduction(max : mx) reduction(| : nan)
  for (int64_t c = 0; c < cols; ++c) {
    mx = x[c] > mx ? x[c] : mx;
    nan |= x[c] != x[c];
  }
  m = nan ? std::numeric_limits<T>::quiet_NaN() : mx;
  double s = 0.0;
  if (p) {
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; ++c) {
      T e = std::exp(x[c] - m);
      p[c] = e;
      s += (double)e;
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < cols; ++c) s += (double)std::exp(x[c] - m);
  }
  if (p) {
    const T inv = (T)(1.0 / s);
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) p[c] *= inv;
  }
  return std::log(s);
}

template <typename T>
void softmax_ce(int64_t rows, int64_t cols, const T* logits, const T* targets, T* out, T* probs) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (rows * cols > soma::kParallelGrain && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = logits + r * cols;
    const T* t = targets + r * cols;
    T m;
    const double lse = log_sum_exp(x, cols, probs ? probs + r * cols : nullptr, m);
    // -sum t * ((x - m) - lse), each term finite: a zero target never multiplies an infinity.
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t c = 0; c < cols; ++c) acc += (double)t[c] * (lse - (double)(x[c] - m));
    total += acc;
  }
  out[0] = (T)(total / (double)rows);
}

template <typename T>
void softmax_ce_backward(int64_t rows, int64_t cols, const T* probs, const T* targets, const T* g, T* gx) {
  const double scale = (double)g[0] / (double)rows;
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = probs + r * cols;
    const T* t = targets + r * cols;
    T* o = gx + r * cols;
    double tsum = 0.0;
#pragma omp simd reduction(+ : tsum)
    for (int64_t c = 0; c < cols; ++c) tsum += (double)t[c];
    const T a = (T)(tsum * scale);
    const T b = (T)scale;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) o[c] = a * p[c] - b * t[c];
  }
}

template <typename T>
void sparse_softmax_ce(int64_t rows, int64_t cols, const T* logits, const int32_t* labels, T* out, T* probs) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (rows * cols > soma::kParallelGrain && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = logits + r * cols;
    T m;
    const double lse = log_sum_exp(x, cols, probs ? probs + r * cols : nullptr, m);
    total += lse - (double)(x[labels[r]] - m);
  }
  out[0] = (T)(total / (double)rows);
}

template <typename T>
void sparse_softmax_ce_backward(int64_t rows, int64_t cols, const T* probs, const int32_t* labels, const T* g,
                                T* gx) {
  const T scale = (T)((double)g[0] / (double)rows);
#pragma omp parallel for if (rows * cols > soma::element_grain() && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = probs + r * cols;
    T* o = gx + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) o[c] = scale * p[c];
    o[labels[r]] -= scale;
  }
}

}  // namespace

extern "C" void soma_cpu_mse(int dtype, int64_t n, const void* pred, const void* target, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, mse<T>(n, (const T*)pred, (const T*)target, (T*)out));
}

extern "C" void soma_cpu_mse_backward(int dtype, int64_t n, const void* pred, const void* target,
                                      const void* grad_out, void* grad_pred) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      mse_backward<T>(n, (const T*)pred, (const T*)target, (const T*)grad_out, (T*)grad_pred));
}

extern "C" void soma_cpu_bce(int from_logits, int dtype, int64_t n, const void* x, const void* z, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, bce<T>(from_logits != 0, n, (const T*)x, (const T*)z, (T*)out));
}

extern "C" void soma_cpu_bce_backward(int from_logits, int dtype, int64_t n, const void* x, const void* z,
                                      const void* grad_out, void* grad_x) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      bce_backward<T>(from_logits != 0, n, (const T*)x, (const T*)z, (const T*)grad_out, (T*)grad_x));
}

extern "C" void soma_cpu_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits,
                                               const void* targets, void* out, void* probs) {
  SOMA_DISPATCH_FLOAT(dtype, T, softmax_ce<T>(rows, cols, (const T*)logits, (const T*)targets, (T*)out, (T*)probs));
}

extern "C" void soma_cpu_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                                        const void* targets, const void* grad_out,
                                                        void* grad_logits) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      softmax_ce_backward<T>(rows, cols, (const T*)probs, (const T*)targets, (const T*)grad_out,
                                             (T*)grad_logits));
}

extern "C" void soma_cpu_sparse_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits,
                                                      const int32_t* labels, void* out, void* probs) {
  SOMA_DISPATCH_FLOAT(dtype, T, sparse_softmax_ce<T>(rows, cols, (const T*)logits, labels, (T*)out, (T*)probs));
}

extern "C" void soma_cpu_sparse_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols,
                                                               const void* probs, const int32_t* labels,
                                                               const void* grad_out, void* grad_logits) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      sparse_softmax_ce_backward<T>(rows, cols, (const T*)probs, labels, (const T*)grad_out,
                                                    (T*)grad_logits));
}
