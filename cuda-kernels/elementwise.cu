// Element-wise CUDA kernels: binary ops with broadcasting, unary ops and their backward, where, and the fused
// bias + activation epilogue (f32, f64; binary ops other than division and power in int32 too).
// Ops call them in place (out may be an input), so no pointer here is declared __restrict__.
// Semantics match native/src/elementwise.cpp (soma.h): comparisons write 1/0 in the inputs' dtype; maximum,
// minimum, relu and clamp propagate NaN. Contiguous operands take a 16-byte vector path when aligned;
// everything else walks a coalesced strided geometry with 32-bit index arithmetic where offsets allow.
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>
#include <type_traits>

namespace {
using namespace soma_cuda;

// ------------------------------------------------------------------ math overloads for float and double
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }
__device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float m_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double m_abs(double x) { return fabs(x); }

template <typename T> __device__ __forceinline__ T m_sigmoid(T x) { return T(1) / (T(1) + m_exp(-x)); }

// ------------------------------------------------------------------ binary ops
template <typename T> struct Add { __device__ T operator()(T a, T b) const { return a + b; } };
template <typename T> struct Sub { __device__ T operator()(T a, T b) const { return a - b; } };
template <typename T> struct Mul { __device__ T operator()(T a, T b) const { return a * b; } };
template <typename T> struct Div { __device__ T operator()(T a, T b) const { return a / b; } };
template <typename T> struct Pow { __device__ T operator()(T a, T b) const { return m_pow(a, b); } };
template <typename T> struct Maximum {
  __device__ T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};
template <typename T> struct Minimum {
  __device__ T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};
template <typename T> struct Eq { __device__ T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };
template <typename T> struct Ne { __device__ T operator()(T a, T b) const { return a != b ? T(1) : T(0); } };
template <typename T> struct Lt { __device__ T operator()(T a, T b) const { return a < b ? T(1) : T(0); } };
template <typename T> struct Le { __device__ T operator()(T a, T b) const { return a <= b ? T(1) : T(0); } };
template <typename T> struct Gt { __device__ T operator()(T a, T b) const { return a > b ? T(1) : T(0); } };
template <typename T> struct Ge { __device__ T operator()(T a, T b) const { return a >= b ? T(1) : T(0); } };

// out[i] = op(a[i], b[i]) for contiguous operands: 16-byte packs, then the tail element by element.
template <typename T, typename Op>
__global__ void binary_contiguous(Op op, const T* a, const T* b, T* out,
                                  int64_t n, bool vector) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vector) {
    constexpr int W = Pack<T>::kWidth;
    const int64_t packs = n / W;
    auto* pa = reinterpret_cast<const Pack<T>*>(a);
    auto* pb = reinterpret_cast<const Pack<T>*>(b);
    auto* po = reinterpret_cast<Pack<T>*>(out);
    for (int64_t p = tid; p < packs; p += stride) {
      Pack<T> x = pa[p], y = pb[p], r;
#pragma unroll
      for (int j = 0; j < W; ++j) r.v[j] = op(x.v[j], y.v[j]);
      po[p] = r;
    }
    done = packs * W;
  }
  for (int64_t i = done + tid; i < n; i += stride) out[i] = op(a[i], b[i]);
}

// out[i] = op(a[i . a_strides], b[i . b_strides]); out contiguous.
template <typename T, typename I, typename Op>
__global__ void binary_strided(Op op, Geometry<2> g, const T* a, const T* b,
                               T* out, I n) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += stride) {
    I off[2];
    offsets_of<2, I>(g, i, off);
    out[i] = op(a[off[0]], b[off[1]]);
  }
}

