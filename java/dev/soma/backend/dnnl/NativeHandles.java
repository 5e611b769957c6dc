package dev.soma.backend.dnnl;

import org.bytedeco.dnnl.dnnl_memory_desc;

import java.util.ArrayList;
import java.util.List;

import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_destroy;

/**
 * The memory descriptors made for one primitive creation, destroyed together when the primitive descriptor
 * exists (oneDNN keeps its own copies) or when creation fails. Use with try-with-resources.
 */
public final class NativeHandles implements AutoCloseable {
    private final List<dnnl_memory_desc> descs = new ArrayList<>();

    /** Takes ownership of {@code md}; returns it for chaining. */
    public dnnl_memory_desc own(dnnl_memory_desc md) {
        descs.add(md);
        return md;
    }

    @Override
    public void close() {
        for (int i = descs.size() - 1; i >= 0; i--) {
            dnnl_memory_desc md = descs.get(i);
            if (md != null && !md.isNull()) dnnl_memory_desc_destroy(md);
        }
        descs.clear();
    }
}
