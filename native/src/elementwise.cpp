// Element-wise ops: binary with NumPy broadcasting (stride-0 operands), unary ops and their backward, where.
//
// Broadcast kernels first coalesce the index space: size-1 dimensions vanish and neighbouring dimensions that
// every operand walks contiguously merge. Contiguous same-shape operands and scalar operands therefore become
// one flat loop with strides (1,1), (0,1) or (1,0), which gcc vectorises; anything else runs as rows over the
// innermost dimension. Work is split over OpenMP threads only above soma::element_grain() elements (larger while
// idle workers sleep).
#include "soma.h"
#include "dtype_dispatch.h"
#include "simd_math.h"
#include <cmath>
#include <type_traits>
#include <cstdint>
#include <omp.h>

namespace {

// ------------------------------------------------------------------ index-space coalescing

// The broadcast geometry of K operands over one contiguous output.
template <int K>
struct Layout {
  int ndim = 0;
  int64_t shape[SOMA_MAX_DIMS];
  int64_t strides[K][SOMA_MAX_DIMS];
  int64_t total = 1;
};

template <int K>
Layout<K> coalesce(int ndim, const int64_t* shape, const int64_t* const* strides) {
  Layout<K> l;
  for (int d = 0; d < ndim; ++d) l.total *= shape[d];
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;  // contributes nothing to any address
    if (l.ndim > 0) {
      const int p = l.ndim - 1;
      bool merge = true;
      for (int k = 0; k < K; ++k) merge = merge && l.strides[k][p] == strides[k][d] * shape[d];
      if (merge) {
        l.shape[p] *= shape[d];
        for (int k = 0; k < K; ++k) l.strides[k][p] = strides[k][d];
        continue;
      }
    }
    l.shape[l.ndim] = shape[d];
    for (int k = 0; k < K; ++k) l.strides[k][l.ndim] = strides[k][d];
    ++l.ndim;
  }
  if (l.ndim == 0) {  // a single element (0-d or all sizes 1)
    l.ndim = 1;
    l.shape[0] = 1;
    for (int k = 0; k < K; ++k) l.strides[k][0] = 0;
  }
  return l;
}

// Runs row(outer_index, offsets[K]) for every row of the coalesced layout (all dimensions but the last),
// splitting rows over threads; each thread decomposes its first row index once, then steps an odometer.
template <int K, typename Row>
void for_each_row(const Layout<K>& l, Row row) {
  const int outer_dims = l.ndim - 1;
  const int64_t inner = l.shape[l.ndim - 1];
  const int64_t rows = l.total / inner;
#pragma omp parallel if (l.total > soma::element_grain() && rows > 1)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    if (begin < end) {
      int64_t idx[SOMA_MAX_DIMS] = {0};
      int64_t off[K] = {0};
      int64_t rem = begin;
      for (int d = outer_dims - 1; d >= 0; --d) {
        idx[d] = rem % l.shape[d];
        rem /= l.shape[d];
        for (int k = 0; k < K; ++k) off[k] += idx[d] * l.strides[k][d];
      }
      for (int64_t r = begin; r < end; ++r) {
        row(r, off);
        for (int d = outer_dims - 1; d >= 0; --d) {  // advance the odometer
          for (int k = 0; k < K; ++k) off[k] += l.strides[k][d];
          if (++idx[d] < l.shape[d]) break;
          for (int k = 0; k < K; ++k) off[k] -= l.strides[k][d] * l.shape[d];
          idx[d] = 0;
        }
      }
    }
  }
}

// ------------------------------------------------------------------ binary

template <typename T> struct Add { T operator()(T a, T b) const { return a + b; } };
template <typename T> struct Sub { T operator()(T a, T b) const { return a - b; } };
template <typename T> struct Mul { T operator()(T a, T b) const { return a * b; } };
template <typename T> struct Div { T operator()(T a, T b) const { return a / b; } };
template <typename T> struct Pow { T operator()(T a, T b) const { return (T)std::pow(a, b); } };
// NaN propagates through maximum/minimum (as in NumPy and PyTorch).
template <typename T> struct Maximum { T operator()(T a, T b) const { return (a > b || a != a) ? a : b; } };
template <typename T> struct Minimum { T operator()(T a, T b) const { return (a < b || a != a) ? a : b; } };
template <typename T> struct Eq { T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };
template <typename T> struct Ne { T operator()(T a, T b) const { return a != b ? T(1) : T(0); } };
template <typename T> struct Lt { T operator()(T a, T b) const { return a < b ? T(1) : T(0); } };
template <typename T> struct Le { T operator()(T a, T b) const { return a <= b ? T(1) : T(0); } };
template <typename T> struct Gt { T operator()(T a, T b) const { return a > b ? T(1) : T(0); } };
template <typename T> struct Ge { T operator()(T a, T b) const { return a >= b ? T(1) : T(0); } };

