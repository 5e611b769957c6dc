// Device-side fills, strided copies, dtype casts and axpy: the CUDA half of the memory family (soma.h).
// Copies move bit patterns (4- or 8-byte words), so one kernel serves every dtype of a given width.
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>

namespace {
using namespace soma_cuda;

template <typename T>
__global__ void fill_kernel(T* __restrict__ dst, int64_t n, T value) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = value;
}

template <typename T>
int fill_typed(void* dst, int64_t n, T value, cudaStream_t s) {
  if (n == 0) return 0;
  return launch<fill_kernel<T>>(SOMA_SITE, grid_for(n), kThreads, 0, s, static_cast<T*>(dst), n, value);
}

// dst[idx . dst_strides] = src[idx . src_strides]; operand 0 is src, operand 1 dst.
template <typename W, typename I>
__global__ void strided_copy_kernel(Geometry<2> g, const W* __restrict__ src, W* __restrict__ dst, I n) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += stride) {
    I off[2];
    offsets_of<2, I>(g, i, off);
    dst[off[1]] = src[off[0]];
  }
}

// A transposing copy (the source's unit-stride axis b is not the destination's, a) through 32 x 32 tiles in shared
// memory, so both the reads (along b) and the writes (along a) are coalesced; every other axis is a batch index
// whose offsets come from `batch`. The plain strided kernel would read (or write) with a stride on one side.
constexpr int kTile = 32, kTileRows = 8;

template <typename W>
__global__ void transpose_tiles_kernel(Geometry<2> batch, int64_t batches, int64_t na, int64_t nb, int64_t src_a,
                                       int64_t dst_b, const W* __restrict__ src, W* __restrict__ dst) {
  __shared__ W tile[kTile][kTile + 1];  // +1: the column reads of the store phase hit 32 different banks
  const int64_t a_tiles = (na + kTile - 1) / kTile, b_tiles = (nb + kTile - 1) / kTile;
  for (int64_t z = blockIdx.z; z < batches; z += gridDim.z) {
    int64_t off[2];
    offsets_of<2, int64_t>(batch, z, off);
    for (int64_t tb = blockIdx.y; tb < b_tiles; tb += gridDim.y) {
      for (int64_t ta = blockIdx.x; ta < a_tiles; ta += gridDim.x) {
        const int64_t a0 = ta * kTile, b0 = tb * kTile;
        for (int r = threadIdx.y; r < kTile; r += kTileRows) {  // load: consecutive threads along b
          const int64_t a = a0 + r, b = b0 + threadIdx.x;
          if (a < na && b < nb) tile[r][threadIdx.x] = src[off[0] + a * src_a + b];
        }
        __syncthreads();
        for (int r = threadIdx.y; r < kTile; r += kTileRows) {  // store: consecutive threads along a
          const int64_t b = b0 + r, a = a0 + threadIdx.x;
          if (a < na && b < nb) dst[off[1] + b * dst_b + a] = tile[threadIdx.x][r];
        }
        __syncthreads();
      }
    }
  }
}

// Launches the tiled transpose when g (coalesced, innermost first) moves the source's unit-stride axis elsewhere
// and both axes are long enough for tiles to pay; answers -1 (not taken) otherwise.
template <typename W>
int transpose_copy(const Geometry<2>& g, const W* src, W* dst, cudaStream_t s) {
  int a = -1, b = -1;
  for (int d = 0; d < g.ndim; ++d) {
    if (g.stride[1][d] == 1 && a < 0) a = d;
    if (g.stride[0][d] == 1 && b < 0) b = d;
  }
  if (a < 0 || b < 0 || a == b || g.shape[a] < 16 || g.shape[b] < 16) return -1;
  Geometry<2> batch{};
  for (int d = 0; d < g.ndim; ++d) {
    if (d == a || d == b) continue;
    batch.shape[batch.ndim] = g.shape[d];
    for (int k = 0; k < 2; ++k) batch.stride[k][batch.ndim] = g.stride[k][d];
    ++batch.ndim;
  }
  if (batch.ndim == 0) {
    batch.ndim = 1;
    batch.shape[0] = 1;
  }
  const int64_t na = g.shape[a], nb = g.shape[b], batches = batch.numel();
  auto cap = [](int64_t v, int64_t most) { return unsigned(v < most ? v : most); };
  dim3 grid(cap((na + kTile - 1) / kTile, 1 << 20), cap((nb + kTile - 1) / kTile, 65535), cap(batches, 65535));
  return launch<transpose_tiles_kernel<W>>(SOMA_SITE, grid, dim3(kTile, kTileRows), 0, s, batch, batches, na, nb,
                                           g.stride[0][a], g.stride[1][b], src, dst);
}

