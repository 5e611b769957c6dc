// 2-d convolution and pooling over channels-last (NHWC) data with Keras' HWIO kernels, as direct loops.
// oneDNN runs every f32 convolution and pooling; it has no f64 ones on the CPU, so these portable kernels
// serve float64 (gradient checks). Plain rather than fast: each pass parallelises over an index that owns
// its outputs (no atomics), and the innermost loop runs over the contiguous channel axis so it vectorises.
#include "soma.h"
#include "dtype_dispatch.h"
#include "conv_geom.h"

#include <limits>

namespace {

using Geom = soma::ConvGeom;

// out[n, oy, ox, :] = bias + sum over taps and input channels of x * w; one output row (n, oy) per task.
template <typename T>
void conv2d(const Geom& g, const T* x, const T* wt, const T* bias, T* out) {
  const int64_t rows = g.n * g.oh;
#pragma omp parallel for if (rows * g.ow * g.oc * g.kh * g.kw * g.c > soma::kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / g.oh, oy = r % g.oh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      T* o = out + ((b * g.oh + oy) * g.ow + ox) * g.oc;
      for (int64_t co = 0; co < g.oc; ++co) o[co] = bias ? bias[co] : T(0);
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t iy = oy * g.sh - g.pt + i * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t ix = ox * g.sw - g.pl + j * g.dw;
          if (ix < 0 || ix >= g.w) continue;
          const T* xp = x + ((b * g.h + iy) * g.w + ix) * g.c;
          const T* wp = wt + (i * g.kw + j) * g.c * g.oc;
          for (int64_t ci = 0; ci < g.c; ++ci) {
            const T xv = xp[ci];
            const T* wrow = wp + ci * g.oc;
#pragma omp simd
            for (int64_t co = 0; co < g.oc; ++co) o[co] += xv * wrow[co];
          }
        }
      }
    }
  }
}

// grad_x = sum over outputs that read each input of grad_out * w; each image is one task (it owns its grad_x).
template <typename T>
void conv2d_backward_data(const Geom& g, const T* go, const T* wt, T* gx) {
#pragma omp parallel for if (g.n * g.oh * g.ow * g.oc * g.kh * g.kw * g.c > soma::kParallelGrain) schedule(static)
  for (int64_t b = 0; b < g.n; ++b) {
    T* gxb = gx + b * g.h * g.w * g.c;
    for (int64_t k = 0; k < g.h * g.w * g.c; ++k) gxb[k] = T(0);
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const T* gp = go + ((b * g.oh + oy) * g.ow + ox) * g.oc;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = oy * g.sh - g.pt + i * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = ox * g.sw - g.pl + j * g.dw;
            if (ix < 0 || ix >= g.w) continue;
            T* xp = gxb + (iy * g.w + ix) * g.c;
            const T* wp = wt + (i * g.kw + j) * g.c * g.oc;
            for (int64_t ci = 0; ci < g.c; ++ci) {
              const T* wrow = wp + ci * g.oc;
              T s = T(0);
#pragma omp simd reduction(+ : s)
              for (int64_t co = 0; co < g.oc; ++co) s += gp[co] * wrow[co];
              xp[ci] += s;
            }
          }
        }
      }
    }
  }
}

// grad_w[i, j, ci, :] = sum over images and outputs of x * grad_out; one (i, j, ci) row per task.
// grad_bias (may be NULL) = grad_out summed over images and positions.
template <typename T>
void conv2d_backward_weights(const Geom& g, const T* x, const T* go, T* gw, T* gb) {
  const int64_t taps = g.kh * g.kw * g.c;
#pragma omp parallel for if (g.n * g.oh * g.ow * g.oc * taps > soma::kParallelGrain) schedule(static)
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t i = t / (g.kw * g.c), j = (t / g.c) % g.kw, ci = t % g.c;
    T* wrow = gw + t * g.oc;
    for (int64_t co = 0; co < g.oc; ++co) wrow[co] = T(0);
    for (int64_t b = 0; b < g.n; ++b) {
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy * g.sh - g.pt + i * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const int64_t ix = ox * g.sw - g.pl + j * g.dw;
          if (ix < 0 || ix >= g.w) continue;
          const T xv = x[((b * g.h + iy) * g.w + ix) * g.c + ci];
          const T* gp = go + ((b * g.oh + oy) * g.ow + ox) * g.oc;
#pragma omp simd
          for (int64_t co = 0; co < g.oc; ++co) wrow[co] += xv * gp[co];
        }
      }
    }
  }
  if (gb) {
    for (int64_t co = 0; co < g.oc; ++co) gb[co] = T(0);
    const int64_t positions = g.n * g.oh * g.ow;
    for (int64_t p = 0; p < positions; ++p) {
      const T* gp = go + p * g.oc;
#pragma omp simd
      for (int64_t co = 0; co < g.oc; ++co) gb[co] += gp[co];
    }
  }
}

// The window of output (oy, ox) clipped to the image: rows [y0, y1), columns [x0, x1) (dilation 1).
struct Window {
  int64_t y0, y1, x0, x1;
  Window(const Geom& g, int64_t oy, int64_t ox) {
    const int64_t ys = oy * g.sh - g.pt, xs = ox * g.sw - g.pl;
    y0 = ys < 0 ? 0 : ys;
    x0 = xs < 0 ? 0 : xs;
    y1 = ys + g.kh > g.h ? g.h : ys + g.kh;
    x1 = xs + g.kw > g.w ? g.w : xs + g.kw;
  }
};