// One row of n outputs; the common stride patterns get their own loop so each vectorises.
template <typename T, typename F>
inline void binary_row(F f, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* out) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 0 && sb == 1) {
    const T av = a[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(av, b[i]);
  } else if (sa == 1 && sb == 0) {
    const T bv = b[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], bv);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i * sa], b[i * sb]);
  }
}

constexpr int64_t kChunk = 16384;  // elements per task when one flat loop is split over threads

template <typename T, typename F>
void binary_apply(int ndim, const int64_t* shape, const T* a, const int64_t* as, const T* b, const int64_t* bs,
                  T* out) {
  const int64_t* strides[2] = {as, bs};
  const Layout<2> l = coalesce<2>(ndim, shape, strides);
  if (l.total == 0) return;
  F f;
  if (l.ndim == 1) {  // contiguous, scalar or single strided run: split the flat loop into chunks
    const int64_t n = l.total, sa = l.strides[0][0], sb = l.strides[1][0];
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t s = c * kChunk, len = s + kChunk > n ? n - s : kChunk;
      binary_row<T, F>(f, len, a + s * sa, sa, b + s * sb, sb, out + s);
    }
    return;
  }
  const int64_t inner = l.shape[l.ndim - 1];
  const int64_t sa = l.strides[0][l.ndim - 1], sb = l.strides[1][l.ndim - 1];
  for_each_row<2>(l, [&](int64_t r, const int64_t* off) {
    binary_row<T, F>(f, inner, a + off[0], sa, b + off[1], sb, out + r * inner);
  });
}

template <typename T>
void binary(int op, int ndim, const int64_t* shape, const T* a, const int64_t* as, const T* b, const int64_t* bs,
            T* out) {
  switch (op) {
    case SOMA_ADD: binary_apply<T, Add<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_SUB: binary_apply<T, Sub<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_MUL: binary_apply<T, Mul<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_DIV: binary_apply<T, Div<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_POW: binary_apply<T, Pow<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_MAXIMUM: binary_apply<T, Maximum<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_MINIMUM: binary_apply<T, Minimum<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_EQ: binary_apply<T, Eq<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_NE: binary_apply<T, Ne<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_LT: binary_apply<T, Lt<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_LE: binary_apply<T, Le<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_GT: binary_apply<T, Gt<T>>(ndim, shape, a, as, b, bs, out); break;
    case SOMA_GE: binary_apply<T, Ge<T>>(ndim, shape, a, as, b, bs, out); break;
    default: break;
  }
}

// Integers support only the ops that cannot trap (no division) and are exact: comparisons, min/max, +, -, *.
void binary_i32(int op, int ndim, const int64_t* shape, const int32_t* a, const int64_t* as, const int32_t* b,
                const int64_t* bs, int32_t* out) {
  if (op == SOMA_DIV || op == SOMA_POW) return;
  binary<int32_t>(op, ndim, shape, a, as, b, bs, out);
}

