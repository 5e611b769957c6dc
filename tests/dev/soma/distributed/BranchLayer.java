package dev.soma.distributed;

import dev.soma.nn.Initializer;
import dev.soma.nn.Layer;
import dev.soma.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * A test layer with a data-dependent branch, as a researcher's custom layer might have: y = x W, plus (x B) for the
 * examples whose first feature exceeds 0.8. B enters the graph only when some example of the batch takes the branch,
 * so in other batches backward never reaches it and it has no gradient. Records, per training batch, 'T' (taken) or
 * 'S' (skipped).
 */
final class BranchLayer extends Layer {
    private final int units;
    private Tensor always, branch;
    private final StringBuilder history = new StringBuilder();

    BranchLayer(int units) {
        this.units = units;
    }

    /** 'T' or 'S' per training batch so far. */
    String history() {
        return history.toString();
    }

    @Override
    public String typeName() {
        return "branch_test";
    }

    @Override
    public long[] computeOutputShape(long[] in) {
        long[] out = in.clone();
        out[out.length - 1] = units;
        return out;
    }

    @Override
    protected void createParams(long[] in, SplittableRandom rng) {
        long features = in[in.length - 1];
        always = addParam("always", new long[] {features, units}, Initializer.glorotUniform(), null, true, features, units, rng);
        branch = addParam("branch", new long[] {features, units}, Initializer.glorotUniform(), null, true, features, units, rng);
    }

    @Override
    protected Tensor call(Tensor x, boolean training) {
        long rows = x.shape()[0], features = x.shape()[1];
        double[] v = x.toDoubleArray();
        double[] mask = new double[(int) rows];
        boolean any = false;
        for (int i = 0; i < rows; i++) {
            mask[i] = v[(int) (i * features)] > 0.8 ? 1 : 0;
            any |= mask[i] == 1;
        }
        if (training) history.append(any ? 'T' : 'S');
        Tensor y = x.matmul(always);
        if (!any) return y;
        return y.add(x.matmul(branch).mul(Tensor.of(mask, rows, 1).to(x.dtype())));
    }
}
