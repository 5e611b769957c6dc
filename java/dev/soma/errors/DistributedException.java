package dev.soma.errors;

/**
 * A collective (all-reduce, broadcast, barrier) failed or did not finish in time: the message names this rank, the
 * operation and the bound, and says what most likely happened (a peer rank died or stopped).
 */
public class DistributedException extends SomaException {
    public DistributedException(String message) {
        super(message);
    }
}
