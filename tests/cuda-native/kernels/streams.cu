// Kernels of streams_test.cpp (stream order on the emulated device): trivial bodies, the point is when they run.
#include "launch.cuh"
#include "stream_kernels.h"

namespace emu_test {
namespace {
using soma_cuda::launch;

__global__ void fill_kernel(float* p, int n, float value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = value;
}

__global__ void add_kernel(float* dst, const float* src, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] += src[i];
}

struct FillArgs {
  float* p;
  int n;
  float value;
};

__global__ void fill_struct_kernel(FillArgs a) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < a.n) a.p[i] = a.value;
}

__global__ void partial_barrier_kernel(float* p) {
  if (threadIdx.x == 0) __syncthreads();  // @mark:partial-barrier
  p[threadIdx.x] = 1.0f;
}

unsigned blocks(int n) { return unsigned((n + 127) / 128); }
}  // namespace

int fill_on(cudaStream_t stream, float* p, int n, float value) {
  return launch<fill_kernel>(SOMA_SITE, blocks(n), 128, 0, stream, p, n, value);
}

int add_on(cudaStream_t stream, float* dst, const float* src, int n) {
  return launch<add_kernel>(SOMA_SITE, blocks(n), 128, 0, stream, dst, src, n);
}

int fill_twice_from_one_struct(cudaStream_t stream, float* p, float* q, int n) {
  FillArgs a{p, n, 1.0f};
  int s = launch<fill_struct_kernel>(SOMA_SITE, blocks(n), 128, 0, stream, a);
  a.p = q;
  a.value = 2.0f;
  int t = launch<fill_struct_kernel>(SOMA_SITE, blocks(n), 128, 0, stream, a);
  a = FillArgs{nullptr, 0, -1.0f};  // a launch that kept a reference would now see nothing to do
  return s != 0 ? s : t;
}

int partial_barrier_on(cudaStream_t stream, float* p) {
  return launch<partial_barrier_kernel>(SOMA_SITE, 1, 32, 0, stream, p);
}
}  // namespace emu_test
