package dev.soma.ops;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.errors.ShapeException;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/**
 * Losses, each the mean over the batch: a 0-d tensor of the inputs' dtype. Predictions, probabilities and
 * logits get gradients; targets and labels never do (they are data: a target that requires grad is treated
 * as a constant). The cross-entropies take logits and are fused with a max-subtracted log-softmax, so logits
 * of any finite size give a finite loss; their forward keeps softmax(logits) for a one-pass backward.
 */
public final class Losses {
    /** Keras's epsilon: binaryCrossEntropy clamps probabilities to [EPSILON, 1 - EPSILON]. */
    public static final double EPSILON = 1e-7;

    /**
     * Where the saved softmax probabilities start in the loss tensor's storage, in elements: 64 bytes or more
     * past the loss value, so the probabilities stay aligned for vector loads.
     */
    private static final long PROBS_OFFSET = 16;

    private Losses() {}

    /** mean((predictions - targets)^2) over all elements; equal shapes and dtypes. */
    public static Tensor meanSquaredError(Tensor predictions, Tensor targets) {
        String op = "meanSquaredError";
        checkPair(op, predictions, targets);
        Tensor out = Tensor.empty(predictions.dtype(), predictions.device());
        try (Tensor p = dense(predictions); Tensor z = dense(targets)) {
            predictions.backend().losses().meanSquaredError(p, z, out);
        }
        return Autograd.record(op, out, g -> {
            Check.open(op + " backward", predictions, targets, g);
            Tensor grad = Tensor.empty(predictions.dtype(), predictions.device(), predictions.shape());
            try (Tensor p = dense(predictions); Tensor z = dense(targets); Tensor gc = dense(g)) {
                predictions.backend().losses().meanSquaredErrorBackward(p, z, gc, grad);
            }
            return new Tensor[] {grad};
        }, predictions);
    }

    /**
     * Binary cross-entropy of probabilities against targets in [0, 1]: mean of -(z log p + (1 - z) log(1 - p))
     * with p clamped to [1e-7, 1 - 1e-7] as Keras (the clamp passes no gradient where it is active).
     */
    public static Tensor binaryCrossEntropy(Tensor probabilities, Tensor targets) {
        return binary("binaryCrossEntropy", false, probabilities, targets);
    }

    /** Binary cross-entropy from logits, in the stable form max(x, 0) - x z + log1p(exp(-|x|)). */
    public static Tensor binaryCrossEntropyWithLogits(Tensor logits, Tensor targets) {
        return binary("binaryCrossEntropyWithLogits", true, logits, targets);
    }

    /**
     * Softmax cross-entropy of logits {@code [N, C]} against target probabilities {@code [N, C]}:
     * mean over rows of -sum_c t log_softmax(logits). Targets are not checked to sum to one; the gradient is
     * exact either way ((softmax * sum(t) - t) / N, which is (p - t) / N for proper distributions).
     */
    public static Tensor categoricalCrossEntropy(Tensor logits, Tensor targetProbabilities) {
        String op = "categoricalCrossEntropy";
        Check.sameDevice(op, logits, targetProbabilities);
        Check.floating(op, logits);
        Check.sameDType(op, logits, targetProbabilities);
        checkLogits(op, logits);
        if (!Arrays.equals(logits.shape(), targetProbabilities.shape())) {
            throw new ShapeException(op + ": logits " + logits.describe() + " and targets "
                    + targetProbabilities.describe() + " differ in shape; expected equal [N, C] shapes");
        }
        boolean keepProbs = Autograd.needsGrad(logits);
        Tensor out = crossEntropyOutput(logits, keepProbs);
        try (Tensor x = dense(logits); Tensor t = dense(targetProbabilities);
             Tensor probs = keepProbs ? probsOf(out, logits) : null) {
            logits.backend().losses().softmaxCrossEntropy(x, t, out, probs);
        }
        return Autograd.record(op, out, g -> {
            Check.open(op + " backward", out, targetProbabilities, g);
            Tensor grad = Tensor.empty(logits.dtype(), logits.device(), logits.shape());
            try (Tensor probs = probsOf(out, logits); Tensor t = dense(targetProbabilities); Tensor gc = dense(g)) {
                logits.backend().losses().softmaxCrossEntropyBackward(probs, t, gc, grad);
            }
            return new Tensor[] {grad};
        }, logits);
    }

