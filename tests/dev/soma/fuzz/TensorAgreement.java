package dev.soma.fuzz;

import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Whether a result agrees with its float64 reference ({@link Twin}). The error is DESIGN.md's norm-wise
 * ‖got − want‖ / ‖want‖; it may reach the bound of got's dtype (1e-4 for float32, the one for reductions and matrix
 * products, the loosest of the float32 ops; 1e-10 for float64) or 100 times the same error of the perturbed reference,
 * whichever is larger; also 10 times what nudging the inputs by an ulp moves got, and for a GPU call 10 times the
 * error of the CPU's own result in the same dtype, each up to 1e-2. int32
 * results must be equal, and NaN and the infinities must sit at the same places with the same signs (unless the
 * perturbation alone moves them: the sensitivity is then unbounded). A float32 result whose reference exceeds 1e18
 * somewhere is not judged, nor are the gradients of its call: float32 overflows on the way (a recurrent layer with
 * linear gates grows step by step); where
 * a call's forward reference grew beyond 1e6, its float32 gradients are held to 1e-2, and less tightly where a result
 * saturates within a hair of ±1 ({@link #gradientFloor}).
 *
 * <p>The norm divided by is at least 0.01 per element (√n / 100): the fuzzer's inputs are of order 1, and a result that
 * is zero in exact arithmetic (a gradient that cancels) is judged by how far its rounding lies from zero on that scale.
 */
final class TensorAgreement {
    private TensorAgreement() {}

    /** The most the two noise yardsticks may allow. */
    private static final double NOISE_CAP = 1e-2;

    /**
     * Whether a float32 result left its float64 reference by more than {@link #NOISE_CAP}: the computation then
     * followed another trajectory (allowed only where the reference is that badly conditioned), and gradients taken
     * along it are those of another point.
     */
    static boolean diverged(Tensor got, Tensor want) {
        return Arrays.equals(got.shape(), want.shape()) && !beyondFloat32(want) && error(got, want) > NOISE_CAP;
    }

    static double bound(DType dtype) {
        return dtype == DType.F64 ? 1e-10 : 1e-4;
    }

    /**
     * Null when got agrees with want (the reference), given what the perturbed reference moved, how far the call on
     * nudged inputs lies from got, and, for a GPU call, how far the CPU's own result in got's dtype lies from want
     * (null: none); else what differs.
     */
    static String disagreement(Tensor got, Tensor want, Tensor perturbed, Tensor nudged, Tensor cpu) {
        return disagreement(got, want, perturbed, nudged, cpu, 100);
    }

    /**
     * As {@link #disagreement(Tensor, Tensor, Tensor, Tensor, Tensor)}, allowing {@code sensitivityFactor} times the
     * perturbed reference's move instead of 100 (a whole layer chains several rounded ops, whose intermediate
     * rounding perturbed inputs reproduce only in part).
     */
    static String disagreement(Tensor got, Tensor want, Tensor perturbed, Tensor nudged, Tensor cpu,
                               double sensitivityFactor) {
        return disagreement(got, want, perturbed, nudged, cpu, sensitivityFactor, 0);
    }

    /** As above, allowing a float32 result at least {@code floor}. */
    static String disagreement(Tensor got, Tensor want, Tensor perturbed, Tensor nudged, Tensor cpu,
                               double sensitivityFactor, double floor) {
        if (!Arrays.equals(got.shape(), want.shape()) || (got.dtype() == DType.I32) != (want.dtype() == DType.I32)) {
            return "got " + got.describe() + ", the reference " + want.describe();
        }
        if (got.dtype() == DType.F32 && beyondFloat32(want)) return null; // float32 overflows where float64 does not
        // float64 itself overflows a step further; which infinities then meet (inf - inf is NaN) depends on the order
        boolean anyNonFinite = got.dtype() == DType.F64 && nearFloat64Limit(want);
        double sensitivity = error(perturbed, want, anyNonFinite);
        if (Double.isNaN(sensitivity)) return null;
        double allowed = Math.max(Math.max(bound(got.dtype()), got.dtype() == DType.F32 ? floor : 0),
                sensitivityFactor * sensitivity);
        // Rounding noise, at most 1 %: a kernel that reads the wrong memory differs from itself by more.
        if (nudged != null) allowed = Math.max(allowed, Math.min(10 * error(nudged, got, anyNonFinite), NOISE_CAP));
        if (cpu != null) allowed = Math.max(allowed, Math.min(10 * error(cpu, want, anyNonFinite), NOISE_CAP));
        double error = error(got, want, anyNonFinite);
        if (error <= allowed) return null;
        return (Double.isInfinite(error) ? "NaN, infinities or integers at other places than in" : "relative error "
                + error + " from") + " the float64 reference, allowed " + allowed + " (" + got.describe()
                + "; the perturbed reference moved " + sensitivity + ")";
    }

    /**
     * The least a call's float32 gradients are allowed, from its float64 forward results ({@code references}):
     * <ul>
     *   <li>{@link #NOISE_CAP} where one grew beyond 1e6 from the fuzzer's inputs of order 1 (a recurrent layer with
     *       unbounded gates, e.g. relu, multiplies its state step by step). Its float32 backward then rounds intermediate
     *       values of that size, and its gradients carry that rounding amplified, which nudging the inputs by an ulp does
     *       not reproduce (a GRU with relu gates whose outputs reached 8e7 had a gradient 5.5e-4 from float64, the same
     *       with oneDNN limited to AVX2, AVX-512 or AMX).</li>
     *   <li>10 times 2^-24 / (1 − |y|), at most {@link #NOISE_CAP}, where a result y lies within a hair of ±1 without
     *       reaching it (a saturated softmax, sigmoid or tanh): float32 keeps y's distance from 1 only to that relative
     *       precision, and the backward reads that distance (y(1 − y), 1 − y², the softmax's y(g − y·g)). A divisive
     *       DaleDense with softmax gave 0.99999994 for 1 − 7.5e-8, and input gradients 11 % off float64's; nudging
     *       the inputs moves the same rounding, so it does not show.</li>
     * </ul>
     * Else 0.
     */
    static double gradientFloor(java.util.List<Tensor> references) {
        double floor = 0;
        for (Tensor t : references) {
            if (t.dtype() != DType.F64) continue;
            for (double v : t.toDoubleArray()) { // one read of each result for both rules
                if (Math.abs(v) > 1e6) return NOISE_CAP;
                double distance = 1 - Math.abs(v);
                if (distance > 0 && distance < 0.5) floor = Math.max(floor, 10 * 0x1p-24 / distance);
            }
        }
        return Math.min(floor, NOISE_CAP);
    }

    /**
     * Whether a float64 result holds magnitudes float32 cannot (its sum of squares, or a value, overflows there). The
     * fuzzers also skip a call's float32 gradients when any of its reference's gradients is beyond: a backward pass
     * that overflows float32 on the way turns an exact 0 elsewhere into NaN (0 · ∞).
     */
    static boolean beyondFloat32(Tensor t) {
        return anyAbove(t, 1e18);
    }

    /**
     * Whether any of a call's float64 forward results is {@link #beyondFloat32}: its float32 backward then runs through
     * the overflowed values (or, where float32 kept them finite, multiplies magnitudes above 1e18 into infinities), so
     * its float32 gradients are not judged either. A relu LSTM's state reached 4e29 in one example and 1e174 in
     * another; float64's gradient of the first was finite and float32's NaN (OpsFuzzTest seed 37055644936693).
     */
    static boolean anyBeyondFloat32(java.util.List<Tensor> references) {
        for (Tensor t : references) if (beyondFloat32(t)) return true;
        return false;
    }

    /**
     * Whether a float64 result holds a finite magnitude beyond 1e154, whose square overflows float64: a recurrence
     * that grows like that (an LSTM with linear gates squares its state each step) reaches the infinities a step
     * later, and where infinities of both signs meet, the order of the sum decides between NaN and ±inf (the
     * emulated GPU gave NaN where the CPU gave inf, CudaOpsFuzzTest seed 37678028692269). Such results are judged
     * with NaN and ±inf alike (still only at the same places), and such calls' float64 gradients not at all.
     */
    static boolean nearFloat64Limit(Tensor t) {
        if (t.dtype() != DType.F64) return false;
        for (double v : t.toDoubleArray()) if (Double.isFinite(v) && Math.abs(v) > 1e154) return true;
        return false;
    }

    /** Whether any of a call's float64 forward results is {@link #nearFloat64Limit}. */
    static boolean anyNearFloat64Limit(java.util.List<Tensor> references) {
        for (Tensor t : references) if (nearFloat64Limit(t)) return true;
        return false;
    }

    /** Whether a float64 tensor holds a value above {@code limit} in magnitude (other dtypes: false). */
    private static boolean anyAbove(Tensor t, double limit) {
        if (t.dtype() != DType.F64) return false;
        for (double v : t.toDoubleArray()) if (Math.abs(v) > limit) return true;
        return false;
    }

    /** The norm-wise relative error; infinite where int32 values differ or non-finite values sit elsewhere. */
    static double error(Tensor got, Tensor want) {
        return error(got, want, false);
    }

    /** As {@link #error(Tensor, Tensor)}; with {@code anyNonFinite}, NaN and ±inf at a place count as the same. */
    static double error(Tensor got, Tensor want, boolean anyNonFinite) {
        if (got.dtype() == DType.I32 || want.dtype() == DType.I32) {
            return Arrays.equals(got.to(DType.F64).toDoubleArray(), want.to(DType.F64).toDoubleArray())
                    ? 0 : Double.POSITIVE_INFINITY;
        }
        double[] g = got.toDoubleArray(), w = want.toDoubleArray();
        if (g.length == 0) return 0;
        // Values beyond 1e154 would overflow the sums of squares (a relu GRU's float64 state reaches 1e300 in 17
        // steps); the ratio does not change when every term is divided by the largest magnitude first.
        double scale = 1;
        for (int i = 0; i < g.length; i++) {
            if (Double.isFinite(g[i]) && Double.isFinite(w[i])) {
                scale = Math.max(scale, Math.max(Math.abs(g[i]), Math.abs(w[i])));
            }
        }
        double diff = 0, norm = 0;
        for (int i = 0; i < g.length; i++) {
            if (!Double.isFinite(g[i]) || !Double.isFinite(w[i])) {
                boolean same = Double.compare(g[i], w[i]) == 0 || (Double.isNaN(g[i]) && Double.isNaN(w[i]))
                        || (anyNonFinite && !Double.isFinite(g[i]) && !Double.isFinite(w[i]));
                if (!same) return Double.POSITIVE_INFINITY;
                continue;
            }
            double d = g[i] / scale - w[i] / scale, v = w[i] / scale;
            diff += d * d;
            norm += v * v;
        }
        return Math.sqrt(diff / Math.max(norm, 1e-4 * g.length / scale / scale));
    }
}
