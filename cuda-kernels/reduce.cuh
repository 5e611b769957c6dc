// Row-reduction machinery shared by reduce.cu and loss.cu: warp and block reductions (warp shuffles, then one
// shared-memory slot per warp), a "group" (one warp or one block) that owns a row, launch shapes, and the
// workspace rules that soma_cuda_reduce_workspace reports to Java.
//
// Determinism: no atomics. Every reduction has a fixed shape that depends only on (rows, cols) and the launch
// shape (itself a function of rows, cols and the device's multiprocessor count), so the same input gives
// bit-identical output run to run. Sums accumulate in double for f32 as well as f64, as the CPU kernels do.
#pragma once
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>
#include <math.h>

namespace soma_cuda {
namespace red {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarp = 32;

// ------------------------------------------------------------------ math overloads
__device__ __forceinline__ float r_exp(float x) { return expf(x); }
__device__ __forceinline__ double r_exp(double x) { return exp(x); }
__device__ __forceinline__ float r_log(float x) { return logf(x); }
__device__ __forceinline__ double r_log(double x) { return log(x); }

template <typename T> __device__ __forceinline__ T r_lowest() { return -INFINITY; }
template <> __device__ __forceinline__ int32_t r_lowest<int32_t>() { return INT32_MIN; }
template <typename T> __device__ __forceinline__ T r_highest() { return INFINITY; }
template <> __device__ __forceinline__ int32_t r_highest<int32_t>() { return INT32_MAX; }

// ------------------------------------------------------------------ combining functors (commutative)
struct SumOp {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return a + b; }
};
// Max and min that propagate NaN (as the CPU's row_max / row_min).
struct MaxOp {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return (a != a || a > b) ? a : b; }
};
struct MinOp {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return (a != a || a < b) ? a : b; }
};

// A candidate of an arg-extremum: value and column; index < 0 means "no element".
template <typename T>
struct ArgPair {
  T v;
  int64_t i;
};

// The first index of the maximum (kMax) or minimum; a NaN counts as the extremum and the first NaN wins, so
// the index points at the value the MAX / MIN reductions return (native/src/reduce.cpp, row_arg_extremum).
// Symmetric in its arguments, hence every lane of a butterfly agrees.
template <typename T, bool kMax>
struct ArgOp {
  __device__ __forceinline__ ArgPair<T> operator()(ArgPair<T> p, ArgPair<T> q) const {
    if (p.i < 0) return q;
    if (q.i < 0) return p;
    const bool pn = p.v != p.v, qn = q.v != q.v;
    if (pn || qn) {
      if (pn && qn) return p.i < q.i ? p : q;
      return pn ? p : q;
    }
    if (kMax ? q.v > p.v : q.v < p.v) return q;
    if (kMax ? p.v > q.v : p.v < q.v) return p;
    return p.i < q.i ? p : q;
  }
};

// ------------------------------------------------------------------ warp and block reductions
template <typename V>
__device__ __forceinline__ V shfl_xor(V v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}
template <typename T>
__device__ __forceinline__ ArgPair<T> shfl_xor(ArgPair<T> v, int mask) {
  ArgPair<T> r;
  r.v = __shfl_xor_sync(kFullMask, v.v, mask);
  r.i = __shfl_xor_sync(kFullMask, v.i, mask);
  return r;
}
template <typename V>
__device__ __forceinline__ V shfl_from0(V v) {
  return __shfl_sync(kFullMask, v, 0);
}
template <typename T>
__device__ __forceinline__ ArgPair<T> shfl_from0(ArgPair<T> v) {
  ArgPair<T> r;
  r.v = __shfl_sync(kFullMask, v.v, 0);
  r.i = __shfl_sync(kFullMask, v.i, 0);
  return r;
}

// Butterfly over the 32 lanes, then lane 0's value to all (the butterfly's lanes could differ in bits only
// where op is not bitwise commutative, e.g. max(+0, -0); lane 0's answer makes the warp agree).
template <typename V, typename Op>
__device__ __forceinline__ V warp_reduce(V v, Op op) {
#pragma unroll
  for (int m = kWarp / 2; m > 0; m >>= 1) v = op(v, shfl_xor(v, m));
  return shfl_from0(v);
}

// Every thread of the block gets op over all threads' v. blockDim.x must be a multiple of 32. The scratch
// slots are read back in warp order by every thread (a fixed order: deterministic) and the trailing barrier
// lets the next call reuse them.
template <typename V, typename Op>
__device__ __forceinline__ V block_reduce(V v, Op op) {
  __shared__ V scratch[kWarp];
  v = warp_reduce(v, op);
  const int warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  if ((threadIdx.x & (kWarp - 1)) == 0) scratch[warp] = v;
  __syncthreads();
  V r = scratch[0];
  for (int w = 1; w < warps; ++w) r = op(r, scratch[w]);
  __syncthreads();
  return r;
}

