package dev.soma.backend;

import dev.soma.jni.CpuKernels;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * A float32 recurrent layer's whole sequence in one native call (native/src/rnn_sequence.cpp): an OpenMP thread
 * takes a block of the batch's rows and runs every step for it, recurrent products included, then the next block,
 * so the threads join once per pass instead of twice per step. The step loop in {@link CpuRecurrent} (one oneDNN product and one kernel per
 * step) stays for float64 and with {@code -Dsoma.rnn.sequenceLoop=false}. Each row is computed the same way on any
 * thread: the same bits for any thread count.
 */
final class RecurrentSequence {
    private static volatile boolean enabled = !"false".equals(System.getProperty("soma.rnn.sequenceLoop"));

    // Indices of soma_rnn_seq_arg (native/include/soma.h).
    private static final int STEPS = 0, GO_BACKWARDS = 1, FROM_STATE = 2, WANT_DH0 = 3, U = 4, WORKSPACE = 5,
            COUNT = 6;

    private RecurrentSequence() {}

    /** Turns the whole-sequence loop on or off (tests compare it with the step loop). */
    static void enable(boolean on) {
        enabled = on;
    }

    static boolean enabled() {
        return enabled;
    }

    /** Whether the whole-sequence loop runs this layer: float32 with a contiguous recurrent kernel. */
    static boolean applies(Tensor x, Tensor u) {
        return enabled && x.dtype() == DType.F32 && u.dtype() == DType.F32 && u.isContiguous();
    }

    /**
     * The forward over all steps; {@code stepArgs} hold the first step's addresses of buffers that hold every step
     * (soma.h, soma_cpu_rnn_sequence_forward).
     */
    static void forward(RecurrentKernels.Spec s, long[] stepArgs, Tensor u, boolean fromState, Tensor like) {
        run(false, s, stepArgs, u, fromState, false, like);
    }

    /** The backward over all steps, leaving dh_mm = dz_0 U^T when {@code wantDh0}. */
    static void backward(RecurrentKernels.Spec s, long[] stepArgs, Tensor u, boolean wantDh0, Tensor like) {
        run(true, s, stepArgs, u, false, wantDh0, like);
    }

    private static void run(boolean backward, RecurrentKernels.Spec s, long[] stepArgs, Tensor u, boolean fromState,
                            boolean wantDh0, Tensor like) {
        long bytes = CpuKernels.soma_cpu_rnn_sequence_workspace_bytes(s.cell().code, s.batch(), s.hidden());
        // the recurrent products of the whole pass decide the threads, as for one large product
        double flops = 2.0 * s.steps() * s.batch() * s.cell().gates * s.hidden() * s.hidden();
        try (Tensor workspace = Tensor.empty(DType.F32, like.device(), bytes / Float.BYTES);
             ComputeThreads.Limit limit = ComputeThreads.atMost(ComputeThreads.forWork(flops))) {
            long[] q = new long[COUNT];
            q[STEPS] = s.steps();
            q[GO_BACKWARDS] = s.goBackwards() ? 1 : 0;
            q[FROM_STATE] = fromState ? 1 : 0;
            q[WANT_DH0] = wantDh0 ? 1 : 0;
            q[U] = u.address();
            q[WORKSPACE] = workspace.address();
            if (backward) CpuKernels.soma_cpu_rnn_sequence_backward(stepArgs, q);
            else CpuKernels.soma_cpu_rnn_sequence_forward(stepArgs, q);
        }
    }
}
