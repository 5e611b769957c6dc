// float32 -> bfloat16 conversion for kernels that write a bf16 result themselves (relu_max_pool.cpp), with the same
// bits as soma_cpu_f32_to_bf16 (bf16.cpp).
#pragma once
#include <cstdint>

namespace soma {
// soma_cpu_f32_to_bf16's conversion (the same bits) on the calling thread only: for kernels that round their own rows
// inside a parallel region. Defined in bf16.cpp.
void f32_to_bf16_serial(const float* src, uint16_t* dst, int64_t n);
}  // namespace soma
