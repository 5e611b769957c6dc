package dev.soma.util;

import java.util.List;

/**
 * How C2's compile thresholds are scaled, for benchmark reports. bin/soma scales them by 0.1 for {@code dev.soma}
 * methods: those that a training step calls once or twice otherwise reach C2 only after 5,000-15,000 steps, and
 * each such compilation (up to 180 ms) then takes a core from the step's two threads on a two-core host. A process
 * embedding Soma chooses its own JVM options; the report says which its timings had.
 */
public final class JitThresholds {
    private JitThresholds() {}

    private static final String PER_METHOD = "-XX:CompileCommand=CompileThresholdScaling,";
    private static final String JVM_WIDE = "-XX:CompileThresholdScaling=";

    /**
     * The JVM-wide scaling ("1.0" unless set), then each per-method scaling on the command line as
     * {@code pattern=value}, comma-separated: "1.0,dev.soma.*::*=0.1" under bin/soma; "?" where the JVM does not say.
     */
    public static String scaling() {
        try {
            return scaling(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        } catch (LinkageError | RuntimeException unavailable) {
            return "?";
        }
    }

    static String scaling(List<String> jvmArguments) {
        String jvmWide = "1.0";
        StringBuilder perMethod = new StringBuilder();
        for (String a : jvmArguments) {
            if (a.startsWith(JVM_WIDE)) {
                jvmWide = a.substring(JVM_WIDE.length());
            } else if (a.startsWith(PER_METHOD)) {
                String rest = a.substring(PER_METHOD.length());
                int comma = rest.lastIndexOf(',');
                perMethod.append(',').append(rest, 0, Math.max(comma, 0)).append('=').append(rest.substring(comma + 1));
            }
        }
        return jvmWide + perMethod;
    }
}
