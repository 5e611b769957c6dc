// libsoma_cuda.so: the library Java's JNI glue links, built by the host compiler alone (no CUDA needed). Every
// soma_cuda_* entry forwards to the kernel library that soma_cuda_open loaded at run time: libsoma_cuda_nv.so
// (nvcc, a real device) or libsoma_cuda_emu.so (the emulated device). So one jar carries both, the glue always
// links, and a machine without CUDA never loads a CUDA library it cannot resolve.
#include "soma.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

#ifndef SOMA_CUDA_REASON
#define SOMA_CUDA_REASON "unknown"
#endif

namespace {

struct Table {
#define SOMA_CUDA_ENTRY(name, params, args) int(*name) params = nullptr;
#include "soma_cuda_entries.inc"
#undef SOMA_CUDA_ENTRY
  int (*kind)(void) = nullptr;
  const char* (*build_info)(void) = nullptr;
  const char* (*status_string)(int) = nullptr;
};

// Written once under `mu` before `opened` is released; the forwarding entries read it after acquiring `opened`.
Table table;
std::atomic<bool> opened{false};
std::mutex mu;
std::string opened_path;
std::string not_opened_why = "soma_cuda_open was not called";

// Status strings must outlive the call: one buffer per thread, overwritten by that thread's next call.
thread_local std::string message;
thread_local std::string info_message;
thread_local const char* missing_entry = nullptr;

int missing(const char* name) {
  missing_entry = name;
  return SOMA_CUDA_MISSING_ENTRY;
}

void copy_error(const std::string& text, char* error, int error_len) {
  if (error == nullptr || error_len <= 0) return;
  size_t n = std::min(text.size(), static_cast<size_t>(error_len) - 1);
  std::memcpy(error, text.data(), n);
  error[n] = '\0';
}

template <typename F>
void bind(void* lib, const char* name, F* slot) {
  *slot = reinterpret_cast<F>(dlsym(lib, name));  // null: that entry answers SOMA_CUDA_MISSING_ENTRY
}

}  // namespace

extern "C" {

int soma_cuda_open(const char* library_path, char* error, int error_len) {
  std::lock_guard<std::mutex> lock(mu);
  std::string path = library_path == nullptr ? "" : library_path;
  if (opened.load(std::memory_order_relaxed)) {
    if (path == opened_path) return 0;
    copy_error("a CUDA library is already open (" + opened_path + "); cannot also open " + path, error, error_len);
    return -1;
  }
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    not_opened_why = "opening " + path + " failed: " + (why ? why : "unknown dlopen error");
    copy_error(not_opened_why, error, error_len);
    return -1;
  }
#define SOMA_CUDA_ENTRY(name, params, args) bind(lib, #name, &table.name);
#include "soma_cuda_entries.inc"
#undef SOMA_CUDA_ENTRY
  bind(lib, "soma_cuda_kind", &table.kind);
  bind(lib, "soma_cuda_build_info", &table.build_info);
  bind(lib, "soma_cuda_status_string", &table.status_string);
  opened_path = path;
  opened.store(true, std::memory_order_release);
  return 0;
}

int soma_cuda_kind(void) {
  if (!opened.load(std::memory_order_acquire) || table.kind == nullptr) return 0;
  return table.kind();
}

int soma_cuda_built(void) { return soma_cuda_kind(); }

const char* soma_cuda_build_info(void) {
  if (opened.load(std::memory_order_acquire)) {
    if (table.build_info != nullptr) return table.build_info();
    std::lock_guard<std::mutex> lock(mu);
    info_message = opened_path + " (it has no soma_cuda_build_info)";
    return info_message.c_str();
  }
  std::lock_guard<std::mutex> lock(mu);
  info_message = "no CUDA kernel library opened (" + not_opened_why + "); nvcc kernels: " SOMA_CUDA_REASON;
  return info_message.c_str();
}

const char* soma_cuda_status_string(int status) {
  if (status == SOMA_CUDA_NOT_OPENED) {
    std::lock_guard<std::mutex> lock(mu);
    message = "no CUDA kernel library opened (" + not_opened_why + ")";
    return message.c_str();
  }
  if (status == SOMA_CUDA_MISSING_ENTRY) {
    std::lock_guard<std::mutex> lock(mu);
    message = std::string(missing_entry ? missing_entry : "a soma_cuda_* function") + " is missing from " +
              opened_path + " (a kernel library older than this Soma build?)";
    return message.c_str();
  }
  if (opened.load(std::memory_order_acquire) && table.status_string != nullptr) return table.status_string(status);
  message = status == 0 ? "no error" : "CUDA error " + std::to_string(status) + " (no CUDA library opened to name it)";
  return message.c_str();
}

#define SOMA_CUDA_ENTRY(name, params, args)                                      \
  int name params {                                                              \
    if (!opened.load(std::memory_order_acquire)) return SOMA_CUDA_NOT_OPENED;  \
    if (table.name == nullptr) return missing(#name);                            \
    return table.name args;                                                      \
  }
#include "soma_cuda_entries.inc"
#undef SOMA_CUDA_ENTRY

}  // extern "C"
