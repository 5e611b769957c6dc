// Build facts and status strings for the CUDA kernel library (the stub in stub/ answers these otherwise).
#include "soma.h"
#include <cuda_runtime.h>

#define SOMA_STR2(x) #x
#define SOMA_STR(x) SOMA_STR2(x)

extern "C" {
int soma_cuda_built(void) { return 1; }

const char* soma_cuda_build_info(void) {
  return "built with nvcc " SOMA_STR(__CUDACC_VER_MAJOR__) "." SOMA_STR(__CUDACC_VER_MINOR__)
         " for sm_80, sm_90 (+ compute_90 PTX)";
}

const char* soma_cuda_status_string(int status) { return cudaGetErrorString((cudaError_t)status); }
}
