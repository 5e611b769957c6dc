// Fused scaled-dot-product attention on CUDA, forward and backward, FlashAttention-2 style (f32, f64).
// Semantics are those of native/src/attention.cpp (the reference): s = scale * q.k; key j is visible to query i
// iff j < key_length[b], (causal: j <= i, top-left aligned) and mask[b * mbs + i * mqs + j] != 0; a query that
// sees no key gets output 0 and lse = -inf (and zero gradients); dropout multiplies the normalised weights by
// 1 / (1 - p) where the f32 Philox uniform of element ((b H + h) Tq + i) Tk + j is >= p, else by 0 (the same
// stream as soma_cpu_random, so the same mask bit for bit).
//
// Layout of every kernel: a block of 128 threads (4 warps) owns a tile of 32 "own" rows (query rows in the
// forward and dQ kernels, key rows in the dK/dV kernel), 8 per warp; the lanes of a warp walk the other side in
// tiles of 32 (lane = key, or lane = query). Per tile:
//   1. dot products over the feature dimension in chunks of DC: the own rows' chunk and the other rows' chunk
//      are staged in shared memory (the other side's rows padded to DC + 4 floats, so that the lanes' 16-byte
//      reads of one quarter-warp fall in distinct banks; the own side is read as a broadcast), four features per
//      16-byte load on both sides, each lane keeping 8 scores in registers;
//   2. the per-row softmax arithmetic in registers, with warp shuffles for the row max and sum (online softmax:
//      running max m and sum l per row, the accumulator rescaled by exp(m_old - m_new));
//   3. the per-warp probability tile goes to shared memory and the accumulator (8 rows x W output columns per
//      warp, W = 32 * CH, CH columns per lane in registers) takes P X with X's rows staged in shared memory.
// Output columns wider than W are split over blockIdx.y (each slice recomputes the scores: wide heads only).
// The score matrix is never stored: the forward writes out and lse = m + log l; the backward recomputes
// P = exp(s - lse) and runs two kernels so that no gradient needs atomics (deterministic): one owns query
// tiles and accumulates dQ = sum_j dS_ij K_j; one owns key tiles and accumulates dV = sum_i P_ij dO_i and
// dK = sum_i dS_ij Q_i, with dS_ij = P_ij (z_ij dO_i . V_j - delta_i) scale and delta_i = dO_i . O_i from a
// small kernel first.
#include "launch.cuh"
#include "soma_random_values.h"
#include "soma.h"

#include <cuda_runtime.h>
#include <cstdint>
#include <type_traits>

namespace {
using namespace soma_cuda;

constexpr int kRows = 32;    // own rows per block
constexpr int kWarps = 4;    // warps per block
constexpr int kPerWarp = kRows / kWarps;
constexpr int kBlock = kWarps * 32;
constexpr unsigned kFull = 0xffffffffu;
// Padding of the other side's staged rows: keeps 16-byte alignment and spreads lanes over the banks.
constexpr int kPad = 4;

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return -__longlong_as_double(0x7ff0000000000000LL); }

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    T w = __shfl_xor_sync(kFull, v, o);
    v = w > v ? w : v;
  }
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Word `element % 4` of Philox block `element / 4` of (seed, stream): the layout of native/src/philox.h, so the
// dropout mask is the CPU's bit for bit.
__device__ __forceinline__ uint32_t philox_word(uint64_t element, uint64_t seed, uint64_t stream) {
  uint32_t w[4];
  soma_rv::block_at(element >> 2, seed, stream, w);
  return w[element & 3];
}

// Everything one call needs, passed by value. Element strides (batch, head, time) per tensor; unit last stride.
template <typename T>
struct Args {
  int64_t B, H, Tq, Tk, D, Dv;
  const T* q; int64_t qs0, qs1, qs2;
  const T* k; int64_t ks0, ks1, ks2;
  const T* v; int64_t vs0, vs1, vs2;
  const T* o; int64_t os0, os1, os2;      // the forward's output (backward) / where it goes (forward)
  const T* go; int64_t gos0, gos1, gos2;  // the output gradient (backward)
  T* out; int64_t ws0, ws1, ws2;          // forward: out; dq kernel: dq; dkdv kernel: dk
  T* out2; int64_t w2s0, w2s1, w2s2;      // dkdv kernel: dv
  T* lse;                                 // [B, H, Tq] contiguous
  const T* delta;                         // [B, H, Tq] contiguous (backward)
  T scale;
  int causal;
  const int32_t* lengths;
  const int32_t* mask;
  int64_t mbs, mqs;
  float dropout;                          // 0: none
  T keep;                                 // 1 / (1 - dropout) in T, as the CPU rounds it
  uint64_t seed, stream;

  __device__ int64_t key_length(int64_t b) const {
    if (!lengths) return Tk;
    const int64_t n = lengths[b];
    return n < Tk ? n : Tk;
  }
  // Query i sees key j (both in range, j < the batch entry's key length checked by the caller's bounds).
  __device__ bool visible(int64_t b, int64_t i, int64_t j) const {
    if (causal && j > i) return false;
    return !mask || mask[b * mbs + i * mqs + j] != 0;
  }
  __device__ T drop_factor(int64_t b, int64_t h, int64_t i, int64_t j) const {
    const uint64_t e = (uint64_t)(((b * H + h) * Tq + i) * Tk + j);
    const float u = (float)(philox_word(e, seed, stream) >> 8) * 0x1.0p-24f;
    return u >= dropout ? keep : T(0);
  }
};

// Shared-memory plan of one block: own-row chunk [kRows][DC], other-row chunk [32][DC + kPad], the accumulation
// operand [32][W] and the per-warp probability tile [kRows][32].
template <typename T, int DC, int W>
struct Smem {
  static constexpr int kOwn = kRows * DC;
  static constexpr int kOther = 32 * (DC + kPad);
  static constexpr int kX = 32 * W;
  static constexpr int kP = kRows * 32;
  static constexpr size_t bytes = sizeof(T) * (kOwn + kOther + kX + kP);
};

