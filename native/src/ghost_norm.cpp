// Per-example gradient norms for DP-SGD without materialising the batch's per-example gradients ("ghost norms":
// Goodfellow 2015; Li et al. 2021, "Large language models can be strong differentially private learners").
// Each kernel gets a layer's saved input and the gradient of the loss with respect to its (pre-activation) output
// and writes, per example, the squared L2 norm of that example's gradient over the layer's weight (and bias).
// Two ways per layer, chosen by cost as Li et al. do: the per-example product (form one example's weight
// gradient in a small buffer, square it) or the Gram trick (sum over position pairs of (a_p . a_q)(g_p . g_q)).
#include "dtype_dispatch.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

// mode 0: the cheaper of the two; 1: per-example product; 2: Gram trick.
bool use_gram(int mode, double product_cost, double gram_cost) {
  if (mode == 1) return false;
  if (mode == 2) return true;
  return gram_cost < product_cost;
}

// ||sum_t g_t||^2 over rows t of a positions x p block: the bias' per-example gradient.
template <typename T>
double bias_norm2(const T* g, int64_t positions, int64_t p, std::vector<double>& acc) {
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int64_t t = 0; t < positions; ++t)
    for (int64_t o = 0; o < p; ++o) acc[o] += g[t * p + o];
  double s = 0;
  for (int64_t o = 0; o < p; ++o) s += acc[o] * acc[o];
  return s;
}

// sum over position pairs of (u_s . u_t)(g_s . g_t), u: positions x k, g: positions x p (both row-major).
template <typename T>
double gram_norm2(const T* u, int64_t k, const T* g, int64_t p, int64_t positions) {
  double s = 0;
  for (int64_t a = 0; a < positions; ++a) {
    for (int64_t b = 0; b <= a; ++b) {
      double uu = 0, gg = 0;
      for (int64_t j = 0; j < k; ++j) uu += (double)u[a * k + j] * u[b * k + j];
      for (int64_t o = 0; o < p; ++o) gg += (double)g[a * p + o] * g[b * p + o];
      s += (a == b ? 1.0 : 2.0) * uu * gg;
    }
  }
  return s;
}

// ||U^T G||_F^2 for ut = U^T (k x positions) and g (positions x p), both row-major (rows of ut stream): one 6 x 16 block of U^T G at a time
// in registers (the per-example weight gradient, never stored), each load of g shared by six rows.
template <typename T>
double product_norm2(const T* ut, int64_t k, const T* g, int64_t p, int64_t positions) {
  constexpr int64_t R = 6, C = 16;
  double s = 0;
  for (int64_t c0 = 0; c0 < p; c0 += C) {
    const int64_t nc = std::min(C, p - c0);
    for (int64_t r0 = 0; r0 < k; r0 += R) {
      const int64_t nr = std::min(R, k - r0);
      T acc[R][C] = {};
      if (nr == R && nc == C) {
        for (int64_t q = 0; q < positions; ++q) {
          const T* gq = g + q * p + c0;
          const T* uq = ut + r0 * positions + q;
          const T u0 = uq[0], u1 = uq[positions], u2 = uq[2 * positions];
          const T u3 = uq[3 * positions], u4 = uq[4 * positions], u5 = uq[5 * positions];
          for (int64_t j = 0; j < C; ++j) {  // written out so that gcc keeps acc in registers
            const T gj = gq[j];
            acc[0][j] += u0 * gj;
            acc[1][j] += u1 * gj;
            acc[2][j] += u2 * gj;
            acc[3][j] += u3 * gj;
            acc[4][j] += u4 * gj;
            acc[5][j] += u5 * gj;
          }
        }
      } else {
        for (int64_t q = 0; q < positions; ++q)
          for (int64_t r = 0; r < nr; ++r) {
            const T ur = ut[(r0 + r) * positions + q];
            for (int64_t j = 0; j < nc; ++j) acc[r][j] += ur * g[q * p + c0 + j];
          }
      }
      for (int64_t r = 0; r < nr; ++r)
        for (int64_t j = 0; j < nc; ++j) s += (double)acc[r][j] * acc[r][j];
    }
  }
  return s;
}