// Max (padding never wins, NaN always does) or average over the window's positions inside the image (padding excluded, as
// Keras); one output row (n, oy) per task.
template <typename T>
void pool2d(int is_max, const Geom& g, const T* x, T* out) {
  const int64_t rows = g.n * g.oh;
#pragma omp parallel for if (rows * g.ow * g.c * g.kh * g.kw > soma::kParallelGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / g.oh, oy = r % g.oh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const Window win(g, oy, ox);
      T* o = out + ((b * g.oh + oy) * g.ow + ox) * g.c;
      for (int64_t ci = 0; ci < g.c; ++ci) o[ci] = is_max ? -std::numeric_limits<T>::infinity() : T(0);
      for (int64_t y = win.y0; y < win.y1; ++y) {
        for (int64_t xx = win.x0; xx < win.x1; ++xx) {
          const T* xp = x + ((b * g.h + y) * g.w + xx) * g.c;
          if (is_max) {
            // NaN wins, as in PyTorch: once o holds NaN no comparison replaces it.
            for (int64_t ci = 0; ci < g.c; ++ci) o[ci] = (xp[ci] > o[ci] || xp[ci] != xp[ci]) ? xp[ci] : o[ci];
          } else {
#pragma omp simd
            for (int64_t ci = 0; ci < g.c; ++ci) o[ci] += xp[ci];
          }
        }
      }
      if (!is_max) {
        const T count = T((win.y1 - win.y0) * (win.x1 - win.x0));
        for (int64_t ci = 0; ci < g.c; ++ci) o[ci] /= count;
      }
    }
  }
}

// Max: each output's gradient goes to the first maximum (or first NaN) of its window (row-major), recomputed from x.
// Average: spread evenly over the window's positions inside the image. One image per task.
template <typename T>
void pool2d_backward(int is_max, const Geom& g, const T* x, const T* go, T* gx) {
#pragma omp parallel for if (g.n * g.oh * g.ow * g.c * g.kh * g.kw > soma::kParallelGrain) schedule(static)
  for (int64_t b = 0; b < g.n; ++b) {
    T* gxb = gx + b * g.h * g.w * g.c;
    const T* xb = x + b * g.h * g.w * g.c;
    for (int64_t k = 0; k < g.h * g.w * g.c; ++k) gxb[k] = T(0);
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        const Window win(g, oy, ox);
        const T* gp = go + ((b * g.oh + oy) * g.ow + ox) * g.c;
        if (win.y0 >= win.y1 || win.x0 >= win.x1) continue;
        if (is_max) {
          for (int64_t ci = 0; ci < g.c; ++ci) {
            int64_t best = (win.y0 * g.w + win.x0) * g.c + ci;
            for (int64_t y = win.y0; y < win.y1; ++y) {
              for (int64_t xx = win.x0; xx < win.x1; ++xx) {
                const int64_t k = (y * g.w + xx) * g.c + ci;
                // The first NaN is the maximum (the forward's output), as in PyTorch.
                if (xb[best] == xb[best] && (xb[k] > xb[best] || xb[k] != xb[k])) best = k;
              }
            }
            gxb[best] += gp[ci];
          }
        } else {
          const T inv = T(1) / T((win.y1 - win.y0) * (win.x1 - win.x0));
          for (int64_t y = win.y0; y < win.y1; ++y) {
            for (int64_t xx = win.x0; xx < win.x1; ++xx) {
              T* xp = gxb + (y * g.w + xx) * g.c;
#pragma omp simd
              for (int64_t ci = 0; ci < g.c; ++ci) xp[ci] += gp[ci] * inv;
            }
          }
        }
      }
    }
  }
}

}  // namespace

extern "C" void soma_cpu_conv2d(int dtype, const int64_t* geom, const void* x, const void* w, const void* bias,
                                void* out) {
  const Geom g(geom);
  SOMA_DISPATCH_FLOAT(dtype, T, conv2d<T>(g, (const T*)x, (const T*)w, (const T*)bias, (T*)out));
}

extern "C" void soma_cpu_conv2d_backward_data(int dtype, const int64_t* geom, const void* grad_out, const void* w,
                                              void* grad_x) {
  const Geom g(geom);
  SOMA_DISPATCH_FLOAT(dtype, T, conv2d_backward_data<T>(g, (const T*)grad_out, (const T*)w, (T*)grad_x));
}

extern "C" void soma_cpu_conv2d_backward_weights(int dtype, const int64_t* geom, const void* x,
                                                 const void* grad_out, void* grad_w, void* grad_bias) {
  const Geom g(geom);
  SOMA_DISPATCH_FLOAT(dtype, T,
                      conv2d_backward_weights<T>(g, (const T*)x, (const T*)grad_out, (T*)grad_w, (T*)grad_bias));
}

extern "C" void soma_cpu_pool2d(int is_max, int dtype, const int64_t* geom, const void* x, void* out) {
  const Geom g(geom);
  SOMA_DISPATCH_FLOAT(dtype, T, pool2d<T>(is_max, g, (const T*)x, (T*)out));
}

extern "C" void soma_cpu_pool2d_backward(int is_max, int dtype, const int64_t* geom, const void* x,
                                         const void* grad_out, void* grad_x) {
  const Geom g(geom);
  SOMA_DISPATCH_FLOAT(dtype, T, pool2d_backward<T>(is_max, g, (const T*)x, (const T*)grad_out, (T*)grad_x));
}
