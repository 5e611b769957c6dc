// Fused scaled-dot-product attention, forward and backward, FlashAttention-2 style on the CPU.
//
// Forward: each task takes a block of kBQ query rows of one (batch, head) and walks the keys in blocks of kBK,
// keeping per row a running maximum m, a running sum l of exp(s - m) and an unnormalised output accumulator
// (the online softmax: when m grows, l and the accumulator are rescaled by exp(m_old - m_new)). The Tq x Tk
// score matrix is never stored; only the output and the log-sum-exp per row (lse = m + log l) are written.
//
// Backward: delta_i = dO_i . O_i; then for every key block, every query row recomputes its scores and
// probabilities P = exp(s - lse) from the saved lse, and
//   dV_j += P_ij dO_i,  dP_ij = dO_i . V_j,  dS_ij = P_ij (dP_ij - delta_i),
//   dQ_i += scale dS_ij K_j,  dK_j += scale dS_ij Q_i.
// One task per (batch, head) owns its dQ rows and its dK, dV tiles, so no atomics are needed.
//
// Masks: key j is visible to query i iff j < key_length[b], (causal: j <= i, top-left aligned as Keras' tril)
// and mask[b, (i,) j] != 0. A query that sees no key gets output 0, lse = -inf and zero gradients.
// Dropout (on the normalised weights, inverted scaling 1 / (1 - p)) keeps element (b, h, i, j) iff the f32
// Philox uniform of index ((b H + h) Tq + i) Tk + j is >= p (the layout of soma_cpu_random's f32 fill).
//
// Every product is a small GEMM on kBQ x kBK tiles (S = Q K^T, O += P V; dP = dO V^T, dV += P^T dO, dK += dS^T Q,
// dQ += dS K), computed by gemm (gemm_at reads P and dS transposed in place): register tiles
// (attention_gemm.cpp: AVX-512 where the CPU has it, else AVX2) for f32, a plain loop for f64. Score tiles are computed only as wide as the keys present (ceil to 16 at most).
// Tiles live in a per-thread workspace from Java's pool (soma_cpu_attention_workspace elements per thread).
// Key tiles are zero padded to kBK so that the row loops have a constant trip count and vectorise.
#include "soma.h"
#include "dtype_dispatch.h"
#include "philox.h"
#include "attention_gemm.h"
#include "simd_math.h"
#include <immintrin.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace {

constexpr int64_t kBQ = 64;  // query rows per tile (one forward task; one backward step)
constexpr int64_t kBK = 64;  // keys per tile

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Everything a kernel needs to know about one call, with element strides (batch, head, time) per tensor.
template <typename T>
struct Problem {
  int64_t B, H, Tq, Tk, D, Dv;
  const T* q; const int64_t* qs;
  const T* k; const int64_t* ks;
  const T* v; const int64_t* vs;
  T scale;
  bool causal;
  const int32_t* lengths;
  const int32_t* mask;
  int64_t mbs, mqs;
  double dropout;
  uint64_t seed, stream;

  const T* qrow(int64_t b, int64_t h, int64_t i) const { return q + b * qs[0] + h * qs[1] + i * qs[2]; }
  const T* krow(int64_t b, int64_t h, int64_t j) const { return k + b * ks[0] + h * ks[1] + j * ks[2]; }
  const T* vrow(int64_t b, int64_t h, int64_t j) const { return v + b * vs[0] + h * vs[1] + j * vs[2]; }
  int64_t key_length(int64_t b) const { return lengths ? std::min<int64_t>(lengths[b], Tk) : Tk; }

  // Sets s[c] = -inf for the keys j0 + c (c < kBK) that query i must not see, including the padding c >= nk.
  void mask_row(int64_t b, int64_t i, int64_t j0, int64_t nk, T* s) const {
    const T ninf = (T)kNegInf;
    int64_t limit = nk;
    if (causal) limit = std::min<int64_t>(limit, i - j0 + 1);
    for (int64_t c = std::max<int64_t>(limit, 0); c < kBK; ++c) s[c] = ninf;
    if (mask) {
      const int32_t* mr = mask + b * mbs + i * mqs + j0;
      for (int64_t c = 0; c < limit; ++c) if (mr[c] == 0) s[c] = ninf;
    }
  }

