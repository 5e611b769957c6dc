// Softmax and log-softmax over the rows of a contiguous rows x cols matrix, and their backward (f32, f64), with
// the semantics of native/src/reduce.cpp: m = the row max (NaN-propagating), s = sum exp(x - m) accumulated in
// double; softmax y = exp(x - m) * (1 / s), log-softmax y = x - (m + log s).
//
// Bandwidth-bound layouts (the known-fast design of PyTorch's persistent softmax and llm.c):
//   - rows of up to 1024 columns (256 for the f64 backward): one warp per row, the row held in registers (up to
//     32 values per lane), warp shuffles for the max and the sum: the input is read once, the output written once;
//   - rows of up to 8192 columns (4096 for the f64 backward): one block per row, the row in registers (8 or 16
//     values per thread), block reductions through shared memory: again one read and one write;
//   - longer rows: one block per row, an online max / sum pass (each thread keeps a running max and a sum
//     rescaled when the max grows), then the write pass: two reads instead of three.
// Every layout moves 16 bytes per load and store (float4 / double2) when the row length is a multiple of the
// pack and the pointers are 16-byte aligned (every row then starts aligned); otherwise element by element.
// The backward reads y and dy once per row in the register layouts. No atomics: the reduction order depends
// only on (rows, cols) and the launch shape, so results are bit-identical run to run.
#include "reduce.cuh"

namespace {
using namespace soma_cuda;
using namespace soma_cuda::red;

// ------------------------------------------------------------------ a row in registers
// A group member (a lane of a warp, or a thread of a block) holds kN values of its row. With packs (kVec > 1),
// its j-th pack is pack (j * size + rank) of the row; otherwise its j-th value is column j * size + rank. Either
// way consecutive members touch consecutive addresses (coalesced).
template <typename T, int kVec, int kN, typename G>
struct Slots {
  static constexpr int kPacks = kN / kVec;
  __device__ __forceinline__ static int64_t first_col(int j) { return (int64_t(j) * G::size() + G::rank()) * kVec; }

  // v[] = the row's values (fill where the row has none); cols is a multiple of kVec when kVec > 1.
  __device__ __forceinline__ static void load(const T* x, int64_t cols, T (&v)[kN], T fill) {
#pragma unroll
    for (int j = 0; j < kPacks; ++j) {
      const int64_t c = first_col(j);
      if constexpr (kVec > 1) {
        Pack<T> p;
        if (c < cols) {
          p = *reinterpret_cast<const Pack<T>*>(x + c);
        } else {
#pragma unroll
          for (int e = 0; e < kVec; ++e) p.v[e] = fill;
        }
#pragma unroll
        for (int e = 0; e < kVec; ++e) v[j * kVec + e] = p.v[e];
      } else {
        v[j] = c < cols ? x[c] : fill;
      }
    }
  }

  __device__ __forceinline__ static void store(T* y, int64_t cols, const T (&v)[kN]) {
#pragma unroll
    for (int j = 0; j < kPacks; ++j) {
      const int64_t c = first_col(j);
      if (c >= cols) continue;
      if constexpr (kVec > 1) {
        Pack<T> p;
#pragma unroll
        for (int e = 0; e < kVec; ++e) p.v[e] = v[j * kVec + e];
        *reinterpret_cast<Pack<T>*>(y + c) = p;
      } else {
        y[c] = v[j];
      }
    }
  }

  __device__ __forceinline__ static bool valid(int j, int64_t cols) { return first_col(j) < cols; }
};

// The shift / scale that turns a row's values into the output, from the row max and the double sum.
template <typename T, bool kLog>
__device__ __forceinline__ T finish(T m, double s) {
  return kLog ? T(m + T(log(s))) : T(1.0 / s);
}

// ------------------------------------------------------------------ forward
// The row in registers: read once, max, exp and sum, write once.
template <typename T, bool kBlock, bool kLog, int kVec, int kN>
__global__ void __launch_bounds__(512) softmax_regs_kernel(const T* in, T* out, int64_t rows, int64_t cols) {
  using G = Group<kBlock>;
  using S = Slots<T, kVec, kN, G>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    T v[kN];
    S::load(in + r * cols, cols, v, r_lowest<T>());
    T m = r_lowest<T>();
#pragma unroll
    for (int i = 0; i < kN; ++i) m = MaxOp{}(m, v[i]);
    m = G::reduce(m, MaxOp{});
    double acc = 0.0;
#pragma unroll
    for (int j = 0; j < S::kPacks; ++j) {
      if (!S::valid(j, cols)) continue;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const T x = v[j * kVec + e];
        const T ex = r_exp(T(x - m));
        acc += double(ex);
        if (!kLog) v[j * kVec + e] = ex;
      }
    }
    const T f = finish<T, kLog>(m, G::reduce(acc, SumOp{}));
#pragma unroll
    for (int i = 0; i < kN; ++i) v[i] = kLog ? T(v[i] - f) : T(v[i] * f);
    S::store(out + r * cols, cols, v);
  }
}

