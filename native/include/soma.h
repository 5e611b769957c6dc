/*
 * soma.h - the one C ABI between Soma's Java code and its native kernels.
 *
 * Rules of the boundary (see DESIGN.md):
 *  - Only raw addresses, sizes, shapes and strides cross it; no Java objects.
 *  - Java validates every argument before calling; kernels trust their inputs.
 *  - Shapes and strides are int64 arrays counted in elements (not bytes). A stride of 0 broadcasts.
 *  - Kernels never allocate memory behind Java's back (vendor workspaces come from Java's pool).
 *  - dtype codes below match dev.soma.tensor.DType.code().
 */
#ifndef SOMA_H
#define SOMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum soma_dtype { SOMA_F32 = 0, SOMA_F64 = 1, SOMA_I32 = 2 };

/* Largest rank any strided kernel accepts; Java rejects higher ranks before calling. */
#define SOMA_MAX_DIMS 8

/* ============================== CPU: memory and copies (native/src/memory.cpp) ============================== */

/* Aligned allocation for the Java pool's segments; returns NULL on failure (the pool then retries/throws). */
void* soma_cpu_alloc(size_t bytes, size_t alignment);
void soma_cpu_free(void* p);
/* Plain byte copy between two native regions, or between a native region and a pinned Java array. */
void soma_cpu_copy(void* dst, const void* src, size_t bytes);
/* dst[i] = value for n elements of the given dtype. */
void soma_cpu_fill(int dtype, void* dst, int64_t n, double value);
/* n-d strided copy: dst[idx . dst_strides] = src[idx . src_strides] for every index of shape. */
void soma_cpu_strided_copy(int dtype, int ndim, const int64_t* shape,
                           const void* src, const int64_t* src_strides,
                           void* dst, const int64_t* dst_strides);
/* Contiguous dtype conversion of n elements. */
void soma_cpu_cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n);
/* n float32 values to bfloat16 (uint16 bits), rounded as vcvtneps2bf16 does: to nearest even, denormals to a signed
   zero, NaNs quiet. Uses AVX512_BF16 where the CPU has it; the result is the same either way. */
void soma_cpu_f32_to_bf16(const void* src, void* dst, int64_t n);
/* 1 when soma_cpu_f32_to_bf16 runs the AVX512_BF16 instruction, 0 when it runs the plain loop. */
int soma_cpu_f32_to_bf16_vector(void);
/* The plain loop of soma_cpu_f32_to_bf16 on the calling thread, whatever the CPU has. For tests. */
void soma_cpu_f32_to_bf16_plain(const void* src, void* dst, int64_t n);
/* y[i] += alpha * x[i] for n elements (gradient accumulation, optimizer steps). */
void soma_cpu_axpy(int dtype, int64_t n, double alpha, const void* x, void* y);
/* Number of OpenMP threads our kernels (and oneDNN) use when called from this thread. */
int soma_cpu_threads(void);
/* Sets that number for the calling thread only (OpenMP's per-thread nthreads ICV); n < 1 counts as 1. */
void soma_cpu_set_threads(int n);
/* Runs two oneDNN primitives at once on a team of two OpenMP threads (thread i: primitive i on stream i, then waits for
   it; a team of one runs both in turn). execute / wait: the addresses of oneDNN's dnnl_primitive_execute and
   dnnl_stream_wait; args: dnnl_exec_arg_t arrays. status[i] receives primitive i's oneDNN status (0: success). */
void soma_cpu_dnnl_execute_pair(const void* execute, const void* wait, const void* primitive0, const void* stream0,
                                int nargs0, const void* args0, const void* primitive1, const void* stream1, int nargs1,
                                const void* args1, int32_t* status);
/* 1: idle OpenMP workers sleep after a few spins (a parked team makes libgomp count more threads than CPUs);
   0: back to libgomp's long spin. Results do not depend on it. Returns 0, or -1 if the team could not start. */
int soma_cpu_omp_short_waits(int on);
/* 1 while soma_cpu_omp_short_waits(1) is in force. */
int soma_cpu_omp_short_waits_on(void);
/* Mean CPU nanoseconds the worker of a two-thread team burns in a gap of gap_us after a region (its idle spin), over
   rounds regions; -1 where the team has one thread. For tests. */
double soma_cpu_omp_idle_spin_ns(int rounds, int gap_us);
/* on 1: the calling thread's loops whose results do not depend on how they are split (those of the element grain:
   element-wise, per row, copies, optimizer updates, random fills, sums over blocks fixed by the shape) run on it
   alone; 0: on its team above the grain (the default). Negative: only reads. Returns the setting before the call. */
int soma_cpu_split_invariant_one_thread(int on);
/* The number of threads a split-invariant loop of n elements runs on, called from this thread now. For tests. */
int soma_cpu_split_invariant_threads(int64_t n);

/* ============================== CPU: random numbers (native/src/random.cpp) ============================== */

/* Distributions of soma_cpu_random: uniform a + (b - a) * u with u in [0, 1); normal a + b * z (mean a, std b). */
enum soma_random_dist { SOMA_RAND_UNIFORM = 0, SOMA_RAND_NORMAL = 1 };
/* One Philox4x32-10 block: out[0..4) from counter[0..4) and key[0..2) (for known-answer tests). */
void soma_cpu_philox4x32_10(const uint32_t* counter, const uint32_t* key, uint32_t* out);
/* Fills n contiguous f32/f64 elements of dst from the Philox stream keyed by seed; element i depends only on
   (seed, stream, i), never on the thread count. The layout (which words feed which element) is documented at
   the top of native/src/random.cpp and must be matched by the CUDA kernel. */
void soma_cpu_random(int dist, int dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b);

/* ============================== element-wise op codes (shared by CPU and CUDA) ============================== */

/* Binary ops. Comparisons write 1 or 0 in the inputs' dtype. */
enum soma_binary_op {
  SOMA_ADD = 0, SOMA_SUB = 1, SOMA_MUL = 2, SOMA_DIV = 3, SOMA_POW = 4, SOMA_MAXIMUM = 5, SOMA_MINIMUM = 6,
  SOMA_EQ = 7, SOMA_NE = 8, SOMA_LT = 9, SOMA_LE = 10, SOMA_GT = 11, SOMA_GE = 12
};
/* Unary ops; p0/p1 are the op's parameters where it has any (noted). */
enum soma_unary_op {
  SOMA_NEG = 0, SOMA_EXP = 1, SOMA_LOG = 2, SOMA_SQRT = 3, SOMA_ABS = 4, SOMA_TANH = 5, SOMA_SIGMOID = 6,
  SOMA_RELU = 7, SOMA_LEAKY_RELU = 8 /* p0 = alpha */, SOMA_GELU = 9 /* exact, erf form */,
  SOMA_CLAMP = 10 /* p0 = min, p1 = max */, SOMA_POW_SCALAR = 11 /* p0 = exponent */,
  SOMA_ADD_SCALAR = 12 /* p0 */, SOMA_MUL_SCALAR = 13 /* p0 */, SOMA_RSUB_SCALAR = 14 /* p0 - x */,
  SOMA_RDIV_SCALAR = 15 /* p0 / x */, SOMA_SQUARE = 16
};

/* ============================== CPU: elementwise (native/src/elementwise.cpp) ============================== */

/* out[i] = op(a[i . a_strides], b[i . b_strides]) over the index space `shape`; out is contiguous.
   Strides of 0 broadcast. A fast path handles contiguous same-shape and scalar operands. */
void soma_cpu_binary(int op, int dtype, int ndim, const int64_t* shape,
                     const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out);
/* out[i] = op(x[i]; p0, p1) for n contiguous elements. */
void soma_cpu_unary(int op, int dtype, int64_t n, const void* x, void* out, double p0, double p1);
/* grad_in[i] = grad_out[i] * op'(x[i]) for n contiguous elements; y = op(x) (the forward output), which
   some ops (exp, tanh, sigmoid, sqrt) use instead of recomputing. */
void soma_cpu_unary_backward(int op, int dtype, int64_t n, const void* x, const void* y, const void* grad_out,
                             void* grad_in, double p0, double p1);