// ------------------------------------------------------------------ groups: who owns a row
// One warp per row (short rows) or one whole block per row (long rows). rank / size walk the row's columns
// (coalesced: consecutive ranks read consecutive columns); reduce gives every member the group's result.
template <bool kBlock>
struct Group;

template <>
struct Group<false> {
  __device__ __forceinline__ static int rank() { return threadIdx.x & (kWarp - 1); }
  __device__ __forceinline__ static int size() { return kWarp; }
  __device__ __forceinline__ static int64_t first_row() {
    return int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  }
  __device__ __forceinline__ static int64_t row_stride() { return int64_t(gridDim.x) * (blockDim.x / kWarp); }
  template <typename V, typename Op>
  __device__ __forceinline__ static V reduce(V v, Op op) { return warp_reduce(v, op); }
};

template <>
struct Group<true> {
  __device__ __forceinline__ static int rank() { return threadIdx.x; }
  __device__ __forceinline__ static int size() { return blockDim.x; }
  __device__ __forceinline__ static int64_t first_row() { return blockIdx.x; }
  __device__ __forceinline__ static int64_t row_stride() { return gridDim.x; }
  template <typename V, typename Op>
  __device__ __forceinline__ static V reduce(V v, Op op) { return block_reduce(v, op); }
};

// Launch shape of a group-per-row kernel.
struct RowLaunch {
  bool block;       // one block per row (else one warp per row)
  unsigned grid;
  unsigned threads;
};

// Rows of up to this many columns go to one warp each.
constexpr int64_t kWarpRowMaxCols = 1024;

inline RowLaunch row_launch(int64_t rows, int64_t cols) {
  const int64_t cap = int64_t(sm_count()) * 32;
  RowLaunch l;
  if (cols <= kWarpRowMaxCols) {
    l.block = false;
    l.threads = kThreads;
    const int64_t per_block = kThreads / kWarp;
    int64_t g = (rows + per_block - 1) / per_block;
    l.grid = unsigned(g < 1 ? 1 : (g > cap ? cap : g));
  } else {
    l.block = true;
    l.threads = cols >= 16384 ? 1024 : (cols >= 4096 ? 512 : 256);
    l.grid = unsigned(rows < 1 ? 1 : (rows > cap ? cap : rows));
  }
  return l;
}

// ------------------------------------------------------------------ workspace rules (soma_cuda_reduce_workspace)
// Few long rows (a full reduction is one row): each row is split into `chunks` column chunks reduced by
// separate blocks into double partials, then one warp per row adds the partials in order. Workspace layout:
// partials [rows][chunks] in the first kSplitPartials doubles, then one double per row (VAR's means).
constexpr int64_t kSplitMaxRows = 64;
constexpr int64_t kSplitMinCols = 16384;
constexpr int64_t kSplitPartials = 1024;
constexpr int64_t kSplitChunkCols = 4096;

inline int64_t split_chunks(int64_t rows, int64_t cols) {
  if (rows < 1 || rows > kSplitMaxRows || cols < kSplitMinCols) return 0;
  int64_t c = (cols + kSplitChunkCols - 1) / kSplitChunkCols;
  int64_t cap = kSplitPartials / rows;
  return c > cap ? cap : c;
}

// Column sums of an outer x inner matrix: blocks of 32 columns x 8 row lanes, and `chunks` row chunks when
// there are too few column blocks to fill the device; partials [chunks][inner] then go through a second pass.
constexpr int64_t kLeadingMaxChunks = 64;
inline int64_t leading_chunks(int64_t outer, int64_t inner) {
  const int64_t col_blocks = (inner + 31) / 32;
  if (col_blocks >= 512 || outer < 1024) return 1;
  int64_t want = (512 + col_blocks - 1) / col_blocks;
  int64_t by_rows = outer / 256;
  int64_t c = want < by_rows ? want : by_rows;
  if (c > kLeadingMaxChunks) c = kLeadingMaxChunks;
  return c < 1 ? 1 : c;
}

// Losses over n elements: fixed-size chunks (a function of n only), each block one double partial.
constexpr int64_t kLossChunkElems = 4096;
constexpr int64_t kLossMaxChunks = 1024;
inline int64_t loss_chunks(int64_t n) {
  int64_t c = (n + kLossChunkElems - 1) / kLossChunkElems;
  if (c > kLossMaxChunks) c = kLossMaxChunks;
  return c < 1 ? 1 : c;
}

}  // namespace red
}  // namespace soma_cuda
