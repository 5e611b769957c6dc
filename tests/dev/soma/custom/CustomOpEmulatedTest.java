package dev.soma.custom;

import dev.soma.backend.CudaProbe;
import dev.soma.errors.NativeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.soma.custom.CustomOpTest.assertMessage;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Custom ops on the emulated CUDA device (EmulatedModules): the module cache (in memory, on disk, under concurrent
 * first use), compile errors with the user's line numbers, and misuse inside a custom kernel surfacing as a Java
 * exception that names the kernel and line (the JVM survives and the next launch runs). Tagged gpu: runs in the
 * gpu-emulated Surefire execution; skips elsewhere (a real GPU has no emulator checks to test).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class CustomOpEmulatedTest {
    private static final Device GPU = Device.cuda(0);
    private final SplittableRandom random = new SplittableRandom();
    private long gpuLiveBefore = -1;

    @BeforeEach
    void needsTheEmulatedDevice() {
        CudaProbe.Result r = CudaProbe.result();
        assumeTrue(r.usable() && r.emulated(), () -> "not on the emulated CUDA device: " + r.reason());
        gpuLiveBefore = dev.soma.backend.Backends.get(GPU).pool().stats().allocatedBytes();
    }

    @AfterEach
    void noGpuLeak() {
        if (gpuLiveBefore < 0) return;
        assertEquals(gpuLiveBefore, dev.soma.backend.Backends.get(GPU).pool().stats().allocatedBytes(),
                "live bytes in the CUDA pool changed (leak)");
    }

    /** y = x * scale, with a tag in a comment that makes the source (and its cache key) unique. */
    private static CustomOp scaleOp(String name, String tag) {
        String source = "// " + tag + "\n"
                + "extern \"C\" __global__ void scale(const float* x, float* y, long long n, float s) {\n"
                + "    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;\n"
                + "    if (i < n) y[i] = x[i] * s;\n"
                + "}\n";
        return CustomOp.builder(name).arity(1).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                .cpu((CpuKernel.Host) (in, out) -> {
                    for (int i = 0; i < in[0].length(); i++) out[0].set(i, 3 * in[0].get(i));
                })
                .cuda(CudaKernel.of(source, "scale", (in, out) -> Launch.linear(in[0].numel(), 128, in[0].numel(), 3.0f)))
                .build();
    }

    private static CustomOp op(String name, String source, List<String> kernels, String kernel, Launch plan) {
        return CustomOp.builder(name).arity(1).output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
                .cpu((CpuKernel.Host) (in, out) -> {})
                .cuda(CudaKernel.of(source, kernels, (in, out) -> kernel, (in, out) -> plan))
                .build();
    }

    private Tensor randomCpu(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) random.nextGaussian();
        return Tensor.of(v, n);
    }

    @Test
    void theSecondUseOfASourceDoesNotCompileAndAnotherSourceDoes() throws Exception {
        String tag = "cache-" + random.nextLong();
        try (Scope s = Scope.open()) {
            Tensor x = randomCpu(1000);
            int before = EmulatedModules.compilations();
            Backends.Comparison c = Backends.compare(scaleOp("scale_a", tag), x);
            assertTrue(c.within(1e-6), c::toString);
            assertEquals(before + 1, EmulatedModules.compilations(), "the first use compiles");

            assertTrue(Backends.compare(scaleOp("scale_b", tag), x).within(1e-6));
            assertEquals(before + 1, EmulatedModules.compilations(), "the same source (another op) is not compiled again");

            assertTrue(Backends.compare(scaleOp("scale_c", tag + "-other"), x).within(1e-6));
            assertEquals(before + 2, EmulatedModules.compilations(), "a different source compiles");

            // As a second JVM would: nothing loaded, the library is on disk.
            EmulatedModules.forgetLoaded();
            int disk = EmulatedModules.diskLoads();
            assertTrue(Backends.compare(scaleOp("scale_d", tag), x).within(1e-6));
            assertEquals(before + 2, EmulatedModules.compilations(), "the disk cache serves a new process");
            assertEquals(disk + 1, EmulatedModules.diskLoads());
            try (var dirs = Files.list(EmulatedModules.cacheRoot())) {
                assertTrue(dirs.anyMatch(d -> Files.isRegularFile(d.resolve("module.so"))), "no module.so under "
                        + EmulatedModules.cacheRoot());
            }
        }
    }

    @Test
    void concurrentFirstUsesCompileOnce() throws Exception {
        String tag = "concurrent-" + random.nextLong();
        int before = EmulatedModules.compilations();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Double>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int seed = t;
                results.add(pool.submit(() -> {
                    try (Scope s = Scope.open()) {
                        float[] v = new float[300 + seed];
                        for (int i = 0; i < v.length; i++) v[i] = i * 0.5f - seed;
                        return Backends.compare(scaleOp("scale_t" + seed, tag), Tensor.of(v, v.length)).maxRelativeError();
                    }
                }));
            }
            for (Future<Double> f : results) assertTrue(f.get() <= 1e-6, "relative error " + f.get());
        } finally {
            pool.shutdown();
        }
        assertEquals(before + 1, EmulatedModules.compilations());
    }

    @Test
    void compileErrorsNameTheUsersLine() {
        String source = "// a comment\n"
                + "extern \"C\" __global__ void broken(const float* x, float* y, long long n) {\n"
                + "    y[0] = undefined_name;\n"
                + "}\n";
        CustomOp broken = op("broken_emu", source, List.of("broken"), "broken", Launch.linear(4, 32, 4L));
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, GPU, 4);
            CudaCompileException e = assertThrows(CudaCompileException.class, () -> broken.apply(x));
            assertTrue(e.log().contains("broken_emu.cu:3:"), e.log());
            assertTrue(e.log().contains("undefined_name"), e.log());
            assertMessage(e, "broken_emu", "host compiler", "emulated");

            // A declared kernel the source does not define is named as such.
            String fine = "extern \"C\" __global__ void present(const float* x, float* y, long long n) {}\n";
            CustomOp missing = op("missing_kernel", fine, List.of("present", "absent"), "present", Launch.linear(4, 32, 4L));
            CudaCompileException m = assertThrows(CudaCompileException.class, () -> missing.apply(x));
            assertTrue(m.log().contains("declared kernel absent"), m.log());
        }
    }

    @Test
    void aBarrierInDivergentCodeIsAnExceptionNamingTheKernelAndLine() {
        String source = "extern \"C\" __global__ void early_exit(const float* x, float* y, long long n) {\n"
                + "    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;\n"
                + "    if (threadIdx.x >= 32) return;\n"
                + "    __syncthreads();\n"
                + "    if (i < n) y[i] = x[i];\n"
                + "}\n";
        CustomOp misuse = op("divergent_barrier", source, List.of("early_exit"), "early_exit", Launch.linear(256, 64, 256L));
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, GPU, 256);
            NativeException e = assertThrows(NativeException.class, () -> misuse.apply(x));
            assertMessage(e, "divergent_barrier", "early_exit", "divergent_barrier.cu:4", "barrier reached by part of a block",
                    "emulated", "CustomOpEmulatedTest.java");
        }
        // The device is still usable.
        try (Scope s = Scope.open()) {
            assertTrue(Backends.compare(scaleOp("after_misuse", "after-" + random.nextLong()), randomCpu(100)).within(1e-6));
        }
    }

    @Test
    void shuffleMasksAssertsAndArgumentTypesAreCheckedToo() {
        String source = "extern \"C\" __global__ void bad_mask(const float* x, float* y, long long n) {\n"
                + "    float v = x[threadIdx.x];\n"
                + "    v += __shfl_xor_sync(0x0000ffffu, v, 1);\n"   // lanes 16..31 are not in the mask
                + "    y[threadIdx.x] = v;\n"
                + "}\n"
                + "extern \"C\" __global__ void checked(const float* x, float* y, long long n) {\n"
                + "    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;\n"
                + "    assert(i < n);\n"
                + "    y[i] = x[i];\n"
                + "}\n";
        List<String> kernels = List.of("bad_mask", "checked");
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(DType.F32, GPU, 32);
            NativeException mask = assertThrows(NativeException.class,
                    () -> op("mask_op", source, kernels, "bad_mask", Launch.linear(32, 32, 32L)).apply(x));
            assertMessage(mask, "bad_mask", "mask_op.cu:3", "excludes the calling lane");

            NativeException failed = assertThrows(NativeException.class,   // 64 threads over 32 elements
                    () -> op("assert_op", source, kernels, "checked", new Launch(new int[] {1}, new int[] {64}, 0,
                            new Object[] {32L})).apply(x));
            // The module is mask_op's (the same source), yet the message names this op's file.
            assertMessage(failed, "checked", "assert_op.cu:8", "assertion failed: i < n");

            NativeException args = assertThrows(NativeException.class,    // n passed as an int, the kernel takes long long
                    () -> op("args_op", source, kernels, "checked", Launch.linear(32, 32, 32)).apply(x));
            assertMessage(args, "args_op", "checked", "takes (pointer, pointer, 64-bit integer)",
                    "passes (pointer, pointer, 32-bit integer)");
        }
    }

    @Test
    void dynamicSharedMemoryAbove48KiBIsOptedInAndAboveTheLimitRefused() {
        // Each of 64 threads writes its own 1 KiB of a 64 KiB buffer, then reads its neighbour's after the barrier.
        String source = "extern \"C\" __global__ void big_shared(const float* x, float* y, long long n) {\n"
                + "    extern __shared__ float buf[];\n"
                + "    for (int j = 0; j < 256; j++) buf[threadIdx.x * 256 + j] = x[threadIdx.x] + j;\n"
                + "    __syncthreads();\n"
                + "    int other = (threadIdx.x + 1) % blockDim.x;\n"
                + "    y[threadIdx.x] = buf[other * 256 + 255];\n"
                + "}\n";
        try (Scope s = Scope.open()) {
            float[] v = new float[64];
            for (int i = 0; i < v.length; i++) v[i] = i;
            Tensor x = Tensor.empty(DType.F32, GPU, 64);
            x.backend().memory().write(x, v);
            Tensor y = op("big_shared", source, List.of("big_shared"), "big_shared",
                    new Launch(new int[] {1}, new int[] {64}, 64 * 1024, new Object[] {64L})).apply(x);
            float[] got = y.toFloatArray();
            for (int i = 0; i < 64; i++) assertEquals((i + 1) % 64 + 255, got[i], 0, "element " + i);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> op("too_big", source,
                    List.of("big_shared"), "big_shared", new Launch(new int[] {1}, new int[] {64}, 228 * 1024,
                            new Object[] {64L})).apply(x));
            assertMessage(e, "too_big", "big_shared", "232448");
        }
    }
}
