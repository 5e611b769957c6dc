// Built instead of the CUDA kernels when nvcc is absent or -Dsoma.cuda=OFF: every entry point exists (so the
// JNI glue links) and reports that this build has no CUDA. Java never calls past soma_cuda_built() == 0.
#include "soma.h"

#ifndef SOMA_CUDA_REASON
#define SOMA_CUDA_REASON "built without CUDA"
#endif

static const int kNoCuda = -1;

extern "C" {
int soma_cuda_built(void) { return 0; }
const char* soma_cuda_build_info(void) { return SOMA_CUDA_REASON; }
const char* soma_cuda_status_string(int status) {
  return status == 0 ? "no error" : "this Soma library was " SOMA_CUDA_REASON;
}
}

#define SOMA_CUDA_STUB(name, params) \
  extern "C" int name params { return kNoCuda; }
#include "cuda_stub_list.inc"