// Calls f(c, x) for every column c of the block's share of row x, in packs when kVec > 1.
template <int kVec, typename T, typename F>
__device__ __forceinline__ void block_each(const T* x, int64_t cols, F f) {
  if constexpr (kVec > 1) {
    for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(blockDim.x) * kVec) {
      const Pack<T> p = *reinterpret_cast<const Pack<T>*>(x + c);
#pragma unroll
      for (int e = 0; e < kVec; ++e) f(c + e, p.v[e]);
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) f(c, x[c]);
  }
}

// Rows too long for registers: one online pass for the max and the sum (a running sum rescaled by
// exp(m_old - m_new) when the max grows), then the write pass.
template <typename T, bool kLog, int kVec>
__global__ void softmax_long_kernel(const T* in, T* out, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * cols;
    T* y = out + r * cols;
    T m = r_lowest<T>();
    double s = 0.0;
    block_each<kVec>(x, cols, [&](int64_t, T v) {
      if (v > m || v != v) {  // a NaN becomes the max, as MaxOp makes it (the row's output is NaN)
        if (s != 0.0) s *= double(r_exp(T(m - v)));
        m = v;
        s += 1.0;
      } else if (m != r_lowest<T>()) {
        s += double(r_exp(T(v - m)));
      }
    });
    const T rm = block_reduce(m, MaxOp{});
    const double share = s == 0.0 ? 0.0 : s * double(r_exp(T(m - rm)));
    const T f = finish<T, kLog>(rm, block_reduce(share, SumOp{}));
    if constexpr (kVec > 1) {
      for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(blockDim.x) * kVec) {
        Pack<T> p = *reinterpret_cast<const Pack<T>*>(x + c);
#pragma unroll
        for (int e = 0; e < kVec; ++e) p.v[e] = kLog ? T(p.v[e] - f) : T(r_exp(T(p.v[e] - rm)) * f);
        *reinterpret_cast<Pack<T>*>(y + c) = p;
      }
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) y[c] = kLog ? T(x[c] - f) : T(r_exp(T(x[c] - rm)) * f);
    }
  }
}

// ------------------------------------------------------------------ backward
// softmax: gi = y * (g - sum(g * y)); log-softmax: gi = g - exp(y) * sum(g). The rows of y and g in registers.
template <typename T, bool kBlock, bool kLog, int kVec, int kN>
__global__ void __launch_bounds__(512) softmax_backward_regs_kernel(const T* ys, const T* gs, T* gis, int64_t rows,
                                                                    int64_t cols) {
  using G = Group<kBlock>;
  using S = Slots<T, kVec, kN, G>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    T y[kN], g[kN];
    S::load(ys + r * cols, cols, y, T(0));
    S::load(gs + r * cols, cols, g, T(0));
    double acc = 0.0;
#pragma unroll
    for (int i = 0; i < kN; ++i) acc += kLog ? double(g[i]) : double(g[i]) * double(y[i]);
    const T s = T(G::reduce(acc, SumOp{}));
#pragma unroll
    for (int i = 0; i < kN; ++i) g[i] = kLog ? T(g[i] - r_exp(y[i]) * s) : T(y[i] * (g[i] - s));
    S::store(gis + r * cols, cols, g);
  }
}

template <typename T, bool kLog, int kVec>
__global__ void softmax_backward_long_kernel(const T* ys, const T* gs, T* gis, int64_t rows, int64_t cols) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* y = ys + r * cols;
    const T* g = gs + r * cols;
    T* gi = gis + r * cols;
    double acc = 0.0;
    if constexpr (kVec > 1) {
      for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(blockDim.x) * kVec) {
        const Pack<T> py = *reinterpret_cast<const Pack<T>*>(y + c), pg = *reinterpret_cast<const Pack<T>*>(g + c);
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc += kLog ? double(pg.v[e]) : double(pg.v[e]) * double(py.v[e]);
      }
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) acc += kLog ? double(g[c]) : double(g[c]) * double(y[c]);
    }
    const T s = T(block_reduce(acc, SumOp{}));
    if constexpr (kVec > 1) {
      for (int64_t c = int64_t(threadIdx.x) * kVec; c < cols; c += int64_t(blockDim.x) * kVec) {
        const Pack<T> py = *reinterpret_cast<const Pack<T>*>(y + c);
        Pack<T> pg = *reinterpret_cast<const Pack<T>*>(g + c);
#pragma unroll
        for (int e = 0; e < kVec; ++e)
          pg.v[e] = kLog ? T(pg.v[e] - r_exp(py.v[e]) * s) : T(py.v[e] * (pg.v[e] - s));
        *reinterpret_cast<Pack<T>*>(gi + c) = pg;
      }
    } else {
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
        gi[c] = kLog ? T(g[c] - r_exp(y[c]) * s) : T(y[c] * (g[c] - s));
    }
  }
}

