package dev.soma.explain;

import dev.soma.tensor.Tensor;

/** An attribution method: explains one example (no batch dimension) for a {@link Target}. */
public interface AttributionMethod {
    /** Short name, as the CLI spells it (saliency, gxi, ig, smoothgrad, occlusion). */
    String name();

    /** Attributions of {@code example}, laid out with {@code shape} (the example's shape, no batch dimension). */
    Attribution attribute(Target target, float[] example, long[] shape);

    /** As {@link #attribute(Target, float[], long[])} for an example tensor (read back to the host). */
    default Attribution attribute(Target target, Tensor example) {
        example.checkOpen(name());
        return attribute(target, example.toFloatArray(), example.shape());
    }
}
