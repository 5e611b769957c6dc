// Fused multi-tensor optimizer updates (SGD with momentum / Nesterov, Adam / AdamW, RMSprop with momentum) and the
// sum of squares for global-norm clipping, f32 and f64. The arithmetic is native/src/optim.cpp's, operation for
// operation, with the same scalars prepared on the host the same way (Adam's bias-corrected lr_t and eps_hat in
// double, then rounded to T), so the CPU result is the reference within rounding (both compilers may fuse a*b+c).
//
// Multi-tensor: one launch updates many parameter tensors. The entries take host arrays of device addresses (the
// same int64 tables as soma_cpu_sgd & co); the host packs them into a table passed BY VALUE as a kernel argument
// (TensorTable: up to kMaxTensors tensors x D arrays, plus a block -> (tensor, chunk) map for up to kMaxBlocks
// blocks), sized to stay under the 4 KiB kernel-parameter limit that every architecture and toolkit accepts.
// The launch copies the argument, so the host reuses the table for the next launch at once; a list longer than
// one table (or more chunks than kMaxBlocks) takes several launches, each a full table. Chosen over a
// device-side pointer table because it needs no device allocation, no host-to-device copy on the step's
// critical path and no pool handle in the C ABI, at the cost of one launch per ~50-100 tensors, which is
// what PyTorch's multi_tensor_apply does too.
//
// Each block updates one chunk (table.chunk elements) of one tensor, 16-byte packs when every array of that tensor
// is 16-byte aligned (chunk starts are multiples of the pack width), element by element otherwise and for the
// tail. Grads are read only; parameters and state are read and written once. The chunk follows the list's total
// size (chunk_for): a fixed 65536 gave a 1.7 M-parameter model 26 blocks on an H200's 132 SMs, and its Adam step
// moved 270 GB/s where the copy moves 4 TB/s.
#include "launch.cuh"
#include "soma.h"

#include <cuda_runtime.h>
#include <cmath>
#include <cstdint>

namespace {
using namespace soma_cuda;

__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
// launch.cuh's aligned16 is host-only: the kernels check each tensor's alignment themselves.
__device__ __forceinline__ bool dev_aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }
template <typename T> __device__ __forceinline__ T m_min(T a, T b) { return b < a ? b : a; }
template <typename T> __device__ __forceinline__ T m_max(T a, T b) { return a < b ? b : a; }

constexpr int64_t kMinChunk = 2048, kMaxChunk = 65536;  // elements per block (powers of 2: multiples of every pack)
constexpr int kMaxBlocks = 320;    // blocks per launch the table maps
constexpr int kTableBytes = 3840;  // the table's budget: 4 KiB less room for the update's scalars

// Tensors per table for D arrays per tensor: D pointers + a size each, after the block map.
template <int D>
constexpr int max_tensors() {
  return int((kTableBytes - sizeof(int64_t) - kMaxBlocks * (sizeof(uint8_t) + sizeof(int32_t)))
             / ((D + 1) * sizeof(int64_t)));
}

// The pointer table of one launch (a kernel argument: it lives in the launch's parameter space on the GPU).
template <int D>
struct TensorTable {
  static constexpr int kMaxTensors = max_tensors<D>();
  static_assert(kMaxTensors <= 255, "the block map stores tensor indices in a byte");
  void* ptr[D][kMaxTensors];
  int64_t size[kMaxTensors];
  uint8_t block_tensor[kMaxBlocks];  // which tensor of the table block b updates
  int32_t block_chunk[kMaxBlocks];   // and which chunk of it
  int64_t chunk;                     // elements per chunk
};

