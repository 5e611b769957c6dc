// 2-d convolution and pooling over channels-last (NHWC) data with Keras' HWIO kernels: the CUDA half of the
// conv family (soma.h). Semantics are those of native/src/conv.cpp (the CPU reference): padding on each side
// as the op computed it, dilations (1 = none), fused bias + ReLU on the forward, pooling over the window
// clipped to the image (max: padding never wins, ties go to the first position in row-major order; average:
// padding excluded).
//
// Convolution is an implicit GEMM: one tiled shared-memory GEMM kernel (64x64 output tile per block, 16-deep
// reduction slices, 256 threads, each owning a 4x4 register micro-tile, next slice prefetched into registers
// while the current one is multiplied) whose A and B tiles are gathered from the NHWC tensors on the fly, so
// no im2col matrix is ever written. The three passes are three "problems" plugged into that kernel:
//   forward          out[N*OH*OW, OC]    = im2col(x)[N*OH*OW, KH*KW*C]  . w[KH*KW*C, OC]          (+ bias, ReLU)
//   backward data    gx[N*H*W, C]        = gather(gy)[N*H*W, KH*KW*OC]  . w^T[KH*KW*OC, C]
//   backward weights gw[KH*KW*C, OC]     = im2col(x)^T[KH*KW*C, N*OH*OW] . gy[N*OH*OW, OC]       (+ bias grad)
// Every gather walks the channel axis with consecutive threads, so loads are coalesced. Backward data with
// strides > 1 multiplies zeros for the taps that hit no output (a per-phase split would skip them; not done).
// Backward weights reduces over N*OH*OW: it is split along that axis into a number of slices that depends on
// the geometry only (never on the device), each slice writes its partial product to a workspace, and a second
// kernel sums the slices in a fixed order: deterministic, no floating-point atomics. Its bias gradient is the
// column sum of gy, taken from the same gy tiles by the blocks of the first row of tiles.
//
// Pooling: one thread per output element (channel fastest: coalesced) for the forward; the backward gathers
// (one thread per input element sums the gradients of the windows that chose it) instead of scattering, so it
// needs no atomics either and adds in the CPU's order. Max pooling's training forward may record each output's
// winner (its y * W + x inside the image, int32) in a workspace the backward then reads; without one the
// backward recomputes the winners from x.
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cmath>
#include <cstdint>

namespace {
using namespace soma_cuda;

constexpr int kBM = 64;            // rows of the output tile
constexpr int kBN = 64;            // columns of the output tile
constexpr int kBK = 16;            // depth of one reduction slice
constexpr int kTM = 4, kTN = 4;    // micro-tile of one thread: rows ty + 16 i, columns tx + 16 j
constexpr int kGemmThreads = (kBM / kTM) * (kBN / kTN);  // 256
constexpr int kPad = 4;            // shared-memory row padding
constexpr int kLoads = kBM * kBK / kGemmThreads;           // elements of each tile one thread loads: 4
static_assert(kBN * kBK / kGemmThreads == kLoads, "A and B tiles are loaded in the same number of steps");
constexpr int kMaxSplits = 64;     // slices of the backward-weights reduction
constexpr int kTargetBlocks = 512; // blocks the backward-weights grid aims for (fixed: not the device's)

// The geometry array of soma.h (SOMA_CONV_*) in 32-bit fields (the entries check that everything fits).
struct ConvGeom {
  int n, h, w, c, oh, ow, oc, kh, kw, sh, sw, dh, dw, pt, pl;
};

bool unpack(const int64_t* a, ConvGeom* g) {
  for (int k = 0; k < SOMA_CONV_GEOM_LEN; ++k)
    if (a[k] < 0 || a[k] > INT32_MAX) return false;
  g->n = int(a[SOMA_CONV_N]); g->h = int(a[SOMA_CONV_H]); g->w = int(a[SOMA_CONV_W]); g->c = int(a[SOMA_CONV_C]);
  g->oh = int(a[SOMA_CONV_OH]); g->ow = int(a[SOMA_CONV_OW]); g->oc = int(a[SOMA_CONV_OC]);
  g->kh = int(a[SOMA_CONV_KH]); g->kw = int(a[SOMA_CONV_KW]); g->sh = int(a[SOMA_CONV_SH]);
  g->sw = int(a[SOMA_CONV_SW]); g->dh = int(a[SOMA_CONV_DH]); g->dw = int(a[SOMA_CONV_DW]);
  g->pt = int(a[SOMA_CONV_PAD_TOP]); g->pl = int(a[SOMA_CONV_PAD_LEFT]);
  return g->sh > 0 && g->sw > 0 && g->dh > 0 && g->dw > 0;
}

constexpr int kInvalid = static_cast<int>(cudaErrorInvalidValue);

// ------------------------------------------------------------------ the implicit-GEMM kernel
// C[R, S] = sum over t of A(r, t) * B(t, s), t restricted to this block's slice (blockIdx.z). A problem P says
// how to fetch A and B elements (returning 0 outside the tensors) and where results go:
//   kAFastT / kBFastT: whether consecutive threads load consecutive t (else consecutive r / s) - whichever
//     walks the memory contiguously;
//   ARow a_row(r), T a(ARow, t): per-row set-up done once per thread, then the element at t;
//   BCol b_col(s), T b(BCol, t): the same for B's columns;
//   store(r, s, value, slice) and, when it wants B's column sums (bias gradient), col_sum(s, value, slice).
template <typename T, class P>
__global__ void __launch_bounds__(kGemmThreads) implicit_gemm(P p) {
  __shared__ T As[kBK][kBM + kPad];
  __shared__ T Bs[kBK][kBN + kPad];
  const int tid = threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.x) * kBM;
  const int64_t s0 = int64_t(blockIdx.y) * kBN;
  const int64_t t_begin = int64_t(blockIdx.z) * p.t_per_split;
  const int64_t t_end = p.D < t_begin + p.t_per_split ? p.D : t_begin + p.t_per_split;

