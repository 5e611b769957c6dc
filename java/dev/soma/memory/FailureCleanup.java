package dev.soma.memory;

import java.util.function.Supplier;

/**
 * Runs a call so that a failure frees every tensor the call created, whether or not a scope is open (outside one
 * nobody else could: the caller never saw them). On success nothing changes: what the call created belongs to the
 * enclosing scope, or to the caller when there is none, exactly as without this wrapper.
 */
public final class FailureCleanup {
    private FailureCleanup() {}

    public static <T> T run(Supplier<T> call) {
        Scope scope = Scope.open();
        T result;
        try {
            result = call.get();
        } catch (RuntimeException | Error e) {
            try {
                scope.close();
            } catch (RuntimeException closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
        scope.closeHandingOver();
        return result;
    }
}
