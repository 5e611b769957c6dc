package dev.soma.backend.dnnl;

import org.bytedeco.dnnl.dnnl_memory_desc;

import java.util.Arrays;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * Memory descriptors from Soma geometry. Dimensions and strides are in elements, outermost first, exactly as a
 * {@link dev.soma.tensor.Tensor} holds them. Every descriptor returned is owned by {@code handles} (destroyed
 * when it closes). Check failures name {@code what} (the primitive and its shapes) and the geometry.
 */
public final class MemoryDescs {
    private MemoryDescs() {}

    /** A plain descriptor with explicit strides (transposed or padded views need no copy). */
    public static dnnl_memory_desc strided(NativeHandles handles, int dataType, long[] dims, long[] strides, String what) {
        dnnl_memory_desc md = new dnnl_memory_desc();
        Dnnl.check(dnnl_memory_desc_create_with_strides(md, dims.length, dims, dataType, strides),
                () -> what + ": memory descriptor dims " + Arrays.toString(dims) + " strides " + Arrays.toString(strides));
        return handles.own(md);
    }

    /** A descriptor in a format tag ({@code dnnl_ab}, {@code dnnl_acdb}, ...). */
    public static dnnl_memory_desc tagged(NativeHandles handles, int dataType, long[] dims, int tag, String what) {
        dnnl_memory_desc md = new dnnl_memory_desc();
        Dnnl.check(dnnl_memory_desc_create_with_tag(md, dims.length, dims, dataType, tag),
                () -> what + ": memory descriptor dims " + Arrays.toString(dims) + " tag " + tag);
        return handles.own(md);
    }

    /** {@code format_tag_any}: the primitive picks the layout (query it back with {@code dnnl_query_exec_arg_md}). */
    public static dnnl_memory_desc any(NativeHandles handles, int dataType, long[] dims, String what) {
        return tagged(handles, dataType, dims, dnnl_format_tag_any, what);
    }

    /** Bytes a buffer described by {@code md} needs (0 for an empty descriptor). */
    public static long bytes(dnnl_memory_desc md) {
        return md == null || md.isNull() ? 0 : dnnl_memory_desc_get_size(md);
    }

    /** Whether two descriptors describe the same layout. */
    public static boolean equal(dnnl_memory_desc a, dnnl_memory_desc b) {
        return dnnl_memory_desc_equal(a, b) != 0;
    }
}