template <typename T>
double sum_squares(const T* v, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += (double)v[j] * v[j];
  return s;
}

template <typename T>
void linear(int64_t batch, int64_t positions, int64_t d, int64_t p, const T* a, const T* g, int has_bias, int mode,
            T* out) {
  const bool gram = use_gram(mode, (double)positions * d * p + (double)d * p,
                             0.5 * (double)positions * positions * (d + p));
#pragma omp parallel
  {
    std::vector<double> acc(p);
    std::vector<T> at(gram || positions == 1 ? 0 : d * positions);  // a_i transposed
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < batch; ++i) {
      const T* ai = a + i * positions * d;
      const T* gi = g + i * positions * p;
      double s;
      if (positions == 1) {
        s = sum_squares(ai, d) * sum_squares(gi, p);  // rank one: ||a g^T||^2 = ||a||^2 ||g||^2
      } else if (gram) {
        s = gram_norm2(ai, d, gi, p, positions);
      } else {
        for (int64_t t = 0; t < positions; ++t)
          for (int64_t j = 0; j < d; ++j) at[j * positions + t] = ai[t * d + j];
        s = product_norm2(at.data(), d, gi, p, positions);
      }
      if (has_bias) s += bias_norm2(gi, positions, p, acc);
      out[i] = (T)s;
    }
  }
}

// geom: {n, h, w, c, oh, ow, oc, kh, kw, sh, sw, dh, dw, pad_top, pad_left} as native/src/conv.cpp; NHWC input,
// HWIO weight, so a patch row is ordered (ki, kj, c) like the kernel's first three axes.
template <typename T>
void conv2d(const int64_t* geom, const T* x, const T* g, int has_bias, int mode, T* out) {
  const int64_t n = geom[0], h = geom[1], w = geom[2], c = geom[3], oh = geom[4], ow = geom[5], oc = geom[6];
  const int64_t kh = geom[7], kw = geom[8], sh = geom[9], sw = geom[10], dh = geom[11], dw = geom[12];
  const int64_t pt = geom[13], pl = geom[14];
  const int64_t positions = oh * ow, k = kh * kw * c;
  const bool gram = use_gram(mode, (double)positions * k * oc, 0.5 * (double)positions * positions * (k + oc));
#pragma omp parallel
  {
    std::vector<T> buf(positions * k);  // the unfolded patches
    std::vector<T> planes(gram ? 0 : h * w * c);  // x_i channel-major
    std::vector<double> acc(oc);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + i * h * w * c;
      const T* gi = g + i * positions * oc;
      if (gram) {  // U: positions x k
        std::fill(buf.begin(), buf.end(), T(0));
        for (int64_t y = 0; y < oh; ++y)
          for (int64_t xo = 0; xo < ow; ++xo)
            for (int64_t ki = 0; ki < kh; ++ki) {
              const int64_t iy = y * sh - pt + ki * dh;
              if (iy < 0 || iy >= h) continue;  // zero padding
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t ix = xo * sw - pl + kj * dw;
                if (ix < 0 || ix >= w) continue;
                const T* src = xi + (iy * w + ix) * c;
                std::copy(src, src + c, buf.data() + (y * ow + xo) * k + (ki * kw + kj) * c);
              }
            }
      } else {  // U^T: k x positions, row by row from x_i's channel planes (contiguous reads along each row)
        for (int64_t pix = 0; pix < h * w; ++pix)
          for (int64_t ch = 0; ch < c; ++ch) planes[ch * h * w + pix] = xi[pix * c + ch];
        for (int64_t ki = 0; ki < kh; ++ki)
          for (int64_t kj = 0; kj < kw; ++kj)
            for (int64_t ch = 0; ch < c; ++ch) {
              T* row = buf.data() + ((ki * kw + kj) * c + ch) * positions;
              for (int64_t y = 0; y < oh; ++y) {
                const int64_t iy = y * sh - pt + ki * dh;
                T* dst = row + y * ow;
                if (iy < 0 || iy >= h) {  // zero padding
                  std::fill(dst, dst + ow, T(0));
                  continue;
                }
                const T* src = planes.data() + ch * h * w + iy * w;
                for (int64_t xo = 0; xo < ow; ++xo) {
                  const int64_t ix = xo * sw - pl + kj * dw;
                  dst[xo] = (ix < 0 || ix >= w) ? T(0) : src[ix];
                }
              }
            }
      }
      double s = gram ? gram_norm2(buf.data(), k, gi, oc, positions) : product_norm2(buf.data(), k, gi, oc, positions);
      if (has_bias) s += bias_norm2(gi, positions, oc, acc);
      out[i] = (T)s;
    }
  }
}

