package dev.soma.custom.examples;

import dev.soma.custom.Cost;
import dev.soma.custom.CpuKernel;
import dev.soma.custom.CudaKernel;
import dev.soma.custom.CustomOp;
import dev.soma.custom.HostArray;
import dev.soma.custom.Launch;
import dev.soma.custom.OutputSpec;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Check;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * Worked example (docs/custom-ops.md): the k largest values of each row (the last axis) and their indices,
 * largest first. Order: NaN ranks above every number (as argmax), equal values keep their index order. Two
 * outputs: values (same dtype, last axis k) and int32 indices. Backward: the values' gradient is scattered
 * into the top-k positions of a zero gradient (a second custom op, {@link #scatter(int)}).
 *
 * <p>CPU: one pass per row keeping a sorted buffer of k. CUDA: one block per row, k rounds of a block-wide
 * arg-max over the elements that rank after the previous pick (O(k · cols) work: meant for small k).
 */
public final class RowTopK {
    private RowTopK() {}

    public static final String CUDA_SOURCE = """
            template <typename T> __device__ inline bool before(T a, int ia, T b, int ib) {
                bool na = a != a, nb = b != b;
                if (na != nb) return na;
                if (!na && a != b) return a > b;
                return ia < ib;
            }

            // One block per row; blockDim.x a power of two; shared: blockDim.x * (sizeof(T) + sizeof(int)).
            template <typename T>
            __global__ void topk_rows(const T* x, T* vals, int* idx, int cols, int k) {
                extern __shared__ unsigned char smem[];
                T* sv = (T*) smem;
                int* si = (int*) (sv + blockDim.x);
                long long r = blockIdx.x;
                const T* row = x + r * cols;
                T lastV = T(0);
                int lastI = -1;
                for (int j = 0; j < k; j++) {
                    T bestV = T(0);
                    int bestI = -1;
                    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
                        T v = row[c];
                        if (lastI >= 0 && !before(lastV, lastI, v, c)) continue;
                        if (bestI < 0 || before(v, c, bestV, bestI)) { bestV = v; bestI = c; }
                    }
                    sv[threadIdx.x] = bestV;
                    si[threadIdx.x] = bestI;
                    __syncthreads();
                    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
                        if (threadIdx.x < s) {
                            int oi = si[threadIdx.x + s];
                            if (oi >= 0 && (si[threadIdx.x] < 0 || before(sv[threadIdx.x + s], oi, sv[threadIdx.x], si[threadIdx.x]))) {
                                sv[threadIdx.x] = sv[threadIdx.x + s];
                                si[threadIdx.x] = oi;
                            }
                        }
                        __syncthreads();
                    }
                    lastV = sv[0];
                    lastI = si[0];
                    if (threadIdx.x == 0) { vals[r * k + j] = lastV; idx[r * k + j] = lastI; }
                    __syncthreads();
                }
            }

            // One thread per element of the (rows, cols) gradient: the sum of g over the picks that chose it.
            template <typename T>
            __global__ void topk_scatter(const T* g, const int* idx, T* dx, long long rows, int cols, int k) {
                long long e = (long long) blockIdx.x * blockDim.x + threadIdx.x;
                if (e >= rows * cols) return;
                long long r = e / cols;
                int c = (int) (e - r * cols);
                T acc = T(0);
                for (int j = 0; j < k; j++) if (idx[r * k + j] == c) acc += g[r * k + j];
                dx[e] = acc;
            }
            """;

    static final List<String> KERNELS = List.of("topk_rows<float>", "topk_rows<double>",
            "topk_scatter<float>", "topk_scatter<double>");

    private static final int BLOCK = 256;

    /** The top-k op for one k: {@code applyAll(x)} gives {values, indices}. */
    public static CustomOp of(int k) {
        if (k < 1) throw new IllegalArgumentException("topk: k must be >= 1, got " + k);
        return CustomOp.builder("topk")
                .arity(1)
                .validate((op, in) -> {
                    Check.floating(op, in[0]);
                    if (in[0].ndim() < 1) {
                        throw new ShapeException(op + ": tensor " + in[0].describe() + " has rank 0, expected rank >= 1");
                    }
                    long cols = in[0].size(in[0].ndim() - 1);
                    if (k > cols) {
                        throw new ShapeException(op + ": k = " + k + " exceeds the last axis of " + in[0].describe()
                                + " (" + cols + " elements)");
                    }
                    if (cols > Integer.MAX_VALUE) {
                        throw new ShapeException(op + ": the last axis of " + in[0].describe() + " is longer than an int32 index");
                    }
                    long rows = in[0].numel() / cols;
                    if (rows > Integer.MAX_VALUE) {
                        throw new ShapeException(op + ": " + in[0].describe() + " has more than 2^31 - 1 rows");
                    }
                })
                .outputs(in -> {
                    long[] s = in[0].shape();
                    s[s.length - 1] = k;
                    return List.of(OutputSpec.of(in[0].dtype(), s), OutputSpec.of(DType.I32, s));
                })
                .cpu((CpuKernel.Host) (in, out) -> topkCpu(in[0], out[0], out[1], k))
                .cuda(CudaKernel.of(CUDA_SOURCE, KERNELS, (in, out) -> "topk_rows<" + cType(in[0]) + ">",
                        (in, out) -> {
                            int cols = (int) in[0].size(in[0].ndim() - 1);
                            int rows = (int) (in[0].numel() / Math.max(1, cols));
                            int shared = BLOCK * (in[0].dtype().byteSize() + 4);
                            return new Launch(new int[] {Math.max(1, rows)}, new int[] {BLOCK}, shared, new Object[] {cols, k});
                        }))
                .backward((in, out, g) -> new Tensor[] {scatter((int) in[0].size(in[0].ndim() - 1)).apply(g[0], out[1])})
                .cost(in -> {
                    long n = in[0].numel();
                    long picks = n / Math.max(1, in[0].size(in[0].ndim() - 1)) * k;
                    return new Cost(n, (double) n * in[0].dtype().byteSize() + picks * (in[0].dtype().byteSize() + 4.0));
                })
                .build();
    }

    /** values and indices of the k largest entries of each row of x. */
    public static Tensor[] topk(Tensor x, int k) {
        return of(k).applyAll(x);
    }

    /**
     * The backward of top-k as an op: (g [..., k], indices [..., k] int32) to a [..., cols] tensor, zero except
     * {@code g} at the indices. Indices must lie in [0, cols): the CPU rejects others, the CUDA kernel ignores them.
     */
    public static CustomOp scatter(int cols) {
        if (cols < 1) throw new IllegalArgumentException("topk_scatter: cols must be >= 1, got " + cols);
        return CustomOp.builder("topk_scatter")
                .arity(2)
                .validate((op, in) -> {
                    Check.floating(op, in[0]);
                    Check.dtype(op, in[1], DType.I32);
                    Check.sameShape(op, in[0], in[1]);
                    if (in[0].ndim() < 1 || in[0].size(in[0].ndim() - 1) > cols) {
                        throw new ShapeException(op + ": gradient " + in[0].describe() + " must have rank >= 1 and at most "
                                + cols + " picks per row");
                    }
                })
                .output(in -> {
                    long[] s = in[0].shape();
                    s[s.length - 1] = cols;
                    return OutputSpec.of(in[0].dtype(), s);
                })
                .cpu((CpuKernel.Host) (in, out) -> scatterCpu(in[0], in[1], out[0], cols))
                .cuda(CudaKernel.of(CUDA_SOURCE, KERNELS, (in, out) -> "topk_scatter<" + cType(in[0]) + ">",
                        (in, out) -> {
                            int k = (int) in[0].size(in[0].ndim() - 1);
                            long rows = k == 0 ? 0 : in[0].numel() / k;
                            return Launch.linear(out[0].numel(), 256, rows, cols, k);
                        }))
                .cost(in -> new Cost(0, in[0].numel() * (in[0].dtype().byteSize() + 4.0)
                        + (double) in[0].numel() / Math.max(1, in[0].size(in[0].ndim() - 1)) * cols * in[0].dtype().byteSize()))
                .build();
    }

    private static String cType(Tensor t) {
        return t.dtype() == DType.F32 ? "float" : "double";
    }

    /** a ranks before b: NaN first, then larger values, then the smaller index. */
    static boolean before(double a, int ia, double b, int ib) {
        boolean na = Double.isNaN(a);
        boolean nb = Double.isNaN(b);
        if (na != nb) return na;
        if (!na && a != b) return a > b;
        return ia < ib;
    }

    private static void topkCpu(HostArray x, HostArray vals, HostArray idx, int k) {
        int cols = (int) x.size(x.ndim() - 1);
        int rows = cols == 0 ? 0 : x.length() / cols;
        double[] bv = new double[k];
        int[] bi = new int[k];
        int[] out = idx.i32();
        for (int r = 0; r < rows; r++) {
            int have = 0;
            int base = r * cols;
            for (int c = 0; c < cols; c++) {
                double v = x.get(base + c);
                if (have == k && !before(v, c, bv[k - 1], bi[k - 1])) continue;
                int p = have < k ? have++ : k - 1;
                while (p > 0 && before(v, c, bv[p - 1], bi[p - 1])) {
                    bv[p] = bv[p - 1];
                    bi[p] = bi[p - 1];
                    p--;
                }
                bv[p] = v;
                bi[p] = c;
            }
            for (int j = 0; j < k; j++) {
                vals.set(r * k + j, bv[j]);
                out[r * k + j] = bi[j];
            }
        }
    }

    private static void scatterCpu(HostArray g, HostArray idx, HostArray dx, int cols) {
        int k = (int) g.size(g.ndim() - 1);
        int rows = k == 0 ? 0 : g.length() / k;
        int[] ind = idx.i32();
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < k; j++) {
                int c = ind[r * k + j];
                if (c < 0 || c >= cols) {
                    throw new IllegalArgumentException("topk_scatter: index " + c + " at row " + r + " is outside [0, " + cols + ")");
                }
                dx.set(r * cols + c, dx.get(r * cols + c) + g.get(r * k + j));
            }
        }
    }
}
