package dev.soma.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

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
}
