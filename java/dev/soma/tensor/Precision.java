package dev.soma.tensor;

/**
 * The arithmetic the heavy ops of a training step use. {@link #F32}: everything in float32 (the default).
 * {@link #BF16}: mixed precision, as PyTorch's CPU autocast to bfloat16 and Keras' {@code mixed_bfloat16}:
 * parameters, gradients, optimizer state and every activation tensor stay float32 (master weights), while
 * convolutions and matrix products (forward and both backward products) round their float32 inputs to
 * bfloat16 (round to nearest even) and multiply on the CPU's bf16 dot-product instructions, accumulating and
 * writing float32. See docs/precision.md and {@link dev.soma.backend.MixedPrecision}.
 */
public enum Precision {
    F32("f32"),
    BF16("bf16");

    private final String label;

    Precision(String label) {
        this.label = label;
    }

    /** "f32" or "bf16" (also accepts "float32", "bfloat16"; case-insensitive). */
    public static Precision parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(java.util.Locale.ROOT);
        return switch (v) {
            case "f32", "float32", "fp32" -> F32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("precision: unknown '" + s + "': expected f32 or bf16");
        };
    }

    @Override
    public String toString() {
        return label;
    }
}
