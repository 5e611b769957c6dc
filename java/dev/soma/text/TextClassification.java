package dev.soma.text;

import dev.soma.data.ArrayDataset;

import java.util.List;

/** Texts to a dataset for a sequence classifier: ids padded to a fixed length (pre), binary labels as floats [1]. */
public final class TextClassification {
    private TextClassification() {}

    public static ArrayDataset binary(List<String> texts, int[] labels, Vocabulary vocab, int length) {
        int[][] ids = new int[texts.size()][];
        for (int i = 0; i < ids.length; i++) ids[i] = vocab.encode(texts.get(i));
        float[] x = Sequences.pad(ids, length, Sequences.Side.PRE, Sequences.Side.PRE);
        float[] y = new float[labels.length];
        for (int i = 0; i < y.length; i++) y[i] = labels[i];
        return ArrayDataset.withTargets(x, new long[] {length}, y, new long[] {1});
    }
}
