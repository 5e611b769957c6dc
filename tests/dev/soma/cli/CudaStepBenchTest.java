package dev.soma.cli;

import dev.soma.backend.CudaProbe;
import dev.soma.backend.KernelProfiler;
import dev.soma.data.ArrayDataset;
import dev.soma.data.Batch;
import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.UsableGpu;
import dev.soma.zoo.ReferenceModels;
import dev.soma.zoo.TransformerModels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * One training step of each family on cuda:0 at batch 32, the models of {@code bench train-step} (and of
 * bench/gpu/pytorch_steps.py, which times PyTorch eager on the same host): {@code STEP family median-ms} lines for
 * bench/gpu/check.sh. Real GPUs only.
 */
@Tag("gpu")
class CudaStepBenchTest {
    private static final Device GPU = Device.cuda(0);
    /**
     * Steady steps, for Soma and PyTorch alike (pytorch_steps.py uses the same counts): after 20 warm-up steps the
     * JVM was still compiling, and the H200's CNN step measured 2.09 ms where the same step after 200 was 1.27 ms.
     */
    private static final int BATCH = 32, WARMUP = 500, STEPS = 300;

    @Test
    void familySteps() {
        CudaProbe.Result r = UsableGpu.required();
        assumeFalse(r.emulated(), "timings of the emulated device mean nothing; runs on a real GPU");
        SplittableRandom random = new SplittableRandom(1);
        step("cnn", ReferenceModels.imageClassifier("cnn", 10), images(random, new long[] {28, 28, 1}, false));
        step("lstm", ReferenceModels.sequenceTagger(10_000, 10), tokens(random, 100, 10_000));
        step("attn", TransformerModels.attnBench(), images(random, new long[] {100, 64}, true));
        report("gan", time(out -> GanBench.run(out, BATCH, WARMUP, STEPS, null, GPU)));
        report("dcgan", time(out -> {
            try (Sequential g = ReferenceModels.dcganGenerator(); Sequential d = ReferenceModels.dcganDiscriminator();
                 GanTrainer gan = new GanTrainer(g.seed(1), new Adam(2e-4), d.seed(2), new Adam(2e-4), 100).seed(3).to(GPU);
                 Scope scope = Scope.open()) {
                Tensor real = Tensor.randn(4, BATCH, 28, 28, 1).tanh().to(GPU);
                int status = StepTimer.run(out, "dcgan", BATCH, WARMUP, STEPS, null, () -> gan.trainStep(real));
                profile("dcgan", () -> gan.trainStep(real));
                return status;
            }
        }));
        if (KernelProfiler.installed()) uploadBreakdown();
        if (KernelProfiler.installed()) {
            // cuDNN's own timing of every algorithm for the convolutions these steps ran: what a search would gain.
            var backend = (dev.soma.backend.cuda.CudaBackend) dev.soma.backend.Backends.get(GPU);
            for (String line : backend.cudnnConvolutionAlgorithmTimings()) System.out.println("ALGO " + line);
        }
    }

    private void step(String name, Sequential model, Batch batch) {
        long[] shape = java.util.Arrays.copyOfRange(batch.xShape(), 1, batch.xShape().length);
        report(name, time(out -> {
            try (model) {
                model.seed(1).to(GPU).compile(new Adam(1e-3), "sparse_categorical_crossentropy");
                model.build(shape);
                int status = StepTimer.run(out, name, BATCH, WARMUP, STEPS, null, () -> model.trainStep(batch));
                profile(name, () -> model.trainStep(batch));
                return status;
            }
        }));
    }

