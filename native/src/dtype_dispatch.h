// Maps a runtime dtype code onto a C++ type so each kernel is written once as a template.
#pragma once
#include "soma.h"
#include <atomic>
#include <cstdint>

#define SOMA_DISPATCH(dtype, T, ...)                      \
  switch (dtype) {                                        \
    case SOMA_F32: { using T = float; __VA_ARGS__; break; }   \
    case SOMA_F64: { using T = double; __VA_ARGS__; break; }  \
    case SOMA_I32: { using T = int32_t; __VA_ARGS__; break; } \
    default: break;                                       \
  }

#define SOMA_DISPATCH_FLOAT(dtype, T, ...)                \
  switch (dtype) {                                        \
    case SOMA_F32: { using T = float; __VA_ARGS__; break; }   \
    case SOMA_F64: { using T = double; __VA_ARGS__; break; }  \
    default: break;                                       \
  }

namespace soma {
// Work below this many elements runs on one thread: waking the pool costs more than it saves.
// Element loops use `omp parallel for` and let GCC vectorise the body: `omp parallel for simd` made GCC 12 emit a
// far slower loop (the fused Adam update 0.64 ms instead of 0.09 ms per 280k floats on one thread). Keep `simd`
// for floating-point reductions, which GCC vectorises only when told that it may reorder the sum.
constexpr int64_t kParallelGrain = 32768;
// The grain of loops whose results do not depend on how they are split (element-wise, per row, copies, sums over
// blocks fixed by the shape): larger while idle workers sleep (soma_cpu_omp_short_waits, native/src/omp_wait.cpp),
// because then waking one costs tens of microseconds, and on a core shared with a busy process it can cost a
// scheduler time slice. Reductions split by thread (omp reduction clauses) keep kParallelGrain, so that no result
// changes with the waiting mode.
// An inline variable (one per library, no source file of its own): the CPU-reference library the CUDA comparison
// tests build from a few of these sources links without omp_wait.cpp, which sets it.
inline std::atomic<int64_t> element_grain_now{kParallelGrain};
// Set per calling thread (soma_cpu_split_invariant_one_thread): its split-invariant loops then run on it alone,
// whatever their size. dev.soma.backend.SplitTuner sets it for a training loop whose steps it measured faster so.
inline thread_local bool split_invariant_one_thread = false;
inline int64_t element_grain() {
  return split_invariant_one_thread ? INT64_MAX : element_grain_now.load(std::memory_order_relaxed);
}
}
