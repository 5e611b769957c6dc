// The kernel language on the emulated device: shared-memory reductions with __syncthreads, warp shuffles of every
// flavour (sub-warp widths included), votes, __syncwarp, atomics on global and shared memory, dynamic shared
// memory (and the opt-in above 48 KiB), 2-D and 3-D blocks and grids, shared memory poisoned at block start,
// and grids spread over several worker threads. Written as CUDA; launched through launch.cuh. Built only for the
// emulator (block_sum asks which OS thread runs a block).
#include "launch.cuh"
#include "device_buffer.cuh"
#include "test_kernels.h"

#include <cuda_runtime.h>
#include <chrono>
#include <climits>
#include <cstring>
#include <functional>
#include <thread>

namespace emu_test {
namespace {
using soma_cuda::launch;

uint64_t os_thread_id() { return uint64_t(std::hash<std::thread::id>{}(std::this_thread::get_id())) | 1u; }

// ---------------------------------------------------------------- shared-memory tree reduction
__global__ void block_sum_kernel(const float* x, int n, float* sums, unsigned long long* workers, int wait) {
  __shared__ float s[1024];
  const int t = threadIdx.x;
  const int i = blockIdx.x * blockDim.x + t;
  s[t] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t != 0) return;
  sums[blockIdx.x] = s[0];
  const unsigned long long me = os_thread_id();
  __atomic_store_n(&workers[blockIdx.x], me, __ATOMIC_RELEASE);
  if (!wait || blockIdx.x != 0) return;
  // Block 0 holds its worker until another worker has run a block (bounded: the check fails if none does).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    for (unsigned b = 1; b < gridDim.x; ++b) {
      const unsigned long long w = __atomic_load_n(&workers[b], __ATOMIC_ACQUIRE);
      if (w != 0 && w != me) return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// ---------------------------------------------------------------- warp shuffles, votes, __syncwarp
__global__ void warp_kernel(const int* in, WarpOut* out) {
  __shared__ int stage[64];
  const unsigned full = 0xffffffffu;
  const int t = threadIdx.x, lane = t % 32;
  const int v = in[t];
  WarpOut r;
  std::memset(&r, 0, sizeof r);
  int s = v;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(full, s, o);
  r.down_sum = s;
  int x = v;
  for (int o = 1; o < 32; o <<= 1) x += __shfl_xor_sync(full, x, o);
  r.xor_sum = x;
  r.idx_w8_src3 = __shfl_sync(full, v, 3, 8);
  r.idx_rotate = __shfl_sync(full, v, lane + 1);
  r.idx_w16_src17 = __shfl_sync(full, v, 17, 16);
  r.idx_src_minus1 = __shfl_sync(full, v, -1);
  int scan = v;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(full, scan, o);
    if (lane >= o) scan += y;
  }
  r.up_scan = scan;
  r.down_w16_d4 = __shfl_down_sync(full, v, 4, 16);
  r.xor_w8_m4 = __shfl_xor_sync(full, v, 4, 8);
  r.xor_w8_m8 = __shfl_xor_sync(full, v, 8, 8);
  r.up_w8_d2 = __shfl_up_sync(full, v, 2, 8);
  r.ballot = __ballot_sync(full, v % 3 == 0);
  r.any = __any_sync(full, v > 90);
  r.all = __all_sync(full, v >= 0);
  r.partial_ballot = 0xdeadu;
  if (lane < 16) r.partial_ballot = __ballot_sync(0x0000ffffu, v % 2 != 0);
  r.xor_double = __shfl_xor_sync(full, v * 0.25 + 1e-300, 1);  // 8-byte values move whole
  r.down_int64 = __shfl_down_sync(full, (long long)v << 33, 1);
  stage[t] = 3 * v;
  __syncwarp();
  r.neighbour_after_syncwarp = stage[t - lane + (lane + 1) % 32];
  out[t] = r;
}

// ---------------------------------------------------------------- atomics
__global__ void atomics_kernel(const int* values, int n, AtomicOut* out) {
  __shared__ int hist[8];
  __shared__ int block_max;
  __shared__ unsigned counter;
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  if (t < 8) hist[t] = 0;
  if (t == 0) {
    block_max = INT_MIN;
    counter = 0;
  }
  __syncthreads();
  if (i < n) {
    const int v = values[i];
    atomicAdd(&out->fsum, 1.0f);
    atomicAdd(&out->isum, v);
    atomicMax(&out->imax, v);
    atomicMin(&out->imin, v);
    atomicAdd(&out->usum, (unsigned long long)(v + 1000));
    unsigned long long* addr = &out->dsum_bits;
    unsigned long long old = __atomic_load_n(addr, __ATOMIC_RELAXED), assumed;
    do {
      assumed = old;
      const double next = __longlong_as_double((long long)assumed) + 0.5 * v;
      old = atomicCAS(addr, assumed, (unsigned long long)__double_as_longlong(next));
    } while (assumed != old);
    atomicAdd(&hist[(v % 8 + 8) % 8], 1);
    atomicMax(&block_max, v);
    unsigned c = counter, expect;
    do {
      expect = c;
      c = atomicCAS(&counter, expect, expect + 1u);
    } while (c != expect);
    atomicExch(&out->exch_last, i);
  }
  __syncthreads();
  if (t < 8) atomicAdd(&out->hist[t], hist[t]);
  if (t == 0 && block_max != INT_MIN) {
    atomicAdd(&out->block_max_sum, (long long)block_max);
    atomicAdd(&out->cas_count, counter);
  }
}

// ---------------------------------------------------------------- dynamic shared memory
__global__ void dynamic_reverse_kernel(const float* in, float* out, int n) {
  SOMA_DYNAMIC_SHARED(float, buf);
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  buf[t] = i < n ? in[i] : -1.0f;
  __syncthreads();
  const int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - t);
  if (j < n) out[j] = buf[t];
}