// ------------------------------------------------------------------ unary forward

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T> struct Neg { T operator()(T x) const { return -x; } };
template <typename T> struct Exp { T operator()(T x) const { return std::exp(x); } };
template <typename T> struct Log { T operator()(T x) const { return std::log(x); } };
template <typename T> struct Sqrt { T operator()(T x) const { return std::sqrt(x); } };
template <typename T> struct Abs { T operator()(T x) const { return std::fabs(x); } };
template <typename T> struct Tanh { T operator()(T x) const { return std::tanh(x); } };
template <typename T> struct Sigmoid { T operator()(T x) const { return T(1) / (T(1) + std::exp(-x)); } };
// x < 0 keeps NaN as NaN (a max() would turn it into 0).
template <typename T> struct Relu { T operator()(T x) const { return x < T(0) ? T(0) : x; } };
template <typename T> struct LeakyRelu {
  T alpha;
  T operator()(T x) const { return x < T(0) ? alpha * x : x; }
};
template <typename T> struct Gelu {
  T operator()(T x) const { return T(0.5) * x * (T(1) + std::erf(x * T(kInvSqrt2))); }
};
template <typename T> struct Clamp {
  T lo, hi;
  T operator()(T x) const { return x < lo ? lo : (x > hi ? hi : x); }
};
template <typename T> struct PowScalar {
  T e;
  T operator()(T x) const { return std::pow(x, e); }
};
template <typename T> struct AddScalar { T c; T operator()(T x) const { return x + c; } };
template <typename T> struct MulScalar { T c; T operator()(T x) const { return x * c; } };
template <typename T> struct RsubScalar { T c; T operator()(T x) const { return c - x; } };
template <typename T> struct RdivScalar { T c; T operator()(T x) const { return c / x; } };
template <typename T> struct Square { T operator()(T x) const { return x * x; } };

template <typename T, typename F>
void unary_apply(F f, int64_t n, const T* x, T* out) {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

// GELU (erf form) in f32, eight lanes at a time: std::erf per element made it the costliest op of a
// transformer's training step. x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2.
inline __m256 gelu8(__m256 v) {
  const __m256 cdf = _mm256_mul_ps(_mm256_set1_ps(0.5f),
                                   _mm256_add_ps(_mm256_set1_ps(1.0f), soma::erf256(_mm256_mul_ps(v, _mm256_set1_ps((float)kInvSqrt2)))));
  return _mm256_mul_ps(v, cdf);
}

// g * d GELU / dx = g * (Phi(x) + x phi(x)), eight lanes at a time.
inline __m256 gelu_backward8(__m256 v, __m256 g) {
  const __m256 cdf = _mm256_mul_ps(_mm256_set1_ps(0.5f),
                                   _mm256_add_ps(_mm256_set1_ps(1.0f), soma::erf256(_mm256_mul_ps(v, _mm256_set1_ps((float)kInvSqrt2)))));
  const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps((float)kInvSqrt2Pi),
                                   soma::exp256(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(v, v))));
  return _mm256_mul_ps(g, _mm256_fmadd_ps(v, pdf, cdf));
}

// GELU over n values on the calling thread (in place allowed), the scalar functor for the last n % 8. The unfused
// op runs it per chunk and bias + GELU per chunk of the same size (a multiple of 8), so the two agree bit for bit.
inline void gelu_span(int64_t n, const float* x, float* out) {
  const int64_t n8 = n / 8 * 8;
  for (int64_t i = 0; i < n8; i += 8) _mm256_storeu_ps(out + i, gelu8(_mm256_loadu_ps(x + i)));
  for (int64_t i = n8; i < n; ++i) out[i] = Gelu<float>{}(x[i]);
}

void gelu_f32(int64_t n, const float* x, float* out) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t s = c * kChunk, len = s + kChunk > n ? n - s : kChunk;
    gelu_span(len, x + s, out + s);
  }
}

struct Tanh8 {
  __m256 operator()(__m256 x) const { return soma::tanh256(x); }
};
struct Sigmoid8 {
  __m256 operator()(__m256 x) const { return soma::sigmoid256(x); }
};

// An 8-lane f32 function over n values (in place allowed), the tail through a padded block: every value gets the
// same arithmetic wherever it sits, so fused and unfused passes agree bit for bit.
template <typename V>
inline void lanes8_span(V v, int64_t n, const float* x, float* out) {
  const int64_t n8 = n / 8 * 8;
  for (int64_t i = 0; i < n8; i += 8) _mm256_storeu_ps(out + i, v(_mm256_loadu_ps(x + i)));
  if (n8 < n) {
    alignas(32) float block[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = n8; i < n; ++i) block[i - n8] = x[i];
    _mm256_store_ps(block, v(_mm256_load_ps(block)));
    for (int64_t i = n8; i < n; ++i) out[i] = block[i - n8];
  }
}

template <typename V>
void lanes8_apply(V v, int64_t n, const float* x, float* out) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t s = c * kChunk, len = s + kChunk > n ? n - s : kChunk;
    lanes8_span(v, len, x + s, out + s);
  }
}

