package dev.soma.data;

import dev.soma.backend.Backends;
import dev.soma.memory.Scope;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Walks an epoch's batches one ahead on a device with streams: handing out batch i uploads batch i+1 on the
 * device's copy stream, so its copies run while step i computes. On the CPU batches pass through unstaged (the
 * step reads the host arrays directly). Close it to free a batch uploaded but never handed out.
 */
public final class BatchPrefetcher implements Iterator<StagedBatch>, AutoCloseable {
    private final Iterator<Batch> batches;
    private final Device device;
    private StagedBatch ahead;

    public BatchPrefetcher(Iterator<Batch> batches, Device device) {
        this.batches = batches;
        this.device = device;
    }

    @Override
    public boolean hasNext() {
        return ahead != null || batches.hasNext();
    }

    @Override
    public StagedBatch next() {
        if (!hasNext()) throw new NoSuchElementException("BatchPrefetcher: no more batches");
        StagedBatch current = ahead != null ? ahead : stage(batches.next());
        ahead = null;
        try {
            if (batches.hasNext()) ahead = stage(batches.next());
        } catch (RuntimeException e) {
            current.close();
            throw e;
        }
        return current;
    }

    private StagedBatch stage(Batch batch) {
        if (device.isCpu()) return new StagedBatch(batch, null);
        return new StagedBatch(batch, Backends.get(device).prefetch(() -> {
            // A scope of its own: a failed upload frees what it made; the finished tensors leave it.
            try (Scope scope = Scope.open()) {
                List<Tensor> out = new ArrayList<>(batch.featureTensors(device));
                out.addAll(batch.targetTensors(device));
                for (Tensor t : out) t.keep();
                return out;
            }
        }));
    }

    @Override
    public void close() {
        if (ahead != null) ahead.close();
        ahead = null;
    }
}