__global__ void dynamic_big_kernel(int words, unsigned long long* checksum) {
  SOMA_DYNAMIC_SHARED(uint32_t, buf);
  for (int j = threadIdx.x; j < words; j += blockDim.x) buf[j] = uint32_t(j) * 2654435761u;
  __syncthreads();
  unsigned long long local = 0;
  for (int j = threadIdx.x; j < words; j += blockDim.x) local += buf[(j + 7) % words] ^ uint32_t(j);
  atomicAdd(checksum, local);
}

// ---------------------------------------------------------------- 2-D and 3-D geometry
__global__ void index_kernel(uint32_t* out) {
  const uint32_t block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const uint32_t per_block = blockDim.x * blockDim.y * blockDim.z;
  const uint32_t thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  uint32_t* o = out + (size_t(block) * per_block + thread) * 8;
  o[0] = threadIdx.x;
  o[1] = threadIdx.y;
  o[2] = threadIdx.z;
  o[3] = blockIdx.x;
  o[4] = blockIdx.y;
  o[5] = blockIdx.z;
  o[6] = blockDim.x | blockDim.y << 10 | blockDim.z << 20;
  o[7] = gridDim.x | gridDim.y << 10 | gridDim.z << 20;
}

// ---------------------------------------------------------------- shared memory is poisoned at every block start
__global__ void poison_kernel(uint32_t* static_words, uint64_t* static_doubles, uint32_t* dynamic_words) {
  __shared__ uint32_t s[128];
  __shared__ double d[4];
  SOMA_DYNAMIC_SHARED(uint32_t, dyn);
  const int t = threadIdx.x;
  const size_t b = blockIdx.x;
  static_words[b * 128 + t] = s[t];
  dynamic_words[b * 128 + t] = dyn[t];
  if (t < 4) std::memcpy(&static_doubles[b * 4 + t], &d[t], 8);
  __syncthreads();
  s[t] = uint32_t(t);  // what the next block on this worker would see, were it not poisoned
  dyn[t] = uint32_t(t);
  if (t < 4) d[t] = 1.0;
}
}  // namespace

