// soma.h's NCCL collectives. The nvcc build opens NVIDIA's libnccl.so.2 with dlopen the first time it is asked
// (SOMA_NCCL_LIBRARY names another file), declaring the few functions it calls itself, so neither the build nor a
// machine without NCCL needs it. The emulated build forwards to the emulator's stand-in (soma_emu_nccl.h).
#include "soma.h"
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#if defined(SOMA_CUDA_EMULATED)
#include "soma_emu_nccl.h"
#else
#include <dlfcn.h>
#endif

namespace {

// The calling thread's last failure. A kernel library of the emulated device must hold no thread_local of its own
// (the scheduler poisons its TLS segment at every block start: soma_emu.h), so there it lives in the emulator.
#if defined(SOMA_CUDA_EMULATED)
std::string& last_error_slot() { return soma_emu::nccl_error_slot(); }
#else
std::string& last_error_slot() {
  static thread_local std::string text;
  return text;
}
#endif

int fail(const std::string& why) {
  last_error_slot() = why;
  return SOMA_NCCL_ERROR;
}

int copy_text(const std::string& text, char* out, int out_len) {
  if (out == nullptr || out_len <= 0) return 0;
  size_t n = std::min(text.size(), size_t(out_len) - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
  return 0;
}

#if defined(SOMA_CUDA_EMULATED)
int answer(const std::string& error) { return error.empty() ? 0 : fail(error); }
#endif

#if !defined(SOMA_CUDA_EMULATED)
// NCCL's C ABI, as nccl.h declares it (stable since NCCL 2.0; ncclCommGetAsyncError since 2.4, ncclCommAbort
// since 2.4, ncclGetLastError since 2.13 and optional here).
struct NcclId {
  char internal[SOMA_NCCL_ID_BYTES];
};
typedef void* NcclCommT;
enum { kNcclSuccess = 0, kNcclInProgress = 7, kNcclSum = 0, kNcclInt32 = 2, kNcclFloat32 = 7, kNcclFloat64 = 8 };

struct Api {
  int (*get_version)(int*) = nullptr;
  int (*get_unique_id)(NcclId*) = nullptr;
  int (*comm_init_rank)(NcclCommT*, int, NcclId, int) = nullptr;
  int (*all_reduce)(const void*, void*, size_t, int, int, NcclCommT, cudaStream_t) = nullptr;
  int (*broadcast)(const void*, void*, size_t, int, int, NcclCommT, cudaStream_t) = nullptr;
  int (*comm_destroy)(NcclCommT) = nullptr;
  int (*comm_abort)(NcclCommT) = nullptr;
  int (*get_async_error)(NcclCommT, int*) = nullptr;
  const char* (*error_string)(int) = nullptr;
  const char* (*get_last_error)(NcclCommT) = nullptr;
};

Api api;
std::once_flag once;
std::string open_error;  // empty once opened
std::string open_info;

template <typename F>
bool bind(void* lib, const char* name, F* slot, bool required) {
  *slot = reinterpret_cast<F>(dlsym(lib, name));
  if (*slot == nullptr && required) {
    open_error = std::string("the NCCL library has no ") + name;
    return false;
  }
  return true;
}

void open_library() {
  const char* env = std::getenv("SOMA_NCCL_LIBRARY");
  std::string path = env != nullptr && *env ? env : "libnccl.so.2";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    open_error = "opening " + path + " failed: " + (why ? why : "unknown dlopen error") +
                 " (install NCCL, or name the library with SOMA_NCCL_LIBRARY)";
    return;
  }
  if (!bind(lib, "ncclGetVersion", &api.get_version, true) || !bind(lib, "ncclGetUniqueId", &api.get_unique_id, true) ||
      !bind(lib, "ncclCommInitRank", &api.comm_init_rank, true) || !bind(lib, "ncclAllReduce", &api.all_reduce, true) ||
      !bind(lib, "ncclBroadcast", &api.broadcast, true) || !bind(lib, "ncclCommDestroy", &api.comm_destroy, true) ||
      !bind(lib, "ncclCommAbort", &api.comm_abort, true) ||
      !bind(lib, "ncclCommGetAsyncError", &api.get_async_error, true) ||
      !bind(lib, "ncclGetErrorString", &api.error_string, true)) {
    return;
  }
  bind(lib, "ncclGetLastError", &api.get_last_error, false);
  int v = 0;
  api.get_version(&v);
  // NCCL_VERSION(X,Y,Z) is X*1000+Y*100+Z before 2.9 and X*10000+Y*100+Z from 2.9 on.
  int major = v >= 10000 ? v / 10000 : v / 1000, minor = v >= 10000 ? (v / 100) % 100 : (v / 100) % 10, patch = v % 100;
  open_info = "NCCL " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) + " from " + path;
}

bool opened() {
  std::call_once(once, open_library);
  return open_error.empty();
}

std::string nccl_error(int result, NcclCommT comm) {
  std::string s = api.error_string ? api.error_string(result) : "NCCL error";
  s += " (ncclResult_t " + std::to_string(result) + ")";
  if (api.get_last_error != nullptr) {
    const char* detail = api.get_last_error(comm);
    if (detail != nullptr && *detail) s += ": " + std::string(detail);
  }
  return s;
}

int nccl_type(int dtype) {
  switch (dtype) {
    case SOMA_F32: return kNcclFloat32;
    case SOMA_F64: return kNcclFloat64;
    case SOMA_I32: return kNcclInt32;
    default: return -1;
  }
}
#endif

}  // namespace

