package dev.soma.gan;

import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;
import dev.soma.errors.SomaException;
import dev.soma.model.Checkpoint;
import dev.soma.model.History;

import dev.soma.autograd.GradMode;
import dev.soma.data.Batch;
import dev.soma.data.DataLoader;
import dev.soma.data.Dataset;
import dev.soma.memory.Scope;
import dev.soma.model.Model;
import dev.soma.optim.Optimizer;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Trains a generator G and a discriminator (critic) D, any two Soma models, each with its own optimizer.
 *
 * <p>A step ({@link #trainStep(Tensor...)}) does k discriminator updates, one per real batch it is given, then one
 * generator update:
 * <ul>
 *   <li>Discriminator update: D's loss on the real batch and on a fake batch that carries no graph into G (made
 *       under {@link GradMode#disable()}, or the detached output of the G forward the generator update reuses).
 *       Only D's gradients exist afterwards, only D's optimizer steps.</li>
 *   <li>Generator update: G(z) goes through D with D's weights marked as not requiring grad for the duration, so
 *       backward accumulates nothing into D (and skips D's weight-gradient products); only G's optimizer steps.
 *       D runs in training mode, on the weights of the D update just made (the DCGAN example's order).</li>
 * </ul>
 * Gradients are freed after each update, so neither model holds gradients between phases.
 *
 * <p>The trainer owns the two optimizers (and closes them); the models belong to the caller.
 */
public final class GanTrainer implements AutoCloseable {
    private static final Gson GSON = new Gson();
    /** The metadata entry of {@link #save}'s file that holds the trainer's own state. */
    private static final String STATE_KEY = "gan_trainer";
    /** What one step reports: mean D loss over its k updates, G loss, D accuracy on real + fake, penalty. */
    public record StepResult(double dLoss, double gLoss, double dAccuracy, double gradientPenalty) {}

    /** Called after each epoch of {@link #fit} with the epoch's mean values. */
    @FunctionalInterface
    public interface EpochListener {
        void onEpochEnd(int epoch, Map<String, Double> logs) throws java.io.IOException;
    }

    private final Model generator;
    private final Model discriminator;
    private final Optimizer generatorOptimizer;
    private final Optimizer discriminatorOptimizer;
    private final long[] latentShape;
    private GanLoss loss = GanLoss.NON_SATURATING;
    private final dev.soma.backend.ThreadTuner threadTuner = new dev.soma.backend.ThreadTuner();
    /** One-sided label smoothing: D's target for real samples is {@code 1 - labelSmoothing}. */
    private double labelSmoothing;
    private boolean singlePass = true;
    private double gradientPenaltyWeight = 10.0;
    private int discriminatorSteps = 1;
    private DType dtype = DType.F32;
    private long seed = 42;
    private SplittableRandom rng = new SplittableRandom(seed);
    /** Values drawn from {@link #rng} since it was seeded: its whole state, for a checkpoint to replay. */
    private long draws;
    private int completedEpochs;
    private History history = new History();
    /** Set by {@link #restore}: the next {@link #fit} continues this history at {@link #completedEpochs}. */
    private boolean resumed;
    private Tensor fixedNoise;
    private int fixedNoiseCount = 64;
    /** Data-parallel training over MPI (see {@link #dataParallel}); the rest is set only while fit runs so. */
    private boolean dataParallel;
    private boolean syncBatchNorm;
    private dev.soma.distributed.GradientBuckets generatorBuckets, discriminatorBuckets;
    /** This rank's share of the current update's global batch, and where its noise rows start in that batch. */
    private double share = 1;
    private long noiseRows, noiseOffset;

    /** {@code latentShape}: the shape of one noise vector (e.g. 100), drawn from N(0, 1). */
    public GanTrainer(Model generator, Optimizer generatorOptimizer, Model discriminator,
                      Optimizer discriminatorOptimizer, long... latentShape) {
        if (generator == null || discriminator == null || generatorOptimizer == null || discriminatorOptimizer == null) {
            throw new IllegalArgumentException("GanTrainer: generator, discriminator and both optimizers are required");
        }
        if (generator == discriminator || generatorOptimizer == discriminatorOptimizer) {
            throw new IllegalArgumentException("GanTrainer: the generator and the discriminator need distinct models "
                    + "and distinct optimizers (each optimizer keeps per-parameter state)");
        }
        if (latentShape.length == 0) throw new IllegalArgumentException("GanTrainer: the latent shape is empty");
        for (long d : latentShape) {
            if (d <= 0) throw new IllegalArgumentException("GanTrainer: latent sizes must be > 0, got "
                    + java.util.Arrays.toString(latentShape));
        }
        this.generator = generator;
        this.discriminator = discriminator;
        this.generatorOptimizer = generatorOptimizer;
        this.discriminatorOptimizer = discriminatorOptimizer;
        this.latentShape = latentShape.clone();
    }

    // ------------------------------------------------------------------ configuration

    public GanTrainer loss(GanLoss loss) {
        this.loss = loss;
        return this;
    }

    /** Discriminator updates per generator update in {@link #fit} (WGAN-GP uses 5). */
    public GanTrainer discriminatorSteps(int k) {
        if (k < 1) throw new IllegalArgumentException("GanTrainer: discriminatorSteps must be >= 1, got " + k);
        this.discriminatorSteps = k;
        return this;
    }

    /** One-sided label smoothing: the real target becomes {@code 1 - amount} in D's loss (Salimans et al.: 0.1). */
    public GanTrainer labelSmoothing(double amount) {
        if (!(amount >= 0 && amount < 0.5)) {
            throw new IllegalArgumentException("GanTrainer: label smoothing must be in [0, 0.5), got " + amount);
        }
        this.labelSmoothing = amount;
        return this;
    }

    /**
     * Whether D sees the real and the fake batch in one pass over their concatenation (default true; used only when
     * no layer of D mixes the samples of a batch, see {@link #samplesIndependent}). False: two passes.
     */
    public GanTrainer discriminatorSinglePass(boolean on) {
        this.singlePass = on;
        return this;
    }

    /** λ of WGAN-GP's penalty (default 10). */
    public GanTrainer gradientPenaltyWeight(double lambda) {
        if (!(lambda >= 0) || Double.isInfinite(lambda)) {
            throw new IllegalArgumentException("GanTrainer: gradient penalty weight must be finite and >= 0, got " + lambda);
        }
        this.gradientPenaltyWeight = lambda;
        return this;
    }

    /** Seeds the noise, the interpolation weights and {@link #fit}'s shuffling. */
    public GanTrainer seed(long seed) {
        this.seed = seed;
        this.rng = new SplittableRandom(seed);
        this.draws = 0;
        return this;
    }

    /** The dtype of the noise (the models' dtype; default float32). */
    public GanTrainer dtype(DType dtype) {
        this.dtype = dtype;
        return this;
    }

    /** How many fixed noise vectors {@link #fixedNoise()} holds (default 64, an 8 × 8 grid). */
    public GanTrainer fixedNoiseCount(int n) {
        if (n < 1) throw new IllegalArgumentException("GanTrainer: fixedNoiseCount must be >= 1, got " + n);
        if (fixedNoise != null) throw new IllegalStateException("GanTrainer: the fixed noise is already drawn");
        this.fixedNoiseCount = n;
        return this;
    }

    /**
     * Data-parallel {@link #fit} over the MPI world this process belongs to (mpirun, srun, {@code soma launch}), both
     * models wrapped as DistributedDataParallel wraps one: both models take rank 0's weights before the first step,
     * each rank trains on its part of every global batch of {@code batchSize * ranks} real examples, and both models'
     * gradients are averaged over the ranks (bucketed all-reduce during backward) before every optimizer step. The
     * noise of an update is the one-process run's noise for the global batch, of which each rank takes the rows of
     * its own examples (every rank draws the same seeds; generating the whole batch's noise costs little), so 2
     * ranks x 16 train as 1 process x 32 (except WGAN-GP, whose interpolation weights each rank draws for its own
     * examples from the shared stream). The logged values are the global batches', and the epoch listener runs on
     * rank 0 only (samples, plots and checkpoints are written once). Every rank must be seeded alike. CPU only.
     */
    public GanTrainer dataParallel(boolean on) {
        this.dataParallel = on;
        return this;
    }

    /**
     * With {@link #dataParallel}: BatchNormalization layers of both models take their batch statistics over the
     * examples of all ranks ({@link dev.soma.distributed.SyncBatchNorm}), so that, with the noise rows each rank
     * takes, 2 ranks x 16 train as 1 process x 32 also for a generator with batch normalisation (the DCGAN's). Every
     * rank must hold examples in every update: fit refuses data sizes whose last global batch has fewer examples
     * than ranks.
     */
    public GanTrainer syncBatchNorm(boolean on) {
        this.syncBatchNorm = on;
        return this;
    }

    boolean syncBatchNorm() {
        return syncBatchNorm;
    }

    public Model generator() {
        return generator;
    }

    public Model discriminator() {
        return discriminator;
    }

    public GanLoss loss() {
        return loss;
    }

    public long[] latentShape() {
        return latentShape.clone();
    }

    // ------------------------------------------------------------------ steps

    /**
     * One training step: one discriminator update per real batch given (k = the number of batches), then one
     * generator update on a batch the size of the last real batch.
     */
    public StepResult trainStep(Tensor... realBatches) {
        if (realBatches.length == 0) throw new IllegalArgumentException("GanTrainer.trainStep: no real batch given");
        if (!realBatches[0].device().isCpu()) return step(realBatches);
        // On the CPU the step runs on the thread count its tuner measured fastest (busy cores: fewer threads).
        return threadTuner.run((int) realBatches[realBatches.length - 1].size(0), () -> step(realBatches));
    }

    private StepResult step(Tensor... realBatches) {
        try (Scope step = Scope.open()) {
            double dLoss = 0;
            double accuracy = 0;
            double penalty = 0;
            int k = realBatches.length;
            for (int i = 0; i < k - 1; i++) {
                double[] r = discriminatorUpdate(realBatches[i], noGradFake(realBatches[i].size(0)));
                dLoss += r[0];
                accuracy += r[1];
                penalty += r[2];
            }
            Tensor last = realBatches[k - 1];
            // The generator's forward is made once and reused: detached for D, with its graph for G.
            Tensor fake = generator.forwardTraining(noise(last.size(0), last.device()), false);
            double[] r = discriminatorUpdate(last, fake.detach());
            dLoss += r[0];
            accuracy += r[1];
            penalty += r[2];
            double gLoss = generatorUpdate(fake);
            return new StepResult(dLoss / k, gLoss, accuracy / k, penalty / k);
        }
    }

    /** One discriminator update on {@code real} and a fresh fake batch of the same size (G untouched). */
    public StepResult discriminatorStep(Tensor real) {
        try (Scope step = Scope.open()) {
            double[] r = discriminatorUpdate(real, noGradFake(real.size(0)));
            return new StepResult(r[0], Double.NaN, r[1], r[2]);
        }
    }

    /** One generator update on {@code batchSize} fresh noise vectors (D untouched). */
    public StepResult generatorStep(long batchSize) {
        if (batchSize <= 0) throw new IllegalArgumentException("GanTrainer.generatorStep: batch size must be > 0");
        try (Scope step = Scope.open()) {
            Tensor fake = generator.forwardTraining(noise(batchSize, generator.device()), false);
            return new StepResult(Double.NaN, generatorUpdate(fake), Double.NaN, Double.NaN);
        }
    }

    /** {dLoss, accuracy, penalty}. {@code fake} must carry no graph into G. */
    private double[] discriminatorUpdate(Tensor real, Tensor fake) {
        if (fake.requiresGrad()) throw new IllegalStateException("GanTrainer: the fake batch for D must be detached");
        boolean logits = logits();
        List<Tensor> params = discriminator.trainableTensors();
        for (Tensor p : params) p.zeroGrad();
        Tensor dReal;
        Tensor dFake;
        if (singlePass && samplesIndependent(real, fake)) {
            // One pass over [real; fake] (as Keras' GAN examples): half the small matrix products of two passes.
            long n = real.size(0);
            Tensor both = discriminator.forwardTraining(dev.soma.ops.Shapes.concat(0, real, fake), logits);
            dReal = both.slice(0, 0, n, 1);
            dFake = both.slice(0, n, n + fake.size(0), 1);
        } else {
            dReal = discriminator.forwardTraining(real, logits);
            dFake = discriminator.forwardTraining(fake, logits);
        }
        Tensor total = loss.discriminatorLoss(dReal, dFake, logits, 1.0 - labelSmoothing);
        double lossValue = total.item();
        double penalty = Double.NaN;
        if (loss == GanLoss.WASSERSTEIN_GP && gradientPenaltyWeight > 0) {
            Tensor gp = GradientPenalty.penalty(discriminator, real, fake, nextSeed());
            penalty = gp.item();
            total = total.add(gp.mul(gradientPenaltyWeight));
            lossValue += gradientPenaltyWeight * penalty;
        }
        Tensor reg = discriminator.regularizationLoss();
        if (reg != null) total = total.add(reg);
        backward(total, discriminatorBuckets);
        discriminatorOptimizer.step(params);
        dev.soma.nn.Constraint.applyAll(discriminator.params());
        for (Tensor p : params) p.zeroGrad();
        return new double[] {lossValue, accuracy(dReal, dFake, logits), penalty};
    }

    /**
     * Whether D may see the real and the fake batch in one pass: only when no layer mixes the samples of a batch
     * (batch statistics would then be taken over both halves together, which changes what D learns).
     */
    private boolean samplesIndependent(Tensor real, Tensor fake) {
        if (real.dtype() != fake.dtype() || real.ndim() != fake.ndim()) return false;
        for (int i = 1; i < real.ndim(); i++) if (real.size(i) != fake.size(i)) return false;
        for (dev.soma.nn.Layer l : discriminator.layers()) {
            if (l instanceof dev.soma.nn.BatchNormalization || !l.getClass().getPackageName().equals("dev.soma.nn")) return false;
        }
        return true;
    }

    private double generatorUpdate(Tensor fake) {
        boolean logits = logits();
        List<Tensor> params = generator.trainableTensors();
        for (Tensor p : params) p.zeroGrad();
        try (dev.soma.autograd.FrozenTensors frozen = dev.soma.autograd.FrozenTensors.freeze(discriminator.trainableTensors())) {
            Tensor dFake = discriminator.forwardTraining(fake, logits);
            Tensor total = loss.generatorLoss(dFake, logits);
            double lossValue = total.item();
            Tensor reg = generator.regularizationLoss();
            if (reg != null) total = total.add(reg);
            backward(total, generatorBuckets);
            generatorOptimizer.step(params);
            dev.soma.nn.Constraint.applyAll(generator.params());
            return lossValue;
        } finally {
            for (Tensor p : params) p.zeroGrad();
        }
    }

    /** Backward of one update; data-parallel: averaged over the ranks, weighted by their shares. */
    private void backward(Tensor total, dev.soma.distributed.GradientBuckets buckets) {
        if (buckets == null) total.backward();
        else buckets.backward(total, share);
    }

    /**
     * One data-parallel step (see {@link #dataParallel}): as {@link #trainStep}, on this rank's part of k global
     * batches ({@code reals[i]} null: none of batch i's examples is this rank's, which then contributes zero
     * gradients but joins every all-reduce and draws the same seeds). Returns this rank's values weighted by its
     * shares: their sum over the ranks is the global step's.
     */
    StepResult dataParallelStep(Tensor[] reals, double[] shares, int[] globalSizes, int[] offsets) {
        try (Scope step = Scope.open()) {
            double dLoss = 0, accuracy = 0, penalty = 0, gLoss = 0;
            int k = reals.length;
            for (int i = 0; i < k; i++) {
                boolean last = i == k - 1;
                share = shares[i];
                dev.soma.distributed.SyncBatchNorm syncBn = dev.soma.distributed.SyncBatchNorm.active();
                if (syncBn != null && reals[i] != null) syncBn.share(share);
                noiseRows = globalSizes[i];
                noiseOffset = offsets[i];
                if (reals[i] == null) {
                    nextSeed(); // this update's noise, drawn on every rank
                    if (loss == GanLoss.WASSERSTEIN_GP && gradientPenaltyWeight > 0) nextSeed();
                    zeroUpdate(discriminator, discriminatorOptimizer, discriminatorBuckets);
                    if (last) zeroUpdate(generator, generatorOptimizer, generatorBuckets);
                    continue;
                }
                long n = reals[i].size(0);
                double[] r;
                if (!last) {
                    r = discriminatorUpdate(reals[i], noGradFake(n));
                } else {
                    Tensor fake = generator.forwardTraining(noise(n, reals[i].device()), false);
                    r = discriminatorUpdate(reals[i], fake.detach());
                    gLoss = share * generatorUpdate(fake);
                }
                dLoss += share * r[0];
                accuracy += share * (Double.isNaN(r[1]) ? 0 : r[1]);
                penalty += share * (Double.isNaN(r[2]) ? 0 : r[2]);
            }
            return new StepResult(dLoss / k, gLoss, accuracy / k, penalty / k);
        } finally {
            share = 1;
            noiseRows = 0;
        }
    }

    /** A data-parallel update of a rank without examples: zero gradients into the all-reduce, the same step. */
    private void zeroUpdate(Model model, Optimizer optimizer, dev.soma.distributed.GradientBuckets buckets) {
        List<Tensor> params = model.trainableTensors();
        for (Tensor p : params) p.zeroGrad();
        buckets.backward(null, 0);
        optimizer.step(params);
        dev.soma.nn.Constraint.applyAll(model.params());
        for (Tensor p : params) p.zeroGrad();
    }

    /**
     * Whether D's output is taken as logits: for the cross-entropy losses, a final sigmoid is folded into the
     * loss, and a linear final layer is read as logits; other final activations are refused.
     */
    private boolean logits() {
        if (!loss.isCrossEntropy()) return false;
        String act = discriminator.finalActivation();
        if (act == null || act.equals("sigmoid") || act.equals("linear")) return true;
        throw new IllegalArgumentException("GanTrainer: the " + loss + " loss needs a discriminator ending in a sigmoid "
                + "(or a linear layer giving logits), got final activation '" + act + "'");
    }

    /** Fraction of real outputs above and fake outputs below the decision threshold; NaN for Wasserstein. */
    private double accuracy(Tensor dReal, Tensor dFake, boolean logits) {
        if (loss == GanLoss.WASSERSTEIN_GP) return Double.NaN;
        double threshold = logits ? 0.0 : 0.5;
        // Read as f64 whatever the models' dtype (an f64 GAN's outputs are f64).
        double[] r = dReal.detach().to(DType.F64).toDoubleArray();
        double[] f = dFake.detach().to(DType.F64).toDoubleArray();
        int right = 0;
        for (double v : r) if (v > threshold) right++;
        for (double v : f) if (v < threshold) right++;
        return right / (double) (r.length + f.length);
    }

    // ------------------------------------------------------------------ noise and samples

    /** {@code n} fresh noise vectors from N(0, 1), in the current scope. */
    public Tensor noise(long n) {
        return noise(n, generator.device());
    }

    private Tensor noise(long n, Device device) {
        long[] shape = new long[latentShape.length + 1];
        shape[0] = n;
        System.arraycopy(latentShape, 0, shape, 1, latentShape.length);
        if (noiseRows > 0) {
            // Data-parallel: this rank's rows of the noise the one-process run draws for the whole global batch.
            shape[0] = noiseRows;
            Tensor all = dev.soma.ops.Creation.randn(nextSeed(), dtype, device, shape);
            return all.slice(0, noiseOffset, noiseOffset + n, 1).contiguous();
        }
        return dev.soma.ops.Creation.randn(nextSeed(), dtype, device, shape);
    }

    private long nextSeed() {
        draws++;
        return rng.nextLong();
    }

    private Tensor noGradFake(long n) {
        try (GradMode.Guard g = GradMode.disable()) {
            return generator.forwardTraining(noise(n), false);
        }
    }

    /** The same noise vectors for the trainer's whole life (drawn once from the seed): comparable sample grids. */
    public Tensor fixedNoise() {
        if (fixedNoise == null) {
            long[] shape = new long[latentShape.length + 1];
            shape[0] = fixedNoiseCount;
            System.arraycopy(latentShape, 0, shape, 1, latentShape.length);
            // Drawn on the CPU, then moved: the sample grids show the same noise on every device.
            fixedNoise = dev.soma.ops.Creation.randn(seed ^ 0x5DEECE66DL, dtype, Device.cpu(), shape).keep();
        }
        if (!fixedNoise.device().equals(generator.device())) fixedNoise.moveTo(generator.device());
        return fixedNoise;
    }

    /** G's output (inference mode, nothing recorded) for the given noise, in the current scope. */
    public Tensor generate(Tensor noise) {
        try (GradMode.Guard g = GradMode.disable()) {
            return generator.call(noise);
        }
    }

    // ------------------------------------------------------------------ fit

    /**
     * Trains for {@code epochs} passes over {@code real} (features only; labels are ignored): every step takes k
     * shuffled batches for the discriminator updates, then one generator update. Returns per-epoch means of
     * d_loss, g_loss, d_accuracy (and gradient_penalty for WGAN-GP). After {@link #restore}, {@code epochs} is the
     * total: the run continues at the restored epoch and the returned history holds the earlier epochs too.
     */
    public History fit(Dataset real, int batchSize, int epochs, EpochListener listener) throws java.io.IOException {
        if (batchSize <= 0 || epochs < 0) throw new IllegalArgumentException("GanTrainer.fit: batchSize must be > 0, epochs >= 0");
        DataLoader loader = new DataLoader(real, batchSize, true, seed);
        int start = resumed ? completedEpochs : 0;
        if (!resumed) history = new History();
        resumed = false;
        if (syncBatchNorm && !dataParallel) {
            throw new IllegalArgumentException("GanTrainer.fit: syncBatchNorm(true) synchronises batch statistics over "
                    + "the ranks of data-parallel training; it needs dataParallel(true)");
        }
        GanDataParallel parallel = dataParallel ? new GanDataParallel(this, real.size(), batchSize, seed) : null;
        try {
            fitEpochs(real, loader, parallel, start, epochs, listener);
        } finally {
            if (parallel != null) {
                lastDataParallelStatistics = parallel.statistics();
                parallel.close();
            }
            generatorBuckets = null;
            discriminatorBuckets = null;
        }
        return history;
    }

    private String lastDataParallelStatistics;

    /** What the last data-parallel fit's gradient buckets measured (both models); null before. */
    public String lastDataParallelStatistics() {
        return lastDataParallelStatistics;
    }

    /** Set by GanDataParallel for the duration of a data-parallel fit. */
    void buckets(dev.soma.distributed.GradientBuckets generator, dev.soma.distributed.GradientBuckets discriminator) {
        this.generatorBuckets = generator;
        this.discriminatorBuckets = discriminator;
    }

    int discriminatorSteps() {
        return discriminatorSteps;
    }

    DType dtype() {
        return dtype;
    }

    private void fitEpochs(Dataset real, DataLoader loader, GanDataParallel parallel, int start, int epochs,
                           EpochListener listener) throws java.io.IOException {
        for (int epoch = start; epoch < epochs; epoch++) {
            if (parallel != null) {
                double[] sums = parallel.epoch(real, epoch);
                recordEpoch(epoch, sums[0], sums[1], sums[2], sums[3], (int) sums[4],
                        dev.soma.distributed.Mpi.writesOutputs() ? listener : null);
                continue;
            }
            double d = 0;
            double g = 0;
            double acc = 0;
            double gp = 0;
            int steps = 0;
            Iterator<Batch> it = loader.epoch(epoch);
            while (it.hasNext()) {
                List<Batch> group = new ArrayList<>();
                while (group.size() < discriminatorSteps && it.hasNext()) group.add(it.next());
                try (Scope s = Scope.open()) {
                    Tensor[] reals = new Tensor[group.size()];
                    for (int i = 0; i < reals.length; i++) {
                        Tensor x = group.get(i).features(generator.device());
                        reals[i] = x.dtype() == dtype ? x : x.to(dtype);
                    }
                    StepResult r = trainStep(reals);
                    d += r.dLoss();
                    g += r.gLoss();
                    acc += r.dAccuracy();
                    gp += r.gradientPenalty();
                    steps++;
                }
            }
            recordEpoch(epoch, d, g, acc, gp, steps, listener);
        }
    }

    /** The epoch's mean values (sums over its steps divided by the steps) into the history, then the listener. */
    private void recordEpoch(int epoch, double d, double g, double acc, double gp, int steps, EpochListener listener)
            throws java.io.IOException {
        Map<String, Double> logs = new LinkedHashMap<>();
        logs.put("d_loss", d / steps);
        logs.put("g_loss", g / steps);
        if (loss != GanLoss.WASSERSTEIN_GP) logs.put("d_accuracy", acc / steps);
        else logs.put("gradient_penalty", gp / steps);
        history.record(logs);
        completedEpochs = epoch + 1;
        if (listener != null) listener.onEpochEnd(epoch, logs);
    }

    /** The per-epoch means of the last (or restored) {@link #fit}. */
    public History history() {
        return history;
    }

    /** Epochs trained so far (by {@link #fit}, or restored). */
    public int completedEpochs() {
        return completedEpochs;
    }

    /**
     * Writes the whole training state to one file, atomically: both models (weights, random streams) with their
     * optimizers' state and step counts, the trainer's seed and the position of its random stream (noise,
     * interpolation weights), the epochs done and their history. {@link #restore} continues from it exactly.
     */
    public void save(java.nio.file.Path file) throws java.io.IOException {
        Map<String, Object> state = new LinkedHashMap<>();
        // Strings: a JSON number would lose the low bits of a 64-bit seed.
        state.put("seed", Long.toString(seed));
        state.put("draws", Long.toString(draws));
        state.put("epochs", completedEpochs);
        state.put("loss", loss.name());
        state.put("discriminator_steps", discriminatorSteps);
        state.put("latent_shape", java.util.Arrays.toString(latentShape));
        state.put("options", trainingOptions());
        Map<String, List<String>> h = new LinkedHashMap<>();
        history.all().forEach((k, v) -> h.put(k, v.stream().map(d -> Double.toString(d)).toList()));
        state.put("history", h);
        Checkpoint.saveParts(file, parts(), Map.of(STATE_KEY, GSON.toJson(state)));
    }

    /**
     * Loads a file of {@link #save} into this trainer's models (same architectures) and optimizers (same kind) and
     * its random stream; the next {@link #fit} continues at the saved epoch, as an uninterrupted run would (bit for
     * bit on the CPU with the same data, batch size and options). The loss, k, latent shape, label smoothing, gradient
     * penalty weight and discriminator pass mode must be the saved ones.
     */
    public GanTrainer restore(java.nio.file.Path file) throws java.io.IOException {
        Map<String, String> meta = Checkpoint.restoreParts(file, parts());
        String json = meta.get(STATE_KEY);
        if (json == null) throw new SomaException("GanTrainer.restore: " + file + " holds no GAN trainer state");
        Map<String, Object> state = GSON.fromJson(json, new TypeToken<Map<String, Object>>() {}.getType());
        String savedLoss = (String) state.get("loss");
        int savedK = ((Number) state.get("discriminator_steps")).intValue();
        String savedLatent = (String) state.get("latent_shape");
        if (!loss.name().equals(savedLoss) || savedK != discriminatorSteps
                || !java.util.Arrays.toString(latentShape).equals(savedLatent)) {
            throw new SomaException("GanTrainer.restore: " + file + " was trained with loss " + savedLoss + ", k="
                    + savedK + ", latent " + savedLatent + "; this trainer has loss " + loss.name() + ", k="
                    + discriminatorSteps + ", latent " + java.util.Arrays.toString(latentShape));
        }
        // Options that change the losses: a trainer set otherwise would continue another run (older files lack them).
        if (state.get("options") instanceof Map<?, ?> saved && !saved.equals(trainingOptions())) {
            throw new SomaException("GanTrainer.restore: " + file + " was trained with " + saved + "; this trainer has "
                    + trainingOptions() + " (set them as saved, or start a new run)");
        }
        long savedSeed = Long.parseLong((String) state.get("seed"));
        if (savedSeed != seed && fixedNoise != null) {
            fixedNoise.close();
            fixedNoise = null;
        }
        seed(savedSeed);
        long n = Long.parseLong((String) state.get("draws"));
        for (long i = 0; i < n; i++) nextSeed();
        History h = new History();
        @SuppressWarnings("unchecked")
        Map<String, List<String>> saved = (Map<String, List<String>>) state.get("history");
        int epochs = ((Number) state.get("epochs")).intValue();
        for (int e = 0; e < epochs; e++) {
            Map<String, Double> row = new LinkedHashMap<>();
            for (Map.Entry<String, List<String>> c : saved.entrySet()) row.put(c.getKey(), Double.parseDouble(c.getValue().get(e)));
            h.record(row);
        }
        history = h;
        completedEpochs = epochs;
        resumed = true;
        return this;
    }

    /** The options beyond loss, k and latent shape that {@link #restore} must find as saved (strings: exact values). */
    private Map<String, String> trainingOptions() {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("label_smoothing", Double.toString(labelSmoothing));
        o.put("gradient_penalty_weight", Double.toString(gradientPenaltyWeight));
        o.put("discriminator_single_pass", Boolean.toString(singlePass));
        return o;
    }

    private List<Checkpoint.Part> parts() {
        return List.of(new Checkpoint.Part("generator", generator, generatorOptimizer),
                new Checkpoint.Part("discriminator", discriminator, discriminatorOptimizer));
    }

    /**
     * Moves both models, both optimizers' state and the fixed noise to {@code device} (see {@code Model.to}); the
     * noise of later steps is drawn there and real batches are copied there. Returns this trainer.
     */
    public GanTrainer to(Device device) {
        generator.to(device);
        discriminator.to(device);
        moveState(generatorOptimizer, generator, device);
        moveState(discriminatorOptimizer, discriminator, device);
        if (fixedNoise != null) fixedNoise.moveTo(device);
        return this;
    }

    private static void moveState(Optimizer optimizer, Model model, Device device) {
        List<Tensor> values = new ArrayList<>();
        for (dev.soma.nn.Param p : model.params()) values.add(p.value());
        for (Tensor t : optimizer.stateTensors(values).values()) t.moveTo(device);
    }

    /** Frees both optimizers' state and the fixed noise (the models are the caller's to close). */
    @Override
    public void close() {
        generatorOptimizer.close();
        discriminatorOptimizer.close();
        if (fixedNoise != null) {
            fixedNoise.close();
            fixedNoise = null;
        }
    }
}
