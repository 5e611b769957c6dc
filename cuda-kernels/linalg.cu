// Matrix products on CUDA: our own tiled shared-memory GEMM, batched (f32, f64). The path for every matmul on
// CUDA today (cuBLAS comes later as the vendor path; this kernel stays for the emulated device, for shapes a
// vendor library refuses, and on request).
//
// out[z] = a[z] @ b[z] for every batch index z of the broadcast batch shape: a is [..., M, K] and b [..., K, N]
// with any strides (transposed views, stride-0 broadcast batch dimensions), out is contiguous [batch..., M, N].
// Semantics are those of soma_cpu_matmul (native/src/linalg.cpp), whose arguments this entry takes.
//
// Structure (the classic SGEMM blocking): a block of 256 threads computes a 64 x 64 tile of out, walking K in
// steps of 16. Each step stages a 64 x 16 tile of a and a 16 x 64 tile of b in shared memory (both stored
// k-major, so the inner loop reads rows of each), and each thread accumulates a 4 x 4 register micro-tile
// (rows ty + 16 r, columns tx + 16 c: conflict-free shared reads, coalesced stores). The next step's tiles are
// loaded into registers while the current one is multiplied. Operands are read through their strides; which
// of a tile's two dimensions consecutive threads walk is chosen per operand (template flags) from the stride
// that is 1, so plain and transposed operands both load coalesced. Edges are zero-filled on load and masked on
// store, so any M, N, K works (K = 0 writes zeros).
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>

namespace {
using namespace soma_cuda;

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kGemmThreads = 256;                            // 16 x 16 threads, 4 x 4 outputs each
constexpr int kMicro = 4;
constexpr int kLoads = kTileM * kTileK / kGemmThreads;       // elements of each operand tile a thread loads
constexpr int kPad = 4;                                      // keeps the k-major tile stores off one bank
constexpr unsigned kMaxGridZ = 65535;

static_assert(kTileM * kTileK == kTileK * kTileN, "both operand tiles have the same element count");
static_assert(kLoads * kGemmThreads == kTileM * kTileK, "the threads cover an operand tile exactly");

// The batch geometry of one product: batch shape (outermost first) and the per-dimension strides of a and b
// (0 where the operand broadcasts), plus the matrix strides. Passed to the kernel by value.
struct Batched {
  int batch_ndim;
  int64_t batch_shape[SOMA_MAX_DIMS];
  int64_t a_batch[SOMA_MAX_DIMS];
  int64_t b_batch[SOMA_MAX_DIMS];
  int64_t batches;
  int64_t m, n, k;
  int64_t a_rs, a_cs;  // a[i, kk] at i * a_rs + kk * a_cs
  int64_t b_rs, b_cs;  // b[kk, j] at kk * b_rs + j * b_cs
};

__device__ __forceinline__ void batch_offsets(const Batched& g, int64_t z, int64_t& ao, int64_t& bo) {
  ao = 0;
  bo = 0;
  for (int d = g.batch_ndim - 1; d >= 0; --d) {
    const int64_t extent = g.batch_shape[d];
    const int64_t idx = z % extent;
    z /= extent;
    ao += idx * g.a_batch[d];
    bo += idx * g.b_batch[d];
  }
}

// Element e (0 .. kTileM * kTileK) of a thread's share of the a tile: its (row, k) in the tile. When a is
// k-contiguous, consecutive threads walk k; otherwise (a transposed view) they walk rows.
template <bool AK>
__device__ __forceinline__ void a_coords(int e, int& row, int& kk) {
  if (AK) { kk = e % kTileK; row = e / kTileK; }
  else { row = e % kTileM; kk = e / kTileM; }
}

// The same for b: (k, column); consecutive threads walk columns when b is n-contiguous, k otherwise.
template <bool BN>
__device__ __forceinline__ void b_coords(int e, int& kk, int& col) {
  if (BN) { col = e % kTileN; kk = e / kTileN; }
  else { kk = e % kTileK; col = e / kTileK; }
}

template <typename T, bool AK, bool BN>
__global__ void __launch_bounds__(kGemmThreads) gemm_tiled(Batched g, const T* a, const T* b, T* out) {
  __shared__ T as[kTileK][kTileM + kPad];
  __shared__ T bs[kTileK][kTileN + kPad];

  const int tid = threadIdx.x;
  const int tx = tid % 16;
  const int ty = tid / 16;
  const int64_t row0 = int64_t(blockIdx.y) * kTileM;
  const int64_t col0 = int64_t(blockIdx.x) * kTileN;
  const int64_t m = g.m, n = g.n, k = g.k;

  for (int64_t z = blockIdx.z; z < g.batches; z += gridDim.z) {
    int64_t ao, bo;
    batch_offsets(g, z, ao, bo);
    const T* pa = a + ao;
    const T* pb = b + bo;

    T acc[kMicro][kMicro];
#pragma unroll
    for (int r = 0; r < kMicro; ++r)
#pragma unroll
      for (int c = 0; c < kMicro; ++c) acc[r][c] = T(0);

    T ra[kLoads], rb[kLoads];
    // Loads the operand tiles that start at k0 into registers (zero outside the matrices).
    auto load = [&](int64_t k0) {
#pragma unroll
      for (int p = 0; p < kLoads; ++p) {
        int row, kk;
        a_coords<AK>(tid + p * kGemmThreads, row, kk);
        const int64_t gi = row0 + row, gk = k0 + kk;
        ra[p] = (gi < m && gk < k) ? pa[gi * g.a_rs + gk * g.a_cs] : T(0);
      }
#pragma unroll
      for (int p = 0; p < kLoads; ++p) {
        int kk, col;
        b_coords<BN>(tid + p * kGemmThreads, kk, col);
        const int64_t gk = k0 + kk, gj = col0 + col;
        rb[p] = (gk < k && gj < n) ? pb[gk * g.b_rs + gj * g.b_cs] : T(0);
      }
    };

    if (k > 0) load(0);
    for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
#pragma unroll
      for (int p = 0; p < kLoads; ++p) {
        int row, kk;
        a_coords<AK>(tid + p * kGemmThreads, row, kk);
        as[kk][row] = ra[p];
      }
#pragma unroll
      for (int p = 0; p < kLoads; ++p) {
        int kk, col;
        b_coords<BN>(tid + p * kGemmThreads, kk, col);
        bs[kk][col] = rb[p];
      }
      __syncthreads();
      if (k0 + kTileK < k) load(k0 + kTileK);  // in flight while this tile is multiplied

#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        T av[kMicro], bv[kMicro];
#pragma unroll
        for (int r = 0; r < kMicro; ++r) av[r] = as[kk][ty + 16 * r];
#pragma unroll
        for (int c = 0; c < kMicro; ++c) bv[c] = bs[kk][tx + 16 * c];
#pragma unroll
        for (int r = 0; r < kMicro; ++r)
#pragma unroll
          for (int c = 0; c < kMicro; ++c) acc[r][c] += av[r] * bv[c];
      }
      __syncthreads();  // the tiles are overwritten at the top of the next step
    }

