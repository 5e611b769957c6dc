package dev.soma.cli;

import dev.soma.errors.SomaException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;

/** The {@code soma} command (bin/soma runs it): one subcommand per job. */
@Command(name = "soma", mixinStandardHelpOptions = true, versionProvider = SomaVersion.Provider.class,
        description = "Soma: a deep-learning engine for the JVM.",
        subcommands = {InfoCommand.class, FetchCommand.class, TrainCommand.class, EvaluateCommand.class,
                PredictCommand.class, ExplainCommand.class, BenchCommand.class, SampleCommand.class, GenerateCommand.class,
                CommandLine.HelpCommand.class})
public final class SomaCli implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The configured command line. Soma's own errors, I/O errors and refused option values print one line (the message says what
     * went wrong); anything else prints its stack trace, since it is a bug. {@code -Dsoma.debug=true} always
     * prints the trace.
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new SomaCli());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            PrintWriter err = cmd.getErr();
            // IllegalArgumentException is how commands refuse bad option values: the user's error, not a bug.
            boolean expected = ex instanceof SomaException || ex instanceof IOException || ex instanceof IllegalArgumentException;
            if (expected && !Boolean.getBoolean("soma.debug")) {
                err.println("soma " + cmd.getCommandName() + ": " + ex.getMessage());
            } else {
                ex.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return cl;
    }
}
