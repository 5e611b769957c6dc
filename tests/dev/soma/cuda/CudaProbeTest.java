package dev.soma.cuda;

import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.errors.DeviceException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The CUDA probe on any machine: without a usable device it explains why in one sentence, asks only once,
 * turns every CUDA request into a DeviceException carrying that reason, and leaves CPU work untouched.
 */
@ExtendWith(NoLeaks.class)
class CudaProbeTest {
    @Test
    void withoutADeviceTheReasonIsAClearSentence() {
        CudaProbe.Result r = CudaProbe.result();
        assumeFalse(r.usable(), "this machine has a usable CUDA device");
        assertEquals(0, r.deviceCount());
        String reason = r.reason();
        assertTrue(reason.startsWith("CUDA is not") || reason.startsWith("disabled"), reason);
        assertTrue(reason.endsWith(".") || reason.startsWith("disabled"), reason);
        assertFalse(reason.contains("\n"), reason);
        assertEquals(List.of(), CudaProbe.devices());
        assertTrue(CudaProbe.cudnnVersion().startsWith("not loaded"), CudaProbe.cudnnVersion());
    }

    @Test
    void theProbeRunsOnceAndKeepsItsAnswer() {
        CudaProbe.Result first = CudaProbe.result();
        assertSame(first, CudaProbe.result());
        assertSame(CudaProbe.devices(), CudaProbe.devices());
    }

    @Test
    void aCudaDeviceWithoutCudaIsADeviceExceptionCarryingTheReason() {
        CudaProbe.Result r = CudaProbe.result();
        assumeFalse(r.usable(), "this machine has a usable CUDA device");
        for (int attempt = 0; attempt < 2; attempt++) {
            DeviceException e = assertThrows(DeviceException.class, () -> Backends.get(Device.cuda(0)));
            assertEquals("device cuda:0 is not usable: " + r.reason(), e.getMessage());
        }
        try (Scope s = Scope.open()) {
            DeviceException e = assertThrows(DeviceException.class, () -> Tensor.zeros(DType.F32, Device.cuda(1), 2));
            assertTrue(e.getMessage().contains(r.reason()), e.getMessage());
            // The failed request left the CPU backend working.
            assertEquals(6.0, Tensor.of(new float[] {1, 2, 3}).sum().item(), 1e-6);
        }
    }

    @Test
    @Tag("gpu")
    void withADeviceEachOneIsDescribed() {
        CudaProbe.Result r = UsableGpu.required();
        assertEquals("ok", r.reason());
        assertEquals(r.deviceCount(), CudaProbe.devices().size());
        for (String d : CudaProbe.devices()) System.out.println("DEVICE " + d); // bench/gpu/check.sh prints these
        String first = CudaProbe.devices().get(0);
        assertTrue(first.startsWith("cuda:0: ") && first.contains("compute capability")
                && first.contains("cuDNN"), first);
    }

    /** A fresh JVM doing CPU work must not load a single CUDA class (checked with -verbose:class). */
    @Test
    void cpuWorkLoadsNothingOfCuda() throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "-verbose:class", "-cp",
                System.getProperty("java.class.path"), CpuOnlyMain.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child JVM did not finish");
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), text);
        List<String> lines = text.lines().toList();
        assertTrue(lines.contains("ok"), text);
        for (String line : lines) {
            assertFalse(line.contains("org.bytedeco.cuda") || line.contains("dev.soma.backend.CudaProbe")
                    || line.contains("dev.soma.jni.CudaKernels") || line.contains("dev.soma.backend.cuda."),
                    "a CPU-only run loaded: " + line);
        }
    }
}