template <typename T>
void unary(int op, int64_t n, const T* x, T* out, double p0, double p1) {
  if constexpr (std::is_same_v<T, float>) {
    if (op == SOMA_GELU) return gelu_f32(n, x, out);
    if (op == SOMA_TANH) return lanes8_apply(Tanh8{}, n, x, out);
    if (op == SOMA_SIGMOID) return lanes8_apply(Sigmoid8{}, n, x, out);
  }
  switch (op) {
    case SOMA_NEG: unary_apply(Neg<T>{}, n, x, out); break;
    case SOMA_EXP: unary_apply(Exp<T>{}, n, x, out); break;
    case SOMA_LOG: unary_apply(Log<T>{}, n, x, out); break;
    case SOMA_SQRT: unary_apply(Sqrt<T>{}, n, x, out); break;
    case SOMA_ABS: unary_apply(Abs<T>{}, n, x, out); break;
    case SOMA_TANH: unary_apply(Tanh<T>{}, n, x, out); break;
    case SOMA_SIGMOID: unary_apply(Sigmoid<T>{}, n, x, out); break;
    case SOMA_RELU: unary_apply(Relu<T>{}, n, x, out); break;
    case SOMA_LEAKY_RELU: unary_apply(LeakyRelu<T>{(T)p0}, n, x, out); break;
    case SOMA_GELU: unary_apply(Gelu<T>{}, n, x, out); break;
    case SOMA_CLAMP: unary_apply(Clamp<T>{(T)p0, (T)p1}, n, x, out); break;
    case SOMA_POW_SCALAR:
      // Exact shortcuts for the common exponents; std::pow for the rest.
      if (p0 == 2.0) unary_apply(Square<T>{}, n, x, out);
      else if (p0 == 1.0) unary_apply(MulScalar<T>{T(1)}, n, x, out);
      else unary_apply(PowScalar<T>{(T)p0}, n, x, out);
      break;
    case SOMA_ADD_SCALAR: unary_apply(AddScalar<T>{(T)p0}, n, x, out); break;
    case SOMA_MUL_SCALAR: unary_apply(MulScalar<T>{(T)p0}, n, x, out); break;
    case SOMA_RSUB_SCALAR: unary_apply(RsubScalar<T>{(T)p0}, n, x, out); break;
    case SOMA_RDIV_SCALAR: unary_apply(RdivScalar<T>{(T)p0}, n, x, out); break;
    case SOMA_SQUARE: unary_apply(Square<T>{}, n, x, out); break;
    default: break;
  }
}

// ------------------------------------------------------------------ unary backward: grad_in = g * f'(x)
// Each functor sees (x, y = f(x), g).

template <typename T> struct NegB { T operator()(T, T, T g) const { return -g; } };
template <typename T> struct ExpB { T operator()(T, T y, T g) const { return g * y; } };
template <typename T> struct LogB { T operator()(T x, T, T g) const { return g / x; } };
template <typename T> struct SqrtB { T operator()(T, T y, T g) const { return g * T(0.5) / y; } };
template <typename T> struct AbsB {
  T operator()(T x, T, T g) const { return x > T(0) ? g : (x < T(0) ? -g : T(0)); }
};
template <typename T> struct TanhB { T operator()(T, T y, T g) const { return g * (T(1) - y * y); } };
template <typename T> struct SigmoidB { T operator()(T, T y, T g) const { return g * y * (T(1) - y); } };
template <typename T> struct ReluB { T operator()(T x, T, T g) const { return x > T(0) ? g : T(0); } };
template <typename T> struct LeakyReluB {
  T alpha;
  T operator()(T x, T, T g) const { return x > T(0) ? g : alpha * g; }
};
template <typename T> struct GeluB {
  T operator()(T x, T, T g) const {
    const T cdf = T(0.5) * (T(1) + std::erf(x * T(kInvSqrt2)));
    const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};
// The gradient passes where min <= x <= max (PyTorch's convention at the bounds).
template <typename T> struct ClampB {
  T lo, hi;
  T operator()(T x, T, T g) const { return (x >= lo && x <= hi) ? g : T(0); }
};
template <typename T> struct PowScalarB {
  T e;
  T operator()(T x, T, T g) const { return e == T(0) ? T(0) : g * e * std::pow(x, e - T(1)); }
};
template <typename T> struct IdentityB { T operator()(T, T, T g) const { return g; } };
template <typename T> struct ScaleB { T c; T operator()(T, T, T g) const { return g * c; } };
template <typename T> struct RdivB { T operator()(T x, T y, T g) const { return -g * y / x; } };  // d(c/x) = -c/x^2
template <typename T> struct SquareB { T operator()(T x, T, T g) const { return T(2) * x * g; } };

template <typename T, typename F>
void unary_backward_apply(F f, int64_t n, const T* x, const T* y, const T* g, T* gi) {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < n; ++i) gi[i] = f(x[i], y[i], g[i]);
}