    T* po = out + z * m * n;
#pragma unroll
    for (int r = 0; r < kMicro; ++r) {
      const int64_t gi = row0 + ty + 16 * r;
      if (gi >= m) continue;
#pragma unroll
      for (int c = 0; c < kMicro; ++c) {
        const int64_t gj = col0 + tx + 16 * c;
        if (gj < n) po[gi * n + gj] = acc[r][c];
      }
    }
  }
}

template <typename T>
int matmul_typed(const Batched& g, const void* a, const void* b, void* out, cudaStream_t s) {
  const dim3 grid(unsigned((g.n + kTileN - 1) / kTileN), unsigned((g.m + kTileM - 1) / kTileM),
                  unsigned(g.batches < kMaxGridZ ? g.batches : kMaxGridZ));
  auto pa = static_cast<const T*>(a);
  auto pb = static_cast<const T*>(b);
  auto po = static_cast<T*>(out);
  // k-contiguous a walks k per thread; otherwise rows (a transposed view). The same for b along n or k.
  const bool ak = g.a_cs == 1 || g.k == 1;
  const bool bn = g.b_cs == 1 || g.n == 1;
  if (ak && bn) return launch<gemm_tiled<T, true, true>>(SOMA_SITE, grid, kGemmThreads, 0, s, g, pa, pb, po);
  if (ak) return launch<gemm_tiled<T, true, false>>(SOMA_SITE, grid, kGemmThreads, 0, s, g, pa, pb, po);
  if (bn) return launch<gemm_tiled<T, false, true>>(SOMA_SITE, grid, kGemmThreads, 0, s, g, pa, pb, po);
  return launch<gemm_tiled<T, false, false>>(SOMA_SITE, grid, kGemmThreads, 0, s, g, pa, pb, po);
}

}  // namespace

extern "C" int soma_cuda_matmul(int dtype, int batch_ndim, const int64_t* batch_shape, int64_t m, int64_t n,
                                int64_t k, const void* a, const int64_t* a_strides, const void* b,
                                const int64_t* b_strides, void* out, void* stream) {
  if (batch_ndim < 0 || batch_ndim > SOMA_MAX_DIMS - 2 || m < 0 || n < 0 || k < 0)
    return static_cast<int>(cudaErrorInvalidValue);
  Batched g{};
  g.batch_ndim = batch_ndim;
  g.batches = 1;
  for (int d = 0; d < batch_ndim; ++d) {
    g.batch_shape[d] = batch_shape[d];
    g.a_batch[d] = a_strides[d];
    g.b_batch[d] = b_strides[d];
    g.batches *= batch_shape[d];
  }
  g.m = m;
  g.n = n;
  g.k = k;
  g.a_rs = a_strides[batch_ndim];
  g.a_cs = a_strides[batch_ndim + 1];
  g.b_rs = b_strides[batch_ndim];
  g.b_cs = b_strides[batch_ndim + 1];
  if (g.batches == 0 || m == 0 || n == 0) return 0;
  if ((m + kTileM - 1) / kTileM > 65535) return static_cast<int>(cudaErrorInvalidConfiguration);
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32: return matmul_typed<float>(g, a, b, out, s);
    case SOMA_F64: return matmul_typed<double>(g, a, b, out, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}
