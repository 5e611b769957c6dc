// Denormal (subnormal) floats flushed to zero for the life of a scope, on the calling thread only.
//
// Why: an optimizer's state decays geometrically where a gradient is 0 (Adam's v by beta2 = 0.999 a step), so after
// some thousand steps much of it sits in the denormal range for tens of thousands more. Intel cores take a microcode
// assist for each such operand or result: on a Xeon (family 6 model 207) the reference CNN's Adam update went from
// 1.0 ms to 10.0 ms per step once the run had settled. AMD's Zen cores barely slow down, so the cost showed on Intel
// only. Flushing is what TensorFlow's CPU threads do, and the values lost are below 1.2e-38 (2.2e-308 in float64).
//
// Scoped (saved and restored): the calling thread may be a JVM thread, whose Java floats must keep IEEE denormals.
// Put one inside each OpenMP parallel region, so that every thread of the team flushes while it runs the loop.
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace soma {

class FlushDenormals {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  // MXCSR bit 15: flush-to-zero (denormal results become 0); bit 6: denormals-are-zero (denormal inputs read as 0).
  static constexpr unsigned kFtzDaz = 0x8040;
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtzDaz); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#else
  FlushDenormals() {}
#endif
 public:
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
};

}  // namespace soma