/* out[i] = cond[i] != 0 ? a[i] : b[i] with broadcasting strides as in soma_cpu_binary; cond has dtype `dtype`. */
void soma_cpu_where(int dtype, int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
                    const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out);

/* Fused bias + activation over rows x cols (bias broadcast over the rows): act(y + bias). act is one of: */
enum soma_bias_activation {
  SOMA_BA_LINEAR = 0, SOMA_BA_RELU = 1, SOMA_BA_LEAKY_RELU = 2 /* p0 = alpha */, SOMA_BA_SIGMOID = 3,
  SOMA_BA_TANH = 4, SOMA_BA_GELU = 5 /* exact, erf form */
};
/* out[r, c] = act(y[r, c] + bias[c]), y and out contiguous rows x cols; the same arithmetic as soma_cpu_binary
   ADD followed by soma_cpu_unary of the activation (bit-identical results). */
void soma_cpu_bias_activation(int act, int dtype, int64_t rows, int64_t cols, const void* y, const void* bias,
                              void* out, double p0);
/* grad_in = grad_out * act'(y + bias), rows x cols contiguous. RELU, SIGMOID and TANH read the forward output
   `out` (y and bias may be NULL); LEAKY_RELU and GELU recompute y + bias (out may be NULL). LINEAR copies. */
void soma_cpu_bias_activation_backward(int act, int dtype, int64_t rows, int64_t cols, const void* y,
                                       const void* bias, const void* out, const void* grad_out, void* grad_in,
                                       double p0);

/* ============================== CPU: reductions and softmax (native/src/reduce.cpp) ============================== */

enum soma_reduce_op { SOMA_REDUCE_SUM = 0, SOMA_REDUCE_MEAN = 1, SOMA_REDUCE_MAX = 2, SOMA_REDUCE_MIN = 3 };
/* out[r] = op(in[r*cols .. r*cols+cols)) for a contiguous rows x cols input (floating dtypes). */
void soma_cpu_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, void* out);
/* Also accepted by soma_cpu_reduce_rows(_backward): population variance (ddof = 0, as Keras/TF). */
enum { SOMA_REDUCE_VAR = 4 };
/* grad_in[r, c] = d op(row r) / d in[r, c] * grad_out[r] (rows x cols, contiguous). SUM and MEAN ignore `in`
   (may be NULL); MAX/MIN send grad_out[r] to the first arg-extremum (NaN counts as the extremum), zero elsewhere;
   VAR writes 2 (x - mean) / cols * grad_out[r]. */
void soma_cpu_reduce_rows_backward(int op, int dtype, int64_t rows, int64_t cols, const void* in,
                                   const void* grad_out, void* grad_in);
/* out[c] = SUM or MEAN over r of in[r*inner + c]: the leading axis of a contiguous outer x inner input. */
void soma_cpu_reduce_leading(int op, int dtype, int64_t outer, int64_t inner, const void* in, void* out);
/* out[n*inner + c] = SUM or MEAN over r of in[(n*outer + r)*inner + c]: the middle axis of a contiguous
   batches x outer x inner input (a mean over time of [B, T, F]), without transposing it. */
void soma_cpu_reduce_middle(int op, int dtype, int64_t batches, int64_t outer, int64_t inner, const void* in,
                            void* out);
/* Its input gradient: grad_in[(n*outer + r)*inner + c] = grad_out[n*inner + c] (MEAN: divided by outer). */
void soma_cpu_reduce_middle_backward(int op, int dtype, int64_t batches, int64_t outer, int64_t inner,
                                     const void* grad_out, void* grad_in);
/* out[r] = index of the first maximum (op = SOMA_REDUCE_MAX) or minimum (SOMA_REDUCE_MIN) of row r; a NaN
   counts as the extremum. Any dtype; cols >= 1 and < 2^31. */
void soma_cpu_arg_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, int32_t* out);
/* Row-wise softmax (log = 0) or log-softmax (log = 1), max-subtracted: finite for any finite input. */
void soma_cpu_softmax_rows(int log, int dtype, int64_t rows, int64_t cols, const void* in, void* out);
/* From the forward output y: softmax: grad_in = y * (g - sum(g * y)); log-softmax: grad_in = g - exp(y) * sum(g). */
void soma_cpu_softmax_rows_backward(int log, int dtype, int64_t rows, int64_t cols, const void* y,
                                    const void* grad_out, void* grad_in);

/* ============================== CPU: losses (native/src/loss.cpp) ============================== */

/* Every loss is the mean over its n elements (or its rows), written to the one-element `out`, accumulated in
   double. Backward kernels read the one-element output gradient `grad_out` and write the whole input gradient;
   targets get none. */
/* out = mean((pred - target)^2); backward: grad_pred = 2 (pred - target) / n * grad_out. */
void soma_cpu_mse(int dtype, int64_t n, const void* pred, const void* target, void* out);
void soma_cpu_mse_backward(int dtype, int64_t n, const void* pred, const void* target, const void* grad_out,
                           void* grad_pred);
/* Binary cross-entropy, mean of -(z log p + (1 - z) log(1 - p)). from_logits = 0: x holds probabilities,
   clamped to [1e-7, 1 - 1e-7] as Keras (zero gradient outside); from_logits = 1: x holds logits and the
   stable form max(x, 0) - x z + log1p(exp(-|x|)) is used, gradient (sigmoid(x) - z) / n. */
void soma_cpu_bce(int from_logits, int dtype, int64_t n, const void* x, const void* z, void* out);
void soma_cpu_bce_backward(int from_logits, int dtype, int64_t n, const void* x, const void* z,
                           const void* grad_out, void* grad_x);
/* Softmax cross-entropy over rows x cols logits with target probabilities of the same shape:
   out = mean_r sum_c -t[r,c] log_softmax(x)[r,c]. When probs is not NULL it receives softmax(x) (rows x cols)
   for the backward: grad_x = (p * sum_c t[r,c] - t) / rows * grad_out (p - t when the targets sum to 1). */
void soma_cpu_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits,
                                    const void* targets, void* out, void* probs);
void soma_cpu_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                             const void* targets, const void* grad_out, void* grad_logits);
/* The same with int32 class labels (rows of them, each in [0, cols), checked by Java):
   out = mean_r -log_softmax(x)[r, label[r]]; backward: grad_x = (p - onehot(label)) / rows * grad_out. */
void soma_cpu_sparse_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits,
                                           const int32_t* labels, void* out, void* probs);
void soma_cpu_sparse_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                                    const int32_t* labels, const void* grad_out,
                                                    void* grad_logits);

/* ============================== CPU: linear algebra helpers (native/src/linalg.cpp) ============================== */

/* out[i..., :, :] = a[i..., :, :] @ b[i..., :, :] for every batch index i of batch_shape (batch_ndim dims, 0 for
   a single product): a is M x K, b is K x N, both read through element strides (batch_ndim + 2 entries each,
   batch strides of 0 broadcast); out is contiguous [batch_shape..., M, N]. Floating dtypes. A portable
   fallback for what oneDNN's matmul does not take (f64 on the CPU); f32 goes through oneDNN. */
void soma_cpu_matmul(int dtype, int batch_ndim, const int64_t* batch_shape, int64_t m, int64_t n, int64_t k,
                     const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out);

/* ============================== CPU: optimizers (native/src/optim.cpp) ============================== */

/* Multi-tensor fused updates: one call updates `count` parameter tensors. params/grads/state arrays hold
   addresses (int64) of each tensor's contiguous data, sizes its element counts. Every gradient is first
   multiplied by grad_scale (global-norm clipping) and then clipped to [-clip_value, clip_value] when
   clip_value > 0. */
/* SGD: v = momentum*v - lr*g; p += nesterov ? momentum*v - lr*g : v (plain p -= lr*g when momentum == 0,
   and then velocity may be NULL). weight_decay adds weight_decay*p to g (L2, coupled). */
void soma_cpu_sgd(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* velocity,
                  const int64_t* sizes, double lr, double momentum, int nesterov, double weight_decay,
                  double grad_scale, double clip_value);