  // Where this thread's loads land in the tiles, and their per-row / per-column set-up.
  int a_r[kLoads], a_t[kLoads], b_s[kLoads], b_t[kLoads];
  typename P::ARow arow[kLoads];
  typename P::BCol bcol[kLoads];
#pragma unroll
  for (int q = 0; q < kLoads; ++q) {
    if (P::kAFastT) {
      a_t[q] = tid % kBK;
      a_r[q] = tid / kBK + q * (kGemmThreads / kBK);
    } else {
      a_r[q] = tid % kBM;
      a_t[q] = tid / kBM + q * (kGemmThreads / kBM);
    }
    if (P::kBFastT) {
      b_t[q] = tid % kBK;
      b_s[q] = tid / kBK + q * (kGemmThreads / kBK);
    } else {
      b_s[q] = tid % kBN;
      b_t[q] = tid / kBN + q * (kGemmThreads / kBN);
    }
    arow[q] = p.a_row(r0 + a_r[q]);
    bcol[q] = p.b_col(s0 + b_s[q]);
  }

  T ra[kLoads], rb[kLoads];
#pragma unroll
  for (int q = 0; q < kLoads; ++q) {
    const int64_t ta = t_begin + a_t[q], tb = t_begin + b_t[q];
    ra[q] = ta < t_end ? p.a(arow[q], ta) : T(0);
    rb[q] = tb < t_end ? p.b(bcol[q], tb) : T(0);
  }
#pragma unroll
  for (int q = 0; q < kLoads; ++q) {
    As[a_t[q]][a_r[q]] = ra[q];
    Bs[b_t[q]][b_s[q]] = rb[q];
  }
  __syncthreads();

  const int ty = tid / (kBN / kTN), tx = tid % (kBN / kTN);
  const bool sums = p.wants_col_sums() && blockIdx.x == 0 && tid < kBN;
  T acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = T(0);
  T col_sum = T(0);

