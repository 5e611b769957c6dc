package dev.soma.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Temporary files of interrupted writes do not accumulate; those of running writers are left alone. */
class AtomicFilesTest {
    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** The pid of a process that has ended. */
    private static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void aWriteRemovesTheTemporariesOfWritersThatNoLongerRun(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("model.safetensors");
        long alive = ProcessHandle.current().parent().orElseThrow().pid();
        Path dead = Files.writeString(dir.resolve(".model.safetensors.soma-tmp-" + deadPid() + "-123.tmp"), "half");
        Path ownFinished = Files.writeString(dir.resolve(".model.safetensors.soma-tmp-" + ProcessHandle.current().pid()
                + "-77.tmp"), "left by an earlier write of this process");
        Path running = Files.writeString(dir.resolve(".model.safetensors.soma-tmp-" + alive + "-5.tmp"), "in progress");
        Path oldLegacy = Files.writeString(dir.resolve(".model.safetensors.4242.tmp"), "old");
        Files.setLastModifiedTime(oldLegacy, FileTime.from(Instant.now().minus(2, ChronoUnit.HOURS)));
        Path newLegacy = Files.writeString(dir.resolve(".model.safetensors.4343.tmp"), "recent");
        Path otherTarget = Files.writeString(dir.resolve(".other.safetensors.soma-tmp-" + deadPid() + "-1.tmp"), "x");

        AtomicFiles.write(target, new byte[] {1, 2, 3});

        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
        assertFalse(Files.exists(dead), "a dead writer's temp is removed");
        assertFalse(Files.exists(ownFinished), "this process's finished write's temp is removed");
        assertFalse(Files.exists(oldLegacy), "an hour-old temp of an older version is removed");
        assertTrue(Files.exists(running), "a running writer's temp stays");
        assertTrue(Files.exists(newLegacy), "a recent temp of an older version stays (its writer may run)");
        assertTrue(Files.exists(otherTarget), "only the same target's temps are touched");
    }

    @Test
    void aFailedWriteLeavesNoTemporaryAndKeepsTheOldFile(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("f.bin");
        AtomicFiles.write(target, new byte[] {9});
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target, ch -> {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2}));
            throw new IOException("disk full (simulated)");
        }));
        assertEquals("disk full (simulated)", e.getMessage());
        assertEquals(List.of("f.bin"), names(dir));
        assertArrayEquals(new byte[] {9}, Files.readAllBytes(target));
    }

    @Test
    void temporariesCarryARecognisableNameWhileWriting(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("g.bin");
        List<String>[] during = new List[1];
        AtomicFiles.write(target, ch -> during[0] = names(dir));
        assertEquals(1, during[0].size());
        assertTrue(during[0].get(0).startsWith(".g.bin.soma-tmp-" + ProcessHandle.current().pid() + "-"), during[0].toString());
        assertEquals(List.of("g.bin"), names(dir));
    }
}
