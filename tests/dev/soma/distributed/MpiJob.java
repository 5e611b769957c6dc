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

/**
 * Starts a 2-rank job of a test main through mpirun (skipped, by assumption, where mpirun is not installed), or through
 * the launcher {@code SOMA_TEST_MPIEXEC} names: CI runs these tests a second time under MPICH's Hydra
 * ({@code SOMA_TEST_MPIEXEC=mpiexec.mpich}), where the ranks must open MPICH's library by themselves.
 */
public final class MpiJob {
    private MpiJob() {}

    public record Result(int exitCode, String output, double seconds) {}

    static Path mpirun() {
        String name = launcherName();
        if (name.contains("/")) return Files.isExecutable(Path.of(name)) ? Path.of(name) : null;
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** The answer of {@link #openMpiLauncher}, asked once per test JVM (the launcher does not change). */
    private static Boolean openMpi;

    /** Whether the launcher is Open MPI's, which needs flags that Hydra does not know (and Hydra needs none). */
    static synchronized boolean openMpiLauncher() throws IOException, InterruptedException {
        if (openMpi == null) {
            Process p = new ProcessBuilder(mpirun().toString(), "--version").redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(30, TimeUnit.SECONDS);
            openMpi = text.contains("Open MPI") || text.contains("OpenRTE");
        }
        return openMpi;
    }

    static void assumeMpirun() {
        // CI installs Open MPI and sets SOMA_REQUIRE_MPI=1: there a missing mpirun fails instead of skipping.
        if ("1".equals(System.getenv("SOMA_REQUIRE_MPI"))) {
            assertTrue(mpirun() != null, "SOMA_REQUIRE_MPI=1 but no " + launcherName() + " on PATH");
        }
        assumeTrue(mpirun() != null, launcherName() + " is not installed (CI installs Open MPI: apt-get install openmpi-bin)");
    }

    private static String launcherName() {
        String chosen = System.getenv().getOrDefault("SOMA_TEST_MPIEXEC", "");
        return chosen.isBlank() ? "mpirun" : chosen;
    }

    /** Runs {@code main} on {@code ranks} ranks with one OpenMP thread each; fails if it does not end in {@code limitSeconds}. */
    public static Result run(int ranks, Class<?> main, Map<String, String> env, int limitSeconds, String... args)
            throws IOException, InterruptedException {
        assumeMpirun();
        List<String> cmd = new ArrayList<>(List.of(mpirun().toString(), "-np", String.valueOf(ranks)));
        if (openMpiLauncher()) {
            cmd.addAll(List.of("--oversubscribe", "--bind-to", "none"));
            if ("root".equals(System.getProperty("user.name"))) cmd.add("--allow-run-as-root");
        }
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
