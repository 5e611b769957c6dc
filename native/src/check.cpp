// Numeric checks for anomaly mode: find NaN or Inf in a contiguous floating-point buffer.
// Tested on the bit pattern (all exponent bits set) rather than std::isfinite, so the test survives
// -ffast-math and vectorises as plain integer compares.
#include "soma.h"
#include "dtype_dispatch.h"
#include <cstring>

namespace {

template <typename T> struct Bits;
template <> struct Bits<float> { using U = uint32_t; static constexpr U kExp = 0x7f800000u; };
template <> struct Bits<double> { using U = uint64_t; static constexpr U kExp = 0x7ff0000000000000ull; };

template <typename T>
inline bool non_finite(const T* x, int64_t i) {
  typename Bits<T>::U u;
  std::memcpy(&u, x + i, sizeof(T));
  return (u & Bits<T>::kExp) == Bits<T>::kExp;
}

template <typename T>
int64_t count_non_finite(const T* x, int64_t n) {
  int64_t bad = 0;
#pragma omp parallel for simd reduction(+ : bad) if (n > soma::kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) bad += non_finite(x, i) ? 1 : 0;
  return bad;
}

// Only reached when something was found: a plain scan is fine.
template <typename T>
int64_t first_non_finite(const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (non_finite(x, i)) return i;
  return -1;
}

}  // namespace

extern "C" {

int64_t soma_cpu_first_non_finite(int dtype, const void* x, int64_t n) {
  int64_t result = -1;
  SOMA_DISPATCH_FLOAT(dtype, T, {
    if (count_non_finite((const T*)x, n) > 0) result = first_non_finite((const T*)x, n);
  });
  return result;
}

}  // extern "C"