/* Adam / AdamW: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t * m / (sqrt(v) + eps_hat) with bias
   correction from `step` (1-based). decoupled != 0: AdamW, p -= lr * weight_decay * p first; otherwise
   weight_decay is added to the gradient (L2). */
void soma_cpu_adam(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* m,
                   const int64_t* v, const int64_t* sizes, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int decoupled, int64_t step, double grad_scale, double clip_value);
/* RMSprop (Keras form): a = rho a + (1-rho) g^2; p -= lr g / (sqrt(a) + eps); with momentum > 0:
   mom = momentum*mom + lr g / (sqrt(a) + eps); p -= mom. */
void soma_cpu_rmsprop(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* avg,
                      const int64_t* mom, const int64_t* sizes, double lr, double rho, double momentum,
                      double eps, double grad_scale, double clip_value);
/* Sum of squares of every element of `count` tensors (for global-norm clipping), accumulated in double. */
double soma_cpu_sum_squares(int dtype, int count, const int64_t* tensors, const int64_t* sizes);

/* ============================== CPU: convolution and pooling (native/src/conv.cpp) ============================== */

/* Direct-loop fallbacks for what oneDNN does not take (f64; f32 runs on oneDNN). Data is channels-last and
   contiguous: x [N, H, W, C], out [N, OH, OW, OC], kernels HWIO [KH, KW, C, OC]. `geom` holds 15 int64 values
   indexed by the enum below; dilations are 1 for none; pooling uses OC = C and ignores DH/DW. Java has
   checked that OH/OW match the padding, strides and (dilated) kernel. */
enum soma_conv_geom {
  SOMA_CONV_N = 0, SOMA_CONV_H = 1, SOMA_CONV_W = 2, SOMA_CONV_C = 3, SOMA_CONV_OH = 4, SOMA_CONV_OW = 5,
  SOMA_CONV_OC = 6, SOMA_CONV_KH = 7, SOMA_CONV_KW = 8, SOMA_CONV_SH = 9, SOMA_CONV_SW = 10, SOMA_CONV_DH = 11,
  SOMA_CONV_DW = 12, SOMA_CONV_PAD_TOP = 13, SOMA_CONV_PAD_LEFT = 14, SOMA_CONV_GEOM_LEN = 15
};
/* out = conv(x, w) + bias (bias may be NULL). */
void soma_cpu_conv2d(int dtype, const int64_t* geom, const void* x, const void* w, const void* bias, void* out);
/* grad_x (written whole) from grad_out and w. */
void soma_cpu_conv2d_backward_data(int dtype, const int64_t* geom, const void* grad_out, const void* w,
                                   void* grad_x);
/* grad_w (HWIO, written whole) from x and grad_out; grad_bias [OC] too unless NULL. */
void soma_cpu_conv2d_backward_weights(int dtype, const int64_t* geom, const void* x, const void* grad_out,
                                      void* grad_w, void* grad_bias);
/* is_max = 1: max over the window's positions inside the image; 0: their average (padding excluded, as
   Keras). The backward writes grad_x whole: max routes each output's gradient to the first maximum of its
   window (recomputed from x); average spreads it over the window's positions. */
void soma_cpu_pool2d(int is_max, int dtype, const int64_t* geom, const void* x, void* out);
void soma_cpu_pool2d_backward(int is_max, int dtype, const int64_t* geom, const void* x, const void* grad_out,
                              void* grad_x);
/* float32 only, pooling geometry: out = relu(max pool(z)), NaN winning a window; tap (may be NULL) [N, OH, OW, C]
   int32 gets the window position (i * KW + j) each output came from, -1 for a window of -inf only. The backward
   writes grad_z [N, H, W, C] whole: each position gets the sum of the gradients of the windows whose tap it is and
   whose output is positive; float32 when bf16 = 0, else rounded to bfloat16 (to nearest even). */
void soma_cpu_relu_max_pool2d(const int64_t* geom, const void* z, void* out, void* tap);
void soma_cpu_relu_max_pool2d_backward(const int64_t* geom, const void* grad_out, const void* out, const void* tap,
                                       int bf16, void* grad_z);

/* ============================== CPU: Winograd convolution (native/src/winograd_conv.cpp) ============================== */
/* float32 convolution F(4x4, 3x3), F(4x4, 5x5) and F(2x2, 7x7) for square kernels, stride 1, no dilation, any padding; same
   layouts and geometry as soma_cpu_conv2d. Other square kernels from 4x4 up run as the sum of 5x5 pieces
   (native/src/winograd_pieces.h). soma_cpu_winograd_supported returns 1 for such a geometry whose
   transformed kernel takes at most 64 MiB, else 0 (Java checks it before calling the passes). Each pass needs the workspace that
   soma_cpu_winograd_workspace_bytes gives for its pass (0 forward, 1 backward data, 2 backward weights, 3 both) at the
   calling thread's OpenMP thread count; a smaller workspace runs on fewer threads (at least one thread's worth
   is required). The passes write their outputs whole; backward weights leaves the bias gradient to the caller. */
int soma_cpu_winograd_supported(const int64_t* geom);
/* The kernels' vector width in floats: 16 (AVX-512) or 8 (AVX2: the CPU has no AVX-512, or SOMA_NO_AVX512 is set). */
int soma_cpu_winograd_lanes(void);
/* The side of the pieces a k x k kernel runs as (k itself for 3, 5 and 7; 5 for others from 4 up; 0 below 3), and how
   many pieces per side (1 for 3, 4, 5 and 7). */
int soma_cpu_winograd_piece(int k);
int soma_cpu_winograd_pieces_per_side(int k);
/* The output tile side of those pieces' transforms (4 for 3 and 5, 2 for 7; 0 below 3). */
int soma_cpu_winograd_tile(int k);
int64_t soma_cpu_winograd_workspace_bytes(const int64_t* geom, int pass);
void soma_cpu_winograd_conv2d(const int64_t* geom, const void* x, const void* w, const void* bias, void* out,
                              void* workspace, int64_t workspace_bytes);
void soma_cpu_winograd_conv2d_backward_data(const int64_t* geom, const void* grad_out, const void* w, void* grad_x,
                                            void* workspace, int64_t workspace_bytes);
void soma_cpu_winograd_conv2d_backward_weights(const int64_t* geom, const void* x, const void* grad_out,
                                               void* grad_w, void* workspace, int64_t workspace_bytes);
/* Both backward passes at once (pass 3 of soma_cpu_winograd_workspace_bytes): the transformed output gradient,
   which both multiply, is computed once per tile. Threads take whole images (at most min(8, n) at once). */
void soma_cpu_winograd_conv2d_backward(const int64_t* geom, const void* x, const void* grad_out, const void* w,
                                       void* grad_x, void* grad_w, void* workspace, int64_t workspace_bytes);

/* ============================== CPU: attention (native/src/attention.cpp) ============================== */

/* Fused scaled-dot-product attention, out = softmax(scale q k^T + mask) v, without storing the score matrix
   (online softmax over key blocks; FlashAttention-2 style backward from the saved log-sum-exp).
   q [batch, heads, tq, d], k [batch, heads, tk, d], v [batch, heads, tk, dv], out [batch, heads, tq, dv]:
   each read or written through three element strides (batch, head, time); the last dimension is contiguous.
   Key j is visible to query i iff j < key_lengths[b] (when key_lengths is not NULL), j <= i (causal) and
   mask[b * mask_batch_stride + i * mask_query_stride + j] != 0 (when mask is not NULL; a query stride of 0
   shares one key mask across queries). A query that sees no key gets out = 0 and lse = -inf.
   dropout in [0, 1): inverted dropout on the normalised weights; element (b, h, i, j) is kept iff the f32
   uniform number of index ((b heads + h) tq + i) tk + j of the Philox stream (seed, stream) is >= dropout
   (the layout of soma_cpu_random's f32 fill). lse is contiguous [batch, heads, tq]; weights (NULL or contiguous
   [batch, heads, tq, tk]) receives the normalised weights before dropout. workspace holds
   soma_cpu_threads() * soma_cpu_attention_workspace(d, dv) elements of the dtype. */
