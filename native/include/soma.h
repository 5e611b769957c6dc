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
/* y[i] += alpha * x[i] for n elements (gradient accumulation, optimizer steps). */
void soma_cpu_axpy(int dtype, int64_t n, double alpha, const void* x, void* y);
/* Number of OpenMP threads our kernels use. */
int soma_cpu_threads(void);

/* ============================== CPU: random numbers (native/src/random.cpp) ============================== */

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

/* ============================== CPU: reductions and softmax (native/src/reduce.cpp) ============================== */

enum soma_reduce_op { SOMA_REDUCE_SUM = 0, SOMA_REDUCE_MEAN = 1, SOMA_REDUCE_MAX = 2, SOMA_REDUCE_MIN = 3 };
/* out[r] = op(in[r*cols .. r*cols+cols)) for a contiguous rows x cols input (floating dtypes). */
void soma_cpu_reduce_rows(int op, int dtype, int64_t rows, int64_t cols, const void* in, void* out);

/* ============================== CPU: losses (native/src/loss.cpp) ============================== */

/* ============================== CPU: linear algebra helpers (native/src/linalg.cpp) ============================== */

/* out[i..., :, :] = a[i..., :, :] @ b[i..., :, :] for every batch index i of batch_shape (batch_ndim dims, 0 for
   a single product): a is M x K, b is K x N, both read through element strides (batch_ndim + 2 entries each,
   batch strides of 0 broadcast); out is contiguous [batch_shape..., M, N]. Floating dtypes. A portable
   fallback for what oneDNN's matmul does not take (f64 on the CPU); f32 goes through oneDNN. */
void soma_cpu_matmul(int dtype, int batch_ndim, const int64_t* batch_shape, int64_t m, int64_t n, int64_t k,
                     const void* a, const int64_t* a_strides, const void* b, const int64_t* b_strides, void* out);

/* ============================== CUDA (cuda-kernels/; a stub when built without nvcc) ============================== */

/* 1 when the library holds real kernels, 0 for the stub. */
int soma_cuda_built(void);
/* A short description: "built with nvcc ..." or why the stub was built. */
const char* soma_cuda_build_info(void);
/* Human-readable text for a status code returned by a soma_cuda_* function (0 = success). */
const char* soma_cuda_status_string(int status);

/* ============================== CUDA: elementwise (cuda-kernels/elementwise.cu) ============================== */

/* The CPU element-wise functions above on device pointers, enqueued on `stream` (a cudaStream_t; 0 = the
   legacy default stream). Each returns 0 or a cudaError_t code (see soma_cuda_status_string). */
int soma_cuda_binary(int op, int dtype, int ndim, const int64_t* shape, const void* a, const int64_t* a_strides,
                     const void* b, const int64_t* b_strides, void* out, void* stream);
int soma_cuda_unary(int op, int dtype, int64_t n, const void* x, void* out, double p0, double p1, void* stream);
int soma_cuda_unary_backward(int op, int dtype, int64_t n, const void* x, const void* y, const void* grad_out,
                             void* grad_in, double p0, double p1, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* SOMA_H */
