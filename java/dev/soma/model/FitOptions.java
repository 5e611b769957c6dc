package dev.soma.model;

import dev.soma.data.Dataset;

import java.util.ArrayList;
import java.util.List;

/** The arguments of {@link Model#fit(Dataset, FitOptions)}, with Keras' defaults. */
public final class FitOptions {
    int batchSize = 32;
    int epochs = 1;
    int initialEpoch;
    java.nio.file.Path resumeFrom;
    Dataset validationData;
    double validationSplit;
    boolean shuffle = true;
    long seed = 0;
    private boolean noiseFromSeed; // the perturbation is gaussianNoise's, seeded by this options' seed
    int verbose = 1;
    final List<Callback> callbacks = new ArrayList<>();
    dev.soma.privacy.PrivacySettings privacy;
    int privacyPhysicalBatch = Integer.MAX_VALUE;
    TrainingPerturbation perturbation;
    boolean dataParallel;
    dev.soma.tensor.Precision precision = dev.soma.tensor.Precision.F32;
    boolean syncBatchNorm;
    double weightAverageDecay = -1; // < 0: off

    public FitOptions batchSize(int b) {
        if (b <= 0) throw new IllegalArgumentException("fit: batchSize must be > 0, got " + b);
        batchSize = b;
        return this;
    }

    public FitOptions epochs(int e) {
        if (e < 0) throw new IllegalArgumentException("fit: epochs must be >= 0, got " + e);
        epochs = e;
        return this;
    }

    /** Resumes at this epoch (0-based): epochs run from initialEpoch to epochs - 1, shuffled as in an unbroken run. */
    public FitOptions initialEpoch(int e) {
        if (e < 0) throw new IllegalArgumentException("fit: initialEpoch must be >= 0, got " + e);
        initialEpoch = e;
        return this;
    }

    /**
     * Continues the run saved in {@code checkpoint} (by {@link ModelCheckpoint} or {@link Model#save}): before the
     * first epoch, fit loads the weights, the optimizer's state and step count (so a schedule continues where it
     * was), the layers' random streams, the epoch count and the history into this (compiled, same-architecture)
     * model, then trains from the next epoch; the returned History holds every epoch. The rest of the options
     * (data, batch size, seed, epochs) must be the first run's for the result to equal an unbroken run. Overrides
     * {@link #initialEpoch}.
     */
    public FitOptions resumeFrom(java.nio.file.Path checkpoint) {
        if (checkpoint == null) throw new IllegalArgumentException("fit: resumeFrom needs a checkpoint path");
        resumeFrom = checkpoint;
        return this;
    }

    public FitOptions validationData(Dataset d) {
        validationData = d;
        return this;
    }

    /** The last fraction of the training data is held out for validation (before shuffling), as Keras. */
    public FitOptions validationSplit(double f) {
        if (!(f >= 0 && f < 1)) throw new IllegalArgumentException("fit: validationSplit must be in [0, 1), got " + f);
        validationSplit = f;
        return this;
    }

    public FitOptions shuffle(boolean s) {
        shuffle = s;
        return this;
    }

    public FitOptions seed(long s) {
        seed = s;
        // The noise gaussianNoise set follows the seed, whichever of the two was set first.
        if (noiseFromSeed && perturbation instanceof dev.soma.robust.GaussianNoise g) {
            perturbation = new dev.soma.robust.GaussianNoise(g.sigma(), s);
        }
        return this;
    }

    /** 0 silent, 1 progress bar (quiet when not a terminal), 2 one line per epoch. */
    public FitOptions verbose(int v) {
        verbose = v;
        return this;
    }

    /**
     * Trains with DP-SGD (dev.soma.privacy.PrivateStep): Poisson-sampled batches (rate batchSize / N), per-example
     * gradients clipped to {@code maxGradNorm}, Gaussian noise of std {@code noiseMultiplier * maxGradNorm}; ε at
     * {@code delta} is logged after every epoch under "epsilon".
     */
    public FitOptions privacy(double noiseMultiplier, double maxGradNorm, double delta) {
        privacy = new dev.soma.privacy.PrivacySettings(noiseMultiplier, maxGradNorm, delta);
        return this;
    }