// The chunk for a list of tensors: about four blocks per multiprocessor for the whole list, within
// [kMinChunk, kMaxChunk] (few launches for large models, a full device for small ones).
inline int64_t chunk_for(int count, const int64_t* sizes) {
  int64_t total = 0;
  for (int t = 0; t < count; ++t) total += sizes[t] > 0 ? sizes[t] : 0;
  const int64_t target = total / (int64_t(sm_count()) * 4);
  int64_t chunk = kMinChunk;
  while (chunk < target && chunk < kMaxChunk) chunk *= 2;
  return chunk;
}
static_assert(sizeof(TensorTable<1>) <= kTableBytes && sizeof(TensorTable<4>) <= kTableBytes,
              "the table must leave room for the scalars within the 4 KiB kernel-parameter limit");

template <typename T>
__device__ __forceinline__ T prepare_grad(T g, T scale, T clip) {
  g *= scale;
  if (clip > T(0)) g = m_min(m_max(g, -clip), clip);
  return g;
}

// ------------------------------------------------------------------ the updates, one element at a time
// v[0] = parameter, v[1] = gradient (read only), v[2..] = state; each updates v in place.
template <typename T>
struct SgdPlain {  // momentum == 0: no velocity array (D = 2)
  static constexpr int D = 2;
  T lr, wd, scale, clip;
  __device__ __forceinline__ void operator()(T (&v)[D]) const {
    T gi = prepare_grad(v[1], scale, clip) + wd * v[0];
    v[0] -= lr * gi;
  }
};

template <typename T>
struct SgdMomentum {  // D = 3: p, g, velocity
  static constexpr int D = 3;
  T lr, mu, wd, scale, clip;
  bool nesterov;
  __device__ __forceinline__ void operator()(T (&v)[D]) const {
    T gi = prepare_grad(v[1], scale, clip) + wd * v[0];
    T vi = mu * v[2] - lr * gi;
    v[2] = vi;
    v[0] += nesterov ? mu * vi - lr * gi : vi;
  }
};

template <typename T>
struct AdamUpdate {  // D = 4: p, g, m, v
  static constexpr int D = 4;
  T lr_t, eps_hat, b1, b2, decay, l2, scale, clip;
  __device__ __forceinline__ void operator()(T (&v)[D]) const {
    T pi = v[0];
    T gi = prepare_grad(v[1], scale, clip) + l2 * pi;
    pi -= decay * pi;
    T mi = b1 * v[2] + (T(1) - b1) * gi;
    T vi = b2 * v[3] + (T(1) - b2) * gi * gi;
    v[2] = mi;
    v[3] = vi;
    v[0] = pi - lr_t * mi / (m_sqrt(vi) + eps_hat);
  }
};

template <typename T, bool Momentum>
struct RmspropUpdate {  // D = 3 (p, g, avg) or 4 (+ momentum buffer)
  static constexpr int D = Momentum ? 4 : 3;
  T lr, rho, mu, eps, scale, clip;
  __device__ __forceinline__ void operator()(T (&v)[D]) const {
    T gi = prepare_grad(v[1], scale, clip);
    T ai = rho * v[2] + (T(1) - rho) * gi * gi;
    v[2] = ai;
    T stepv = lr * gi / (m_sqrt(ai) + eps);
    if constexpr (Momentum) {
      T mi = mu * v[3] + stepv;
      v[3] = mi;
      v[0] -= mi;
    } else {
      v[0] -= stepv;
    }
  }
};

