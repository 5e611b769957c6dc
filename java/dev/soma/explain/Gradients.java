package dev.soma.explain;

import dev.soma.autograd.FrozenTensors;
import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;

/**
 * The two evaluations every attribution method is made of, on host arrays: the target's scores for a batch of
 * examples, and the gradient of each example's score with respect to that example. Batches are cut into chunks
 * of {@link #CHUNK} examples; each chunk's tensors live in a scope of their own and are freed when it ends.
 */
final class Gradients {
    /** Examples per forward pass: enough to keep the backend busy, small enough for long text on a laptop. */
    static final int CHUNK = 32;

    private Gradients() {}

    /** Scores and input gradients of {@code count} examples laid out one after another in {@code batch}. */
    record Evaluation(float[] scores, float[] gradients) {}

    static Evaluation withGradients(Target target, float[] batch, long[] exampleShape, int count) {
        int per = batch.length / count;
        float[] scores = new float[count];
        float[] grads = new float[batch.length];
        try (FrozenTensors frozen = FrozenTensors.freeze(target.parameters())) {
            for (int start = 0; start < count; start += CHUNK) {
                int n = Math.min(CHUNK, count - start);
                // Recording on even when the caller runs under GradMode.disable(): attribution needs the graph.
                try (Scope scope = Scope.open(); GradMode.Guard on = GradMode.enable()) {
                    Tensor x = input(target, batch, start * per, n, exampleShape);
                    x.setRequiresGrad(true);
                    Tensor s = target.scores(x);
                    // The examples are independent, so the gradient of the sum is each example's own gradient.
                    s.sum().backward();
                    System.arraycopy(s.toFloatArray(), 0, scores, start, n);
                    System.arraycopy(x.grad().toFloatArray(), 0, grads, start * per, n * per);
                }
            }
        }
        return new Evaluation(scores, grads);
    }

    static float[] scores(Target target, float[] batch, long[] exampleShape, int count) {
        int per = batch.length / count;
        float[] scores = new float[count];
        try (GradMode.Guard g = GradMode.disable()) {
            for (int start = 0; start < count; start += CHUNK) {
                int n = Math.min(CHUNK, count - start);
                try (Scope scope = Scope.open()) {
                    Tensor x = input(target, batch, start * per, n, exampleShape);
                    System.arraycopy(target.scores(x).toFloatArray(), 0, scores, start, n);
                }
            }
        }
        return scores;
    }

    private static Tensor input(Target target, float[] batch, int from, int n, long[] exampleShape) {
        int per = 1;
        for (long d : exampleShape) per *= (int) d;
        float[] part = new float[n * per];
        System.arraycopy(batch, from, part, 0, part.length);
        long[] shape = new long[exampleShape.length + 1];
        shape[0] = n;
        System.arraycopy(exampleShape, 0, shape, 1, exampleShape.length);
        Tensor host = Tensor.of(part, shape);
        // A copy on the model's device is a fresh leaf there: the gradient lands on the tensor we read back.
        return host.device().equals(target.device()) ? host : host.to(target.device());
    }

    /** {@code count} copies of {@code example}, one after another. */
    static float[] repeat(float[] example, int count) {
        float[] out = new float[example.length * count];
        for (int i = 0; i < count; i++) System.arraycopy(example, 0, out, i * example.length, example.length);
        return out;
    }
}
