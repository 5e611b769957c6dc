// The CUDA runtime calls of our kernel files and of runtime.cu, for the emulated device: device memory is host
// memory (exact sizes, so AddressSanitizer sees a kernel's first byte out of bounds). Launches, copies, memsets and
// event records are Ops on streams (streams.cpp): run at the call by default, or, with SOMA_EMU_STREAMS=deferred,
// queued in stream order until something observes them, so a read not ordered after a write sees the old data as
// it may on a GPU. Which calls wait for what follows the CUDA runtime's "API synchronization behavior" notes.
// Error numbers are the toolkit's.
#include "soma_emu.h"
#include "streams.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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

// An event is the marker Op its record queued (at is its timestamp). At the call (the default) that Op has run by
// the time cudaEventRecord returns; SOMA_EMU_EVENT_LAG=k then makes cudaEventQuery answer cudaErrorNotReady for
// the first k queries after each record (until a synchronisation of the event, its stream or the device), so
// callers' "not finished yet" paths (the pool's cross-stream guard) run on the emulator too. Deferred, the
// marker runs when observed: a query answers not-ready k times, then runs the recorded work and answers done.
struct Event {
  OpRef op;  // null until recorded
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
  unsigned flags = 0;
};

bool valid_kind(cudaMemcpyKind kind) { return int(kind) >= 0 && int(kind) <= 4; }

// The answer of a call that queued `op` and, as CUDA's call does, waits for it.
cudaError_t wait_for(const OpRef& op, int queued_status) {
  int s = queued_status != 0 ? queued_status : complete(op);
  return cudaError_t(s);
}

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
  // cudaFree synchronises the device first: queued work that uses the block runs before it goes.
  const int pending = complete_all();
  std::lock_guard<std::mutex> lock(memory_mu);
  auto it = allocations.find(ptr);
  if (it == allocations.end()) return fail(cudaErrorInvalidDevicePointer);
  allocated -= it->second;
  allocations.erase(it);
  std::free(ptr);
  return pending != 0 ? fail(cudaError_t(pending)) : cudaSuccess;
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
  const int pending = complete_all();  // as cudaFree: the device is synchronised first
  std::free(ptr);
  return pending != 0 ? fail(cudaError_t(pending)) : cudaSuccess;
}

// cudaMemcpy is legacy-stream work; how long the host waits depends on the direction, as CUDA documents it:
// to the host and host to host it returns once the copy is done; from the host to the device the source is staged
// at the call (the caller may reuse it) and the copy into the device is ordered on the legacy stream; device to
// device it does not wait at all.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  if (!valid_kind(kind)) return fail(cudaErrorInvalidMemcpyDirection);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  int status = 0;
  if (kind == cudaMemcpyHostToDevice && deferred_streams()) {
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                               static_cast<const unsigned char*>(src) + count);
    enqueue(nullptr, [=] { std::memcpy(dst, staged->data(), count); return 0; }, &status);
    return cudaError_t(status);
  }
  OpRef op = enqueue(nullptr, [=] { std::memmove(dst, src, count); return 0; }, &status);
  if (kind == cudaMemcpyDeviceToDevice) return cudaError_t(status);
  return wait_for(op, status);
}
// On a stream and not waited for, whatever the memory: copies between the device and pageable host memory "might
// be synchronous" on a GPU, so code that relies on it is not ordered; only host-to-host copies are synchronous.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream) {
  if (!valid_kind(kind)) return fail(cudaErrorInvalidMemcpyDirection);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  int status = 0;
  OpRef op = enqueue(stream, [=] { std::memmove(dst, src, count); return 0; }, &status);
  return kind == cudaMemcpyHostToHost ? wait_for(op, status) : cudaError_t(status);
}
// cudaMemset is asynchronous to the host (device memory): legacy-stream work that nothing waits for.
cudaError_t cudaMemset(void* ptr, int value, size_t count) { return cudaMemsetAsync(ptr, value, count, nullptr); }
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  if (!ptr) return fail(cudaErrorInvalidValue);
  int status = 0;
  enqueue(stream, [=] { std::memset(ptr, value, count); return 0; }, &status);
  return cudaError_t(status);
}

// A synchronisation answers the first failure of the deferred work it ran (a kernel misuse, named in
// soma_emu_last_message), as a GPU reports an asynchronous fault at the next synchronisation.
cudaError_t cudaDeviceSynchronize(void) {
  int s = complete_all();
  complete_events(nullptr, true);
  return s != 0 ? fail(cudaError_t(s)) : cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (!stream) return fail(cudaErrorInvalidValue);
  auto* s = new Stream();
  s->flags = flags;
  *stream = reinterpret_cast<cudaStream_t>(s);
  stream_created(*stream, (flags & cudaStreamNonBlocking) == 0);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return fail(cudaErrorInvalidResourceHandle);
  stream_destroyed(stream);
  delete reinterpret_cast<Stream*>(stream);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  int s = complete_stream(stream);
  complete_events(stream, false);
  return s != 0 ? fail(cudaError_t(s)) : cudaSuccess;
}
// Deferred, a query observes the stream: its work runs and the answer is "done" (no lag: nothing of ours polls).
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  int s = complete_stream(stream);
  return s != 0 ? fail(cudaError_t(s)) : cudaSuccess;
}
// The stream's later work waits for the work recorded before the event (nothing, if it was never recorded).
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  OpRef recorded;
  {
    std::lock_guard<std::mutex> lock(event_mu);
    recorded = reinterpret_cast<Event*>(event)->op;
  }
  if (!recorded || is_done(recorded)) return cudaSuccess;
  int status = 0;
  enqueue(stream, nullptr, &status, {recorded});
  return cudaError_t(status);
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
  int status = 0;
  OpRef marker = enqueue(stream, nullptr, &status);
  std::lock_guard<std::mutex> lock(event_mu);
  e->op = marker;
  e->stream = stream;
  e->lag = event_lag();
  return cudaError_t(status);
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  auto* e = reinterpret_cast<Event*>(event);
  OpRef marker;
  {
    std::lock_guard<std::mutex> lock(event_mu);
    if (!e->op) return cudaSuccess;  // never recorded: complete, as CUDA answers
    if (deferred_streams() && is_done(e->op)) return cudaSuccess;
    if (e->lag > 0) {
      e->lag--;
      return cudaErrorNotReady;  // not an error: not recorded as the last error, as on a GPU
    }
    marker = e->op;
  }
  int s = complete(marker);  // deferred: after k not-ready answers the recorded work runs now
  return s != 0 ? fail(cudaError_t(s)) : cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  auto* e = reinterpret_cast<Event*>(event);
  OpRef marker;
  {
    std::lock_guard<std::mutex> lock(event_mu);
    e->lag = 0;
    marker = e->op;
  }
  int s = complete(marker);
  return s != 0 ? fail(cudaError_t(s)) : cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue);
  if (!start || !end) return fail(cudaErrorInvalidResourceHandle);
  auto* a = reinterpret_cast<Event*>(start);
  auto* b = reinterpret_cast<Event*>(end);
  if (!a->op || !b->op) return fail(cudaErrorInvalidResourceHandle);
  if (!is_done(a->op) || !is_done(b->op)) return cudaErrorNotReady;  // as a GPU answers before the events completed
  *ms = std::chrono::duration<float, std::milli>(b->op->at - a->op->at).count();
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
