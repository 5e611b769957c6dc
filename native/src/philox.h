// Philox4x32-10 as an inline function for kernels that draw random numbers inside their own loops (fused
// dropout). Same rounds and constants as native/src/random.cpp, whose stream layout it follows: key = (seed low,
// seed high), block b has counter (b low, b high, stream low, stream high); f32 element i of a stream uses word
// i % 4 of block i / 4 and u = (w >> 8) * 2^-24.
#pragma once
#include <cstdint>

namespace soma {

inline void philox_block(uint64_t block, uint64_t seed, uint64_t stream, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
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
