package dev.soma.cli;

import dev.soma.data.DatasetFetcher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code soma fetch mnist fashion-mnist}: puts datasets into the data folder, checked by SHA-256. */
@Command(name = "fetch", mixinStandardHelpOptions = true,
        description = "Fetch datasets (mnist, fashion-mnist, imdb, kjv) into the data folder and check their SHA-256; "
                + "does nothing for files already present and correct.")
final class FetchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "DATASET", description = "mnist, fashion-mnist, imdb or kjv")
    List<String> datasets;

    @Option(names = "--data-root", paramLabel = "DIR",
            description = "where datasets live (default: -Dsoma.data, $SOMA_DATA, else ./data)")
    Path dataRoot;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path root = dataRoot != null ? dataRoot : DatasetFetcher.defaultDataRoot();
        for (String name : datasets) {
            DatasetFetcher.Known k = DatasetFetcher.Known.byName(name);
            Path folder = DatasetFetcher.fetch(k, root, line -> {
                out.println(line);
                out.flush();
            });
            out.println(k.id + ": ready in " + folder);
        }
        out.flush();
        return 0;
    }
}