  for (int64_t t0 = t_begin; t0 < t_end; t0 += kBK) {
    const bool more = t0 + kBK < t_end;  // the same for every thread: the barriers below are uniform
    if (more) {                          // the next slice's global loads overlap this slice's math
#pragma unroll
      for (int q = 0; q < kLoads; ++q) {
        const int64_t ta = t0 + kBK + a_t[q], tb = t0 + kBK + b_t[q];
        ra[q] = ta < t_end ? p.a(arow[q], ta) : T(0);
        rb[q] = tb < t_end ? p.b(bcol[q], tb) : T(0);
      }
    }
    if (sums) {
#pragma unroll
      for (int k = 0; k < kBK; ++k) col_sum += Bs[k][tid];
    }
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      T av[kTM], bv[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) av[i] = As[k][ty + i * (kBM / kTM)];
#pragma unroll
      for (int j = 0; j < kTN; ++j) bv[j] = Bs[k][tx + j * (kBN / kTN)];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
    if (more) {
#pragma unroll
      for (int q = 0; q < kLoads; ++q) {
        As[a_t[q]][a_r[q]] = ra[q];
        Bs[b_t[q]][b_s[q]] = rb[q];
      }
      __syncthreads();
    }
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int64_t r = r0 + ty + i * (kBM / kTM);
    if (r >= p.R) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int64_t s = s0 + tx + j * (kBN / kTN);
      if (s < p.S) p.store(r, s, acc[i][j], int(blockIdx.z));
    }
  }
  if (sums && s0 + tid < p.S) p.col_sum(s0 + tid, col_sum, int(blockIdx.z));
}

// Sizes every problem carries: C is R x S, the reduction runs over D, split into slices of t_per_split.
struct GemmShape {
  int64_t R, S, D, t_per_split;  // D: the reduction's depth
};

// ---- forward: A = im2col(x) (r = output position, t = (i, j, ci)), B = w as [KH*KW*C, OC]
template <typename T>
struct ForwardProblem : GemmShape {
  static constexpr bool kAFastT = true, kBFastT = false;
  ConvGeom g;
  int kwc;  // KW * C
  const T* x;
  const T* w;
  const T* bias;  // may be null
  int relu;
  T* out;

  struct ARow {
    int64_t base;  // the image's first element
    int y0, x0;    // the window's top-left corner (may be in the padding)
    bool ok;
  };
  struct BCol {
    int s;
    bool ok;
  };
  __device__ ARow a_row(int64_t r) const {
    ARow a{0, 0, 0, r < R};
    if (!a.ok) return a;
    const int m = int(r), per_image = g.oh * g.ow;
    const int b = m / per_image, rem = m - b * per_image, oy = rem / g.ow, ox = rem - oy * g.ow;
    a.base = int64_t(b) * g.h * g.w * g.c;
    a.y0 = oy * g.sh - g.pt;
    a.x0 = ox * g.sw - g.pl;
    return a;
  }
  __device__ T a(const ARow& a, int64_t t) const {
    if (!a.ok) return T(0);
    const int k = int(t), i = k / kwc, rem = k - i * kwc, j = rem / g.c, ci = rem - j * g.c;
    const int iy = a.y0 + i * g.dh, ix = a.x0 + j * g.dw;
    if (unsigned(iy) >= unsigned(g.h) || unsigned(ix) >= unsigned(g.w)) return T(0);
    return __ldg(x + a.base + (int64_t(iy) * g.w + ix) * g.c + ci);
  }
  __device__ BCol b_col(int64_t s) const { return BCol{int(s), s < S}; }
  __device__ T b(const BCol& c, int64_t t) const { return c.ok ? __ldg(w + t * S + c.s) : T(0); }
  __device__ bool wants_col_sums() const { return false; }
  __device__ void store(int64_t r, int64_t s, T v, int) const {
    if (bias) v += bias[s];
    if (relu) v = v < T(0) ? T(0) : v;  // NaN stays NaN, as the CPU's RELU
    out[r * S + s] = v;
  }
  __device__ void col_sum(int64_t, T, int) const {}
};

// ---- backward data: A = gy gathered per input position (r = (b, iy, ix), t = (i, j, co)), B(t, ci) = w[i, j, ci, co]
template <typename T>
struct BackwardDataProblem : GemmShape {
  static constexpr bool kAFastT = true, kBFastT = true;
  ConvGeom g;
  int kwoc;  // KW * OC
  const T* gy;
  const T* w;
  T* gx;

