// The CUDA runtime calls of our kernel files and of runtime.cu, for the emulated device: device memory is host
// memory (exact sizes, so AddressSanitizer sees a kernel's first byte out of bounds), every launch and copy is
// synchronous, so streams are only handles and events are host timestamps. Error numbers are the toolkit's.
#include "soma_emu.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

namespace soma_emu {
unsigned worker_threads();  // scheduler.cpp
const char* fiber_kind();   // fiber.cpp

namespace {
thread_local int tl_last_error = cudaSuccess;
thread_local std::string tl_last_message;

std::mutex memory_mu;
std::unordered_map<void*, size_t> allocations;
size_t allocated = 0;

std::mutex attribute_mu;
std::unordered_map<const void*, size_t> shared_opt_in;

size_t env_size(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  return *end == '\0' && n > 0 ? size_t(n) : fallback;
}

// The emulated device's memory: 8 GiB unless SOMA_EMU_MEMORY (bytes) says otherwise; beyond it cudaMalloc answers
// out-of-memory, as a GPU would, so the pool's free-and-retry path runs here too.
size_t capacity() {
  static const size_t c = env_size("SOMA_EMU_MEMORY", size_t(8) << 30);
  return c;
}

int multiprocessors() {
  static const int n = int(env_size("SOMA_EMU_SMS", 4));
  return n;
}

// Work is synchronous here, so an event is complete as soon as it is recorded. SOMA_EMU_EVENT_LAG=k makes
// cudaEventQuery answer cudaErrorNotReady for the first k queries after each record (until a synchronisation of
// the event, its stream or the device), so callers' "not finished yet" paths (the pool's cross-stream guard)
// run on the emulator too.
struct Event {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
  cudaStream_t stream = nullptr;
  size_t lag = 0;
};

size_t event_lag() {
  static const size_t k = env_size("SOMA_EMU_EVENT_LAG", 0);
  return k;
}

std::mutex event_mu;
std::unordered_map<Event*, bool> live_events;

// Marks complete every event recorded on `stream` (every event when `all`).
void complete_events(cudaStream_t stream, bool all) {
  std::lock_guard<std::mutex> lock(event_mu);
  for (auto& kv : live_events)
    if (all || kv.first->stream == stream) kv.first->lag = 0;
}
struct Stream {
  int unused = 0;
};

cudaError_t fail(cudaError_t e) {
  tl_last_error = e;
  return e;
}
}  // namespace

void set_last_error(int status, const std::string& message) {
  if (status == cudaSuccess) return;
  tl_last_error = status;
  tl_last_message = message;
}

void clear_last_message() { tl_last_message.clear(); }

size_t dynamic_shared_limit(const void* kernel) {
  std::lock_guard<std::mutex> lock(attribute_mu);
  auto it = shared_opt_in.find(kernel);
  return it == shared_opt_in.end() ? 0 : it->second;
}
}  // namespace soma_emu

using namespace soma_emu;

extern "C" {
const char* soma_emu_last_message(void) { return tl_last_message.c_str(); }

const char* soma_emu_status_string(int status) {
  static thread_local std::string text;
  text = cudaGetErrorString(static_cast<cudaError_t>(status));
  if (status != cudaSuccess && !tl_last_message.empty()) text += ": " + tl_last_message;
  return text.c_str();
}

cudaError_t cudaGetLastError(void) {
  cudaError_t e = cudaError_t(tl_last_error);
  tl_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return cudaError_t(tl_last_error); }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulated device: misuse found in the kernel)";
    default: return "unknown error (emulated device)";
  }
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = multiprocessors(); return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
    default: return fail(cudaErrorInvalidValue);
  }
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "Soma emulated CUDA device (%s on %u CPU threads)", fiber_kind(),
                worker_threads());
  prop->totalGlobalMem = capacity();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = multiprocessors();
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  if (!free_bytes || !total) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(memory_mu);
  *total = capacity();
  *free_bytes = capacity() - allocated;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return fail(cudaErrorInvalidValue);
  *version = 0;  // no CUDA runtime: the emulator's own
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return fail(cudaErrorInvalidValue);
  *version = 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  std::lock_guard<std::mutex> lock(memory_mu);
  if (size > capacity() - allocated) return fail(cudaErrorMemoryAllocation);
  void* p = nullptr;
  if (posix_memalign(&p, 256, size ? size : 1) != 0) return fail(cudaErrorMemoryAllocation);
  allocations[p] = size;
  allocated += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::lock_guard<std::mutex> lock(memory_mu);
  auto it = allocations.find(ptr);
  if (it == allocations.end()) return fail(cudaErrorInvalidDevicePointer);
  allocated -= it->second;
  allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t size) { return cudaHostAlloc(ptr, size, 0); }
cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  if (posix_memalign(ptr, 64, size ? size : 1) != 0) {
    *ptr = nullptr;
    return fail(cudaErrorMemoryAllocation);
  }
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  if (int(kind) < 0 || int(kind) > 4) return fail(cudaErrorInvalidMemcpyDirection);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, count, kind);
}
cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count == 0) return cudaSuccess;
  if (!ptr) return fail(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) { return cudaMemset(ptr, value, count); }

cudaError_t cudaDeviceSynchronize(void) {
  complete_events(nullptr, true);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  if (!stream) return fail(cudaErrorInvalidValue);
  *stream = reinterpret_cast<cudaStream_t>(new Stream());
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return fail(cudaErrorInvalidResourceHandle);
  delete reinterpret_cast<Stream*>(stream);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  complete_events(stream, false);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t event, unsigned int) {
  return event ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  if (!event) return fail(cudaErrorInvalidValue);
  auto* e = new Event();
  {
    std::lock_guard<std::mutex> lock(event_mu);
    live_events[e] = true;
  }
  *event = reinterpret_cast<cudaEvent_t>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  auto* e = reinterpret_cast<Event*>(event);
  std::lock_guard<std::mutex> lock(event_mu);
  e->at = std::chrono::steady_clock::now();
  e->recorded = true;
  e->stream = stream;
  e->lag = event_lag();
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  auto* e = reinterpret_cast<Event*>(event);
  std::lock_guard<std::mutex> lock(event_mu);
  if (e->lag == 0) return cudaSuccess;
  e->lag--;
  return cudaErrorNotReady;  // not an error: not recorded as the last error, as on a GPU
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::mutex> lock(event_mu);
  reinterpret_cast<Event*>(event)->lag = 0;
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue);
  if (!start || !end) return fail(cudaErrorInvalidResourceHandle);
  auto* a = reinterpret_cast<Event*>(start);
  auto* b = reinterpret_cast<Event*>(end);
  if (!a->recorded || !b->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  auto* e = reinterpret_cast<Event*>(event);
  {
    std::lock_guard<std::mutex> lock(event_mu);
    live_events.erase(e);
  }
  delete e;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (!func || value < 0) return fail(cudaErrorInvalidValue);
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;  // other hints change nothing here
  if (size_t(value) > 227 * 1024) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(attribute_mu);
  shared_opt_in[func] = size_t(value);
  return cudaSuccess;
}
}  // extern "C"
