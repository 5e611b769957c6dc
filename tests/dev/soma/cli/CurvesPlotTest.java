package dev.soma.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CurvesPlotTest {
    @Test
    void writesThePngAndAnswersItsPath(@TempDir Path dir) {
        Path png = dir.resolve("curves.png");
        assertEquals(png.toString(), CurvesPlot.write(png, Map.of("loss", new double[] {1.0, 0.5})));
        assertTrue(Files.isRegularFile(png));
    }

    @Test
    void aPngThatCannotBeWrittenIsReportedNotThrown(@TempDir Path dir) throws Exception {
        Path folder = Files.createDirectory(dir.resolve("curves.png"));  // a folder where the file should go
        Files.writeString(folder.resolve("keep"), "x");
        String text = CurvesPlot.write(folder, Map.of("loss", new double[] {1.0, 0.5}));
        assertTrue(text.startsWith("not written ("), text);
        String empty = CurvesPlot.write(dir.resolve("other.png"), Map.of());
        assertTrue(empty.contains("no series"), empty);
    }
}
