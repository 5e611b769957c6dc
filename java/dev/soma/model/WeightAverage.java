package dev.soma.model;

import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.nn.Param;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The exponential moving average of a model's weights over its training steps (Polyak averaging; De et al. 2022 use
 * it for DP-SGD, where it is post-processing of the released noisy iterates and costs no privacy). Bias-corrected
 * as Adam's moments: after t updates the average is sum_i (1-d) d^(t-i) w_i / (1 - d^t), a weighted mean of the
 * iterates w_1..w_t only, so short runs are not pulled towards the initial weights. Every floating parameter is
 * averaged, non-trainable ones too (BatchNormalization's moving statistics, as timm's ModelEma does), so the
 * statistics match the averaged weights rather than the last iterate's.
 */
final class WeightAverage implements AutoCloseable {
    private final double decay;
    private final List<Tensor> live = new ArrayList<>();
    private final List<Tensor> average = new ArrayList<>();
    private final List<Tensor> stash = new ArrayList<>();
    private long updates;
    private boolean swapped;

    WeightAverage(double decay, List<Param> params) {
        if (!(decay >= 0 && decay < 1)) {
            throw new IllegalArgumentException("weightAverage: decay must be in [0, 1), got " + decay);
        }
        this.decay = decay;
        for (Param p : params) {
            Tensor v = p.value();
            if (!v.dtype().isFloating()) continue;
            live.add(v);
            average.add(Tensor.empty(v.dtype(), v.device(), v.shape()).keep());
            stash.add(Tensor.empty(v.dtype(), v.device(), v.shape()).keep());
        }
    }

    /** Folds the current weights into the average: a_t = a_{t-1} + beta_t (w_t - a_{t-1}), beta_t = (1-d)/(1-d^t). */
    void update() {
        if (swapped) throw new IllegalStateException("weightAverage: update while the average is swapped in");
        updates++;
        double beta = (1 - decay) / (1 - Math.pow(decay, updates));
        try (GradMode.Guard g = GradMode.disable(); Scope s = Scope.open()) {
            for (int i = 0; i < live.size(); i++) {
                Tensor w = live.get(i);
                Tensor next = updates == 1 ? w : average.get(i).add(w.sub(average.get(i)).mul(beta));
                next.backend().memory().copy(next, average.get(i));
            }
        }
    }

    long updates() {
        return updates;
    }

    /** Puts the average into the model's parameters, keeping the live weights aside (no-op before any update). */
    void swapIn() {
        if (swapped || updates == 0) return;
        for (int i = 0; i < live.size(); i++) {
            Tensor w = live.get(i);
            w.backend().memory().copy(w, stash.get(i));
            w.backend().memory().copy(average.get(i), w);
        }
        swapped = true;
    }

    /** Restores the live weights that {@link #swapIn} set aside, so training continues from its own iterate. */
    void swapOut() {
        if (!swapped) return;
        for (int i = 0; i < live.size(); i++) {
            Tensor w = live.get(i);
            w.backend().memory().copy(stash.get(i), w);
        }
        swapped = false;
    }

    @Override
    public void close() {
        for (Tensor t : average) t.close();
        for (Tensor t : stash) t.close();
    }
}
