package dev.soma.testing;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * System properties that a test sets or clears, put back as they were when it closes, whatever the test did in
 * between: {@code try (TemporaryProperties p = new TemporaryProperties()) { p.set(KEY, "1.5"); ... }}, or one per test
 * made in {@code @BeforeEach} and closed in {@code @AfterEach}. A property set on the command line (-D) survives.
 */
public final class TemporaryProperties implements AutoCloseable {
    /** Each touched property's value before the first touch (null: it was not set). */
    private final Map<String, String> before = new LinkedHashMap<>();

    public TemporaryProperties set(String key, String value) {
        remember(key);
        System.setProperty(key, value);
        return this;
    }

    public TemporaryProperties clear(String key) {
        remember(key);
        System.clearProperty(key);
        return this;
    }

    private void remember(String key) {
        if (!before.containsKey(key)) before.put(key, System.getProperty(key));
    }

    @Override
    public void close() {
        before.forEach((key, value) -> {
            if (value == null) System.clearProperty(key);
            else System.setProperty(key, value);
        });
        before.clear();
    }
}