int64_t soma_cpu_attention_workspace(int64_t d, int64_t dv);
void soma_cpu_attention_forward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                int causal, const int32_t* key_lengths, const int32_t* mask, int64_t mask_batch_stride,
                                int64_t mask_query_stride, double dropout, uint64_t seed, uint64_t stream, void* out,
                                const int64_t* out_strides, void* lse, void* weights, void* workspace);
/* Gradients of the forward above from its out, lse and grad_out (same geometry, masks and dropout stream).
   grad_q, grad_k, grad_v are written whole (zero where nothing flows); delta is scratch of batch*heads*tq
   elements. */
void soma_cpu_attention_backward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                 int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                 const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                 int causal, const int32_t* key_lengths, const int32_t* mask,
                                 int64_t mask_batch_stride, int64_t mask_query_stride, double dropout, uint64_t seed,
                                 uint64_t stream, const void* out, const int64_t* out_strides, const void* lse,
                                 const void* grad_out, const int64_t* grad_out_strides, void* grad_q,
                                 const int64_t* grad_q_strides, void* grad_k, const int64_t* grad_k_strides,
                                 void* grad_v, const int64_t* grad_v_strides, void* delta, void* workspace);

/* ============================== CPU: layer normalisation (native/src/layernorm.cpp) ============================== */

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over each row of a contiguous rows x cols x (population
   variance); gamma and beta may be NULL (no scale / no centre). mean and rstd (rows elements each) are saved
   for the backward, which writes grad_x whole and grad_gamma / grad_beta (cols each) when not NULL. */
void soma_cpu_layer_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* rstd);
void soma_cpu_layer_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta);

/* ============================== CPU: batch normalisation (native/src/batchnorm.cpp) ============================== */

/* Training-mode batch normalisation over the columns of a contiguous rows x cols x (Keras' BatchNormalization: the
   channel is the last axis, rows are every other position): per column, mean and the population variance over the
   rows (in double), rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * gamma + beta; gamma and beta may be NULL.
   mean, var and rstd (cols elements each) are written. The backward, from the forward's mean and rstd, writes
   grad_x whole and grad_gamma / grad_beta (cols each) when not NULL. rows == 0 writes nothing (Java rejects an
   empty batch). Sums are in an order fixed by the shape (the same results for any thread count). */
void soma_cpu_batch_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* var, void* rstd);
void soma_cpu_batch_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta);

/* ============================== CPU: ghost norms for DP-SGD (native/src/ghost_norm.cpp) ============================== */

/* out[i] = the squared L2 norm of example i's gradient over one layer's weight (plus bias when has_bias), from the
   layer's input and the loss gradient at its pre-activation output, without forming the batch's per-example
   gradients. mode 0: the cheaper of the per-example product and the Gram trick; 1: product; 2: Gram (for tests).
   linear: a [batch, positions, d], g [batch, positions, p] (weight d x p). conv2d: geom as soma_cpu_conv2d,
   x NHWC, g [n, oh, ow, oc]. embedding: ids [batch, positions] int32, g [batch, positions, d].
   layer_norm: xhat (the normalised input) and g [batch, positions, d]. All contiguous, out [batch] of dtype. */
void soma_cpu_ghost_norm_linear(int dtype, int64_t batch, int64_t positions, int64_t d, int64_t p, const void* a,
                                const void* g, int has_bias, int mode, void* out);
void soma_cpu_ghost_norm_conv2d(int dtype, const int64_t* geom, const void* x, const void* g, int has_bias, int mode,
                                void* out);
void soma_cpu_ghost_norm_embedding(int dtype, int64_t batch, int64_t positions, int64_t d, const int32_t* ids,
                                   const void* g, void* out);
void soma_cpu_ghost_norm_layer_norm(int dtype, int64_t batch, int64_t positions, int64_t d, const void* xhat,
                                    const void* g, int has_gamma, int has_beta, void* out);

/* ============================== CPU: numeric checks (native/src/check.cpp) ============================== */

/* Index of the first NaN or +-Inf among n contiguous f32/f64 elements, or -1 when all are finite (anomaly mode). */
int64_t soma_cpu_first_non_finite(int dtype, const void* x, int64_t n);

/* ============================== CPU: embeddings and recurrent cells (native/src/rnn.cpp) ============================== */

/* out[i, :] = table[ids[i], :] for n ids (each in [0, vocab), checked by Java); rows of dim elements. Any dtype. */
void soma_cpu_embedding_forward(int dtype, int64_t n, int64_t dim, const int32_t* ids, const void* table, void* out);
/* grad_table = scatter-add of grad_out rows into the rows named by ids (the whole [vocab, dim] table is written:
   zero where no id points). Deterministic: each thread owns a range of table rows and adds in id order. */
void soma_cpu_embedding_backward(int dtype, int64_t n, int64_t dim, int64_t vocab, const int32_t* ids,
                                 const void* grad_out, void* grad_table);

/* Cells and activations of the fused timestep kernels. */
enum soma_rnn_cell { SOMA_RNN_SIMPLE = 0, SOMA_RNN_LSTM = 1, SOMA_RNN_GRU = 2,
  SOMA_RNN_GRU_RESET_BEFORE = 3 /* Keras reset_after=False: two phases per step, see below */ };
enum soma_rnn_activation {
  SOMA_RNN_ACT_LINEAR = 0, SOMA_RNN_ACT_TANH = 1, SOMA_RNN_ACT_SIGMOID = 2, SOMA_RNN_ACT_RELU = 3,
  SOMA_RNN_ACT_HARD_SIGMOID = 4 /* Keras 3: clip(x / 6 + 0.5, 0, 1) */
};
/* One timestep of a recurrent layer, as an int64 array (addresses as integers; 0 = absent), indexed thus.
   Gate order as Keras: LSTM i, f, c, o (G = 4); GRU z, r, h (G = 3, reset_after = True); SimpleRNN (G = 1).
   Rows are the n sequences of the batch; every buffer is contiguous [n, ...] unless a stride is given.
   Forward: xp [n, G*h] = x_t W (no bias), hu [n, G*h] = h_prev U (absent: zero), bias [G*h] (GRU: input bias),
     recurrent_bias (GRU only) [3h], h_prev / c_prev [n, h] (c: LSTM only), mask [n] with mask_stride (absent: all
     steps count; a 0 entry makes that row copy h_prev / c_prev), outputs gates [n, S*h] saved for the backward
     (S = G, GRU 4), h_out, c_out [n, h], and y (may be absent) [n, h] with row stride y_stride.
   Backward (same step, same saved buffers; c_out = c_t is read, not written):
     y = dy (may be absent) with y_stride, hu = dh_mm = dz_{t+1} U^T (may be absent), h_out = dh_carry [n, h]
     (in: the part of dh_t that bypassed U; out: the same for h_{t-1}), dc [n, h] (LSTM: in dc_t, out dc_{t-1}),
     dz [n, G*h] (gradient of the pre-activations: multiplies W and, for SimpleRNN/LSTM, U), dz_recurrent (GRU)
     [n, 3h] (what multiplies U and the recurrent bias). */
