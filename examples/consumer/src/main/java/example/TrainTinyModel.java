package example;

import dev.soma.data.ArrayDataset;
import dev.soma.memory.Scope;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.Dense;
import dev.soma.optim.Adam;
import dev.soma.tensor.Tensor;

import java.util.Map;
import java.util.SplittableRandom;

/**
 * Trains a two-layer network to tell three Gaussian blobs apart, evaluates it on fresh points and predicts a few;
 * exits with status 1 if it did not learn (so CI notices a broken dependency, not only a broken build).
 */
public final class TrainTinyModel {
    public static void main(String[] args) {
        ArrayDataset train = blobs(600, 1);
        ArrayDataset test = blobs(300, 2);
        try (Sequential model = new Sequential(new Dense(16, "relu"), new Dense(3, "softmax"))) {
            model.seed(3).compile(new Adam(0.01), "sparse_categorical_crossentropy", "accuracy");
            History h = model.fit(train, new FitOptions().batchSize(32).epochs(5).verbose(0));
            Map<String, Double> eval = model.evaluate(test, 100);
            System.out.printf("consumer: loss %.4f -> %.4f, test accuracy %.3f%n",
                    h.get("loss").get(0), h.last("loss"), eval.get("accuracy"));
            // predict's result belongs to the scope given: freed when it closes.
            try (Scope scope = Scope.open()) {
                Tensor p = model.predict(test, 100, scope);
                System.out.println("consumer: predicted " + p.size(0) + " x " + p.size(1) + " probabilities");
            }
            if (!(eval.get("accuracy") > 0.9)) {
                System.err.println("consumer: the model did not learn (accuracy " + eval.get("accuracy") + ")");
                System.exit(1);
            }
        }
    }

    /** Three Gaussian blobs in 4-d, labels 0..2. */
    static ArrayDataset blobs(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * 4];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            int c = r.nextInt(3);
            y[i] = c;
            for (int d = 0; d < 4; d++) x[i * 4 + d] = (float) (r.nextGaussian() * 0.7 + (d == c ? 2.0 : 0.0));
        }
        return ArrayDataset.withLabels(x, new long[] {4}, y);
    }
}