template <typename T, typename Op>
int launch_binary(const Geometry<2>& g, const T* a, const T* b, T* out, cudaStream_t s) {
  const int64_t n = g.numel();
  if (n == 0) return 0;
  Op op;
  if (g.contiguous()) {
    bool vector = aligned16(a) && aligned16(b) && aligned16(out);
    return launch<binary_contiguous<T, Op>>(SOMA_SITE, grid_for(vector ? n / Pack<T>::kWidth + 1 : n), kThreads, 0, s,
                                            op, a, b, out, n, vector);
  }
  if (g.fits_int32())
    return launch<binary_strided<T, int32_t, Op>>(SOMA_SITE, grid_for(n), kThreads, 0, s, op, g, a, b, out, int32_t(n));
  return launch<binary_strided<T, int64_t, Op>>(SOMA_SITE, grid_for(n), kThreads, 0, s, op, g, a, b, out, n);
}

template <typename T>
int binary_typed(int op, const Geometry<2>& g, const void* a, const void* b, void* out, cudaStream_t s) {
  auto pa = static_cast<const T*>(a);
  auto pb = static_cast<const T*>(b);
  auto po = static_cast<T*>(out);
  switch (op) {
    case SOMA_ADD: return launch_binary<T, Add<T>>(g, pa, pb, po, s);
    case SOMA_SUB: return launch_binary<T, Sub<T>>(g, pa, pb, po, s);
    case SOMA_MUL: return launch_binary<T, Mul<T>>(g, pa, pb, po, s);
    // int32 (ids, masks) has what the CPU backend has for it: no division or power (Java refuses those for ints).
    case SOMA_DIV:
      if constexpr (std::is_floating_point<T>::value) return launch_binary<T, Div<T>>(g, pa, pb, po, s);
      return static_cast<int>(cudaErrorInvalidValue);
    case SOMA_POW:
      if constexpr (std::is_floating_point<T>::value) return launch_binary<T, Pow<T>>(g, pa, pb, po, s);
      return static_cast<int>(cudaErrorInvalidValue);
    case SOMA_MAXIMUM: return launch_binary<T, Maximum<T>>(g, pa, pb, po, s);
    case SOMA_MINIMUM: return launch_binary<T, Minimum<T>>(g, pa, pb, po, s);
    case SOMA_EQ: return launch_binary<T, Eq<T>>(g, pa, pb, po, s);
    case SOMA_NE: return launch_binary<T, Ne<T>>(g, pa, pb, po, s);
    case SOMA_LT: return launch_binary<T, Lt<T>>(g, pa, pb, po, s);
    case SOMA_LE: return launch_binary<T, Le<T>>(g, pa, pb, po, s);
    case SOMA_GT: return launch_binary<T, Gt<T>>(g, pa, pb, po, s);
    case SOMA_GE: return launch_binary<T, Ge<T>>(g, pa, pb, po, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

// ------------------------------------------------------------------ unary ops: forward and backward
// Each functor has the forward f(x) and the backward b(x, y, g) = g * f'(x), with y = f(x); kUsesX/kUsesY say
// which of x and y the backward reads, so the kernel loads only those (y may be absent for the others).
template <typename T> struct Neg {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = false;
  __device__ T f(T x) const { return -x; }
  __device__ T b(T, T, T g) const { return -g; }
};
template <typename T> struct Exp {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = true;
  __device__ T f(T x) const { return m_exp(x); }
  __device__ T b(T, T y, T g) const { return g * y; }
};
template <typename T> struct Log {
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return m_log(x); }
  __device__ T b(T x, T, T g) const { return g / x; }
};
template <typename T> struct Sqrt {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = true;
  __device__ T f(T x) const { return m_sqrt(x); }
  __device__ T b(T, T y, T g) const { return g / (T(2) * y); }
};
template <typename T> struct Abs {
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return m_abs(x); }
  __device__ T b(T x, T, T g) const { return x > T(0) ? g : (x < T(0) ? -g : T(0)); }
};
template <typename T> struct Tanh {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = true;
  __device__ T f(T x) const { return m_tanh(x); }
  __device__ T b(T, T y, T g) const { return g * (T(1) - y * y); }
};
template <typename T> struct Sigmoid {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = true;
  __device__ T f(T x) const { return m_sigmoid(x); }
  __device__ T b(T, T y, T g) const { return g * y * (T(1) - y); }
};
template <typename T> struct Relu {
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return x < T(0) ? T(0) : x; }
  __device__ T b(T x, T, T g) const { return x > T(0) ? g : T(0); }
};
template <typename T> struct LeakyRelu {  // p0 = alpha
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return x > T(0) ? x : p0 * x; }
  __device__ T b(T x, T, T g) const { return x > T(0) ? g : p0 * g; }
};
template <typename T> struct Gelu {  // exact: x * Phi(x)
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return T(0.5) * x * (T(1) + m_erf(x * T(0.70710678118654752440))); }
  __device__ T b(T x, T, T g) const {
    T cdf = T(0.5) * (T(1) + m_erf(x * T(0.70710678118654752440)));
    T pdf = m_exp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return g * (cdf + x * pdf);
  }
};
template <typename T> struct Clamp {  // p0 = min, p1 = max
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return x < p0 ? p0 : (x > p1 ? p1 : x); }
  __device__ T b(T x, T, T g) const { return (x >= p0 && x <= p1) ? g : T(0); }
};
template <typename T> struct PowScalar {  // p0 = exponent
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return m_pow(x, p0); }
  __device__ T b(T x, T, T g) const { return p0 == T(0) ? T(0) : g * p0 * m_pow(x, p0 - T(1)); }
};
template <typename T> struct AddScalar {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = false;
  __device__ T f(T x) const { return x + p0; }
  __device__ T b(T, T, T g) const { return g; }
};
template <typename T> struct MulScalar {
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = false;
  __device__ T f(T x) const { return x * p0; }
  __device__ T b(T, T, T g) const { return g * p0; }
};
template <typename T> struct RsubScalar {  // p0 - x
  T p0, p1; static constexpr bool kUsesX = false, kUsesY = false;
  __device__ T f(T x) const { return p0 - x; }
  __device__ T b(T, T, T g) const { return -g; }
};
template <typename T> struct RdivScalar {  // p0 / x
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return p0 / x; }
  __device__ T b(T x, T, T g) const { return -g * p0 / (x * x); }
};
template <typename T> struct Square {
  T p0, p1; static constexpr bool kUsesX = true, kUsesY = false;
  __device__ T f(T x) const { return x * x; }
  __device__ T b(T x, T, T g) const { return T(2) * x * g; }
};