enum soma_rnn_arg {
  SOMA_RNN_ARG_CELL = 0, SOMA_RNN_ARG_ACTIVATION, SOMA_RNN_ARG_RECURRENT_ACTIVATION, SOMA_RNN_ARG_N,
  SOMA_RNN_ARG_HIDDEN, SOMA_RNN_ARG_MASK_STRIDE, SOMA_RNN_ARG_Y_STRIDE, SOMA_RNN_ARG_XP, SOMA_RNN_ARG_HU,
  SOMA_RNN_ARG_BIAS, SOMA_RNN_ARG_RECURRENT_BIAS, SOMA_RNN_ARG_H_PREV, SOMA_RNN_ARG_C_PREV, SOMA_RNN_ARG_MASK,
  SOMA_RNN_ARG_GATES, SOMA_RNN_ARG_H_OUT, SOMA_RNN_ARG_C_OUT, SOMA_RNN_ARG_Y, SOMA_RNN_ARG_DC, SOMA_RNN_ARG_DZ,
  SOMA_RNN_ARG_DZ_RECURRENT,
  SOMA_RNN_ARG_PHASE, SOMA_RNN_ARG_H_MM, SOMA_RNN_ARG_RECURRENT_DROP,
  SOMA_RNN_ARG_COUNT
};
/* Recurrent dropout: recurrent_drop [n, h] (absent: none) is the constant inverted-dropout multiplier of h_{t-1}
   where it multiplies U; h_mm [n, h] is that product's operand h_{t-1} * drop (GRU_RESET_BEFORE reads it; Java
   forms it). The backward scales dh_mm by recurrent_drop before adding it to dh_{t-1}.
   GRU_RESET_BEFORE (z, r, h; bias [3h]; saved z, r, hh, r*h_mm): a step is two kernel calls around two products.
   Forward phase 0: hu = h_mm U[:, :2h] as [n, 2h] -> z, r and r*h_mm; phase 1: hu = (r*h_mm) U[:, 2h:] as
   [n, h] -> hh and h_t. Backward phase 0: dz of z and hh (dz of r zeroed), dh_carry = dh*z; phase 1: hu =
   dz_h U[:, 2h:]^T as [n, h] -> dz of r, dh_carry += hu * r * drop. dz multiplies W, U and the bias. */
void soma_cpu_rnn_step_forward(int dtype, const int64_t* args);
void soma_cpu_rnn_step_backward(int dtype, const int64_t* args);
/* A float32 layer's whole sequence at once (rnn_sequence.cpp): each thread runs every step for its own block of
   rows, with its own recurrent products. step_args as above, holding the first step's addresses of buffers that
   hold every step, in processing order: xp [T, n, G*h], h_prev = the states [T+1, n, h] (row 0 the initial
   state), c_prev likewise (LSTM), gates [T, n, S*h], y (row stride y_stride; step k at y + k*h), mask [n] with
   mask_stride T at input step 0, h_mm [T, n, h] (with recurrent dropout; else the states again); backward also dz
   [T, n, G*h], dz_recurrent (GRU) likewise, y = dy, and hu = dh_mm [n, h], h_out = dh_carry [n, h] and dc [n, h]
   as one step's. seq_args: soma_rnn_seq_arg. U [h, G*h] contiguous; the workspace holds
   soma_cpu_rnn_sequence_workspace_bytes. The backward leaves dh_mm = dz_0 U^T when want_dh0, as the step loop. */
enum soma_rnn_seq_arg {
  SOMA_RNN_SEQ_STEPS = 0, SOMA_RNN_SEQ_GO_BACKWARDS, SOMA_RNN_SEQ_FROM_STATE /* step 0 multiplies U too */,
  SOMA_RNN_SEQ_WANT_DH0, SOMA_RNN_SEQ_U, SOMA_RNN_SEQ_WORKSPACE, SOMA_RNN_SEQ_COUNT
};
int64_t soma_cpu_rnn_sequence_workspace_bytes(int cell, int64_t n, int64_t hidden);
void soma_cpu_rnn_sequence_forward(const int64_t* step_args, const int64_t* seq_args);
void soma_cpu_rnn_sequence_backward(const int64_t* step_args, const int64_t* seq_args);
/* The OpenMP thread count of the calling thread's parallel regions (ours and oneDNN's: one libgomp per process).
   Recurrent loops run their many tiny per-step regions on one thread; the large products around them use all. */
int soma_cpu_get_max_threads(void);
void soma_cpu_set_max_threads(int threads);
/* out[c] = sum over rows of in[r, c] (rows x cols, contiguous), accumulated in row order (bias gradients). */
void soma_cpu_column_sums(int dtype, int64_t rows, int64_t cols, const void* in, void* out);

/* ============================== CUDA: the library and its dispatcher (cuda-kernels/dispatch/) ============================== */

/* libsoma_cuda.so (what Java links) is a dispatcher built by the host compiler alone: every soma_cuda_* function
   below forwards to the kernel library opened by soma_cuda_open, either libsoma_cuda_nv.so (nvcc, a real device)
   or libsoma_cuda_emu.so (the same sources on the CPU emulator). Before a successful open every entry returns
   SOMA_CUDA_NOT_OPENED; an entry missing from the opened library returns SOMA_CUDA_MISSING_ENTRY. */
#define SOMA_CUDA_NOT_OPENED (-1)
#define SOMA_CUDA_MISSING_ENTRY (-2)
/* cudaErrorMemoryAllocation: soma_cuda_malloc's answer when the device is full (the pool frees its cache and
   retries); the sticky last error is cleared before it returns. */
#define SOMA_CUDA_NOT_READY 600
#define SOMA_CUDA_OUT_OF_MEMORY 2

/* Opens a kernel library (dlopen RTLD_NOW | RTLD_LOCAL) and binds every entry. 0 on success; otherwise -1 and
   the reason in `error` (NUL-terminated, at most error_len bytes). A second open of another library fails. */
int soma_cuda_open(const char* library_path, char* error, int error_len);
/* 0 when nothing usable is opened, 1 for a real (nvcc) library, 2 for the emulated one. */
int soma_cuda_built(void);
/* What the opened kernel library is: 1 = built by nvcc, 2 = emulated (SOMA_CUDA_EMULATED). */
int soma_cuda_kind(void);
/* A short description: "built with nvcc ...", the emulator's, or why nothing is opened. */
const char* soma_cuda_build_info(void);
/* Human-readable text for a status code returned by a soma_cuda_* function (0 = success). */
const char* soma_cuda_status_string(int status);

/* ============================== CUDA: runtime (cuda-kernels/runtime.cu) ============================== */

/* The CUDA runtime calls the Java backend needs, so the same Java code drives a real or an emulated device.
   Each returns 0 or a cudaError_t number. Pointers, streams and events travel as addresses. */
#define SOMA_CUDA_COPY_HOST_TO_DEVICE 1 /* the cudaMemcpyKind numbers */
#define SOMA_CUDA_COPY_DEVICE_TO_HOST 2
#define SOMA_CUDA_COPY_DEVICE_TO_DEVICE 3

int soma_cuda_device_count(int* count);
int soma_cuda_set_device(int device);
/* name: NUL-terminated, truncated to name_len bytes. */
int soma_cuda_device_info(int device, char* name, int name_len, int64_t* total_bytes, int* major, int* minor,
                          int* multiprocessors);
int soma_cuda_versions(int* runtime, int* driver);
int soma_cuda_mem_info(int64_t* free_bytes, int64_t* total_bytes);
/* *out = device memory of `bytes` on the current device; SOMA_CUDA_OUT_OF_MEMORY when it does not fit. */
int soma_cuda_malloc(int64_t bytes, void** out);
int soma_cuda_free(void* ptr);
/* kind: one of SOMA_CUDA_COPY_*. The synchronous copy waits for work already enqueued on the legacy stream. */
int soma_cuda_memcpy(void* dst, const void* src, int64_t bytes, int kind);
int soma_cuda_memcpy_async(void* dst, const void* src, int64_t bytes, int kind, void* stream);
int soma_cuda_memset(void* dst, int value, int64_t bytes);
/* Page-locked host memory (fast, truly asynchronous transfers). */
int soma_cuda_host_alloc(int64_t bytes, void** out);
int soma_cuda_host_free(void* ptr);
int soma_cuda_stream_create(void** stream);
int soma_cuda_stream_destroy(void* stream);
int soma_cuda_stream_synchronize(void* stream);
/* cudaProfilerStart (start != 0) or cudaProfilerStop; a no-op on the emulated device. */
int soma_cuda_profiler_range(int start);
int soma_cuda_event_create(void** event);
int soma_cuda_event_record(void* event, void* stream);
int soma_cuda_event_synchronize(void* event);
/* 0 when every piece of work captured by the event has finished, SOMA_CUDA_NOT_READY (cudaErrorNotReady) while
   some is still running, another cudaError_t on failure. Never blocks. */
