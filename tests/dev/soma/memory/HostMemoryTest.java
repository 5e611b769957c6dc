package dev.soma.memory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link HostMemory} reading /proc and cgroup files laid out as Linux lays them out, in a folder of the test's own. */
class HostMemoryTest {
    static final long MIB = 1L << 20, GIB = 1L << 30;

    @TempDir
    Path root;

    private Path proc() {
        return root.resolve("proc");
    }

    private Path cgroup() {
        return root.resolve("cgroup");
    }

    private void write(Path file, String text) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, text);
    }

    private void meminfo(long availableKib) throws IOException {
        write(proc().resolve("meminfo"), "MemTotal:       24683748 kB\nMemFree:        20000000 kB\n"
                + "MemAvailable:   " + availableKib + " kB\nBuffers:           1234 kB\n");
    }

    private HostMemory reading() {
        return new HostMemory(proc(), cgroup());
    }

    @Test
    void withoutACgroupLimitItIsMemAvailable() throws IOException {
        meminfo(2 * 1024 * 1024);
        // cgroup v1 as on our build machines: the memory controller's group has no limit (a huge page-rounded number).
        write(proc().resolve("self/cgroup"), "5:devices:/\n4:memory:/process_api/ea85\n0::/\n");
        Path group = cgroup().resolve("memory/process_api/ea85");
        write(group.resolve("memory.limit_in_bytes"), "9223372036854771712\n");
        write(group.resolve("memory.usage_in_bytes"), "1334222848\n");
        write(cgroup().resolve("memory/memory.limit_in_bytes"), "9223372036854771712\n");
        assertEquals(2 * GIB, reading().available());
        assertEquals(24683748L * 1024, reading().total(), "MemTotal");
    }

    @Test
    void aCgroupV2LimitBelowTheMachinesMemoryCountsWithoutTheDroppableFileCache() throws IOException {
        meminfo(20L * 1024 * 1024);
        write(proc().resolve("self/cgroup"), "0::/user.slice/job\n");
        Path job = cgroup().resolve("user.slice/job");
        write(job.resolve("memory.max"), String.valueOf(4 * GIB));
        write(job.resolve("memory.current"), String.valueOf(3 * GIB));
        write(job.resolve("memory.stat"), "anon 1000\nfile 2000\ninactive_file " + 512 * MIB + "\nactive_file 5\n");
        assertEquals(4 * GIB - (3 * GIB - 512 * MIB), reading().available());
        assertEquals(4 * GIB, reading().total(), "the cgroup's limit, below the machine's 23.5 GiB");
    }

    @Test
    void theTightestAncestorLimitIsTheOneThatCounts() throws IOException {
        meminfo(20L * 1024 * 1024);
        write(proc().resolve("self/cgroup"), "0::/a/b\n");
        write(cgroup().resolve("a/b/memory.max"), "max\n");
        write(cgroup().resolve("a/b/memory.current"), String.valueOf(GIB));
        write(cgroup().resolve("a/memory.max"), String.valueOf(3 * GIB));
        write(cgroup().resolve("a/memory.current"), String.valueOf(2 * GIB));
        assertEquals(GIB, reading().available());
    }

    @Test
    void aCgroupV1LimitOnTheMemoryController() throws IOException {
        meminfo(20L * 1024 * 1024);
        write(proc().resolve("self/cgroup"), "7:cpu,cpuacct:/docker/x\n6:memory:/docker/x\n");
        Path group = cgroup().resolve("memory/docker/x");
        write(group.resolve("memory.limit_in_bytes"), String.valueOf(2 * GIB));
        write(group.resolve("memory.usage_in_bytes"), String.valueOf(GIB + 100 * MIB));
        // v1's usage counts the subtree, and so does total_inactive_file; inactive_file is the group's own.
        write(group.resolve("memory.stat"), "cache 5\ninactive_file " + 3 * MIB + "\ntotal_inactive_file " + 100 * MIB + "\n");
        assertEquals(GIB, reading().available());
    }

    @Test
    void aUsageAboveTheLimitLeavesNothingRatherThanANegativeCount() throws IOException {
        meminfo(20L * 1024 * 1024);
        write(proc().resolve("self/cgroup"), "0::/\n");
        write(cgroup().resolve("memory.max"), String.valueOf(GIB));
        write(cgroup().resolve("memory.current"), String.valueOf(2 * GIB));
        assertEquals(0, reading().available());
    }

    @Test
    void unreadableOrGarbledFilesTellNothing() throws IOException {
        assertEquals(HostMemory.UNKNOWN, reading().available(), "no files at all");
        write(proc().resolve("meminfo"), "MemAvailable:   lots kB\n");
        write(proc().resolve("self/cgroup"), "garbage\n0::\n");
        assertEquals(HostMemory.UNKNOWN, reading().available());
    }

    @Test
    void thisMachinesReadingIsPlausible() {
        if (!System.getProperty("os.name").startsWith("Linux")) return; // nothing to read elsewhere
        long available = HostMemory.system().available();
        long total = Runtime.getRuntime().maxMemory(); // only a sanity floor: the heap's cap is a fraction of the machine
        assertTrue(available > 0 && available < 1L << 50, "available " + available);
        assertTrue(available > total / 64, "available " + available + " against a heap cap of " + total);
    }
}
