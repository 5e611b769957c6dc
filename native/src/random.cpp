// Seeded random numbers from Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the Random123 reference). A counter-based generator: each output block is a pure function of
// (counter, key), so any element can be computed on its own. That makes results independent of the
// thread count and lets a CUDA kernel produce the identical stream.
//
// Stream layout (keep CUDA in step): key = (seed low 32 bits, seed high 32 bits); block b has counter
// (b low, b high, stream low, stream high) and yields 4 words w0..w3.
//   f32: block b covers elements 4b..4b+3, one word each.
//   f64: block b covers elements 2b, 2b+1; element 2b+j uses the 64-bit value (w[2j+1] << 32 | w[2j]).
// Uniform: f32 u = (w >> 8) * 2^-24, f64 u = (v >> 11) * 2^-53, both in [0, 1).
// Normal: Box-Muller on consecutive pairs (elements 2k, 2k+1) with u1 = 1 - u (in (0, 1], so log is finite):
//   z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), r = sqrt(-2 log u1).
#include "soma.h"
#include "dtype_dispatch.h"
#include <cmath>
#include <cstdint>

namespace {

constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule increments

struct Block { uint32_t w[4]; };

inline Block philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = (uint64_t)kMul0 * c0;
    const uint64_t p1 = (uint64_t)kMul1 * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return Block{{c0, c1, c2, c3}};
}

inline Block block_at(int64_t b, uint64_t seed, uint64_t stream) {
  return philox((uint32_t)b, (uint32_t)((uint64_t)b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32),
                (uint32_t)seed, (uint32_t)(seed >> 32));
}

constexpr double kTwoPi = 6.283185307179586476925286766559;

// One block's worth of values: 4 for float, 2 for double. Written for every element of the block, so the
// caller copies only the part that falls inside the tensor.
inline void values(const Block& k, int dist, double a, double b, float* out) {
  float u[4];
  for (int j = 0; j < 4; ++j) u[j] = (float)(k.w[j] >> 8) * 0x1.0p-24f;
  if (dist == SOMA_RAND_UNIFORM) {
    for (int j = 0; j < 4; ++j) out[j] = (float)(a + (b - a) * (double)u[j]);
    return;
  }
  for (int j = 0; j < 4; j += 2) {
    const float r = std::sqrt(-2.0f * std::log(1.0f - u[j]));
    const float t = (float)kTwoPi * u[j + 1];
    out[j] = (float)(a + b * (double)(r * std::cos(t)));
    out[j + 1] = (float)(a + b * (double)(r * std::sin(t)));
  }
}

inline void values(const Block& k, int dist, double a, double b, double* out) {
  double u[2];
  for (int j = 0; j < 2; ++j) {
    const uint64_t v = ((uint64_t)k.w[2 * j + 1] << 32) | k.w[2 * j];
    u[j] = (double)(v >> 11) * 0x1.0p-53;
  }
  if (dist == SOMA_RAND_UNIFORM) {
    for (int j = 0; j < 2; ++j) out[j] = a + (b - a) * u[j];
    return;
  }
  const double r = std::sqrt(-2.0 * std::log(1.0 - u[0]));
  const double t = kTwoPi * u[1];
  out[0] = a + b * r * std::cos(t);
  out[1] = a + b * r * std::sin(t);
}

template <typename T>
void fill_random(int dist, T* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b) {
  constexpr int64_t per = sizeof(T) == 4 ? 4 : 2;
  const int64_t full = n / per;
#pragma omp parallel for if (n > soma::kParallelGrain) schedule(static)
  for (int64_t blk = 0; blk < full; ++blk) values(block_at(blk, seed, stream), dist, a, b, dst + blk * per);
  const int64_t rest = n - full * per;
  if (rest > 0) {
    T tail[per];
    values(block_at(full, seed, stream), dist, a, b, tail);
    for (int64_t j = 0; j < rest; ++j) dst[full * per + j] = tail[j];
  }
}

}  // namespace

extern "C" {

void soma_cpu_philox4x32_10(const uint32_t* counter, const uint32_t* key, uint32_t* out) {
  Block k = philox(counter[0], counter[1], counter[2], counter[3], key[0], key[1]);
  for (int j = 0; j < 4; ++j) out[j] = k.w[j];
}

void soma_cpu_random(int dist, int dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b) {
  SOMA_DISPATCH_FLOAT(dtype, T, fill_random<T>(dist, (T*)dst, n, seed, stream, a, b));
}

}  // extern "C"