    /**
     * With -Dsoma.profile=true (bench/gpu/check.sh's profiled run): 20 more steps with every kernel call timed,
     * printed as {@code PROFILE family kernel calls-per-step ms-per-step share} lines, largest first, and one line
     * for the step's wall time with every call waited for.
     */
    private static void profile(String family, Runnable step) {
        if (!KernelProfiler.installed()) return;
        int steps = 20;
        var backend = (dev.soma.backend.cuda.CudaBackend) dev.soma.backend.Backends.get(GPU);
        long deviceAllocs = backend.pool().stats().nativeAllocations();
        long pinnedAllocs = backend.pinnedStats().nativeAllocations();
        KernelProfiler.start();
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) step.run();
        double wallMs = (System.nanoTime() - t0) / 1e6 / steps;
        List<KernelProfiler.Entry> entries = KernelProfiler.stop();
        double kernelMs = entries.stream().mapToLong(KernelProfiler.Entry::nanos).sum() / 1e6 / steps;
        System.out.println(String.format(Locale.ROOT, "PROFILE %-6s %-34s %7s %9.3f ms  kernels %.3f ms (%.0f%%)",
                family, "step (every call waited for)", "", wallMs, kernelMs, 100 * kernelMs / wallMs));
        long stream = backend.currentStream();
        long w0 = System.nanoTime();
        for (int i = 0; i < 200; i++) {
            dev.soma.jni.CudaKernels.soma_cuda_stream_synchronize(stream);
            dev.soma.jni.CudaKernels.soma_cuda_stream_synchronize(stream);
        }
        System.out.println(String.format(Locale.ROOT, "PROFILE %-6s each timed call includes ~%.4f ms of waiting on an idle "
                + "stream (two waits)", family, (System.nanoTime() - w0) / 1e6 / 200));
        System.out.println(String.format(Locale.ROOT, "PROFILE %-6s native allocations in %d steps: device %d, pinned host %d",
                family, steps, backend.pool().stats().nativeAllocations() - deviceAllocs,
                backend.pinnedStats().nativeAllocations() - pinnedAllocs));
        for (KernelProfiler.Entry e : entries.subList(0, Math.min(15, entries.size()))) {
            double ms = e.nanos() / 1e6 / steps;
            System.out.println(String.format(Locale.ROOT, "PROFILE %-6s %-34s %7.1f %9.3f ms  %5.1f%%", family,
                    e.name(), e.calls() / (double) steps, ms, 100 * ms / wallMs));
        }
    }

    /**
     * Where a batch upload's time goes (the attention step's 819 KB input): the whole memory().write, the host copy
     * of the Java array into native memory alone, and the device copy from pinned memory alone.
     */
    private static void uploadBreakdown() {
        float[] x = new float[BATCH * 100 * 64];
        long bytes = 4L * x.length;
        int reps = 200;
        var backend = dev.soma.backend.Backends.get(GPU);
        long stream = backend.currentStream();
        long[] pinned = new long[1], device = new long[1];
        assertEquals(0, dev.soma.jni.CudaKernels.soma_cuda_host_alloc(bytes, pinned));
        assertEquals(0, dev.soma.jni.CudaKernels.soma_cuda_malloc(bytes, device));
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.empty(dev.soma.tensor.DType.F32, GPU, BATCH, 100, 64);
            double write = msPer(reps, () -> backend.memory().write(t, x), stream);
            double host = msPer(reps, () -> dev.soma.jni.CpuKernels.copyFromFloats(pinned[0], x, bytes), stream);
            double h2d = msPer(reps, () -> dev.soma.jni.CudaKernels.soma_cuda_memcpy_async(device[0], pinned[0], bytes,
                    dev.soma.jni.CudaKernels.HOST_TO_DEVICE, stream), stream);
            System.out.println(String.format(Locale.ROOT, "PROFILE upload %d KB: memory().write %.4f ms, host copy into "
                    + "pinned %.4f ms, pinned-to-device copy %.4f ms (each waited for)", bytes / 1024, write, host, h2d));
        } finally {
            dev.soma.jni.CudaKernels.soma_cuda_host_free(pinned[0]);
            dev.soma.jni.CudaKernels.soma_cuda_free(device[0]);
        }
    }

    private static double msPer(int reps, Runnable r, long stream) {
        for (int i = 0; i < 10; i++) r.run();
        dev.soma.jni.CudaKernels.soma_cuda_stream_synchronize(stream);
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) {
            r.run();
            dev.soma.jni.CudaKernels.soma_cuda_stream_synchronize(stream);
        }
        return (System.nanoTime() - t0) / 1e6 / reps;
    }

    private interface Timed {
        int run(PrintWriter out);
    }

    private static double time(Timed timed) {
        StringWriter text = new StringWriter();
        assertEquals(0, timed.run(new PrintWriter(text, true)));
        Matcher m = Pattern.compile("median_ms=([0-9.]+)").matcher(text.toString());
        assertTrue(m.find(), text.toString());
        return Double.parseDouble(m.group(1));
    }

    private static void report(String family, double medianMs) {
        System.out.println(String.format(Locale.ROOT, "STEP %-6s %9.3f ms", family, medianMs));
    }

    private static Batch images(SplittableRandom r, long[] shape, boolean normal) {
        int per = (int) dev.soma.ops.Shapes.numel(shape);
        float[] x = new float[BATCH * per];
        for (int i = 0; i < x.length; i++) x[i] = (float) (normal ? r.nextGaussian() : r.nextDouble());
        int[] y = new int[BATCH];
        for (int i = 0; i < BATCH; i++) y[i] = r.nextInt(10);
        return ArrayDataset.withLabels(x, shape, y).gather(IntStream.range(0, BATCH).toArray());
    }

    private static Batch tokens(SplittableRandom r, int length, int vocabulary) {
        float[] x = new float[BATCH * length];
        for (int i = 0; i < x.length; i++) x[i] = r.nextInt(vocabulary);
        int[] y = new int[BATCH * length];
        for (int i = 0; i < y.length; i++) y[i] = r.nextInt(10);
        return new Batch(x, new long[] {BATCH, length}, y, null, new long[] {BATCH, length});
    }
}
