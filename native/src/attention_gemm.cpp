// See attention_gemm.h. Tiles are R rows x NV vectors of 16 (AVX-512) or 8 (AVX2) floats; the R x NV accumulators
// start at zero and stay in registers for the whole k loop, each step loads NV vectors of B and broadcasts R values
// of A; then C is loaded and the tile's sum added to it. The
// AVX-512 path masks the last vector, so any n works without a scalar tail.
#include "attention_gemm.h"
#include "cpu_features.h"
#include <immintrin.h>

#include <algorithm>

namespace {

// ------------------------------------------------------------------ AVX-512

// The loops over r and v are unrolled by hand-written pragmas: without them gcc keeps the accumulator array
// on the stack and stores every register back on each k step (measured: 3x slower).
template <int R, int NV, bool TA>
__attribute__((target("avx512f"))) inline void tile512(int64_t k, const float* A, int64_t lda, const float* B,
                                                       int64_t ldb, float* C, int64_t ldc, __mmask16 last, bool add) {
  __m512 c[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      c[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      b[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, B + p * ldb + 16 * v) : _mm512_loadu_ps(B + p * ldb + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(TA ? A[p * lda + r] : A[r * lda + p]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* dst = C + r * ldc + 16 * v;
      if (v == NV - 1) {
        _mm512_mask_storeu_ps(dst, last, add ? _mm512_add_ps(_mm512_maskz_loadu_ps(last, dst), c[r][v]) : c[r][v]);
      } else {
        _mm512_storeu_ps(dst, add ? _mm512_add_ps(_mm512_loadu_ps(dst), c[r][v]) : c[r][v]);
      }
    }
}

// Row i of A starts at A + i * lda, or (TA: A stored transposed, k x m) at column i: A + i.
template <int NV, bool TA>
__attribute__((target("avx512f"))) void rows512(int64_t m, int64_t k, const float* A, int64_t lda, const float* B,
                                                int64_t ldb, float* C, int64_t ldc, __mmask16 last, bool add) {
  const int64_t step = TA ? 1 : lda;
  int64_t i = 0;
  for (; i + 6 <= m; i += 6) tile512<6, NV, TA>(k, A + i * step, lda, B, ldb, C + i * ldc, ldc, last, add);
  switch (m - i) {
    case 5: tile512<5, NV, TA>(k, A + i * step, lda, B, ldb, C + i * ldc, ldc, last, add); break;
    case 4: tile512<4, NV, TA>(k, A + i * step, lda, B, ldb, C + i * ldc, ldc, last, add); break;
    case 3: tile512<3, NV, TA>(k, A + i * step, lda, B, ldb, C + i * ldc, ldc, last, add); break;
    case 2: tile512<2, NV, TA>(k, A + i * step, lda, B, ldb, C + i * ldc, ldc, last, add); break;
    case 1: tile512<1, NV, TA>(k, A + i * step, lda, B, ldb, C + i * ldc, ldc, last, add); break;
    default: break;
  }
}

template <bool TA>
__attribute__((target("avx512f"))) void gemm512(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda,
                                                const float* B, int64_t ldb, float* C, int64_t ldc, bool add) {
  for (int64_t e = 0; e < n; e += 64) {
    const int64_t w = n - e < 64 ? n - e : 64;
    const int nv = (int)((w + 15) / 16);
    const int tail = (int)(w - 16 * (nv - 1));
    const __mmask16 last = (__mmask16)(tail == 16 ? 0xFFFF : (1u << tail) - 1);
    switch (nv) {
      case 4: rows512<4, TA>(m, k, A, lda, B + e, ldb, C + e, ldc, last, add); break;
      case 3: rows512<3, TA>(m, k, A, lda, B + e, ldb, C + e, ldc, last, add); break;
      case 2: rows512<2, TA>(m, k, A, lda, B + e, ldb, C + e, ldc, last, add); break;
      default: rows512<1, TA>(m, k, A, lda, B + e, ldb, C + e, ldc, last, add); break;
    }
  }
}

// ------------------------------------------------------------------ AVX2 (the build's baseline)

template <int R, bool TA>
inline void tile256(int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
                    bool add) {
  __m256 c0[R], c1[R];
  for (int r = 0; r < R; ++r) {
    c0[r] = _mm256_setzero_ps();
    c1[r] = _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(B + p * ldb);
    const __m256 b1 = _mm256_loadu_ps(B + p * ldb + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(TA ? A + p * lda + r : A + r * lda + p);
      c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* dst = C + r * ldc;
    _mm256_storeu_ps(dst, add ? _mm256_add_ps(_mm256_loadu_ps(dst), c0[r]) : c0[r]);
    _mm256_storeu_ps(dst + 8, add ? _mm256_add_ps(_mm256_loadu_ps(dst + 8), c1[r]) : c1[r]);
  }
}

template <bool TA>
void gemm256(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, bool add) {
  const int64_t n16 = n / 16 * 16, step = TA ? 1 : lda;
  int64_t i = 0;
  for (; i + 4 <= m; i += 4)
    for (int64_t e = 0; e < n16; e += 16) tile256<4, TA>(k, A + i * step, lda, B + e, ldb, C + i * ldc + e, ldc, add);
  for (; i < m; ++i)
    for (int64_t e = 0; e < n16; e += 16) tile256<1, TA>(k, A + i * step, lda, B + e, ldb, C + i * ldc + e, ldc, add);
  if (n16 < n) {
    for (int64_t r = 0; r < m; ++r)
      for (int64_t e = n16; e < n; ++e) {
        float sum = 0;
        for (int64_t p = 0; p < k; ++p) sum += (TA ? A[p * lda + r] : A[r * lda + p]) * B[p * ldb + e];
        C[r * ldc + e] = add ? C[r * ldc + e] + sum : sum;
      }
  }
}

using Gemm = void (*)(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);

// Whether there is nothing to multiply: an empty C, or an empty k (C = 0 then, unless the call adds).
bool empty_product(int64_t m, int64_t n, int64_t k, float* C, int64_t ldc, bool add) {
  if (m <= 0 || n <= 0) return true;
  if (k > 0) return false;
  if (!add)
    for (int64_t r = 0; r < m; ++r) std::fill(C + r * ldc, C + r * ldc + n, 0.0f);
  return true;
}

}  // namespace

namespace soma {
void attention_gemm_f32(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb,
                        float* C, int64_t ldc, bool add) {
  static const Gemm gemm = soma::use_avx512() ? gemm512<false> : gemm256<false>;
  if (!empty_product(m, n, k, C, ldc, add)) gemm(m, n, k, A, lda, B, ldb, C, ldc, add);
}

void attention_gemm_f32_at(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb,
                           float* C, int64_t ldc, bool add) {
  static const Gemm gemm = soma::use_avx512() ? gemm512<true> : gemm256<true>;
  if (!empty_product(m, n, k, C, ldc, add)) gemm(m, n, k, A, lda, B, ldb, C, ldc, add);
}
}  // namespace soma
