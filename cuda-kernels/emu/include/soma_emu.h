// soma_emu.h - the CUDA kernel language on the host: the same .cu files that nvcc builds for a GPU compile with
// g++ against this header and run on CPU fibers (one fiber per CUDA thread, src/scheduler.cpp).
//
// What it maps: the qualifiers, threadIdx / blockIdx / blockDim / gridDim, static and dynamic __shared__,
// __syncthreads, __syncwarp, warp shuffles and votes, atomics, __ldg and the math intrinsics our kernels use.
// Barriers and collectives carry their source line (__FILE__/__LINE__): that is how the scheduler tells two
// barriers apart and how its errors name the line (return addresses fail: g++ -O2 duplicates call sites).
//
// Static __shared__ variables are thread_local (an OS thread runs one block at a time) and live in the kernel
// library's own TLS segment, which the scheduler poisons at every block start: a kernel library must therefore
// hold no thread_local of its own: the emulator's state lives in libsoma_cuda_emu_rt.
#pragma once
#define SOMA_CUDA_EMULATED 1

#include "soma_emu_runtime.h"  // before the built-in variable macros: the toolkit's headers use those names

#include <math.h>  // the global float overloads (expf and exp(float)) that device code calls
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <tuple>
#include <string>
#include <type_traits>
#include <utility>

// ---------------------------------------------------------------- qualifiers
#ifndef __global__
#define __global__
#endif
#ifndef __device__
#define __device__
#endif
#ifndef __host__
#define __host__
#endif
#undef __forceinline__
#define __forceinline__ inline __attribute__((always_inline))
// __noinline__ is left alone: it is also GCC's own spelling of the attribute, which libstdc++ uses.
#undef __shared__
#define __shared__ static thread_local
#ifndef __constant__
#define __constant__
#endif
#undef __launch_bounds__
#define __launch_bounds__(...)
#ifndef __align__
#define __align__(n) __attribute__((aligned(n)))
#endif

// ---------------------------------------------------------------- the emulator's entry points (libsoma_cuda_emu_rt)
namespace soma_emu {
struct ThreadState {  // what a fiber sees as its built-in variables; set by the scheduler before it resumes one
  uint3 thread_index, block_index;
  dim3 block_dim, grid_dim;
  unsigned lane;
};
ThreadState& current();

void sync_block(const char* file, int line);
void sync_warp(unsigned mask, const char* file, int line);
// Warp exchange: every lane of `mask` deposits 8 bytes and reads lane `src`'s deposit.
uint64_t warp_exchange(unsigned mask, uint64_t mine, int src_lane, const char* file, int line);
unsigned warp_ballot(unsigned mask, bool pred, const char* file, int line);
unsigned active_mask();
void* dynamic_shared();
// Reports misuse found in kernel code (named kernel and line) and ends the launch.
[[noreturn]] void kernel_error(const char* file, int line, const char* what);
}  // namespace soma_emu

#define threadIdx (::soma_emu::current().thread_index)
#define blockIdx (::soma_emu::current().block_index)
#define blockDim (::soma_emu::current().block_dim)
#define gridDim (::soma_emu::current().grid_dim)
#ifndef warpSize
constexpr int warpSize = 32;
#endif

// ---------------------------------------------------------------- barriers and warp collectives
#define __syncthreads() ::soma_emu::sync_block(__FILE__, __LINE__)
#define __syncwarp(...) ::soma_emu::syncwarp_at(__FILE__, __LINE__, ##__VA_ARGS__)
#define __activemask() ::soma_emu::active_mask()
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

