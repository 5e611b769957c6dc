package dev.soma.backend.dnnl;

import dev.soma.jni.CpuKernels;
import dev.soma.memory.CachingPool;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The float32 to bfloat16 conversion that feeds the bf16 products (native/src/bf16.cpp), bit for bit against the
 * rounding the Intel SDM gives for {@code vcvtneps2bf16}, written out here in Java: its vector path (where the CPU
 * has AVX512_BF16), its plain loop (on every CPU), at every length around the vector widths, from unaligned
 * addresses, and over a run long enough for the OpenMP team to split it.
 */
@ExtendWith(NoLeaks.class)
class Bf16ConversionTest {
    /** vcvtneps2bf16 on one value's bits, as the SDM's pseudocode states it. */
    static int reference(int x) {
        int exponent = x & 0x7f800000;
        if (exponent == 0) return (x >>> 16) & 0x8000; // zero or denormal: a zero of the same sign
        if (exponent == 0x7f800000) { // infinity keeps its bits; a NaN is truncated and made quiet
            int top = x >>> 16;
            return (x & 0x007fffff) != 0 ? top | 0x0040 : top;
        }
        return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff; // nearest even; a carry may reach infinity
    }

    /** Values whose rounding is easy to get wrong, each with its expected bf16 bits. */
    private static final int[][] EDGES = {
        {0x00000000, 0x0000}, {0x80000000, 0x8000},               // zeros
        {0x00000001, 0x0000}, {0x807fffff, 0x8000},               // denormals flush to a signed zero
        {0x00800000, 0x0080},                                      // the smallest normal number stays
        {0x3f800000, 0x3f80},                                      // 1
        {0x3f808000, 0x3f80}, {0x3f818000, 0x3f82},               // halfway: to the even neighbour, down and up
        {0x3f808001, 0x3f81}, {0x3f807fff, 0x3f80},               // just above and below halfway
        {0x7f7fffff, 0x7f80}, {0xff7fffff, 0xff80},               // the largest floats round to infinity
        {0x7f800000, 0x7f80}, {0xff800000, 0xff80},               // infinities
        {0x7fc00000, 0x7fc0}, {0x7f800001, 0x7fc0}, {0xffa5a5a5, 0xffe5}, // NaNs come out quiet, payload truncated
    };

    @Test
    void edgeValuesRoundAsTheInstructionDoes() {
        int[] bits = new int[EDGES.length];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = EDGES[i][0];
            assertEquals(EDGES[i][1], reference(bits[i]), "the test's own reference at 0x" + Integer.toHexString(bits[i]));
        }
        for (boolean vector : paths()) {
            int[] got = convert(bits, 0, bits.length, vector);
            for (int i = 0; i < bits.length; i++) {
                assertEquals(EDGES[i][1], got[i], path(vector) + ": bf16 of 0x" + Integer.toHexString(bits[i]));
            }
        }
    }

    @Test
    void everyLengthAndOffsetMatchesTheReference() {
        SplittableRandom r = new SplittableRandom(16);
        int[] bits = new int[200];
        for (int i = 0; i < bits.length; i++) bits[i] = r.nextInt(); // every class of value: NaNs, denormals, ...
        for (boolean vector : paths()) {
            for (int offset = 0; offset < 3; offset++) {
                for (int n = 0; n <= 100; n++) {
                    int[] got = convert(bits, offset, n, vector);
                    for (int i = 0; i < n; i++) {
                        int x = bits[offset + i];
                        assertEquals(reference(x), got[i], path(vector) + ", offset " + offset + ", length " + n
                                + ", element " + i + " (0x" + Integer.toHexString(x) + ")");
                    }
                }
            }
        }
    }

    @Test
    void aLongRunSplitOverThreadsMatchesTheReference() {
        SplittableRandom r = new SplittableRandom(3);
        int n = 1_000_003; // far above the one-thread grain, not a multiple of any vector width
        int[] bits = new int[n + 1];
        for (int i = 0; i < bits.length; i++) {
            // mostly ordinary activations, with every other class of value among them
            bits[i] = i % 7 == 0 ? r.nextInt() : Float.floatToRawIntBits((float) r.nextGaussian());
        }
        for (int offset = 0; offset < 2; offset++) {
            int[] got = convert(bits, offset, n, true);
            for (int i = 0; i < n; i++) {
                if (got[i] != reference(bits[offset + i])) {
                    fail("offset " + offset + ", element " + i + " of " + n + " (0x" + Integer.toHexString(bits[offset + i])
                            + "): got 0x" + Integer.toHexString(got[i]) + ", expected 0x" + Integer.toHexString(reference(bits[offset + i])));
                }
            }
        }
    }

    @Test
    void convertCountsTheElementsItRoundsAndReturnsAPoolBlock() {
        try (Scope s = Scope.open()) {
            Tensor src = Tensor.of(new float[] {1f, 1.00390625f, -2.5f, 3e38f, 1e-40f}, 5);
            CachingPool pool = src.backend().pool();
            long before = Bf16Conversion.convertedElementsOnThisThread();
            CachingPool.Block block = Bf16Conversion.convert(pool, src.address(), 5);
            try {
                assertEquals(5, Bf16Conversion.convertedElementsOnThisThread() - before);
                Tensor words = Tensor.zeros(DType.I32, src.device(), 3);
                CpuKernels.soma_cpu_copy(words.address(), block.address(), 10);
                int[] w = words.toIntArray();
                int[] got = {w[0] & 0xffff, w[0] >>> 16, w[1] & 0xffff, w[1] >>> 16, w[2] & 0xffff};
                assertArrayEquals(new int[] {0x3f80, 0x3f80, 0xc020, 0x7f62, 0x0000}, got);
            } finally {
                pool.release(block);
            }
        }
    }

    /** The vector path where the CPU has it, and the plain loop always. */
    private static boolean[] paths() {
        return Bf16Conversion.vectorized() ? new boolean[] {true, false} : new boolean[] {false};
    }

    private static String path(boolean vector) {
        return vector ? "AVX512_BF16 path" : "plain loop";
    }

    /**
     * bf16 bits of {@code n} float32 values, given by their bits from {@code bits[offset]} on (so the source is 4-byte
     * but not 64-byte aligned when offset is odd): {@code vector} runs the exported conversion (the vector path where
     * the CPU has it, split over threads), else the plain loop.
     */
    private static int[] convert(int[] bits, int offset, int n, boolean vector) {
        try (Scope s = Scope.open()) {
            Tensor src = Tensor.ofInts(bits, bits.length);
            Tensor dst = Tensor.zeros(DType.I32, src.device(), n / 2 + 1);
            long from = src.address() + 4L * offset;
            if (vector) CpuKernels.soma_cpu_f32_to_bf16(from, dst.address(), n);
            else CpuKernels.soma_cpu_f32_to_bf16_plain(from, dst.address(), n);
            int[] words = dst.toIntArray();
            int[] out = new int[n];
            for (int i = 0; i < n; i++) out[i] = (words[i / 2] >>> (16 * (i % 2))) & 0xffff; // little-endian halves
            return out;
        }
    }
}
