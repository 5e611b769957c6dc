// Build facts and status strings of a CUDA kernel library: the nvcc build for real devices, or the same sources
// built by g++ for the emulated device (cuda-kernels/emu), whose status strings carry the emulator's reason.
#include "soma.h"
#include <cuda_runtime.h>

#include <string>

#define SOMA_STR2(x) #x
#define SOMA_STR(x) SOMA_STR2(x)

#if defined(SOMA_CUDA_EMULATED)
namespace soma_emu {
unsigned worker_threads();
const char* fiber_kind();
}  // namespace soma_emu
#endif

extern "C" {

const char* soma_cuda_build_info(void) {
#if defined(SOMA_CUDA_EMULATED)
  static const std::string info = std::string("emulated on the CPU: the same kernel sources built by g++ " __VERSION__
                                              ", run as ") + soma_emu::fiber_kind() + " on " +
                                  std::to_string(soma_emu::worker_threads()) + " threads, schedule " +
                                  soma_emu_schedule();
  return info.c_str();
#else
  return "built with nvcc " SOMA_STR(__CUDACC_VER_MAJOR__) "." SOMA_STR(__CUDACC_VER_MINOR__)
         " for sm_80, sm_90 (+ compute_90 PTX)";
#endif
}

const char* soma_cuda_status_string(int status) {
#if defined(SOMA_CUDA_EMULATED)
  // With why the last launch on this thread failed (kernel, launch site, block, thread, line).
  return soma_emu_status_string(status);
#else
  return cudaGetErrorString(static_cast<cudaError_t>(status));
#endif
}
}
