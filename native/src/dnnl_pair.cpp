// Two oneDNN primitives at once on one team of two OpenMP threads: how DnnlLstm runs its two half-batch lanes.
// Why a team and not a second Java thread: after an op's parallel region, the calling thread's idle OpenMP worker
// spins for milliseconds; a second Java thread would share a core with that spinning worker, while this team *is*
// that worker. Inside the region oneDNN sees omp_in_parallel() and runs each primitive on its own thread (they were
// built for one). oneDNN is not linked here: Java passes the addresses of dnnl_primitive_execute and
// dnnl_stream_wait, which the JavaCPP preset's library exports.
#include "soma.h"
#include <omp.h>

namespace {
using execute_fn = int (*)(const void* primitive, const void* stream, int nargs, const void* args);
using wait_fn = int (*)(const void* stream);
}  // namespace

extern "C" void soma_cpu_dnnl_execute_pair(const void* execute, const void* wait, const void* primitive0,
                                           const void* stream0, int nargs0, const void* args0,
                                           const void* primitive1, const void* stream1, int nargs1,
                                           const void* args1, int32_t* status) {
  const auto run = reinterpret_cast<execute_fn>(const_cast<void*>(execute));
  const auto done = reinterpret_cast<wait_fn>(const_cast<void*>(wait));
  status[0] = status[1] = -1;
#pragma omp parallel num_threads(2)
  {
    const int lane = omp_get_num_threads() == 2 ? omp_get_thread_num() : -1;
    // A team of one (nested or limited OpenMP): that thread runs both, one after the other.
    for (int i = 0; i < 2; ++i) {
      if (lane >= 0 && lane != i) continue;
      const void* p = i == 0 ? primitive0 : primitive1;
      const void* s = i == 0 ? stream0 : stream1;
      int st = run(p, s, i == 0 ? nargs0 : nargs1, i == 0 ? args0 : args1);
      if (st == 0) st = done(s);
      status[i] = st;
    }
  }
}
