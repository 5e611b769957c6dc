package dev.soma.fuzz;

import dev.soma.tensor.Device;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every public op of the tensor API called with random arguments on the CPU ({@link OpFuzzer}: what counts as a
 * finding). The seed changes every run and is printed, so each run tries new inputs and any finding can be
 * replayed: {@code -Dsoma.fuzz.seed=S} replays, {@code -Dsoma.fuzz.trials=N} sets the calls per method (default 60).
 * One finding's call alone, with every tensor printed: {@code -Dsoma.fuzz.only=NAME -Dsoma.fuzz.call=SEED} (NAME as
 * the finding names the method, SEED the call's seed from its example).
 */
@ExtendWith(NoLeaks.class)
class OpsFuzzTest {
    static final long SEED = FuzzReports.seed(OpsFuzzTest.class);
    static final int TRIALS = Integer.getInteger("soma.fuzz.trials", 60);

    @Test
    void everyOpAnswersRandomArgumentsWithAResultOrAClearError() throws Exception {
        run(Device.cpu(), null);
    }

    /**
     * The seed of a method's first call: mixed from the run's seed and the method's name, so that nearby run seeds do
     * not replay each other's calls and a method keeps its calls when others are added.
     */
    private static long firstSeed(Method op) {
        return new SplittableRandom(SEED ^ (OpFuzzer.name(op).hashCode() * 0x9E3779B97F4A7C15L)).nextLong();
    }

    /** Fuzzes every op on {@code home} (some tensors on {@code other}) and fails listing the findings. */
    static void run(Device home, Device other) throws Exception {
        OpFuzzer fuzzer = new OpFuzzer(home, other);
        List<Method> ops = OpFuzzer.ops();
        assertTrue(ops.size() > 150, "the catalog lost its ops: " + ops.size());
        String only = System.getProperty("soma.fuzz.only");
        Long call = Long.getLong("soma.fuzz.call");
        if (only != null) ops = ops.stream().filter(m -> OpFuzzer.name(m).equals(only)).toList();
        if (only != null && call != null) {
            fuzzer.verbose = true;
            for (Method op : ops) fuzzer.fuzz(op, call, 1);
        } else {
            // Ops with a recipe (convolutions, pooling, attention, recurrent layers, matmul...) get four times the
            // calls: their geometry has the most corners, and every wrong-value finding so far lay there.
            for (Method op : ops) fuzzer.fuzz(op, firstSeed(op), OpRecipes.has(op) ? 4 * TRIALS : TRIALS);
        }
        System.out.println("op fuzzing on " + home + ", seed " + SEED + ": " + ops.size() + " methods, " + fuzzer.summary());
        System.out.println("never returned a result: " + fuzzer.neverReturned());
        Map<String, String> findings = fuzzer.findings();
        FuzzReports.failIfAny(findings, SEED);
    }
}
