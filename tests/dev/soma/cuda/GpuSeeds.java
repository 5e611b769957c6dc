package dev.soma.cuda;

import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The seeds of the fresh random inputs a GPU test draws ({@link GpuTesting#random()}), named in its failure so that
 * the failure can be replayed: {@code -Dsoma.gpu.seeds=S1,S2} hands the listed seeds, in order, to the test's draws.
 * Use with {@code @ExtendWith(GpuSeeds.class)}.
 */
final class GpuSeeds implements BeforeEachCallback, TestExecutionExceptionHandler {
    static final String REPLAY_PROPERTY = "soma.gpu.seeds";

    /** The seeds drawn by the running test on this thread, in order. */
    private static final ThreadLocal<List<Long>> DRAWN = ThreadLocal.withInitial(ArrayList::new);

    /** The next seed: the replayed one at this position, else a fresh one. Either is remembered for the report. */
    static SplittableRandom draw() {
        List<Long> drawn = DRAWN.get();
        String replay = System.getProperty(REPLAY_PROPERTY, "").trim();
        String[] replayed = replay.isEmpty() ? new String[0] : replay.split(",");
        long seed = drawn.size() < replayed.length ? Long.parseLong(replayed[drawn.size()].trim())
                : new SplittableRandom().nextLong();
        drawn.add(seed);
        return new SplittableRandom(seed);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        DRAWN.get().clear();
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        List<Long> drawn = DRAWN.get();
        if (drawn.isEmpty() || !(failure instanceof AssertionError)) throw failure;
        String seeds = String.join(",", drawn.stream().map(String::valueOf).toList());
        AssertionError named = new AssertionError(failure.getMessage() + " [random inputs from seeds " + seeds
                + "; replay with -D" + REPLAY_PROPERTY + "=" + seeds + "]", failure.getCause());
        named.setStackTrace(failure.getStackTrace());
        throw named;
    }
}