// ------------------------------------------------------------------ the multi-tensor kernel
template <typename T, typename Op>
__global__ void __launch_bounds__(kThreads) multi_tensor_update(TensorTable<Op::D> table, Op op) {
  constexpr int D = Op::D;
  const int t = table.block_tensor[blockIdx.x];
  const int64_t start = int64_t(table.block_chunk[blockIdx.x]) * table.chunk;
  const int64_t n = table.size[t] - start < table.chunk ? table.size[t] - start : table.chunk;
  T* base[D];
  bool aligned = true;
#pragma unroll
  for (int k = 0; k < D; ++k) {
    base[k] = static_cast<T*>(table.ptr[k][t]) + start;
    aligned = aligned && dev_aligned16(base[k]);
  }
  int64_t done = 0;
  if (aligned) {
    constexpr int W = Pack<T>::kWidth;
    const int64_t packs = n / W;
    for (int64_t p = threadIdx.x; p < packs; p += blockDim.x) {
      Pack<T> in[D];
#pragma unroll
      for (int k = 0; k < D; ++k) in[k] = reinterpret_cast<const Pack<T>*>(base[k])[p];
#pragma unroll
      for (int j = 0; j < W; ++j) {
        T v[D];
#pragma unroll
        for (int k = 0; k < D; ++k) v[k] = in[k].v[j];
        op(v);
#pragma unroll
        for (int k = 0; k < D; ++k) in[k].v[j] = v[k];
      }
#pragma unroll
      for (int k = 0; k < D; ++k)
        if (k != 1) reinterpret_cast<Pack<T>*>(base[k])[p] = in[k];  // the gradient (k = 1) is only read
    }
    done = packs * W;
  }
  for (int64_t i = done + threadIdx.x; i < n; i += blockDim.x) {
    T v[D];
#pragma unroll
    for (int k = 0; k < D; ++k) v[k] = base[k][i];
    op(v);
#pragma unroll
    for (int k = 0; k < D; ++k)
      if (k != 1) base[k][i] = v[k];
  }
}

// Walks the tensor list in order, packing (tensor, chunk) pairs into tables and launching each full table.
// `lists[k][t]` is the address of array k of tensor t. Calls launch_table(table, blocks) per launch.
template <int D, typename Launch>
int for_each_table(int count, const int64_t* const (&lists)[D], const int64_t* sizes, int64_t chunk,
                   Launch&& launch_table) {
  using Table = TensorTable<D>;
  Table table;
  table.chunk = chunk;
  int tensors = 0, blocks = 0;
  for (int t = 0; t < count; ++t) {
    const int64_t n = sizes[t];
    if (n <= 0) continue;
    for (int k = 0; k < D; ++k) table.ptr[k][tensors] = reinterpret_cast<void*>(lists[k][t]);
    table.size[tensors] = n;
    const int64_t chunks = (n + chunk - 1) / chunk;
    for (int64_t c = 0; c < chunks; ++c) {
      table.block_tensor[blocks] = uint8_t(tensors);
      table.block_chunk[blocks] = int32_t(c);
      ++blocks;
      const bool last_chunk = c + 1 == chunks;
      if (blocks == kMaxBlocks || (last_chunk && tensors + 1 == Table::kMaxTensors)) {
        // The table is full: launch it. A tensor cut in the middle starts the next table at slot 0.
        int status = launch_table(table, blocks);
        if (status != 0) return status;
        blocks = 0;
        if (last_chunk) {
          tensors = -1;  // the next tensor takes slot 0
        } else {
          for (int k = 0; k < D; ++k) table.ptr[k][0] = table.ptr[k][tensors];
          table.size[0] = table.size[tensors];
          tensors = 0;
        }
      }
    }
    ++tensors;
  }
  if (blocks > 0) return launch_table(table, blocks);
  return 0;
}

template <typename T, typename Op>
int update_all(int count, const int64_t* const (&lists)[Op::D], const int64_t* sizes, const Op& op, cudaStream_t s) {
  return for_each_table<Op::D>(count, lists, sizes, chunk_for(count, sizes), [&](const TensorTable<Op::D>& table,
                                                                                 int blocks) {
    return launch<multi_tensor_update<T, Op>>(SOMA_SITE, dim3(unsigned(blocks)), dim3(kThreads), 0, s, table, op);
  });
}

