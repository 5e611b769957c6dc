/*
 * oneDNN's own LSTM primitive (forward training and backward, f32, zero initial states, weights in the layouts
 * oneDNN picks) on the peers' lstm layer, timed like RecurrentBench times our fused kernels, so the two can be
 * compared in one session. Weight reorders that a real integration would add (tiny at this size) are not timed.
 *
 *   OMP_NUM_THREADS=2 java -cp "$CP" dev.soma.bench.DnnlLstmBench [--reps 50] [--t 100 --n 32 --f 64 --h 128]
 */
package dev.soma.bench;

import dev.soma.backend.Backends;
import dev.soma.backend.dnnl.Dnnl;
import dev.soma.backend.dnnl.DnnlPrimitive;
import dev.soma.backend.dnnl.MemoryDescs;
import dev.soma.backend.dnnl.NativeHandles;
import dev.soma.memory.CachingPool;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import org.bytedeco.dnnl.dnnl_memory_desc;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import java.util.Arrays;
import java.util.Locale;

import static org.bytedeco.dnnl.global.dnnl.*;

public final class DnnlLstmBench {
    private DnnlLstmBench() {}

    public static void main(String[] args) {
        LstmBenchArgs a = LstmBenchArgs.parse(args);
        int reps = a.reps(), t = a.t(), n = a.n(), f = a.f(), h = a.h();
        int dt = dnnl_f32;
        String what = "lstm bench";
        int[] fwdArgs = {DNNL_ARG_SRC_LAYER, DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_BIAS,
                DNNL_ARG_DST_LAYER, DNNL_ARG_WORKSPACE};
        int[] bwdArgs = {DNNL_ARG_SRC_LAYER, DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_BIAS,
                DNNL_ARG_DST_LAYER, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_DST_LAYER, DNNL_ARG_DIFF_SRC_LAYER,
                DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS};
        DnnlPrimitive fwd;
        DnnlPrimitive bwd;
        synchronized (Dnnl.lock()) {
            try (NativeHandles hs = new NativeHandles()) {
                dnnl_memory_desc src = MemoryDescs.tagged(hs, dt, new long[] {t, n, f}, dnnl_ntc, what);
                dnnl_memory_desc wl = MemoryDescs.any(hs, dt, new long[] {1, 1, f, 4, h}, what);
                dnnl_memory_desc wi = MemoryDescs.any(hs, dt, new long[] {1, 1, h, 4, h}, what);
                dnnl_memory_desc bias = MemoryDescs.tagged(hs, dt, new long[] {1, 1, 4, h}, dnnl_ldgo, what);
                dnnl_memory_desc dst = MemoryDescs.tagged(hs, dt, new long[] {t, n, h}, dnnl_ntc, what);
                dnnl_primitive_desc fpd = new dnnl_primitive_desc();
                Dnnl.check(dnnl_lstm_forward_primitive_desc_create(fpd, Dnnl.engine(), dnnl_forward_training,
                        dnnl_unidirectional_left2right, src, null, null, wl, wi, null, null, bias, dst, null, null,
                        dnnl_rnn_flags_undef, Dnnl.userScratchpad()), () -> what + ": forward descriptor");
                dnnl_primitive_desc bpd = new dnnl_primitive_desc();
                Dnnl.check(dnnl_lstm_backward_primitive_desc_create(bpd, Dnnl.engine(), dnnl_backward,
                        dnnl_unidirectional_left2right, src, null, null, wl, wi, null, null, bias, dst, null, null,
                        src, null, null, wl, wi, null, null, bias, dst, null, null, dnnl_rnn_flags_undef, fpd,
                        Dnnl.userScratchpad()), () -> what + ": backward descriptor");
                fwd = DnnlPrimitive.create("lstm forward", fpd, fwdArgs);
                bwd = DnnlPrimitive.create("lstm backward", bpd, bwdArgs);
            }
        }
        System.out.println("oneDNN picked: forward " + fwd.implementation() + ", backward " + bwd.implementation());
        CachingPool pool = Backends.cpu().pool();
        double[] fms = new double[reps];
        double[] bms = new double[reps];
        try (Scope s = Scope.open()) {
            long[] fa = buffers(fwd, fwdArgs);
            long[] ba = buffers(bwd, bwdArgs);
            ba[5] = fa[5];  // the backward reads the forward's workspace
            for (int r = -10; r < reps; r++) {
                long t0 = System.nanoTime();
                fwd.execute(pool, fa);
                long t1 = System.nanoTime();
                bwd.execute(pool, ba);
                long t2 = System.nanoTime();
                if (r >= 0) {
                    fms[r] = (t1 - t0) / 1e6;
                    bms[r] = (t2 - t1) / 1e6;
                }
            }
        } finally {
            fwd.close();
            bwd.close();
        }
        Arrays.sort(fms);
        Arrays.sort(bms);
        System.out.printf(Locale.ROOT, "oneDNN %s: forward median %.2f ms (min %.2f), backward median %.2f ms (min %.2f)%n",
                a.describe(), fms[reps / 2], fms[0], bms[reps / 2], bms[0]);
    }

    /** A zeroed buffer per argument, as large as the primitive's layout for it needs; their addresses. */
    private static long[] buffers(DnnlPrimitive p, int[] args) {
        long[] out = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            long bytes = MemoryDescs.bytes(p.argDesc(args[i]));
            out[i] = Tensor.zeros(DType.F32, Device.cpu(), Math.max(1, (bytes + 3) / 4)).address();
        }
        return out;
    }
}
