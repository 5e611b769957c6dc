package dev.soma.fuzz;

import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.fail;

/** What the fuzz tests share: failing with their findings, and a quiet kernel-path log while they run on a GPU. */
final class FuzzReports {
    private FuzzReports() {}

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

    /**
     * Runs {@code body} with the CUDA kernel-path log (VendorPaths, a line per new geometry) at WARNING: a fuzzer's
     * thousands of geometries would bury CI's log.
     */
    static void withQuietKernelLog(Body body) throws Throwable {
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