// ------------------------------------------------------------------ host side
// Values one member holds, at most: sm_90's ptxas keeps these in registers without spilling (checked with
// -Xptxas -v; the forward holds one row, the backward two). A warp's row (<= 1024 columns) takes up to kWarpMax
// per lane; a block's row up to kBlockMax per thread with <= 512 threads; longer rows take the loop kernels.
template <typename T, bool kBackward>
struct Budget {
  static constexpr int kWarpMax = kBackward && sizeof(T) == 8 ? 8 : 32;
  static constexpr int kBlockMax = kBackward && sizeof(T) == 8 ? 8 : 16;
};

// How one call runs: warp or block per row, values per member (0: the long-row loop), packs or not.
struct Plan {
  bool block;
  int per;      // 4, 8, 16 or 32 values per member; 0: too long for registers
  bool vec;     // 16-byte packs
  unsigned grid, threads;
};

template <typename T, bool kBackward>
Plan plan(int64_t rows, int64_t cols, bool aligned) {
  using B = Budget<T, kBackward>;
  constexpr int64_t V = Pack<T>::kWidth;
  Plan p{};
  p.vec = aligned && cols % V == 0;
  const int64_t cap = int64_t(sm_count()) * 32;
  if (cols <= kWarpRowMaxCols && cols <= int64_t(kWarp) * B::kWarpMax) {
    const RowLaunch l = row_launch(rows, kWarpRowMaxCols);  // warp per row, kThreads per block
    p.block = false;
    p.grid = l.grid;
    p.threads = l.threads;
    const int64_t need = (cols + kWarp - 1) / kWarp;
    p.per = need <= 4 ? 4 : need <= 8 ? 8 : need <= 16 ? 16 : 32;
    return p;
  }
  p.block = true;
  p.grid = unsigned(rows > cap ? cap : rows);
  if (cols > 512 * int64_t(B::kBlockMax)) {
    p.per = 0;
    p.threads = 512;
    return p;
  }
  // The fewest values per thread that keep the block at <= 256 threads (else the budget, <= 512 threads): small
  // blocks keep more rows' loads in flight per multiprocessor while others are in their reductions.
  p.per = cols <= 256 * 8 ? 8 : (cols <= 256 * 16 && B::kBlockMax >= 16) ? 16 : B::kBlockMax;
  int64_t threads = (cols + p.per - 1) / p.per;
  threads = (threads + kWarp - 1) / kWarp * kWarp;
  p.threads = unsigned(threads < 64 ? 64 : threads);
  return p;
}

template <typename T, bool kBlock, bool kLog, int kVec, int kN>
struct Forward {
  static int go(const Plan& p, cudaStream_t s, const T* x, T* y, int64_t rows, int64_t cols) {
    return launch<softmax_regs_kernel<T, kBlock, kLog, kVec, kN>>(SOMA_SITE, p.grid, p.threads, 0, s, x, y, rows,
                                                                  cols);
  }
};

template <typename T, bool kBlock, bool kLog, int kVec, int kN>
struct Backward {
  static int go(const Plan& p, cudaStream_t s, const T* y, const T* g, T* gi, int64_t rows, int64_t cols) {
    return launch<softmax_backward_regs_kernel<T, kBlock, kLog, kVec, kN>>(SOMA_SITE, p.grid, p.threads, 0, s, y, g,
                                                                           gi, rows, cols);
  }
};

// Only the sizes within the budget are instantiated (kMax); a block's row never takes 4.
template <template <typename, bool, bool, int, int> class K, typename T, bool kBlock, bool kLog, int kVec, int kMax,
          typename... A>