  // z[c] = 1 / (1 - p) for kept elements (b, h, i, j0 + c), 0 for dropped ones; u is f32 scratch of kBK.
  void dropout_factors(int64_t b, int64_t h, int64_t i, int64_t j0, int64_t nk, float* u, T* z) const {
    const uint64_t first = (uint64_t)(((b * H + h) * Tq + i) * Tk + j0);
    soma::philox_uniform_f32(first, nk, seed, stream, u);
    const float p = (float)dropout;
    const T keep = (T)(1.0 / (1.0 - dropout));
    for (int64_t c = 0; c < nk; ++c) z[c] = u[c] >= p ? keep : (T)0;
    for (int64_t c = nk; c < kBK; ++c) z[c] = 0;
  }
};

// tile[d * kBK + c] = rows[c][d] for c < nk, zero for the padding columns.
template <typename T>
void load_transposed(const T* first_row, int64_t row_stride, int64_t nk, int64_t width, T* tile) {
  for (int64_t d = 0; d < width; ++d) {
    T* t = tile + d * kBK;
    for (int64_t c = 0; c < nk; ++c) t[c] = first_row[c * row_stride + d];
    for (int64_t c = nk; c < kBK; ++c) t[c] = 0;
  }
}

// dst[i * dst_stride + r] = src[r * src_stride + i] for an 8 x 8 block whose rows past `rows` read as zeros:
// three rounds of AVX shuffles instead of 64 scalar loads and stores.
inline void transpose8x8(const float* src, int64_t src_stride, int64_t rows, float* dst, int64_t dst_stride) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * src_stride) : _mm256_setzero_ps();
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * dst_stride, _mm256_permute2f128_ps(s[i], s[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * dst_stride, _mm256_permute2f128_ps(s[i], s[i + 4], 0x31));
  }
}

// The f32 tile in 8 x 8 blocks: the scalar loop above was about a third of the forward's work outside the products
// (perf, attn at batch 128). A width that is not a multiple of 8 leaves its last columns to the scalar loop.
inline void load_transposed(const float* first_row, int64_t row_stride, int64_t nk, int64_t width, float* tile) {
  const int64_t whole = width / 8 * 8;
  for (int64_t d0 = 0; d0 < whole; d0 += 8)
    for (int64_t c0 = 0; c0 < kBK; c0 += 8)
      transpose8x8(first_row + c0 * row_stride + d0, row_stride, std::max<int64_t>(0, nk - c0),
                   tile + d0 * kBK + c0, kBK);
  if (whole < width) load_transposed<float>(first_row + whole, row_stride, nk, width - whole, tile + whole * kBK);
}

// C[r * ldc + e] = 0 for r < rows, e < cols: a block of a row-major matrix.
template <typename T>
inline void zero_rows(T* C, int64_t rows, int64_t cols, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r) std::fill(C + r * ldc, C + r * ldc + cols, (T)0);
}

// C (m x n, row stride ldc) = A (m x k, lda) B (k x n, ldb), all row-major; add: C += A B. The portable version (f64).
template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
          bool add) {
  if (!add) zero_rows(C, m, n, ldc);
  for (int64_t i = 0; i < m; ++i) {
    T* __restrict c = C + i * ldc;
    for (int64_t p = 0; p < k; ++p) {
      const T a = A[i * lda + p];
      const T* __restrict b = B + p * ldb;
#pragma omp simd
      for (int64_t e = 0; e < n; ++e) c[e] += a * b[e];
    }
  }
}

inline void gemm(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                 int64_t ldc, bool add) {
  soma::attention_gemm_f32(m, n, k, A, lda, B, ldb, C, ldc, add);
}

// C (m x n) = A^T B with A stored k x m (row stride lda); add: C += A^T B.
template <typename T>
void gemm_at(int64_t m, int64_t n, int64_t k, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
             bool add) {
  if (!add) zero_rows(C, m, n, ldc);
  for (int64_t p = 0; p < k; ++p)
    for (int64_t i = 0; i < m; ++i) {
      const T a = A[p * lda + i];
      T* c = C + i * ldc;
      const T* b = B + p * ldb;
      for (int64_t e = 0; e < n; ++e) c[e] += a * b[e];
    }
}