namespace soma_emu {
inline void syncwarp_at(const char* file, int line, unsigned mask = 0xffffffffu) { sync_warp(mask, file, line); }

template <typename T>
T exchange(const char* file, int line, unsigned mask, T v, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  uint64_t got = warp_exchange(mask, bits, src, file, line);
  T out;
  std::memcpy(&out, &got, sizeof(T));
  return out;
}
// The source lane of each shuffle flavour, as the CUDA programming guide defines it for a sub-warp `width`.
template <typename T> T shfl(const char* f, int l, unsigned mask, T v, int src, int width = 32) {
  int lane = int(current().lane), base = lane - lane % width;
  return exchange(f, l, mask, v, base + (src % width + width) % width);
}
template <typename T> T shfl_down(const char* f, int l, unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = int(current().lane);
  return exchange(f, l, mask, v, lane % width + int(delta) < width ? lane + int(delta) : lane);
}
template <typename T> T shfl_up(const char* f, int l, unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = int(current().lane);
  return exchange(f, l, mask, v, lane % width >= int(delta) ? lane - int(delta) : lane);
}
// PTX shfl.bfly: the partner lane ^ lane_mask is taken unless it lies above the caller's segment (a partner in a
// lower segment is read: that is what the hardware does for a sub-warp width).
template <typename T> T shfl_xor(const char* f, int l, unsigned mask, T v, int lane_mask, int width = 32) {
  int lane = int(current().lane), src = lane ^ (lane_mask & 31), max_lane = lane / width * width + width - 1;
  return exchange(f, l, mask, v, src <= max_lane ? src : lane);
}
}  // namespace soma_emu
#define __shfl_sync(...) ::soma_emu::shfl(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::soma_emu::shfl_down(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::soma_emu::shfl_up(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::soma_emu::shfl_xor(__FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred) ::soma_emu::warp_ballot((mask), (pred) != 0, __FILE__, __LINE__)
#define __any_sync(mask, pred) (::soma_emu::warp_ballot((mask), (pred) != 0, __FILE__, __LINE__) != 0u)
#define __all_sync(mask, pred) (::soma_emu::warp_ballot((mask), (pred) == 0, __FILE__, __LINE__) == 0u)

// ---------------------------------------------------------------- dynamic shared memory (see launch.cuh)
#define SOMA_EMU_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::soma_emu::dynamic_shared())

// ---------------------------------------------------------------- atomics: real ones, blocks run on several OS threads
namespace soma_emu {
template <typename T, typename F>
T atomic_update(T* p, F f) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "4- and 8-byte atomics only");
  using Bits = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
  Bits* bp = reinterpret_cast<Bits*>(p);
  Bits old = __atomic_load_n(bp, __ATOMIC_RELAXED), want;
  T o;
  do {
    std::memcpy(&o, &old, sizeof(T));
    T n = f(o);
    std::memcpy(&want, &n, sizeof(T));
  } while (!__atomic_compare_exchange_n(bp, &old, want, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  return o;
}
}  // namespace soma_emu
// The value converts to the pointee's type, as with CUDA's overloads (atomicAdd(float*, 1) is fine there).
template <typename T, typename V> T atomicAdd(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return T(a + v); });
}
template <typename T, typename V> T atomicSub(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return T(a - v); });
}
template <typename T, typename V> T atomicExch(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return v; });
}
template <typename T, typename V> T atomicMax(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return a > v ? a : v; });
}
template <typename T, typename V> T atomicMin(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return a < v ? a : v; });
}
template <typename T, typename V> T atomicAnd(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return T(a & v); });
}
template <typename T, typename V> T atomicOr(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return T(a | v); });
}
template <typename T, typename V> T atomicXor(T* p, V value) {
  const T v = T(value);
  return soma_emu::atomic_update(p, [v](T a) { (void)a; return T(a ^ v); });
}
template <typename T> T atomicCAS(T* p, T compare, T v) {
  __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return compare;
}

