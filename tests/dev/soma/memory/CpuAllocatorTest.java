package dev.soma.memory;

import dev.soma.backend.Backends;
import dev.soma.errors.OutOfMemoryException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Linux overcommits host memory, so a tensor larger than the machine can hold used to be allocated and then killed the
 * JVM (the OOM killer) as it was written. The CPU allocator weighs large requests against {@link HostMemory} first.
 */
class CpuAllocatorTest {
    static final long MIB = 1L << 20, GIB = 1L << 30;

    @TempDir
    Path root;

    /** A reading of {@code available} bytes with no cgroup limit. */
    private HostMemory machineWith(long available) throws IOException {
        Path proc = root.resolve("proc");
        Files.createDirectories(proc);
        Files.writeString(proc.resolve("meminfo"), "MemAvailable: " + available / 1024 + " kB\n");
        return new HostMemory(proc, root.resolve("cgroup"));
    }

    @Test
    void aRequestBeyondWhatTheMachineCanGiveIsAnsweredOutOfMemory() throws IOException {
        CpuAllocator allocator = new CpuAllocator(machineWith(GIB));
        assertEquals(0, allocator.allocate(2 * GIB), "more than available");
        assertEquals(0, allocator.allocate(GIB - CpuAllocator.RESERVE + MIB), "within it, but not with the reserve");
        long fits = allocator.allocate(GIB - CpuAllocator.RESERVE - MIB);
        assertNotEquals(0, fits);
        allocator.free(fits);
    }

    @Test
    void smallRequestsAreNotWeighed() throws IOException {
        CpuAllocator allocator = new CpuAllocator(machineWith(0));
        long small = allocator.allocate(CpuAllocator.WEIGHED_FROM - 64);
        assertNotEquals(0, small, "a small request goes to malloc whatever the reading");
        allocator.free(small);
        assertEquals(0, allocator.allocate(CpuAllocator.WEIGHED_FROM));
    }

    @Test
    void thePoolRefusesClearlyNamingWhatWasAvailable() throws IOException {
        CachingPool pool = new CachingPool(new CpuAllocator(machineWith(GIB)));
        OutOfMemoryException e = assertThrows(OutOfMemoryException.class, () -> pool.allocate(3 * GIB, 0));
        assertTrue(e.getMessage().contains("pool[cpu]: out of memory allocating 3.00 GiB")
                && e.getMessage().contains("the device's memory, 1.00 GiB of it available"), e.getMessage());
        assertEquals(0, pool.stats().allocatedBytes());
        assertEquals(0, pool.stats().reservedBytes());
        CachingPool.Block b = pool.allocate(64 * MIB, 0);
        pool.release(b);
        pool.emptyCache();
    }

    /**
     * On this machine: a float32 tensor bigger than the available memory, though within the total (which the kernel's
     * overcommit heuristic lets malloc hand out), is refused before anything is written. Before the check, zeros()
     * wrote it and the OOM killer ended the test JVM.
     */
    @Test
    void aTensorLargerThanTheMachinesFreeMemoryIsRefusedNotKilled() throws IOException {
        long available = HostMemory.system().available();
        if (available == HostMemory.UNKNOWN) return; // not Linux
        long total = 0;
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemTotal:")) total = Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
        // Past what is available but short of the total: larger requests malloc refuses by itself (heuristic overcommit).
        long bytes = available + Math.max(0, Math.min(GIB, (total - available) / 2));
        long elements = bytes / 4;
        long liveBefore = Backends.cpu().pool().stats().allocatedBytes();
        OutOfMemoryException e = assertThrows(OutOfMemoryException.class,
                () -> Tensor.zeros(DType.F32, Device.cpu(), elements).close());
        assertTrue(e.getMessage().startsWith("pool[cpu]: out of memory allocating"), e.getMessage());
        assertEquals(liveBefore, Backends.cpu().pool().stats().allocatedBytes());
    }
}