// gi = g * GELU'(x) over n values on the calling thread (gi may be x), as gelu_span.
inline void gelu_backward_span(int64_t n, const float* x, const float* g, float* gi) {
  const int64_t n8 = n / 8 * 8;
  for (int64_t i = 0; i < n8; i += 8) {
    _mm256_storeu_ps(gi + i, gelu_backward8(_mm256_loadu_ps(x + i), _mm256_loadu_ps(g + i)));
  }
  for (int64_t i = n8; i < n; ++i) gi[i] = GeluB<float>{}(x[i], x[i], g[i]);
}

// d GELU / dx * g in f32, eight lanes at a time (see gelu_f32).
void gelu_backward_f32(int64_t n, const float* x, const float* g, float* gi) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t s = c * kChunk, len = s + kChunk > n ? n - s : kChunk;
    gelu_backward_span(len, x + s, g + s, gi + s);
  }
}

// Ops whose rule ignores y may be given y == NULL; they read x in its place (never dereferencing NULL).
template <typename T>
void unary_backward(int op, int64_t n, const T* x, const T* y, const T* g, T* gi, double p0, double p1) {
  if (y == nullptr) y = x;
  if constexpr (std::is_same_v<T, float>) {
    if (op == SOMA_GELU) return gelu_backward_f32(n, x, g, gi);
  }
  switch (op) {
    case SOMA_NEG: unary_backward_apply(NegB<T>{}, n, x, y, g, gi); break;
    case SOMA_EXP: unary_backward_apply(ExpB<T>{}, n, x, y, g, gi); break;
    case SOMA_LOG: unary_backward_apply(LogB<T>{}, n, x, y, g, gi); break;
    case SOMA_SQRT: unary_backward_apply(SqrtB<T>{}, n, x, y, g, gi); break;
    case SOMA_ABS: unary_backward_apply(AbsB<T>{}, n, x, y, g, gi); break;
    case SOMA_TANH: unary_backward_apply(TanhB<T>{}, n, x, y, g, gi); break;
    case SOMA_SIGMOID: unary_backward_apply(SigmoidB<T>{}, n, x, y, g, gi); break;
    case SOMA_RELU: unary_backward_apply(ReluB<T>{}, n, x, y, g, gi); break;
    case SOMA_LEAKY_RELU: unary_backward_apply(LeakyReluB<T>{(T)p0}, n, x, y, g, gi); break;
    case SOMA_GELU: unary_backward_apply(GeluB<T>{}, n, x, y, g, gi); break;
    case SOMA_CLAMP: unary_backward_apply(ClampB<T>{(T)p0, (T)p1}, n, x, y, g, gi); break;
    case SOMA_POW_SCALAR: unary_backward_apply(PowScalarB<T>{(T)p0}, n, x, y, g, gi); break;
    case SOMA_ADD_SCALAR: unary_backward_apply(IdentityB<T>{}, n, x, y, g, gi); break;
    case SOMA_MUL_SCALAR: unary_backward_apply(ScaleB<T>{(T)p0}, n, x, y, g, gi); break;
    case SOMA_RSUB_SCALAR: unary_backward_apply(ScaleB<T>{T(-1)}, n, x, y, g, gi); break;
    case SOMA_RDIV_SCALAR: unary_backward_apply(RdivB<T>{}, n, x, y, g, gi); break;
    case SOMA_SQUARE: unary_backward_apply(SquareB<T>{}, n, x, y, g, gi); break;
    default: break;
  }
}

