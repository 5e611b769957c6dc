// Custom-op modules on the emulated device: the emulator's twin of NVRTC + the driver API's cuModuleLoad /
// cuModuleGetFunction / cuLaunchKernel (dev.soma.custom.EmulatedModules compiles a custom op's CUDA source with
// the host compiler against this emulator; these functions load the result and launch its kernels).
//
// A module is a shared library built from the op's source plus a footer that EmulatedModules generates:
//   extern "C" int soma_emu_module_abi(void);                      // kModuleAbi: both sides agree on the layout
//   extern "C" const char* const soma_emu_module_names[];          // the declared kernel names, null-terminated
//   extern "C" EntryFn* const soma_emu_module_entries[];           // one launch entry per name, same order
// An entry checks the launch's arguments against the kernel's parameter types (it knows them: the footer deduces
// them from the kernel's function pointer), converts them and calls soma_emu::launch. Modules stay loaded for
// the life of the process (the scheduler caches each one's TLS segment by address).
#include "soma_emu.h"
#include "streams.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

constexpr int kModuleAbi = 1;

// soma_emu_module_entries[i]: site, grid x y z + block x y z, dynamic shared bytes, one 64-bit slot per argument,
// one kind letter per argument (NUL-terminated), and where to write why the arguments do not fit the kernel.
using EntryFn = int(const char* site_file, int site_line, const int* grid_block, size_t shared_bytes,
                    const int64_t* args, const char* kinds, char* error, int error_len);

void copy_text(const std::string& text, char* out, int out_len) {
  if (out == nullptr || out_len <= 0) return;
  size_t n = std::min(text.size(), static_cast<size_t>(out_len) - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

int dl_failure(const std::string& what, char* error, int error_len) {
  const char* why = dlerror();
  copy_text(what + ": " + (why ? why : "unknown dlopen error"), error, error_len);
  return cudaErrorInvalidValue;
}

}  // namespace

extern "C" {

int soma_cuda_emu_runtime_dir(char* dir, int dir_len) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&soma_cuda_emu_runtime_dir), &info) == 0 || info.dli_fname == nullptr) {
    copy_text("", dir, dir_len);
    return cudaErrorUnknown;
  }
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  std::string folder = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir_len <= 0 || folder.size() >= static_cast<size_t>(dir_len)) return cudaErrorInvalidValue;
  copy_text(folder, dir, dir_len);
  return cudaSuccess;
}

int soma_cuda_emu_module_load(const char* path, void** module, char* error, int error_len) {
  copy_text("", error, error_len);
  if (path == nullptr || module == nullptr) {
    copy_text("soma_cuda_emu_module_load: null path or handle", error, error_len);
    return cudaErrorInvalidValue;
  }
  *module = nullptr;
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return dl_failure(std::string("opening the module ") + path, error, error_len);
  auto abi = reinterpret_cast<int (*)(void)>(dlsym(lib, "soma_emu_module_abi"));
  if (abi == nullptr || abi() != kModuleAbi) {
    copy_text(std::string(path) + " is not a custom-op module of this emulator (module ABI " +
                  (abi == nullptr ? std::string("missing") : std::to_string(abi())) + ", expected " +
                  std::to_string(kModuleAbi) + ")",
              error, error_len);
    return cudaErrorInvalidValue;  // not closed: dlclose of a library with TLS in use is not worth the risk
  }
  *module = lib;
  return cudaSuccess;
}

int soma_cuda_emu_module_kernel(void* module, const char* name, void** kernel, char* error, int error_len) {
  copy_text("", error, error_len);
  if (module == nullptr || name == nullptr || kernel == nullptr) {
    copy_text("soma_cuda_emu_module_kernel: null module, name or handle", error, error_len);
    return cudaErrorInvalidValue;
  }
  *kernel = nullptr;
  auto names = static_cast<const char* const*>(dlsym(module, "soma_emu_module_names"));
  auto entries = static_cast<EntryFn* const*>(dlsym(module, "soma_emu_module_entries"));
  if (names == nullptr || entries == nullptr) return dl_failure("the module has no kernel table", error, error_len);
  std::string known;
  for (int i = 0; names[i] != nullptr; ++i) {
    if (std::strcmp(names[i], name) == 0) {
      *kernel = reinterpret_cast<void*>(entries[i]);
      return cudaSuccess;
    }
    known += (known.empty() ? "" : ", ") + std::string(names[i]);
  }
  copy_text(std::string("no kernel '") + name + "' in the module (it has: " + known + ")", error, error_len);
  return cudaErrorInvalidValue;
}

int soma_cuda_emu_module_launch(void* kernel, const char* site_file, int site_line, const int* grid_block,
                                int64_t shared_bytes, const int64_t* args, const char* kinds, void* stream, char* error,
                                int error_len) {
  copy_text("", error, error_len);
  if (kernel == nullptr || grid_block == nullptr || kinds == nullptr || (args == nullptr && kinds[0] != '\0')) {
    copy_text("soma_cuda_emu_module_launch: null kernel, dimensions or arguments", error, error_len);
    return cudaErrorInvalidValue;
  }
  if (shared_bytes < 0) {
    copy_text("negative dynamic shared memory: " + std::to_string(shared_bytes) + " bytes", error, error_len);
    return cudaErrorInvalidValue;
  }
  for (int i = 0; i < 6; ++i) {
    if (grid_block[i] <= 0) {
      copy_text("grid and block dimensions must be positive", error, error_len);
      return cudaErrorInvalidConfiguration;
    }
  }
  // The entry's soma_emu::launch names no stream: it takes the one this launch is on (as cuLaunchKernel's).
  soma_emu::set_implicit_stream(static_cast<cudaStream_t>(stream));
  int status = reinterpret_cast<EntryFn*>(kernel)(site_file ? site_file : "?", site_line, grid_block,
                                                   static_cast<size_t>(shared_bytes), args, kinds, error, error_len);
  soma_emu::set_implicit_stream(nullptr);
  // Under SOMA_EMU_STREAMS=deferred the kernel is only queued: it runs here, after its stream's earlier work, so a
  // misuse in a user's kernel is still answered by its launch, naming the op (soma.h's contract). Only this launch
  // is synchronous: the work after it, on any stream, stays deferred.
  if (status == cudaSuccess) status = soma_emu::complete_stream(static_cast<cudaStream_t>(stream));
  if (status != cudaSuccess) {
    // The entry wrote why the arguments did not fit; otherwise the scheduler kept why the launch failed.
    if (error != nullptr && error_len > 0 && error[0] == '\0') {
      const char* why = soma_emu_last_message();
      copy_text(why != nullptr && why[0] != '\0' ? why : cudaGetErrorString(static_cast<cudaError_t>(status)), error,
                error_len);
    }
    cudaGetLastError();  // reported to the caller here: not left sticky for an unrelated later call
  }
  return status;
}

}  // extern "C"
