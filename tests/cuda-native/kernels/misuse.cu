// Misuse the emulator must report: each launch fails (cudaErrorLaunchFailure for kernel-side misuse, the launch
// configuration error otherwise) with a message naming the kernel and the source line. The lines are found by
// the "@mark:" comments (language_test.cpp reads this file), so edits here move nothing by hand.
#include "launch.cuh"
#include "device_buffer.cuh"
#include "test_kernels.h"

#include <cuda_runtime.h>

namespace emu_test {
namespace {
using soma_cuda::launch;

__global__ void partial_barrier_kernel(float* out) {
  if (threadIdx.x < 32) return;
  __syncthreads();  // @mark:partial-barrier
  out[threadIdx.x] = 1.0f;
}

__global__ void two_barriers_kernel(float* out) {
  if (threadIdx.x % 2 == 0) {
    out[threadIdx.x] = 1.0f;
    __syncthreads();  // @mark:barrier-even
  } else {
    out[threadIdx.x] = 2.0f;
    __syncthreads();  // @mark:barrier-odd
  }
  out[threadIdx.x] += 1.0f;
}

__global__ void mask_excludes_caller_kernel(float* out) {
  float v = float(threadIdx.x);
  v = __shfl_sync(0x0000ffffu, v, 0);  // @mark:excludes-caller
  out[threadIdx.x] = v;
}

__global__ void reads_outside_mask_kernel(float* out) {
  float v = float(threadIdx.x);
  if (threadIdx.x % 32 < 16) v = __shfl_sync(0x0000ffffu, v, 20);  // @mark:outside-mask
  out[threadIdx.x] = v;
}

__global__ void divergent_shuffles_kernel(float* out) {
  float v = float(threadIdx.x);
  if (threadIdx.x % 32 < 16) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);  // @mark:diverge-low
  } else {
    v += 2 * __shfl_xor_sync(0xffffffffu, v, 2);  // @mark:diverge-high
  }
  out[threadIdx.x] = v;
}

__global__ void missing_lane_kernel(float* out) {  // launched with 16 threads: lanes 16..31 do not exist
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, float(threadIdx.x), 1);  // @mark:missing-lane
}

__global__ void exited_lane_kernel(float* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, float(threadIdx.x), 0);  // @mark:exited-lane
}

__global__ void deadlock_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();  // @mark:deadlock-barrier
  } else {
    __syncwarp();  // @mark:deadlock-warp
  }
  out[threadIdx.x] = 1.0f;
}

__global__ void trivial_kernel(float* out) {
  const unsigned i = (blockIdx.x * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  if (i < 32) out[i] = 1.0f;
}

__global__ void no_opt_in_kernel(float* out) {
  SOMA_DYNAMIC_SHARED(float, buf);
  buf[threadIdx.x] = 1.0f;
  out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void opt_in_kernel(float* out) {
  SOMA_DYNAMIC_SHARED(float, buf);
  buf[threadIdx.x] = 2.0f;
  out[threadIdx.x] = buf[threadIdx.x];
}

template <void (*Kernel)(float*)>
Misuse run(unsigned threads) {
  DeviceBuffer<float> out{size_t(threads)};
  const int status = launch<Kernel>(SOMA_SITE, 1, threads, 0, nullptr, out.p);
  return {status, soma_emu_last_message()};
}
}  // namespace

Misuse partial_barrier() { return run<partial_barrier_kernel>(64); }
Misuse two_barriers() { return run<two_barriers_kernel>(64); }
Misuse mask_excludes_caller() { return run<mask_excludes_caller_kernel>(32); }
Misuse shuffle_reads_outside_mask() { return run<reads_outside_mask_kernel>(32); }
Misuse divergent_shuffles() { return run<divergent_shuffles_kernel>(32); }
Misuse mask_names_missing_lane() { return run<missing_lane_kernel>(16); }
Misuse collective_waits_for_exited_lane() { return run<exited_lane_kernel>(32); }
Misuse barrier_and_warp_collective_deadlock() { return run<deadlock_kernel>(32); }

Misuse block_of(unsigned x, unsigned y, unsigned z) {
  DeviceBuffer<float> out{size_t(32)};
  const int status = launch<trivial_kernel>(SOMA_SITE, 1, dim3(x, y, z), 0, nullptr, out.p);  // @mark:launch-block
  return {status, soma_emu_last_message()};
}

Misuse grid_of(unsigned x, unsigned y, unsigned z) {
  DeviceBuffer<float> out{size_t(32)};
  const int status = launch<trivial_kernel>(SOMA_SITE, dim3(x, y, z), 32, 0, nullptr, out.p);  // @mark:launch-grid
  return {status, soma_emu_last_message()};
}

Misuse dynamic_shared_without_opt_in(size_t bytes) {
  DeviceBuffer<float> out{size_t(32)};
  const int status = launch<no_opt_in_kernel>(SOMA_SITE, 1, 32, bytes, nullptr, out.p);  // @mark:launch-no-opt-in
  return {status, soma_emu_last_message()};
}

int dynamic_shared_opt_in(int bytes) {
  return cudaFuncSetAttribute(opt_in_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

Misuse dynamic_shared_with_opt_in(size_t bytes) {
  DeviceBuffer<float> out{size_t(32)};
  const int status = launch<opt_in_kernel>(SOMA_SITE, 1, 32, bytes, nullptr, out.p);  // @mark:launch-opt-in
  return {status, soma_emu_last_message()};
}

bool healthy_launch() {
  DeviceBuffer<float> out{size_t(32)};
  out.fill_bytes(0);
  if (launch<trivial_kernel>(SOMA_SITE, 1, 32, 0, nullptr, out.p) != cudaSuccess) return false;
  for (float v : out.get())
    if (v != 1.0f) return false;
  return true;
}

}  // namespace emu_test
