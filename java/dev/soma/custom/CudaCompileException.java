package dev.soma.custom;

import dev.soma.errors.SomaException;

/**
 * The compiler rejected a custom op's CUDA source. {@link #log()} is the compiler's own log, each diagnostic naming
 * the program ({@code <op>.cu}) and the line of the op's source: NVRTC's on a real device
 * ({@code silu.cu(7): error: identifier "y" is undefined}), the host compiler's on the emulated device
 * ({@code silu.cu:7:12: error: 'y' was not declared in this scope}).
 */
public final class CudaCompileException extends SomaException {
    private final String log;

    public CudaCompileException(String op, String options, String log) {
        this(op, "NVRTC", options, log);
    }

    /** {@code compiler}: who rejected it, as the message should say ("NVRTC", "the host compiler (g++, ...)"). */
    public CudaCompileException(String op, String compiler, String options, String log) {
        super("custom op " + op + ": " + compiler + " could not compile its CUDA source (options " + options + "):\n" + log);
        this.log = log;
    }

    public String log() {
        return log;
    }
}