int soma_cuda_event_query(void* event);
/* Work enqueued on `stream` after this call waits until `event` (recorded on another stream) has completed. */
int soma_cuda_stream_wait_event(void* stream, void* event);
int soma_cuda_event_elapsed_ms(float* ms, void* start, void* end);
int soma_cuda_event_destroy(void* event);
int soma_cuda_device_synchronize(void);
/* Returns and clears the last error of the calling thread (cudaGetLastError). */
int soma_cuda_last_error(void);

/* ============================== CUDA: NCCL collectives (cuda-kernels/nccl.cu) ============================== */

/* Data-parallel collectives in device memory. The nvcc library opens NVIDIA's libnccl.so.2 at run time
   (SOMA_NCCL_LIBRARY names another file), so nothing is linked or needed at build time; the emulated library runs
   its own NCCL stand-in between the processes (or threads) of one machine through POSIX shared memory, with NCCL's
   semantics: a communicator per rank from a 128-byte id, collectives enqueued on a stream in the same order on
   every rank. Every function returns 0, SOMA_CUDA_NOT_OPENED / SOMA_CUDA_MISSING_ENTRY from the dispatcher, or
   SOMA_NCCL_ERROR with the reason in soma_cuda_nccl_error_text (per thread). dtype: enum soma_dtype
   (f32, f64, i32); all-reduce sums. */
#define SOMA_NCCL_ERROR (-3)
#define SOMA_NCCL_ID_BYTES 128
/* Opens the NCCL library (once per process); writes what it is ("NCCL 2.27.3 from libnccl.so.2", or the
   emulation's line) into info. */
int soma_cuda_nccl_open(char* info, int info_len);
/* The calling thread's last NCCL failure, as text (empty when none). */
int soma_cuda_nccl_error_text(char* out, int out_len);
/* A fresh communicator id (ncclGetUniqueId): made by one rank, given to all. */
int soma_cuda_nccl_unique_id(uint8_t* id);
/* Joins communicator `id` as `rank` of `nranks` on the current device (ncclCommInitRank); blocks until all
   ranks have joined (the emulation: at most timeout_seconds, then SOMA_NCCL_ERROR). */
int soma_cuda_nccl_comm_init(int nranks, const uint8_t* id, int rank, double timeout_seconds, void** comm);
int soma_cuda_nccl_all_reduce_sum(void* comm, const void* send, void* recv, int64_t count, int dtype, void* stream);
int soma_cuda_nccl_broadcast(void* comm, const void* send, void* recv, int64_t count, int dtype, int root,
                             void* stream);
/* 0 in *failed while the communicator is healthy; otherwise 1, and the reason in soma_cuda_nccl_error_text. */
int soma_cuda_nccl_comm_check(void* comm, int* failed);
int soma_cuda_nccl_comm_destroy(void* comm);
/* Ends the communicator without waiting for pending work (a peer died): its collectives fail on every rank. */
int soma_cuda_nccl_comm_abort(void* comm);

/* ============================== CUDA: elementwise (cuda-kernels/elementwise.cu) ============================== */

/* The CPU element-wise functions above on device pointers, enqueued on `stream` (a cudaStream_t; 0 = the
   legacy default stream). Each returns 0 or a cudaError_t code (see soma_cuda_status_string). */
int soma_cuda_binary(int op, int dtype, int ndim, const int64_t* shape, const void* a, const int64_t* a_strides,
                     const void* b, const int64_t* b_strides, void* out, void* stream);
int soma_cuda_unary(int op, int dtype, int64_t n, const void* x, void* out, double p0, double p1, void* stream);
int soma_cuda_unary_backward(int op, int dtype, int64_t n, const void* x, const void* y, const void* grad_out,
                             void* grad_in, double p0, double p1, void* stream);
/* soma_cpu_bias_activation(_backward) on device pointers (same arithmetic as soma_cuda_binary ADD followed by
   soma_cuda_unary of the activation). */
int soma_cuda_bias_activation(int act, int dtype, int64_t rows, int64_t cols, const void* y, const void* bias,
                              void* out, double p0, void* stream);
int soma_cuda_bias_activation_backward(int act, int dtype, int64_t rows, int64_t cols, const void* y,
                                       const void* bias, const void* out, const void* grad_out, void* grad_in,
                                       double p0, void* stream);
/* out[i] = cond[i] != 0 ? a[i] : b[i], as soma_cpu_where, on device pointers. */
int soma_cuda_where(int dtype, int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
                    const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out,
                    void* stream);

/* ============================== CUDA: memory and copies (cuda-kernels/copy.cu) ============================== */

/* The CPU memory functions on device pointers (allocation and host transfers: the runtime section above).
   Each returns 0 or a cudaError_t code. */
int soma_cuda_fill(int dtype, void* dst, int64_t n, double value, void* stream);
int soma_cuda_strided_copy(int dtype, int ndim, const int64_t* shape, const void* src, const int64_t* src_strides,
                           void* dst, const int64_t* dst_strides, void* stream);
int soma_cuda_cast(int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n, void* stream);
int soma_cuda_axpy(int dtype, int64_t n, double alpha, const void* x, void* y, void* stream);

/* ======================= CUDA: custom-op modules on the emulated device (cuda-kernels/emu/src/modules.cpp) ======================= */

/* The emulated device's stand-in for NVRTC + cuModuleLoad / cuLaunchKernel: dev.soma.custom.EmulatedModules compiles a
   custom op's CUDA source with the host compiler against the emulator into a shared library (a module) with one
   generated launch entry per declared kernel; these load it and launch. Only the emulated library has them (the nvcc
   one answers SOMA_CUDA_MISSING_ENTRY: custom ops on a real device use NVRTC). Each returns 0 or a cudaError_t
   number, with the reason in `error` (NUL-terminated, at most error_len bytes). */
/* The folder of the emulator's runtime library (libsoma_cuda_emu_rt.so), which modules link against. */
int soma_cuda_emu_runtime_dir(char* dir, int dir_len);
/* dlopen(RTLD_NOW | RTLD_LOCAL) of a module (kept loaded for the life of the process); *module is its handle. */
int soma_cuda_emu_module_load(const char* path, void** module, char* error, int error_len);
/* *kernel = the launch entry of the kernel declared as `name` ("f" or a template instantiation "f<float>"). */
int soma_cuda_emu_module_kernel(void* module, const char* name, void** kernel, char* error, int error_len);
/* Runs the kernel to its end. grid_block: grid x, y, z then block x, y, z. args: one 64-bit slot per kernel
   parameter (a pointer's address, an integer sign-extended, a float's or double's bits); kinds: one letter per slot
   (p pointer, i 32-bit integer, l 64-bit integer, f float, d double), checked against the kernel's parameter types.
   site_file:site_line is named as the launch site in the emulator's messages. The launch is ordered on `stream`
   (null: the legacy default stream). A misuse inside the kernel answers cudaErrorLaunchFailure with the emulator's
   message (kernel, block, thread, source line) in `error`; under SOMA_EMU_STREAMS=deferred the kernel runs when
   its stream is observed, and the misuse is answered there. */
int soma_cuda_emu_module_launch(void* kernel, const char* site_file, int site_line, const int* grid_block,
                                int64_t shared_bytes, const int64_t* args, const char* kinds, void* stream,
                                char* error, int error_len);

/* ============================== CUDA: matrix products and random fills (cuda-kernels/linalg.cu, random.cu) ============================== */

/* soma_cpu_matmul on device pointers: out = a @ b batched over batch_shape, a and b read through their strides
   (batch_ndim + 2 entries each, 0 where an operand broadcasts), out contiguous [batch..., m, n]; our tiled GEMM. */
int soma_cuda_matmul(int dtype, int batch_ndim, const int64_t* batch_shape, int64_t m, int64_t n, int64_t k,
                     const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out,
                     void* stream);
/* soma_cpu_random on a device pointer: the same values bit for bit (native/include/soma_random_values.h). */
int soma_cuda_random(int dist, int dtype, void* dst, int64_t n, uint64_t seed, uint64_t stream, double a, double b,
                     void* stream_handle);
/* ============================== CUDA: convolution and pooling (cuda-kernels/conv.cu) ============================== */

