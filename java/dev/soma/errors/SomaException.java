package dev.soma.errors;

/**
 * Root of Soma's exception family. Messages name the op or layer, the shapes, dtypes and devices involved,
 * and what was expected.
 */
public class SomaException extends RuntimeException {
    public SomaException(String message) {
        super(message);
    }

    public SomaException(String message, Throwable cause) {
        super(message, cause);
    }
}