int block_sum(const std::vector<float>& x, int block, bool wait, std::vector<float>& sums, std::vector<uint64_t>& workers) {
  const int n = int(x.size()), blocks = (n + block - 1) / block;
  DeviceBuffer<float> dx(x), ds{size_t(blocks)};
  DeviceBuffer<unsigned long long> dw{size_t(blocks)};
  dw.fill_bytes(0);
  const int status = launch<block_sum_kernel>(SOMA_SITE, blocks, block, 0, nullptr, dx.p, n, ds.p, dw.p, wait ? 1 : 0);
  sums = ds.get();
  auto w = dw.get();
  workers.assign(w.begin(), w.end());
  return status;
}

int warp_ops(const std::vector<int>& in, std::vector<WarpOut>& out) {
  DeviceBuffer<int> din(in);
  DeviceBuffer<WarpOut> dout(in.size());
  const int status = launch<warp_kernel>(SOMA_SITE, 1, unsigned(in.size()), 0, nullptr, din.p, dout.p);
  out = dout.get();
  return status;
}

int atomics(const std::vector<int>& values, int block, AtomicOut& out) {
  const int n = int(values.size());
  AtomicOut init;
  std::memset(&init, 0, sizeof init);
  init.imax = INT_MIN;
  init.imin = INT_MAX;
  init.exch_last = -1;
  DeviceBuffer<int> dv(values);
  DeviceBuffer<AtomicOut> dout(std::vector<AtomicOut>{init});
  const int status = launch<atomics_kernel>(SOMA_SITE, (n + block - 1) / block, block, 0, nullptr, dv.p, n, dout.p);
  out = dout.get()[0];
  return status;
}

int dynamic_reverse(const std::vector<float>& in, int block, std::vector<float>& out) {
  const int n = int(in.size());
  DeviceBuffer<float> din(in), dout(in.size());
  const int status = launch<dynamic_reverse_kernel>(SOMA_SITE, (n + block - 1) / block, block, block * sizeof(float),
                                                     nullptr, din.p, dout.p, n);
  out = dout.get();
  return status;
}

int dynamic_big(size_t bytes, int opt_in, uint64_t& checksum, uint64_t& expected) {
  if (opt_in > 0) {
    const int status = cudaFuncSetAttribute(dynamic_big_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, opt_in);
    if (status != cudaSuccess) return status;
  }
  const int words = int(bytes / 4);
  expected = 0;
  for (int j = 0; j < words; ++j) expected += (uint32_t((j + 7) % words) * 2654435761u) ^ uint32_t(j);
  expected *= 2;  // two blocks
  DeviceBuffer<unsigned long long> dsum{size_t(1)};
  dsum.fill_bytes(0);
  const int status = launch<dynamic_big_kernel>(SOMA_SITE, 2, 256, bytes, nullptr, words, dsum.p);
  checksum = dsum.get()[0];
  return status;
}

int index_map(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, std::vector<uint32_t>& out) {
  const size_t threads = size_t(gx) * gy * gz * bx * by * bz;
  DeviceBuffer<uint32_t> d(threads * 8);
  d.fill_bytes(0xFF);
  const int status = launch<index_kernel>(SOMA_SITE, dim3(gx, gy, gz), dim3(bx, by, bz), 0, nullptr, d.p);
  out = d.get();
  return status;
}

int shared_poison(int blocks, std::vector<uint32_t>& static_words, std::vector<uint64_t>& static_doubles,
                  std::vector<uint32_t>& dynamic_words) {
  DeviceBuffer<uint32_t> ds(size_t(blocks) * 128), dd(size_t(blocks) * 128);
  DeviceBuffer<uint64_t> dbl(size_t(blocks) * 4);
  const int status = launch<poison_kernel>(SOMA_SITE, blocks, 128, 128 * sizeof(uint32_t), nullptr, ds.p, dbl.p, dd.p);
  static_words = ds.get();
  static_doubles = dbl.get();
  dynamic_words = dd.get();
  return status;
}

}  // namespace emu_test
