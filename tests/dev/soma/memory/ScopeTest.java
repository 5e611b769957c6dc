package dev.soma.memory;

import dev.soma.backend.Backends;
import dev.soma.errors.ClosedTensorException;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.*;

@ExtendWith(NoLeaks.class)
class ScopeTest {
    private static long live() {
        return Backends.cpu().pool().stats().allocatedBytes();
    }

    @Test
    void closingAScopeReturnsThePoolToZeroLiveBytes() {
        long before = live();
        Tensor leaked;
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.ones(1000);
            Tensor b = Tensor.zeros(3, 4);
            leaked = a.reshape(10, 100); // a view: shares a's storage
            assertTrue(live() > before);
            assertEquals(3, s.size());
            assertSame(s, b.owner());
        }
        assertEquals(before, live());
        assertTrue(leaked.isClosed());
        assertThrows(ClosedTensorException.class, leaked::toFloatArray);
    }

    @Test
    void escapeMovesATensorToTheEnclosingScope() {
        long before = live();
        try (Scope outer = Scope.open()) {
            Tensor kept;
            try (Scope inner = Scope.open()) {
                kept = inner.escape(Tensor.full(2.5, 4));
                Tensor.ones(8);
            }
            assertFalse(kept.isClosed());
            assertSame(outer, kept.owner());
            assertArrayEquals(new float[] {2.5f, 2.5f, 2.5f, 2.5f}, kept.toFloatArray());
        }
        assertEquals(before, live());
    }

    @Test
    void keptTensorsOutliveTheirScopeUntilClosed() {
        long before = live();
        Tensor kept;
        try (Scope s = Scope.open()) {
            kept = Tensor.ones(16).keep();
        }
        assertFalse(kept.isClosed());
        assertTrue(live() > before);
        kept.close();
        kept.close(); // idempotent
        assertEquals(before, live());
    }

    @Test
    void viewsKeepStorageAliveUntilTheLastOneCloses() {
        long before = live();
        Tensor base = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor view = base.transpose(0, 1);
        base.close();
        assertTrue(live() > before, "storage stays while a view uses it");
        assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, view.toFloatArray());
        view.close();
        assertEquals(before, live());
    }

    @Test
    void scopesMustCloseInOrder() {
        Scope outer = Scope.open();
        Scope inner = Scope.open();
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        outer.close();
    }
}