template <typename T>
int sgd_typed(int count, const int64_t* params, const int64_t* grads, const int64_t* velocity, const int64_t* sizes,
              double lr, double momentum, int nesterov, double wd, double scale, double clip, cudaStream_t s) {
  if (T(momentum) == T(0)) {  // as the CPU: momentum 0 ignores the velocity (which is then usually null)
    const int64_t* lists[2] = {params, grads};
    return update_all<T>(count, lists, sizes, SgdPlain<T>{T(lr), T(wd), T(scale), T(clip)}, s);
  }
  if (velocity == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t* lists[3] = {params, grads, velocity};
  return update_all<T>(count, lists, sizes,
                       SgdMomentum<T>{T(lr), T(momentum), T(wd), T(scale), T(clip), nesterov != 0}, s);
}

template <typename T>
int adam_typed(int count, const int64_t* params, const int64_t* grads, const int64_t* m, const int64_t* v,
               const int64_t* sizes, double lr, double b1, double b2, double eps, double wd, int decoupled,
               int64_t step, double scale, double clip, cudaStream_t s) {
  // The CPU's rearranged PyTorch form: p -= lr_t * m / (sqrt(v) + eps_hat), scalars in double, then T.
  const double c1 = 1.0 - std::pow(b1, (double)step);
  const double c2 = 1.0 - std::pow(b2, (double)step);
  AdamUpdate<T> op{T(lr * std::sqrt(c2) / c1), T(eps * std::sqrt(c2)), T(b1), T(b2), T(decoupled ? lr * wd : 0.0),
                   T(decoupled ? 0.0 : wd), T(scale), T(clip)};
  const int64_t* lists[4] = {params, grads, m, v};
  return update_all<T>(count, lists, sizes, op, s);
}

template <typename T>
int rmsprop_typed(int count, const int64_t* params, const int64_t* grads, const int64_t* avg, const int64_t* mom,
                  const int64_t* sizes, double lr, double rho, double momentum, double eps, double scale, double clip,
                  cudaStream_t s) {
  if (T(momentum) > T(0)) {
    if (mom == nullptr) return static_cast<int>(cudaErrorInvalidValue);
    const int64_t* lists[4] = {params, grads, avg, mom};
    return update_all<T>(count, lists, sizes,
                         RmspropUpdate<T, true>{T(lr), T(rho), T(momentum), T(eps), T(scale), T(clip)}, s);
  }
  const int64_t* lists[3] = {params, grads, avg};
  return update_all<T>(count, lists, sizes,
                       RmspropUpdate<T, false>{T(lr), T(rho), T(momentum), T(eps), T(scale), T(clip)}, s);
}

// ------------------------------------------------------------------ sum of squares (deterministic)
// The kMaxBlocks partial slots are zeroed, then block b of every launch adds the squares of its (tensor, chunk),
// in double, into slot b: blocks of a launch never share a slot and launches are ordered on the stream, so there
// are no atomics and every run gives the same sum. A final one-block kernel adds the slots in a fixed order.
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block in a fixed order; every thread gets the total. `scratch` holds kThreads / 32 doubles.
__device__ __forceinline__ double block_sum(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < int(blockDim.x >> 5); ++w) total += scratch[w];
  __syncthreads();  // scratch may be reused by the caller
  return total;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) sum_squares_partial(TensorTable<1> table, double* partial) {
  __shared__ double scratch[kThreads / 32];
  const int t = table.block_tensor[blockIdx.x];
  const int64_t start = int64_t(table.block_chunk[blockIdx.x]) * table.chunk;
  const int64_t n = table.size[t] - start < table.chunk ? table.size[t] - start : table.chunk;
  const T* x = static_cast<const T*>(table.ptr[0][t]) + start;
  double acc = 0;
  int64_t done = 0;
  if (dev_aligned16(x)) {
    constexpr int W = Pack<T>::kWidth;
    const int64_t packs = n / W;
    for (int64_t p = threadIdx.x; p < packs; p += blockDim.x) {
      Pack<T> v = reinterpret_cast<const Pack<T>*>(x)[p];
#pragma unroll
      for (int j = 0; j < W; ++j) acc += double(v.v[j]) * double(v.v[j]);
    }
    done = packs * W;
  }
  for (int64_t i = done + threadIdx.x; i < n; i += blockDim.x) acc += double(x[i]) * double(x[i]);
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] += total;
}

