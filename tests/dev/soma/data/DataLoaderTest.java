package dev.soma.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Iterator;

import static org.junit.jupiter.api.Assertions.*;

class DataLoaderTest {
    private static ArrayDataset dataset(int n) {
        float[] x = new float[n * 2];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            x[2 * i] = i;
            x[2 * i + 1] = -i;
            y[i] = i % 3;
        }
        return ArrayDataset.withLabels(x, new long[] {2}, y);
    }

    @Test
    void everyExampleOnceAPerEpochWithAShortLastBatch() {
        DataLoader loader = new DataLoader(dataset(10), 4, true, 7);
        assertEquals(3, loader.batchesPerEpoch());
        boolean[] seen = new boolean[10];
        int[] sizes = new int[3];
        Iterator<Batch> it = loader.epoch(0);
        for (int b = 0; it.hasNext(); b++) {
            Batch batch = it.next();
            sizes[b] = batch.size();
            for (int i = 0; i < batch.size(); i++) {
                int id = (int) batch.x()[2 * i];
                assertFalse(seen[id], "example " + id + " twice");
                seen[id] = true;
                assertEquals(-id, batch.x()[2 * i + 1]);
                assertEquals(id % 3, batch.yLabels()[i]);
            }
        }
        assertArrayEquals(new int[] {4, 4, 2}, sizes);
        for (boolean s : seen) assertTrue(s);
    }

    @Test
    void aBatchSizeNearTheLargestIntIsOneBatchOfEverything() {
        // (size + batch - 1) in int arithmetic wrapped to a negative count: 0 batches, and fit refused a valid run.
        for (int batch : new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE - 5, 1 << 30}) {
            DataLoader loader = new DataLoader(dataset(7), batch, true, 1);
            assertEquals(1, loader.batchesPerEpoch(), "batch " + batch);
            Iterator<Batch> it = loader.epoch(0);
            assertEquals(7, it.next().size());
            assertFalse(it.hasNext());
        }
    }

    @Test
    void shufflingIsSeededPerEpoch() {
        DataLoader a = new DataLoader(dataset(50), 8, true, 3);
        DataLoader b = new DataLoader(dataset(50), 8, true, 3);
        assertArrayEquals(a.order(2), b.order(2));
        assertFalse(Arrays.equals(a.order(0), a.order(1)), "epochs differ");
        assertFalse(Arrays.equals(a.order(0), new DataLoader(dataset(50), 8, true, 4).order(0)), "seeds differ");
        int[] plain = new DataLoader(dataset(5), 2, false, 3).order(0);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, plain);
    }

    @Test
    void rangesAndBadArguments() {
        Dataset d = dataset(10).range(6, 10);
        assertEquals(4, d.size());
        assertEquals(7f, d.gather(new int[] {1}).x()[0]);
        assertThrows(IllegalArgumentException.class, () -> dataset(10).range(5, 11));
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(dataset(3), 0, false, 0));
        assertThrows(dev.soma.errors.ShapeException.class,
                () -> ArrayDataset.withLabels(new float[5], new long[] {2}, new int[2]));
    }
}
