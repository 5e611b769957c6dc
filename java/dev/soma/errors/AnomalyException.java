package dev.soma.errors;

/**
 * Anomaly mode ({@link dev.soma.autograd.Anomaly}) found NaN or Inf in the output of an op (or in a gradient a
 * backward rule returned). The message names the op, where the first bad value sits, and the inputs' shapes,
 * dtypes and whether they already held non-finite values.
 */
public class AnomalyException extends SomaException {
    private final String op;

    public AnomalyException(String op, String message) {
        super(message);
        this.op = op;
    }

    private AnomalyException(String op, String message, AnomalyException cause) {
        super(message, cause);
        this.op = op;
    }

    /** The op whose output (or backward) held the first non-finite value. */
    public String op() {
        return op;
    }

    /** The same finding with the context it happened in (e.g. "during the backward of matmul") appended. */
    public AnomalyException during(String context) {
        return new AnomalyException(op, getMessage() + " (" + context + ")", this);
    }
}