inline void gemm_at(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb,
                    float* C, int64_t ldc, bool add) {
  soma::attention_gemm_f32_at(m, n, k, A, lda, B, ldb, C, ldc, add);
}

// p[c] = exp(p[c] - shift) over one key tile row, eight lanes at a time (simd_math.h): gcc leaves plain loops
// over exp scalar here (3x slower). The per-row rescale factor and the optional weights output use std::exp.
inline void exp_shifted(float* p, float shift) {
  const __m256 sh = _mm256_set1_ps(shift);
  for (int64_t c = 0; c < kBK; c += 8) _mm256_storeu_ps(p + c, soma::exp256(_mm256_sub_ps(_mm256_loadu_ps(p + c), sh)));
}
inline void exp_shifted(double* __restrict p, double shift) {
  for (int64_t c = 0; c < kBK; ++c) p[c] = std::exp(p[c] - shift);
}

// Score tiles are computed only as wide as the keys present, rounded up to whole vectors of 16 (the key tiles
// are zero padded, so the extra columns are 0 and then masked).
inline int64_t padded16(int64_t nk) { return std::min<int64_t>(kBK, (nk + 15) / 16 * 16); }

// S (nq x kBK) = A (nq x k, lda) Bt (k x kBK) for the first nk keys (rounded up to 16), written whole: the product
// overwrites instead of adding to a zeroed tile, and only the columns past it are zeroed (they are masked later,
// but a stale value there could be a NaN, or a denormal that costs an Intel core a microcode assist).
template <typename T>
void tile_product(int64_t nq, int64_t nk, int64_t k, const T* A, int64_t lda, const T* Bt, T* S) {
  const int64_t w = padded16(nk);
  gemm(nq, w, k, A, lda, Bt, kBK, S, kBK, false);
  if (w < kBK) zero_rows(S + w, nq, kBK - w, kBK);
}

template <typename T>
inline T row_max(const T* s) {
  T m = s[0];
#pragma omp simd reduction(max : m)
  for (int64_t c = 0; c < kBK; ++c) m = s[c] > m ? s[c] : m;
  return m;
}

// ------------------------------------------------------------------ forward