// o[0..3] = p[0..3] from shared memory, 16-byte aligned: one float4 or two double2 loads.
__device__ __forceinline__ void load4(const float* p, float (&o)[4]) {
  const float4 t = *reinterpret_cast<const float4*>(p);
  o[0] = t.x; o[1] = t.y; o[2] = t.z; o[3] = t.w;
}
__device__ __forceinline__ void load4(const double* p, double (&o)[4]) {
  const double2 a = *reinterpret_cast<const double2*>(p), b = *reinterpret_cast<const double2*>(p + 2);
  o[0] = a.x; o[1] = a.y; o[2] = b.x; o[3] = b.y;
}

// dst[r * ld + c] = rows[r][c0 + c] for r < 32 (rows valid, else 0), c < WIDTH (columns < limit, else 0).
// A full tile whose rows start 16-byte aligned moves in 16-byte packs; otherwise element by element. WIDTH is a
// compile-time constant so the index arithmetic is shifts, not divisions (on an H200 the forward at T = 2048,
// 64 features, ran at 0.28 of the cuBLAS products with a runtime width and scalar loads).
// 16 bytes moved as one load and one store (our own type: the emulator's fallback headers have no uint4).
struct alignas(16) Bytes16 {
  uint32_t w[4];
};

template <int WIDTH, typename T>
__device__ __forceinline__ void stage(T* dst, int ld, const T* first_row, int64_t row_stride, int rows_valid,
                                      int64_t c0, int64_t limit) {
  constexpr int V = 16 / int(sizeof(T));  // elements per 16-byte pack
  const T* base = first_row + c0;
  const bool packed = WIDTH % V == 0 && rows_valid == 32 && c0 + WIDTH <= limit && row_stride % V == 0 &&
                      ld % V == 0 && (reinterpret_cast<uintptr_t>(base) & 15u) == 0;
  if (packed) {
    constexpr int kPacks = WIDTH / V;
    for (int idx = threadIdx.x; idx < 32 * kPacks; idx += kBlock) {
      const int r = idx / kPacks, c = (idx - r * kPacks) * V;
      *reinterpret_cast<Bytes16*>(dst + r * ld + c) = *reinterpret_cast<const Bytes16*>(base + r * row_stride + c);
    }
    return;
  }
  for (int idx = threadIdx.x; idx < 32 * WIDTH; idx += kBlock) {
    const int r = idx / WIDTH, c = idx - r * WIDTH;
    T x = T(0);
    if (r < rows_valid && c0 + c < limit) x = first_row[r * row_stride + c0 + c];
    dst[r * ld + c] = x;
  }
}

// s[r] = own_row(w * 8 + r) . other_row(lane) over `depth` features, chunk by chunk through shared memory.
// own_resident: the caller staged the own rows once (depth <= DC) and they are still in `own`.
template <typename T, int DC>
__device__ __forceinline__ void dots(T (&s)[kPerWarp], T* own, T* other, const T* own_rows, int64_t own_stride,
                                     int own_valid, const T* other_rows, int64_t other_stride, int other_valid,
                                     int64_t depth, bool own_resident) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < kPerWarp; ++r) s[r] = T(0);
  for (int64_t d0 = 0; d0 < depth; d0 += DC) {
    __syncthreads();  // the previous chunk's readers are done
    if (!own_resident) stage<DC>(own, DC, own_rows, own_stride, own_valid, d0, depth);
    stage<DC>(other, DC + kPad, other_rows, other_stride, other_valid, d0, depth);
    __syncthreads();
    // Features past depth were staged as zeros up to DC, so whole groups of four are safe to read.
    const int n = depth - d0 < DC ? int((depth - d0 + 3) & ~int64_t(3)) : DC;
    const T* ow = own + warp * kPerWarp * DC;
    const T* ot = other + lane * (DC + kPad);
    for (int d = 0; d < n; d += 4) {
      T x[4];
      load4(ot + d, x);
#pragma unroll
      for (int r = 0; r < kPerWarp; ++r) {
        T w[4];
        load4(ow + r * DC + d, w);
        s[r] += w[0] * x[0];
        s[r] += w[1] * x[1];
        s[r] += w[2] * x[2];
        s[r] += w[3] * x[3];
      }
    }
  }
}

// acc[r][c] += sum_j P[w * 8 + r][j] X[j][c0 + 32 c + lane] over the 32 rows j of X (X's rows staged in shared).
template <typename T, int CH>
__device__ __forceinline__ void accumulate(T (&acc)[kPerWarp][CH], const T* p, T* x, const T* x_rows,
                                           int64_t x_stride, int x_valid, int64_t c0, int64_t width) {
  constexpr int W = 32 * CH;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();  // earlier readers of x are done; this warp's P row writes are visible
  stage<W>(x, W, x_rows, x_stride, x_valid, c0, width);
  __syncthreads();
  const T* pw = p + warp * kPerWarp * 32;
  for (int j = 0; j < 32; j += 4) {
    T xv[4][CH];
#pragma unroll
    for (int jj = 0; jj < 4; ++jj)
#pragma unroll
      for (int c = 0; c < CH; ++c) xv[jj][c] = x[(j + jj) * W + c * 32 + lane];
#pragma unroll
    for (int r = 0; r < kPerWarp; ++r) {
      T pr[4];
      load4(pw + r * 32 + j, pr);
#pragma unroll
      for (int jj = 0; jj < 4; ++jj)
#pragma unroll
        for (int c = 0; c < CH; ++c) acc[r][c] += pr[jj] * xv[jj][c];
    }
  }
}

// ------------------------------------------------------------------ forward

