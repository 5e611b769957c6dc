package dev.soma.cli;

import dev.soma.data.Mnist;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/** The dataset options that train, evaluate and predict share (a picocli mixin). */
final class DatasetOptions {
    @Option(names = "--dataset", defaultValue = "mnist", description = "mnist, fashion-mnist or a folder of IDX files")
    String dataset;

    @Option(names = "--data-root", paramLabel = "DIR", description = "where datasets live (default ./data)")
    Path dataRoot;

    Mnist.Dataset load(PrintWriter out) throws IOException {
        return ImageData.load(dataset, dataRoot, out);
    }
}
