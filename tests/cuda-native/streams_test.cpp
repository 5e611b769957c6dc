// Stream order on the emulated device (cuda-kernels/emu/src/streams.cpp). Under SOMA_EMU_STREAMS=deferred work
// queued on a stream runs only when something observes it, so a read that CUDA does not order after a write sees
// the old data, as it may on a GPU; at the call (the default) every read sees the new data. Each check states what
// both modes must answer, which is how this program proves that the deferred mode catches what the default cannot
// (the first real-GPU run found a plain cudaMemcpy reading a result still being computed on a non-blocking stream).
// Device memory is host memory here, so `p[0]` on the host shows whether queued work has run yet.
#include "stream_kernels.h"
#include "test_util.h"

#include <cuda_runtime.h>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace emu_test;

namespace {
constexpr int kN = 300;  // three blocks of 128
bool deferred = false;
size_t event_lag = 0;

float* device_floats() {
  void* p = nullptr;
  TU_CHECK(cudaMalloc(&p, kN * sizeof(float)) == cudaSuccess, "cudaMalloc");
  return static_cast<float*>(p);
}

// Every element set to v and the device idle: the "old data" of a check.
void settle(float* p, float v) {
  TU_CHECK(fill_on(nullptr, p, kN, v) == 0, "fill");
  TU_CHECK(cudaDeviceSynchronize() == cudaSuccess, "cudaDeviceSynchronize");
}

// The value a plain cudaMemcpy (legacy default stream, then a host wait) reads; NaN if the elements differ.
float read_legacy(const float* p) {
  std::vector<float> h(kN, -1.0f);
  TU_CHECK(cudaMemcpy(h.data(), p, kN * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess, "cudaMemcpy");
  for (float x : h)
    if (x != h[0]) return std::nanf("");
  return h[0];
}

// A copy on `stream` followed by a wait for that stream: the correct way to read work queued on it.
float read_on(cudaStream_t stream, const float* p) {
  std::vector<float> h(kN, -1.0f);
  TU_CHECK(cudaMemcpyAsync(h.data(), p, kN * sizeof(float), cudaMemcpyDeviceToHost, stream) == cudaSuccess, "async");
  TU_CHECK(cudaStreamSynchronize(stream) == cudaSuccess, "cudaStreamSynchronize");
  for (float x : h)
    if (x != h[0]) return std::nanf("");
  return h[0];
}

float stale_or(float old_value, float new_value) { return deferred ? old_value : new_value; }

// The H200 bug of CudaOptimizer.sumSquares: kernel on a non-blocking stream, result read by a plain cudaMemcpy.
void test_non_blocking_vs_legacy_copy() {
  cudaStream_t s;
  TU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
  float* p = device_floats();
  settle(p, 1.0f);
  TU_CHECK(fill_on(s, p, kN, 7.0f) == 0, "fill");
  TU_CHECK(p[0] == stale_or(1.0f, 7.0f), "deferred: the launch has not run yet (p[0] = %g)", p[0]);
  float got = read_legacy(p);
  TU_CHECK(got == stale_or(1.0f, 7.0f), "a legacy cudaMemcpy does not wait for a non-blocking stream: read %g", got);
  got = read_on(s, p);
  TU_CHECK(got == 7.0f, "a copy on the kernel's stream, then its synchronisation, reads the result: %g", got);
  TU_CHECK(cudaStreamDestroy(s) == cudaSuccess, "destroy");
  TU_CHECK(cudaFree(p) == cudaSuccess, "free");
}

// A blocking stream (flags 0) and the legacy stream synchronise both ways.
void test_blocking_stream_and_legacy() {
  cudaStream_t b;
  TU_CHECK(cudaStreamCreate(&b) == cudaSuccess, "stream");
  float* p = device_floats();
  float* q = device_floats();
  settle(p, 1.0f);
  settle(q, 0.0f);
  TU_CHECK(fill_on(b, p, kN, 7.0f) == 0, "fill");
  float got = read_legacy(p);
  TU_CHECK(got == 7.0f, "a legacy cudaMemcpy waits for a blocking stream's earlier work: read %g", got);
  // Legacy work first, then blocking-stream work that reads it: ordered without any call of ours.
  TU_CHECK(cudaMemset(p, 0, kN * sizeof(float)) == cudaSuccess, "memset");  // legacy, asynchronous to the host
  TU_CHECK(deferred ? p[0] == 7.0f : p[0] == 0.0f, "cudaMemset does not wait: p[0] = %g", p[0]);
  TU_CHECK(fill_on(nullptr, p, kN, 3.0f) == 0, "fill");
  TU_CHECK(add_on(b, q, p, kN) == 0, "add");
  got = read_on(b, q);
  TU_CHECK(got == 3.0f, "a blocking stream's later work waits for the legacy stream's: q = %g", got);
  // A blocking stream's pending work still holds back legacy work after the stream is destroyed.
  TU_CHECK(fill_on(b, p, kN, 4.0f) == 0, "fill");
  TU_CHECK(cudaStreamDestroy(b) == cudaSuccess, "destroy");
  got = read_legacy(p);
  TU_CHECK(got == 4.0f, "legacy work waits for a destroyed blocking stream's queued work: read %g", got);
  TU_CHECK(cudaFree(p) == cudaSuccess && cudaFree(q) == cudaSuccess, "free");
}

// Legacy work is not waited for by a non-blocking stream either.
void test_legacy_then_non_blocking() {
  cudaStream_t s;
  TU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
  float* p = device_floats();
  float* q = device_floats();
  settle(p, 1.0f);
  settle(q, 0.0f);
  TU_CHECK(fill_on(nullptr, p, kN, 5.0f) == 0, "fill");
  TU_CHECK(add_on(s, q, p, kN) == 0, "add");
  float got = read_on(s, q);
  TU_CHECK(got == stale_or(1.0f, 5.0f), "a non-blocking stream does not wait for legacy work: q = %g", got);
  TU_CHECK(cudaDeviceSynchronize() == cudaSuccess, "sync");
  TU_CHECK(p[0] == 5.0f, "cudaDeviceSynchronize runs everything: p[0] = %g", p[0]);
  TU_CHECK(cudaStreamDestroy(s) == cudaSuccess, "destroy");
  TU_CHECK(cudaFree(p) == cudaSuccess && cudaFree(q) == cudaSuccess, "free");
}

// Events and cudaStreamWaitEvent order work across two non-blocking streams; without the wait it is a race.
void test_events_across_streams() {
  cudaStream_t producer, consumer;
  TU_CHECK(cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking) == cudaSuccess, "stream");
  TU_CHECK(cudaStreamCreateWithFlags(&consumer, cudaStreamNonBlocking) == cudaSuccess, "stream");
  cudaEvent_t done;
  TU_CHECK(cudaEventCreate(&done) == cudaSuccess, "event");
  float* a = device_floats();
  float* b = device_floats();
  settle(a, 1.0f);
  settle(b, 0.0f);
  TU_CHECK(fill_on(producer, a, kN, 5.0f) == 0, "fill");
  TU_CHECK(cudaEventRecord(done, producer) == cudaSuccess, "record");
  TU_CHECK(cudaStreamWaitEvent(consumer, done, 0) == cudaSuccess, "wait");
  TU_CHECK(add_on(consumer, b, a, kN) == 0, "add");
  float got = read_on(consumer, b);
  TU_CHECK(got == 5.0f, "the consumer waited for the producer's event: b = %g", got);
  // (At the call, SOMA_EMU_EVENT_LAG keeps answering not-ready until the event or its own stream is synchronised.)
  if (deferred || event_lag == 0)
    TU_CHECK(cudaEventQuery(done) == cudaSuccess, "the event is complete once its work ran");
  TU_CHECK(cudaEventSynchronize(done) == cudaSuccess, "event sync");

  settle(b, 0.0f);
  TU_CHECK(fill_on(producer, a, kN, 9.0f) == 0, "fill");
  TU_CHECK(add_on(consumer, b, a, kN) == 0, "add");  // no wait: a race on a GPU
  got = read_on(consumer, b);
  TU_CHECK(got == stale_or(5.0f, 9.0f), "without cudaStreamWaitEvent the consumer reads the old data: b = %g", got);
  TU_CHECK(cudaEventSynchronize(done) == cudaSuccess, "event sync");
  TU_CHECK(a[0] == stale_or(5.0f, 9.0f), "an event covers only the work before its record: a[0] = %g", a[0]);
  TU_CHECK(cudaStreamSynchronize(producer) == cudaSuccess && a[0] == 9.0f, "stream sync: a[0] = %g", a[0]);

  // Event queries: SOMA_EMU_EVENT_LAG not-ready answers, then (deferred) the recorded work runs.
  TU_CHECK(fill_on(producer, a, kN, 11.0f) == 0, "fill");
  TU_CHECK(cudaEventRecord(done, producer) == cudaSuccess, "record");
  for (size_t i = 0; i < event_lag; ++i) {
    TU_CHECK(cudaEventQuery(done) == cudaErrorNotReady, "query %zu of %zu answers not ready", i + 1, event_lag);
    TU_CHECK(a[0] == stale_or(9.0f, 11.0f), "not ready: the recorded work has not run (a[0] = %g)", a[0]);
  }
  TU_CHECK(cudaEventQuery(done) == cudaSuccess, "then complete");
  TU_CHECK(a[0] == 11.0f, "a complete event's work has run: a[0] = %g", a[0]);

  cudaEvent_t start, end;
  TU_CHECK(cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&end) == cudaSuccess, "events");
  TU_CHECK(cudaEventRecord(start, producer) == cudaSuccess, "record");
  TU_CHECK(fill_on(producer, a, kN, 12.0f) == 0, "fill");
  TU_CHECK(cudaEventRecord(end, producer) == cudaSuccess, "record");
  float ms = -1;
  if (deferred)
    TU_CHECK(cudaEventElapsedTime(&ms, start, end) == cudaErrorNotReady, "elapsed time of events not yet complete");
  TU_CHECK(cudaEventSynchronize(end) == cudaSuccess, "sync");
  TU_CHECK(cudaEventElapsedTime(&ms, start, end) == cudaSuccess && ms >= 0, "elapsed %g ms", ms);
  for (cudaEvent_t e : {done, start, end}) TU_CHECK(cudaEventDestroy(e) == cudaSuccess, "destroy event");
  TU_CHECK(cudaStreamDestroy(producer) == cudaSuccess && cudaStreamDestroy(consumer) == cudaSuccess, "destroy");
  TU_CHECK(cudaFree(a) == cudaSuccess && cudaFree(b) == cudaSuccess, "free");
}