template <typename T, int DC, int CH>
__global__ void __launch_bounds__(kBlock) attention_forward(Args<T> a, int64_t qtiles) {
  constexpr int W = 32 * CH;
  using S = Smem<T, DC, W>;
  SOMA_DYNAMIC_SHARED(T, smem);
  T* own = smem;
  T* other = own + S::kOwn;
  T* x = other + S::kOther;
  T* p = x + S::kX;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t bh = blockIdx.x / qtiles, i0 = (blockIdx.x % qtiles) * kRows;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t c0 = int64_t(blockIdx.y) * W;
  const int nq = a.Tq - i0 < kRows ? int(a.Tq - i0) : kRows;
  const T ninf = neg_inf<T>();

  T m[kPerWarp], l[kPerWarp], acc[kPerWarp][CH];
#pragma unroll
  for (int r = 0; r < kPerWarp; ++r) {
    m[r] = ninf;
    l[r] = T(0);
#pragma unroll
    for (int c = 0; c < CH; ++c) acc[r][c] = T(0);
  }
  const T* qrows = a.q + b * a.qs0 + h * a.qs1 + i0 * a.qs2;
  const int64_t len = a.key_length(b);
  const int64_t kend = a.causal ? (len < i0 + nq ? len : i0 + nq) : len;
  const bool resident = a.D <= DC;
  if (resident) stage<DC>(own, DC, qrows, a.qs2, nq, 0, a.D);  // dots() syncs before reading it

  for (int64_t j0 = 0; j0 < kend; j0 += 32) {
    const int nk = kend - j0 < 32 ? int(kend - j0) : 32;
    T s[kPerWarp];
    dots<T, DC>(s, own, other, qrows, a.qs2, nq, a.k + b * a.ks0 + h * a.ks1 + j0 * a.ks2, a.ks2, nk, a.D, resident);
    __syncwarp(kFull);
    const int64_t j = j0 + lane;
#pragma unroll
    for (int r = 0; r < kPerWarp; ++r) {
      const int row = warp * kPerWarp + r;
      const int64_t i = i0 + row;
      const bool vis = row < nq && lane < nk && a.visible(b, i, j);
      const T sc = vis ? s[r] * a.scale : ninf;
      const T mt = warp_max(sc);
      const T mnew = mt > m[r] ? mt : m[r];
      T pr = T(0);
      if (mnew != ninf) {  // warp-uniform
        const T alpha = m_exp(m[r] - mnew);
        pr = m_exp(sc - mnew);
        l[r] = l[r] * alpha + warp_sum(pr);
        m[r] = mnew;
#pragma unroll
        for (int c = 0; c < CH; ++c) acc[r][c] *= alpha;
        if (a.dropout > 0.0f && vis) pr *= a.drop_factor(b, h, i, j);
      }
      p[row * 32 + lane] = pr;
    }
    accumulate<T, CH>(acc, p, x, a.v + b * a.vs0 + h * a.vs1 + j0 * a.vs2, a.vs2, nk, c0, a.Dv);
  }

#pragma unroll
  for (int r = 0; r < kPerWarp; ++r) {
    const int row = warp * kPerWarp + r;
    if (row >= nq) continue;
    const int64_t i = i0 + row;
    const T inv = l[r] > T(0) ? T(1) / l[r] : T(0);
    T* o = a.out + b * a.ws0 + h * a.ws1 + i * a.ws2;
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int64_t e = c0 + c * 32 + lane;
      if (e < a.Dv) o[e] = acc[r][c] * inv;
    }
    if (blockIdx.y == 0 && lane == 0) a.lse[bh * a.Tq + i] = l[r] > T(0) ? m[r] + m_log(l[r]) : ninf;
  }
}

// ------------------------------------------------------------------ forward, register-blocked (f32)
// The forward for f32 heads of 32, 64 or 128 features (D == Dv) whose rows start 16-byte aligned: the layout of
// FlashAttention-2. A block of 4 warps owns 64 query rows (16 per warp); key / value tiles of BK rows are
// double-buffered in shared memory (on sm_80 and later the next tile is fetched with cp.async while the current
// one is used); every product is register-blocked: lane (ry, kx) = (lane / 8, lane % 8) of a warp holds the
// scores of its rows ry + 4a (a < 4) against the tile's keys kx + 8b (b < BK / 8), and the output columns
// 32 c + 4 kx + e of the same rows, so a 16-byte shared-memory read feeds 4 to 16 FMAs. The softmax runs in
// the exp2 domain with scale * log2(e) folded into one multiply; per-lane partial row sums are added across the
// row's 8 lanes once, at the end. Masks, key lengths and dropout are those of attention_forward.
constexpr int kTq = 64;        // query rows per block
constexpr int kTqWarp = 16;    // query rows per warp

template <int HD, int BK>
struct TiledSmem {
  static constexpr int kLdK = HD + 4;  // padded: the 8 lanes of a quarter-warp read 8 keys in distinct banks
  static constexpr int kLdP = BK + 4;
  static constexpr int kQ = kTq * kLdK;
  static constexpr int kK = BK * kLdK;
  static constexpr int kV = BK * HD;
  static constexpr int kP = kTq * kLdP;
  static constexpr size_t bytes = sizeof(float) * (kQ + 2 * kK + 2 * kV + kP);
};

// 16 bytes global -> shared; asynchronous (cp.async) where the device has it, a plain copy otherwise (and on
// the emulated device, where copy_commit / copy_wait are then no-ops).
__device__ __forceinline__ void copy16(float* dst, const float* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(src));
#else
  *reinterpret_cast<Bytes16*>(dst) = *reinterpret_cast<const Bytes16*>(src);
#endif
}
__device__ __forceinline__ void copy_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most one committed group of this thread is still in flight.
__device__ __forceinline__ void copy_wait_all_but_one() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 1;\n" ::);
#endif
}