// ---------------------------------------------------------------- device functions a host library lacks
template <typename T> inline T __ldg(const T* p) { return *p; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline double __longlong_as_double(long long x) { double d; std::memcpy(&d, &x, 8); return d; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
// CUDA's float -> int conversions saturate and map NaN to 0 (PTX cvt.rzi/cvt.rni with .sat semantics).
inline int __float2int_rz(float x) {
  if (x != x) return 0;
  if (x >= 2147483648.0f) return 2147483647;
  if (x <= -2147483648.0f) return int(-2147483647 - 1);
  return int(x);
}
inline int __float2int_rn(float x) { return __float2int_rz(std::nearbyint(x)); }
inline int __double2int_rz(double x) {
  if (x != x) return 0;
  if (x >= 2147483647.0) return 2147483647;
  if (x <= -2147483648.0) return int(-2147483647 - 1);
  return int(x);
}
// CUDA's integer min/max overloads (device code writes min(a, b) without std::).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

#ifndef __CUDACC_VER_MAJOR__
#define __CUDACC_VER_MAJOR__ 0
#define __CUDACC_VER_MINOR__ 0
#endif

// ---------------------------------------------------------------- launches (launch.cuh calls this)
namespace soma_emu {
struct LaunchSite {
  const char* kernel;  // the kernel's name, template arguments included
  const void* kernel_address;  // for the dynamic shared memory opt-in of cudaFuncSetAttribute
  const char* file;    // where the launch is written
  int line;
};
// Runs body(ctx) once per CUDA thread of every block, in stream order on `stream`: at the call, or later when
// SOMA_EMU_STREAMS=deferred (then ctx, which run_grid owns and frees with destroy(ctx), must hold the arguments by
// value). Returns 0 or a cudaError_t number, with the reason kept for cudaGetErrorString / soma_emu_last_message();
// a misuse found in a deferred launch is answered by the call that runs it (a synchronisation, a blocking copy).
int run_grid(const LaunchSite& site, dim3 grid, dim3 block, size_t dynamic_shared, cudaStream_t stream,
             void (*body)(void*), void* ctx, void (*destroy)(void*), void* (*module_tls)());
// The stream of launches that name none: the legacy default stream, or the stream a custom-op module launch names.
cudaStream_t implicit_stream();

// A variable in this kernel library's TLS segment (where its static __shared__ variables live). Touching it
// makes the calling thread allocate the segment; the scheduler finds the segment's bounds from its address and
// poisons it at every block start.
__attribute__((visibility("hidden"), noinline)) inline void* module_tls() {
  static thread_local unsigned char anchor;
  return &anchor;
}

inline std::string kernel_name_from(const std::string& pretty) {
  auto at = pretty.find("Kernel = ");
  if (at == std::string::npos) return pretty;
  std::string s = pretty.substr(at + 9);
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '<' || c == '(' || c == '[') ++depth;
    else if (c == '>' || c == ')') --depth;
    else if ((c == ';' || c == ']') && depth <= 0) return s.substr(0, i);
  }
  return s;
}

// The kernel's name from this template's signature: "... [with auto Kernel = name]" -> "name" (read here, not
// inside a lambda, whose own signature would name the lambda).
template <auto Kernel>
const char* kernel_name() {
  static const std::string name = kernel_name_from(__PRETTY_FUNCTION__);
  return name.c_str();
}

template <auto Kernel, typename... P, typename... A>
int launch_on(cudaStream_t stream, void (*)(P...), const char* file, int line, dim3 grid, dim3 block, size_t shared,
              A&&... args) {
  using Params = std::tuple<typename std::decay<P>::type...>;
  // The arguments are converted to the parameter types and copied now, as the runtime copies them into the launch:
  // a deferred launch runs after the caller's variables are gone.
  auto* params = new Params(std::forward<A>(args)...);
  LaunchSite site{kernel_name<Kernel>(), reinterpret_cast<const void*>(Kernel), file, line};
  return run_grid(
      site, grid, block, shared, stream, [](void* ctx) { std::apply(Kernel, *static_cast<Params*>(ctx)); }, params,
      [](void* ctx) { delete static_cast<Params*>(ctx); }, &module_tls);
}

// A launch that names no stream (custom-op modules' generated entries): on implicit_stream().
template <auto Kernel, typename... P, typename... A>
int launch(void (*kernel)(P...), const char* file, int line, dim3 grid, dim3 block, size_t shared, A&&... args) {
  return launch_on<Kernel>(implicit_stream(), kernel, file, line, grid, block, shared, std::forward<A>(args)...);
}
}  // namespace soma_emu

// cudaFuncSetAttribute for a kernel function itself, as the toolkit's cuda_runtime.h offers it.
template <typename T>
inline cudaError_t cudaFuncSetAttribute(T* entry, enum cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attr, value);
}

extern "C" {
// Why the last failed launch on this thread failed, naming the kernel and source line ("" when none).
const char* soma_emu_last_message(void);
// cudaGetErrorString(status), followed by that reason when there is one.
const char* soma_emu_status_string(int status);
// Schedule of later launches: "forward", "reverse" or "random:<seed>" (SOMA_EMU_SCHEDULE sets the default).
int soma_emu_set_schedule(const char* schedule);
const char* soma_emu_schedule(void);
}
