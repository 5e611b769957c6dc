// Reductions and arg-extrema on CUDA (f32, f64; arg-extrema also int32; softmax is in softmax.cu), with the
// semantics of native/src/reduce.cpp: contiguous rows x cols matrices, one output per row; sums in double;
// MAX / MIN propagate NaN; arg-extrema give the first index, a NaN counting as the extremum; VAR is the
// population variance in two passes. One warp owns a short row, one block a long one; few very long rows are
// split over blocks through a workspace (reduce.cuh). No atomics: results are bit-identical run to run.
#include "reduce.cuh"

namespace {
using namespace soma_cuda;
using namespace soma_cuda::red;

constexpr int kSum = SOMA_REDUCE_SUM, kMean = SOMA_REDUCE_MEAN, kMax = SOMA_REDUCE_MAX, kMin = SOMA_REDUCE_MIN,
              kVar = SOMA_REDUCE_VAR;

// ------------------------------------------------------------------ group-level row helpers
template <bool kBlock, typename T>
__device__ __forceinline__ double group_sum(const T* x, int64_t cols) {
  using G = Group<kBlock>;
  double acc = 0.0;
  for (int64_t c = G::rank(); c < cols; c += G::size()) acc += double(x[c]);
  return G::reduce(acc, SumOp{});
}

template <bool kBlock, typename T>
__device__ __forceinline__ double group_sq_dev(const T* x, int64_t cols, double mean) {
  using G = Group<kBlock>;
  double acc = 0.0;
  for (int64_t c = G::rank(); c < cols; c += G::size()) {
    double d = double(x[c]) - mean;
    acc += d * d;
  }
  return G::reduce(acc, SumOp{});
}

template <bool kBlock, bool kIsMax, typename T>
__device__ __forceinline__ T group_extremum(const T* x, int64_t cols) {
  using G = Group<kBlock>;
  T m = kIsMax ? r_lowest<T>() : r_highest<T>();
  for (int64_t c = G::rank(); c < cols; c += G::size()) m = kIsMax ? MaxOp{}(m, x[c]) : MinOp{}(m, x[c]);
  return kIsMax ? G::reduce(m, MaxOp{}) : G::reduce(m, MinOp{});
}

template <bool kBlock, bool kIsMax, typename T>
__device__ __forceinline__ int64_t group_arg(const T* x, int64_t cols) {
  using G = Group<kBlock>;
  ArgOp<T, kIsMax> op;
  ArgPair<T> best{T(0), -1};
  for (int64_t c = G::rank(); c < cols; c += G::size()) best = op(best, ArgPair<T>{x[c], c});
  return G::reduce(best, op).i;
}

// ------------------------------------------------------------------ row reductions
template <typename T, bool kBlock, int kOp>
__global__ void reduce_rows_kernel(const T* in, T* out, int64_t rows, int64_t cols) {
  using G = Group<kBlock>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const T* x = in + r * cols;
    T v;
    if constexpr (kOp == kSum || kOp == kMean) {
      double s = group_sum<kBlock>(x, cols);
      v = T(kOp == kMean ? s / double(cols) : s);
    } else if constexpr (kOp == kMax || kOp == kMin) {
      v = group_extremum<kBlock, kOp == kMax>(x, cols);
    } else {
      double mean = group_sum<kBlock>(x, cols) / double(cols);
      v = T(group_sq_dev<kBlock>(x, cols, mean) / double(cols));
    }
    if (G::rank() == 0) out[r] = v;
  }
}

// Split rows: block (k, r) reduces the columns k*B + tid + j*chunks*B of row r into partial[r*chunks + k].
// kPass 0: sums (SUM, MEAN, VAR's mean) or extrema; kPass 1: VAR's squared deviations around means[r].
template <typename T, int kOp, int kPass>
__global__ void split_partials(const T* in, int64_t cols, int64_t chunks, double* partial, const double* means) {
  const int64_t r = blockIdx.y, k = blockIdx.x;
  const T* x = in + r * cols;
  const int64_t step = chunks * blockDim.x;
  if constexpr (kOp == kMax || kOp == kMin) {
    double m = kOp == kMax ? -INFINITY : INFINITY;
    for (int64_t c = k * blockDim.x + threadIdx.x; c < cols; c += step)
      m = kOp == kMax ? MaxOp{}(m, double(x[c])) : MinOp{}(m, double(x[c]));
    m = kOp == kMax ? block_reduce(m, MaxOp{}) : block_reduce(m, MinOp{});
    if (threadIdx.x == 0) partial[r * chunks + k] = m;
  } else {
    const double mean = kPass == 1 ? means[r] : 0.0;
    double acc = 0.0;
    for (int64_t c = k * blockDim.x + threadIdx.x; c < cols; c += step) {
      double v = double(x[c]);
      if (kPass == 1) {
        v -= mean;
        v *= v;
      }
      acc += v;
    }
    acc = block_reduce(acc, SumOp{});
    if (threadIdx.x == 0) partial[r * chunks + k] = acc;
  }
}