// dst[r * ld + c] = rows[r][c] for r < ROWS, c < HD; rows at or past `valid` are zeros (plain stores).
template <int ROWS, int HD>
__device__ __forceinline__ void stage_rows(float* dst, int ld, const float* rows, int64_t stride, int valid) {
  constexpr int kPacks = HD / 4;
  for (int idx = threadIdx.x; idx < ROWS * kPacks; idx += kBlock) {
    const int r = idx / kPacks, c = (idx - r * kPacks) * 4;
    float* d = dst + r * ld + c;
    if (r < valid) {
      copy16(d, rows + r * stride + c);
    } else {
      d[0] = d[1] = d[2] = d[3] = 0.0f;
    }
  }
}

template <int HD, int BK>
__global__ void __launch_bounds__(kBlock, 2) attention_forward_tiled(Args<float> a, int64_t qtiles, float scale2) {
  using S = TiledSmem<HD, BK>;
  constexpr int KPL = BK / 8;   // keys per lane
  constexpr int CPL = HD / 32;  // 16-byte column groups per lane
  SOMA_DYNAMIC_SHARED(float, smem);
  float* qs = smem;
  float* ks = qs + S::kQ;       // two buffers
  float* vs = ks + 2 * S::kK;   // two buffers
  float* ps = vs + 2 * S::kV;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, ry = lane >> 3, kx = lane & 7;
  // The last query tiles first: under a causal mask they see the most keys, so the longest blocks start first.
  const int64_t bh = blockIdx.x / qtiles, i0 = (qtiles - 1 - blockIdx.x % qtiles) * kTq;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int nq = a.Tq - i0 < kTq ? int(a.Tq - i0) : kTq;
  const float ninf = neg_inf<float>();
  const int64_t len = a.key_length(b);
  const int64_t kend = a.causal ? (len < i0 + nq ? len : i0 + nq) : len;
  const int64_t tiles = (kend + BK - 1) / BK;
  const float* kbase = a.k + b * a.ks0 + h * a.ks1;
  const float* vbase = a.v + b * a.vs0 + h * a.vs1;

  float m[4], l[4], acc[4][CPL][4];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    m[r] = ninf;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < CPL; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[r][c][e] = 0.0f;
  }

  if (tiles > 0) {
    stage_rows<kTq, HD>(qs, S::kLdK, a.q + b * a.qs0 + h * a.qs1 + i0 * a.qs2, a.qs2, nq);
    const int nk0 = kend < BK ? int(kend) : BK;
    stage_rows<BK, HD>(ks, S::kLdK, kbase, a.ks2, nk0);
    stage_rows<BK, HD>(vs, HD, vbase, a.vs2, nk0);
    copy_commit();
  }

  for (int64_t t = 0; t < tiles; ++t) {
    const int buf = int(t & 1);
    const int64_t j0 = t * BK;
    if (t + 1 < tiles) {  // the other buffer was last read before the previous iteration's closing barrier
      const int64_t jn = j0 + BK;
      const int nkn = kend - jn < BK ? int(kend - jn) : BK;
      stage_rows<BK, HD>(ks + (buf ^ 1) * S::kK, S::kLdK, kbase + jn * a.ks2, a.ks2, nkn);
      stage_rows<BK, HD>(vs + (buf ^ 1) * S::kV, HD, vbase + jn * a.vs2, a.vs2, nkn);
    }
    copy_commit();  // (possibly empty: the wait below then always leaves exactly the newest group in flight)
    copy_wait_all_but_one();
    __syncthreads();  // tile t (and the query rows) are in shared memory for every thread

    // Scores: s[r][c] = q(row ry + 4 r) . k(key kx + 8 c).
    float s[4][KPL];
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < KPL; ++c) s[r][c] = 0.0f;
    const float* qw = qs + (warp * kTqWarp + ry) * S::kLdK;
    const float* kt = ks + buf * S::kK + kx * S::kLdK;
#pragma unroll 4
    for (int d = 0; d < HD; d += 4) {
      float4 q[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) q[r] = *reinterpret_cast<const float4*>(qw + 4 * r * S::kLdK + d);
#pragma unroll
      for (int c = 0; c < KPL; ++c) {
        const float4 kv = *reinterpret_cast<const float4*>(kt + 8 * c * S::kLdK + d);
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          s[r][c] = fmaf(q[r].x, kv.x, s[r][c]);
          s[r][c] = fmaf(q[r].y, kv.y, s[r][c]);
          s[r][c] = fmaf(q[r].z, kv.z, s[r][c]);
          s[r][c] = fmaf(q[r].w, kv.w, s[r][c]);
        }
      }
    }

    // Online softmax per row (the row's 8 lanes agree on its max through three shuffles).
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = warp * kTqWarp + ry + 4 * r;
      const int64_t i = i0 + row;
      float mt = ninf;
#pragma unroll
      for (int c = 0; c < KPL; ++c) {
        const int64_t j = j0 + kx + 8 * c;
        const bool vis = row < nq && j < kend && a.visible(b, i, j);
        s[r][c] = vis ? s[r][c] * scale2 : ninf;
        mt = s[r][c] > mt ? s[r][c] : mt;
      }
#pragma unroll
      for (int o = 1; o < 8; o <<= 1) {
        const float w = __shfl_xor_sync(kFull, mt, o);
        mt = w > mt ? w : mt;
      }
      const float mnew = mt > m[r] ? mt : m[r];
      float* prow = ps + row * S::kLdP + kx;
      if (mnew == ninf) {  // nothing visible yet in this row: P = 0, nothing to rescale
#pragma unroll
        for (int c = 0; c < KPL; ++c) prow[8 * c] = 0.0f;
        continue;
      }
      const float alpha = exp2f(m[r] - mnew);  // 0 while m was -inf
      m[r] = mnew;
      float sum = 0.0f;
