package dev.soma.cli;

import dev.soma.errors.SomaException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/** The {@code soma} command (bin/soma runs it): one subcommand per job. */
@Command(name = "soma", mixinStandardHelpOptions = true, versionProvider = SomaVersion.Provider.class,
        description = "Soma: a deep-learning engine for the JVM.",
        subcommands = {InfoCommand.class, FetchCommand.class, TrainCommand.class, EvaluateCommand.class,
                PredictCommand.class, ExplainCommand.class, AttackCommand.class, RobustnessCommand.class,
                BenchCommand.class, SampleCommand.class, GenerateCommand.class,
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
                err.println("soma " + cmd.getCommandName() + ": " + oneLine(ex));
            } else {
                ex.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return cl;
    }

    /**
     * The message of an expected failure as one readable line: the JDK's file-system exceptions carry only the
     * path (NoSuchFileException) or "path: Is a directory", which say nothing to a user on their own.
     */
    static String oneLine(Exception ex) {
        String m;
        if (ex instanceof NoSuchFileException f) {
            m = f.getFile() + ": no such file or folder";
        } else if (ex instanceof AccessDeniedException f) {
            m = f.getFile() + ": permission denied";
        } else if (ex instanceof FileSystemException f && f.getReason() != null) {
            m = f.getFile() + ": " + f.getReason().toLowerCase(java.util.Locale.ROOT)
                    + (f.getReason().equals("Is a directory") ? " (a folder where a file is expected)" : "");
        } else {
            m = String.valueOf(ex.getMessage());
        }
        return m.strip().replace('\n', ' ');
    }
}
