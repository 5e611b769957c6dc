package dev.soma.cli;

import dev.soma.tensor.Device;
import dev.soma.tensor.Precision;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.*;

/** --precision: parsing, the one-line fallback to f32 on a CPU without bf16, and the refusal off the CPU. */
class PrecisionOptionTest {
    private static PrecisionOption option(String value) {
        PrecisionOption o = new PrecisionOption();
        o.precision = value;
        return o;
    }

    @Test
    void bf16OnACpuWithoutItSaysSoInOneLineAndRunsF32() {
        StringWriter text = new StringWriter();
        Precision p = option("bf16").resolve("train", Device.cpu(), new PrintWriter(text, true),
                () -> "not supported on this CPU (Test CPU, AVX2+FMA): it has neither the avx512_bf16 nor the amx_bf16 feature flag");
        assertEquals(Precision.F32, p);
        String out = text.toString();
        assertEquals(1, out.strip().lines().count(), out);
        assertTrue(out.contains("Test CPU") && out.contains("running in f32 instead"), out);
    }

    @Test
    void bf16WhereSupportedAndF32PrintNothing() {
        StringWriter text = new StringWriter();
        assertEquals(Precision.BF16, option("bf16").resolve("train", Device.cpu(), new PrintWriter(text, true), () -> null));
        assertEquals(Precision.F32, option("f32").resolve("train", Device.cpu(), new PrintWriter(text, true),
                () -> { throw new AssertionError("f32 must not ask about bf16"); }));
        assertEquals("", text.toString());
    }

    @Test
    void badValuesAndOtherDevicesAreRefused() {
        PrintWriter sink = new PrintWriter(new StringWriter());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> option("fp16").resolve("train", Device.cpu(), sink, () -> null));
        assertTrue(bad.getMessage().contains("--precision") && bad.getMessage().contains("fp16"), bad.getMessage());
        UnsupportedOperationException gpu = assertThrows(UnsupportedOperationException.class,
                () -> option("bf16").resolve("bench train-step", Device.cuda(0), sink, () -> null));
        assertTrue(gpu.getMessage().contains("CPU only") && gpu.getMessage().contains("cuda:0"), gpu.getMessage());
    }
}
