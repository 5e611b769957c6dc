// Seeded random numbers from Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the Random123 reference). A counter-based generator: each output block is a pure function of
// (counter, key), so any element can be computed on its own. That makes results independent of the
// thread count and lets a CUDA kernel produce the identical stream.
//
// The stream layout and the value of every element are defined in native/include/soma_random_values.h, which
// cuda-kernels/random.cu shares, so CPU and GPU fills agree bit for bit.
#include "soma.h"
#include "soma_random_values.h"
#include "dtype_dispatch.h"
#include <cmath>
#include <cstdint>

namespace {

inline void values(const uint32_t w[4], int dist, double a, double b, float* out) {
  soma_rv::values_f32(w, dist, a, b, out);
}

inline void values(const uint32_t w[4], int dist, double a, double b, double* out) {
  soma_rv::values_f64(w, dist, a, b, out);
}

template <typename T>
void fill_random(int dist, T* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b) {
  constexpr int64_t per = sizeof(T) == 4 ? 4 : 2;
  const int64_t full = n / per;
  // Each block is a pure function of its counter, so the split cannot change a value: the element grain applies.
#pragma omp parallel for if (n > soma::element_grain()) schedule(static)
  for (int64_t blk = 0; blk < full; ++blk) {
    uint32_t w[4];
    soma_rv::block_at((uint64_t)blk, seed, stream, w);
    values(w, dist, a, b, dst + blk * per);
  }
  const int64_t rest = n - full * per;
  if (rest > 0) {
    uint32_t w[4];
    T tail[per];
    soma_rv::block_at((uint64_t)full, seed, stream, w);
    values(w, dist, a, b, tail);
    for (int64_t j = 0; j < rest; ++j) dst[full * per + j] = tail[j];
  }
}

}  // namespace

extern "C" {

void soma_cpu_philox4x32_10(const uint32_t* counter, const uint32_t* key, uint32_t* out) {
  soma_rv::philox4x32_10(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out);
}

void soma_cpu_random(int dist, int dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b) {
  SOMA_DISPATCH_FLOAT(dtype, T, fill_random<T>(dist, (T*)dst, n, seed, stream, a, b));
}

}  // extern "C"
