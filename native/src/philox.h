// Philox4x32-10 as an inline function for kernels that draw random numbers inside their own loops (fused
// dropout). The rounds are soma_random_values.h's, as in native/src/random.cpp, whose stream layout it follows: key = (seed low,
// seed high), block b has counter (b low, b high, stream low, stream high); f32 element i of a stream uses word
// i % 4 of block i / 4 and u = (w >> 8) * 2^-24.
#pragma once
#include <cstdint>

#include "soma_random_values.h"  // the one Philox4x32-10 (CPU and CUDA)

namespace soma {

inline void philox_block(uint64_t block, uint64_t seed, uint64_t stream, uint32_t out[4]) {
  soma_rv::block_at(block, seed, stream, out);
}

// u[0..n) = the f32 uniform values [0, 1) of elements first .. first + n - 1 of (seed, stream), exactly as
// soma_cpu_random fills an f32 tensor (one Philox block per four elements).
inline void philox_uniform_f32(uint64_t first, int64_t n, uint64_t seed, uint64_t stream, float* u) {
  uint32_t w[4];
  uint64_t have = ~(uint64_t)0;
  for (int64_t c = 0; c < n; ++c) {
    const uint64_t i = first + (uint64_t)c;
    if ((i >> 2) != have) {
      have = i >> 2;
      philox_block(have, seed, stream, w);
    }
    u[c] = (float)(w[i & 3] >> 8) * 0x1.0p-24f;
  }
}

}  // namespace soma
