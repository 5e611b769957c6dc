// Allocation, fills, copies and casts. The Java pool calls soma_cpu_alloc only for whole segments.
#include "soma.h"
#include "dtype_dispatch.h"
#include <cstdlib>
#include <cstring>
#include <omp.h>

template <typename T>
static void fill(T* d, int64_t n, T v) {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = v;
}

template <typename T>
static void strided_copy(int ndim, const int64_t* shape, const T* src, const int64_t* ss, T* dst,
                         const int64_t* ds) {
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  if (ndim == 0) { dst[0] = src[0]; return; }
  // The innermost dimension is a simple loop; the outer index space is split across threads.
  const int64_t inner = shape[ndim - 1];
  const int64_t si = ss[ndim - 1], di = ds[ndim - 1];
  const int64_t outer = total / inner;
#pragma omp parallel for if (total > soma::element_grain()) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rem = o, soff = 0, doff = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      int64_t idx = rem % shape[d];
      rem /= shape[d];
      soff += idx * ss[d];
      doff += idx * ds[d];
    }
    const T* s = src + soff;
    T* t = dst + doff;
    if (si == 1 && di == 1) {
      std::memcpy(t, s, sizeof(T) * inner);
    } else {
      for (int64_t i = 0; i < inner; ++i) t[i * di] = s[i * si];
    }
  }
}

// Conversions as the GPU's cvt instructions (and cuda-kernels/copy.cu) do them: float -> int32 rounds toward zero
// and saturates, NaN -> 0. A plain C++ cast is undefined for NaN and out-of-range values.
template <typename D, typename S>
static inline D convert(S v) {
  return (D)v;
}
template <>
inline int32_t convert<int32_t, float>(float v) {
  return v != v ? 0 : v >= 2147483648.0f ? INT32_MAX : v <= -2147483648.0f ? INT32_MIN : (int32_t)v;
}
template <>
inline int32_t convert<int32_t, double>(double v) {
  return v != v ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
}

template <typename S, typename D>
static void cast_loop(const S* s, D* d, int64_t n) {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
}

template <typename T>
static void axpy(int64_t n, T alpha, const T* x, T* y) {
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

extern "C" {

void* soma_cpu_alloc(size_t bytes, size_t alignment) {
  if (bytes == 0) bytes = alignment;
  size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  return std::aligned_alloc(alignment, rounded);
}

void soma_cpu_free(void* p) { std::free(p); }

void soma_cpu_copy(void* dst, const void* src, size_t bytes) {
  if (bytes < (size_t)soma::element_grain() * 16) { std::memcpy(dst, src, bytes); return; }
  const int64_t chunk = 1 << 20;
  const int64_t chunks = ((int64_t)bytes + chunk - 1) / chunk;
  // One chunk: no team to wake (a parallel region of one iteration only costs its fork and join).
  if (chunks < 2) { std::memcpy(dst, src, bytes); return; }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    size_t off = (size_t)(c * chunk);
    size_t len = off + chunk > bytes ? bytes - off : (size_t)chunk;
    std::memcpy((char*)dst + off, (const char*)src + off, len);
  }
}

void soma_cpu_fill(int dtype, void* dst, int64_t n, double value) {
  SOMA_DISPATCH(dtype, T, fill<T>((T*)dst, n, (T)value));
}

void soma_cpu_strided_copy(int dtype, int ndim, const int64_t* shape, const void* src,
                           const int64_t* src_strides, void* dst, const int64_t* dst_strides) {
  SOMA_DISPATCH(dtype, T, strided_copy<T>(ndim, shape, (const T*)src, src_strides, (T*)dst, dst_strides));
}

void soma_cpu_cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n) {
  SOMA_DISPATCH(src_dtype, S, {
    SOMA_DISPATCH(dst_dtype, D, cast_loop<S, D>((const S*)src, (D*)dst, n));
  });
}

void soma_cpu_axpy(int dtype, int64_t n, double alpha, const void* x, void* y) {
  SOMA_DISPATCH(dtype, T, axpy<T>(n, (T)alpha, (const T*)x, (T*)y));
}

int soma_cpu_threads(void) { return omp_get_max_threads(); }

// OpenMP keeps the thread count per calling thread, and oneDNN (which shares this libgomp) reads the same value.
void soma_cpu_set_threads(int n) { omp_set_num_threads(n > 0 ? n : 1); }

}  // extern "C"