/* The CPU convolution and pooling above on device pointers (same geometry array, layouts and semantics),
   enqueued on `stream`; the geometry array itself is host memory. Each returns 0 or a cudaError_t code
   (cudaErrorInvalidValue for a geometry beyond 32-bit index arithmetic). */
/* out = conv(x, w) + bias (bias may be NULL), then ReLU when relu != 0. */
int soma_cuda_conv2d(int dtype, const int64_t* geom, const void* x, const void* w, const void* bias, int relu,
                     void* out, void* stream);
/* grad_x (written whole) from grad_out and w. */
int soma_cuda_conv2d_backward_data(int dtype, const int64_t* geom, const void* grad_out, const void* w,
                                   void* grad_x, void* stream);
/* *bytes = the device workspace soma_cuda_conv2d_backward_weights needs for this geometry (0: none). */
int soma_cuda_conv2d_backward_weights_workspace(int dtype, const int64_t* geom, int64_t* bytes);
/* grad_w (HWIO, written whole) and grad_bias (may be NULL) from x and grad_out; deterministic. `workspace`: at
   least the bytes the query above answered (may be NULL when that is 0), free again once the stream passed it. */
int soma_cuda_conv2d_backward_weights(int dtype, const int64_t* geom, const void* x, const void* grad_out,
                                      void* grad_w, void* grad_bias, void* workspace, int64_t workspace_bytes,
                                      void* stream);
/* *bytes = the workspace max pooling's training forward writes (int32 winners, one per output); 0 for average. */
int soma_cuda_pool2d_workspace(int is_max, const int64_t* geom, int64_t* bytes);
/* Max or average (padding excluded) pooling; workspace (may be NULL) receives max pooling's winners. */
int soma_cuda_pool2d(int is_max, int dtype, const int64_t* geom, const void* x, void* out, void* workspace,
                     void* stream);
/* grad_x (written whole) from grad_out; max pooling reads the forward's workspace, or recomputes the winners
   from x when workspace is NULL (x may be NULL otherwise). */
int soma_cuda_pool2d_backward(int is_max, int dtype, const int64_t* geom, const void* x, const void* workspace,
                              const void* grad_out, void* grad_x, void* stream);
/* ============================== CUDA: optimizer updates (cuda-kernels/optim.cu) ============================== */
/* soma_cpu_sgd / adam / rmsprop on device tensors, multi-tensor: params, grads and the state arrays are HOST
   arrays of `count` device addresses (sizes: host array of element counts), one launch per table of tensors.
   The same arithmetic as the CPU. Each returns 0 or a cudaError_t code. */
int soma_cuda_sgd(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* velocity,
                  const int64_t* sizes, double lr, double momentum, int nesterov, double weight_decay,
                  double grad_scale, double clip_value, void* stream);
int soma_cuda_adam(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* m,
                   const int64_t* v, const int64_t* sizes, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int decoupled, int64_t step, double grad_scale, double clip_value,
                   void* stream);
int soma_cuda_rmsprop(int dtype, int count, const int64_t* params, const int64_t* grads, const int64_t* avg,
                      const int64_t* mom, const int64_t* sizes, double lr, double rho, double momentum, double eps,
                      double grad_scale, double clip_value, void* stream);
/* Doubles of device scratch that soma_cuda_sum_squares needs. */
#define SOMA_CUDA_SUM_SQUARES_SCRATCH 321
/* Sum of the squares of every element of every tensor, accumulated in double, deterministic (no atomics); the
   total is written to scratch[0] on the device (scratch: SOMA_CUDA_SUM_SQUARES_SCRATCH doubles). */
int soma_cuda_sum_squares(int dtype, int count, const int64_t* tensors, const int64_t* sizes, void* scratch,
                          void* stream);

/* ============================== CUDA: layer normalisation (cuda-kernels/layernorm.cu) ============================== */
/* soma_cpu_layer_norm(_backward) on device pointers; gamma / beta / grad_gamma / grad_beta may be null. The
   backward's column sums need `workspace`: the bytes soma_cuda_layer_norm_backward_workspace answers for these
   rows and cols (may be 0: then workspace may be null), used only when grad_gamma or grad_beta is given. */
int soma_cuda_layer_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* rstd, void* stream);
int soma_cuda_layer_norm_backward_workspace(int64_t rows, int64_t cols, int64_t* bytes);
int soma_cuda_layer_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta, void* workspace, void* stream);

/* ============================== CUDA: batch normalisation (cuda-kernels/batchnorm.cu) ============================== */
/* soma_cpu_batch_norm(_backward) on device pointers; gamma / beta / grad_gamma / grad_beta may be null. Both take
   `workspace`: the bytes soma_cuda_batch_norm_workspace answers for these rows and cols (0 only when rows or cols
   is 0: then workspace may be null). */
int soma_cuda_batch_norm_workspace(int64_t rows, int64_t cols, int64_t* bytes);
int soma_cuda_batch_norm(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma, const void* beta,
                         double eps, void* y, void* mean, void* var, void* rstd, void* workspace, void* stream);
int soma_cuda_batch_norm_backward(int dtype, int64_t rows, int64_t cols, const void* x, const void* gamma,
                                  const void* mean, const void* rstd, const void* grad_y, void* grad_x,
                                  void* grad_gamma, void* grad_beta, void* workspace, void* stream);

/* ============================== CUDA: fused attention (cuda-kernels/attention.cu) ============================== */

/* soma_cpu_attention_forward / _backward (same arguments, same semantics: masks, dropout from the same Philox
   stream, lse) on device pointers, enqueued on cuda_stream; no workspace. The backward's delta is a device
   buffer of batch * heads * tq elements of the dtype (scratch). key_lengths and mask are device pointers.
   Each returns 0 or a cudaError_t code. */
int soma_cuda_attention_forward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                int causal, const int32_t* key_lengths, const int32_t* mask, int64_t mask_batch_stride,
                                int64_t mask_query_stride, double dropout, uint64_t seed, uint64_t stream, void* out,
                                const int64_t* out_strides, void* lse, void* weights, void* cuda_stream);
int soma_cuda_attention_backward(int dtype, int64_t batch, int64_t heads, int64_t tq, int64_t tk, int64_t d,
                                 int64_t dv, const void* q, const int64_t* q_strides, const void* k,
                                 const int64_t* k_strides, const void* v, const int64_t* v_strides, double scale,
                                 int causal, const int32_t* key_lengths, const int32_t* mask,
                                 int64_t mask_batch_stride, int64_t mask_query_stride, double dropout, uint64_t seed,
                                 uint64_t stream, const void* out, const int64_t* out_strides, const void* lse,
                                 const void* grad_out, const int64_t* grad_out_strides, void* grad_q,
                                 const int64_t* grad_q_strides, void* grad_k, const int64_t* grad_k_strides,
                                 void* grad_v, const int64_t* grad_v_strides, void* delta, void* cuda_stream);

/* ============================== CUDA: embeddings (cuda-kernels/rnn.cu) ============================== */

/* soma_cpu_embedding_forward / _backward on device pointers. The backward is deterministic (the CPU's sums,
   in the same order). Each returns 0 or a cudaError_t code. */
int soma_cuda_embedding_forward(int dtype, int64_t n, int64_t dim, const int32_t* ids, const void* embeddings, void* out,
                                void* stream);
int soma_cuda_embedding_backward(int dtype, int64_t n, int64_t dim, int64_t vocab, const int32_t* ids,
                                 const void* grad_out, void* grad_table, void* stream);
/* One timestep of a recurrent layer on device buffers: soma_cpu_rnn_step_forward (backward = 0) or
   soma_cpu_rnn_step_backward (backward = 1), same int64 argument array (a host array of device addresses). */
int soma_cuda_rnn_step(int dtype, int backward, const int64_t* args, void* stream);
/* c[m, n] (row stride ldc, unit column stride) = a[m, k] b[k, n], a and b read through (row, column) element
   strides (transposed and sliced views as they are). Deterministic: each output sums in k order. */
