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

    /** A machine of 24 GiB with {@code available} bytes of it available, and no cgroup limit. */
    private HostMemory machineWith(long available) throws IOException {
        Path proc = root.resolve("proc");
        Files.createDirectories(proc);
        Files.writeString(proc.resolve("meminfo"), "MemTotal: " + 24 * GIB / 1024 + " kB\nMemAvailable: " + available / 1024 + " kB\n");
        return new HostMemory(proc, root.resolve("cgroup"));
    }

    @Test
    void aRequestBeyondWhatTheMachineCanGiveIsAnsweredOutOfMemory() throws IOException {
        CpuAllocator allocator = new CpuAllocator(machineWith(GIB));
        assertEquals(CpuAllocator.MAX_RESERVE, allocator.reserve());
        assertEquals(0, allocator.allocate(2 * GIB), "more than available");
        assertEquals(0, allocator.allocate(GIB - allocator.reserve() + MIB), "within it, but not with the reserve");
        long fits = allocator.allocate(GIB - allocator.reserve() - MIB);
        assertNotEquals(0, fits);
        allocator.free(fits);
    }

    /** Small requests are weighed too once memory runs low: a leak of small tensors must not end in the OOM killer. */
    @Test
    void smallRequestsAreRefusedWhenTheMachineIsNearlyFull() throws IOException {
        CpuAllocator allocator = new CpuAllocator(machineWith(CpuAllocator.MAX_RESERVE + MIB));
        assertEquals(0, allocator.allocate(2 * MIB), "2 MiB with 1 MiB left beyond the reserve");
        machineWith(CpuAllocator.MAX_RESERVE + 5 * MIB); // the machine freed some: read again, as the estimate is low
        long a = allocator.allocate(2 * MIB);
        assertNotEquals(0, a);
        machineWith(CpuAllocator.MAX_RESERVE + 3 * MIB); // the 2 MiB were written
        assertEquals(0, allocator.allocate(4 * MIB));
        allocator.free(a);
    }

    @Test
    void inASmallContainerTheReserveIsASixteenthOfItsMemory() throws IOException {
        Path proc = root.resolve("proc"), cgroup = root.resolve("cgroup");
        Files.createDirectories(proc.resolve("self"));
        Files.writeString(proc.resolve("meminfo"), "MemTotal: " + 24 * GIB / 1024 + " kB\nMemAvailable: " + 20 * GIB / 1024 + " kB\n");
        Files.writeString(proc.resolve("self/cgroup"), "0::/\n");
        Files.createDirectories(cgroup);
        Files.writeString(cgroup.resolve("memory.max"), String.valueOf(GIB));
        Files.writeString(cgroup.resolve("memory.current"), String.valueOf(100 * MIB));
        HostMemory container = new HostMemory(proc, cgroup);
        assertEquals(GIB, container.total());
        CpuAllocator allocator = new CpuAllocator(container);
        assertEquals(64 * MIB, allocator.reserve());
        long a = allocator.allocate(800 * MIB);
        assertNotEquals(0, a, "924 MiB free in the container, less the reserve, holds 800 MiB");
        allocator.free(a);
        assertEquals(0, allocator.allocate(900 * MIB));
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
