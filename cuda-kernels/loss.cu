// Losses on CUDA with the semantics of native/src/loss.cpp: each the mean over the batch, accumulated in double
// and written to a one-element `out`. The batch mean is deterministic: per-block (or per-row) double partials
// in a workspace, then one block adds them in a fixed order (no atomics). The cross-entropies are fused with a
// max-subtracted log-softmax and leave softmax(x) in `probs` when it is not NULL; backward is one pass.
#include "reduce.cuh"

namespace {
using namespace soma_cuda;
using namespace soma_cuda::red;

// Keras's epsilon for clamping probabilities (as loss.cpp).
constexpr double kProbabilityEps = 1e-7;

int invalid() { return static_cast<int>(cudaErrorInvalidValue); }

// ------------------------------------------------------------------ element-wise losses: partial sums
enum ElemLoss { kMse = 0, kBceProbs = 1, kBceLogits = 2 };

template <int kKind, typename T>
__device__ __forceinline__ double elem_loss(T xv, T zv) {
  const double x = double(xv), z = double(zv);
  if constexpr (kKind == kMse) {
    const double d = x - z;
    return d * d;
  } else if constexpr (kKind == kBceLogits) {
    return (x > 0.0 ? x : 0.0) - x * z + log1p(exp(-fabs(x)));
  } else {
    double p = x < kProbabilityEps ? kProbabilityEps : x;  // a NaN stays NaN, as with std::max / std::min
    if (p > 1.0 - kProbabilityEps) p = 1.0 - kProbabilityEps;
    return -(z * log(p) + (1.0 - z) * log1p(-p));
  }
}

// Block b adds elements b*B + tid + j*chunks*B into partial[b].
template <typename T, int kKind>
__global__ void elem_loss_partials(const T* x, const T* z, int64_t n, int64_t chunks, double* partial) {
  const int64_t step = chunks * blockDim.x;
  double acc = 0.0;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) acc += elem_loss<kKind>(x[i], z[i]);
  acc = block_reduce(acc, SumOp{});
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// One block: out[0] = (sum of partial[0..count)) / divisor, in a fixed order.
template <typename T>
__global__ void finish_mean(const double* partial, int64_t count, double divisor, T* out) {
  double acc = 0.0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) acc += partial[k];
  acc = block_reduce(acc, SumOp{});
  if (threadIdx.x == 0) out[0] = T(acc / divisor);
}

template <typename T, int kKind>
int elem_loss_forward(int64_t n, const void* x, const void* z, void* out, void* ws, cudaStream_t s) {
  if (ws == nullptr) return invalid();
  const int64_t chunks = loss_chunks(n);
  auto partial = static_cast<double*>(ws);
  int st = launch<elem_loss_partials<T, kKind>>(SOMA_SITE, unsigned(chunks), kThreads, 0, s, static_cast<const T*>(x),
                                                static_cast<const T*>(z), n, chunks, partial);
  if (st) return st;
  return launch<finish_mean<T>>(SOMA_SITE, 1, kThreads, 0, s, static_cast<const double*>(partial), chunks, double(n),
                                static_cast<T*>(out));
}

// ------------------------------------------------------------------ element-wise losses: backward
template <typename T>
__global__ void mse_backward_kernel(const T* p, const T* z, const T* g, T* gp, int64_t n) {
  const T scale = T(2.0 * double(g[0]) / double(n));
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) gp[i] = scale * (p[i] - z[i]);
}

template <typename T, bool kLogits>
__global__ void bce_backward_kernel(const T* x, const T* z, const T* g, T* gx, int64_t n) {
  const double scale = double(g[0]) / double(n);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double v = double(x[i]), t = double(z[i]);
    if (kLogits) {
      // sigmoid without overflow for either sign
      const double e = exp(-fabs(v));
      const double sg = v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
      gx[i] = T((sg - t) * scale);
    } else {
      // The clamp passes no gradient where it is active (as clip_by_value in Keras/TF).
      const bool inside = v >= kProbabilityEps && v <= 1.0 - kProbabilityEps;
      gx[i] = inside ? T((-t / v + (1.0 - t) / (1.0 - v)) * scale) : T(0);
    }
  }
}