#pragma unroll
      for (int c = 0; c < KPL; ++c) {
        float p = exp2f(s[r][c] - mnew);  // 0 where masked
        sum += p;
        if (a.dropout > 0.0f && s[r][c] != ninf) p *= a.drop_factor(b, h, i, j0 + kx + 8 * c);
        prow[8 * c] = p;
      }
      l[r] = l[r] * alpha + sum;
#pragma unroll
      for (int c = 0; c < CPL; ++c)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[r][c][e] *= alpha;
    }
    __syncwarp(kFull);  // this warp's P rows are written (each warp reads only its own)

    // acc[r][c][e] += sum_j P(row ry + 4 r, j) V(j, 32 c + 4 kx + e).
    const float* pw = ps + (warp * kTqWarp + ry) * S::kLdP;
    const float* vt = vs + buf * S::kV + 4 * kx;
#pragma unroll 2
    for (int j = 0; j < BK; j += 4) {
      float4 p[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) p[r] = *reinterpret_cast<const float4*>(pw + 4 * r * S::kLdP + j);
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int c = 0; c < CPL; ++c) {
          const float4 v = *reinterpret_cast<const float4*>(vt + (j + jj) * HD + 32 * c);
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const float pr = jj == 0 ? p[r].x : jj == 1 ? p[r].y : jj == 2 ? p[r].z : p[r].w;
            acc[r][c][0] = fmaf(pr, v.x, acc[r][c][0]);
            acc[r][c][1] = fmaf(pr, v.y, acc[r][c][1]);
            acc[r][c][2] = fmaf(pr, v.z, acc[r][c][2]);
            acc[r][c][3] = fmaf(pr, v.w, acc[r][c][3]);
          }
        }
      }
    }
    __syncthreads();  // every read of this buffer and of P is done before they are refilled
  }

  constexpr float kLn2 = 0.693147180559945309f;
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    float lt = l[r];
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) lt += __shfl_xor_sync(kFull, lt, o);
    const int row = warp * kTqWarp + ry + 4 * r;
    if (row >= nq) continue;
    const int64_t i = i0 + row;
    const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
    float* o = a.out + b * a.ws0 + h * a.ws1 + i * a.ws2 + 4 * kx;
#pragma unroll
    for (int c = 0; c < CPL; ++c)
      *reinterpret_cast<float4*>(o + 32 * c) =
          make_float4(acc[r][c][0] * inv, acc[r][c][1] * inv, acc[r][c][2] * inv, acc[r][c][3] * inv);
    if (kx == 0) a.lse[bh * a.Tq + i] = lt > 0.0f ? m[r] * kLn2 + logf(lt) : ninf;
  }
}

// The normalised weights before dropout, [B, H, Tq, Tk] contiguous, from the final lse: an inspection path
// (quadratic memory anyway), one block per (b, h, i), threads over keys.
template <typename T>
__global__ void attention_weights(Args<T> a, T* weights) {
  const int64_t row = blockIdx.x;  // (b H + h) Tq + i
  const int64_t i = row % a.Tq, bh = row / a.Tq, b = bh / a.H, h = bh % a.H;
  const T L = a.lse[row];
  const int64_t len = a.key_length(b);
  const T* qi = a.q + b * a.qs0 + h * a.qs1 + i * a.qs2;
  for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x) {
    T w = T(0);
    if (L != neg_inf<T>() && j < len && a.visible(b, i, j)) {
      const T* kj = a.k + b * a.ks0 + h * a.ks1 + j * a.ks2;
      T s = T(0);
      for (int64_t d = 0; d < a.D; ++d) s += qi[d] * kj[d];
      w = m_exp(s * a.scale - L);
    }
    weights[row * a.Tk + j] = w;
  }
}

// ------------------------------------------------------------------ backward

// delta[(b H + h) Tq + i] = dO_i . O_i: one warp per row.
template <typename T>
__global__ void attention_delta(Args<T> a, T* delta) {
  const int64_t rows = a.B * a.H * a.Tq;
  const int64_t row = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // whole warps leave together
  const int64_t i = row % a.Tq, bh = row / a.Tq, b = bh / a.H, h = bh % a.H;
  const T* o = a.o + b * a.os0 + h * a.os1 + i * a.os2;
  const T* g = a.go + b * a.gos0 + h * a.gos1 + i * a.gos2;
  T s = T(0);
  for (int64_t e = lane; e < a.Dv; e += 32) s += o[e] * g[e];
  s = warp_sum(s);
  if (lane == 0) delta[row] = s;
}

