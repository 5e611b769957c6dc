package dev.soma.cli;

import dev.soma.data.ArrayDataset;
import dev.soma.data.DatasetFetcher;
import dev.soma.data.Mnist;
import dev.soma.model.Model;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;

/** Loads an MNIST-format dataset (a known name, fetched when missing, or a folder) for the commands. */
final class ImageData {
    private ImageData() {}

    /** The known datasets that are text, not images. */
    static final Set<String> TEXT_DATASETS = Set.of("imdb", "kjv");

    static Mnist.Dataset load(String dataset, Path dataRoot, PrintWriter out) throws IOException {
        // Refused before anything is fetched: IMDB is 26 MB that Mnist.load would then reject.
        if (TEXT_DATASETS.contains(dataset.toLowerCase(Locale.ROOT)) && !dataset.contains("/")) {
            throw new IllegalArgumentException("--dataset " + dataset + " is text; this command reads images: mnist, "
                    + "fashion-mnist or a folder of MNIST-format IDX files");
        }
        Path root = dataRoot != null ? dataRoot : DatasetFetcher.defaultDataRoot();
        Path folder = DatasetFetcher.resolve(dataset, root, line -> {
            out.println(line);
            out.flush();
        });
        return Mnist.load(folder);
    }

    /** The classifier {@code m} (from {@code file}) takes images of the split's size. */
    static void requireFits(Path file, Model m, Mnist.Split s) {
        long[] in = m.exampleInputShape();
        if (in[0] != s.height() || in[1] != s.width()) {
            throw new IllegalArgumentException(file + " takes " + in[0] + "x" + in[1] + " images but the "
                    + "dataset's are " + s.height() + "x" + s.width());
        }
    }

    static ArrayDataset toDataset(Mnist.Split s) {
        return ArrayDataset.withLabels(s.images(), new long[] {s.height(), s.width(), 1}, s.labels());
    }
}
