// The small f32 GEMM behind fused attention and the Winograd convolution's per-point products: C (m x n, row
// stride ldc) += A (m x k, lda) B (k x n, ldb), all row-major. AVX-512 register tiles when the CPU has them (checked
// once at run time; the library's baseline stays x86-64-v3), else AVX2 + FMA tiles.
// The product is summed from zero and added to C once: calls that add many products into one C (the Winograd
// weights pass, one per block of tiles) round a chain of one term per call, not one of every term of every call
// (the 7x7 weights pass at batch 256 of 28 x 28: 3.6e-5 of float64 before, 9e-6 now).
#pragma once
#include <cstdint>

namespace soma {
// add = false: C = A B, C's old contents never read (an empty k gives zeros).
void attention_gemm_f32(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb,
                        float* C, int64_t ldc, bool add = true);
// The same with A stored transposed: C (m x n) += A^T B for A of k x m (row stride lda), so the backward's
// P^T dO and dS^T Q need no transposed copies. add = false: C = A^T B.
void attention_gemm_f32_at(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb,
                           float* C, int64_t ldc, bool add = true);
}
