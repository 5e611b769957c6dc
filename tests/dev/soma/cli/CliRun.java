package dev.soma.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One run of the soma command line in this JVM, as the CLI tests see it: exit code, standard output and error. */
record CliRun(int exit, String out, String err) {
    static CliRun of(String... args) {
        CommandLine cl = SomaCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int exit = cl.execute(args);
        return new CliRun(exit, out.toString(), err.toString());
    }

    /**
     * {@code train MODEL --data-root EMPTY ARGS...} fails with exit code 1 and one line containing {@code part},
     * before any data is fetched into the empty root.
     */
    static void refusedBeforeData(Path emptyRoot, String model, String part, String... args) throws Exception {
        String[] base = {"train", model, "--data-root", emptyRoot.toString()};
        String[] all = java.util.Arrays.copyOf(base, base.length + args.length);
        System.arraycopy(args, 0, all, base.length, args.length);
        CliRun r = of(all);
        String what = String.join(" ", all) + " -> " + r.err();
        assertEquals(1, r.exit(), what);
        assertEquals(1, r.err().strip().lines().count(), "not one line: " + what);
        assertTrue(r.err().contains(part), what);
        try (Stream<Path> s = Files.list(emptyRoot)) {
            assertEquals(0, s.count(), "data was loaded before refusing: " + what);
        }
    }
}
