package dev.soma.backend;

import dev.soma.memory.CachingPool;
import dev.soma.memory.ScopedResource;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

/**
 * bf16 mixed precision: a bfloat16 copy of a float32 tensor's memory, made once so that several products read it
 * instead of each rounding the same values again. A Dense layer's weight is read by its forward and by its
 * backward-data product, its input by the forward and the backward-weights product, and the output gradient by
 * both backward products; PyTorch's autocast likewise keeps the bf16 weight it made in the forward for the backward.
 *
 * <p>The copy mirrors, element for element, the span of storage its source view covers (holes of a strided view
 * included), so any view of the same storage inside that span (a transpose, a reshape, a row view) finds its bf16
 * values at the same element offset: {@link #addressOf}.
 *
 * <p>It holds the values of the moment it was made. An op that keeps one for its backward therefore multiplies
 * with the values its forward saw, which is what the gradient of that forward needs.
 *
 * <p>It belongs to the scope that was open when it was made ({@link MemoryKernels#keepBf16} makes none without
 * one) and is freed with it, or earlier by {@link #close()}. A closed copy answers no address, and the product
 * then rounds its operand afresh.
 */
public final class Bf16Copy extends ScopedResource {
    private final CachingPool pool;
    /** The view the copy was made from: its storage is what the copy mirrors. */
    private final Tensor source;
    private final dev.soma.tensor.Device device;
    /** The first storage element mirrored, and how many follow. */
    private final long first;
    private final long count;
    private CachingPool.Block block;

    /**
     * Takes ownership of {@code block}, which holds {@code count} bf16 values of source's storage from its offset
     * ({@code count}: the source's {@link Shapes#span}).
     */
    Bf16Copy(CachingPool pool, Tensor source, long count, CachingPool.Block block) {
        this.pool = pool;
        this.source = source;
        this.device = source.device();
        this.first = source.offset();
        this.count = count;
        this.block = block;
        joinCurrentScope();
    }

    /**
     * The address of {@code view}'s first element in this copy, or 0 when the copy cannot stand in for it: it is
     * closed, or view is not an open float32 view of the same storage (on the same device) lying inside the mirrored
     * span. The source view itself may have been closed since: an open view keeps the storage, and so the memory the
     * copy mirrors, alive.
     */
    public synchronized long addressOf(Tensor view) {
        if (block == null || view == null || view.isClosed()) return 0;
        if (view.dtype() != DType.F32 || !view.sharesStorageWith(source) || !view.device().equals(device)) return 0;
        long span = Shapes.span(view.shape(), view.strides());
        long from = view.offset() - first;
        if (span <= 0 || from < 0 || from + span > count) return 0; // empty, running backwards, or outside
        return block.address() + 2 * from;
    }

    /** {@code copy.addressOf(view)}, or 0 when no copy was given: what a kernel passes on for an optional copy. */
    static long addressIn(Bf16Copy copy, Tensor view) {
        return copy == null ? 0 : copy.addressOf(view);
    }

    /** Whether the copy still holds its values (not yet closed). */
    public synchronized boolean isOpen() {
        return block != null;
    }

    /** Elements the copy holds (its source view's span). */
    public long elements() {
        return count;
    }

    @Override
    public synchronized void close() {
        if (block == null) return;
        pool.release(block);
        block = null;
    }
}
