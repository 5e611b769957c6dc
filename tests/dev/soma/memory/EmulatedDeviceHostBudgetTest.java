package dev.soma.memory;

import dev.soma.backend.cuda.CudaAllocator;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The emulated CUDA device's memory is host memory behind a fixed 8 GiB cap: on a machine with less free, a tensor
 * under the cap would be written into memory the machine does not have and the OOM killer would end the JVM. Its
 * allocator weighs each request against the host's budget, as the CPU's does.
 */
@Tag("gpu")
class EmulatedDeviceHostBudgetTest {
    static final long MIB = 1L << 20, GIB = 1L << 30;

    @TempDir
    Path root;

    @Test
    void theEmulatedDeviceRefusesWhatTheHostCannotHold() throws IOException {
        assumeEmulated();
        Path proc = Files.createDirectories(root.resolve("proc"));
        Files.writeString(proc.resolve("meminfo"), "MemTotal: " + 24 * GIB / 1024 + " kB\nMemAvailable: " + GIB / 1024 + " kB\n");
        HostMemoryBudget budget = new HostMemoryBudget(new HostMemory(proc, root.resolve("cgroup")));
        CudaAllocator allocator = new CudaAllocator(0, budget);
        assertEquals(0, allocator.allocate(GIB - budget.reserve() + MIB), "beyond the host's memory less the reserve");
        long fits = allocator.allocate(64 * MIB);
        assertNotEquals(0, fits, "64 MiB of a free GiB");
        allocator.free(fits);
        assertEquals(GIB, allocator.available(), "the host's reading, for the pool's message");
    }

    private static void assumeEmulated() {
        org.junit.jupiter.api.Assumptions.assumeTrue(UsableGpu.required().emulated(),
                "the host budget applies to the emulated device only");
    }
}