template <typename T, typename Op>
__global__ void unary_forward(Op op, const T* x, T* out, int64_t n, bool vector) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vector) {
    constexpr int W = Pack<T>::kWidth;
    const int64_t packs = n / W;
    auto* px = reinterpret_cast<const Pack<T>*>(x);
    auto* po = reinterpret_cast<Pack<T>*>(out);
    for (int64_t p = tid; p < packs; p += stride) {
      Pack<T> v = px[p], r;
#pragma unroll
      for (int j = 0; j < W; ++j) r.v[j] = op.f(v.v[j]);
      po[p] = r;
    }
    done = packs * W;
  }
  for (int64_t i = done + tid; i < n; i += stride) out[i] = op.f(x[i]);
}

template <typename T, typename Op>
__global__ void unary_backward(Op op, const T* x, const T* y, const T* g,
                               T* gi, int64_t n, bool vector) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vector) {
    constexpr int W = Pack<T>::kWidth;
    const int64_t packs = n / W;
    for (int64_t p = tid; p < packs; p += stride) {
      Pack<T> vx{}, vy{}, vg = reinterpret_cast<const Pack<T>*>(g)[p], r;
      if (Op::kUsesX) vx = reinterpret_cast<const Pack<T>*>(x)[p];
      if (Op::kUsesY) vy = reinterpret_cast<const Pack<T>*>(y)[p];
#pragma unroll
      for (int j = 0; j < W; ++j) r.v[j] = op.b(vx.v[j], vy.v[j], vg.v[j]);
      reinterpret_cast<Pack<T>*>(gi)[p] = r;
    }
    done = packs * W;
  }
  for (int64_t i = done + tid; i < n; i += stride) {
    T xv = Op::kUsesX ? x[i] : T(0);
    T yv = Op::kUsesY ? y[i] : T(0);
    gi[i] = op.b(xv, yv, g[i]);
  }
}