// ------------------------------------------------------------------ softmax cross-entropies
// Per row: m = max, s = sum exp(x - m) (T exp, double sum), lse = log s; probs (optional) = exp(x - m) * (1/s);
// dense targets: loss_r = sum t (lse - (x - m)); sparse: loss_r = lse - (x[label] - m). row_loss[r] = loss_r.
template <typename T, bool kBlock, bool kSparse>
__global__ void ce_rows_kernel(const T* logits, const T* targets, const int32_t* labels, T* probs, int64_t rows,
                               int64_t cols, double* row_loss) {
  using G = Group<kBlock>;
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const T* x = logits + r * cols;
    T m = r_lowest<T>();
    for (int64_t c = G::rank(); c < cols; c += G::size()) m = MaxOp{}(m, x[c]);
    m = G::reduce(m, MaxOp{});
    double acc = 0.0;
    for (int64_t c = G::rank(); c < cols; c += G::size()) acc += double(r_exp(T(x[c] - m)));
    const double s = G::reduce(acc, SumOp{});
    const double lse = log(s);
    if (probs != nullptr) {
      T* p = probs + r * cols;
      const T inv = T(1.0 / s);
      for (int64_t c = G::rank(); c < cols; c += G::size()) p[c] = r_exp(T(x[c] - m)) * inv;
    }
    double loss;
    if constexpr (kSparse) {
      loss = lse - double(T(x[labels[r]] - m));
    } else {
      const T* t = targets + r * cols;
      double tacc = 0.0;
      for (int64_t c = G::rank(); c < cols; c += G::size()) tacc += double(t[c]) * (lse - double(T(x[c] - m)));
      loss = G::reduce(tacc, SumOp{});
    }
    if (G::rank() == 0) row_loss[r] = loss;
  }
}

template <typename T, bool kSparse>
int ce_forward(int64_t rows, int64_t cols, const void* logits, const void* targets, const int32_t* labels, void* out,
               void* probs, void* ws, cudaStream_t s) {
  if (ws == nullptr) return invalid();
  auto row_loss = static_cast<double*>(ws);
  auto x = static_cast<const T*>(logits);
  auto t = static_cast<const T*>(targets);
  auto p = static_cast<T*>(probs);
  const RowLaunch l = row_launch(rows, cols);
  int st = l.block ? launch<ce_rows_kernel<T, true, kSparse>>(SOMA_SITE, l.grid, l.threads, 0, s, x, t, labels, p,
                                                                rows, cols, row_loss)
                   : launch<ce_rows_kernel<T, false, kSparse>>(SOMA_SITE, l.grid, l.threads, 0, s, x, t, labels, p,
                                                                 rows, cols, row_loss);
  if (st) return st;
  return launch<finish_mean<T>>(SOMA_SITE, 1, kThreads, 0, s, static_cast<const double*>(row_loss), rows,
                                double(rows), static_cast<T*>(out));
}

// Dense targets: gx = a p - b t with a = sum(t) g / rows, b = g / rows (exact for targets that do not sum to 1).
template <typename T, bool kBlock>
__global__ void ce_backward_kernel(const T* probs, const T* targets, const T* g, T* gx, int64_t rows, int64_t cols) {
  using G = Group<kBlock>;
  const double scale = double(g[0]) / double(rows);
  for (int64_t r = G::first_row(); r < rows; r += G::row_stride()) {
    const T* p = probs + r * cols;
    const T* t = targets + r * cols;
    T* o = gx + r * cols;
    double tacc = 0.0;
    for (int64_t c = G::rank(); c < cols; c += G::size()) tacc += double(t[c]);
    const double tsum = G::reduce(tacc, SumOp{});
    const T a = T(tsum * scale), b = T(scale);
    for (int64_t c = G::rank(); c < cols; c += G::size()) o[c] = a * p[c] - b * t[c];
  }
}

// Sparse labels: gx = g / rows * (p - onehot(label)), element-wise.
template <typename T>
__global__ void sparse_ce_backward_kernel(const T* probs, const int32_t* labels, const T* g, T* gx, int64_t rows,
                                          int64_t cols) {
  const T scale = T(double(g[0]) / double(rows));
  const int64_t n = rows * cols;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t r = i / cols, c = i - r * cols;
    T v = scale * probs[i];
    if (c == labels[r]) v -= scale;
    gx[i] = v;
  }
}

template <typename T>
int bce_backward_typed(bool logits, int64_t n, const void* x, const void* z, const void* g, void* gx,
                              cudaStream_t s) {
  auto px = static_cast<const T*>(x);
  auto pz = static_cast<const T*>(z);
  auto pg = static_cast<const T*>(g);
  auto po = static_cast<T*>(gx);
  if (logits) return launch<bce_backward_kernel<T, true>>(SOMA_SITE, grid_for(n), kThreads, 0, s, px, pz, pg, po, n);
  return launch<bce_backward_kernel<T, false>>(SOMA_SITE, grid_for(n), kThreads, 0, s, px, pz, pg, po, n);
}

template <typename T>
int ce_backward_typed(int64_t rows, int64_t cols, const void* probs, const void* targets, const void* g,
                             void* gx, cudaStream_t s) {
  auto pp = static_cast<const T*>(probs);
  auto pt = static_cast<const T*>(targets);
  auto pg = static_cast<const T*>(g);
  auto po = static_cast<T*>(gx);
  const RowLaunch l = row_launch(rows, cols);
  if (l.block)
    return launch<ce_backward_kernel<T, true>>(SOMA_SITE, l.grid, l.threads, 0, s, pp, pt, pg, po, rows, cols);
  return launch<ce_backward_kernel<T, false>>(SOMA_SITE, l.grid, l.threads, 0, s, pp, pt, pg, po, rows, cols);
}

}  // namespace

