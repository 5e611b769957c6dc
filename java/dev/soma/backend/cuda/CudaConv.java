package dev.soma.backend.cuda;

import dev.soma.backend.ConvKernels;
import dev.soma.backend.CudaProbe;
import dev.soma.jni.CudaKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * Convolution and pooling on CUDA: cuDNN where it loads and takes the geometry ({@link CudnnConv}: f32, the
 * three convolution passes and the inference pooling forward), otherwise our kernels of cuda-kernels/conv.cu,
 * which also run on the emulated device, with {@code -Dsoma.cuda.vendor=false}, and when cuDNN refuses a call
 * (see {@link VendorPaths#cudnnConvRefusal}). Our kernels: the three convolution passes as one
 * tiled implicit GEMM (no im2col buffer), deterministic weight gradients (partial sums per slice of the
 * batch-and-positions axis, then a fixed-order sum; the slice workspace comes from the pool), pooling with the
 * max winners recorded in the op's workspace (int32, one per output). Same semantics as {@code CpuConv}.
 * The op hands over contiguous tensors (its contract), so nothing is copied here.
 */
final class CudaConv implements ConvKernels {
    private final CudaBackend backend;
    private volatile CudnnConv cudnn;

    CudaConv(CudaBackend backend) {
        this.backend = backend;
    }

    private CudnnConv cudnn() {
        CudnnConv c = cudnn;
        if (c == null) {
            synchronized (this) {
                if (cudnn == null) cudnn = new CudnnConv(backend);
                c = cudnn;
            }
        }
        return c;
    }

    /** cuDNN's own timings of every algorithm for the geometries seen so far (CudnnConv#measuredAlternatives). */
    java.util.List<String> cudnnAlgorithmTimings() {
        String refusal = libraryRefusal();
        return refusal != null ? java.util.List.of("no cuDNN: " + refusal) : cudnn().measuredAlternatives();
    }

    /** Why cuDNN does not run at all here (emulated, switched off, not loaded), or null. */
    private static String libraryRefusal() {
        return VendorPaths.libraryRefusal("cuDNN", CudaProbe.result().emulated(), VendorPaths.vendorEnabled(),
                VendorLibraries::cudnnProblem);
    }

    /** Why this convolution does not go to cuDNN, or null when it does. */
    private static String convRefusal(Geometry g, DType dtype) {
        String refusal = libraryRefusal();
        return refusal != null ? refusal : VendorPaths.cudnnConvRefusal(g, dtype);
    }

    /**
     * Runs one pass through cuDNN when the geometry is eligible: true when cuDNN ran it. Logs the path once per
     * pass and geometry either way (the caller runs ours when this returns false).
     */
    private boolean vendor(String pass, Geometry g, DType dtype, java.util.function.Function<Boolean, String> run) {
        String family = "conv2d " + pass;
        String refusal = convRefusal(g, dtype);
        if (refusal == null) {
            boolean tf32 = VendorPaths.tf32Enabled();
            String failure = run.apply(tf32);
            if (failure == null) {
                VendorPaths.ran(family, dtype + " " + g, cudnnName(pass, g, tf32));
                CudaStatus.kernel(0, "cuDNN " + family, () -> dtype + " " + g); // the sync switch
                return true;
            }
            refusal = "cuDNN refused: " + failure;
        }
        VendorPaths.ran(family, dtype + " " + g, "soma implicit-GEMM (not cuDNN: " + refusal + ")");
        return false;
    }

    private String cudnnName(String pass, Geometry g, boolean tf32) {
        String algo = cudnn().algorithm(pass, g, tf32);
        return "cuDNN conv2d " + pass + " (" + CudnnConv.Mode.current(tf32) + (algo == null ? "" : ", " + algo) + ")";
    }

    private static int isMax(PoolKind kind) {
        return kind == PoolKind.MAX ? 1 : 0;
    }

    @Override
    public void conv2d(Geometry g, Tensor x, Tensor kernel, Tensor bias, boolean relu, Tensor out) {
        backend.bind();
        if (vendor("forward", g, out.dtype(), tf32 -> cudnn().forward(g, x, kernel, bias, relu, out, tf32))) return;
        int status = CudaKernels.soma_cuda_conv2d(out.dtype().code(), g.nativeArray(), x.address(), kernel.address(),
                bias == null ? 0 : bias.address(), relu ? 1 : 0, out.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_conv2d", () -> "conv2d" + (relu ? "+relu " : " ") + out.dtype() + " " + g);
    }

    @Override
    public void conv2dBackwardData(Geometry g, Tensor gradOut, Tensor kernel, Tensor gradX) {
        backend.bind();
        if (vendor("backward data", g, gradX.dtype(), tf32 -> cudnn().backwardData(g, gradOut, kernel, gradX, tf32))) {
            return;
        }
        int status = CudaKernels.soma_cuda_conv2d_backward_data(gradX.dtype().code(), g.nativeArray(),
                gradOut.address(), kernel.address(), gradX.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_conv2d_backward_data", () -> "conv2d backward data " + gradX.dtype() + " " + g);
    }

    @Override
    public void conv2dBackwardWeights(Geometry g, Tensor x, Tensor gradOut, Tensor gradKernel, Tensor gradBias) {
        DType dt = gradKernel.dtype();
        long[] geom = g.nativeArray();
        backend.bind();
        if (vendor("backward weights", g, dt,
                tf32 -> cudnn().backwardWeights(g, x, gradOut, gradKernel, gradBias, tf32))) {
            return;
        }
        long[] bytes = new long[1];
        CudaStatus.kernel(CudaKernels.soma_cuda_conv2d_backward_weights_workspace(dt.code(), geom, bytes),
                "soma_cuda_conv2d_backward_weights_workspace", () -> dt + " " + g);
        // The slices' partial sums: freed right after the launches, which is safe because the pool hands the
        // block out again only to work on this same stream.
        Tensor workspace = bytes[0] == 0 ? null
                : Tensor.empty(dt, gradKernel.device(), (bytes[0] + dt.byteSize() - 1) / dt.byteSize()).keep();
        try {
            int status = CudaKernels.soma_cuda_conv2d_backward_weights(dt.code(), geom, x.address(), gradOut.address(),
                    gradKernel.address(), gradBias == null ? 0 : gradBias.address(),
                    workspace == null ? 0 : workspace.address(), bytes[0], backend.stream());
            CudaStatus.kernel(status, "soma_cuda_conv2d_backward_weights", () -> "conv2d backward weights "
                    + (gradBias != null ? "and bias " : "") + dt + " " + g);
        } finally {
            if (workspace != null) workspace.close();
        }
    }

    @Override
    public String[] conv2dImplementations(Geometry g, DType dtype, boolean bias) {
        String where = CudaProbe.result().emulated() ? " (emulated)" : "";
        String refusal = convRefusal(g, dtype);
        String[] passes = {"forward", "backward data", "backward weights"};
        String[] ours = {
            "soma implicit-GEMM conv2d forward" + (bias ? " + bias" : "") + where,
            "soma implicit-GEMM conv2d backward data" + where,
            "soma implicit-GEMM conv2d backward weights (split, deterministic)" + where,
        };
        String[] out = new String[3];
        boolean tf32 = VendorPaths.tf32Enabled();
        for (int i = 0; i < 3; i++) {
            String algo = refusal == null ? cudnn().algorithm(passes[i], g, tf32) : null;
            if (refusal == null && (algo == null || !algo.startsWith("refused"))) {
                out[i] = cudnnName(passes[i], g, tf32) + (i == 0 && bias ? " + soma bias" : "");
            } else {
                out[i] = ours[i] + "; not cuDNN: " + (refusal != null ? refusal : "cuDNN " + algo);
            }
        }
        return out;
    }

    /** Why this pooling forward does not go to cuDNN, or null when it does. */
    private static String poolRefusal(Geometry g, DType dtype, boolean recordsWorkspace) {
        String refusal = libraryRefusal();
        return refusal != null ? refusal : VendorPaths.cudnnPoolRefusal(g, dtype, recordsWorkspace);
    }

    @Override
    public long pool2dWorkspaceBytes(PoolKind kind, Geometry g, DType dtype) {
        long[] bytes = new long[1];
        CudaStatus.kernel(CudaKernels.soma_cuda_pool2d_workspace(isMax(kind), g.nativeArray(), bytes),
                "soma_cuda_pool2d_workspace", () -> kind + " " + g);
        return bytes[0];
    }

    @Override
    public void pool2d(PoolKind kind, Geometry g, Tensor x, Tensor out, long workspace) {
        backend.bind();
        String family = (kind == PoolKind.MAX ? "max" : "average") + " pool2d forward";
        String refusal = poolRefusal(g, out.dtype(), workspace != 0);
        if (refusal == null) {
            String failure = cudnn().poolForward(kind, g, x, out);
            if (failure == null) {
                VendorPaths.ran(family, out.dtype() + " " + g, "cuDNN");
                CudaStatus.kernel(0, "cudnnPoolingForward", () -> kind + " pool2d " + out.dtype() + " " + g);
                return;
            }
            refusal = "cuDNN refused: " + failure;
        }
        VendorPaths.ran(family, out.dtype() + " " + g, "soma (not cuDNN: " + refusal + ")");
        int status = CudaKernels.soma_cuda_pool2d(isMax(kind), out.dtype().code(), g.nativeArray(), x.address(),
                out.address(), workspace, backend.stream());
        CudaStatus.kernel(status, "soma_cuda_pool2d", () -> kind + " pool2d " + out.dtype() + " " + g);
    }

    @Override
    public void pool2dBackward(PoolKind kind, Geometry g, Tensor x, Tensor gradOut, long workspace, Tensor gradX) {
        if (kind == PoolKind.MAX && workspace == 0 && x == null) {
            throw new IllegalStateException("maxPool2d backward " + g + ": needs the forward's workspace or its input");
        }
        backend.bind();
        int status = CudaKernels.soma_cuda_pool2d_backward(isMax(kind), gradX.dtype().code(), g.nativeArray(),
                x == null ? 0 : x.address(), workspace, gradOut.address(), gradX.address(), backend.stream());
        CudaStatus.kernel(status, "soma_cuda_pool2d_backward", () -> kind + " pool2d backward " + gradX.dtype() + " " + g);
    }

    @Override
    public String[] pool2dImplementations(PoolKind kind, Geometry g, DType dtype) {
        String where = CudaProbe.result().emulated() ? " (emulated)" : "";
        String name = kind == PoolKind.MAX ? "max" : "average";
        String inference = poolRefusal(g, dtype, false);
        // A max-pool training forward always runs ours (it records the winners our backward reads).
        String when = kind == PoolKind.MAX ? "inference; training: soma, records winners" : "inference and training";
        String forward = inference == null ? "cuDNN " + name + " pool2d forward (" + when + ")"
                : "soma " + name + " pool2d forward" + where + "; not cuDNN: " + inference;
        return new String[] {forward,
            "soma " + name + " pool2d backward (gather" + (kind == PoolKind.MAX ? ", recorded winners" : "") + ")" + where};
    }
}
