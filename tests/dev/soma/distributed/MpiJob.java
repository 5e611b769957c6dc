package dev.soma.distributed;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Starts a 2-rank job of a test main through mpirun (skipped, by assumption, where mpirun is not installed). */
final class MpiJob {
    private MpiJob() {}

    record Result(int exitCode, String output, double seconds) {}

    static Path mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    static void assumeMpirun() {
        // CI installs Open MPI and sets SOMA_REQUIRE_MPI=1: there a missing mpirun fails instead of skipping.
        if ("1".equals(System.getenv("SOMA_REQUIRE_MPI"))) {
            assertTrue(mpirun() != null, "SOMA_REQUIRE_MPI=1 but no mpirun on PATH");
        }
        assumeTrue(mpirun() != null, "mpirun is not installed (CI installs Open MPI: apt-get install openmpi-bin)");
    }

    /** Runs {@code main} on {@code ranks} ranks with one OpenMP thread each; fails if it does not end in {@code limitSeconds}. */
    static Result run(int ranks, Class<?> main, Map<String, String> env, int limitSeconds, String... args)
            throws IOException, InterruptedException {
        assumeMpirun();
        List<String> cmd = new ArrayList<>(List.of(mpirun().toString(), "-np", String.valueOf(ranks), "--oversubscribe",
                "--bind-to", "none"));
        if ("root".equals(System.getProperty("user.name"))) cmd.add("--allow-run-as-root");
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xss8m",
                "-cp", System.getProperty("java.class.path"), main.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.environment().putAll(env);
        long t0 = System.nanoTime();
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        boolean ended = p.waitFor(limitSeconds, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        String text = new String(out, StandardCharsets.UTF_8);
        if (!ended) p.destroyForcibly();
        assertTrue(ended, "the " + ranks + "-rank job of " + main.getSimpleName() + " did not end within " + limitSeconds
                + " s:\n" + text);
        return new Result(p.exitValue(), text, seconds);
    }
}
