package dev.soma.testing;

import dev.soma.backend.Backends;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * JUnit extension: every test must leave the CPU pool with as many live bytes as it found (zero in a
 * well-behaved suite). Use with {@code @ExtendWith(NoLeaks.class)}.
 */
public final class NoLeaks implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoLeaks.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("live", Backends.cpu().pool().stats().allocatedBytes());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        long before = context.getStore(NS).get("live", Long.class);
        long after = Backends.cpu().pool().stats().allocatedBytes();
        assertEquals(before, after, "live bytes in the CPU pool changed across the test (leak): "
                + Backends.cpu().pool().stats());
    }
}