template <typename T, template <typename> class OpT>
int launch_unary(int64_t n, const void* x, void* out, double p0, double p1, cudaStream_t s) {
  if (n == 0) return 0;
  OpT<T> op{T(p0), T(p1)};
  bool vector = aligned16(x) && aligned16(out);
  return launch<unary_forward<T, OpT<T>>>(SOMA_SITE, grid_for(vector ? n / Pack<T>::kWidth + 1 : n), kThreads, 0, s, op,
                                          static_cast<const T*>(x), static_cast<T*>(out), n, vector);
}

template <typename T, template <typename> class OpT>
int launch_unary_backward(int64_t n, const void* x, const void* y, const void* g, void* gi, double p0, double p1,
                          cudaStream_t s) {
  if (n == 0) return 0;
  using Op = OpT<T>;
  if ((Op::kUsesX && x == nullptr) || (Op::kUsesY && y == nullptr)) return static_cast<int>(cudaErrorInvalidValue);
  Op op{T(p0), T(p1)};
  bool vector = aligned16(g) && aligned16(gi) && (!Op::kUsesX || aligned16(x)) && (!Op::kUsesY || aligned16(y));
  return launch<unary_backward<T, Op>>(SOMA_SITE, grid_for(vector ? n / Pack<T>::kWidth + 1 : n), kThreads, 0, s, op,
                                       static_cast<const T*>(x), static_cast<const T*>(y), static_cast<const T*>(g),
                                       static_cast<T*>(gi), n,
      vector);
}

// Calls CALL<T, OpTemplate>(...) for the unary op code `op`; unknown codes are invalid values.
#define SOMA_UNARY_SWITCH(op, CALL, T, ...)                          \
  switch (op) {                                                     \
    case SOMA_NEG: return CALL<T, Neg>(__VA_ARGS__);                \
    case SOMA_EXP: return CALL<T, Exp>(__VA_ARGS__);                \
    case SOMA_LOG: return CALL<T, Log>(__VA_ARGS__);                \
    case SOMA_SQRT: return CALL<T, Sqrt>(__VA_ARGS__);              \
    case SOMA_ABS: return CALL<T, Abs>(__VA_ARGS__);                \
    case SOMA_TANH: return CALL<T, Tanh>(__VA_ARGS__);              \
    case SOMA_SIGMOID: return CALL<T, Sigmoid>(__VA_ARGS__);        \
    case SOMA_RELU: return CALL<T, Relu>(__VA_ARGS__);              \
    case SOMA_LEAKY_RELU: return CALL<T, LeakyRelu>(__VA_ARGS__);   \
    case SOMA_GELU: return CALL<T, Gelu>(__VA_ARGS__);              \
    case SOMA_CLAMP: return CALL<T, Clamp>(__VA_ARGS__);            \
    case SOMA_POW_SCALAR: return CALL<T, PowScalar>(__VA_ARGS__);   \
    case SOMA_ADD_SCALAR: return CALL<T, AddScalar>(__VA_ARGS__);   \
    case SOMA_MUL_SCALAR: return CALL<T, MulScalar>(__VA_ARGS__);   \
    case SOMA_RSUB_SCALAR: return CALL<T, RsubScalar>(__VA_ARGS__); \
    case SOMA_RDIV_SCALAR: return CALL<T, RdivScalar>(__VA_ARGS__); \
    case SOMA_SQUARE: return CALL<T, Square>(__VA_ARGS__);          \
    default: return static_cast<int>(cudaErrorInvalidValue);        \
  }

template <typename T>
int unary_typed(int op, int64_t n, const void* x, void* out, double p0, double p1, cudaStream_t s) {
  SOMA_UNARY_SWITCH(op, launch_unary, T, n, x, out, p0, p1, s)
}

template <typename T>
int unary_backward_typed(int op, int64_t n, const void* x, const void* y, const void* g, void* gi, double p0,
                         double p1, cudaStream_t s) {
  SOMA_UNARY_SWITCH(op, launch_unary_backward, T, n, x, y, g, gi, p0, p1, s)
}