  struct ARow {
    int64_t base;  // the image's first gradient element
    int ny, nx;    // iy + pad_top, ix + pad_left: output oy reads this row through tap i when oy*sh = ny - i*dh
    bool ok;
  };
  struct BCol {
    int ci;
    bool ok;
  };
  __device__ ARow a_row(int64_t r) const {
    ARow a{0, 0, 0, r < R};
    if (!a.ok) return a;
    const int m = int(r), per_image = g.h * g.w;
    const int b = m / per_image, rem = m - b * per_image, iy = rem / g.w, ix = rem - iy * g.w;
    a.base = int64_t(b) * g.oh * g.ow * g.oc;
    a.ny = iy + g.pt;
    a.nx = ix + g.pl;
    return a;
  }
  __device__ T a(const ARow& a, int64_t t) const {
    if (!a.ok) return T(0);
    const int k = int(t), i = k / kwoc, rem = k - i * kwoc, j = rem / g.oc, co = rem - j * g.oc;
    const int ny = a.ny - i * g.dh, nx = a.nx - j * g.dw;
    if (ny < 0 || nx < 0) return T(0);
    const int oy = ny / g.sh, ox = nx / g.sw;
    if (oy * g.sh != ny || ox * g.sw != nx || oy >= g.oh || ox >= g.ow) return T(0);
    return __ldg(gy + a.base + (int64_t(oy) * g.ow + ox) * g.oc + co);
  }
  __device__ BCol b_col(int64_t s) const { return BCol{int(s), s < S}; }
  __device__ T b(const BCol& c, int64_t t) const {
    if (!c.ok) return T(0);
    const int k = int(t), tap = k / g.oc, co = k - tap * g.oc;
    return __ldg(w + (int64_t(tap) * g.c + c.ci) * g.oc + co);
  }
  __device__ bool wants_col_sums() const { return false; }
  __device__ void store(int64_t r, int64_t s, T v, int) const { gx[r * S + s] = v; }
  __device__ void col_sum(int64_t, T, int) const {}
};

// ---- backward weights: A(r = (i, j, ci), t = output position) = x under that tap, B = gy as [N*OH*OW, OC]
template <typename T>
struct BackwardWeightsProblem : GemmShape {
  static constexpr bool kAFastT = false, kBFastT = false;
  ConvGeom g;
  int kwc;  // KW * C
  const T* x;
  const T* gy;
  T* gw;       // [splits][R][S] partials when split, else the gradient itself
  T* gb;       // [splits][S] partial bias sums, or the bias gradient itself, or null (no bias)

  struct ARow {
    int dy, dx, ci;  // the tap's offset from the output position's window origin, and its channel
    bool ok;
  };
  struct BCol {
    int s;
    bool ok;
  };
  __device__ ARow a_row(int64_t r) const {
    ARow a{0, 0, 0, r < R};
    if (!a.ok) return a;
    const int k = int(r), i = k / kwc, rem = k - i * kwc, j = rem / g.c;
    a.ci = rem - j * g.c;
    a.dy = i * g.dh - g.pt;
    a.dx = j * g.dw - g.pl;
    return a;
  }
  __device__ T a(const ARow& a, int64_t t) const {
    if (!a.ok) return T(0);
    const int m = int(t), per_image = g.oh * g.ow;
    const int b = m / per_image, rem = m - b * per_image, oy = rem / g.ow, ox = rem - oy * g.ow;
    const int iy = oy * g.sh + a.dy, ix = ox * g.sw + a.dx;
    if (unsigned(iy) >= unsigned(g.h) || unsigned(ix) >= unsigned(g.w)) return T(0);
    return __ldg(x + ((int64_t(b) * g.h + iy) * g.w + ix) * g.c + a.ci);
  }
  __device__ BCol b_col(int64_t s) const { return BCol{int(s), s < S}; }
  __device__ T b(const BCol& c, int64_t t) const { return c.ok ? __ldg(gy + t * S + c.s) : T(0); }
  __device__ bool wants_col_sums() const { return gb != nullptr; }
  __device__ void store(int64_t r, int64_t s, T v, int slice) const { gw[(int64_t(slice) * R + r) * S + s] = v; }
  __device__ void col_sum(int64_t s, T v, int slice) const { gb[int64_t(slice) * S + s] = v; }
};

