// The per-thread switch that runs split-invariant loops on the calling thread alone (soma::element_grain()).
#include "soma.h"
#include "dtype_dispatch.h"
#include <omp.h>

extern "C" {

int soma_cpu_split_invariant_one_thread(int on) {
  const int before = soma::split_invariant_one_thread ? 1 : 0;
  if (on >= 0) soma::split_invariant_one_thread = on != 0;
  return before;
}

int soma_cpu_split_invariant_threads(int64_t n) {
  int threads = 1;
  // The same clause as every split-invariant loop; the region only reports the size of the team it got.
#pragma omp parallel if (n > soma::element_grain())
  {
#pragma omp master
    threads = omp_get_num_threads();
  }
  return threads;
}

}  // extern "C"
