package dev.soma.distributed;

import dev.soma.jni.MpiKernels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The MPI shim's small all-reduce (recursive doubling on point-to-point messages, native/mpi/recursive_doubling.h)
 * for world sizes that CI cannot start: every rank's plan, read from the shim (no MPI needed), is run here with a
 * mailbox per (sender, receiver, tag), as MPI would match them. Every message must be received, no rank may wait
 * forever, and every rank must end with the same bits, the exact sum where the sum is exact.
 */
class RecursiveDoublingPlanTest {
    private static final int MAX_STEPS = 64;

    @BeforeAll
    static void load() {
        MpiKernels.load();
    }

    private static int[][] plans(int size) {
        int[][] plans = new int[size][];
        for (int r = 0; r < size; r++) {
            int[] steps = new int[5 * MAX_STEPS];
            int n = MpiKernels.soma_mpi_recursive_doubling_plan(r, size, steps, MAX_STEPS);
            assertTrue(n >= 0, "plan of rank " + r + " of " + size);
            plans[r] = java.util.Arrays.copyOf(steps, 5 * n);
        }
        return plans;
    }

    /** Runs the plans on {@code values} (one buffer per rank, summed in place) as MPI would deliver the messages. */
    private static void run(int[][] plans, float[][] values) {
        int size = plans.length;
        Map<String, ArrayDeque<float[]>> mail = new HashMap<>();
        int[] step = new int[size];
        boolean[] sent = new boolean[size];
        int finished = 0;
        while (finished < size) {
            boolean moved = false;
            finished = 0;
            for (int r = 0; r < size; r++) {
                if (step[r] == plans[r].length / 5) {
                    finished++;
                    continue;
                }
                int at = 5 * step[r];
                int sendTo = plans[r][at], sendTag = plans[r][at + 1], from = plans[r][at + 2], recvTag = plans[r][at + 3];
                boolean add = plans[r][at + 4] == 1;
                if (sendTo >= 0 && !sent[r]) {
                    mail.computeIfAbsent(sendTo + "<" + r + "#" + sendTag, k -> new ArrayDeque<>()).add(values[r].clone());
                    sent[r] = true;
                    moved = true;
                }
                if (from >= 0) {
                    ArrayDeque<float[]> box = mail.get(r + "<" + from + "#" + recvTag);
                    if (box == null || box.isEmpty()) continue;
                    float[] got = box.poll();
                    for (int i = 0; i < got.length; i++) values[r][i] = add ? values[r][i] + got[i] : got[i];
                }
                step[r]++;
                sent[r] = false;
                moved = true;
            }
            if (!moved && finished < size) fail(size + " ranks: no rank can move on (a message that never comes)");
        }
        mail.forEach((box, q) -> assertTrue(q.isEmpty(), size + " ranks: message " + box + " never received"));
    }

    @Test
    void everyWorldSizeEndsWithTheSameBitsOnEveryRankAndTheExactSum() {
        int[] sizes = new int[80];
        for (int i = 0; i < 70; i++) sizes[i] = i + 1;
        int[] more = {127, 128, 129, 255, 256, 257, 1000, 4095};
        System.arraycopy(more, 0, sizes, 70, more.length);
        for (int size : sizes) {
            if (size == 0) continue;
            int[][] plans = plans(size);
            int log2 = 31 - Integer.numberOfLeadingZeros(size);
            Random random = new Random(size);
            float[][] values = new float[size][];
            double[] exactRandom = new double[5];
            for (int r = 0; r < size; r++) {
                assertTrue(plans[r].length / 5 <= log2 + 2, size + " ranks: rank " + r + " takes " + plans[r].length / 5 + " steps");
                for (int s = 0; s < plans[r].length / 5; s++) {
                    assertTrue(plans[r][5 * s + 1] <= log2 + 1 && plans[r][5 * s + 3] <= log2 + 1, "tags are phases 0..log2(p)+1");
                }
                // Element 0 counts the ranks, element 1 sums distinct integers (exact in float up to 2^24), the rest
                // are random and only their bits are compared across ranks.
                values[r] = new float[] {1f, r + 1, random.nextFloat(), random.nextFloat() - 0.5f, (float) random.nextGaussian()};
                for (int i = 2; i < 5; i++) exactRandom[i] += values[r][i];
            }
            run(plans, values);
            for (int r = 0; r < size; r++) {
                assertEquals(size, values[r][0], size + " ranks: rank " + r + " counted every rank once");
                assertEquals((double) size * (size + 1) / 2, values[r][1], size + " ranks: rank " + r + " exact sum");
                assertArrayEquals(values[0], values[r], size + " ranks: rank " + r + " has rank 0's bits");
            }
            for (int i = 2; i < 5; i++) {
                assertEquals(exactRandom[i], values[0][i], 1e-5 * Math.max(1, size), size + " ranks: random element " + i);
            }
        }
    }

    @Test
    void badRanksAndTooFewStepsAreRefused() {
        int[] steps = new int[5 * MAX_STEPS];
        assertEquals(-1, MpiKernels.soma_mpi_recursive_doubling_plan(-1, 4, steps, MAX_STEPS));
        assertEquals(-1, MpiKernels.soma_mpi_recursive_doubling_plan(4, 4, steps, MAX_STEPS));
        assertEquals(-1, MpiKernels.soma_mpi_recursive_doubling_plan(0, 0, steps, MAX_STEPS));
        assertEquals(-1, MpiKernels.soma_mpi_recursive_doubling_plan(1, 4, steps, 1), "4 ranks need 2 steps");
        assertEquals(0, MpiKernels.soma_mpi_recursive_doubling_plan(0, 1, steps, MAX_STEPS), "a world of one has nothing to do");
    }
}