extern "C" {

int soma_cuda_nccl_open(char* info, int info_len) {
#if defined(SOMA_CUDA_EMULATED)
  return copy_text("the emulated device's NCCL stand-in (POSIX shared memory between the ranks of one machine)", info,
                   info_len);
#else
  if (!opened()) return fail(open_error);
  return copy_text(open_info, info, info_len);
#endif
}

int soma_cuda_nccl_error_text(char* out, int out_len) { return copy_text(last_error_slot(), out, out_len); }

int soma_cuda_nccl_unique_id(uint8_t* id) {
  if (id == nullptr) return fail("the id buffer is null");
#if defined(SOMA_CUDA_EMULATED)
  return answer(soma_emu::nccl_unique_id(id));
#else
  if (!opened()) return fail(open_error);
  NcclId nid;
  int r = api.get_unique_id(&nid);
  if (r != kNcclSuccess) return fail("ncclGetUniqueId: " + nccl_error(r, nullptr));
  std::memcpy(id, nid.internal, SOMA_NCCL_ID_BYTES);
  return 0;
#endif
}

int soma_cuda_nccl_comm_init(int nranks, const uint8_t* id, int rank, double timeout_seconds, void** comm) {
  if (comm == nullptr || id == nullptr) return fail("a null id or communicator pointer");
  *comm = nullptr;
#if defined(SOMA_CUDA_EMULATED)
  soma_emu::NcclComm* c = nullptr;
  std::string e = soma_emu::nccl_comm_init(nranks, id, rank, timeout_seconds, &c);
  *comm = c;
  return answer(e);
#else
  (void)timeout_seconds;  // NCCL's own bootstrap bounds the join (NCCL_* environment variables)
  if (!opened()) return fail(open_error);
  NcclId nid;
  std::memcpy(nid.internal, id, SOMA_NCCL_ID_BYTES);
  NcclCommT c = nullptr;
  int r = api.comm_init_rank(&c, nranks, nid, rank);
  if (r != kNcclSuccess) return fail("ncclCommInitRank: " + nccl_error(r, c));
  *comm = c;
  return 0;
#endif
}

int soma_cuda_nccl_all_reduce_sum(void* comm, const void* send, void* recv, int64_t count, int dtype, void* stream) {
  if (comm == nullptr) return fail("the communicator is null");
  if (count < 0) return fail("count " + std::to_string(count) + " is negative");
#if defined(SOMA_CUDA_EMULATED)
  return answer(soma_emu::nccl_all_reduce_sum(static_cast<soma_emu::NcclComm*>(comm), send, recv, count, dtype,
                                              static_cast<cudaStream_t>(stream)));
#else
  int t = nccl_type(dtype);
  if (t < 0) return fail("dtype " + std::to_string(dtype) + " is not float32, float64 or int32");
  int r = api.all_reduce(send, recv, size_t(count), t, kNcclSum, comm, static_cast<cudaStream_t>(stream));
  return r == kNcclSuccess ? 0 : fail("ncclAllReduce: " + nccl_error(r, comm));
#endif
}

int soma_cuda_nccl_broadcast(void* comm, const void* send, void* recv, int64_t count, int dtype, int root,
                             void* stream) {
  if (comm == nullptr) return fail("the communicator is null");
  if (count < 0) return fail("count " + std::to_string(count) + " is negative");
#if defined(SOMA_CUDA_EMULATED)
  return answer(soma_emu::nccl_broadcast(static_cast<soma_emu::NcclComm*>(comm), send, recv, count, dtype, root,
                                         static_cast<cudaStream_t>(stream)));
#else
  int t = nccl_type(dtype);
  if (t < 0) return fail("dtype " + std::to_string(dtype) + " is not float32, float64 or int32");
  int r = api.broadcast(send, recv, size_t(count), t, root, comm, static_cast<cudaStream_t>(stream));
  return r == kNcclSuccess ? 0 : fail("ncclBroadcast: " + nccl_error(r, comm));
#endif
}

int soma_cuda_nccl_comm_check(void* comm, int* failed) {
  if (comm == nullptr || failed == nullptr) return fail("a null communicator or answer pointer");
#if defined(SOMA_CUDA_EMULATED)
  std::string e = soma_emu::nccl_check(static_cast<soma_emu::NcclComm*>(comm));
  *failed = e.empty() ? 0 : 1;
  if (!e.empty()) last_error_slot() = e;
  return 0;
#else
  int async = kNcclSuccess;
  int r = api.get_async_error(comm, &async);
  if (r != kNcclSuccess) return fail("ncclCommGetAsyncError: " + nccl_error(r, comm));
  *failed = async == kNcclSuccess || async == kNcclInProgress ? 0 : 1;
  if (*failed) last_error_slot() = nccl_error(async, comm);
  return 0;
#endif
}

int soma_cuda_nccl_comm_destroy(void* comm) {
  if (comm == nullptr) return 0;
#if defined(SOMA_CUDA_EMULATED)
  soma_emu::nccl_destroy(static_cast<soma_emu::NcclComm*>(comm));
  return 0;
#else
  int r = api.comm_destroy(comm);
  return r == kNcclSuccess ? 0 : fail("ncclCommDestroy: " + nccl_error(r, nullptr));
#endif
}

int soma_cuda_nccl_comm_abort(void* comm) {
  if (comm == nullptr) return 0;
#if defined(SOMA_CUDA_EMULATED)
  soma_emu::nccl_abort(static_cast<soma_emu::NcclComm*>(comm));
  return 0;
#else
  int r = api.comm_abort(comm);
  return r == kNcclSuccess ? 0 : fail("ncclCommAbort: " + nccl_error(r, nullptr));
#endif
}

}  // extern "C"
