// Fused optimizer updates: one pass over each parameter tensor reads p, g and the state once and writes
// them once. Multi-tensor: one JNI call per optimizer step, whatever the number of parameters.
#include "soma.h"
#include "dtype_dispatch.h"
#include "flush_denormals.h"
#include <algorithm>
#include <cmath>

namespace {

template <typename T>
inline T prepare_grad(T g, T scale, T clip) {
  g *= scale;
  if (clip > T(0)) g = std::min(std::max(g, -clip), clip);
  return g;
}

template <typename T>
void sgd(int count, const int64_t* P, const int64_t* G, const int64_t* V, const int64_t* N, T lr, T mu,
         int nesterov, T wd, T scale, T clip) {
  for (int t = 0; t < count; ++t) {
    T* p = (T*)P[t];
    const T* g = (const T*)G[t];
    T* v = V ? (T*)V[t] : nullptr;
    const int64_t n = N[t];
#pragma omp parallel if (n > soma::element_grain())
    {
      soma::FlushDenormals flush;  // on every team member: the state decays into denormals
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        T gi = prepare_grad(g[i], scale, clip) + wd * p[i];
        if (v == nullptr || mu == T(0)) {  // Java passes a velocity exactly when momentum > 0
          p[i] -= lr * gi;
        } else {
          T vi = mu * v[i] - lr * gi;
          v[i] = vi;
          p[i] += nesterov ? mu * vi - lr * gi : vi;
        }
      }
    }
  }
}

template <typename T>
void adam(int count, const int64_t* P, const int64_t* G, const int64_t* M, const int64_t* V, const int64_t* N,
          double lr, double b1, double b2, double eps, double wd, int decoupled, int64_t step, T scale, T clip) {
  // PyTorch form rearranged: p -= lr/c1 * m / (sqrt(v)/sqrt(c2) + eps) == lr_t * m / (sqrt(v) + eps_hat).
  const double c1 = 1.0 - std::pow(b1, (double)step);
  const double c2 = 1.0 - std::pow(b2, (double)step);
  const T lr_t = (T)(lr * std::sqrt(c2) / c1);
  const T eps_hat = (T)(eps * std::sqrt(c2));
  const T tb1 = (T)b1, tb2 = (T)b2, decay = (T)(decoupled ? lr * wd : 0.0), l2 = (T)(decoupled ? 0.0 : wd);
  for (int t = 0; t < count; ++t) {
    T* p = (T*)P[t];
    const T* g = (const T*)G[t];
    T* m = (T*)M[t];
    T* v = (T*)V[t];
    const int64_t n = N[t];
#pragma omp parallel if (n > soma::element_grain())
    {
      soma::FlushDenormals flush;  // on every team member: the state decays into denormals
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        T pi = p[i];
        T gi = prepare_grad(g[i], scale, clip) + l2 * pi;
        pi -= decay * pi;
        T mi = tb1 * m[i] + (T(1) - tb1) * gi;
        T vi = tb2 * v[i] + (T(1) - tb2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - lr_t * mi / (std::sqrt(vi) + eps_hat);
      }
    }
  }
}

template <typename T>
void rmsprop(int count, const int64_t* P, const int64_t* G, const int64_t* A, const int64_t* MOM,
             const int64_t* N, T lr, T rho, T mu, T eps, T scale, T clip) {
  for (int t = 0; t < count; ++t) {
    T* p = (T*)P[t];
    const T* g = (const T*)G[t];
    T* a = (T*)A[t];
    T* mom = MOM ? (T*)MOM[t] : nullptr;
    const int64_t n = N[t];
#pragma omp parallel if (n > soma::element_grain())
    {
      soma::FlushDenormals flush;  // on every team member: the state decays into denormals
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        T gi = prepare_grad(g[i], scale, clip);
        T ai = rho * a[i] + (T(1) - rho) * gi * gi;
        a[i] = ai;
        T stepv = lr * gi / (std::sqrt(ai) + eps);
        if (mu > T(0)) {
          T mi = mu * mom[i] + stepv;
          mom[i] = mi;
          p[i] -= mi;
        } else {
          p[i] -= stepv;
        }
      }
    }
  }
}

template <typename T>
double sum_squares(int count, const int64_t* X, const int64_t* N) {
  double total = 0.0;
  for (int t = 0; t < count; ++t) {
    const T* x = (const T*)X[t];
    const int64_t n = N[t];
    double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (n > soma::kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) acc += (double)x[i] * (double)x[i];
    total += acc;
  }
  return total;
}

}  // namespace

extern "C" {

void soma_cpu_sgd(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* velocity,
                  const int64_t* sizes, double lr, double momentum, int nesterov, double weight_decay,
                  double grad_scale, double clip_value) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      sgd<T>(count, params, grads, velocity, sizes, (T)lr, (T)momentum, nesterov, (T)weight_decay,
                             (T)grad_scale, (T)clip_value));
}

void soma_cpu_adam(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* m,
                   const int64_t* v, const int64_t* sizes, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int decoupled, int64_t step, double grad_scale, double clip_value) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      adam<T>(count, params, grads, m, v, sizes, lr, beta1, beta2, eps, weight_decay, decoupled,
                              step, (T)grad_scale, (T)clip_value));
}

void soma_cpu_rmsprop(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* avg,
                      const int64_t* mom, const int64_t* sizes, double lr, double rho, double momentum,
                      double eps, double grad_scale, double clip_value) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      rmsprop<T>(count, params, grads, avg, mom, sizes, (T)lr, (T)rho, (T)momentum, (T)eps,
                                 (T)grad_scale, (T)clip_value));
}

double soma_cpu_sum_squares(int dtype, int count, const int64_t* tensors, const int64_t* sizes) {
  double r = 0.0;
  SOMA_DISPATCH_FLOAT(dtype, T, r = sum_squares<T>(count, tensors, sizes));
  return r;
}

}  // extern "C"
