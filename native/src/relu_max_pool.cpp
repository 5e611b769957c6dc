// relu(max pool(z)) in one pass, and its backward straight into the gradient of z: the fused tail of a Conv2D with
// ReLU followed by MaxPooling2D (ops/ConvolutionPooling.java). Max commutes with ReLU (both are monotone), so the
// ReLU runs on the pooled values only, and z itself is never written out rectified nor kept for the backward: the
// forward records which tap of its window each output came from, and the backward sends each window's gradient to
// that tap. It goes nowhere when the window's maximum is not positive (ReLU's gradient there is 0) or is NaN (NaN
// wins a window, as in PyTorch). The gradient is written as float32, or rounded to bfloat16 for the bf16
// convolution passes that read it, in which case no float32 copy of it is written to memory.
#include "soma.h"
#include "bf16_round.h"
#include "conv_geom.h"
#include "dtype_dispatch.h"
#include "flush_denormals.h"
#include <immintrin.h>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

// A larger value takes the window, and so does the first NaN (nothing takes it from a NaN): the rule of
// window_max's vector blocks (their compare masks) for its remaining channels.
inline bool takes(float x, float m) { return (x > m) | ((x != x) & (m == m)); }

// One window's maximum over c channels from its taps' rows, then ReLU as elementwise.cpp's (x < 0 ? 0 : x). AVX2
// (the library's baseline, x86-64-v3) over 8 channels at a time keeps the running maximum in registers across the
// taps; GCC left the select chain scalar.
inline void window_max(const float* const* taps, const int32_t* ks, int count, float* __restrict o,
                       int32_t* __restrict t, int64_t c) {
  int64_t c0 = 0;
  const __m256 zero = _mm256_setzero_ps();
  for (; c0 + 8 <= c; c0 += 8) {
    __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256 at = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int q = 0; q < count; ++q) {
      const __m256 x = _mm256_loadu_ps(taps[q] + c0);
      const __m256 take = _mm256_or_ps(_mm256_cmp_ps(x, m, _CMP_GT_OQ),
                                       _mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), _mm256_cmp_ps(m, m, _CMP_ORD_Q)));
      m = _mm256_blendv_ps(m, x, take);
      at = _mm256_blendv_ps(at, _mm256_castsi256_ps(_mm256_set1_epi32(ks[q])), take);
    }
    _mm256_storeu_ps(o + c0, _mm256_blendv_ps(m, zero, _mm256_cmp_ps(m, zero, _CMP_LT_OQ)));
    _mm256_storeu_si256((__m256i*)(t + c0), _mm256_castps_si256(at));
  }
  for (int64_t ch = c0; ch < c; ++ch) {
    float m = -std::numeric_limits<float>::infinity();
    int32_t at = -1;
    for (int q = 0; q < count; ++q) {
      const float x = taps[q][ch];
      if (takes(x, m)) m = x, at = ks[q];
    }
    o[ch] = m < 0.0f ? 0.0f : m;
    t[ch] = at;
  }
}

// sum[ch] += the window's gradient where tap k took it and its output is positive.
inline void gather(const float* __restrict go, const float* __restrict o, const int32_t* __restrict t, int32_t k,
                   float* __restrict sum, int64_t c) {
  for (int64_t ch = 0; ch < c; ++ch) sum[ch] += (t[ch] == k && o[ch] > 0.0f) ? go[ch] : 0.0f;
}

// The same, where no other window adds to sum: written, not added (windows that do not overlap).
inline void pick(const float* __restrict go, const float* __restrict o, const int32_t* __restrict t, int32_t k,
                 float* __restrict sum, int64_t c) {
  for (int64_t ch = 0; ch < c; ++ch) sum[ch] = (t[ch] == k && o[ch] > 0.0f) ? go[ch] : 0.0f;
}

}  // namespace

