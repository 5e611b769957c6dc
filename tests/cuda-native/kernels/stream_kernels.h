// Host entry points of kernels/streams.cu: launches on a given stream that return at once (nothing copied back),
// so streams_test.cpp decides what is ordered after what.
#pragma once
#include <cuda_runtime.h>

namespace emu_test {
// p[i] = value for i < n.
int fill_on(cudaStream_t stream, float* p, int n, float value);
// dst[i] += src[i] for i < n.
int add_on(cudaStream_t stream, float* dst, const float* src, int n);
// Two fills from one host struct changed between the launches: p gets 1, q gets 2 only if each launch copied the
// struct when it was made (a deferred launch runs after this function has returned and the struct is gone).
int fill_twice_from_one_struct(cudaStream_t stream, float* p, float* q, int n);
// A __syncthreads() that only thread 0 reaches: a misuse the emulator reports when the kernel runs.
int partial_barrier_on(cudaStream_t stream, float* p);
}  // namespace emu_test
