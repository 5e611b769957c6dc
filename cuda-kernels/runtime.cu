// The CUDA runtime calls Java makes (devices, memory, copies, streams, events), behind soma.h's C ABI. Uses
// only the runtime subset the emulator provides, so the same source builds with nvcc and as emulated host C++.
#include "soma.h"
#include <cuda_runtime.h>
#ifndef SOMA_CUDA_EMULATED
#include <cuda_profiler_api.h>
#endif
#include <cstring>

namespace {

int status(cudaError_t e) { return static_cast<int>(e); }

bool copy_kind(int kind, cudaMemcpyKind* out) {
  switch (kind) {
    case SOMA_CUDA_COPY_HOST_TO_DEVICE: *out = cudaMemcpyHostToDevice; return true;
    case SOMA_CUDA_COPY_DEVICE_TO_HOST: *out = cudaMemcpyDeviceToHost; return true;
    case SOMA_CUDA_COPY_DEVICE_TO_DEVICE: *out = cudaMemcpyDeviceToDevice; return true;
    default: return false;
  }
}

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }

}  // namespace

extern "C" {

int soma_cuda_kind(void) {
#ifdef SOMA_CUDA_EMULATED
  return 2;
#else
  return 1;
#endif
}

int soma_cuda_device_count(int* count) { return status(cudaGetDeviceCount(count)); }

int soma_cuda_set_device(int device) { return status(cudaSetDevice(device)); }

int soma_cuda_device_info(int device, char* name, int name_len, int64_t* total_bytes, int* major, int* minor,
                          int* multiprocessors) {
  cudaDeviceProp p;
  std::memset(&p, 0, sizeof p);
  cudaError_t e = cudaGetDeviceProperties(&p, device);
  if (e != cudaSuccess) return status(e);
  if (name != nullptr && name_len > 0) {
    std::strncpy(name, p.name, static_cast<size_t>(name_len) - 1);
    name[name_len - 1] = '\0';
  }
  if (total_bytes) *total_bytes = static_cast<int64_t>(p.totalGlobalMem);
  if (major) *major = p.major;
  if (minor) *minor = p.minor;
  if (multiprocessors) *multiprocessors = p.multiProcessorCount;
  return 0;
}

int soma_cuda_versions(int* runtime, int* driver) {
  cudaError_t e = cudaRuntimeGetVersion(runtime);
  if (e != cudaSuccess) return status(e);
  return status(cudaDriverGetVersion(driver));
}

int soma_cuda_mem_info(int64_t* free_bytes, int64_t* total_bytes) {
  size_t f = 0, t = 0;
  cudaError_t e = cudaMemGetInfo(&f, &t);
  if (e == cudaSuccess) {
    *free_bytes = static_cast<int64_t>(f);
    *total_bytes = static_cast<int64_t>(t);
  }
  return status(e);
}

int soma_cuda_malloc(int64_t bytes, void** out) {
  *out = nullptr;
  if (bytes < 0) return status(cudaErrorInvalidValue);
  cudaError_t e = cudaMalloc(out, static_cast<size_t>(bytes));
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: the next kernel launch must not report the pool's probe
    *out = nullptr;
  }
  return status(e);
}

int soma_cuda_free(void* ptr) { return status(cudaFree(ptr)); }

int soma_cuda_memcpy(void* dst, const void* src, int64_t bytes, int kind) {
  cudaMemcpyKind k;
  if (bytes < 0 || !copy_kind(kind, &k)) return status(cudaErrorInvalidValue);
  return status(cudaMemcpy(dst, src, static_cast<size_t>(bytes), k));
}

int soma_cuda_memcpy_async(void* dst, const void* src, int64_t bytes, int kind, void* stream) {
  cudaMemcpyKind k;
  if (bytes < 0 || !copy_kind(kind, &k)) return status(cudaErrorInvalidValue);
  return status(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), k, as_stream(stream)));
}

int soma_cuda_memset(void* dst, int value, int64_t bytes) {
  if (bytes < 0) return status(cudaErrorInvalidValue);
  return status(cudaMemset(dst, value, static_cast<size_t>(bytes)));
}

int soma_cuda_host_alloc(int64_t bytes, void** out) {
  *out = nullptr;
  if (bytes < 0) return status(cudaErrorInvalidValue);
  cudaError_t e = cudaMallocHost(out, static_cast<size_t>(bytes));
  if (e == cudaErrorMemoryAllocation) cudaGetLastError();
  return status(e);
}

int soma_cuda_host_free(void* ptr) { return status(cudaFreeHost(ptr)); }

int soma_cuda_stream_create(void** stream) {
  cudaStream_t s = nullptr;
  cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  *stream = e == cudaSuccess ? static_cast<void*>(s) : nullptr;
  return status(e);
}

int soma_cuda_stream_destroy(void* stream) { return status(cudaStreamDestroy(as_stream(stream))); }

int soma_cuda_stream_synchronize(void* stream) { return status(cudaStreamSynchronize(as_stream(stream))); }

// A profiler range (ncu --profile-from-start off records only the kernels inside); the emulated device has no
// profiler, so there it is a no-op that succeeds.
int soma_cuda_profiler_range(int start) {
#ifdef SOMA_CUDA_EMULATED
  (void)start;
  return 0;
#else
  return status(start ? cudaProfilerStart() : cudaProfilerStop());
#endif
}

int soma_cuda_event_create(void** event) {
  cudaEvent_t ev = nullptr;
  cudaError_t e = cudaEventCreate(&ev);
  *event = e == cudaSuccess ? static_cast<void*>(ev) : nullptr;
  return status(e);
}

int soma_cuda_event_record(void* event, void* stream) {
  return status(cudaEventRecord(as_event(event), as_stream(stream)));
}

int soma_cuda_event_synchronize(void* event) { return status(cudaEventSynchronize(as_event(event))); }

int soma_cuda_event_query(void* event) { return status(cudaEventQuery(as_event(event))); }

int soma_cuda_stream_wait_event(void* stream, void* event) {
  return status(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0));
}

int soma_cuda_event_elapsed_ms(float* ms, void* start, void* end) {
  return status(cudaEventElapsedTime(ms, as_event(start), as_event(end)));
}

int soma_cuda_event_destroy(void* event) { return status(cudaEventDestroy(as_event(event))); }

int soma_cuda_device_synchronize(void) { return status(cudaDeviceSynchronize()); }

int soma_cuda_last_error(void) { return status(cudaGetLastError()); }

}  // extern "C"
