package dev.soma.cli;

import org.junit.jupiter.api.Test;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/** bench op's throughput panels: sizes and throughputs on log axes whose ticks say which size and value they are. */
class ThroughputPlotTest {
    private static BenchOpCommand.Row row(long size, double gflops, double gbps) {
        return new BenchOpCommand.Row("add@cpu", "cpu", size, "[" + size + "]", 1, 1, 1, gflops, gbps, 0, 0);
    }

    @Test
    void aSweepInsideOneDecadeIsDrawnOnLogAxesWithLabelledTicks() {
        List<BenchOpCommand.Row> rows = List.of(row(65536, 2, 20), row(262144, 4, 40), row(1048576, 8, 80));
        XYChart gbps = ThroughputPlot.panel("add", "GB/s", rows, List.of(), false);
        XYSeries s = gbps.getSeriesMap().get("add@cpu");
        double[] x = s.getXData();
        double[] y = s.getYData();
        assertEquals(16.0, x[0], 1e-12, "sizes at log2(size)");
        assertEquals(20.0, x[2], 1e-12);
        assertEquals(Math.log10(80), y[2], 1e-12, "throughput at log10(value)");
        Function<Double, String> xTicks = gbps.getStyler().getxAxisTickLabelsFormattingFunction();
        Function<Double, String> yTicks = gbps.getStyler().getyAxisTickLabelsFormattingFunction();
        assertNotNull(xTicks);
        assertNotNull(yTicks);
        assertEquals("256Ki", xTicks.apply(x[1]));
        assertEquals("40", yTicks.apply(y[1]));
    }

    @Test
    void aZeroThroughputKeepsALinearAxis() {
        List<BenchOpCommand.Row> rows = List.of(row(64, 0, 1), row(128, 0, 2));
        XYChart gflops = ThroughputPlot.panel("copy", "GFLOP/s", rows, List.of(), true);
        assertNull(gflops.getStyler().getyAxisTickLabelsFormattingFunction(), "log10(0) has no place on an axis");
        assertEquals(0.0, gflops.getSeriesMap().get("add@cpu").getYData()[0]);
    }
}