extern "C" void soma_cpu_relu_max_pool2d(const int64_t* geom, const void* z_, void* out_, void* tap_) {
  const soma::ConvGeom g(geom);
  const float* z = (const float*)z_;
  float* out = (float*)out_;
  int32_t* tap = (int32_t*)tap_;
  const int64_t rows = g.n * g.oh;
#pragma omp parallel if (rows * g.ow * g.c * g.kh * g.kw > soma::element_grain())
  {
    std::vector<int32_t> own(tap ? 0 : g.c);  // the taps, when the caller keeps none
    // One window's taps inside the image, and their positions: at most min(kh, h) x min(kw, w) of them, however
    // large the window ("same" padding lets it exceed the image; a buffer of kh x kw once threw bad_alloc here,
    // inside the parallel region, which ends the process).
    const int64_t most = std::min(g.kh, g.h) * std::min(g.kw, g.w);
    std::vector<const float*> ptrs(most);
    std::vector<int32_t> ks(most);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / g.oh, oy = r % g.oh;
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        int count = 0;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t iy = oy * g.sh - g.pt + i;
          if (iy < 0 || iy >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ix = ox * g.sw - g.pl + j;
            if (ix < 0 || ix >= g.w) continue;
            ptrs[count] = z + ((b * g.h + iy) * g.w + ix) * g.c;
            ks[count++] = (int32_t)(i * g.kw + j);
          }
        }
        window_max(ptrs.data(), ks.data(), count, out + (r * g.ow + ox) * g.c,
                   tap ? tap + (r * g.ow + ox) * g.c : own.data(), g.c);
      }
    }
  }
}

extern "C" void soma_cpu_relu_max_pool2d_backward(const int64_t* geom, const void* grad_out_, const void* out_,
                                                  const void* tap_, int bf16, void* grad_z_) {
  const soma::ConvGeom g(geom);
  const float* grad_out = (const float*)grad_out_;
  const float* out = (const float*)out_;
  const int32_t* tap = (const int32_t*)tap_;
  const int64_t rows = g.n * g.h, row = g.w * g.c;
  const bool disjoint = g.sh >= g.kh && g.sw >= g.kw;
#pragma omp parallel if (rows * row > soma::element_grain())
  {
    soma::FlushDenormals flush;  // on every team member: late in training the gradients sink into denormals
    std::vector<float> sums(bf16 ? row : 0);  // a row of float32 sums, rounded at the end (bf16 only)
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / g.h, iy = r % g.h;
      float* sum = bf16 ? sums.data() : (float*)grad_z_ + r * row;
      // The window rows that hold input row iy: oy * sh - pt <= iy < oy * sh - pt + kh.
      const int64_t lo = iy + g.pt - g.kh + 1;
      const int64_t oy0 = lo <= 0 ? 0 : (lo + g.sh - 1) / g.sh, oy1 = std::min(g.oh - 1, (iy + g.pt) / g.sh);
      if (disjoint) {
        // At most one window holds each position: one pass writes every element of the row.
        for (int64_t ix = 0; ix < g.w; ++ix) {
          const int64_t ox = (ix + g.pl) / g.sw, j = ix + g.pl - ox * g.sw;
          float* s = sum + ix * g.c;
          if (oy0 > oy1 || ox >= g.ow || j >= g.kw) {
            std::fill(s, s + g.c, 0.0f);
            continue;
          }
          const int64_t at = ((b * g.oh + oy0) * g.ow + ox) * g.c;
          pick(grad_out + at, out + at, tap + at, (int32_t)((iy + g.pt - oy0 * g.sh) * g.kw + j), s, g.c);
        }
      } else {
        std::fill(sum, sum + row, 0.0f);
        for (int64_t oy = oy0; oy <= oy1; ++oy) {
          const int64_t i = iy + g.pt - oy * g.sh;
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            const int64_t at = ((b * g.oh + oy) * g.ow + ox) * g.c;
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ix = ox * g.sw - g.pl + j;
              if (ix < 0 || ix >= g.w) continue;
              gather(grad_out + at, out + at, tap + at, (int32_t)(i * g.kw + j), sum + ix * g.c, g.c);
            }
          }
        }
      }
      if (bf16) soma::f32_to_bf16_serial(sum, (uint16_t*)grad_z_ + r * row, row);
    }
  }
}