// dQ: a block owns 32 query rows; lanes walk keys. Writes dQ whole (columns c0 .. c0 + W of this slice).
template <typename T, int DC, int CH>
__global__ void __launch_bounds__(kBlock) attention_backward_dq(Args<T> a, int64_t qtiles) {
  constexpr int W = 32 * CH;
  using S = Smem<T, DC, W>;
  SOMA_DYNAMIC_SHARED(T, smem);
  T* own = smem;
  T* other = own + S::kOwn;
  T* x = other + S::kOther;
  T* p = x + S::kX;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t bh = blockIdx.x / qtiles, i0 = (blockIdx.x % qtiles) * kRows;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t c0 = int64_t(blockIdx.y) * W;
  const int nq = a.Tq - i0 < kRows ? int(a.Tq - i0) : kRows;
  const T ninf = neg_inf<T>();

  T L[kPerWarp], dl[kPerWarp], acc[kPerWarp][CH];
#pragma unroll
  for (int r = 0; r < kPerWarp; ++r) {
    const int row = warp * kPerWarp + r;
    L[r] = row < nq ? a.lse[bh * a.Tq + i0 + row] : ninf;
    dl[r] = row < nq ? a.delta[bh * a.Tq + i0 + row] : T(0);
#pragma unroll
    for (int c = 0; c < CH; ++c) acc[r][c] = T(0);
  }
  const T* qrows = a.q + b * a.qs0 + h * a.qs1 + i0 * a.qs2;
  const T* gorows = a.go + b * a.gos0 + h * a.gos1 + i0 * a.gos2;
  const int64_t len = a.key_length(b);
  const int64_t kend = a.causal ? (len < i0 + nq ? len : i0 + nq) : len;

  for (int64_t j0 = 0; j0 < kend; j0 += 32) {
    const int nk = kend - j0 < 32 ? int(kend - j0) : 32;
    const T* krows = a.k + b * a.ks0 + h * a.ks1 + j0 * a.ks2;
    T s[kPerWarp], dp[kPerWarp];
    dots<T, DC>(s, own, other, qrows, a.qs2, nq, krows, a.ks2, nk, a.D, false);
    dots<T, DC>(dp, own, other, gorows, a.gos2, nq, a.v + b * a.vs0 + h * a.vs1 + j0 * a.vs2, a.vs2, nk, a.Dv, false);
    __syncwarp(kFull);
    const int64_t j = j0 + lane;
#pragma unroll
    for (int r = 0; r < kPerWarp; ++r) {
      const int row = warp * kPerWarp + r;
      const int64_t i = i0 + row;
      T ds = T(0);
      if (row < nq && lane < nk && L[r] != ninf && a.visible(b, i, j)) {
        const T pr = m_exp(s[r] * a.scale - L[r]);
        T g = dp[r];
        if (a.dropout > 0.0f) g *= a.drop_factor(b, h, i, j);
        ds = pr * (g - dl[r]) * a.scale;
      }
      p[row * 32 + lane] = ds;
    }
    accumulate<T, CH>(acc, p, x, krows, a.ks2, nk, c0, a.D);
  }

#pragma unroll
  for (int r = 0; r < kPerWarp; ++r) {
    const int row = warp * kPerWarp + r;
    if (row >= nq) continue;
    T* o = a.out + b * a.ws0 + h * a.ws1 + (i0 + row) * a.ws2;
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int64_t e = c0 + c * 32 + lane;
      if (e < a.D) o[e] = acc[r][c];
    }
  }
}

// dK and dV: a block owns 32 key rows; lanes walk queries. Writes both whole (this slice's columns).
template <typename T, int DC, int CH>
__global__ void __launch_bounds__(kBlock) attention_backward_dkdv(Args<T> a, int64_t ktiles) {
  constexpr int W = 32 * CH;
  using S = Smem<T, DC, W>;
  SOMA_DYNAMIC_SHARED(T, smem);
  T* own = smem;
  T* other = own + S::kOwn;
  T* x = other + S::kOther;
  T* p = x + S::kX;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t bh = blockIdx.x / ktiles, j0 = (blockIdx.x % ktiles) * kRows;
  const int64_t b = bh / a.H, h = bh % a.H;
  const int64_t c0 = int64_t(blockIdx.y) * W;
  const int nk = a.Tk - j0 < kRows ? int(a.Tk - j0) : kRows;
  const T ninf = neg_inf<T>();

  T dk[kPerWarp][CH], dv[kPerWarp][CH];
#pragma unroll
  for (int r = 0; r < kPerWarp; ++r)
#pragma unroll
    for (int c = 0; c < CH; ++c) dk[r][c] = dv[r][c] = T(0);
  const T* krows = a.k + b * a.ks0 + h * a.ks1 + j0 * a.ks2;
  const T* vrows = a.v + b * a.vs0 + h * a.vs1 + j0 * a.vs2;
  const int64_t len = a.key_length(b);
  // Keys at or past the length see no query: their gradients stay 0. Causal: only queries i >= j0 see them.
  const int64_t first = j0 >= len ? a.Tq : (a.causal ? j0 : 0);

  for (int64_t i0 = first; i0 < a.Tq; i0 += 32) {
    const int nq = a.Tq - i0 < 32 ? int(a.Tq - i0) : 32;
    const T* qrows = a.q + b * a.qs0 + h * a.qs1 + i0 * a.qs2;
    const T* gorows = a.go + b * a.gos0 + h * a.gos1 + i0 * a.gos2;
    T s[kPerWarp], dp[kPerWarp], ds[kPerWarp];
    dots<T, DC>(s, own, other, krows, a.ks2, nk, qrows, a.qs2, nq, a.D, false);
    dots<T, DC>(dp, own, other, vrows, a.vs2, nk, gorows, a.gos2, nq, a.Dv, false);
    const int64_t i = i0 + lane;
    const T L = lane < nq ? a.lse[bh * a.Tq + i] : ninf;
    const T di = lane < nq ? a.delta[bh * a.Tq + i] : T(0);
    __syncwarp(kFull);
#pragma unroll
    for (int r = 0; r < kPerWarp; ++r) {
      const int row = warp * kPerWarp + r;
      const int64_t j = j0 + row;
      T pz = T(0);
      ds[r] = T(0);
      if (row < nk && j < len && L != ninf && a.visible(b, i, j)) {
        const T pr = m_exp(s[r] * a.scale - L);
        const T z = a.dropout > 0.0f ? a.drop_factor(b, h, i, j) : T(1);
        ds[r] = pr * (dp[r] * z - di) * a.scale;
        pz = pr * z;
      }
      p[row * 32 + lane] = pz;
    }
    accumulate<T, CH>(dv, p, x, gorows, a.gos2, nq, c0, a.Dv);
    __syncwarp(kFull);  // this warp's lanes are done reading its P rows
#pragma unroll
    for (int r = 0; r < kPerWarp; ++r) p[(warp * kPerWarp + r) * 32 + lane] = ds[r];
    accumulate<T, CH>(dk, p, x, qrows, a.qs2, nq, c0, a.D);
  }

#pragma unroll
  for (int r = 0; r < kPerWarp; ++r) {
    const int row = warp * kPerWarp + r;
    if (row >= nk) continue;
    const int64_t j = j0 + row;
    T* gk = a.out + b * a.ws0 + h * a.ws1 + j * a.ws2;
    T* gv = a.out2 + b * a.w2s0 + h * a.w2s1 + j * a.w2s2;
#pragma unroll
    for (int c = 0; c < CH; ++c) {
      const int64_t e = c0 + c * 32 + lane;
      if (e < a.D) gk[e] = dk[r][c];
      if (e < a.Dv) gv[e] = dv[r][c];
    }
  }
}

