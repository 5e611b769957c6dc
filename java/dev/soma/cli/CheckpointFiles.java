package dev.soma.cli;

import dev.soma.model.FunctionalModel;
import dev.soma.model.Model;
import dev.soma.model.Sequential;
import dev.soma.util.ImageGrid;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The --checkpoint of the commands that load a model (a checkpoint file, or the run folder holding it): a missing file,
 * a folder without the checkpoint and a checkpoint of another kind of model are refused with one line saying which
 * (before any data is loaded; the command line prefixes "soma COMMAND: "), instead of a bare path, "Is a directory",
 * or a shape error from deep inside the model.
 */
final class CheckpointFiles {
    private CheckpointFiles() {}

    /** {@code given} as a checkpoint file, or a run folder holding {@code name}. */
    static Path fileOrFolder(Path given, String name) {
        if (Files.isDirectory(given)) {
            Path inside = given.resolve(name);
            if (!Files.isRegularFile(inside)) {
                throw new IllegalArgumentException("--checkpoint " + given + " is a folder without " + name
                        + "; give the checkpoint file or the run folder that holds it");
            }
            return inside;
        }
        return existing(given);
    }

    private static Path existing(Path file) {
        if (!Files.exists(file)) throw new IllegalArgumentException("--checkpoint " + file + ": no such file");
        if (!Files.isReadable(file)) throw new IllegalArgumentException("--checkpoint " + file + ": not readable");
        return file;
    }

    /** The model takes images {@code [height, width, 1]} and gives class probabilities {@code [classes]}. */
    static void requireImageClassifier(Path file, Model m) {
        long[] in = oneInput(m);
        long[] out = in == null ? null : oneOutput(m);
        boolean ok = in != null && in.length == 3 && in[2] == 1 && out != null && out.length == 1 && out[0] >= 2;
        if (!ok) {
            throw new IllegalArgumentException(file + " holds a model with input " + shape(in)
                    + " and output " + shape(out) + ", not an image classifier (expected input [height, width, 1] and "
                    + "output [classes], as 'soma train cnn' or 'soma train mlp' writes)");
        }
    }

    /** The model maps a latent vector {@code [latent]} to an image. */
    static void requireGenerator(Path file, Sequential m) {
        long[] in = m.layers().isEmpty() ? null : m.layers().get(0).inputShape();
        long[] out = in == null ? null : m.outputShape();
        boolean ok = in != null && in.length == 1 && out != null && drawable(out);
        if (!ok) {
            throw new IllegalArgumentException(file + " holds a model with input " + shape(in)
                    + " and output " + shape(out) + ", not a generator (expected input [latent] and an image output, "
                    + "as generator.safetensors of 'soma train gan')");
        }
    }

    /** The per-example shape of the model's one input; null when unbuilt or when it has several. */
    private static long[] oneInput(Model m) {
        try {
            return m.exampleInputShape();
        } catch (IllegalStateException severalInputs) {
            return null;
        }
    }

    /** The per-example shape of the model's one output (Sequential or functional); null otherwise. */
    private static long[] oneOutput(Model m) {
        if (m instanceof Sequential s) return s.outputShape();
        if (m instanceof FunctionalModel f && f.outputs().size() == 1) return f.outputs().get(0).shape();
        return null;
    }

    private static boolean drawable(long[] out) {
        try {
            ImageGrid.imageShape(out);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static String shape(long[] s) {
        return s == null ? "(unbuilt)" : Arrays.toString(s);
    }
}
