package dev.soma.util;

/**
 * How many methods the JIT compilers are compiling or have queued, from HotSpot's {@code compilerQueue} diagnostic
 * command (what {@code jcmd PID Compiler.queue} prints). The JVM's compilation-time counter only grows when a
 * compilation ends, so a C2 compilation that takes a second on a loaded core is invisible to it until then; the
 * queue shows it while it runs. About 0.3 ms a reading: for settling loops, not for every step.
 */
public final class JitQueue {
    private JitQueue() {}

    /** Compilations running plus queued; -1 where the JVM cannot say (another JVM, or no jdk.management). */
    public static int pending() {
        try {
            var server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
            var name = new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand");
            Object text = server.invoke(name, "compilerQueue", new Object[] {null},
                    new String[] {String[].class.getName()});
            return text instanceof String s ? count(s) : -1;
        } catch (LinkageError | javax.management.JMException | RuntimeException unavailable) {
            return -1;
        }
    }

    /**
     * Counts the task lines of a {@code compilerQueue} report: every non-blank line except the section headers
     * ("Current compiles:", "C1 compile queue:", ...) and "Empty".
     */
    static int count(String report) {
        int tasks = 0;
        for (String line : report.split("\n")) {
            String t = line.strip();
            if (t.isEmpty() || t.endsWith(":") || t.equals("Empty")) continue;
            tasks++;
        }
        return tasks;
    }
}