// Rows with equal ids share one embedding row, so an example's gradient has one row per distinct id:
// ||grad||^2 = sum over position pairs with equal ids of g_s . g_t.
template <typename T>
void embedding(int64_t batch, int64_t positions, int64_t d, const int32_t* ids, const T* g, T* out) {
#pragma omp parallel
  {
    std::vector<int64_t> order(positions);
    std::vector<double> row(d);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < batch; ++i) {
      const int32_t* id = ids + i * positions;
      const T* gi = g + i * positions * d;
      for (int64_t t = 0; t < positions; ++t) order[t] = t;
      std::stable_sort(order.begin(), order.end(), [&](int64_t s, int64_t t) { return id[s] < id[t]; });
      double s = 0;
      for (int64_t start = 0; start < positions;) {
        int64_t end = start;
        std::fill(row.begin(), row.end(), 0.0);
        while (end < positions && id[order[end]] == id[order[start]]) {
          for (int64_t j = 0; j < d; ++j) row[j] += gi[order[end] * d + j];
          ++end;
        }
        for (int64_t j = 0; j < d; ++j) s += row[j] * row[j];
        start = end;
      }
      out[i] = (T)s;
    }
  }
}

// Layer normalisation's affine part: per example, grad_gamma = sum_t g_t * xhat_t and grad_beta = sum_t g_t.
template <typename T>
void layer_norm(int64_t batch, int64_t positions, int64_t d, const T* xhat, const T* g, int has_gamma, int has_beta,
                T* out) {
#pragma omp parallel
  {
    std::vector<double> gamma(d), beta(d);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < batch; ++i) {
      std::fill(gamma.begin(), gamma.end(), 0.0);
      std::fill(beta.begin(), beta.end(), 0.0);
      for (int64_t t = 0; t < positions; ++t) {
        const int64_t base = (i * positions + t) * d;
        for (int64_t j = 0; j < d; ++j) {
          gamma[j] += (double)g[base + j] * xhat[base + j];
          beta[j] += g[base + j];
        }
      }
      double s = 0;
      for (int64_t j = 0; j < d; ++j) {
        if (has_gamma) s += gamma[j] * gamma[j];
        if (has_beta) s += beta[j] * beta[j];
      }
      out[i] = (T)s;
    }
  }
}

}  // namespace

extern "C" {

void soma_cpu_ghost_norm_linear(int dtype, int64_t batch, int64_t positions, int64_t d, int64_t p, const void* a,
                                const void* g, int has_bias, int mode, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, linear<T>(batch, positions, d, p, (const T*)a, (const T*)g, has_bias, mode, (T*)out));
}

void soma_cpu_ghost_norm_conv2d(int dtype, const int64_t* geom, const void* x, const void* g, int has_bias, int mode,
                                void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, conv2d<T>(geom, (const T*)x, (const T*)g, has_bias, mode, (T*)out));
}

void soma_cpu_ghost_norm_embedding(int dtype, int64_t batch, int64_t positions, int64_t d, const int32_t* ids,
                                   const void* g, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, embedding<T>(batch, positions, d, ids, (const T*)g, (T*)out));
}

void soma_cpu_ghost_norm_layer_norm(int dtype, int64_t batch, int64_t positions, int64_t d, const void* xhat,
                                    const void* g, int has_gamma, int has_beta, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T, layer_norm<T>(batch, positions, d, (const T*)xhat, (const T*)g, has_gamma, has_beta,
                                              (T*)out));
}

}  // extern "C"
