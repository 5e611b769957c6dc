package dev.soma.backend;

import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * Tensors uploaded to a device ahead of their use ({@link Backend#prefetch}): on a GPU their copies run on a
 * second stream while the current step computes. {@link #use()} orders the caller's stream after those copies
 * (once); {@link #close()} frees the tensors (the caller owns them: they belong to no scope).
 */
public final class Prefetched implements AutoCloseable {
    private final List<Tensor> tensors;
    private Runnable beforeUse;
    private Runnable discard;
    private boolean closed;

    /**
     * @param beforeUse run by the first {@link #use()}: makes the current stream wait for the uploads
     * @param discard   run by {@link #close()} when the tensors were never used (releases the upload's event)
     */
    public Prefetched(List<Tensor> tensors, Runnable beforeUse, Runnable discard) {
        for (Tensor t : tensors) t.keep();
        this.tensors = List.copyOf(tensors);
        this.beforeUse = beforeUse;
        this.discard = discard;
    }

    /** Tensors that are ready as soon as they exist (the CPU: uploads are plain copies). */
    public static Prefetched ready(List<Tensor> tensors) {
        return new Prefetched(tensors, null, null);
    }

    /** The tensors, with the caller's stream ordered after their uploads. */
    public List<Tensor> use() {
        if (closed) throw new IllegalStateException("Prefetched.use: already closed");
        if (beforeUse != null) {
            Runnable r = beforeUse;
            beforeUse = null;
            discard = null;
            r.run();
        }
        return tensors;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            if (discard != null) discard.run();
        } finally {
            for (Tensor t : tensors) t.close();
        }
    }
}
