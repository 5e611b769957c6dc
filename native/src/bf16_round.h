// float32 -> bfloat16 rounding of one value, shared by the conversion kernel (bf16.cpp) and kernels that write a
// bf16 result themselves (relu_max_pool.cpp).
#pragma once
#include <cstdint>
#include <cstring>

namespace soma {
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

// soma_cpu_f32_to_bf16's conversion (the same bits) on the calling thread only: for kernels that round their own rows
// inside a parallel region. Defined in bf16.cpp.
void f32_to_bf16_serial(const float* src, uint16_t* dst, int64_t n);
}  // namespace soma
