package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.DatasetFetcher;
import dev.soma.data.Mnist;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/** Loads an MNIST-format dataset (a known name, fetched when missing, or a folder) for the commands. */
final class ImageData {
    private ImageData() {}

    static Mnist.Dataset load(String dataset, Path dataRoot, PrintWriter out) throws IOException {
        Path root = dataRoot != null ? dataRoot : DatasetFetcher.defaultDataRoot();
        Path folder = DatasetFetcher.resolve(dataset, root, line -> {
            out.println(line);
            out.flush();
        });
        return Mnist.load(folder);
    }

    static ArrayDataset toDataset(Mnist.Split s) {
        return ArrayDataset.withLabels(s.images(), new long[] {s.height(), s.width(), 1}, s.labels());
    }
}
