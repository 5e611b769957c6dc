// Helpers shared by the kernel files: the one launch helper, dynamic shared memory, grid sizing, stream casts,
// 16-byte packs and strided index geometry.
//
// One source, two builds: nvcc compiles the kernel files for real devices; g++ compiles the same files against
// cuda-kernels/emu (SOMA_CUDA_EMULATED) for the CPU-emulated device. Kernel files therefore launch only through
// launch<Kernel>(SOMA_SITE, grid, block, shared_bytes, stream, args...) (never <<< >>>) and reach dynamic shared
// memory only through SOMA_DYNAMIC_SHARED(type, name).
#pragma once
#include "soma.h"
#include <cuda_runtime.h>
#include <atomic>
#include <cstdint>
#include <utility>

namespace soma_cuda {

// Where a launch is written: the emulator's errors name it.
struct Site {
  const char* file;
  int line;
};
#define SOMA_SITE (::soma_cuda::Site{__FILE__, __LINE__})

// Launches Kernel<<<grid, block, shared, stream>>>(args...) and returns 0 or the cudaError_t number of the launch.
// The arguments are converted to the kernel's parameter types, as a launch copies them.
template <auto Kernel, typename... A>
inline int launch(Site site, dim3 grid, dim3 block, size_t shared, cudaStream_t stream, A&&... args) {
#if defined(SOMA_CUDA_EMULATED)
  return soma_emu::launch_on<Kernel>(stream, Kernel, site.file, site.line, grid, block, shared, std::forward<A>(args)...);
#else
  (void)site;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  return static_cast<int>(cudaLaunchKernelEx(&config, Kernel, std::forward<A>(args)...));
#endif
}

// Declares `type* name` at the start of the block's dynamic shared memory (the launch's shared_bytes).
#if defined(SOMA_CUDA_EMULATED)
#define SOMA_DYNAMIC_SHARED(type, name) SOMA_EMU_DYNAMIC_SHARED(type, name)
#else
#define SOMA_DYNAMIC_SHARED(type, name)                                 \
  extern __shared__ __align__(16) unsigned char soma_dynamic_shared[]; \
  type* name = reinterpret_cast<type*>(soma_dynamic_shared)
#endif

constexpr int kThreads = 256;

inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Multiprocessors of the current device, asked once per device. Several Java threads may ask at once: the
// cache is atomic (they all store the same number).
inline int sm_count() {
  static std::atomic<int> cached[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 108;
  int n = cached[dev].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 108;
    cached[dev].store(n, std::memory_order_relaxed);
  }
  return n;
}

// Blocks for a grid-stride loop over `work` items: enough to fill the device a few times over, no more
// (each thread then loops, which keeps per-thread index set-up off the critical path).
inline unsigned grid_for(int64_t work) {
  int64_t blocks = (work + kThreads - 1) / kThreads;
  int64_t cap = int64_t(sm_count()) * 16;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

// Sixteen bytes of T, loaded and stored with one vector instruction (float4 / double2 worth).
template <typename T>
struct alignas(16) Pack {
  static constexpr int kWidth = 16 / sizeof(T);
  T v[kWidth];
};

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Shape and N operands' strides (in elements), innermost dimension first, after dropping size-1 dimensions
// and merging dimensions that every operand walks contiguously. Passed to kernels by value.
template <int N>
struct Geometry {
  int ndim;
  int64_t shape[SOMA_MAX_DIMS];
  int64_t stride[N][SOMA_MAX_DIMS];

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }

  // True when every operand is dense and in order: one dimension of stride 1.
  bool contiguous() const {
    if (ndim != 1) return false;
    for (int k = 0; k < N; ++k)
      if (stride[k][0] != 1 && shape[0] != 1) return false;
    return true;
  }

  // True when every offset fits in int32, so kernels can use 32-bit index arithmetic. The element count
  // keeps a margin below 2^31 so that a grid-stride step past the end cannot overflow.
  bool fits_int32() const {
    int64_t n = numel();
    if (n >= (int64_t(1) << 30)) return false;
    for (int k = 0; k < N; ++k) {
      int64_t lo = 0, hi = 0;
      for (int d = 0; d < ndim; ++d) {
        int64_t span = (shape[d] - 1) * stride[k][d];
        if (span < 0) lo += span; else hi += span;
      }
      if (hi >= (int64_t(1) << 31) || lo <= -(int64_t(1) << 31)) return false;
    }
    return true;
  }
};

// Builds the geometry from row-major shape/strides (outermost first, as Java passes them).
template <int N>
inline Geometry<N> make_geometry(int ndim, const int64_t* shape, const int64_t* const (&strides)[N]) {
  Geometry<N> g{};
  g.ndim = 0;
  for (int d = ndim - 1; d >= 0; --d) {  // innermost first
    if (shape[d] == 1) continue;
    if (g.ndim > 0) {
      int prev = g.ndim - 1;  // the dimension just inside this one
      bool mergeable = true;
      for (int k = 0; k < N; ++k)
        if (strides[k][d] != g.stride[k][prev] * g.shape[prev]) mergeable = false;
      if (mergeable) {
        g.shape[prev] *= shape[d];
        continue;
      }
    }
    g.shape[g.ndim] = shape[d];
    for (int k = 0; k < N; ++k) g.stride[k][g.ndim] = strides[k][d];
    ++g.ndim;
  }
  if (g.ndim == 0) {  // every dimension had size 1 (or a scalar): one element
    g.ndim = 1;
    g.shape[0] = 1;
    for (int k = 0; k < N; ++k) g.stride[k][0] = 0;
  }
  return g;
}

// Offsets of the element with linear (row-major) index `i` in each operand.
template <int N, typename I>
__host__ __device__ __forceinline__ void offsets_of(const Geometry<N>& g, I i, I (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  if (g.ndim == 1) {  // the common broadcast-a-row or strided-vector case: no division
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i * static_cast<I>(g.stride[k][0]);
    return;
  }
#pragma unroll
  for (int d = 0; d < SOMA_MAX_DIMS; ++d) {
    if (d == g.ndim) break;
    I extent = static_cast<I>(g.shape[d]);
    I idx = i % extent;
    i /= extent;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += idx * static_cast<I>(g.stride[k][d]);
  }
}

}  // namespace soma_cuda
