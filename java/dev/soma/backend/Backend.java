package dev.soma.backend;

import dev.soma.memory.CachingPool;
import dev.soma.tensor.Device;

/**
 * One device's compute: its memory pool and its kernel families. Ops validate their arguments, then call a
 * family method; a family calls a JNI binding or a vendor library. Families take tensors whose geometry the
 * op has already checked (each method's contract says what it assumes).
 */
public interface Backend {
    Device device();

    CachingPool pool();

    /**
     * The stream that work of the calling thread is enqueued on, as a raw handle: new tensors' blocks belong to it
     * (see {@link CachingPool}). 0 on devices without streams (the CPU).
     */
    default long currentStream() {
        return 0L;
    }

    /**
     * Runs {@code upload} (which creates tensors on this device from host data) so that its copies overlap the
     * work already enqueued: on a GPU on a second stream, whose completion {@link Prefetched#use()} waits for.
     * Devices without streams just run it.
     */
    default Prefetched prefetch(java.util.function.Supplier<java.util.List<dev.soma.tensor.Tensor>> upload) {
        return Prefetched.ready(upload.get());
    }

    /** One line for {@code soma info}: what this backend runs on and with. */
    String describe();

    MemoryKernels memory();

    ElementwiseKernels elementwise();

    ReductionKernels reductions();

    LossKernels losses();

    LinalgKernels linalg();

    RandomKernels random();

    /** 2-d convolution and pooling (channels-last); backends without them say so. */
    default ConvKernels conv() {
        throw new UnsupportedOperationException("convolution and pooling on " + device() + " are not implemented yet");
    }

    /** Fused optimizer updates; backends without them say so. */
    default OptimizerKernels optimizer() {
        throw new UnsupportedOperationException("optimizer updates on " + device() + " are not implemented yet");
    }

    /** Fused scaled-dot-product attention; backends without it say so. */
    default AttentionKernels attention() {
        throw new UnsupportedOperationException("fused attention on " + device() + " is not implemented yet");
    }

    /** Layer normalisation; backends without it say so. */
    default NormalizationKernels normalization() {
        throw new UnsupportedOperationException("layer normalisation on " + device() + " is not implemented yet");
    }


    /** Embeddings and recurrent layers; backends without them say so. */
    default RecurrentKernels recurrent() {
        throw new UnsupportedOperationException("embeddings and recurrent layers on " + device() + " are not implemented yet");
    }
}