// dst[k] = sum over slices z (in order) of partial[z * n + k].
template <typename T>
__global__ void sum_slices(const T* __restrict__ partial, int slices, int64_t n, T* __restrict__ dst) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    T s = T(0);
    for (int z = 0; z < slices; ++z) s += partial[z * n + k];
    dst[k] = s;
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The GEMM sizes fit the kernel's 32-bit index arithmetic and grid limits.
bool gemm_fits(const GemmShape& s) {
  const int64_t lim = int64_t(INT32_MAX) - 2 * kBM;
  return s.R < lim && s.S < lim && s.D < lim && ceil_div(s.S, kBN) <= 65535;
}

template <typename T, class P>
int run_gemm(const P& p, int slices, cudaStream_t stream) {
  if (p.R == 0 || p.S == 0) return 0;
  dim3 grid(unsigned(ceil_div(p.R, kBM)), unsigned(ceil_div(p.S, kBN)), unsigned(slices));
  return launch<implicit_gemm<T, P>>(SOMA_SITE, grid, dim3(kGemmThreads), 0, stream, p);
}

// Backward weights: how many slices the N*OH*OW reduction is cut into, and each one's length (a multiple of
// kBK). From the geometry alone, so a result never depends on the device it was computed on.
void weight_slices(int64_t R, int64_t S, int64_t D, int* slices, int64_t* per_slice) {
  const int64_t tiles = ceil_div(R, kBM) * ceil_div(S, kBN);
  int64_t n = kTargetBlocks / tiles;
  if (n > kMaxSplits) n = kMaxSplits;
  const int64_t by_length = ceil_div(D, 8 * kBK);  // at least 8 slices' worth of work per block
  if (n > by_length) n = by_length;
  if (n < 1) n = 1;
  int64_t len = ceil_div(ceil_div(D, n), kBK) * kBK;
  if (len == 0) len = kBK;
  n = ceil_div(D, len);
  *slices = int(n < 1 ? 1 : n);
  *per_slice = len;
}

GemmShape weights_shape(const ConvGeom& g) {
  return GemmShape{int64_t(g.kh) * g.kw * g.c, g.oc, int64_t(g.n) * g.oh * g.ow, 0};
}

int64_t weights_workspace_elements(const ConvGeom& g) {
  GemmShape s = weights_shape(g);
  int slices;
  int64_t len;
  weight_slices(s.R, s.S, s.D, &slices, &len);
  return slices > 1 ? int64_t(slices) * (s.R * s.S + s.S) : 0;
}

template <typename T>
int conv_forward(const ConvGeom& g, const void* x, const void* w, const void* bias, int relu, void* out,
                 cudaStream_t s) {
  ForwardProblem<T> p;
  p.R = int64_t(g.n) * g.oh * g.ow;
  p.S = g.oc;
  p.D = int64_t(g.kh) * g.kw * g.c;
  p.t_per_split = ceil_div(p.D, kBK) * kBK;
  if (!gemm_fits(p)) return kInvalid;
  p.g = g;
  p.kwc = g.kw * g.c;
  p.x = static_cast<const T*>(x);
  p.w = static_cast<const T*>(w);
  p.bias = static_cast<const T*>(bias);
  p.relu = relu;
  p.out = static_cast<T*>(out);
  return run_gemm<T>(p, 1, s);
}

template <typename T>
int conv_backward_data(const ConvGeom& g, const void* gy, const void* w, void* gx, cudaStream_t s) {
  BackwardDataProblem<T> p;
  p.R = int64_t(g.n) * g.h * g.w;
  p.S = g.c;
  p.D = int64_t(g.kh) * g.kw * g.oc;
  p.t_per_split = ceil_div(p.D, kBK) * kBK;
  if (!gemm_fits(p)) return kInvalid;
  p.g = g;
  p.kwoc = g.kw * g.oc;
  p.gy = static_cast<const T*>(gy);
  p.w = static_cast<const T*>(w);
  p.gx = static_cast<T*>(gx);
  return run_gemm<T>(p, 1, s);
}