// ------------------------------------------------------------------ host side

// Feature chunk and the widest column slice per dtype, so that a block's shared memory stays under 48 KiB:
// f32 DC 64, W <= 128 (36.5 KiB); f64 DC 32, W <= 64 (41 KiB).
template <typename T> struct Tiles;
template <> struct Tiles<float> { static constexpr int DC = 64, MaxCH = 4; };
template <> struct Tiles<double> { static constexpr int DC = 32, MaxCH = 2; };

template <typename T>
int columns_per_lane(int64_t width) {
  const int64_t need = (width + 31) / 32;
  if (need <= 1) return 1;
  if (need <= 2 || Tiles<T>::MaxCH == 2) return 2;
  return 4;
}

enum class Kind { Forward, Dq, DkDv };

template <typename T, int CH>
int launch_kind(Kind kind, const Args<T>& a, int64_t width, cudaStream_t s) {
  constexpr int DC = Tiles<T>::DC;
  constexpr int W = 32 * CH;
  const size_t shared = Smem<T, DC, W>::bytes;
  const unsigned slices = unsigned((width + W - 1) / W);
  const int64_t own = kind == Kind::DkDv ? a.Tk : a.Tq;
  const int64_t tiles = (own + kRows - 1) / kRows;
  const dim3 grid(unsigned(a.B * a.H * tiles), slices < 1 ? 1 : slices);
  switch (kind) {
    case Kind::Forward:
      return launch<attention_forward<T, DC, CH>>(SOMA_SITE, grid, kBlock, shared, s, a, tiles);
    case Kind::Dq:
      return launch<attention_backward_dq<T, DC, CH>>(SOMA_SITE, grid, kBlock, shared, s, a, tiles);
    default:
      return launch<attention_backward_dkdv<T, DC, CH>>(SOMA_SITE, grid, kBlock, shared, s, a, tiles);
  }
}

template <typename T>
int launch_tiled(Kind kind, const Args<T>& a, int64_t width, cudaStream_t s) {
  switch (columns_per_lane<T>(width)) {
    case 1: return launch_kind<T, 1>(kind, a, width, s);
    case 2: return launch_kind<T, 2>(kind, a, width, s);
    default: return launch_kind<T, Tiles<T>::MaxCH>(kind, a, width, s);
  }
}

template <typename T>
Args<T> make_args(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, const void* q,
                  const int64_t* qs, const void* k, const int64_t* ks, const void* v, const int64_t* vs, double scale,
                  int causal, const int32_t* lengths, const int32_t* mask, int64_t mbs, int64_t mqs, double dropout,
                  uint64_t seed, uint64_t stream) {
  Args<T> a{};
  a.B = B; a.H = H; a.Tq = Tq; a.Tk = Tk; a.D = D; a.Dv = Dv;
  a.q = static_cast<const T*>(q); a.qs0 = qs[0]; a.qs1 = qs[1]; a.qs2 = qs[2];
  a.k = static_cast<const T*>(k); a.ks0 = ks[0]; a.ks1 = ks[1]; a.ks2 = ks[2];
  a.v = static_cast<const T*>(v); a.vs0 = vs[0]; a.vs1 = vs[1]; a.vs2 = vs[2];
  a.scale = T(scale);
  a.causal = causal != 0;
  a.lengths = lengths;
  a.mask = mask;
  a.mbs = mbs;
  a.mqs = mqs;
  a.dropout = dropout > 0 ? float(dropout) : 0.0f;
  a.keep = T(1.0 / (1.0 - dropout));
  a.seed = seed;
  a.stream = stream;
  return a;
}

// The register-blocked forward where it applies (f32, D == Dv of 32, 64 or 128, rows 16-byte aligned); -1
// where it does not (the general kernel runs), else the launch's status.
template <int HD, int BK>
int launch_forward_tiled(const Args<float>& a, cudaStream_t s) {
  constexpr size_t shared = TiledSmem<HD, BK>::bytes;  // above 48 KiB: opted in
  const int set = static_cast<int>(cudaFuncSetAttribute(attention_forward_tiled<HD, BK>,
                                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)));
  if (set != 0) return set;
  const int64_t tiles = (a.Tq + kTq - 1) / kTq;
  const float scale2 = float(double(a.scale) * 1.4426950408889634);  // scale * log2(e): exp(x) = exp2(x log2 e)
  return launch<attention_forward_tiled<HD, BK>>(SOMA_SITE, dim3(unsigned(a.B * a.H * tiles)), kBlock, shared, s, a,
                                                  tiles, scale2);
}

template <typename T>
int forward_register_blocked(const Args<T>& a, cudaStream_t s) {
  if constexpr (!std::is_same<T, float>::value) {
    return -1;
  } else {
    if (a.D != a.Dv || (a.D != 32 && a.D != 64 && a.D != 128)) return -1;
    const int64_t strides[] = {a.qs0, a.qs1, a.qs2, a.ks0, a.ks1, a.ks2, a.vs0, a.vs1, a.vs2, a.ws0, a.ws1, a.ws2};
    for (int64_t st : strides)
      if (st % 4 != 0) return -1;
    if (!aligned16(a.q) || !aligned16(a.k) || !aligned16(a.v) || !aligned16(a.out)) return -1;
    if (a.D == 32) return launch_forward_tiled<32, 64>(a, s);
    if (a.D == 64) return launch_forward_tiled<64, 64>(a, s);
    return launch_forward_tiled<128, 32>(a, s);
  }
}

