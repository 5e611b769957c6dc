package dev.soma.fuzz;

import dev.soma.backend.Backends;
import dev.soma.errors.SomaException;
import dev.soma.tensor.Device;
import dev.soma.testing.UsableGpu;

import java.util.Arrays;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * What the fuzz tests share: what counts as a clear refusal, the native bytes they watch, failing with their findings,
 * and a quiet kernel-path log while they run on a GPU.
 */
final class FuzzReports {
    private FuzzReports() {}

    /**
     * The run's seed ({@code -Dsoma.fuzz.seed}, else the clock), printed as the test class loads: a run the JVM does
     * not survive (the OOM killer, a native crash) still leaves in the log what replays it.
     */
    static long seed(Class<?> test) {
        long seed = Long.getLong("soma.fuzz.seed", System.nanoTime());
        System.out.println(test.getSimpleName() + ": seed " + seed + " (replay with -Dsoma.fuzz.seed=" + seed + ")");
        return seed;
    }

    /**
     * Whether {@code e} is of a kind a user can act on: a {@link SomaException} (shape, dtype, device, closed tensor,
     * out of memory), an IllegalArgumentException, UnsupportedOperationException or IllegalStateException.
     */
    static boolean isRefusal(Throwable e) {
        return e instanceof SomaException || e instanceof IllegalArgumentException
                || e instanceof UnsupportedOperationException || e instanceof IllegalStateException;
    }

    /**
     * Null when {@code e} is a clear refusal: one of {@link #isRefusal}'s kinds with a message, or a
     * NullPointerException where a null was passed; else the finding ("threw ...", "threw ... without a message").
     */
    static String unclearRefusal(Throwable e, boolean passedNull) {
        if (e instanceof NullPointerException && passedNull) return null;
        if (!isRefusal(e)) return "threw " + e.getClass().getName();
        if (e.getMessage() == null || e.getMessage().isBlank()) return "threw " + e.getClass().getSimpleName() + " without a message";
        return null;
    }

    /** Where an exception came from, for a finding's example. */
    static String topFrames(Throwable e) {
        return Arrays.stream(e.getStackTrace()).limit(5).map(StackTraceElement::toString).toList().toString();
    }

    /** Live bytes of the CPU pool, plus those of {@code home}'s pool when it is another device. */
    static long liveBytes(Device home) {
        long live = Backends.cpu().pool().stats().allocatedBytes();
        if (!home.equals(Device.cpu())) live += Backends.get(home).pool().stats().allocatedBytes();
        return live;
    }

    /** Fails listing each finding with its example and the run's seed (to replay it); does nothing without one. */
    static void failIfAny(Map<String, String> findings, long seed) {
        if (findings.isEmpty()) return;
        StringBuilder s = new StringBuilder(findings.size() + " findings (seed " + seed + "):\n");
        findings.forEach((what, example) -> s.append("- ").append(what).append("\n    e.g. ").append(example).append('\n'));
        fail(s.toString());
    }

    interface Body {
        void run() throws Throwable;
    }

    /** One random trial of a fuzz test (a model, a run), drawn from its seed. */
    interface Trial {
        void run(long seed) throws Throwable;
    }

    /**
     * Runs {@code count} trials whose seeds come from {@code seed}, or only the trial {@code one} (a replay) when it is
     * not null. A trial that throws a clear refusal counts as refused (printed when replaying or with
     * {@code -Dsoma.fuzz.verbose=true}); any other exception, and native bytes left on {@code device}'s pools after
     * it, are findings. Assertion errors pass through. Returns how many trials were refused.
     */
    static int runTrials(long seed, int count, Long one, Device device, Map<String, String> findings, Trial trial) {
        java.util.SplittableRandom seeds = new java.util.SplittableRandom(seed);
        int refused = 0;
        for (int i = 0; i < (one == null ? count : 1); i++) {
            long s = one == null ? seeds.nextLong() : one;
            long live = liveBytes(device);
            try {
                trial.run(s);
            } catch (AssertionError e) {
                throw e;
            } catch (Throwable e) {
                refused++;
                String unclear = unclearRefusal(e, false);
                if (unclear != null) findings.putIfAbsent(unclear, "seed " + s + ": " + e + " at " + topFrames(e));
                else if (one != null || Boolean.getBoolean("soma.fuzz.verbose")) System.out.println("refused: " + s + ": " + e);
            }
            long leaked = liveBytes(device) - live;
            if (leaked != 0) findings.putIfAbsent("left native memory allocated", leaked + " bytes: seed " + s);
        }
        return refused;
    }

    /**
     * Runs a GPU fuzzer's {@code body}, or skips the calling test (JUnit assumption) where no CUDA device is usable
     * (a real one, or the emulated one under SOMA_CUDA_EMULATE=1). The CUDA kernel-path log (VendorPaths, a line per
     * new geometry) is at WARNING meanwhile: a fuzzer's thousands of geometries would bury CI's log.
     */
    static void onTheGpu(Body body) throws Throwable {
        UsableGpu.required();
        Logger paths = Logger.getLogger("dev.soma.backend.cuda.VendorPaths");
        Level level = paths.getLevel();
        paths.setLevel(Level.WARNING);
        try {
            body.run();
        } finally {
            paths.setLevel(level);
        }
    }
}
