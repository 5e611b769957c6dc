// Embedding gather and scatter-add on CUDA, as native/src/rnn.cpp (the reference).
//
// Forward: out[i, :] = table[ids[i], :], a gather with one 2-d grid: blockIdx.y strides over ids, threads over
// the row (coalesced reads of one table row, coalesced writes of one output row). Any 4- or 8-byte dtype: the
// bits are copied.
//
// Backward, deterministic without atomics or a sort: every block owns a contiguous range of table rows
// [lo, hi) (row ownership, as the CPU's threads do). It zeroes its rows, then scans all ids in order, a tile of
// blockDim ids at a time: each thread tests one id, a warp ballot plus a per-warp prefix (in shared memory)
// compacts the matching positions of the tile into a list that keeps their order, and the threads then walk
// that list adding gradOut rows into the owned rows, one column per thread. Each table element therefore gets
// its contributions in increasing position order, exactly as the CPU adds them: the sums are the CPU's bit for
// bit, whatever the grid. Cost: every block reads all n ids (4 bytes each, L2-resident), plus n * dim adds.
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>

namespace {
using namespace soma_cuda;

constexpr int kEmbThreads = 256;
constexpr int kEmbWarps = kEmbThreads / 32;

template <typename T>
__global__ void __launch_bounds__(kEmbThreads) embedding_gather(const int32_t* ids, const T* table, T* out,
                                                                int64_t n, int64_t dim) {
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const T* src = table + int64_t(ids[i]) * dim;
    T* dst = out + i * dim;
    for (int64_t d = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; d < dim; d += int64_t(gridDim.x) * blockDim.x)
      dst[d] = src[d];
  }
}

template <typename T>
__global__ void __launch_bounds__(kEmbThreads) embedding_scatter_add(const int32_t* ids, const T* grad_out,
                                                                     T* grad_table, int64_t n, int64_t dim,
                                                                     int64_t vocab) {
  __shared__ int32_t warp_counts[kEmbWarps];
  __shared__ int64_t positions[kEmbThreads];
  const int64_t lo = vocab * blockIdx.x / gridDim.x, hi = vocab * (blockIdx.x + 1) / gridDim.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int64_t e = threadIdx.x; e < (hi - lo) * dim; e += blockDim.x) grad_table[lo * dim + e] = T(0);
  for (int64_t base = 0; base < n; base += kEmbThreads) {
    const int64_t i = base + threadIdx.x;
    int64_t row = -1;
    if (i < n) row = ids[i];
    const bool match = row >= lo && row < hi;
    const unsigned ballot = __ballot_sync(0xffffffffu, match);
    __syncthreads();  // the previous tile's readers of positions / warp_counts are done
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int offset = __popc(ballot & ((1u << lane) - 1u)), total = 0;
    for (int w = 0; w < kEmbWarps; ++w) {
      if (w < warp) offset += warp_counts[w];
      total += warp_counts[w];
    }
    if (match) positions[offset] = i;
    __syncthreads();
    for (int k = 0; k < total; ++k) {
      const int64_t p = positions[k];
      T* dst = grad_table + int64_t(ids[p]) * dim;
      const T* src = grad_out + p * dim;
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) dst[d] += src[d];
    }
  }
}

template <typename T>
int gather_typed(int64_t n, int64_t dim, const int32_t* ids, const void* table, void* out, cudaStream_t s) {
  if (n == 0 || dim == 0) return 0;
  const int64_t xblocks = (dim + kEmbThreads - 1) / kEmbThreads;
  const int64_t yblocks = n < 65535 ? n : 65535;
  return launch<embedding_gather<T>>(SOMA_SITE, dim3(unsigned(xblocks), unsigned(yblocks)), kEmbThreads, 0, s, ids,
                                     static_cast<const T*>(table), static_cast<T*>(out), n, dim);
}

template <typename T>
int scatter_typed(int64_t n, int64_t dim, int64_t vocab, const int32_t* ids, const void* grad_out, void* grad_table,
                  cudaStream_t s) {
  if (vocab == 0 || dim == 0) return 0;
  // Enough blocks to fill the device a few times over; each still reads every id once.
  int64_t blocks = int64_t(sm_count()) * 4;
  if (blocks > vocab) blocks = vocab;
  return launch<embedding_scatter_add<T>>(SOMA_SITE, dim3(unsigned(blocks)), kEmbThreads, 0, s, ids,
                                          static_cast<const T*>(grad_out), static_cast<T*>(grad_table), n, dim, vocab);
}

}  // namespace

extern "C" {

int soma_cuda_embedding_forward(int dtype, int64_t n, int64_t dim, const int32_t* ids, const void* embeddings, void* out,
                                void* stream) {
  switch (dtype) {
    case SOMA_F32:
    case SOMA_I32: return gather_typed<uint32_t>(n, dim, ids, embeddings, out, as_stream(stream));
    case SOMA_F64: return gather_typed<uint64_t>(n, dim, ids, embeddings, out, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_embedding_backward(int dtype, int64_t n, int64_t dim, int64_t vocab, const int32_t* ids,
                                 const void* grad_out, void* grad_table, void* stream) {
  switch (dtype) {
    case SOMA_F32: return scatter_typed<float>(n, dim, vocab, ids, grad_out, grad_table, as_stream(stream));
    case SOMA_F64: return scatter_typed<double>(n, dim, vocab, ids, grad_out, grad_table, as_stream(stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
