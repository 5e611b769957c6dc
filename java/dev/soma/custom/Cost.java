package dev.soma.custom;

/**
 * What one call of an op costs in arithmetic and memory traffic (the minimum: each input read once, each
 * output written once), for benchmarks to turn times into GFLOP/s and GB/s.
 */
public record Cost(double flops, double bytes) {
    public Cost {
        if (!(flops >= 0) || !(bytes >= 0)) {
            throw new IllegalArgumentException("Cost: flops and bytes must be >= 0, got " + flops + " and " + bytes);
        }
    }
}
