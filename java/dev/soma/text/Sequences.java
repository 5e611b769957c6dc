package dev.soma.text;

/**
 * Keras' pad_sequences: every sequence made exactly {@code length} long, padded with 0 and truncated, each at the
 * start ("pre", Keras' default for both) or at the end ("post"). Pre-padding suits recurrent layers: the real
 * tokens come last, next to the output.
 */
public final class Sequences {
    public enum Side { PRE, POST }

    private Sequences() {}

    /** Row-major {@code [sequences.length, length]} ids as floats (how {@link dev.soma.data.ArrayDataset} holds features). */
    public static float[] pad(int[][] sequences, int length, Side padding, Side truncating) {
        if (length <= 0) throw new IllegalArgumentException("pad: length must be > 0, got " + length);
        float[] out = new float[Math.multiplyExact(sequences.length, length)];
        for (int s = 0; s < sequences.length; s++) {
            int[] seq = sequences[s];
            int keep = Math.min(length, seq.length);
            int from = truncating == Side.PRE ? seq.length - keep : 0;
            int at = padding == Side.PRE ? length - keep : 0;
            for (int i = 0; i < keep; i++) out[s * length + at + i] = seq[from + i];
        }
        return out;
    }
}
