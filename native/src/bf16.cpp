// float32 -> bfloat16 for the bf16 mixed-precision products: one pass over memory, on the OpenMP team, with the
// AVX512_BF16 instruction where the CPU has it (every CPU that bf16 mode accepts does: docs/precision.md) and the
// same rounding in plain C++ elsewhere and for the tail. It replaced a oneDNN reorder that moved less than half as
// many bytes per second on the reference CNN's operands (docs/precision.md).
#include "soma.h"
#include "dtype_dispatch.h"
#include "bf16_round.h"
#include <immintrin.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <omp.h>

namespace {

// vcvtneps2bf16 exactly (Intel SDM pseudocode): zeros and denormals become a zero of the same sign, infinities keep
// their bits, NaNs are truncated and made quiet, normal numbers round to nearest even (an overflow rounds to
// infinity through the integer carry).
inline uint16_t round_to_bf16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t exponent = x & 0x7f800000u;
  if (exponent == 0) return (uint16_t)((x >> 16) & 0x8000u);
  if (exponent == 0x7f800000u) {
    uint16_t top = (uint16_t)(x >> 16);
    return (x & 0x007fffffu) ? (uint16_t)(top | 0x0040u) : top;
  }
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void convert_plain(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = round_to_bf16(src[i]);
}

__attribute__((target("avx512f,avx512bf16"))) void convert_avx512(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
    _mm512_storeu_si512((void*)(dst + i), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256((__m256i*)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  }
  convert_plain(src + i, dst + i, n - i);
}

using Convert = void (*)(const float*, uint16_t*, int64_t);

// Chosen once per process. SOMA_NO_AVX512 (as in attention_gemm.cpp) runs the plain loop on a CPU that has the
// instruction.
Convert chosen() {
  static const Convert convert = [] {
    __builtin_cpu_init();
    return !getenv("SOMA_NO_AVX512") && __builtin_cpu_supports("avx512bf16") ? convert_avx512 : convert_plain;
  }();
  return convert;
}

}  // namespace

extern "C" void soma_cpu_f32_to_bf16(const void* src, void* dst, int64_t n) {
  const Convert convert = chosen();
  const float* s = (const float*)src;
  uint16_t* d = (uint16_t*)dst;
  // Each thread takes one contiguous run of whole 32-element blocks: every element is rounded alone, so the split
  // cannot change a bit of the result.
  const int64_t blocks = (n + 31) / 32;
#pragma omp parallel if (n > soma::element_grain() && blocks > 1)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t from = std::min(n, blocks * t / nt * 32), to = std::min(n, blocks * (t + 1) / nt * 32);
    if (to > from) convert(s + from, d + from, to - from);
  }
}

extern "C" int soma_cpu_f32_to_bf16_vector(void) { return chosen() == convert_avx512 ? 1 : 0; }

extern "C" void soma_cpu_f32_to_bf16_plain(const void* src, void* dst, int64_t n) {
  convert_plain((const float*)src, (uint16_t*)dst, n);
}

// The same conversion on the calling thread (for kernels that round their own rows inside a parallel region).
void soma::f32_to_bf16_serial(const float* src, uint16_t* dst, int64_t n) { chosen()(src, dst, n); }
