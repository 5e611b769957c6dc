package dev.soma.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs a main class of the tests in a fresh JVM: for what one JVM can do only once (the CUDA probe, opening a
 * kernel library in the dispatcher) or only at start-up (system properties read once).
 */
final class ChildJvm {
    private ChildJvm() {}

    /** The child's output (stdout and stderr); fails the test unless it exits 0 within two minutes. */
    static String run(Class<?> main, Map<String, String> env, String... jvmArgs) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString()));
        cmd.addAll(List.of(jvmArgs));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("SOMA_CUDA_EMULATE");
        pb.environment().remove("SOMA_CUDA_SYNC");
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child JVM did not finish");
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), text);
        return text;
    }

    /** The rest of the first line that starts with {@code key + " "}. */
    static String line(String text, String key) {
        return text.lines().filter(l -> l.startsWith(key + " ")).findFirst()
                .map(l -> l.substring(key.length() + 1))
                .orElseThrow(() -> new AssertionError("no '" + key + "' line in:\n" + text));
    }
}
