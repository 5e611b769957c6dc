package dev.soma.backend.dnnl;

import dev.soma.memory.CachingPool;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.dnnl.dnnl_exec_arg_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc;
import org.bytedeco.dnnl.dnnl_primitive;
import org.bytedeco.dnnl.dnnl_primitive_desc;

import java.util.ArrayList;
import java.util.List;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * A created oneDNN primitive, ready to run on raw addresses: it owns its primitive descriptor, the primitive,
 * one memory object per argument (bound to a new address before each run, never allocating) and the
 * argument list. A primitive created with {@link Dnnl#userScratchpad()} gets its scratchpad from Soma's pool
 * for the length of each run, so oneDNN never allocates behind the pool's back.
 *
 * <p>Not thread-safe on its own: {@link #execute} takes {@link Dnnl#lock()}; {@link #close} must only be
 * called under that lock too (the caches do) or when no other thread can reach the primitive.
 */
public final class DnnlPrimitive implements AutoCloseable {
    private final String name;
    private final dnnl_primitive_desc pd;
    private final dnnl_primitive primitive;
    private final int[] args;
    private final dnnl_memory[] memories;
    private final Address[] addresses;
    private final dnnl_exec_arg_t execArgs;
    private final dnnl_memory scratchpad;
    private final Address scratchpadAddress = new Address();
    private final long scratchpadBytes;
    private final String implementation;
    private boolean closed;

    /** A Pointer whose address we set: how a raw {@code long} becomes a {@code void*} for oneDNN. */
    private static final class Address extends Pointer {
        Address set(long a) {
            address = a;
            return this;
        }
    }

    private DnnlPrimitive(String name, dnnl_primitive_desc pd, dnnl_primitive primitive, int[] args,
                          dnnl_memory[] memories, dnnl_exec_arg_t execArgs, dnnl_memory scratchpad,
                          long scratchpadBytes) {
        this.name = name;
        this.pd = pd;
        this.primitive = primitive;
        this.args = args;
        this.memories = memories;
        this.addresses = new Address[args.length];
        for (int i = 0; i < args.length; i++) addresses[i] = new Address();
        this.execArgs = execArgs;
        this.scratchpad = scratchpad;
        this.scratchpadBytes = scratchpadBytes;
        this.implementation = Dnnl.implementation(pd);
    }

    /**
     * Creates the primitive of {@code pd} (taking ownership of {@code pd}, which is destroyed here if anything
     * fails) with one memory per argument in {@code args} ({@code DNNL_ARG_SRC}, ...; {@link #execute} takes
     * addresses in this order), each in the layout the primitive descriptor reports for it. {@code name} names
     * the primitive and its shapes in error messages.
     */
    public static DnnlPrimitive create(String name, dnnl_primitive_desc pd, int... args) {
        List<dnnl_memory> made = new ArrayList<>();
        dnnl_primitive primitive = null;
        dnnl_exec_arg_t execArgs = null;
        try {
            dnnl_memory[] memories = new dnnl_memory[args.length];
            for (int i = 0; i < args.length; i++) {
                dnnl_memory_desc md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[i]);
                memories[i] = memory(name, md, args[i]);
                made.add(memories[i]);
            }
            dnnl_memory_desc spMd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
            long spBytes = MemoryDescs.bytes(spMd);
            dnnl_memory sp = null;
            if (spBytes > 0) {
                sp = memory(name, spMd, DNNL_ARG_SCRATCHPAD);
                made.add(sp);
            }
            int n = args.length + (sp != null ? 1 : 0);
            execArgs = new dnnl_exec_arg_t(n);
            for (int i = 0; i < args.length; i++) {
                execArgs.getPointer(i).arg(args[i]).memory(memories[i]);
            }
            if (sp != null) execArgs.getPointer(args.length).arg(DNNL_ARG_SCRATCHPAD).memory(sp);
            primitive = new dnnl_primitive();
            Dnnl.check(dnnl_primitive_create(primitive, pd), () -> name + ": primitive creation");
            return new DnnlPrimitive(name, pd, primitive, args.clone(), memories, execArgs, sp, spBytes);
        } catch (RuntimeException e) {
            if (primitive != null && !primitive.isNull()) dnnl_primitive_destroy(primitive);
            for (dnnl_memory m : made) dnnl_memory_destroy(m);
            if (execArgs != null) execArgs.close();
            dnnl_primitive_desc_destroy(pd);
            throw e;
        }
    }

    private static dnnl_memory memory(String name, dnnl_memory_desc md, int arg) {
        if (md == null || md.isNull()) throw Dnnl.failure(dnnl_invalid_arguments, name + ": no descriptor for argument " + arg);
        dnnl_memory m = new dnnl_memory();
        // A null handle (DNNL_MEMORY_NONE): the memory is bound to a tensor's address before each run.
        Dnnl.check(dnnl_memory_create(m, md, Dnnl.engine(), (Pointer) null), () -> name + ": memory for argument " + arg);
        return m;
    }

    /** The implementation oneDNN picked, e.g. "brg_matmul:avx512_core"; "ref:..." means its slow reference. */
    public String implementation() {
        return implementation;
    }

    /** Bytes of scratchpad each run borrows from the pool. */
    public long scratchpadBytes() {
        return scratchpadBytes;
    }

    /** The layout the primitive expects for {@code arg}; owned by this primitive, never destroy it. */
    public dnnl_memory_desc argDesc(int arg) {
        return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    }

    public String name() {
        return name;
    }

    /** The primitive descriptor (owned by this primitive): a hint for building a backward pass. */
    dnnl_primitive_desc primitiveDesc() {
        return pd;
    }

    /**
     * Runs the primitive on the given addresses (one per argument, in creation order) and waits for it. The
     * scratchpad, if any, comes from {@code pool} for the length of the run.
     */
    public void execute(CachingPool pool, long... argAddresses) {
        synchronized (Dnnl.lock()) {
            CachingPool.Block block = scratchpadBytes > 0 ? pool.allocate(scratchpadBytes, 0) : null;
            try {
                executeWith(block, argAddresses);
            } finally {
                if (block != null) pool.release(block);
            }
        }
    }

    /**
     * Runs the primitive on the engine's stream with a scratchpad the caller allocated ({@link #scratchpadBytes()};
     * null when it needs none). The caller holds {@link Dnnl#lock()}.
     */
    void executeWith(CachingPool.Block scratch, long... argAddresses) {
        bindUnlocked(scratch, argAddresses);
        Dnnl.check(dnnl_primitive_execute(primitive, Dnnl.stream(), execArgCount(), execArgs), () -> name + ": execution");
        Dnnl.check(dnnl_stream_wait(Dnnl.stream()), () -> name + ": stream wait");
    }

    /** Binds the arguments and scratchpad for a run that native code starts ({@link TwoLanes}). */
    void bindUnlocked(CachingPool.Block scratch, long... argAddresses) {
        if (argAddresses.length != args.length) {
            throw new IllegalArgumentException(name + ": " + argAddresses.length + " addresses for " + args.length + " arguments");
        }
        if (closed) throw new IllegalStateException(name + ": primitive was destroyed");
        for (int i = 0; i < args.length; i++) {
            int k = i;
            Dnnl.check(dnnl_memory_set_data_handle(memories[i], addresses[i].set(argAddresses[i])),
                    () -> name + ": binding argument " + args[k]);
        }
        if (scratchpad != null) {
            if (scratch == null) throw new IllegalArgumentException(name + ": needs a scratchpad of " + scratchpadBytes + " bytes");
            Dnnl.check(dnnl_memory_set_data_handle(scratchpad, scratchpadAddress.set(scratch.address())),
                    () -> name + ": binding the scratchpad");
        }
    }

    /** The oneDNN primitive's handle, its bound argument list and that list's length, for native code. */
    long handle() {
        return primitive.address();
    }

    long execArgsAddress() {
        return execArgs.address();
    }

    int execArgCount() {
        return args.length + (scratchpad != null ? 1 : 0);
    }

    /** Destroys the primitive, its descriptor and memories. Idempotent. */
    @Override
    public void close() {
        synchronized (Dnnl.lock()) {
            if (closed) return;
            closed = true;
            dnnl_primitive_destroy(primitive);
            for (dnnl_memory m : memories) dnnl_memory_destroy(m);
            if (scratchpad != null) dnnl_memory_destroy(scratchpad);
            dnnl_primitive_desc_destroy(pd);
            execArgs.close();
        }
    }
}
