package dev.soma.backend;

import dev.soma.tensor.Precision;
import dev.soma.util.CpuInfo;

import static org.bytedeco.dnnl.global.dnnl.dnnl_cpu_isa_avx512_core_bf16;
import static org.bytedeco.dnnl.global.dnnl.dnnl_get_effective_cpu_isa;

/**
 * The precision policy of the calling thread (an autocast scope, as PyTorch's {@code torch.autocast}): inside
 * {@code try (var s = MixedPrecision.use(Precision.BF16)) { ... }} the CPU's float32 convolutions (all three
 * passes, for convolutions with at least {@link #MIN_CONV_CHANNELS} input and output channels) and matrix products
 * round their inputs to bfloat16 and run oneDNN's bf16 kernels, writing float32 results; every other op, and
 * float64, is unchanged. Tensors, parameters and gradients stay float32.
 * {@link dev.soma.model.FitOptions#precision} opens this scope around a fit; {@code bench train-step} around its steps.
 *
 * <p>A thread-local, not a global: a training loop runs its forward and backward on one thread, and a
 * scope must not change what other threads (an evaluation, a server) compute. Other devices ignore it; fit
 * refuses bf16 off the CPU.
 */
public final class MixedPrecision {
    private static final ThreadLocal<Precision> CURRENT = ThreadLocal.withInitial(() -> Precision.F32);
    private static volatile String unsupported;
    private static volatile boolean checked;

    private MixedPrecision() {}

    /** An open policy scope; closing it restores the previous policy. */
    public static final class Scope implements AutoCloseable {
        private final Precision previous;
        private boolean closed;

        private Scope(Precision previous) {
            this.previous = previous;
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            CURRENT.set(previous);
        }
    }

    /**
     * Makes {@code precision} the calling thread's policy until the scope closes. BF16 on a CPU without bf16
     * dot-product instructions throws an UnsupportedOperationException that says why (oneDNN would run it on
     * slow emulation); see {@link #bf16UnsupportedReason()} to ask first.
     */
    public static Scope use(Precision precision) {
        if (precision == null) throw new IllegalArgumentException("MixedPrecision.use: precision is null");
        if (precision == Precision.BF16) {
            String why = bf16UnsupportedReason();
            if (why != null) throw new UnsupportedOperationException("bf16 mixed precision: " + why);
        }
        Precision previous = CURRENT.get();
        CURRENT.set(precision);
        return new Scope(previous);
    }

    /** The calling thread's policy. */
    public static Precision current() {
        return CURRENT.get();
    }

    /** Whether the calling thread's float32 convolutions and products run in bf16 now. */
    static boolean bf16() {
        return CURRENT.get() == Precision.BF16;
    }

    /**
     * The fewest input and output channels a convolution needs for its passes to run in bf16
     * ({@code -Dsoma.bf16.minConvChannels}, default 16). bf16 dot products reduce over pairs of input channels (AMX
     * over 32), so a thin convolution pads its reduction and spends its time on conversions and reorders: on the
     * Zen 5 host, forward and backward-weights of a 3x3 convolution at batch 32 on 28x28 to 32 channels took with 1,
     * 3, 4 and 8 input channels 1.50, 1.63, 1.29 and 1.11 times their f32 time in bf16, and with 16 channels 0.83
     * times. The reference CNN's first layer (1 channel) is such a convolution.
     */
    static final long MIN_CONV_CHANNELS = Long.getLong("soma.bf16.minConvChannels", 16);

    /**
     * Whether a float32 convolution with these channels runs its passes in bf16 now: in a bf16 scope, when both
     * counts reach {@link #MIN_CONV_CHANNELS} (the output channels are the backward-data pass's reduction, and a
     * transposed convolution's forward). Otherwise it stays f32, as every op outside the bf16 list does.
     */
    public static boolean bf16Convolution(long inputChannels, long outputChannels) {
        return bf16() && Math.min(inputChannels, outputChannels) >= MIN_CONV_CHANNELS;
    }

    /**
     * Null when this CPU runs oneDNN's bf16 kernels natively (the AVX512_BF16 or AMX-BF16 flag, and oneDNN's
     * effective ISA includes avx512_core_bf16, which ONEDNN_MAX_CPU_ISA can lower); otherwise one sentence why not.
     */
    public static String bf16UnsupportedReason() {
        if (!checked) {
            unsupported = reason(CpuInfo.host(), effectiveIsaHasBf16());
            checked = true;
        }
        return unsupported;
    }

    /** The decision of {@link #bf16UnsupportedReason()} for a given CPU (tests pass CPUs other than the host). */
    static String reason(CpuInfo cpu, boolean onednnBf16) {
        if (!cpu.hasBf16()) {
            return "not supported on this CPU (" + cpu.model() + ", " + cpu.isa() + "): it has neither the avx512_bf16 "
                    + "nor the amx_bf16 feature flag";
        }
        if (!onednnBf16) {
            return "oneDNN's effective ISA on this CPU (" + cpu.model() + ") excludes avx512_core_bf16 "
                    + "(ONEDNN_MAX_CPU_ISA set lower?)";
        }
        return null;
    }

    private static boolean effectiveIsaHasBf16() {
        dev.soma.backend.dnnl.Dnnl.engine(); // loads the library
        int isa = dnnl_get_effective_cpu_isa();
        return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    }
}
