package dev.soma.io;

import dev.soma.errors.SomaException;

import java.nio.file.Path;

/** A file's contents do not follow its format (bad magic, truncated, inconsistent header). Names the file. */
public class CorruptFileException extends SomaException {
    private final Path file;

    public CorruptFileException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    public CorruptFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    public Path file() {
        return file;
    }
}