// One warp per row adds (or takes the extremum of) the row's partials in a fixed order. VAR's first pass
// writes the row mean into means[r] instead of out.
template <typename T, int kOp, int kPass>
__global__ void split_finish(const double* partial, int64_t rows, int64_t cols, int64_t chunks, double* means,
                             T* out) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (r >= rows) return;
  const int lane = threadIdx.x & (kWarp - 1);
  const double* p = partial + r * chunks;
  double v;
  if constexpr (kOp == kMax || kOp == kMin) {
    double m = kOp == kMax ? -INFINITY : INFINITY;
    for (int64_t k = lane; k < chunks; k += kWarp) m = kOp == kMax ? MaxOp{}(m, p[k]) : MinOp{}(m, p[k]);
    v = kOp == kMax ? warp_reduce(m, MaxOp{}) : warp_reduce(m, MinOp{});
  } else {
    double s = 0.0;
    for (int64_t k = lane; k < chunks; k += kWarp) s += p[k];
    v = warp_reduce(s, SumOp{});
  }
  if (lane != 0) return;
  if constexpr (kOp == kVar && kPass == 0) {
    means[r] = v / double(cols);
  } else if constexpr (kOp == kMean || kOp == kVar) {
    out[r] = T(v / double(cols));
  } else {
    out[r] = T(v);
  }
}

template <typename T, int kOp>
int reduce_rows_split(const T* in, T* out, int64_t rows, int64_t cols, int64_t chunks, double* ws, cudaStream_t s) {
  double* means = ws + kSplitPartials;
  const dim3 grid{unsigned(chunks), unsigned(rows), 1u};
  const unsigned fin_grid = unsigned((rows + 7) / 8);
  int st = launch<split_partials<T, kOp, 0>>(SOMA_SITE, grid, kThreads, 0, s, in, cols, chunks, ws,
                                             static_cast<const double*>(means));
  if (st) return st;
  st = launch<split_finish<T, kOp, 0>>(SOMA_SITE, fin_grid, kThreads, 0, s, static_cast<const double*>(ws), rows,
                                       cols, chunks, means, out);
  if (st || kOp != kVar) return st;
  st = launch<split_partials<T, kOp, 1>>(SOMA_SITE, grid, kThreads, 0, s, in, cols, chunks, ws,
                                         static_cast<const double*>(means));
  if (st) return st;
  return launch<split_finish<T, kOp, 1>>(SOMA_SITE, fin_grid, kThreads, 0, s, static_cast<const double*>(ws), rows,
                                         cols, chunks, means, out);
}

template <typename T, int kOp>
int reduce_rows_op(const T* in, T* out, int64_t rows, int64_t cols, void* workspace, cudaStream_t s) {
  const int64_t chunks = split_chunks(rows, cols);
  if (chunks > 0) {
    if (workspace == nullptr) return static_cast<int>(cudaErrorInvalidValue);
    return reduce_rows_split<T, kOp>(in, out, rows, cols, chunks, static_cast<double*>(workspace), s);
  }
  const RowLaunch l = row_launch(rows, cols);
  if (l.block) return launch<reduce_rows_kernel<T, true, kOp>>(SOMA_SITE, l.grid, l.threads, 0, s, in, out, rows, cols);
  return launch<reduce_rows_kernel<T, false, kOp>>(SOMA_SITE, l.grid, l.threads, 0, s, in, out, rows, cols);
}