// ------------------------------------------------------------------ fused bias + activation
// out = act(y + bias[c]) over rows x cols with the unary functors above, so the arithmetic is that of ADD then
// the activation. Backward: RELU, SIGMOID and TANH differentiate from the saved output (relu's [x > 0] reads
// the same from y = relu(x), NaN included); LEAKY_RELU (any alpha sign) and GELU recompute x = y + bias, which
// costs the same read as the output would and saves the forward a second write.
template <typename T> struct Identity {
  T p0, p1;
  __device__ T f(T x) const { return x; }
  __device__ T b(T, T, T g) const { return g; }
};

template <typename T, typename I, typename Op>
__global__ void bias_act_forward(Op op, const T* y, const T* bias, T* out, I n, I cols, bool vector) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  const I tid = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (vector) {  // cols % W == 0: a pack never straddles two rows, and its bias is one aligned pack
    constexpr int W = Pack<T>::kWidth;
    const I packs = n / W, col_packs = cols / W;
    auto* py = reinterpret_cast<const Pack<T>*>(y);
    auto* pb = reinterpret_cast<const Pack<T>*>(bias);
    auto* po = reinterpret_cast<Pack<T>*>(out);
    for (I p = tid; p < packs; p += stride) {
      Pack<T> v = py[p], b = pb[p % col_packs], r;
#pragma unroll
      for (int j = 0; j < W; ++j) r.v[j] = op.f(v.v[j] + b.v[j]);
      po[p] = r;
    }
    return;
  }
  for (I i = tid; i < n; i += stride) out[i] = op.f(y[i] + bias[i % cols]);
}

// gi = g * act'(v) with v = src + bias (kPreActivation: src is y) or v = src (the forward output).
template <typename T, typename I, typename Op, bool kPreActivation>
__global__ void bias_act_backward(Op op, const T* src, const T* bias, const T* g, T* gi, I n, I cols,
                                  bool vector) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  const I tid = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
  if (vector) {
    constexpr int W = Pack<T>::kWidth;
    const I packs = n / W, col_packs = cols / W;
    for (I p = tid; p < packs; p += stride) {
      Pack<T> v = reinterpret_cast<const Pack<T>*>(src)[p], vg = reinterpret_cast<const Pack<T>*>(g)[p], r;
      if (kPreActivation) {
        Pack<T> b = reinterpret_cast<const Pack<T>*>(bias)[p % col_packs];
#pragma unroll
        for (int j = 0; j < W; ++j) v.v[j] = v.v[j] + b.v[j];
      }
#pragma unroll
      for (int j = 0; j < W; ++j) r.v[j] = op.b(v.v[j], v.v[j], vg.v[j]);
      reinterpret_cast<Pack<T>*>(gi)[p] = r;
    }
    return;
  }
  for (I i = tid; i < n; i += stride) {
    T v = kPreActivation ? src[i] + bias[i % cols] : src[i];
    gi[i] = op.b(v, v, g[i]);
  }
}

template <typename T, template <typename> class OpT>
int launch_bias_act(int64_t rows, int64_t cols, const void* y, const void* bias, void* out, double p0,
                    cudaStream_t s) {
  const int64_t n = rows * cols;
  if (n == 0) return 0;
  OpT<T> op{T(p0), T(0)};
  auto py = static_cast<const T*>(y);
  auto pb = static_cast<const T*>(bias);
  auto po = static_cast<T*>(out);
  const bool vector = cols % Pack<T>::kWidth == 0 && aligned16(y) && aligned16(bias) && aligned16(out);
  const unsigned grid = grid_for(vector ? n / Pack<T>::kWidth : n);
  if (n < (int64_t(1) << 30))
    return launch<bias_act_forward<T, int32_t, OpT<T>>>(SOMA_SITE, grid, kThreads, 0, s, op, py, pb, po, int32_t(n),
                                                        int32_t(cols), vector);
  return launch<bias_act_forward<T, int64_t, OpT<T>>>(SOMA_SITE, grid, kThreads, 0, s, op, py, pb, po, n, cols,
                                                      vector);
}

