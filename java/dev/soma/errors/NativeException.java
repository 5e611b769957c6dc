package dev.soma.errors;

/** Thrown for a native or vendor library reported a failure. */
public class NativeException extends SomaException {
    public NativeException(String message) {
        super(message);
    }

    public NativeException(String message, Throwable cause) {
        super(message, cause);
    }
}