template <typename T>
int conv_backward_weights(const ConvGeom& g, const void* x, const void* gy, void* gw, void* gb, void* workspace,
                          int64_t workspace_bytes, cudaStream_t s) {
  BackwardWeightsProblem<T> p;
  static_cast<GemmShape&>(p) = weights_shape(g);
  if (!gemm_fits(p)) return kInvalid;
  int slices;
  weight_slices(p.R, p.S, p.D, &slices, &p.t_per_split);
  p.g = g;
  p.kwc = g.kw * g.c;
  p.x = static_cast<const T*>(x);
  p.gy = static_cast<const T*>(gy);
  if (slices == 1) {
    p.gw = static_cast<T*>(gw);
    p.gb = static_cast<T*>(gb);
    return run_gemm<T>(p, 1, s);
  }
  const int64_t need = int64_t(slices) * (p.R * p.S + p.S);
  if (workspace == nullptr || workspace_bytes < need * int64_t(sizeof(T))) return kInvalid;
  T* partial = static_cast<T*>(workspace);
  p.gw = partial;
  p.gb = gb ? partial + int64_t(slices) * p.R * p.S : nullptr;
  int status = run_gemm<T>(p, slices, s);
  if (status != 0) return status;
  const int64_t n = p.R * p.S;
  status = launch<sum_slices<T>>(SOMA_SITE, grid_for(n), kThreads, 0, s, partial, slices, n, static_cast<T*>(gw));
  if (status != 0 || gb == nullptr) return status;
  return launch<sum_slices<T>>(SOMA_SITE, grid_for(p.S), kThreads, 0, s, p.gb, slices, p.S, static_cast<T*>(gb));
}

// ------------------------------------------------------------------ pooling

// The window of output (oy, ox) clipped to the image: rows [y0, y1), columns [x0, x1) (dilation 1).
struct Window {
  int y0, y1, x0, x1;
  __device__ Window(const ConvGeom& g, int oy, int ox) {
    const int ys = oy * g.sh - g.pt, xs = ox * g.sw - g.pl;
    y0 = ys < 0 ? 0 : ys;
    x0 = xs < 0 ? 0 : xs;
    y1 = ys + g.kh > g.h ? g.h : ys + g.kh;
    x1 = xs + g.kw > g.w ? g.w : xs + g.kw;
  }
  __device__ bool empty() const { return y0 >= y1 || x0 >= x1; }
  __device__ int count() const { return (y1 - y0) * (x1 - x0); }
};

// The first maximum (or first NaN) of the window in row-major order (y * W + x), as the CPU's backward chooses it; xc points
// at the image's channel (stride C between pixels). The window must not be empty.
template <typename T>
__device__ __forceinline__ int first_max(const ConvGeom& g, const Window& win, const T* xc) {
  int best = win.y0 * g.w + win.x0;
  T best_v = xc[int64_t(best) * g.c];
  for (int y = win.y0; y < win.y1; ++y)
    for (int xx = win.x0; xx < win.x1; ++xx) {
      const int k = y * g.w + xx;
      const T v = xc[int64_t(k) * g.c];
      if (best_v == best_v && (v > best_v || v != v)) {  // the first NaN is the maximum, as the CPU's
        best = k;
        best_v = v;
      }
    }
  return best;
}

// One thread per output element [b, oy, ox, ci] (channel fastest). argmax may be null.
template <typename T, typename I>
__global__ void pool_forward(ConvGeom g, int is_max, const T* __restrict__ x, T* __restrict__ out,
                             int32_t* __restrict__ argmax, I total) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I idx = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); idx < total; idx += stride) {
    I p = idx / g.c;
    const int ci = int(idx - p * g.c);
    const int ox = int(p % g.ow);
    p /= g.ow;
    const int oy = int(p % g.oh);
    const I b = p / g.oh;
    const Window win(g, oy, ox);
    const T* xc = x + int64_t(b) * g.h * g.w * g.c + ci;
    if (is_max) {
      T o = T(-INFINITY);  // the CPU's start: padding never wins
      for (int y = win.y0; y < win.y1; ++y)
        for (int xx = win.x0; xx < win.x1; ++xx) {
          const T v = xc[(int64_t(y) * g.w + xx) * g.c];
          o = (v > o || v != v) ? v : o;  // NaN wins, as in PyTorch and the CPU
        }
      out[idx] = o;
      if (argmax) argmax[idx] = win.empty() ? -1 : first_max(g, win, xc);
    } else {
      T s = T(0);
      for (int y = win.y0; y < win.y1; ++y)
        for (int xx = win.x0; xx < win.x1; ++xx) s += xc[(int64_t(y) * g.w + xx) * g.c];
      out[idx] = s / T(win.count());
    }
  }
}