template <typename T>
int forward_typed(Args<T> a, void* out, const int64_t* os, void* lse, void* weights, cudaStream_t s) {
  a.out = static_cast<T*>(out); a.ws0 = os[0]; a.ws1 = os[1]; a.ws2 = os[2];
  a.lse = static_cast<T*>(lse);
  if (a.B * a.H * a.Tq == 0) return 0;
  int status = forward_register_blocked(a, s);
  if (status < 0) status = launch_tiled<T>(Kind::Forward, a, a.Dv, s);
  if (status != 0 || weights == nullptr || a.Tk == 0) return status;
  return launch<attention_weights<T>>(SOMA_SITE, dim3(unsigned(a.B * a.H * a.Tq)), kBlock, 0, s, a,
                                      static_cast<T*>(weights));
}

template <typename T>
int backward_typed(Args<T> a, const void* out, const int64_t* os, const void* lse, const void* go,
                   const int64_t* gos, void* gq, const int64_t* gqs, void* gk, const int64_t* gks, void* gv,
                   const int64_t* gvs, void* delta, cudaStream_t s) {
  a.o = static_cast<const T*>(out); a.os0 = os[0]; a.os1 = os[1]; a.os2 = os[2];
  a.go = static_cast<const T*>(go); a.gos0 = gos[0]; a.gos1 = gos[1]; a.gos2 = gos[2];
  a.lse = const_cast<T*>(static_cast<const T*>(lse));
  a.delta = static_cast<const T*>(delta);
  int status = 0;
  const int64_t rows = a.B * a.H * a.Tq;
  if (rows > 0) {
    status = launch<attention_delta<T>>(SOMA_SITE, dim3(unsigned((rows + kWarps - 1) / kWarps)), kBlock, 0, s, a,
                                        static_cast<T*>(delta));
    if (status != 0) return status;
    Args<T> q = a;
    q.out = static_cast<T*>(gq); q.ws0 = gqs[0]; q.ws1 = gqs[1]; q.ws2 = gqs[2];
    status = launch_tiled<T>(Kind::Dq, q, a.D, s);
    if (status != 0) return status;
  }
  if (a.B * a.H * a.Tk == 0) return 0;
  Args<T> kv = a;
  kv.out = static_cast<T*>(gk); kv.ws0 = gks[0]; kv.ws1 = gks[1]; kv.ws2 = gks[2];
  kv.out2 = static_cast<T*>(gv); kv.w2s0 = gvs[0]; kv.w2s1 = gvs[1]; kv.w2s2 = gvs[2];
  return launch_tiled<T>(Kind::DkDv, kv, a.D > a.Dv ? a.D : a.Dv, s);
}

}  // namespace

extern "C" {

int soma_cuda_attention_forward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                int causal, const int32_t* key_lengths, const int32_t* mask, int64_t mask_batch_stride,
                                int64_t mask_query_stride, double dropout, uint64_t seed, uint64_t stream, void* out,
                                const int64_t* out_strides, void* lse, void* weights, void* cuda_stream) {
  switch (dtype) {
    case SOMA_F32:
      return forward_typed<float>(make_args<float>(batch, heads, tq, tk, d, dv, q, q_strides, k, k_strides, v,
                                                   v_strides, scale, causal, key_lengths, mask, mask_batch_stride,
                                                   mask_query_stride, dropout, seed, stream),
                                  out, out_strides, lse, weights, as_stream(cuda_stream));
    case SOMA_F64:
      return forward_typed<double>(make_args<double>(batch, heads, tq, tk, d, dv, q, q_strides, k, k_strides, v,
                                                     v_strides, scale, causal, key_lengths, mask, mask_batch_stride,
                                                     mask_query_stride, dropout, seed, stream),
                                   out, out_strides, lse, weights, as_stream(cuda_stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_attention_backward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                 int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                 const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                 int causal, const int32_t* key_lengths, const int32_t* mask,
                                 int64_t mask_batch_stride, int64_t mask_query_stride, double dropout, uint64_t seed,
                                 uint64_t stream, const void* out, const int64_t* out_strides, const void* lse,
                                 const void* grad_out, const int64_t* grad_out_strides, void* grad_q,
                                 const int64_t* grad_q_strides, void* grad_k, const int64_t* grad_k_strides,
                                 void* grad_v, const int64_t* grad_v_strides, void* delta, void* cuda_stream) {
  switch (dtype) {
    case SOMA_F32:
      return backward_typed<float>(make_args<float>(batch, heads, tq, tk, d, dv, q, q_strides, k, k_strides, v,
                                                    v_strides, scale, causal, key_lengths, mask, mask_batch_stride,
                                                    mask_query_stride, dropout, seed, stream),
                                   out, out_strides, lse, grad_out, grad_out_strides, grad_q, grad_q_strides, grad_k,
                                   grad_k_strides, grad_v, grad_v_strides, delta, as_stream(cuda_stream));
    case SOMA_F64:
      return backward_typed<double>(make_args<double>(batch, heads, tq, tk, d, dv, q, q_strides, k, k_strides, v,
                                                      v_strides, scale, causal, key_lengths, mask, mask_batch_stride,
                                                      mask_query_stride, dropout, seed, stream),
                                    out, out_strides, lse, grad_out, grad_out_strides, grad_q, grad_q_strides, grad_k,
                                    grad_k_strides, grad_v, grad_v_strides, delta, as_stream(cuda_stream));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
