package dev.soma.errors;

/** Thrown for shapes or sizes do not fit what the op expects. */
public class ShapeException extends SomaException {
    public ShapeException(String message) {
        super(message);
    }

    public ShapeException(String message, Throwable cause) {
        super(message, cause);
    }
}