template <typename W>
int strided_copy_typed(const Geometry<2>& g, const void* src, void* dst, cudaStream_t s) {
  const int64_t n = g.numel();
  if (n == 0) return 0;
  if (g.contiguous()) {
    return static_cast<int>(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(W), cudaMemcpyDeviceToDevice, s));
  }
  auto ps = static_cast<const W*>(src);
  auto pd = static_cast<W*>(dst);
  int tiled = transpose_copy<W>(g, ps, pd, s);
  if (tiled >= 0) return tiled;
  if (g.fits_int32())
    return launch<strided_copy_kernel<W, int32_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, g, ps, pd, int32_t(n));
  return launch<strided_copy_kernel<W, int64_t>>(SOMA_SITE, grid_for(n), kThreads, 0, s, g, ps, pd, n);
}

// Conversions as the GPU's cvt instructions do them: float -> int32 rounds toward zero and saturates, NaN -> 0
// (a plain C++ cast is undefined there); soma_cpu_cast does the same.
template <typename D, typename S> __device__ __forceinline__ D convert(S v) { return static_cast<D>(v); }
template <> __device__ __forceinline__ int32_t convert<int32_t, float>(float v) {
  return v != v ? 0 : v >= 2147483648.0f ? INT32_MAX : v <= -2147483648.0f ? INT32_MIN : static_cast<int32_t>(v);
}
template <> __device__ __forceinline__ int32_t convert<int32_t, double>(double v) {
  return v != v ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : static_cast<int32_t>(v);
}

template <typename S, typename D>
__global__ void cast_kernel(const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) dst[i] = convert<D>(src[i]);
}

template <typename S, typename D>
int cast_typed(const void* src, void* dst, int64_t n, cudaStream_t s) {
  return launch<cast_kernel<S, D>>(SOMA_SITE, grid_for(n), kThreads, 0, s, static_cast<const S*>(src),
                                   static_cast<D*>(dst), n);
}

template <typename S>
int cast_from(const void* src, int dst_dtype, void* dst, int64_t n, cudaStream_t s) {
  switch (dst_dtype) {
    case SOMA_F32: return cast_typed<S, float>(src, dst, n, s);
    case SOMA_F64: return cast_typed<S, double>(src, dst, n, s);
    case SOMA_I32: return cast_typed<S, int32_t>(src, dst, n, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

template <typename T>
__global__ void axpy_kernel(int64_t n, T alpha, const T* x, T* y) {  // x may be y (doubling a gradient)
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] += alpha * x[i];
}

template <typename T>
int axpy_typed(int64_t n, double alpha, const void* x, void* y, cudaStream_t s) {
  if (n == 0) return 0;
  return launch<axpy_kernel<T>>(SOMA_SITE, grid_for(n), kThreads, 0, s, n, T(alpha), static_cast<const T*>(x),
                                static_cast<T*>(y));
}
}  // namespace

extern "C" {

int soma_cuda_fill(int dtype, void* dst, int64_t n, double value, void* stream) {
  switch (dtype) {
    case SOMA_F32: return fill_typed<float>(dst, n, float(value), as_stream(stream));
    case SOMA_F64: return fill_typed<double>(dst, n, value, as_stream(stream));
    case SOMA_I32: return fill_typed<int32_t>(dst, n, int32_t(value), as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_strided_copy(int dtype, int ndim, const int64_t* shape, const void* src, const int64_t* src_strides,
                           void* dst, const int64_t* dst_strides, void* stream) {
  if (ndim < 0 || ndim > SOMA_MAX_DIMS) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t* strides[2] = {src_strides, dst_strides};
  Geometry<2> g = make_geometry<2>(ndim, shape, strides);
  switch (dtype) {
    case SOMA_F32:
    case SOMA_I32: return strided_copy_typed<uint32_t>(g, src, dst, as_stream(stream));
    case SOMA_F64: return strided_copy_typed<uint64_t>(g, src, dst, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n, void* stream) {
  if (n == 0) return 0;
  switch (src_dtype) {
    case SOMA_F32: return cast_from<float>(src, dst_dtype, dst, n, as_stream(stream));
    case SOMA_F64: return cast_from<double>(src, dst_dtype, dst, n, as_stream(stream));
    case SOMA_I32: return cast_from<int32_t>(src, dst_dtype, dst, n, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_axpy(int dtype, int64_t n, double alpha, const void* x, void* y, void* stream) {
  switch (dtype) {
    case SOMA_F32: return axpy_typed<float>(n, alpha, x, y, as_stream(stream));
    case SOMA_F64: return axpy_typed<double>(n, alpha, x, y, as_stream(stream));
    case SOMA_I32: return axpy_typed<int32_t>(n, alpha, x, y, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