template <typename T>
int reduce_rows_typed(int op, int64_t rows, int64_t cols, const void* in, void* out, void* ws, cudaStream_t s) {
  auto x = static_cast<const T*>(in);
  auto o = static_cast<T*>(out);
  switch (op) {
    case kSum: return reduce_rows_op<T, kSum>(x, o, rows, cols, ws, s);
    case kMean: return reduce_rows_op<T, kMean>(x, o, rows, cols, ws, s);
    case kMax: return reduce_rows_op<T, kMax>(x, o, rows, cols, ws, s);
    case kMin: return reduce_rows_op<T, kMin>(x, o, rows, cols, ws, s);
    case kVar: return reduce_rows_op<T, kVar>(x, o, rows, cols, ws, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

// ------------------------------------------------------------------ sums over the leading axis
// Block (32, 8): column blockIdx.x*32 + tx, row chunk blockIdx.y; each of the 8 row lanes adds every 8th row of
// the chunk (a warp reads 32 consecutive columns: coalesced), then row lane 0 adds the 8 lanes in order.
template <typename T>
__global__ void leading_kernel(const T* in, int64_t outer, int64_t inner, int64_t chunk_rows, int64_t chunks,
                               double scale, T* out, double* partial) {
  __shared__ double lanes[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * 32 + tx;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows;
  int64_t r1 = r0 + chunk_rows;
  if (r1 > outer) r1 = outer;
  double acc = 0.0;
  if (c < inner)
    for (int64_t r = r0 + ty; r < r1; r += 8) acc += double(in[r * inner + c]);
  lanes[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && c < inner) {
    double s = lanes[0][tx];
    for (int j = 1; j < 8; ++j) s += lanes[j][tx];
    if (chunks == 1) out[c] = T(s * scale);
    else partial[int64_t(blockIdx.y) * inner + c] = s;
  }
}

template <typename T>
__global__ void leading_finish(const double* partial, int64_t inner, int64_t chunks, double scale, T* out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < inner; c += stride) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * inner + c];
    out[c] = T(s * scale);
  }
}

template <typename T>
int reduce_leading_typed(int op, int64_t outer, int64_t inner, const void* in, void* out, void* ws,
                         cudaStream_t s) {
  if (op != kSum && op != kMean) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t chunks = leading_chunks(outer, inner);
  if (chunks > 1 && ws == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t chunk_rows = (outer + chunks - 1) / chunks;
  const double scale = op == kMean ? 1.0 / double(outer) : 1.0;
  const dim3 grid{unsigned((inner + 31) / 32), unsigned(chunks), 1u};
  int st = launch<leading_kernel<T>>(SOMA_SITE, grid, dim3(32, 8), 0, s, static_cast<const T*>(in), outer, inner,
                                     chunk_rows, chunks, scale, static_cast<T*>(out), static_cast<double*>(ws));
  if (st || chunks == 1) return st;
  return launch<leading_finish<T>>(SOMA_SITE, grid_for(inner), kThreads, 0, s, static_cast<const double*>(ws), inner,
                                   chunks, scale, static_cast<T*>(out));
}

// ------------------------------------------------------------------ sums over a middle axis
// [batches, outer, inner] -> [batches, inner] (a mean over time of [B, T, F]) without a transpose: the leading
// kernel's scheme per batch (blockIdx.z, striding when there are more batches than a grid's z), one chunk of rows
// per batch, so no workspace. Batches of one take the chunked leading kernel.
template <typename T>
__global__ void middle_kernel(const T* in, int64_t batches, int64_t outer, int64_t inner, double scale, T* out) {
  __shared__ double lanes[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * 32 + tx;
  for (int64_t n = blockIdx.z; n < batches; n += gridDim.z) {
    const T* x = in + n * outer * inner;
    double acc = 0.0;
    if (c < inner)
      for (int64_t r = ty; r < outer; r += 8) acc += double(x[r * inner + c]);
    lanes[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < inner) {
      double s = lanes[0][tx];
      for (int j = 1; j < 8; ++j) s += lanes[j][tx];
      out[n * inner + c] = T(s * scale);
    }
    __syncthreads();  // lanes is reused by the next batch
  }
}

template <typename T>
int reduce_middle_typed(int op, int64_t batches, int64_t outer, int64_t inner, const void* in, void* out,
                        cudaStream_t s) {
  if (op != kSum && op != kMean) return static_cast<int>(cudaErrorInvalidValue);
  const double scale = op == kMean ? 1.0 / double(outer) : 1.0;
  const int64_t z = batches < 65535 ? batches : 65535;
  const dim3 grid{unsigned((inner + 31) / 32), 1u, unsigned(z)};
  return launch<middle_kernel<T>>(SOMA_SITE, grid, dim3(32, 8), 0, s, static_cast<const T*>(in), batches, outer,
                                  inner, scale, static_cast<T*>(out));
}

// Its input gradient: gi[n, r, c] = g[n, c] (MEAN: divided by outer, as broadcast_rows divides).
template <typename T, bool kMeanOp>
__global__ void broadcast_middle(const T* g, T* gi, int64_t outer, int64_t inner, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T gv = g[(i / (outer * inner)) * inner + i % inner];
    gi[i] = kMeanOp ? T(double(gv) / double(outer)) : gv;
  }
}

template <typename T>
int reduce_middle_backward_typed(int op, int64_t batches, int64_t outer, int64_t inner, const void* g, void* gi,
                                 cudaStream_t s) {
  const int64_t n = batches * outer * inner;
  auto pg = static_cast<const T*>(g);
  auto o = static_cast<T*>(gi);
  if (op == kSum) return launch<broadcast_middle<T, false>>(SOMA_SITE, grid_for(n), kThreads, 0, s, pg, o, outer, inner, n);
  if (op == kMean) return launch<broadcast_middle<T, true>>(SOMA_SITE, grid_for(n), kThreads, 0, s, pg, o, outer, inner, n);
  return static_cast<int>(cudaErrorInvalidValue);
}

// ------------------------------------------------------------------ backward of row reductions
// SUM / MEAN: every element of row r gets the same value.
template <typename T, bool kMeanOp>
__global__ void broadcast_rows(const T* g, T* gi, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T gv = g[i / cols];
    gi[i] = kMeanOp ? T(double(gv) / double(cols)) : gv;
  }
}

// MAX / MIN: the row's gradient to its first arg-extremum, zero elsewhere. VAR: 2 g (x - mean) / cols.
template <typename T, bool kBlock, int kOp>
__global__ void reduce_backward_rows(const T* in, const T* g, T* gi, int64_t rows, int64_t cols) {
  using G = Group<kBlock>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const T* x = in + r * cols;
    T* o = gi + r * cols;
    const T gv = g[r];
    if constexpr (kOp == kVar) {
      const T mean = T(group_sum<kBlock>(x, cols) / double(cols));
      const T scale = T(2.0 * double(gv) / double(cols));
      for (int64_t c = G::rank(); c < cols; c += G::size()) o[c] = scale * (x[c] - mean);
    } else {
      const int64_t arg = group_arg<kBlock, kOp == kMax>(x, cols);
      for (int64_t c = G::rank(); c < cols; c += G::size()) o[c] = c == arg ? gv : T(0);
    }
  }
}

