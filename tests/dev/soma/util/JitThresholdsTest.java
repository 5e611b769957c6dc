package dev.soma.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class JitThresholdsTest {
    @Test
    void theReportNamesTheJvmWideScalingAndEachPerMethodOne() {
        assertEquals("1.0", JitThresholds.scaling(List.of("-Xmx1g", "-Djava.awt.headless=true")));
        assertEquals("0.5", JitThresholds.scaling(List.of("-XX:CompileThresholdScaling=0.5")));
        assertEquals("1.0,dev.soma.*::*=0.1", JitThresholds.scaling(List.of("-XX:CompileCommand=quiet",
                "-XX:CompileCommand=CompileThresholdScaling,dev.soma.*::*,0.1")));
        assertEquals("0.2,dev/soma/*.*=0.1,java.util.*::*=2", JitThresholds.scaling(List.of(
                "-XX:CompileCommand=CompileThresholdScaling,dev/soma/*.*,0.1", "-XX:CompileThresholdScaling=0.2",
                "-XX:CompileCommand=CompileThresholdScaling,java.util.*::*,2")));
    }

    @Test
    void thisJvmsOwnArgumentsAreRead() {
        String s = JitThresholds.scaling();
        assertTrue(s.matches("[0-9.]+(,[^,=]+=[0-9.]+)*"), s);
    }
}
