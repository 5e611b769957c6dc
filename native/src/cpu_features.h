// Run-time choice of our kernels' wider paths. The library's baseline stays x86-64-v3 (AVX2 + FMA); kernels with an
// AVX-512 path take it where the CPU has AVX-512F, unless SOMA_NO_AVX512 is set (for measuring one path against the
// other, and for testing the fallback on a machine that has both).
#pragma once
#include <cstdlib>

namespace soma {
inline bool use_avx512() {
  __builtin_cpu_init();
  return !std::getenv("SOMA_NO_AVX512") && __builtin_cpu_supports("avx512f");
}
}  // namespace soma
