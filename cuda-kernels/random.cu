// Seeded random fills on CUDA (f32, f64): Philox4x32-10, uniform and normal, bit for bit the values of the CPU
// kernel (native/src/random.cpp). Both compute every element through native/include/soma_random_values.h: the
// stream layout (element i depends only on seed, stream and i) and the arithmetic, which uses only operations
// that round the same on every target (no libm / libdevice transcendental, every multiply-add an explicit fma).
//
// Each thread computes whole Philox blocks (4 f32 or 2 f64 elements: 16 bytes) in a grid-stride loop and stores
// them with one 16-byte vector store when the output is aligned; the last, partial block is stored element by
// element.
#include "launch.cuh"
#include "soma.h"
#include "soma_random_values.h"

#include <cuda_runtime.h>
#include <cstdint>

namespace {
using namespace soma_cuda;

__device__ __forceinline__ void block_values(const uint32_t w[4], int dist, double a, double b, float* v) {
  soma_rv::values_f32(w, dist, a, b, v);
}
__device__ __forceinline__ void block_values(const uint32_t w[4], int dist, double a, double b, double* v) {
  soma_rv::values_f64(w, dist, a, b, v);
}

template <typename T>
__global__ void random_fill(int dist, T* out, int64_t n, uint64_t seed, uint64_t stream, double a, double b,
                            bool vector) {
  constexpr int kPer = 16 / sizeof(T);  // elements per Philox block
  const int64_t blocks = (n + kPer - 1) / kPer;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks; blk += step) {
    uint32_t w[4];
    soma_rv::block_at(uint64_t(blk), seed, stream, w);
    Pack<T> p;
    block_values(w, dist, a, b, p.v);
    const int64_t first = blk * kPer;
    if (vector && first + kPer <= n) {
      reinterpret_cast<Pack<T>*>(out)[blk] = p;
    } else {
#pragma unroll
      for (int j = 0; j < kPer; ++j)
        if (first + j < n) out[first + j] = p.v[j];
    }
  }
}

template <typename T>
int fill_typed(int dist, void* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b,
               cudaStream_t s) {
  constexpr int64_t kPer = 16 / sizeof(T);
  T* out = static_cast<T*>(dst);
  return launch<random_fill<T>>(SOMA_SITE, grid_for((n + kPer - 1) / kPer), kThreads, 0, s, dist, out, n, seed,
                                stream, a, b, aligned16(out));
}

}  // namespace

extern "C" int soma_cuda_random(int dist, int dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream,
                                double a, double b, void* stream_handle) {
  if (n < 0 || (dist != SOMA_RAND_UNIFORM && dist != SOMA_RAND_NORMAL)) return static_cast<int>(cudaErrorInvalidValue);
  if (n == 0) return 0;
  cudaStream_t s = as_stream(stream_handle);
  switch (dtype) {
    case SOMA_F32: return fill_typed<float>(dist, dst, n, seed, stream, a, b, s);
    case SOMA_F64: return fill_typed<double>(dist, dst, n, seed, stream, a, b, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}