// A launch copies its arguments when it is made; a host-to-device cudaMemcpy stages its source at the call.
void test_captured_at_enqueue() {
  cudaStream_t s;
  TU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
  float* p = device_floats();
  float* q = device_floats();
  settle(p, 0.0f);
  settle(q, 0.0f);
  TU_CHECK(fill_twice_from_one_struct(s, p, q, kN) == 0, "launches");
  float gp = read_on(s, p), gq = read_on(s, q);
  TU_CHECK(gp == 1.0f && gq == 2.0f, "each launch ran with the struct as it was at its launch: p %g, q %g", gp, gq);

  std::vector<float> h(kN, 6.0f);
  TU_CHECK(cudaMemcpy(p, h.data(), kN * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess, "copy");
  std::fill(h.begin(), h.end(), -6.0f);  // the caller may reuse its buffer as soon as cudaMemcpy returns
  float got = read_legacy(p);
  TU_CHECK(got == 6.0f, "cudaMemcpy from the host copied what the buffer held at the call: %g", got);
  TU_CHECK(cudaStreamDestroy(s) == cudaSuccess, "destroy");
  TU_CHECK(cudaFree(p) == cudaSuccess && cudaFree(q) == cudaSuccess, "free");
}

// cudaFree synchronises the device; a misuse in a deferred kernel is answered by the call that runs it.
void test_free_and_deferred_misuse() {
  cudaStream_t s;
  TU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
  float* p = device_floats();
  float* other = device_floats();
  settle(p, 0.0f);
  TU_CHECK(fill_on(s, p, kN, 8.0f) == 0, "fill");
  TU_CHECK(cudaFree(other) == cudaSuccess, "free");
  TU_CHECK(p[0] == 8.0f, "cudaFree ran the queued work first: p[0] = %g", p[0]);

  const int launched = partial_barrier_on(s, p);
  const int synced = cudaStreamSynchronize(s);
  const std::string why = soma_emu_last_message();
  if (deferred) {
    TU_CHECK(launched == 0, "a deferred launch is accepted: %d", launched);
    TU_CHECK(synced == cudaErrorLaunchFailure, "the synchronisation answers the kernel's misuse: %d", synced);
  } else {
    TU_CHECK(launched == cudaErrorLaunchFailure, "the launch answers the misuse: %d", launched);
    TU_CHECK(synced == cudaSuccess, "nothing left to report: %d", synced);
  }
  TU_CHECK(why.find("partial_barrier_kernel") != std::string::npos && why.find("streams.cu") != std::string::npos,
           "the message names the kernel and its file: %s", why.c_str());
  cudaGetLastError();
  TU_CHECK(cudaStreamSynchronize(s) == cudaSuccess, "reported once");
  TU_CHECK(cudaStreamDestroy(s) == cudaSuccess, "destroy");
  TU_CHECK(cudaFree(p) == cudaSuccess, "free");
}
}  // namespace

int main() {
  const char* mode = std::getenv("SOMA_EMU_STREAMS");
  deferred = mode && std::strcmp(mode, "deferred") == 0;
  const char* lag = std::getenv("SOMA_EMU_EVENT_LAG");
  event_lag = lag ? size_t(std::strtoull(lag, nullptr, 10)) : 0;
  const std::string name = std::string("cuda_streams (") + (deferred ? "deferred" : "at the call") +
                           ", event lag " + std::to_string(event_lag) + ")";
  tu::banner(name.c_str());
  test_non_blocking_vs_legacy_copy();
  test_blocking_stream_and_legacy();
  test_legacy_then_non_blocking();
  test_events_across_streams();
  test_captured_at_enqueue();
  test_free_and_deferred_misuse();
  return tu::finish(name.c_str());
}