template <typename T, int kOp>
int reduce_backward_rows_op(const T* in, const T* g, T* gi, int64_t rows, int64_t cols, cudaStream_t s) {
  if (in == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  const RowLaunch l = row_launch(rows, cols);
  if (l.block)
    return launch<reduce_backward_rows<T, true, kOp>>(SOMA_SITE, l.grid, l.threads, 0, s, in, g, gi, rows, cols);
  return launch<reduce_backward_rows<T, false, kOp>>(SOMA_SITE, l.grid, l.threads, 0, s, in, g, gi, rows, cols);
}

template <typename T>
int reduce_backward_typed(int op, int64_t rows, int64_t cols, const void* in, const void* g, void* gi,
                          cudaStream_t s) {
  auto x = static_cast<const T*>(in);
  auto pg = static_cast<const T*>(g);
  auto o = static_cast<T*>(gi);
  switch (op) {
    case kSum: return launch<broadcast_rows<T, false>>(SOMA_SITE, grid_for(rows * cols), kThreads, 0, s, pg, o, rows, cols);
    case kMean: return launch<broadcast_rows<T, true>>(SOMA_SITE, grid_for(rows * cols), kThreads, 0, s, pg, o, rows, cols);
    case kMax: return reduce_backward_rows_op<T, kMax>(x, pg, o, rows, cols, s);
    case kMin: return reduce_backward_rows_op<T, kMin>(x, pg, o, rows, cols, s);
    case kVar: return reduce_backward_rows_op<T, kVar>(x, pg, o, rows, cols, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

// ------------------------------------------------------------------ arg-extrema
template <typename T, bool kBlock, bool kIsMax>
__global__ void arg_rows_kernel(const T* in, int32_t* out, int64_t rows, int64_t cols) {
  using G = Group<kBlock>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const int64_t arg = group_arg<kBlock, kIsMax>(in + r * cols, cols);
    if (G::rank() == 0) out[r] = int32_t(arg);
  }
}

template <typename T, bool kIsMax>
int arg_rows_op(const void* in, int32_t* out, int64_t rows, int64_t cols, cudaStream_t s) {
  auto x = static_cast<const T*>(in);
  const RowLaunch l = row_launch(rows, cols);
  if (l.block) return launch<arg_rows_kernel<T, true, kIsMax>>(SOMA_SITE, l.grid, l.threads, 0, s, x, out, rows, cols);
  return launch<arg_rows_kernel<T, false, kIsMax>>(SOMA_SITE, l.grid, l.threads, 0, s, x, out, rows, cols);
}

template <typename T>
int arg_rows_typed(int op, const void* in, int32_t* out, int64_t rows, int64_t cols, cudaStream_t s) {
  if (op == kMax) return arg_rows_op<T, true>(in, out, rows, cols, s);
  if (op == kMin) return arg_rows_op<T, false>(in, out, rows, cols, s);
  return static_cast<int>(cudaErrorInvalidValue);
}

bool empty(int64_t rows, int64_t cols) { return rows <= 0 || cols <= 0; }
int invalid() { return static_cast<int>(cudaErrorInvalidValue); }

}  // namespace

extern "C" {

int soma_cuda_reduce_workspace(int kind, int64_t rows, int64_t cols, int64_t* bytes) {
  if (bytes == nullptr) return invalid();
  int64_t doubles = 0;
  switch (kind) {
    case SOMA_CUDA_WORKSPACE_REDUCE_ROWS:
      doubles = split_chunks(rows, cols) > 0 ? kSplitPartials + kSplitMaxRows : 0;
      break;
    case SOMA_CUDA_WORKSPACE_REDUCE_LEADING: {
      const int64_t chunks = rows > 0 && cols > 0 ? leading_chunks(rows, cols) : 1;
      doubles = chunks > 1 ? chunks * cols : 0;
      break;
    }
    case SOMA_CUDA_WORKSPACE_LOSS_ELEMENTS:
      doubles = loss_chunks(cols);
      break;
    case SOMA_CUDA_WORKSPACE_LOSS_ROWS:
      doubles = rows > 0 ? rows : 1;
      break;
    default: return invalid();
  }
  *bytes = doubles * int64_t(sizeof(double));
  return 0;
}

int soma_cuda_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, void* out, void* workspace,
                          void* stream) {
  if (rows <= 0) return 0;
  if (cols < 0) return invalid();
  switch (dtype) {
    case SOMA_F32: return reduce_rows_typed<float>(op, rows, cols, in, out, workspace, as_stream(stream));
    case SOMA_F64: return reduce_rows_typed<double>(op, rows, cols, in, out, workspace, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_reduce_leading(int op, int dtype, int64_t outer, int64_t inner, const void* in, void* out,
                             void* workspace, void* stream) {
  if (empty(outer, inner)) return 0;
  switch (dtype) {
    case SOMA_F32: return reduce_leading_typed<float>(op, outer, inner, in, out, workspace, as_stream(stream));
    case SOMA_F64: return reduce_leading_typed<double>(op, outer, inner, in, out, workspace, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_reduce_middle(int op, int dtype, int64_t batches, int64_t outer, int64_t inner, const void* in,
                            void* out, void* stream) {
  if (batches <= 0 || empty(outer, inner)) return 0;
  switch (dtype) {
    case SOMA_F32: return reduce_middle_typed<float>(op, batches, outer, inner, in, out, as_stream(stream));
    case SOMA_F64: return reduce_middle_typed<double>(op, batches, outer, inner, in, out, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_reduce_middle_backward(int op, int dtype, int64_t batches, int64_t outer, int64_t inner,
                                     const void* grad_out, void* grad_in, void* stream) {
  if (batches <= 0 || empty(outer, inner)) return 0;
  switch (dtype) {
    case SOMA_F32:
      return reduce_middle_backward_typed<float>(op, batches, outer, inner, grad_out, grad_in, as_stream(stream));
    case SOMA_F64:
      return reduce_middle_backward_typed<double>(op, batches, outer, inner, grad_out, grad_in, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_reduce_rows_backward(int op, int dtype, int64_t rows, int64_t cols, const void* in,
                                   const void* grad_out, void* grad_in, void* stream) {
  if (empty(rows, cols)) return 0;
  switch (dtype) {
    case SOMA_F32: return reduce_backward_typed<float>(op, rows, cols, in, grad_out, grad_in, as_stream(stream));
    case SOMA_F64: return reduce_backward_typed<double>(op, rows, cols, in, grad_out, grad_in, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_arg_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, int32_t* out,
                              void* stream) {
  if (rows <= 0) return 0;
  if (cols <= 0) return invalid();
  switch (dtype) {
    case SOMA_F32: return arg_rows_typed<float>(op, in, out, rows, cols, as_stream(stream));
    case SOMA_F64: return arg_rows_typed<double>(op, in, out, rows, cols, as_stream(stream));
    case SOMA_I32: return arg_rows_typed<int32_t>(op, in, out, rows, cols, as_stream(stream));
    default: return invalid();
  }
}

}  // extern "C"
