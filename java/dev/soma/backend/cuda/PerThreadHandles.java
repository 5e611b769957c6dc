package dev.soma.backend.cuda;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A vendor handle (cuBLAS, cuDNN) per thread that calls, destroyed once that thread has ended and its {@link Thread}
 * object has been collected. A service answering from short-lived threads (a cached thread pool, thread-per-request)
 * would otherwise keep one handle, with the device memory the library holds for it, per thread it ever ran. While its
 * thread lives a handle stays with it, and so with the stream that thread works on.
 */
final class PerThreadHandles<H> {
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "soma-vendor-handle-cleaner");
        t.setDaemon(true);
        return t;
    });

    private final ThreadLocal<H> handles = new ThreadLocal<>();
    private final Supplier<H> create;
    private final Consumer<H> destroy;
    private final AtomicInteger live = new AtomicInteger();
    /** Handles of every kind made and not yet destroyed, in this process (for the GPU check of their release). */
    private static final AtomicInteger LIVE_EVERYWHERE = new AtomicInteger();

    /**
     * @param create makes a handle on the calling thread (may throw: nothing is kept then)
     * @param destroy frees one, on the cleaner's thread: it must bind the device itself and swallow nothing it needs
     */
    PerThreadHandles(Supplier<H> create, Consumer<H> destroy) {
        this.create = create;
        this.destroy = destroy;
    }

    /** The calling thread's handle, made at its first call. */
    H get() {
        H h = handles.get();
        if (h != null) return h;
        H made = create.get();
        handles.set(made);
        live.incrementAndGet();
        LIVE_EVERYWHERE.incrementAndGet();
        // The action holds the handle and this object, never the thread, or the thread could not be collected.
        CLEANER.register(Thread.currentThread(), () -> {
            try {
                destroy.accept(made);
            } finally {
                live.decrementAndGet();
                LIVE_EVERYWHERE.decrementAndGet();
            }
        });
        return made;
    }

    /** Handles made and not yet destroyed. */
    int live() {
        return live.get();
    }

    /** Handles of every kind (cuBLAS, cuDNN) made and not yet destroyed in this process. */
    static int liveEverywhere() {
        return LIVE_EVERYWHERE.get();
    }
}
