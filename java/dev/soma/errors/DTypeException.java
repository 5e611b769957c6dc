package dev.soma.errors;

/** Thrown for a dtype the op does not accept. */
public class DTypeException extends SomaException {
    public DTypeException(String message) {
        super(message);
    }

    public DTypeException(String message, Throwable cause) {
        super(message, cause);
    }
}