// One thread per input element [b, iy, ix, ci]: the sum, over the outputs whose window holds it (in row-major
// output order, as the CPU adds them), of their gradient (max: when it is their first maximum; average: divided
// by their window's size). Max reads the winners from argmax, or recomputes them from x when argmax is null.
template <typename T, typename I>
__global__ void pool_backward(ConvGeom g, int is_max, const T* __restrict__ x, const int32_t* __restrict__ argmax,
                              const T* __restrict__ gy, T* __restrict__ gx, I total) {
  const I stride = I(gridDim.x) * I(blockDim.x);
  for (I idx = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); idx < total; idx += stride) {
    I p = idx / g.c;
    const int ci = int(idx - p * g.c);
    const int ix = int(p % g.w);
    p /= g.w;
    const int iy = int(p % g.h);
    const I b = p / g.h;
    const int here = iy * g.w + ix;
    // Outputs oy with oy*sh - pt <= iy < oy*sh - pt + kh.
    const int ny = iy + g.pt, nx = ix + g.pl;
    // In 64 bits: ny - kh + sh overflows int for a stride near 2^31 (one window per axis; found by LayerFuzzer).
    const int oy0 = ny - g.kh + 1 <= 0 ? 0 : int((int64_t(ny) - g.kh + g.sh) / g.sh);
    const int ox0 = nx - g.kw + 1 <= 0 ? 0 : int((int64_t(nx) - g.kw + g.sw) / g.sw);
    const int oy1 = ny / g.sh < g.oh - 1 ? ny / g.sh : g.oh - 1;
    const int ox1 = nx / g.sw < g.ow - 1 ? nx / g.sw : g.ow - 1;
    const int64_t out_image = int64_t(b) * g.oh * g.ow;
    const T* xc = x ? x + int64_t(b) * g.h * g.w * g.c + ci : nullptr;
    T s = T(0);
    for (int oy = oy0; oy <= oy1; ++oy)
      for (int ox = ox0; ox <= ox1; ++ox) {
        const int64_t o = (out_image + int64_t(oy) * g.ow + ox) * g.c + ci;
        if (is_max) {
          int best;
          if (argmax) {
            best = argmax[o];
          } else {
            const Window win(g, oy, ox);
            best = win.empty() ? -1 : first_max(g, win, xc);
          }
          if (best == here) s += gy[o];
        } else {
          const Window win(g, oy, ox);
          if (win.empty()) continue;
          s += gy[o] * (T(1) / T(win.count()));
        }
      }
    gx[idx] = s;
  }
}

template <typename T>
int pool_forward_typed(const ConvGeom& g, int is_max, const void* x, void* out, void* workspace, cudaStream_t s) {
  const int64_t total = int64_t(g.n) * g.oh * g.ow * g.c;
  if (total == 0) return 0;
  auto px = static_cast<const T*>(x);
  auto po = static_cast<T*>(out);
  auto pw = is_max ? static_cast<int32_t*>(workspace) : nullptr;
  const int64_t in_total = int64_t(g.n) * g.h * g.w * g.c;
  if (total < (int64_t(1) << 30) && in_total < (int64_t(1) << 31))
    return launch<pool_forward<T, int32_t>>(SOMA_SITE, grid_for(total), kThreads, 0, s, g, is_max, px, po, pw,
                                            int32_t(total));
  return launch<pool_forward<T, int64_t>>(SOMA_SITE, grid_for(total), kThreads, 0, s, g, is_max, px, po, pw, total);
}

template <typename T>
int pool_backward_typed(const ConvGeom& g, int is_max, const void* x, const void* workspace, const void* gy,
                        void* gx, cudaStream_t s) {
  const int64_t total = int64_t(g.n) * g.h * g.w * g.c;
  if (total == 0) return 0;
  if (is_max && workspace == nullptr && x == nullptr) return kInvalid;
  auto px = static_cast<const T*>(x);
  auto pw = is_max ? static_cast<const int32_t*>(workspace) : nullptr;
  auto pg = static_cast<const T*>(gy);
  auto pd = static_cast<T*>(gx);
  if (total < (int64_t(1) << 30))
    return launch<pool_backward<T, int32_t>>(SOMA_SITE, grid_for(total), kThreads, 0, s, g, is_max, px, pw, pg, pd,
                                             int32_t(total));
  return launch<pool_backward<T, int64_t>>(SOMA_SITE, grid_for(total), kThreads, 0, s, g, is_max, px, pw, pg, pd,
                                           total);
}

