package dev.soma.errors;

/** A memory pool could not satisfy a request even after freeing its cache; carries the pool's statistics. */
public class OutOfMemoryException extends SomaException {
    private final String poolStatistics;

    public OutOfMemoryException(String message, String poolStatistics) {
        super(message + "\n" + poolStatistics);
        this.poolStatistics = poolStatistics;
    }

    public String poolStatistics() {
        return poolStatistics;
    }
}