template <typename T>
void forward_block(const Problem<T>& P, int64_t b, int64_t h, int64_t i0, T* out, const int64_t* os, T* lse,
                   T* weights, T* ws) {
  const int64_t D = P.D, Dv = P.Dv, nq = std::min(kBQ, P.Tq - i0);
  T* kt = ws;                  // D x kBK
  T* st = kt + D * kBK;        // kBQ x kBK scores, then weights
  T* z = st + kBQ * kBK;       // kBK
  T* acc = z + kBK;            // kBQ x Dv
  T* m = acc + kBQ * Dv;       // kBQ
  T* l = m + kBQ;              // kBQ
  float* u = (float*)(l + kBQ);  // kBK floats
  const T ninf = (T)kNegInf;
  for (int64_t r = 0; r < nq; ++r) {
    m[r] = ninf;
    l[r] = 0;
  }
  std::fill(acc, acc + nq * Dv, (T)0);
  const T* qblk = P.qrow(b, h, i0);
  const int64_t len = P.key_length(b);
  const int64_t kend = P.causal ? std::min(len, i0 + nq) : len;
  for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
    const int64_t nk = std::min(kBK, kend - j0);
    load_transposed(P.krow(b, h, j0), P.ks[2], nk, D, kt);
    tile_product(nq, nk, D, qblk, P.qs[2], kt, st);  // zero-padded keys give 0 (masked below)
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      T* s = st + r * kBK;
      if (P.causal && j0 > i) {
        std::fill(s, s + kBK, (T)0);
        continue;
      }
#pragma omp simd
      for (int64_t c = 0; c < kBK; ++c) s[c] *= P.scale;
      P.mask_row(b, i, j0, nk, s);
      const T mnew = std::max(m[r], row_max(s));
      if (mnew == ninf) {  // nothing visible yet
        std::fill(s, s + kBK, (T)0);
        continue;
      }
      const T alpha = std::exp(m[r] - mnew);
      exp_shifted(s, mnew);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < kBK; ++c) sum += s[c];
      l[r] = l[r] * alpha + sum;
      m[r] = mnew;
      if (alpha != (T)1) {
        T* __restrict a = acc + r * Dv;
#pragma omp simd
        for (int64_t e = 0; e < Dv; ++e) a[e] *= alpha;
      }
      if (P.dropout > 0) {
        P.dropout_factors(b, h, i, j0, nk, u, z);
        for (int64_t c = 0; c < kBK; ++c) s[c] *= z[c];
      }
    }
    gemm(nq, Dv, nk, st, kBK, P.vrow(b, h, j0), P.vs[2], acc, Dv, true);
  }
  T* lse_rows = lse + (b * P.H + h) * P.Tq;
  for (int64_t r = 0; r < nq; ++r) {
    const int64_t i = i0 + r;
    const T inv = l[r] > 0 ? (T)1 / l[r] : (T)0;
    T* o = out + b * os[0] + h * os[1] + i * os[2];
    const T* a = acc + r * Dv;
#pragma omp simd
    for (int64_t e = 0; e < Dv; ++e) o[e] = a[e] * inv;
    lse_rows[i] = l[r] > 0 ? m[r] + (T)std::log(l[r]) : ninf;
  }
  if (!weights) return;
  // The normalised weights (before dropout), recomputed from the final lse: one more pass over the keys.
  for (int64_t r = 0; r < nq; ++r) {
    T* w = weights + ((b * P.H + h) * P.Tq + i0 + r) * P.Tk;
    std::fill(w, w + P.Tk, (T)0);
  }
  for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
    const int64_t nk = std::min(kBK, kend - j0);
    load_transposed(P.krow(b, h, j0), P.ks[2], nk, D, kt);
    tile_product(nq, kBK, D, qblk, P.qs[2], kt, st);
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      const T L = lse_rows[i];
      if (L == ninf || (P.causal && j0 > i)) continue;
      T* s = st + r * kBK;
      for (int64_t c = 0; c < kBK; ++c) s[c] *= P.scale;
      P.mask_row(b, i, j0, nk, s);
      T* w = weights + ((b * P.H + h) * P.Tq + i) * P.Tk + j0;
      for (int64_t c = 0; c < nk; ++c) w[c] = std::exp(s[c] - L);
    }
  }
}

template <typename T>
void attention_forward(const Problem<T>& P, T* out, const int64_t* os, T* lse, T* weights, T* workspace,
                       int64_t ws_per_thread) {
  const int64_t blocks = (P.Tq + kBQ - 1) / kBQ;
  const int64_t tasks = P.B * P.H * blocks;
  const double work = (double)P.B * P.H * P.Tq * P.Tk * (P.D + P.Dv);
#pragma omp parallel for schedule(dynamic) if (work > soma::kParallelGrain && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t qb = t % blocks, bh = t / blocks;
    T* ws = workspace + (int64_t)omp_get_thread_num() * ws_per_thread;
    forward_block(P, bh / P.H, bh % P.H, qb * kBQ, out, os, lse, weights, ws);
  }
}

// ------------------------------------------------------------------ backward

