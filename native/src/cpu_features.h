// Run-time facts of the CPU our kernels choose by, never its vendor. The library's baseline stays x86-64-v3 (AVX2 +
// FMA); kernels with an AVX-512 path take it where the CPU has AVX-512F, unless SOMA_NO_AVX512 is set (for measuring
// one path against the other, and for testing the fallback on a machine that has both). Blocked kernels size their
// blocks by the core's L2 cache.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <unistd.h>

namespace soma {
inline bool use_avx512() {
  __builtin_cpu_init();
  return !std::getenv("SOMA_NO_AVX512") && __builtin_cpu_supports("avx512f");
}

// The per-core L2 cache in bytes, as the C library reports it (from CPUID), or 1 MiB where it reports none.
inline int64_t l2_bytes() {
  static const int64_t bytes = [] {
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? (int64_t)v : (int64_t)1 << 20;
  }();
  return bytes;
}
}  // namespace soma
