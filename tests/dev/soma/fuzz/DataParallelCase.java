package dev.soma.fuzz;

import dev.soma.data.ArrayDataset;
import dev.soma.model.FitOptions;
import dev.soma.model.History;
import dev.soma.model.Sequential;
import dev.soma.nn.BatchNormalization;
import dev.soma.nn.Layer;
import dev.soma.nn.Param;
import dev.soma.optim.SGD;
import dev.soma.tensor.DType;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One random model of {@link DataParallelFuzzTest}, trained in float64 either data-parallel ({@code batch} examples
 * per rank, under mpirun) or in one process ({@code 2 × batch}): the model fuzzer's stacks without dropout (dropout
 * draws its masks per batch position, so a batch cut in two gets other masks), batch normalisation synchronised over
 * the ranks, SGD with momentum.
 */
final class DataParallelCase {
    private DataParallelCase() {}

    /** Every weight (float64) and the loss of each epoch; or why the model was refused. */
    record Trained(List<double[]> weights, List<Double> losses, String refusal) {}

    /** Null for a model with dropout (not comparable); {@code modelSeed}: rank 0's weights are broadcast. */
    static Trained train(long seed, long modelSeed, int ranks, boolean dataParallel) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        ModelStacks.Stack s = ModelStacks.draw(r);
        boolean stochastic = false, batchNorm = false;
        for (Layer l : s.layers()) {
            stochastic |= LayerFuzzer.stochastic(l.config());
            batchNorm |= l instanceof BatchNormalization;
        }
        int perRank = 2 + r.nextInt(7);
        ArrayDataset data = ModelFuzzTest.data(s, perRank * ranks * 2 + r.nextInt(perRank * ranks), r.nextLong());
        double lr = 0.01 + 0.05 * r.nextDouble();
        long fitSeed = r.nextLong();
        if (stochastic) {
            for (Layer l : s.layers()) l.close();
            return null;
        }
        List<Layer> layers = new ArrayList<>(s.layers());
        // The data arrive as float32: a float64 model of float inputs casts them first (ids go to Embedding as they are).
        if (s.vocabulary() == 0) layers.add(0, new dev.soma.nn.Lambda(x -> x.to(DType.F64)));
        try (Sequential m = new Sequential(layers.toArray(new Layer[0]))) {
            m.dtype(DType.F64).seed(modelSeed).compile(new SGD(lr, 0.9, false), "sparse_categorical_crossentropy");
            FitOptions o = new FitOptions().batchSize(dataParallel ? perRank : perRank * ranks).epochs(2).seed(fitSeed)
                    .verbose(0).dataParallel(dataParallel).syncBatchNorm(dataParallel && batchNorm);
            History h = m.fit(data, o);
            List<double[]> weights = new ArrayList<>();
            for (Param p : m.params()) weights.add(p.value().toDoubleArray());
            return new Trained(weights, h.get("loss"), null);
        } catch (RuntimeException e) {
            if (!FuzzReports.isRefusal(e)) throw e;
            return new Trained(List.of(), List.of(), String.valueOf(e.getMessage()));
        } finally {
            for (Layer l : s.layers()) l.close();
        }
    }
}