template <typename T, template <typename> class OpT, bool kPreActivation>
int launch_bias_act_backward(int64_t rows, int64_t cols, const void* y, const void* bias, const void* out,
                             const void* g, void* gi, double p0, cudaStream_t s) {
  const int64_t n = rows * cols;
  if (n == 0) return 0;
  const void* src = kPreActivation ? y : out;
  if (src == nullptr || g == nullptr || (kPreActivation && bias == nullptr))
    return static_cast<int>(cudaErrorInvalidValue);
  OpT<T> op{T(p0), T(0)};
  auto ps = static_cast<const T*>(src);
  auto pb = static_cast<const T*>(bias);
  auto pg = static_cast<const T*>(g);
  auto pgi = static_cast<T*>(gi);
  const bool vector = aligned16(src) && aligned16(g) && aligned16(gi) &&
                      (kPreActivation ? cols % Pack<T>::kWidth == 0 && aligned16(bias) : n % Pack<T>::kWidth == 0);
  const unsigned grid = grid_for(vector ? n / Pack<T>::kWidth : n);
  if (n < (int64_t(1) << 30))
    return launch<bias_act_backward<T, int32_t, OpT<T>, kPreActivation>>(SOMA_SITE, grid, kThreads, 0, s, op, ps, pb,
                                                                         pg, pgi, int32_t(n), int32_t(cols), vector);
  return launch<bias_act_backward<T, int64_t, OpT<T>, kPreActivation>>(SOMA_SITE, grid, kThreads, 0, s, op, ps, pb,
                                                                       pg, pgi, n, cols, vector);
}