extern "C" {

int soma_cuda_mse(int dtype, int64_t n, const void* pred, const void* target, void* out, void* workspace,
                  void* stream) {
  if (n <= 0) return invalid();
  switch (dtype) {
    case SOMA_F32: return elem_loss_forward<float, kMse>(n, pred, target, out, workspace, as_stream(stream));
    case SOMA_F64: return elem_loss_forward<double, kMse>(n, pred, target, out, workspace, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_mse_backward(int dtype, int64_t n, const void* pred, const void* target, const void* grad_out,
                           void* grad_pred, void* stream) {
  if (n <= 0) return 0;
  switch (dtype) {
    case SOMA_F32:
      return launch<mse_backward_kernel<float>>(SOMA_SITE, grid_for(n), kThreads, 0, as_stream(stream),
                                                static_cast<const float*>(pred), static_cast<const float*>(target),
                                                static_cast<const float*>(grad_out), static_cast<float*>(grad_pred), n);
    case SOMA_F64:
      return launch<mse_backward_kernel<double>>(SOMA_SITE, grid_for(n), kThreads, 0, as_stream(stream),
                                                 static_cast<const double*>(pred), static_cast<const double*>(target),
                                                 static_cast<const double*>(grad_out), static_cast<double*>(grad_pred),
                                                 n);
    default: return invalid();
  }
}

int soma_cuda_bce(int from_logits, int dtype, int64_t n, const void* x, const void* z, void* out, void* workspace,
                  void* stream) {
  if (n <= 0) return invalid();
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32:
      return from_logits ? elem_loss_forward<float, kBceLogits>(n, x, z, out, workspace, s)
                         : elem_loss_forward<float, kBceProbs>(n, x, z, out, workspace, s);
    case SOMA_F64:
      return from_logits ? elem_loss_forward<double, kBceLogits>(n, x, z, out, workspace, s)
                         : elem_loss_forward<double, kBceProbs>(n, x, z, out, workspace, s);
    default: return invalid();
  }
}

int soma_cuda_bce_backward(int from_logits, int dtype, int64_t n, const void* x, const void* z, const void* grad_out,
                           void* grad_x, void* stream) {
  if (n <= 0) return 0;
  switch (dtype) {
    case SOMA_F32: return bce_backward_typed<float>(from_logits != 0, n, x, z, grad_out, grad_x, as_stream(stream));
    case SOMA_F64: return bce_backward_typed<double>(from_logits != 0, n, x, z, grad_out, grad_x, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits, const void* targets,
                                    void* out, void* probs, void* workspace, void* stream) {
  if (rows <= 0 || cols <= 0) return invalid();
  switch (dtype) {
    case SOMA_F32:
      return ce_forward<float, false>(rows, cols, logits, targets, nullptr, out, probs, workspace, as_stream(stream));
    case SOMA_F64:
      return ce_forward<double, false>(rows, cols, logits, targets, nullptr, out, probs, workspace, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                             const void* targets, const void* grad_out, void* grad_logits,
                                             void* stream) {
  if (rows <= 0 || cols <= 0) return 0;
  switch (dtype) {
    case SOMA_F32: return ce_backward_typed<float>(rows, cols, probs, targets, grad_out, grad_logits, as_stream(stream));
    case SOMA_F64:
      return ce_backward_typed<double>(rows, cols, probs, targets, grad_out, grad_logits, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_sparse_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits,
                                           const int32_t* labels, void* out, void* probs, void* workspace,
                                           void* stream) {
  if (rows <= 0 || cols <= 0) return invalid();
  switch (dtype) {
    case SOMA_F32:
      return ce_forward<float, true>(rows, cols, logits, nullptr, labels, out, probs, workspace, as_stream(stream));
    case SOMA_F64:
      return ce_forward<double, true>(rows, cols, logits, nullptr, labels, out, probs, workspace, as_stream(stream));
    default: return invalid();
  }
}

int soma_cuda_sparse_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                                    const int32_t* labels, const void* grad_out, void* grad_logits,
                                                    void* stream) {
  if (rows <= 0 || cols <= 0) return 0;
  const int64_t n = rows * cols;
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32:
      return launch<sparse_ce_backward_kernel<float>>(SOMA_SITE, grid_for(n), kThreads, 0, s,
                                                      static_cast<const float*>(probs), labels,
                                                      static_cast<const float*>(grad_out),
                                                      static_cast<float*>(grad_logits), rows, cols);
    case SOMA_F64:
      return launch<sparse_ce_backward_kernel<double>>(SOMA_SITE, grid_for(n), kThreads, 0, s,
                                                       static_cast<const double*>(probs), labels,
                                                       static_cast<const double*>(grad_out),
                                                       static_cast<double*>(grad_logits), rows, cols);
    default: return invalid();
  }
}

}  // extern "C"