template <typename T>
void backward_head(const Problem<T>& P, int64_t b, int64_t h, const T* out, const int64_t* os, const T* lse,
                   const T* go, const int64_t* gos, T* gq, const int64_t* gqs, T* gk, const int64_t* gks, T* gv,
                   const int64_t* gvs, T* delta, T* ws) {
  const int64_t D = P.D, Dv = P.Dv, Tq = P.Tq;
  T* kt = ws;                  // D x kBK
  T* vt = kt + D * kBK;        // Dv x kBK
  T* pt = vt + Dv * kBK;       // kBQ x kBK: probabilities (after dropout, what multiplied V)
  T* ds = pt + kBQ * kBK;      // kBQ x kBK: dP, then score gradients (times scale)
  T* z = ds + kBQ * kBK;       // kBK
  float* u = (float*)(z + kBK);  // kBK floats
  const T ninf = (T)kNegInf;
  const T* lse_rows = lse + (b * P.H + h) * Tq;
  T* dl = delta + (b * P.H + h) * Tq;
  const T* go_bh = go + b * gos[0] + h * gos[1];
  T* gq_bh = gq + b * gqs[0] + h * gqs[1];
  for (int64_t i = 0; i < Tq; ++i) {
    const T* o = out + b * os[0] + h * os[1] + i * os[2];
    const T* g = go_bh + i * gos[2];
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < Dv; ++e) acc += o[e] * g[e];
    dl[i] = acc;
    std::fill(gq_bh + i * gqs[2], gq_bh + i * gqs[2] + D, (T)0);
  }
  const int64_t len = P.key_length(b);
  const int64_t kend = P.causal ? std::min(len, Tq) : len;
  for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
    const int64_t nk = std::min(kBK, kend - j0);
    const T* kblk = P.krow(b, h, j0);
    load_transposed(kblk, P.ks[2], nk, D, kt);
    load_transposed(P.vrow(b, h, j0), P.vs[2], nk, Dv, vt);
    // The block's key and value gradients are summed straight into grad_k and grad_v, the first product written.
    T* dk = gk + b * gks[0] + h * gks[1] + j0 * gks[2];
    T* dv = gv + b * gvs[0] + h * gvs[1] + j0 * gvs[2];
    bool first = true;
    for (int64_t i0 = P.causal ? j0 / kBQ * kBQ : 0; i0 < Tq; i0 += kBQ) {
      const int64_t nq = std::min(kBQ, Tq - i0);
      const T* qblk = P.qrow(b, h, i0);
      const T* goblk = go_bh + i0 * gos[2];
      tile_product(nq, nk, D, qblk, P.qs[2], kt, pt);     // scores (padded keys give 0)
      tile_product(nq, nk, Dv, goblk, gos[2], vt, ds);    // dP = dO V^T
      for (int64_t r = 0; r < nq; ++r) {
        const int64_t i = i0 + r;
        T* prow = pt + r * kBK;
        T* srow = ds + r * kBK;
        const T L = lse_rows[i];
        if (L == ninf || (P.causal && j0 > i)) {
          std::fill(prow, prow + kBK, (T)0);
          std::fill(srow, srow + kBK, (T)0);
          continue;
        }
#pragma omp simd
        for (int64_t c = 0; c < kBK; ++c) prow[c] *= P.scale;
        P.mask_row(b, i, j0, nk, prow);
        exp_shifted(prow, L);
        if (P.dropout > 0) {
          P.dropout_factors(b, h, i, j0, nk, u, z);
          for (int64_t c = 0; c < kBK; ++c) srow[c] *= z[c];
        }
        const T di = dl[i];
#pragma omp simd
        for (int64_t c = 0; c < kBK; ++c) srow[c] = prow[c] * (srow[c] - di) * P.scale;
        if (P.dropout > 0) {
          for (int64_t c = 0; c < kBK; ++c) prow[c] *= z[c];
        }
      }
      gemm_at(nk, Dv, nq, pt, kBK, goblk, gos[2], dv, gvs[2], !first);  // dV += P^T dO
      gemm_at(nk, D, nq, ds, kBK, qblk, P.qs[2], dk, gks[2], !first);    // dK += dS^T Q
      gemm(nq, D, nk, ds, kBK, kblk, P.ks[2], gq_bh + i0 * gqs[2], gqs[2], true);  // dQ += dS K
      first = false;
    }
    if (first) {  // no query rows (Tq = 0): no gradient
      zero_rows(dk, nk, D, gks[2]);
      zero_rows(dv, nk, Dv, gvs[2]);
    }
  }
  const int64_t seen = std::max<int64_t>(kend, 0);  // the keys past it no query sees: zero gradients
  zero_rows(gk + b * gks[0] + h * gks[1] + seen * gks[2], P.Tk - seen, D, gks[2]);
  zero_rows(gv + b * gvs[0] + h * gvs[1] + seen * gvs[2], P.Tk - seen, Dv, gvs[2]);
}

