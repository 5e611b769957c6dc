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
// Tiles live in a per-thread workspace from Java's pool (soma_cpu_attention_workspace elements per thread).
// Loops over a key tile have the constant trip count kBK (tiles are zero padded) so that they vectorise.
#include "soma.h"
#include "dtype_dispatch.h"
#include "philox.h"
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace {

constexpr int64_t kBQ = 32;  // query rows per forward task
constexpr int64_t kBK = 64;  // keys per tile
constexpr int64_t kR = 4;    // query rows per backward step (rank-kR updates of the dK and dV tiles)

// exp for the f32 path: Cody-Waite reduction and Cephes' degree-6 polynomial (about 2 ulp), branch free so
// that the loops calling it vectorise (glibc's expf does not without -ffast-math). Inputs below -88 give 0.
inline float exp_f32(float x) {
  x = x < -88.0f ? -88.0f : (x > 88.0f ? 88.0f : x);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float f = x - n * 0.693359375f + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * f + 1.3981999507e-3f;
  y = y * f + 8.3334519073e-3f;
  y = y * f + 4.1665795894e-2f;
  y = y * f + 1.6666665459e-1f;
  y = y * f + 5.0000001201e-1f;
  y = y * f * f + f + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline float exp_t(float x) { return exp_f32(x); }
inline double exp_t(double x) { return std::exp(x); }

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

// s[c] = scale * sum_d x[d] tile[d][c] for the kBK columns of a transposed tile.
template <typename T>
inline void row_times_tile(const T* __restrict x, const T* __restrict tile, int64_t width, T scale, T* __restrict s) {
  T acc[kBK];
  for (int64_t c = 0; c < kBK; ++c) acc[c] = 0;
  for (int64_t d = 0; d < width; ++d) {
    const T xd = x[d];
    const T* __restrict t = tile + d * kBK;
#pragma omp simd
    for (int64_t c = 0; c < kBK; ++c) acc[c] += xd * t[c];
  }
  for (int64_t c = 0; c < kBK; ++c) s[c] = acc[c] * scale;
}

template <typename T>
inline T row_max(const T* s) {
  T m = s[0];
  for (int64_t c = 1; c < kBK; ++c) m = s[c] > m ? s[c] : m;
  return m;
}

// ------------------------------------------------------------------ forward

template <typename T>
void forward_block(const Problem<T>& P, int64_t b, int64_t h, int64_t i0, T* out, const int64_t* os, T* lse,
                   T* weights, T* ws) {
  const int64_t D = P.D, Dv = P.Dv, nq = std::min(kBQ, P.Tq - i0);
  T* kt = ws;                  // D x kBK
  T* s = kt + D * kBK;         // kBK
  T* z = s + kBK;              // kBK
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
  const int64_t len = P.key_length(b);
  const int64_t kend = P.causal ? std::min(len, i0 + nq) : len;
  for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
    const int64_t nk = std::min(kBK, kend - j0);
    load_transposed(P.krow(b, h, j0), P.ks[2], nk, D, kt);
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      if (P.causal && j0 > i) break;
      row_times_tile(P.qrow(b, h, i), kt, D, P.scale, s);
      P.mask_row(b, i, j0, nk, s);
      const T mnew = std::max(m[r], row_max(s));
      if (mnew == ninf) continue;  // nothing visible yet
      const T alpha = exp_t(m[r] - mnew);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t c = 0; c < kBK; ++c) {
        s[c] = exp_t(s[c] - mnew);
        sum += s[c];
      }
      l[r] = l[r] * alpha + sum;
      m[r] = mnew;
      T* __restrict a = acc + r * Dv;
      if (alpha != (T)1) {
#pragma omp simd
        for (int64_t e = 0; e < Dv; ++e) a[e] *= alpha;
      }
      if (P.dropout > 0) {
        P.dropout_factors(b, h, i, j0, nk, u, z);
        for (int64_t c = 0; c < kBK; ++c) s[c] *= z[c];
      }
      for (int64_t c = 0; c < nk; ++c) {
        const T pc = s[c];
        if (pc == (T)0) continue;
        const T* __restrict vr = P.vrow(b, h, j0 + c);
#pragma omp simd
        for (int64_t e = 0; e < Dv; ++e) a[e] += pc * vr[e];
      }
    }
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
    const int64_t i = i0 + r;
    T* w = weights + ((b * P.H + h) * P.Tq + i) * P.Tk;
    std::fill(w, w + P.Tk, (T)0);
  }
  for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
    const int64_t nk = std::min(kBK, kend - j0);
    load_transposed(P.krow(b, h, j0), P.ks[2], nk, D, kt);
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t i = i0 + r;
      const T L = lse_rows[i];
      if (L == ninf || (P.causal && j0 > i)) continue;
      row_times_tile(P.qrow(b, h, i), kt, D, P.scale, s);
      P.mask_row(b, i, j0, nk, s);
      T* w = weights + ((b * P.H + h) * P.Tq + i) * P.Tk + j0;
      for (int64_t c = 0; c < nk; ++c) w[c] = exp_t(s[c] - L);
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
  T* dk = vt + Dv * kBK;       // kBK x D
  T* dv = dk + kBK * D;        // kBK x Dv
  T* pd = dv + kBK * Dv;       // kR x kBK: weights after dropout (what multiplied V)
  T* ds = pd + kR * kBK;       // kR x kBK: score gradients (times scale)
  T* dp = ds + kR * kBK;       // kBK
  T* z = dp + kBK;             // kBK
  float* u = (float*)(z + kBK);  // kBK floats
  const T ninf = (T)kNegInf;
  const T* lse_rows = lse + (b * P.H + h) * Tq;
  T* dl = delta + (b * P.H + h) * Tq;
  auto gorow = [&](int64_t i) { return go + b * gos[0] + h * gos[1] + i * gos[2]; };
  auto gqrow = [&](int64_t i) { return gq + b * gqs[0] + h * gqs[1] + i * gqs[2]; };
  for (int64_t i = 0; i < Tq; ++i) {
    const T* o = out + b * os[0] + h * os[1] + i * os[2];
    const T* g = gorow(i);
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < Dv; ++e) acc += o[e] * g[e];
    dl[i] = acc;
    std::fill(gqrow(i), gqrow(i) + D, (T)0);
  }
  const int64_t len = P.key_length(b);
  const int64_t kend = P.causal ? std::min(len, Tq) : len;
  for (int64_t j0 = 0; j0 < kend; j0 += kBK) {
    const int64_t nk = std::min(kBK, kend - j0);
    load_transposed(P.krow(b, h, j0), P.ks[2], nk, D, kt);
    load_transposed(P.vrow(b, h, j0), P.vs[2], nk, Dv, vt);
    std::fill(dk, dk + kBK * D, (T)0);
    std::fill(dv, dv + kBK * Dv, (T)0);
    for (int64_t i0 = P.causal ? j0 : 0; i0 < Tq; i0 += kR) {
      const T* qr[kR];
      const T* gr[kR];
      bool any = false;
      for (int64_t rr = 0; rr < kR; ++rr) {
        const int64_t i = i0 + rr;
        T* prow = pd + rr * kBK;
        T* srow = ds + rr * kBK;
        qr[rr] = P.qrow(b, h, std::min(i, Tq - 1));
        gr[rr] = gorow(std::min(i, Tq - 1));
        if (i >= Tq || lse_rows[i] == ninf) {
          std::fill(prow, prow + kBK, (T)0);
          std::fill(srow, srow + kBK, (T)0);
          continue;
        }
        any = true;
        const T L = lse_rows[i];
        row_times_tile(qr[rr], kt, D, P.scale, srow);
        P.mask_row(b, i, j0, nk, srow);
#pragma omp simd
        for (int64_t c = 0; c < kBK; ++c) prow[c] = exp_t(srow[c] - L);
        row_times_tile(gr[rr], vt, Dv, (T)1, dp);
        if (P.dropout > 0) {
          P.dropout_factors(b, h, i, j0, nk, u, z);
          for (int64_t c = 0; c < kBK; ++c) dp[c] *= z[c];
        }
        const T di = dl[i];
#pragma omp simd
        for (int64_t c = 0; c < kBK; ++c) srow[c] = prow[c] * (dp[c] - di) * P.scale;
        if (P.dropout > 0) {
          for (int64_t c = 0; c < kBK; ++c) prow[c] *= z[c];
        }
      }
      if (!any) continue;
      // dV_j += sum_r pd[r][j] dO_r and dK_j += sum_r ds[r][j] Q_r: rank-kR updates of the tiles.
      for (int64_t c = 0; c < nk; ++c) {
        const T p0 = pd[c], p1 = pd[kBK + c], p2 = pd[2 * kBK + c], p3 = pd[3 * kBK + c];
        T* __restrict dvr = dv + c * Dv;
#pragma omp simd
        for (int64_t e = 0; e < Dv; ++e) dvr[e] += p0 * gr[0][e] + p1 * gr[1][e] + p2 * gr[2][e] + p3 * gr[3][e];
        const T s0 = ds[c], s1 = ds[kBK + c], s2 = ds[2 * kBK + c], s3 = ds[3 * kBK + c];
        T* __restrict dkr = dk + c * D;
#pragma omp simd
        for (int64_t e = 0; e < D; ++e) dkr[e] += s0 * qr[0][e] + s1 * qr[1][e] + s2 * qr[2][e] + s3 * qr[3][e];
      }
      // dQ_i += sum_j ds[i][j] K_j.
      for (int64_t rr = 0; rr < kR && i0 + rr < Tq; ++rr) {
        const T* srow = ds + rr * kBK;
        T* __restrict g = gqrow(i0 + rr);
        for (int64_t c = 0; c < nk; ++c) {
          const T sc = srow[c];
          if (sc == (T)0) continue;
          const T* __restrict kr = P.krow(b, h, j0 + c);
#pragma omp simd
          for (int64_t e = 0; e < D; ++e) g[e] += sc * kr[e];
        }
      }
    }
    for (int64_t c = 0; c < nk; ++c) {
      std::memcpy(gk + b * gks[0] + h * gks[1] + (j0 + c) * gks[2], dk + c * D, D * sizeof(T));
      std::memcpy(gv + b * gvs[0] + h * gvs[1] + (j0 + c) * gvs[2], dv + c * Dv, Dv * sizeof(T));
    }
  }
  for (int64_t j = std::max<int64_t>(kend, 0); j < P.Tk; ++j) {
    T* a = gk + b * gks[0] + h * gks[1] + j * gks[2];
    T* c = gv + b * gvs[0] + h * gvs[1] + j * gvs[2];
    std::fill(a, a + D, (T)0);
    std::fill(c, c + Dv, (T)0);
  }
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
  const int64_t fwd = d * kBK + 2 * kBK + kBQ * dv + 2 * kBQ + kBK;
  const int64_t bwd = (d + dv) * kBK + kBK * (d + dv) + 2 * kR * kBK + 2 * kBK + kBK;
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
