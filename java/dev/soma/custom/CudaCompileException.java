package dev.soma.custom;

import dev.soma.errors.SomaException;

/**
 * NVRTC rejected a custom op's CUDA source. {@link #log()} is NVRTC's own log: each diagnostic names the
 * program ({@code <op>.cu}) and the line, e.g. {@code silu.cu(7): error: identifier "y" is undefined}.
 */
public final class CudaCompileException extends SomaException {
    private final String log;

    public CudaCompileException(String op, String options, String log) {
        super("custom op " + op + ": NVRTC could not compile its CUDA source (options " + options + "):\n" + log);
        this.log = log;
    }

    public String log() {
        return log;
    }
}