    /**
     * DP-SGD's physical batch: at most {@code examples} examples per forward and backward, a larger Poisson sample
     * taken in parts (Opacus' max_physical_batch_size). The clipped sum and ε are the same; the memory is one part's.
     */
    public FitOptions privacyPhysicalBatch(int examples) {
        if (examples < 1) throw new IllegalArgumentException("fit privacy: the physical batch must be >= 1 example, got " + examples);
        privacyPhysicalBatch = examples;
        return this;
    }

    /** {@link #privacy(double, double, double)} with settings made elsewhere. */
    public FitOptions privacy(dev.soma.privacy.PrivacySettings settings) {
        privacy = java.util.Objects.requireNonNull(settings, "fit privacy: settings");
        return this;
    }

    public FitOptions callbacks(Callback... cs) {
        callbacks.addAll(List.of(cs));
        return this;
    }

    /**
     * Adversarial training: every training batch is replaced by its adversarial examples, e.g.
     * {@code Attacks.fgsmRandomStart(eps, 0, 1, seed)} ("Fast is better than free") or {@code Attacks.pgd(...)}.
     */
    public FitOptions adversarial(TrainingPerturbation attack) {
        if (attack == null) throw new IllegalArgumentException("FitOptions.adversarial: the attack is null");
        this.perturbation = attack;
        this.noiseFromSeed = false;
        return this;
    }

    /**
     * Gaussian-noise augmentation: each training input gets fresh N(0, sigma^2) noise per element, drawn from these
     * options' {@link #seed} (set before or after this call).
     */
    public FitOptions gaussianNoise(double sigma) {
        this.perturbation = new dev.soma.robust.GaussianNoise(sigma, seed);
        this.noiseFromSeed = true;
        return this;
    }

    /**
     * Data-parallel training over the MPI world this process belongs to (started by {@code mpirun}, {@code srun} or
     * {@code soma launch}), with PyTorch DistributedDataParallel's semantics: rank 0's weights are broadcast before
     * the first step, each rank trains on its part of every global batch of {@code batchSize * ranks} examples
     * ({@link dev.soma.distributed.DistributedSampler}), gradients are averaged by bucketed all-reduce started while
     * backward runs ({@link dev.soma.distributed.GradientBuckets}), losses and metrics are averaged over the ranks,
     * and only rank 0 prints progress and writes checkpoints and logs. {@code batchSize} is per rank. CPU only.
     */
    public FitOptions dataParallel(boolean on) {
        dataParallel = on;
        return this;
    }

    /**
     * The arithmetic of the training steps (and of the validation passes inside fit): {@code F32} (default) or
     * {@code BF16} mixed precision, where convolutions and matrix products multiply in bfloat16 while weights,
     * gradients and optimizer state stay float32 (see docs/precision.md). A fit option rather than a compile
     * argument: it changes how steps run, not what the model is, so a model trained in bf16 evaluates, predicts
     * and saves in float32 as any other. fit refuses bf16 off the CPU, for a float64 model, and on a CPU without
     * bf16 instructions (AVX512_BF16 or AMX-BF16).
     */
    public FitOptions precision(dev.soma.tensor.Precision p) {
        if (p == null) throw new IllegalArgumentException("fit: precision is null (F32 or BF16)");
        precision = p;
        return this;
    }

    /**
     * With {@link #dataParallel}: BatchNormalization layers in training take their batch mean and variance over the
     * examples of all ranks (PyTorch's SyncBatchNorm, {@link dev.soma.distributed.SyncBatchNorm}), so 2 ranks x 16
     * normalise as 1 process x 32 does, and the moving statistics stay the same on every rank. Costs one small
     * all-reduce per layer in the forward and one in the backward. Off by default (each rank's own batch).
     */
    public FitOptions syncBatchNorm(boolean on) {
        syncBatchNorm = on;
        return this;
    }

    /**
     * Keeps an exponential moving average of the weights over the training steps (bias-corrected, see
     * {@code WeightAverage}) and uses it wherever the model is looked at: validation, the epoch-end callbacks (so
     * {@link ModelCheckpoint} saves it) and the model fit returns. Training itself continues from the live weights.
     * Under DP-SGD the average is post-processing of the noisy iterates, so ε is unchanged (De et al. 2022).
     * {@code decay} in [0, 1): 0 is the last iterate; 0.9-0.99 average over about the last 10-100 steps.
     */
    public FitOptions weightAverage(double decay) {
        if (!(decay >= 0 && decay < 1)) {
            throw new IllegalArgumentException("fit: weightAverage decay must be in [0, 1), got " + decay);
        }
        weightAverageDecay = decay;
        return this;
    }
}