// The int32 winners index a pixel inside one image.
bool pool_fits(const ConvGeom& g) { return int64_t(g.h) * g.w < INT32_MAX; }

}  // namespace

extern "C" {

int soma_cuda_conv2d(int dtype, const int64_t* geom, const void* x, const void* w, const void* bias, int relu,
                     void* out, void* stream) {
  ConvGeom g;
  if (!unpack(geom, &g)) return kInvalid;
  switch (dtype) {
    case SOMA_F32: return conv_forward<float>(g, x, w, bias, relu, out, as_stream(stream));
    case SOMA_F64: return conv_forward<double>(g, x, w, bias, relu, out, as_stream(stream));
    default: return kInvalid;
  }
}

int soma_cuda_conv2d_backward_data(int dtype, const int64_t* geom, const void* grad_out, const void* w,
                                   void* grad_x, void* stream) {
  ConvGeom g;
  if (!unpack(geom, &g)) return kInvalid;
  switch (dtype) {
    case SOMA_F32: return conv_backward_data<float>(g, grad_out, w, grad_x, as_stream(stream));
    case SOMA_F64: return conv_backward_data<double>(g, grad_out, w, grad_x, as_stream(stream));
    default: return kInvalid;
  }
}

int soma_cuda_conv2d_backward_weights_workspace(int dtype, const int64_t* geom, int64_t* bytes) {
  ConvGeom g;
  if (!unpack(geom, &g)) return kInvalid;
  int64_t size;
  switch (dtype) {
    case SOMA_F32: size = 4; break;
    case SOMA_F64: size = 8; break;
    default: return kInvalid;
  }
  *bytes = weights_workspace_elements(g) * size;
  return 0;
}

int soma_cuda_conv2d_backward_weights(int dtype, const int64_t* geom, const void* x, const void* grad_out,
                                      void* grad_w, void* grad_bias, void* workspace, int64_t workspace_bytes,
                                      void* stream) {
  ConvGeom g;
  if (!unpack(geom, &g)) return kInvalid;
  switch (dtype) {
    case SOMA_F32:
      return conv_backward_weights<float>(g, x, grad_out, grad_w, grad_bias, workspace, workspace_bytes,
                                          as_stream(stream));
    case SOMA_F64:
      return conv_backward_weights<double>(g, x, grad_out, grad_w, grad_bias, workspace, workspace_bytes,
                                           as_stream(stream));
    default: return kInvalid;
  }
}

int soma_cuda_pool2d_workspace(int is_max, const int64_t* geom, int64_t* bytes) {
  ConvGeom g;
  if (!unpack(geom, &g)) return kInvalid;
  *bytes = is_max ? int64_t(g.n) * g.oh * g.ow * g.c * int64_t(sizeof(int32_t)) : 0;
  return 0;
}

int soma_cuda_pool2d(int is_max, int dtype, const int64_t* geom, const void* x, void* out, void* workspace,
                     void* stream) {
  ConvGeom g;
  if (!unpack(geom, &g) || !pool_fits(g)) return kInvalid;
  switch (dtype) {
    case SOMA_F32: return pool_forward_typed<float>(g, is_max, x, out, workspace, as_stream(stream));
    case SOMA_F64: return pool_forward_typed<double>(g, is_max, x, out, workspace, as_stream(stream));
    default: return kInvalid;
  }
}

int soma_cuda_pool2d_backward(int is_max, int dtype, const int64_t* geom, const void* x, const void* workspace,
                              const void* grad_out, void* grad_x, void* stream) {
  ConvGeom g;
  if (!unpack(geom, &g) || !pool_fits(g)) return kInvalid;
  switch (dtype) {
    case SOMA_F32: return pool_backward_typed<float>(g, is_max, x, workspace, grad_out, grad_x, as_stream(stream));
    case SOMA_F64: return pool_backward_typed<double>(g, is_max, x, workspace, grad_out, grad_x, as_stream(stream));
    default: return kInvalid;
  }
}

}  // extern "C"