template <typename T>
void attention_backward(const Problem<T>& P, const T* out, const int64_t* os, const T* lse, const T* go,
                        const int64_t* gos, T* gq, const int64_t* gqs, T* gk, const int64_t* gks, T* gv,
                        const int64_t* gvs, T* delta, T* workspace, int64_t ws_per_thread) {
  const int64_t tasks = P.B * P.H;
  const double work = (double)P.B * P.H * P.Tq * P.Tk * (P.D + P.Dv);
#pragma omp parallel for schedule(dynamic) if (work > soma::kParallelGrain && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    T* ws = workspace + (int64_t)omp_get_thread_num() * ws_per_thread;
    backward_head(P, t / P.H, t % P.H, out, os, lse, go, gos, gq, gqs, gk, gks, gv, gvs, delta, ws);
  }
}

template <typename T>
Problem<T> problem(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, const void* q,
                   const int64_t* qs, const void* k, const int64_t* ks, const void* v, const int64_t* vs, double scale,
                   int causal, const int32_t* lengths, const int32_t* mask, int64_t mbs, int64_t mqs, double dropout,
                   uint64_t seed, uint64_t stream) {
  return Problem<T>{B, H, Tq, Tk, D, Dv, (const T*)q, qs, (const T*)k, ks, (const T*)v, vs, (T)scale, causal != 0,
                    lengths, mask, mbs, mqs, dropout, seed, stream};
}

}  // namespace

extern "C" {

int64_t soma_cpu_attention_workspace(int64_t d, int64_t dv) {
  // Elements (of the call's dtype) per thread; the f32 scratch of kBK floats fits in kBK elements.
  const int64_t fwd = d * kBK + kBQ * kBK + kBK + kBQ * dv + 2 * kBQ + kBK;
  const int64_t bwd = (d + dv) * kBK + 2 * kBQ * kBK + 2 * kBK;
  return std::max(fwd, bwd);
}

void soma_cpu_attention_forward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                int causal, const int32_t* key_lengths, const int32_t* mask, int64_t mask_batch_stride,
                                int64_t mask_query_stride, double dropout, uint64_t seed, uint64_t stream, void* out,
                                const int64_t* out_strides, void* lse, void* weights, void* workspace) {
  const int64_t per = soma_cpu_attention_workspace(d, dv);
  SOMA_DISPATCH_FLOAT(dtype, T,
                      attention_forward<T>(problem<T>(batch, heads, tq, tk, d, dv, q, q_strides, k, k_strides, v,
                                                      v_strides, scale, causal, key_lengths, mask, mask_batch_stride,
                                                      mask_query_stride, dropout, seed, stream),
                                           (T*)out, out_strides, (T*)lse, (T*)weights, (T*)workspace, per));
}

void soma_cpu_attention_backward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                 int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                 const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                 int causal, const int32_t* key_lengths, const int32_t* mask,
                                 int64_t mask_batch_stride, int64_t mask_query_stride, double dropout, uint64_t seed,
                                 uint64_t stream, const void* out, const int64_t* out_strides, const void* lse,
                                 const void* grad_out, const int64_t* grad_out_strides, void* grad_q,
                                 const int64_t* grad_q_strides, void* grad_k, const int64_t* grad_k_strides,
                                 void* grad_v, const int64_t* grad_v_strides, void* delta, void* workspace) {
  const int64_t per = soma_cpu_attention_workspace(d, dv);
  SOMA_DISPATCH_FLOAT(dtype, T,
                      attention_backward<T>(problem<T>(batch, heads, tq, tk, d, dv, q, q_strides, k, k_strides, v,
                                                       v_strides, scale, causal, key_lengths, mask, mask_batch_stride,
                                                       mask_query_stride, dropout, seed, stream),
                                            (const T*)out, out_strides, (const T*)lse, (const T*)grad_out,
                                            grad_out_strides, (T*)grad_q, grad_q_strides, (T*)grad_k, grad_k_strides,
                                            (T*)grad_v, grad_v_strides, (T*)delta, (T*)workspace, per));
}

}  // extern "C"
