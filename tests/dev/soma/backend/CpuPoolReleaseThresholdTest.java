package dev.soma.backend;

import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The CPU pool's release threshold: half the machine's memory by default, -Dsoma.cpu.poolReleaseGiB otherwise. */
class CpuPoolReleaseThresholdTest {
    private static final String KEY = "soma.cpu.poolReleaseGiB";

    @Test
    void defaultsToHalfTheMachinesMemoryAndTakesTheProperty() {
        try (TemporaryProperties p = new TemporaryProperties()) {
            p.clear(KEY);
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            assertNull(CpuBackend.configuredPoolReleaseBytes());
            assertEquals(os.getTotalMemorySize() / 2, CpuBackend.halfTheMachinesMemory());
            p.set(KEY, "1.5");
            assertEquals(3L << 29, CpuBackend.configuredPoolReleaseBytes());
            for (String bad : new String[] {"lots", "0", "-2", "NaN"}) {
                p.set(KEY, bad);
                var e = assertThrows(IllegalArgumentException.class, CpuBackend::configuredPoolReleaseBytes);
                assertTrue(e.getMessage().contains(KEY) && e.getMessage().contains(bad), e.getMessage());
            }
        }
    }
}
