package dev.soma.errors;

/** Thrown for a tensor used after it was closed. */
public class ClosedTensorException extends SomaException {
    public ClosedTensorException(String message) {
        super(message);
    }

    public ClosedTensorException(String message, Throwable cause) {
        super(message, cause);
    }
}