    /**
     * Softmax cross-entropy of logits {@code [N, C]} against int32 class labels {@code [N]}: mean over rows of
     * -log_softmax(logits)[label]. Every label must lie in [0, C) (checked here; reading the labels costs a
     * host copy on a GPU).
     */
    public static Tensor sparseCategoricalCrossEntropy(Tensor logits, Tensor labels) {
        String op = "sparseCategoricalCrossEntropy";
        Check.sameDevice(op, logits, labels);
        Check.floating(op, logits);
        Check.dtype(op, labels, DType.I32);
        checkLogits(op, logits);
        long n = logits.size(0);
        long c = logits.size(1);
        if (labels.ndim() != 1 || labels.size(0) != n) {
            throw new ShapeException(op + ": labels " + labels.describe() + " do not match logits "
                    + logits.describe() + "; expected int32[" + n + "], one label per row");
        }
        int[] values = labels.toIntArray();
        for (int i = 0; i < values.length; i++) {
            if (values[i] < 0 || values[i] >= c) {
                throw new ShapeException(op + ": label " + values[i] + " at index " + i + " is out of range for "
                        + c + " classes (expected 0 to " + (c - 1) + ")");
            }
        }
        boolean keepProbs = Autograd.needsGrad(logits);
        Tensor out = crossEntropyOutput(logits, keepProbs);
        try (Tensor x = dense(logits); Tensor y = dense(labels); Tensor probs = keepProbs ? probsOf(out, logits) : null) {
            logits.backend().losses().sparseSoftmaxCrossEntropy(x, y, out, probs);
        }
        return Autograd.record(op, out, g -> {
            Check.open(op + " backward", out, labels, g);
            Tensor grad = Tensor.empty(logits.dtype(), logits.device(), logits.shape());
            try (Tensor probs = probsOf(out, logits); Tensor y = dense(labels); Tensor gc = dense(g)) {
                logits.backend().losses().sparseSoftmaxCrossEntropyBackward(probs, y, gc, grad);
            }
            return new Tensor[] {grad};
        }, logits);
    }

    // ------------------------------------------------------------------ shared

    private static Tensor binary(String op, boolean fromLogits, Tensor x, Tensor targets) {
        checkPair(op, x, targets);
        Tensor out = Tensor.empty(x.dtype(), x.device());
        try (Tensor xc = dense(x); Tensor z = dense(targets)) {
            x.backend().losses().binaryCrossEntropy(fromLogits, xc, z, out);
        }
        return Autograd.record(op, out, g -> {
            Check.open(op + " backward", x, targets, g);
            Tensor grad = Tensor.empty(x.dtype(), x.device(), x.shape());
            try (Tensor xc = dense(x); Tensor z = dense(targets); Tensor gc = dense(g)) {
                x.backend().losses().binaryCrossEntropyBackward(fromLogits, xc, z, gc, grad);
            }
            return new Tensor[] {grad};
        }, x);
    }

    /** Element-wise losses: open, one device, one floating dtype, equal non-empty shapes. */
    private static void checkPair(String op, Tensor x, Tensor targets) {
        Check.sameDevice(op, x, targets);
        Check.floating(op, x);
        Check.sameDType(op, x, targets);
        if (!Arrays.equals(x.shape(), targets.shape())) {
            throw new ShapeException(op + ": predictions " + x.describe() + " and targets " + targets.describe()
                    + " differ in shape; expected equal shapes");
        }
        if (x.numel() == 0) {
            throw new ShapeException(op + ": predictions " + x.describe() + " are empty; the mean is undefined");
        }
    }

    private static void checkLogits(String op, Tensor logits) {
        if (logits.ndim() != 2 || logits.size(0) == 0 || logits.size(1) == 0) {
            throw new ShapeException(op + ": logits " + logits.describe()
                    + " must be a non-empty [N, C] matrix (batch, classes)");
        }
    }

    /**
     * The 0-d loss tensor. When a backward may run, its storage also holds softmax(logits) after
     * PROBS_OFFSET elements, so the saved probabilities live exactly as long as the loss itself.
     */
    private static Tensor crossEntropyOutput(Tensor logits, boolean keepProbs) {
        if (!keepProbs) return Tensor.empty(logits.dtype(), logits.device());
        try (Tensor buffer = Tensor.empty(logits.dtype(), logits.device(), PROBS_OFFSET + logits.numel())) {
            return buffer.viewOf(buffer.offset(), new long[0], new long[0]);
        }
    }

    /** A view of the probabilities saved in the storage of {@code loss} (made with keepProbs). Close it. */
    private static Tensor probsOf(Tensor loss, Tensor logits) {
        return loss.viewOf(loss.offset() + PROBS_OFFSET, logits.shape(), new long[] {logits.size(1), 1});
    }

    /** A contiguous tensor with t's values: a new view when t already is, else a copy. Not recorded; close it. */
    private static Tensor dense(Tensor t) {
        try (GradMode.Guard g = GradMode.disable()) {
            if (t.isContiguous()) return t.viewOf(t.offset(), t.shape(), t.strides());
            return Shapes.copy(t);
        }
    }
}
