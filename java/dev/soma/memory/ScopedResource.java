package dev.soma.memory;

/**
 * Something native that a {@link Scope} may own: created inside a scope, it is closed when the scope closes,
 * unless it was kept ({@link #keep()}) or moved out ({@link Scope#escape}).
 */
public abstract class ScopedResource implements AutoCloseable {
    Scope owner;

    /** Registers with the thread's innermost open scope, if any. Call once, from the constructor. */
    protected final void joinCurrentScope() {
        Scope scope = Scope.current();
        if (scope != null) scope.adopt(this);
    }

    /** The scope that will close this resource, or null when the caller owns it. */
    public final Scope owner() {
        return owner;
    }

    /** Takes this resource out of its scope: the caller now closes it. Returns this for chaining. */
    @SuppressWarnings("unchecked")
    public <T extends ScopedResource> T keep() {
        owner = null;
        return (T) this;
    }

    @Override
    public abstract void close();
}
