package dev.soma.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.soma.backend.CudaProbe;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** bench op / bench ceilings on tiny sweeps: the table, CSV, JSON, PNG, --compare and unusable devices. */
@ExtendWith(NoLeaks.class)
class BenchOpCliTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void sweepWritesTableCsvJsonAndPlotAndComparesTwoImplementations(@TempDir Path dir) throws Exception {
        CliRun r = run("bench", "op", "silu", "--sizes", "1000,4000", "--warmup", "1", "--repeats", "2",
                "--compare", "silu-composite", "--plot", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("ceilings cpu: GEMM"), r.out());
        assertTrue(r.out().contains("silu@cpu"), r.out());
        assertTrue(r.out().contains("silu-composite@cpu"), r.out());
        assertTrue(r.out().contains("the time of silu@cpu"), r.out());
        List<String> csv = Files.readAllLines(dir.resolve("op-silu.csv"));
        assertEquals(5, csv.size(), csv::toString); // header + 2 sizes x 2 variants
        assertTrue(csv.get(0).startsWith("variant,device,size,shape,median_ms"));
        JsonObject json = JsonParser.parseString(Files.readString(dir.resolve("op-silu.json"))).getAsJsonObject();
        assertEquals(4, json.getAsJsonArray("rows").size());
        JsonObject row = json.getAsJsonArray("rows").get(0).getAsJsonObject();
        double ms = row.get("medianMs").getAsDouble();
        assertTrue(ms > 0 && row.get("minMs").getAsDouble() <= ms && ms <= row.get("maxMs").getAsDouble());
        // GB/s from the declared cost: 2 * 4 bytes per element of silu in f32
        assertEquals(8.0 * 1000 / (ms / 1e3) / 1e9, row.get("gbps").getAsDouble(), 1e-9 * 8000 / ms * 1e3 + 1e-6);
        assertTrue(json.getAsJsonArray("ceilings").get(0).getAsJsonObject().get("gemm_gflops").getAsDouble() > 0);
        byte[] png = Files.readAllBytes(dir.resolve("op-silu.png"));
        assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
    }

    @Test
    void everyBuiltInOpRunsOnItsSmallestSize(@TempDir Path dir) {
        for (String[] c : new String[][] {{"add", "64"}, {"relu", "64"}, {"matmul", "16"}, {"softmax", "32"}, {"conv2d", "4"},
                {"topk", "16"}}) {
            CliRun r = run("bench", "op", c[0], "--sizes", c[1], "--warmup", "0", "--repeats", "1", "--out", dir.toString());
            assertEquals(0, r.exit(), c[0] + ": " + r.err());
            assertTrue(r.out().contains(c[0] + "@cpu"), r.out());
        }
    }

    @Test
    void aCudaDeviceThatCannotRunSaysWhy(@TempDir Path dir) {
        org.junit.jupiter.api.Assumptions.assumeFalse(CudaProbe.result().usable(), "a GPU is present");
        CliRun r = run("bench", "op", "add", "--sizes", "64", "--repeats", "1", "--compare", "cuda:0", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("add@cuda:0: not usable: CUDA is not"), r.out());
        CliRun c = run("bench", "ceilings", "--device", "cuda:0", "--repeats", "1");
        assertEquals(1, c.exit());
        assertTrue(c.out().contains("cuda:0: not usable: CUDA is not"), c.out());
        CliRun p = run("bench", "op", "add", "--device", "cuda:0", "--sizes", "64", "--out", dir.toString());
        assertEquals(1, p.exit());
        assertTrue(p.err().contains("cuda:0 is not usable"), p.err());
    }

    @Test
    void badArguments(@TempDir Path dir) {
        CliRun unknown = run("bench", "op", "nosuchop", "--out", dir.toString());
        assertNotEquals(0, unknown.exit());
        assertTrue((unknown.out() + unknown.err()).contains("unknown op 'nosuchop'"), unknown.err());
        CliRun zero = run("bench", "op", "add", "--sizes", "0", "--out", dir.toString());
        assertNotEquals(0, zero.exit());
        CliRun alone = run("bench", "op", "--list"); // as docs/custom-ops.md shows it
        assertEquals(0, alone.exit(), alone.err());
        assertTrue(alone.out().contains("conv2d") && alone.out().contains("silu"), alone.out());
        CliRun none = run("bench", "op", "--out", dir.toString());
        assertNotEquals(0, none.exit());
        assertTrue(none.err().contains("--list"), none.err());
        CliRun list = run("bench", "op", "add", "--list");
        assertEquals(0, list.exit());
        assertTrue(list.out().contains("conv2d") && list.out().contains("topk"), list.out());
    }
}
