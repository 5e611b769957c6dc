package dev.soma.memory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Deterministic lifetimes: every tensor created on this thread while a scope is open belongs to the
 * innermost open scope and is closed with it. {@code fit} opens one per training step.
 *
 * <pre>{@code
 * try (Scope scope = Scope.open()) {
 *     Tensor y = x.matmul(w).relu();
 *     result = scope.escape(y);   // survives this scope, owned by the enclosing one (or by the caller)
 * }
 * }</pre>
 * Scopes nest and must be closed in reverse order of opening, on the thread that opened them.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<Deque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<ScopedResource> owned = new ArrayList<>();
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private Scope() {}

    public static Scope open() {
        Scope scope = new Scope();
        STACK.get().push(scope);
        return scope;
    }

    /** The innermost open scope of this thread, or null. */
    public static Scope current() {
        return STACK.get().peek();
    }

    void adopt(ScopedResource r) {
        r.owner = this;
        owned.add(r);
    }

    /** Moves a resource from this scope to the enclosing one (or to the caller when there is none). */
    public <T extends ScopedResource> T escape(T resource) {
        if (resource.owner != this) {
            throw new IllegalArgumentException("Scope.escape: the resource does not belong to this scope");
        }
        resource.owner = null;
        Scope parent = parent();
        if (parent != null) parent.adopt(resource);
        return resource;
    }

    /** Number of resources this scope will close. */
    public int size() {
        int n = 0;
        for (ScopedResource r : owned) if (r.owner == this) n++;
        return n;
    }

    private Scope parent() {
        boolean seen = false;
        for (Scope s : STACK.get()) {
            if (seen) return s;
            if (s == this) seen = true;
        }
        return null;
    }

    /**
     * Closes this scope without closing what it owns: each resource moves to the enclosing scope (or to the caller
     * when there is none), as if this scope had never been opened. {@link FailureCleanup} pairs it with
     * {@link #close()} so that only a call that fails frees what it created.
     */
    public void closeHandingOver() {
        if (closed) return;
        Scope parent = pop();
        for (ScopedResource r : owned) {
            if (r.owner != this) continue;
            r.owner = null;
            if (parent != null) parent.adopt(r);
        }
        owned.clear();
    }

    /** Leaves the thread's scope stack (checking thread and order) and answers the enclosing scope, or null. */
    private Scope pop() {
        if (Thread.currentThread() != thread) {
            throw new IllegalStateException("a Scope must be closed on the thread that opened it");
        }
        Deque<Scope> stack = STACK.get();
        if (stack.peek() != this) {
            throw new IllegalStateException("Scopes must be closed in reverse order of opening");
        }
        stack.pop();
        closed = true;
        return stack.peek();
    }

    @Override
    public void close() {
        if (closed) return;
        pop();
        RuntimeException first = null;
        for (int i = owned.size() - 1; i >= 0; i--) {
            ScopedResource r = owned.get(i);
            if (r.owner != this) continue;
            r.owner = null;
            try {
                r.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        owned.clear();
        if (first != null) throw first;
    }
}
