package dev.soma.backend.dnnl;

import dev.soma.backend.ComputeThreads;
import dev.soma.memory.CachingPool;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Primitives of one kind by {@link PrimitiveKey}, least recently used evicted beyond a capacity (and destroyed).
 * A hit returns the existing primitive: no descriptor is built again. Counters say how often each happened,
 * so tests can check that a repeated shape is a hit.
 *
 * <p>oneDNN fixes a primitive's thread count when it builds it, so entries are per key and per
 * {@link ComputeThreads#current()} of the calling thread.
 *
 * <p>All access happens under {@link Dnnl#lock()}, so an evicted primitive is never destroyed while another
 * thread runs it. Use {@link #execute}, or hold the lock yourself around {@link #get} and the run.
 */
public final class PrimitiveCache {
    /** Hits, misses (= primitives built) and evictions so far, and the current size. */
    public record Stats(long hits, long builds, long evictions, int size) {}

    private final String name;
    private final int capacity;
    private record Entry(PrimitiveKey key, int threads) {}

    private final LinkedHashMap<Entry, DnnlPrimitive> map = new LinkedHashMap<>(64, 0.75f, true);
    private long hits;
    private long builds;
    private long evictions;

    public PrimitiveCache(String name, int capacity) {
        if (capacity < 1) throw new IllegalArgumentException(name + ": capacity " + capacity + " < 1");
        this.name = name;
        this.capacity = capacity;
    }

    /** The primitive for {@code key}, built by {@code build} on a miss. Call under {@link Dnnl#lock()}. */
    public DnnlPrimitive get(PrimitiveKey key, Supplier<DnnlPrimitive> build) {
        synchronized (Dnnl.lock()) {
            Entry entry = new Entry(key, ComputeThreads.current());
            DnnlPrimitive p = map.get(entry);
            if (p != null) {
                hits++;
                return p;
            }
            p = build.get();
            builds++;
            map.put(entry, p);
            if (map.size() > capacity) {
                Iterator<Map.Entry<Entry, DnnlPrimitive>> it = map.entrySet().iterator();
                DnnlPrimitive eldest = it.next().getValue();
                it.remove();
                eldest.close();
                evictions++;
            }
            return p;
        }
    }

    /** Looks up (or builds) the primitive and runs it on {@code addresses}; returns it. */
    public DnnlPrimitive execute(PrimitiveKey key, Supplier<DnnlPrimitive> build, CachingPool pool, long... addresses) {
        synchronized (Dnnl.lock()) {
            DnnlPrimitive p = get(key, build);
            p.execute(pool, addresses);
            return p;
        }
    }

    public Stats stats() {
        synchronized (Dnnl.lock()) {
            return new Stats(hits, builds, evictions, map.size());
        }
    }

    /** Destroys every cached primitive. */
    public void clear() {
        synchronized (Dnnl.lock()) {
            for (DnnlPrimitive p : map.values()) p.close();
            map.clear();
        }
    }

    @Override
    public String toString() {
        return name + " " + stats();
    }
}
