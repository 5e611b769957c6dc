package dev.soma.data;

import dev.soma.backend.Prefetched;
import dev.soma.tensor.Tensor;

import java.util.List;

/**
 * A batch whose arrays were uploaded to the model's device ahead of its step ({@link BatchPrefetcher}), or a
 * plain batch when the device needs no upload (the CPU). Closing frees the uploaded tensors.
 */
public final class StagedBatch implements AutoCloseable {
    private final Batch batch;
    private final Prefetched tensors;

    StagedBatch(Batch batch, Prefetched tensors) {
        this.batch = batch;
        this.tensors = tensors;
    }

    public Batch batch() {
        return batch;
    }

    /** True when the batch's tensors are already on the device (then {@link #features}/{@link #targets} give them). */
    public boolean isStaged() {
        return tensors != null;
    }

    /** The uploaded input tensors, with the caller's stream ordered after their copies. */
    public List<Tensor> features() {
        return staged().subList(0, batch.inputs().size());
    }

    /** The uploaded target tensors, with the caller's stream ordered after their copies. */
    public List<Tensor> targets() {
        List<Tensor> all = staged();
        return all.subList(batch.inputs().size(), all.size());
    }

    private List<Tensor> staged() {
        if (tensors == null) throw new IllegalStateException("StagedBatch: this batch was not uploaded ahead");
        return tensors.use();
    }

    @Override
    public void close() {
        if (tensors != null) tensors.close();
    }
}