// ------------------------------------------------------------------ fused bias + activation
// act(y + bias[c]) over rows x cols, in flat chunks of kChunk elements (a multiple of 8): each chunk first gets
// z = y + bias (the Add functor's arithmetic), then the activation in place while the chunk is still in cache,
// through the same unary routines as soma_cpu_unary(_backward). The f32 GELU therefore takes its 8-lane path on
// exactly the elements the unfused op would (only the last chunk has a scalar tail), and the results are
// bit-identical to add-then-activation (BiasActivationTest holds them to that).

static_assert(kChunk % 8 == 0, "chunks must keep the 8-lane GELU path aligned with the unfused op");

int unary_code_of(int act) {
  switch (act) {
    case SOMA_BA_RELU: return SOMA_RELU;
    case SOMA_BA_LEAKY_RELU: return SOMA_LEAKY_RELU;
    case SOMA_BA_SIGMOID: return SOMA_SIGMOID;
    case SOMA_BA_TANH: return SOMA_TANH;
    case SOMA_BA_GELU: return SOMA_GELU;
    default: return -1;  // linear (or unknown: Java never sends one)
  }
}

// z[start, start + len) = y + bias for the flat element range, bias indexed by column.
template <typename T>
void add_bias_range(int64_t start, int64_t len, int64_t cols, const T* y, const T* bias, T* z) {
  int64_t col = start % cols;
  for (int64_t i = 0; i < len;) {
    const int64_t run = cols - col < len - i ? cols - col : len - i;
    const T* yr = y + start + i;
    const T* br = bias + col;
    T* zr = z + start + i;
#pragma omp simd
    for (int64_t k = 0; k < run; ++k) zr[k] = yr[k] + br[k];
    i += run;
    col = 0;
  }
}

// The activation over one chunk, in place, on the calling thread only: the unary routines open an OpenMP
// region of their own, and a nested (one-thread) region per chunk cost more than the pass itself on small
// layers. Same functors and, for f32 GELU, the same 8-lane steps as gelu_f32 / gelu_backward_f32.
template <typename T, typename F>
void span_apply(F f, int64_t n, T* z) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) z[i] = f(z[i]);
}

template <typename T>
void activation_span(int act, int64_t n, T* z, double p0) {
  switch (act) {
    case SOMA_BA_RELU: return span_apply(Relu<T>{}, n, z);
    case SOMA_BA_LEAKY_RELU: return span_apply(LeakyRelu<T>{(T)p0}, n, z);
    case SOMA_BA_SIGMOID:
      if constexpr (std::is_same_v<T, float>) return lanes8_span(Sigmoid8{}, n, z, z);
      else return span_apply(Sigmoid<T>{}, n, z);
    case SOMA_BA_TANH:
      if constexpr (std::is_same_v<T, float>) return lanes8_span(Tanh8{}, n, z, z);
      else return span_apply(Tanh<T>{}, n, z);
    case SOMA_BA_GELU:
      if constexpr (std::is_same_v<T, float>) return gelu_span(n, z, z);
      else return span_apply(Gelu<T>{}, n, z);
    default: return;  // linear
  }
}

// gi = g * act'(z) over one chunk, z already in gi (LEAKY_RELU and GELU); calling thread only, as above.
template <typename T>
void pre_activation_backward_span(int act, int64_t n, const T* g, T* gi, double p0) {
  if (act == SOMA_BA_LEAKY_RELU) {
    const LeakyReluB<T> f{(T)p0};
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gi[i] = f(gi[i], gi[i], g[i]);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    gelu_backward_span(n, gi, g, gi);
  } else {
    const GeluB<T> f{};
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gi[i] = f(gi[i], gi[i], g[i]);
  }
}

template <typename T>
void bias_activation(int act, int64_t rows, int64_t cols, const T* y, const T* bias, T* out, double p0) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t s = c * kChunk, len = s + kChunk > n ? n - s : kChunk;
    add_bias_range(s, len, cols, y, bias, out);
    activation_span<T>(act, len, out + s, p0);
  }
}

