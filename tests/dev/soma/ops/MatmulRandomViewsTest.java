package dev.soma.ops;

import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;
import dev.soma.testing.MatmulShapes;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU's float32 matmul (oneDNN's, handed the operands' own strides) against its float64 one (our kernel, on
 * contiguous copies) for random views: up to three batch dimensions, broadcast by size 1 or missing, operands that
 * are permutations, every-other-element slices or expansions (stride 0) of other tensors.
 *
 * <p>Three kinds were wrong or refused before CpuLinalg copied them first: a right operand of one row with a batch
 * (wrong values), an operand with several batch dimensions that were not dense (wrong values), and an expansion
 * along a batch dimension the other operand lacks (oneDNN refused it). A fresh seed per run, printed on failure;
 * {@code -Dsoma.matmul.seed=S} replays one.
 */
@ExtendWith(NoLeaks.class)
class MatmulRandomViewsTest {
    private static final long SEED = Long.getLong("soma.matmul.seed", System.nanoTime());

    @Test
    void float32ProductsOfRandomViewsAgreeWithFloat64() {
        SplittableRandom r = new SplittableRandom(SEED);
        List<String> wrong = new ArrayList<>();
        for (int trial = 0; trial < 3000 && wrong.size() < 10; trial++) {
            long[][] ab = MatmulShapes.broadcasting(r, () -> r.nextInt(1, 4));
            long[] a = ab[0], b = ab[1];
            try (Scope s = Scope.open()) {
                Tensor[] x = view(r, a), y = view(r, b);
                String what = "a " + x[0].describe() + " strides " + Arrays.toString(x[0].strides()) + " @ b "
                        + y[0].describe() + " strides " + Arrays.toString(y[0].strides());
                try {
                    double e = errorAgainstMagnitudes(x[0].matmul(y[0]).toDoubleArray(),
                            x[1].contiguous().matmul(y[1].contiguous()).toDoubleArray(),
                            x[1].abs().contiguous().matmul(y[1].abs().contiguous()).toDoubleArray());
                    if (!(e <= 1e-4)) wrong.add(what + ": relative error " + e);
                } catch (RuntimeException e) {
                    wrong.add(what + ": " + e);
                }
            }
        }
        assertTrue(wrong.isEmpty(), "seed " + SEED + ", float32 against float64:\n" + String.join("\n", wrong));
    }

    /**
     * ‖got − want‖ / ‖|a| @ |b|‖: float32 rounding of a product is bounded by the sizes of its terms, not of its result,
     * so a product whose terms cancel (a 1 x 3 row against a broadcast column gave 7e-4 of a near-zero result, seed
     * 27227107204135) is judged on the scale its rounding works at.
     */
    private static double errorAgainstMagnitudes(double[] got, double[] want, double[] magnitudes) {
        double diff = 0, norm = 0;
        for (int i = 0; i < got.length; i++) {
            diff += (got[i] - want[i]) * (got[i] - want[i]);
            norm += magnitudes[i] * magnitudes[i];
        }
        return norm == 0 ? (diff == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(diff / norm);
    }

    /**
     * A float32 view of the given shape and its float64 twin (the same values and layout): a permutation of a larger
     * tensor, some dimensions taken every other element, some expanded from size 1.
     */
    private static Tensor[] view(SplittableRandom r, long[] shape) {
        int rank = shape.length;
        int[] perm = new int[rank];
        for (int i = 0; i < rank; i++) perm[i] = i;
        if (r.nextBoolean()) {
            for (int i = rank - 1; i > 0; i--) {
                int j = r.nextInt(i + 1), t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
        }
        long[] steps = new long[rank], source = new long[rank];
        boolean[] expanded = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            steps[i] = r.nextInt(3) == 0 ? 2 : 1;
            expanded[i] = r.nextInt(5) == 0;
            source[perm[i]] = expanded[i] ? 1 : shape[i] * steps[i];
        }
        double[] v = ConvForwardTest.random(r, (int) Shapes.numel(source));
        Tensor[] views = {Tensor.of(v, source).to(DType.F32), Tensor.of(v, source)};
        for (int d = 0; d < 2; d++) {
            Tensor t = views[d].permute(perm);
            for (int i = 0; i < rank; i++) {
                if (!expanded[i]) t = t.slice(i, 0, shape[i] * steps[i], steps[i]);
            }
            views[d] = t.expand(shape);
        }
        return views;
    }
}