template <typename T>
int bias_act_typed(int act, int64_t rows, int64_t cols, const void* y, const void* bias, void* out, double p0,
                   cudaStream_t s) {
  switch (act) {
    case SOMA_BA_LINEAR: return launch_bias_act<T, Identity>(rows, cols, y, bias, out, p0, s);
    case SOMA_BA_RELU: return launch_bias_act<T, Relu>(rows, cols, y, bias, out, p0, s);
    case SOMA_BA_LEAKY_RELU: return launch_bias_act<T, LeakyRelu>(rows, cols, y, bias, out, p0, s);
    case SOMA_BA_SIGMOID: return launch_bias_act<T, Sigmoid>(rows, cols, y, bias, out, p0, s);
    case SOMA_BA_TANH: return launch_bias_act<T, Tanh>(rows, cols, y, bias, out, p0, s);
    case SOMA_BA_GELU: return launch_bias_act<T, Gelu>(rows, cols, y, bias, out, p0, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

template <typename T>
int bias_act_backward_typed(int act, int64_t rows, int64_t cols, const void* y, const void* bias, const void* out,
                            const void* g, void* gi, double p0, cudaStream_t s) {
  switch (act) {
    case SOMA_BA_LINEAR: return launch_bias_act_backward<T, Identity, false>(rows, cols, y, bias, g, g, gi, p0, s);
    case SOMA_BA_RELU: return launch_bias_act_backward<T, Relu, false>(rows, cols, y, bias, out, g, gi, p0, s);
    case SOMA_BA_LEAKY_RELU:
      return launch_bias_act_backward<T, LeakyRelu, true>(rows, cols, y, bias, out, g, gi, p0, s);
    case SOMA_BA_SIGMOID: return launch_bias_act_backward<T, Sigmoid, false>(rows, cols, y, bias, out, g, gi, p0, s);
    case SOMA_BA_TANH: return launch_bias_act_backward<T, Tanh, false>(rows, cols, y, bias, out, g, gi, p0, s);
    case SOMA_BA_GELU: return launch_bias_act_backward<T, Gelu, true>(rows, cols, y, bias, out, g, gi, p0, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

// ------------------------------------------------------------------ where
template <typename T>
__global__ void where_contiguous(const T* c, const T* a, const T* b,
                                 T* out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = c[i] != T(0) ? a[i] : b[i];
}

template <typename T, typename I>
__global__ void where_strided(Geometry<3> g, const T* c, const T* a,
                              const T* b, T* out, I n) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += stride) {
    I off[3];
    offsets_of<3, I>(g, i, off);
    out[i] = c[off[0]] != T(0) ? a[off[1]] : b[off[2]];
  }
}

template <typename T>
int where_typed(const Geometry<3>& g, const void* c, const void* a, const void* b, void* out, cudaStream_t s) {
  const int64_t n = g.numel();
  if (n == 0) return 0;
  auto pc = static_cast<const T*>(c);
  auto pa = static_cast<const T*>(a);
  auto pb = static_cast<const T*>(b);
  auto po = static_cast<T*>(out);
  if (g.contiguous()) return launch<where_contiguous<T>>(SOMA_SITE, grid_for(n), kThreads, 0, s, pc, pa, pb, po, n);
  if (g.fits_int32())
    return launch<where_strided<T, int32_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, g, pc, pa, pb, po, int32_t(n));
  return launch<where_strided<T, int64_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, g, pc, pa, pb, po, n);
}
}  // namespace

extern "C" {

int soma_cuda_binary(int op, int dtype, int ndim, const int64_t* shape, const void* a, const int64_t* a_strides,
                     const void* b, const int64_t* b_strides, void* out, void* stream) {
  if (ndim < 0 || ndim > SOMA_MAX_DIMS) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t* strides[2] = {a_strides, b_strides};
  Geometry<2> g = make_geometry<2>(ndim, shape, strides);
  switch (dtype) {
    case SOMA_F32: return binary_typed<float>(op, g, a, b, out, as_stream(stream));
    case SOMA_F64: return binary_typed<double>(op, g, a, b, out, as_stream(stream));
    case SOMA_I32: return binary_typed<int32_t>(op, g, a, b, out, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_unary(int op, int dtype, int64_t n, const void* x, void* out, double p0, double p1, void* stream) {
  switch (dtype) {
    case SOMA_F32: return unary_typed<float>(op, n, x, out, p0, p1, as_stream(stream));
    case SOMA_F64: return unary_typed<double>(op, n, x, out, p0, p1, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_unary_backward(int op, int dtype, int64_t n, const void* x, const void* y, const void* grad_out,
                             void* grad_in, double p0, double p1, void* stream) {
  switch (dtype) {
    case SOMA_F32: return unary_backward_typed<float>(op, n, x, y, grad_out, grad_in, p0, p1, as_stream(stream));
    case SOMA_F64: return unary_backward_typed<double>(op, n, x, y, grad_out, grad_in, p0, p1, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_bias_activation(int act, int dtype, int64_t rows, int64_t cols, const void* y, const void* bias,
                              void* out, double p0, void* stream) {
  if (rows < 0 || cols < 0) return static_cast<int>(cudaErrorInvalidValue);
  switch (dtype) {
    case SOMA_F32: return bias_act_typed<float>(act, rows, cols, y, bias, out, p0, as_stream(stream));
    case SOMA_F64: return bias_act_typed<double>(act, rows, cols, y, bias, out, p0, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_bias_activation_backward(int act, int dtype, int64_t rows, int64_t cols, const void* y,
                                       const void* bias, const void* out, const void* grad_out, void* grad_in,
                                       double p0, void* stream) {
  if (rows < 0 || cols < 0) return static_cast<int>(cudaErrorInvalidValue);
  switch (dtype) {
    case SOMA_F32:
      return bias_act_backward_typed<float>(act, rows, cols, y, bias, out, grad_out, grad_in, p0, as_stream(stream));
    case SOMA_F64:
      return bias_act_backward_typed<double>(act, rows, cols, y, bias, out, grad_out, grad_in, p0, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_where(int dtype, int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
                    const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out,
                    void* stream) {
  if (ndim < 0 || ndim > SOMA_MAX_DIMS) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t* strides[3] = {c_strides, a_strides, b_strides};
  Geometry<3> g = make_geometry<3>(ndim, shape, strides);
  switch (dtype) {
    case SOMA_F32: return where_typed<float>(g, cond, a, b, out, as_stream(stream));
    case SOMA_F64: return where_typed<double>(g, cond, a, b, out, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