// RELU, SIGMOID and TANH differentiate from the saved output: tanh' = 1 - y^2, sigmoid' = y (1 - y), and
// relu's rule [x > 0] reads the same from y = relu(x) (y > 0 exactly when x > 0, NaN included). LEAKY_RELU
// (any alpha sign) and GELU need x = y + bias, recomputed here into grad_in (no extra forward write, and the
// very sum the forward took).
template <typename T>
void bias_activation_backward(int act, int64_t rows, int64_t cols, const T* y, const T* bias, const T* out,
                              const T* g, T* gi, double p0) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  const int code = unary_code_of(act);
  if (code < 0) {
    unary_apply(MulScalar<T>{T(1)}, n, g, gi);
    return;
  }
  if (act == SOMA_BA_RELU || act == SOMA_BA_SIGMOID || act == SOMA_BA_TANH) {
    unary_backward<T>(code, n, out, out, g, gi, p0, 0);
    return;
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t s = c * kChunk, len = s + kChunk > n ? n - s : kChunk;
    add_bias_range(s, len, cols, y, bias, gi);
    pre_activation_backward_span<T>(act, len, g + s, gi + s, p0);
  }
}

// ------------------------------------------------------------------ where

template <typename T>
inline void where_row(int64_t n, const T* c, int64_t sc, const T* a, int64_t sa, const T* b, int64_t sb, T* out) {
  if (sc == 1 && sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = c[i] != T(0) ? a[i] : b[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = c[i * sc] != T(0) ? a[i * sa] : b[i * sb];
  }
}

template <typename T>
void where(int ndim, const int64_t* shape, const T* c, const int64_t* cs, const T* a, const int64_t* as, const T* b,
           const int64_t* bs, T* out) {
  const int64_t* strides[3] = {cs, as, bs};
  const Layout<3> l = coalesce<3>(ndim, shape, strides);
  if (l.total == 0) return;
  const int64_t inner = l.shape[l.ndim - 1];
  const int64_t sc = l.strides[0][l.ndim - 1], sa = l.strides[1][l.ndim - 1], sb = l.strides[2][l.ndim - 1];
  if (l.ndim == 1) {
    const int64_t n = l.total;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t s = k * kChunk, len = s + kChunk > n ? n - s : kChunk;
      where_row<T>(len, c + s * sc, sc, a + s * sa, sa, b + s * sb, sb, out + s);
    }
    return;
  }
  for_each_row<3>(l, [&](int64_t r, const int64_t* off) {
    where_row<T>(inner, c + off[0], sc, a + off[1], sa, b + off[2], sb, out + r * inner);
  });
}

}  // namespace

extern "C" {

void soma_cpu_binary(int op, int dtype, int ndim, const int64_t* shape, const void* a, const int64_t* a_strides,
                     const void* b, const int64_t* b_strides, void* out) {
  if (dtype == SOMA_I32) {
    binary_i32(op, ndim, shape, (const int32_t*)a, a_strides, (const int32_t*)b, b_strides, (int32_t*)out);
    return;
  }
  SOMA_DISPATCH_FLOAT(dtype, T,
                      binary<T>(op, ndim, shape, (const T*)a, a_strides, (const T*)b, b_strides, (T*)out));
}

void soma_cpu_unary(int op, int dtype, int64_t n, const void* x, void* out, double p0, double p1) {
  SOMA_DISPATCH_FLOAT(dtype, T, unary<T>(op, n, (const T*)x, (T*)out, p0, p1));
}

void soma_cpu_unary_backward(int op, int dtype, int64_t n, const void* x, const void* y, const void* grad_out,
                             void* grad_in, double p0, double p1) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      unary_backward<T>(op, n, (const T*)x, (const T*)y, (const T*)grad_out, (T*)grad_in, p0, p1));
}

void soma_cpu_bias_activation(int act, int dtype, int64_t rows, int64_t cols, const void* y, const void* bias,
                              void* out, double p0) {
  SOMA_DISPATCH_FLOAT(dtype, T, bias_activation<T>(act, rows, cols, (const T*)y, (const T*)bias, (T*)out, p0));
}

void soma_cpu_bias_activation_backward(int act, int dtype, int64_t rows, int64_t cols, const void* y,
                                       const void* bias, const void* out, const void* grad_out, void* grad_in,
                                       double p0) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      bias_activation_backward<T>(act, rows, cols, (const T*)y, (const T*)bias, (const T*)out,
                                                  (const T*)grad_out, (T*)grad_in, p0));
}

void soma_cpu_where(int dtype, int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
                    const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out) {
  SOMA_DISPATCH(dtype, T,
                where<T>(ndim, shape, (const T*)cond, c_strides, (const T*)a, a_strides, (const T*)b, b_strides,
                         (T*)out));
}

}  // extern "C"
