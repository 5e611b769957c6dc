// Deliberately broken kernels, kept as proof that the emulated checks can fail (language_test.cpp and
// oob_test.cpp assert that they do). Each has a correct twin so the test also shows the check passes without
// the bug.
#include "launch.cuh"
#include "device_buffer.cuh"
#include "test_kernels.h"

#include <cuda_runtime.h>

namespace emu_test {
namespace {
using soma_cuda::launch;

// Per-block sum by a shared-memory tree; the broken variant lacks the barrier between the tree's levels.
template <bool kBroken>
__global__ void tree_sum_kernel(const float* x, int n, float* sums) {
  __shared__ float s[256];
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
    if (!kBroken) __syncthreads();  // THE BUG (kBroken): this barrier is missing
  }
  if (t == 0) sums[blockIdx.x] = s[0];
}

// n x n transpose through a 16x16 shared tile; the broken variant reads the tile without waiting for it.
template <bool kBroken>
__global__ void transpose_kernel(const float* in, float* out, int n) {
  __shared__ float tile[16][17];
  int x = blockIdx.x * 16 + threadIdx.x, y = blockIdx.y * 16 + threadIdx.y;
  if (x < n && y < n) tile[threadIdx.y][threadIdx.x] = in[y * n + x];
  if (!kBroken) __syncthreads();  // THE BUG (kBroken): this barrier is missing
  x = blockIdx.y * 16 + threadIdx.x;
  y = blockIdx.x * 16 + threadIdx.y;
  if (x < n && y < n) out[y * n + x] = tile[threadIdx.x][threadIdx.y];
}

__global__ void oob_write_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // THE BUG: i <= n writes out[n], one past the end
}
}  // namespace

int tree_sum(const std::vector<float>& x, bool broken, std::vector<float>& sums) {
  const int n = int(x.size()), blocks = (n + 255) / 256;
  DeviceBuffer<float> dx(x), ds{size_t(blocks)};
  const int status = broken ? launch<tree_sum_kernel<true>>(SOMA_SITE, blocks, 256, 0, nullptr, dx.p, n, ds.p)
                            : launch<tree_sum_kernel<false>>(SOMA_SITE, blocks, 256, 0, nullptr, dx.p, n, ds.p);
  sums = ds.get();
  return status;
}

int transpose(const std::vector<float>& in, int n, bool broken, std::vector<float>& out) {
  DeviceBuffer<float> din(in), dout(in.size());
  dout.fill_bytes(0);
  const dim3 grid((n + 15) / 16, (n + 15) / 16), block(16, 16);
  const int status = broken ? launch<transpose_kernel<true>>(SOMA_SITE, grid, block, 0, nullptr, din.p, dout.p, n)
                            : launch<transpose_kernel<false>>(SOMA_SITE, grid, block, 0, nullptr, din.p, dout.p, n);
  out = dout.get();
  return status;
}

int out_of_bounds_write(int n) {
  float* d = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), size_t(n) * sizeof(float));  // exactly n floats
  const int status = launch<oob_write_kernel>(SOMA_SITE, (n + 255) / 256, 256, 0, nullptr, d, n);
  cudaFree(d);
  return status;
}

}  // namespace emu_test
