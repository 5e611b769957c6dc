package dev.soma.reliability;

import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.nn.Param;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Kills (SIGKILL) a child JVM that writes checkpoints in a loop, many times at random moments, and checks after each
 * kill that the checkpoint file holds the last completed write or the one in flight, complete, and never anything
 * torn. Bounded: up to 20 kills or about 45 seconds, at least 5 kills.
 */
@ExtendWith(NoLeaks.class)
class CrashSafetyTest {
    static final int MAX_KILLS = 20;
    static final long BUDGET_NANOS = TimeUnit.SECONDS.toNanos(45);

    @TempDir
    Path dir;

    @Test
    void theCheckpointSurvivesSigkillAtAnyMoment() throws Exception {
        Path file = dir.resolve("run.safetensors");
        SplittableRandom random = new SplittableRandom(2024);
        long begin = System.nanoTime();
        long confirmed = 0;   // the newest step a child reported saved, or the file held after the last kill
        int kills = 0;
        int midWrite = 0;
        while (kills < MAX_KILLS && (System.nanoTime() - begin < BUDGET_NANOS || kills < 5)) {
            Process child = new ProcessBuilder(javaBinary(), "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                    "-cp", System.getProperty("java.class.path"), CheckpointWriterMain.class.getName(),
                    file.toString(), Long.toString(confirmed + 1))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) lines.add(l);
                } catch (Exception ignored) {
                    // the pipe breaks when the child dies
                }
            });
            reader.start();
            String first = lines.poll(60, TimeUnit.SECONDS);
            assertEquals("ready", first, "the child did not start");
            // Kill at a random moment: sometimes before the first write ends, mostly somewhere in a later one.
            Thread.sleep(random.nextInt(400));
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not die");
            reader.join(10_000);
            kills++;

            long lastSaving = confirmed;
            String last = "ready";
            List<String> all = new ArrayList<>(lines);
            for (String l : all) {
                if (l.startsWith("saving ")) lastSaving = Long.parseLong(l.substring(7));
                if (l.startsWith("saved ")) confirmed = Long.parseLong(l.substring(6));
                last = l;
            }
            if (last.startsWith("saving ")) midWrite++;

            if (!Files.exists(file)) {
                assertEquals(0, confirmed, "a completed checkpoint vanished");
                continue;
            }
            long step = checkIntact(file);
            assertTrue(step == confirmed || step == confirmed + 1 && step == lastSaving,
                    "after kill " + kills + " the file holds step " + step + "; the child had saved " + confirmed
                            + " and was writing " + lastSaving);
            confirmed = step;
        }
        long strays;
        try (Stream<Path> s = Files.list(dir)) {
            strays = s.filter(p -> p.getFileName().toString().endsWith(".tmp")).count();
        }
        System.out.printf("CrashSafetyTest: %d kills (%d during a write) in %.1f s; %d checkpoints completed; "
                + "%d stray temporary files%n", kills, midWrite, (System.nanoTime() - begin) / 1e9, confirmed, strays);
        assertTrue(confirmed > 0, "no checkpoint was ever completed: the test did not test anything");
        assertTrue(midWrite > 0, "no kill landed during a write: the test did not test anything");
    }

    /** Loads the file (which verifies its checksum) and checks it is checkpoint k throughout; returns k. */
    private static long checkIntact(Path file) throws Exception {
        try (Sequential m = Checkpoint.load(file)) {
            long k = m.optimizer().iterations();
            for (Param p : m.params()) {
                for (float v : p.value().toFloatArray()) {
                    if (v != k) fail(p.name() + " holds " + v + " in checkpoint " + k + ": a torn file");
                }
            }
            return k;
        }
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
