package dev.soma.fuzz;

import dev.soma.data.Dataset;
import dev.soma.model.FitOptions;
import dev.soma.model.FunctionalModel;
import dev.soma.model.LayerNode;
import dev.soma.model.Loss;
import dev.soma.model.Model;
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
 * One random model of {@link DataParallelFuzzTest}, trained either data-parallel ({@code batch} examples per rank,
 * under mpirun) or in one process ({@code 2 × batch}): the model fuzzer's stacks in float64 and, one in three, its
 * functional graphs (several inputs and heads, shared and nested layers) in float32; without dropout (dropout draws
 * its masks per batch position, so a batch cut in two gets other masks); batch normalisation synchronised over the
 * ranks; SGD with momentum; one in three with DP-SGD (noise and clipping: every rank draws the same sample and noise).
 */
final class DataParallelCase {
    private DataParallelCase() {}

    /** Every weight (as float64), the loss of each epoch, whether the model was float32; or why it was refused. */
    record Trained(List<double[]> weights, List<Double> losses, boolean f32, String refusal) {}

    /** Null for a model with dropout (not comparable); {@code modelSeed}: rank 0's weights are broadcast. */
    static Trained train(long seed, long modelSeed, int ranks, boolean dataParallel) throws Throwable {
        SplittableRandom r = new SplittableRandom(seed);
        boolean graph = r.nextInt(3) == 0, privacy = r.nextInt(3) == 0;
        int perRank = 2 + r.nextInt(7);
        int n = perRank * ranks * 2 + r.nextInt(perRank * ranks);
        double lr = 0.01 + 0.05 * r.nextDouble();
        long fitSeed = r.nextLong();
        Model m;
        Dataset data;
        List<Layer> layers = new ArrayList<>();
        List<Loss> losses;
        if (graph) {
            ModelGraphs.Graph g = ModelGraphs.draw(r);
            m = g.model();
            for (LayerNode node : ((FunctionalModel) m).nodes()) layers.add(node.layer());
            data = ModelGraphs.data(g, n, r.nextLong());
            losses = g.losses();
        } else {
            ModelStacks.Stack s = ModelStacks.draw(r);
            layers.addAll(s.layers());
            data = ModelFuzzTest.data(s, n, r.nextLong());
            losses = List.of(Loss.byName("sparse_categorical_crossentropy"));
            List<Layer> all = new ArrayList<>(s.layers());
            // The data arrive as float32: a float64 model of float inputs casts them first (ids go to Embedding as they are).
            if (s.vocabulary() == 0) all.add(0, new dev.soma.nn.Lambda(x -> x.to(DType.F64)));
            try {
                m = new Sequential(all.toArray(new Layer[0])).dtype(DType.F64);
            } catch (RuntimeException e) {
                for (Layer l : layers) l.close();
                if (!FuzzReports.isRefusal(e)) throw e;
                return new Trained(List.of(), List.of(), false, String.valueOf(e.getMessage()));
            }
        }
        boolean stochastic = false, batchNorm = false;
        for (Layer l : layers) {
            stochastic |= LayerFuzzer.stochastic(l.config());
            batchNorm |= l instanceof BatchNormalization;
        }
        try (m) {
            if (stochastic) return null;
            m.seed(modelSeed).compile(new SGD(lr, 0.9, false), losses, java.util.Collections.nCopies(losses.size(), 1.0));
            FitOptions o = new FitOptions().batchSize(dataParallel ? perRank : perRank * ranks).epochs(2).seed(fitSeed)
                    .verbose(0).dataParallel(dataParallel).syncBatchNorm(dataParallel && batchNorm);
            if (privacy) o.privacy(0.7, 1.0, 1e-5);
            History h = m.fit(data, o);
            List<double[]> weights = new ArrayList<>();
            for (Param p : m.params()) weights.add(p.value().toDoubleArray());
            return new Trained(weights, h.get("loss"), graph, null);
        } catch (RuntimeException e) {
            if (!FuzzReports.isRefusal(e)) throw e;
            return new Trained(List.of(), List.of(), graph, String.valueOf(e.getMessage()));
        } finally {
            for (Layer l : layers) l.close();
        }
    }
}
