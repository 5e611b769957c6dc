// Dtype codes, poisoned values and exact-size device buffers for the comparison programs (compare_kernels, compare_reduce).
#pragma once
#include "soma.h"
#include "test_util.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

// The soma.h dtype code of a C++ element type.
template <typename T> constexpr int dtype_of();
template <> constexpr int dtype_of<float>() { return SOMA_F32; }
template <> constexpr int dtype_of<double>() { return SOMA_F64; }
template <> constexpr int dtype_of<int32_t>() { return SOMA_I32; }

// A NaN payload (or integer bit pattern) that no kernel computes: an output element still holding it was never
// written.
template <typename T> T poison_value() {
  T v;
  if (sizeof(T) == 8) std::memcpy(&v, &tu::kPoison64, 8);
  else std::memcpy(&v, &tu::kPoison32, 4);
  return v;
}
template <typename T> bool is_poison(T v) {
  T p = poison_value<T>();
  return std::memcmp(&v, &p, sizeof(T)) == 0;
}
template <typename T> std::vector<T> poisoned(size_t n) { return std::vector<T>(n, poison_value<T>()); }

// An exact-size cudaMalloc (at least one byte; the emulated device's memory is host memory of exactly that size,
// so the sanitizer build sees a kernel's first byte out of bounds), filled from a host vector or with poison.
template <typename T> struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    TU_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(n, 1) * sizeof(T)) == cudaSuccess, "cudaMalloc");
    TU_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess, "upload");
  }
  static std::vector<T> poison(size_t n) { return poisoned<T>(n); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> get() const {
    std::vector<T> h(n);
    TU_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess, "download");
    return h;
  }
  void repoison() {
    auto h = poison(n);
    TU_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess, "poison");
  }
};