int soma_cuda_rnn_gemm(int dtype, int64_t m, int64_t n, int64_t k, const void* a, const int64_t* a_strides,
                       const void* b, const int64_t* b_strides, void* c, int64_t ldc, void* stream);
/* out[c] = sum over rows of in[r, c] (rows x cols contiguous), in row order as soma_cpu_column_sums. */
int soma_cuda_column_sums(int dtype, int64_t rows, int64_t cols, const void* in, void* out, void* stream);

/* ============================== CUDA: reductions, softmax and losses (cuda-kernels/reduce.cu, loss.cu) ============================== */

/* The CPU reductions and losses above on device pointers, enqueued on `stream`; same semantics and layouts
   (contiguous rows x cols). Each returns 0 or a cudaError_t code. No atomics: the same input gives bit-identical
   output run to run. Some need a device workspace (doubles for partial results, so no reduction depends on the
   order in which blocks finish): soma_cuda_reduce_workspace says how many bytes for a call of the given kind and
   size (0: pass NULL); a call that needs one and gets NULL answers cudaErrorInvalidValue. */
#define SOMA_CUDA_WORKSPACE_REDUCE_ROWS 0    /* soma_cuda_reduce_rows(rows, cols) */
#define SOMA_CUDA_WORKSPACE_REDUCE_LEADING 1 /* soma_cuda_reduce_leading(outer = rows, inner = cols) */
#define SOMA_CUDA_WORKSPACE_LOSS_ELEMENTS 2  /* soma_cuda_mse / soma_cuda_bce over n = cols elements (rows unused) */
#define SOMA_CUDA_WORKSPACE_LOSS_ROWS 3      /* the (sparse) softmax cross-entropies over rows */
int soma_cuda_reduce_workspace(int kind, int64_t rows, int64_t cols, int64_t* bytes);
int soma_cuda_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, void* out, void* workspace,
                          void* stream);
/* op: SOMA_REDUCE_SUM or SOMA_REDUCE_MEAN. */
int soma_cuda_reduce_leading(int op, int dtype, int64_t outer, int64_t inner, const void* in, void* out,
                             void* workspace, void* stream);
/* The middle axis of a contiguous batches x outer x inner input: out[n*inner + c] (SUM or MEAN), no workspace;
   and its input gradient, grad_in[(n*outer + r)*inner + c] = grad_out[n*inner + c] (MEAN: divided by outer). */
int soma_cuda_reduce_middle(int op, int dtype, int64_t batches, int64_t outer, int64_t inner, const void* in,
                            void* out, void* stream);
int soma_cuda_reduce_middle_backward(int op, int dtype, int64_t batches, int64_t outer, int64_t inner,
                                     const void* grad_out, void* grad_in, void* stream);
int soma_cuda_reduce_rows_backward(int op, int dtype, int64_t rows, int64_t cols, const void* in,
                                   const void* grad_out, void* grad_in, void* stream);
/* dtype: SOMA_F32, SOMA_F64 or SOMA_I32. */
int soma_cuda_arg_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, int32_t* out,
                              void* stream);
int soma_cuda_softmax_rows(int log, int dtype, int64_t rows, int64_t cols, const void* in, void* out, void* stream);
int soma_cuda_softmax_rows_backward(int log, int dtype, int64_t rows, int64_t cols, const void* y,
                                    const void* grad_out, void* grad_in, void* stream);
int soma_cuda_mse(int dtype, int64_t n, const void* pred, const void* target, void* out, void* workspace,
                  void* stream);
int soma_cuda_mse_backward(int dtype, int64_t n, const void* pred, const void* target, const void* grad_out,
                           void* grad_pred, void* stream);
int soma_cuda_bce(int from_logits, int dtype, int64_t n, const void* x, const void* z, void* out, void* workspace,
                  void* stream);
int soma_cuda_bce_backward(int from_logits, int dtype, int64_t n, const void* x, const void* z, const void* grad_out,
                           void* grad_x, void* stream);
int soma_cuda_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits, const void* targets,
                                    void* out, void* probs, void* workspace, void* stream);
int soma_cuda_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                             const void* targets, const void* grad_out, void* grad_logits,
                                             void* stream);
int soma_cuda_sparse_softmax_cross_entropy(int dtype, int64_t rows, int64_t cols, const void* logits,
                                           const int32_t* labels, void* out, void* probs, void* workspace,
                                           void* stream);
int soma_cuda_sparse_softmax_cross_entropy_backward(int dtype, int64_t rows, int64_t cols, const void* probs,
                                                    const int32_t* labels, const void* grad_out, void* grad_logits,
                                                    void* stream);


/* ============================== MPI shim (native/mpi/soma_mpi.cpp, libsoma_mpi.so) ============================== */
/* Opens an MPI library at run time (dlopen; built without MPI headers). Status codes: 0, an error below (the text of
   the last one from soma_mpi_last_error). Collectives are in-place sums over MPI_COMM_WORLD or byte broadcasts;
   non-blocking ones hand back a request slot that soma_mpi_test / soma_mpi_wait finish. */
#define SOMA_MPI_ERROR (-1)
#define SOMA_MPI_NOT_OPENED (-2)
#define SOMA_MPI_TIMEOUT (-3)
#define SOMA_MPI_NO_SLOT (-4)
enum soma_mpi_abi { SOMA_MPI_ABI_OPEN_MPI = 1, SOMA_MPI_ABI_MPICH = 2 };
int soma_mpi_open(const char* library_path, char* error, int error_len);
int soma_mpi_abi(void);
const char* soma_mpi_last_error(void);
int soma_mpi_library_version(char* out, int out_len);
int soma_mpi_init(int* rank, int* size);
int soma_mpi_finalize(void);
/* 1 when the progress thread runs (SOMA_MPI_PROGRESS_THREAD=1 at init and the library gave MPI_THREAD_SERIALIZED). */
int soma_mpi_progress_thread(void);
int soma_mpi_abort(int code);
double soma_mpi_wtime(void);
int soma_mpi_allreduce_sum(int dtype, void* buffer, int64_t count);
/* All-reduces of at most SOMA_MPI_SMALL_ALLREDUCE_BYTES (env; else these defaults, measured with 2 ranks on one
   machine: docs/distributed.md) run as recursive doubling on MPI_Isend / MPI_Irecv over a private duplicate of
   MPI_COMM_WORLD; larger ones as MPI_Iallreduce. */
#define SOMA_MPI_SMALL_ALLREDUCE_OPEN_MPI_BYTES 32768
#define SOMA_MPI_SMALL_ALLREDUCE_MPICH_BYTES 65536
int soma_mpi_iallreduce_sum(int dtype, void* buffer, int64_t count, int* slot);
/* The small path's limit in bytes (after init), and how many all-reduces took it. */
int64_t soma_mpi_small_allreduce_bytes(void);
int64_t soma_mpi_small_allreduces(void);
/* The small path's plan for one rank: steps[5i..5i+4] = send-to rank (-1: none), its tag, receive-from rank (-1:
   none), its tag, 1 when received values are added (else they replace the buffer); returns the step count, or -1
   (bad rank/size, or more than max_steps steps). Pure arithmetic: needs no MPI. */
int soma_mpi_recursive_doubling_plan(int rank, int size, int* steps, int max_steps);
int soma_mpi_ibcast(void* buffer, int64_t bytes, int root, int* slot);
int soma_mpi_ibarrier(int* slot);
int soma_mpi_test(int slot, int* done);
/* Polls the request until it completes or timeout_seconds pass (SOMA_MPI_TIMEOUT). */
int soma_mpi_wait(int slot, double timeout_seconds);
/* soma_mpi_iallreduce_sum and soma_mpi_wait in one call (one JNI crossing for a blocking all-reduce). */
int soma_mpi_allreduce_sum_wait(int dtype, void* buffer, int64_t count, double timeout_seconds);
/* dst[i] = src[i] * scale for n f32/f64 elements (a gradient into its bucket, pre-scaled by its share). */
void soma_mpi_pack(int dtype, void* dst, const void* src, int64_t n, double scale);

#ifdef __cplusplus
}
#endif

#endif /* SOMA_H */