__global__ void __launch_bounds__(kThreads) zero_slots(double* slots, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) slots[i] = 0;
}

// out = sum of partial[0 .. n) in a fixed order; one block.
__global__ void __launch_bounds__(kThreads) sum_partials(const double* partial, int n, double* out) {
  __shared__ double scratch[kThreads / 32];
  double acc = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
  const double total = block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = total;
}

// scratch: SOMA_CUDA_SUM_SQUARES_SCRATCH doubles; the total lands in scratch[0], the partials after it.
template <typename T>
int sum_squares_typed(int count, const int64_t* tensors, const int64_t* sizes, double* scratch, cudaStream_t s) {
  static_assert(SOMA_CUDA_SUM_SQUARES_SCRATCH == kMaxBlocks + 1, "soma.h's scratch size is the partials + 1");
  double* partial = scratch + 1;
  int status = launch<zero_slots>(SOMA_SITE, dim3(1), dim3(kThreads), 0, s, partial, kMaxBlocks);
  if (status != 0) return status;
  const int64_t* lists[1] = {tensors};
  // A fixed chunk here: the partials' count, and so the order of the final sum, must not depend on the device.
  status = for_each_table<1>(count, lists, sizes, kMaxChunk, [&](const TensorTable<1>& table, int blocks) {
    return launch<sum_squares_partial<T>>(SOMA_SITE, dim3(unsigned(blocks)), dim3(kThreads), 0, s, table, partial);
  });
  if (status != 0) return status;
  return launch<sum_partials>(SOMA_SITE, dim3(1), dim3(kThreads), 0, s, partial, kMaxBlocks, scratch);
}

}  // namespace

extern "C" {

int soma_cuda_sgd(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* velocity,
                  const int64_t* sizes, double lr, double momentum, int nesterov, double weight_decay,
                  double grad_scale, double clip_value, void* stream) {
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32: return sgd_typed<float>(count, params, grads, velocity, sizes, lr, momentum, nesterov, weight_decay,
                                           grad_scale, clip_value, s);
    case SOMA_F64: return sgd_typed<double>(count, params, grads, velocity, sizes, lr, momentum, nesterov,
                                            weight_decay, grad_scale, clip_value, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_adam(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* m,
                   const int64_t* v, const int64_t* sizes, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int decoupled, int64_t step, double grad_scale, double clip_value,
                   void* stream) {
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32: return adam_typed<float>(count, params, grads, m, v, sizes, lr, beta1, beta2, eps, weight_decay,
                                            decoupled, step, grad_scale, clip_value, s);
    case SOMA_F64: return adam_typed<double>(count, params, grads, m, v, sizes, lr, beta1, beta2, eps, weight_decay,
                                             decoupled, step, grad_scale, clip_value, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_rmsprop(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* avg,
                      const int64_t* mom, const int64_t* sizes, double lr, double rho, double momentum, double eps,
                      double grad_scale, double clip_value, void* stream) {
  cudaStream_t s = as_stream(stream);
  switch (dtype) {
    case SOMA_F32: return rmsprop_typed<float>(count, params, grads, avg, mom, sizes, lr, rho, momentum, eps,
                                               grad_scale, clip_value, s);
    case SOMA_F64: return rmsprop_typed<double>(count, params, grads, avg, mom, sizes, lr, rho, momentum, eps,
                                                grad_scale, clip_value, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

int soma_cuda_sum_squares(int dtype, int count, const int64_t* tensors, const int64_t* sizes, void* scratch,
                          void* stream) {
  cudaStream_t s = as_stream(stream);
  double* d = static_cast<double*>(scratch);
  switch (dtype) {
    case SOMA_F32: return sum_squares_typed<float>(count, tensors, sizes, d, s);
    case SOMA_F64: return sum_squares_typed<double>(count, tensors, sizes, d, s);
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

}  // extern "C"