int by_per(const Plan& p, cudaStream_t s, A... args) {
  if constexpr (!kBlock) {
    if (p.per == 4) return K<T, kBlock, kLog, kVec, 4>::go(p, s, args...);
  }
  if constexpr (kMax >= 16) {
    if (p.per == 16) return K<T, kBlock, kLog, kVec, 16>::go(p, s, args...);
  }
  if constexpr (kMax >= 32) {
    if (p.per == 32) return K<T, kBlock, kLog, kVec, 32>::go(p, s, args...);
  }
  return K<T, kBlock, kLog, kVec, 8>::go(p, s, args...);
}

// Dispatches a register-layout kernel (Forward or Backward) over group, packs and values per member.
template <template <typename, bool, bool, int, int> class K, typename T, bool kLog, bool kBackward, typename... A>
int launch_regs(const Plan& p, cudaStream_t s, A... args) {
  using B = Budget<T, kBackward>;
  constexpr int V = Pack<T>::kWidth;
  if (p.block)
    return p.vec ? by_per<K, T, true, kLog, V, B::kBlockMax>(p, s, args...)
                 : by_per<K, T, true, kLog, 1, B::kBlockMax>(p, s, args...);
  return p.vec ? by_per<K, T, false, kLog, V, B::kWarpMax>(p, s, args...)
               : by_per<K, T, false, kLog, 1, B::kWarpMax>(p, s, args...);
}

template <typename T, bool kLog>
int softmax_op(const void* in, void* out, int64_t rows, int64_t cols, cudaStream_t s) {
  auto x = static_cast<const T*>(in);
  auto y = static_cast<T*>(out);
  const Plan p = plan<T, false>(rows, cols, aligned16(x) && aligned16(y));
  if (p.per > 0) return launch_regs<Forward, T, kLog, false>(p, s, x, y, rows, cols);
  if (p.vec)
    return launch<softmax_long_kernel<T, kLog, Pack<T>::kWidth>>(SOMA_SITE, p.grid, p.threads, 0, s, x, y, rows, cols);
  return launch<softmax_long_kernel<T, kLog, 1>>(SOMA_SITE, p.grid, p.threads, 0, s, x, y, rows, cols);
}

template <typename T, bool kLog>
int softmax_backward_op(const void* yv, const void* gv, void* giv, int64_t rows, int64_t cols, cudaStream_t s) {
  auto y = static_cast<const T*>(yv);
  auto g = static_cast<const T*>(gv);
  auto gi = static_cast<T*>(giv);
  const Plan p = plan<T, true>(rows, cols, aligned16(y) && aligned16(g) && aligned16(gi));
  if (p.per > 0) return launch_regs<Backward, T, kLog, true>(p, s, y, g, gi, rows, cols);
  if (p.vec)
    return launch<softmax_backward_long_kernel<T, kLog, Pack<T>::kWidth>>(SOMA_SITE, p.grid, p.threads, 0, s, y, g,
                                                                          gi, rows, cols);
  return launch<softmax_backward_long_kernel<T, kLog, 1>>(SOMA_SITE, p.grid, p.threads, 0, s, y, g, gi, rows, cols);
}

int invalid() { return static_cast<int>(cudaErrorInvalidValue); }

}  // namespace

extern "C" {

int soma_cuda_softmax_rows(int log, int dtype, int64_t rows, int64_t cols, const void* in, void* out, void* stream) {
  if (rows <= 0 || cols <= 0) return 0;
  switch (dtype) {
    case SOMA_F32:
      return log ? softmax_op<float, true>(in, out, rows, cols, as_stream(stream))
                 : softmax_op<float, false>(in, out, rows, cols, as_stream(stream));
    case SOMA_F64:
      return log ? softmax_op<double, true>(in, out, rows, cols, as_stream(stream))
                 : softmax_op<double, false>(in, out, rows, cols, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_softmax_rows_backward(int log, int dtype, int64_t rows, int64_t cols, const void* y,
                                    const void* grad_out, void* grad_in, void* stream) {
  if (rows <= 0 || cols <= 0) return 0;
  switch (dtype) {
    case SOMA_F32:
      return log ? softmax_backward_op<float, true>(y, grad_out, grad_in, rows, cols, as_stream(stream))
                 : softmax_backward_op<float, false>(y, grad_out, grad_in, rows, cols, as_stream(stream));
    case SOMA_F64:
      return log ? softmax_backward_op<double, true>(y, grad_out, grad_in, rows, cols, as_stream(stream))
                 : softmax_backward_op<double, false>(y, grad_out, grad_in, rows, cols, as_stream(stream));
    default: return invalid();
  }
}

}  // extern "C"
