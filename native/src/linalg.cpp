// Matrix products that oneDNN does not take on the CPU (f64: its matmul is f32/bf16/int8 only here), so
// that float64 gradient checks run through the same op. Plain and portable rather than fast: one output
// row per task, rank-1 updates along K so the inner loop over N is a contiguous FMA stream when b's rows
// are contiguous (the common case), and a strided loop otherwise.
#include "soma.h"
#include "dtype_dispatch.h"

namespace {

// Element offset of batch index `flat` (row-major over batch_shape) for the given batch strides.
inline int64_t batch_offset(int batch_ndim, const int64_t* batch_shape, const int64_t* strides, int64_t flat) {
  int64_t off = 0;
  for (int d = batch_ndim - 1; d >= 0; --d) {
    int64_t i = flat % batch_shape[d];
    flat /= batch_shape[d];
    off += i * strides[d];
  }
  return off;
}

template <typename T>
void matmul_row(int64_t n, int64_t k, const T* arow, int64_t a_cs, const T* b, int64_t b_rs, int64_t b_cs,
                T* out) {
  for (int64_t j = 0; j < n; ++j) out[j] = T(0);
  for (int64_t kk = 0; kk < k; ++kk) {
    const T av = arow[kk * a_cs];
    const T* brow = b + kk * b_rs;
    if (b_cs == 1) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) out[j] += av * brow[j];
    } else {
      for (int64_t j = 0; j < n; ++j) out[j] += av * brow[j * b_cs];
    }
  }
}

template <typename T>
void matmul(int batch_ndim, const int64_t* batch_shape, int64_t m, int64_t n, int64_t k, const T* a,
            const int64_t* as, const T* b, const int64_t* bs, T* out) {
  int64_t batches = 1;
  for (int d = 0; d < batch_ndim; ++d) batches *= batch_shape[d];
  const int64_t rows = batches * m;
  const int64_t a_rs = as[batch_ndim], a_cs = as[batch_ndim + 1];
  const int64_t b_rs = bs[batch_ndim], b_cs = bs[batch_ndim + 1];
#pragma omp parallel for if (rows * n * k > soma::kParallelGrain && rows > 1) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t bi = r / m, i = r % m;
    const T* abase = a + batch_offset(batch_ndim, batch_shape, as, bi) + i * a_rs;
    const T* bbase = b + batch_offset(batch_ndim, batch_shape, bs, bi);
    matmul_row<T>(n, k, abase, a_cs, bbase, b_rs, b_cs, out + r * n);
  }
}

}  // namespace

extern "C" void soma_cpu_matmul(int dtype, int batch_ndim, const int64_t* batch_shape, int64_t m, int64_t n,
                                int64_t k, const void* a, const int64_t* a_strides, const void* b,
                                const int64_t* b_strides, void* out) {
  SOMA_DISPATCH_FLOAT(dtype, T,
                      matmul<T>(batch_ndim, batch_shape, m, n, k, (const T*)a, a_strides, (const T*)b, b_strides,
                                (T*)out));
}
