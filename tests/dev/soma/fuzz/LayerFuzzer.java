package dev.soma.fuzz;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.reflect.TypeToken;
import dev.soma.autograd.GradMode;
import dev.soma.memory.Scope;
import dev.soma.nn.Layer;
import dev.soma.nn.LayerRegistry;
import dev.soma.nn.Merge;
import dev.soma.nn.Param;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Builds random layers of every registered type ({@link LayerRecipes}, options by {@link LayerSetters}) and judges
 * what they do, the way {@link OpFuzzer} judges ops:
 * <ul>
 *   <li>a refusal (of a wild option or of an input that does not fit) must be a clear one, as for ops;</li>
 *   <li>a result must have the shapes that {@code computeOutputShapes} promised;</li>
 *   <li><b>saving loses nothing:</b> the layer rebuilt from its config, as a checkpoint rebuilds it (through JSON and
 *       {@link LayerRegistry}), has the same config, weights of the same shapes, the same regularizers, constraints
 *       and trainable flags, and computes the same outputs bit for bit;</li>
 *   <li><b>the values are right:</b> float32 outputs, input gradients and weight gradients (of a random weighting of
 *       the outputs plus the regularization loss) agree with the same layer in float64 on the CPU within
 *       {@link TensorAgreement}'s allowance, with the same random mask where the input is a sequence. The float64
 *       twin runs our own float64 loops, so oneDNN's kernels, the vectorised and fused float32 paths and, on a GPU,
 *       the CUDA kernels are each checked against an independent computation of the whole layer;</li>
 *   <li>the layer answers an input it was not built for (another shape, rank, dtype, ids out of range, an empty
 *       batch, a mask one step too long) with a clear refusal or a result of the promised shape, and still computes
 *       the same afterwards; an unbuilt layer that refused its first input is left unbuilt and weightless (and then
 *       builds as a fresh one would) or built for what it was given;</li>
 *   <li>closing the layers and the call's scope frees every native byte.</li>
 * </ul>
 * A trial is reproducible from its seed (the layer's weights are copied between twins, never drawn twice).
 */
final class LayerFuzzer {
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();
    private static final Type MAP = new TypeToken<Map<String, Object>>() {}.getType();
    /**
     * How many times the perturbed reference's move a layer's result may differ by (ops: 100). A layer chains rounded
     * ops: a divisive DaleDense rounds its denominator, a sum that cancels, before dividing by it, and perturbing the
     * inputs reproduces that only in part (a divisive DaleDense under softmax reached 134 times). A wrong kernel
     * misses by orders of magnitude more, and DESIGN.md's bound still applies where the layer is well conditioned.
     */
    private static final double SENSITIVITY_FACTOR = 1000;

    private final Device home;
    private final Map<String, String> findings = new LinkedHashMap<>();
    private final Map<String, Integer> comparedBy = new LinkedHashMap<>();
    private int trials;
    private int compared;
    private int mutations;
    /** Prints each trial's layer and outcome (replaying one finding). */
    boolean verbose;

    LayerFuzzer(Device home) {
        this.home = home;
    }

    /** Runs {@code trials} random layers of {@code type}, the i-th from seed {@code seed + i}. */
    void fuzz(String type, long seed, int count) {
        comparedBy.putIfAbsent(type, 0);
        for (int i = 0; i < count; i++) trial(type, seed + i);
    }

    /**
     * {@code -Dsoma.fuzz.trace=FILE}: each trial's type and seed are appended to FILE before it runs, so that its last
     * line names a layer that crashed the JVM.
     */
    private static final String TRACE = System.getProperty("soma.fuzz.trace");

    private void trial(String type, long seed) {
        trials++;
        if (TRACE != null) {
            try (java.io.FileWriter w = new java.io.FileWriter(TRACE, true)) {
                w.write(type + " " + seed + "\n");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        long liveBefore = FuzzReports.liveBytes(home);
        List<Layer> owned = new ArrayList<>();
        String where = type + " seed " + seed;
        try (Scope scope = Scope.open()) {
            boolean wild = new SplittableRandom(seed).nextInt(4) == 0;
            LayerKnobs knobs = new LayerKnobs(new SplittableRandom(seed ^ 0x5EED), wild);
            LayerRecipes.Draw d;
            try {
                d = LayerRecipes.draw(type, knobs);
            } finally {
                where += knobs.wildDraws().isEmpty() ? "" : " (wild: " + knobs.wildDraws() + ")";
            }
            owned.add(d.layer());
            where += ": " + d.layer().config() + " on " + shapes(d.inputs());
            SplittableRandom random = new SplittableRandom(seed ^ 0xF00D);
            new Trial(type, d, random, where, owned, () -> LayerRecipes.draw(type,
                    new LayerKnobs(new SplittableRandom(seed ^ 0x5EED), wild))).run();
        } catch (Throwable t) {
            judge(t, type, where);
        } finally {
            for (Layer l : owned) {
                try {
                    l.close();
                } catch (Throwable t) {
                    record(type, "threw while closing", where + ": " + t);
                }
            }
        }
        long leaked = FuzzReports.liveBytes(home) - liveBefore;
        if (leaked != 0) record(type, "left native memory allocated after the layers and the scope closed", leaked + " bytes: " + where);
    }

    @FunctionalInterface
    interface Redraw {
        LayerRecipes.Draw draw() throws Throwable;
    }

    /** One layer's checks. */
    private final class Trial {
        final String type;
        final LayerRecipes.Draw d;
        final Layer layer;
        final SplittableRandom random;
        final String where;
        final List<Layer> owned;
        final Redraw redraw;
        final int batch;
        final boolean training;
        final long inputSeed;
        /** Whether calls pass a random mask [batch, steps] (sequence inputs only: rank 2 and above, or ids). */
        final boolean masked;

        Trial(String type, LayerRecipes.Draw d, SplittableRandom random, String where, List<Layer> owned, Redraw redraw) {
            this.type = type;
            this.d = d;
            this.layer = d.layer();
            this.random = random;
            this.owned = owned;
            this.redraw = redraw;
            this.batch = 1 + random.nextInt(3);
            this.inputSeed = random.nextLong();
            // Training mode only where it is deterministic (no dropout drawn): the twins must draw no masks.
            this.training = random.nextInt(3) == 0 && !stochastic(layer.config());
            this.masked = !(layer instanceof Merge) && (d.vocabulary() > 0 || d.inputs().get(0).length >= 2)
                    && random.nextBoolean();
            this.where = where + " batch " + batch + (training ? " training" : "") + (masked ? " masked" : "");
        }

        /** The layer on inputs of the draw's shapes, with the trial's mask (if any) in their dtype and on their device. */
        List<Tensor> call(Layer l, List<Tensor> in, boolean training) {
            return call(l, in, mask(batch, d.inputs(), 0, in.get(0)), training);
        }

        List<Tensor> call(Layer l, List<Tensor> in, Tensor mask, boolean training) {
            if (l instanceof Merge m) return List.of(m.apply(in, training));
            return l.applyAll(in.get(0), mask, training);
        }

        /**
         * The trial's mask for inputs of these per-example shapes and batch, its steps {@code delta} more than the
         * first input's (a mask that does not fit); null when the trial has none. Ones and zeros, exact in every
         * twin: a mask is not data to perturb.
         */
        Tensor mask(int b, List<long[]> shapes, int delta, Tensor like) {
            if (!masked || shapes.isEmpty() || shapes.get(0).length == 0) return null;
            long steps = Math.max(0, shapes.get(0)[0] + delta);
            SplittableRandom r = new SplittableRandom(inputSeed ^ 0x3A5C);
            double[] v = new double[Math.toIntExact(b * steps)];
            for (int i = 0; i < v.length; i++) v[i] = r.nextInt(10) < 7 ? 1 : 0;
            DType dtype = like.dtype().isFloating() ? like.dtype() : DType.F32;
            return Tensor.of(v, b, steps).to(dtype).to(like.device());
        }

        void run() throws Throwable {
            if (verbose) System.out.println("trial: " + where);
            // An unbuilt twin of the layer (the same draw) first meets an input it may not fit.
            Layer early = null;
            boolean earlyRefused = false;
            if (random.nextInt(4) == 0) {
                early = redraw.draw().layer();
                owned.add(early);
                Mutation m = mutate(random);
                mutations++;
                earlyRefused = !tryMutated(early, m, "as its first input");
                // A refusal after the build (ids out of range, a kernel's own check) leaves the layer built for what
                // it was given, as in Keras; one before it must leave it unbuilt, with no weights.
                if (earlyRefused && early.isBuilt()) {
                    long[] built = early.inputShape();
                    if (!(early instanceof Merge) && !Arrays.equals(built, m.shapes().get(0))) {
                        record(type, "is built for " + Arrays.toString(built) + " after refusing its first input",
                                where + ": " + m);
                    }
                    earlyRefused = false;
                } else if (earlyRefused && !early.params().isEmpty()) {
                    record(type, "holds weights but is not built after refusing its first input", where + ": " + m);
                    earlyRefused = false;
                }
            }
            List<Tensor> inputs = inputs(d.inputs(), d.vocabulary(), batch, inputSeed, DType.F32, home);
            // Weights from the trial's seed, so that a replay meets the same weights (a first call would draw them from
            // an unseeded generator); the early twin above and CudaLayerBuildTest cover building on a first call.
            if (!(layer instanceof Merge)) {
                layer.build(d.inputs().get(0), DType.F32, new SplittableRandom(inputSeed ^ 0xB01D));
                moveWeights(layer, home);
            }
            List<Tensor> got = call(layer, inputs, training);
            checkShapes(layer, d.inputs(), batch, got, "");
            Map<String, Object> config = roundTrip(layer.config());
            List<Tensor> weights = layer.params().stream().map(Param::value).toList();

            if (!training) { // the same input twice gives the same output (with gradients: no-grad kernels may round otherwise)
                List<Tensor> again = call(layer, inputs, false);
                if (!identical(got, again)) record(type, "computes other outputs when called again on the same input", where);
            }
            Layer saved = twin(config, weights, Twin.cpu(), home, "the rebuilt layer");
            if (saved == null) return;
            checkSameOptions(saved, config);
            List<Tensor> savedOut = call(saved, copies(inputs, Twin.cpu(), home), training);
            if (!identical(got, savedOut)) {
                record(type, "computes other outputs after a save and load (config and weights)", where);
            }
            if (!(layer instanceof Merge)) { // the mask handed to the next layer survives a save too
                Tensor mask = mask(batch, d.inputs(), 0, inputs.get(0));
                Tensor before = layer.computeMask(inputs.get(0), mask), after = saved.computeMask(inputs.get(0), mask);
                if ((before == null) != (after == null)
                        || (before != null && !identical(List.of(before), List.of(after)))) {
                    record(type, "hands the next layer another mask after a save and load", where);
                }
            }
            if (early != null && earlyRefused) checkRecovered(early, inputs, got);
            compareWithFloat64(config, weights, inputs, got);
            if (home.equals(Device.cpu())) checkAgainstFiniteDifferences(config, weights, inputs);
            if (random.nextInt(3) == 0) {
                Mutation m = mutate(random);
                mutations++;
                if (!tryMutated(layer, m, "after it was built") && !training) {
                    List<Tensor> after = call(layer, inputs, false);
                    if (!identical(got, after)) record(type, "computes other outputs after refusing an input", where + ": " + m);
                }
            }
        }

        /**
         * The layer as a checkpoint rebuilds it: from its config through JSON, built, with {@code weights} copied in
         * (converted as {@code twin} says: float64, perturbed, or as they are) and moved to {@code device}. Null (and
         * recorded) when the config or the weights do not fit.
         */
        Layer twin(Map<String, Object> config, List<Tensor> weights, Twin twin, Device device, String what) {
            Layer t;
            try {
                t = LayerRegistry.create(type, config);
            } catch (RuntimeException e) {
                record(type, "cannot be rebuilt from its own config", where + ": " + e);
                return null;
            }
            owned.add(t);
            DType dtype = twin.widened() ? DType.F64 : weights.isEmpty() ? DType.F32 : weights.get(0).dtype();
            // Built on the CPU in the twin's dtype (weights drawn and then replaced), moved to the device afterwards.
            if (!(t instanceof Merge)) t.build(d.inputs().get(0), dtype, new SplittableRandom(0));
            List<Tensor> values = new ArrayList<>();
            for (Tensor w : weights) values.add(twin.copy(w.detach()));
            try {
                t.setWeights(values);
            } catch (RuntimeException e) {
                record(type, "has other weights when rebuilt from its config (" + what + ")", where + ": " + e.getMessage());
                return null;
            }
            moveWeights(t, device);
            return t;
        }

        /** Moves a layer built on the CPU to {@code device} (nothing to do for the CPU). */
        void moveWeights(Layer l, Device device) {
            if (!device.equals(Device.cpu())) for (Param p : l.params()) p.value().moveTo(device);
        }

        /** The rebuilt layer's config, regularizers, constraints and trainable flags are the original's. */
        void checkSameOptions(Layer saved, Map<String, Object> config) {
            String before = GSON.toJson(config), after = GSON.toJson(roundTrip(saved.config()));
            if (!before.equals(after)) record(type, "has another config after a save and load", where + ": " + after);
            List<Param> a = layer.params(), b = saved.params();
            for (int i = 0; i < a.size(); i++) {
                Param p = a.get(i), q = b.get(i);
                if (p.trainable() != q.trainable() || !java.util.Objects.equals(p.regularizer(), q.regularizer())
                        || (p.constraint() == null) != (q.constraint() == null)
                        || (p.constraint() != null && !p.constraint().name().equals(q.constraint().name()))) {
                    record(type, "loses a weight's options in a save and load (trainable, regularizer or constraint)",
                            where + ": " + p.name() + " " + p.trainable() + "/" + p.regularizer() + "/"
                                    + (p.constraint() == null ? null : p.constraint().name()) + " became " + q.trainable()
                                    + "/" + q.regularizer() + "/" + (q.constraint() == null ? null : q.constraint().name()));
                }
            }
        }

        /** A layer that refused its first input builds on the next as a fresh one would: same weights, same outputs. */
        void checkRecovered(Layer early, List<Tensor> inputs, List<Tensor> got) {
            try {
                try (GradMode.Guard g = GradMode.disable()) {
                    call(early, inputs, false);
                }
                List<Tensor> values = new ArrayList<>();
                for (Param p : layer.params()) values.add(p.value().detach());
                early.setWeights(values);
                if (!identical(got, call(early, inputs, training))) {
                    record(type, "computes other outputs after refusing its first input", where);
                }
            } catch (RuntimeException e) {
                record(type, "cannot be built after refusing its first input", where + ": " + e);
            }
        }

        /**
         * The call again in float64 on the CPU, perturbed in float64 and nudged by an ulp at home (and in float32 on
         * the CPU for a GPU call); outputs, input gradients and weight gradients compared ({@link TensorAgreement}).
         */
        void compareWithFloat64(Map<String, Object> config, List<Tensor> weights, List<Tensor> inputs, List<Tensor> got) {
            Twin[] twins = home.equals(Device.cpu())
                    ? new Twin[] {Twin.reference(), Twin.perturbed(inputSeed), Twin.nudged(inputSeed)}
                    : new Twin[] {Twin.reference(), Twin.perturbed(inputSeed), Twin.nudged(inputSeed), Twin.cpu()};
            Layer[] layers = new Layer[twins.length];
            List<List<Tensor>> ins = new ArrayList<>(), outs = new ArrayList<>();
            for (int k = 0; k < twins.length; k++) {
                Device device = twins[k].onCpu() ? Device.cpu() : home;
                layers[k] = twin(config, weights, twins[k], device, "a float64 twin");
                if (layers[k] == null) return;
                List<Tensor> in = copies(inputs, twins[k], device);
                ins.add(in);
                try {
                    outs.add(call(layers[k], in, training));
                } catch (RuntimeException e) {
                    record(type, "succeeded in float32 but not as a twin (float64 or nudged)", where + ": " + e);
                    return;
                }
            }
            compared++;
            comparedBy.merge(type, 1, Integer::sum);
            for (int i = 0; i < got.size(); i++) {
                String dis = TensorAgreement.disagreement(got.get(i), outs.get(0).get(i), outs.get(1).get(i),
                        outs.get(2).get(i), twins.length > 3 ? outs.get(3).get(i) : null, SENSITIVITY_FACTOR);
                if (dis != null) record(type, "differs from its float64 twin in output " + i, where + ": " + dis);
            }
            long lossSeed = inputSeed ^ 0x1055;
            if (!backward(layer, got, lossSeed)) return;
            for (int k = 0; k < twins.length; k++) backward(layers[k], outs.get(k), lossSeed);
            List<List<Tensor>> twinParams = new ArrayList<>();
            for (Layer l : layers) twinParams.add(l.params().stream().map(Param::value).toList());
            double scale = 0; // the largest RMS of the reference's gradients: the scale of the layer's rounding
            for (Tensor t : ins.get(0)) scale = Math.max(scale, rms(t.grad()));
            for (Tensor t : twinParams.get(0)) scale = Math.max(scale, rms(t.grad()));
            double floor = TensorAgreement.gradientFloor(outs.get(0));
            // float32 overflowed on the way when the reference's outputs or gradients are beyond its range: its
            // infinities reach other gradients too (as NaN where an exact 0 multiplies them); likewise float64's near
            // its own limit
            boolean overflowed = scale > 1e18 || TensorAgreement.anyBeyondFloat32(outs.get(0));
            boolean overflowed64 = TensorAgreement.anyNearFloat64Limit(outs.get(0));
            for (int i = 0; i < inputs.size(); i++) {
                compareGradient("input " + i, inputs.get(i), ins, i, scale, floor, overflowed, overflowed64);
            }
            List<Param> params = layer.params();
            for (int j = 0; j < params.size(); j++) {
                compareGradient("weight " + params.get(j).name(), params.get(j).value(), twinParams, j, scale, floor,
                        overflowed, overflowed64);
            }
        }

        /**
         * The float64 layer's gradients against finite differences of its loss ({@link FiniteDifferences}), with its
         * weights moved off exact zeros and constants first (a zeros initializer puts every ReLU on its kink). Once,
         * on the CPU: a GPU trial's twins are the CPU's.
         */
        void checkAgainstFiniteDifferences(Map<String, Object> config, List<Tensor> weights, List<Tensor> inputs) {
            SplittableRandom r = new SplittableRandom(inputSeed ^ 0xFD);
            List<Tensor> moved = new ArrayList<>();
            for (Tensor w : weights) {
                double[] v = w.toDoubleArray();
                // Multiplicative only for variances: they must stay positive.
                boolean variance = false;
                for (Param p : layer.params()) variance |= p.value() == w && p.name().contains("variance");
                for (int i = 0; i < v.length; i++) v[i] = v[i] * (1 + 0.05 * r.nextGaussian()) + (variance ? 0 : 0.05 * r.nextGaussian());
                moved.add(Tensor.of(v, w.shape()).to(w.dtype()));
            }
            Layer t = twin(config, moved, Twin.reference(), Device.cpu(), "a finite-difference twin");
            if (t == null) return;
            List<Tensor> in = copies(inputs, Twin.reference(), Device.cpu());
            long lossSeed = inputSeed ^ 0x1055;
            Tensor loss = loss(t, call(t, in, training), lossSeed);
            if (loss == null || !loss.requiresGrad()) return;
            loss.backward();
            List<Tensor> leaves = new ArrayList<>();
            for (Tensor x : in) if (x.dtype().isFloating() && x.requiresGrad()) leaves.add(x);
            for (Param p : t.params()) if (p.value().requiresGrad()) leaves.add(p.value());
            String dis = FiniteDifferences.disagreement(leaves, () -> {
                try (Scope s = Scope.open(); GradMode.Guard g = GradMode.disable()) {
                    return loss(t, call(t, in, training), lossSeed).toDoubleArray()[0];
                }
            }, inputSeed);
            if (dis != null) record(type, "has gradients that finite differences contradict (float64)", where + ": " + dis);
        }

        /**
         * One gradient against its twins'. A gradient that is 0 in exact arithmetic (a key bias under softmax, which
         * shifts every score of a query alike) is float32 rounding noise: it passes when its RMS stays below 1e-5 of
         * the layer's gradient scale, the noise of a few float32 roundings of terms of that scale. A float32 gradient
         * may also reach {@code floor} ({@link TensorAgreement#gradientFloor}), and is not judged where float32
         * {@code overflowed} on the way (a float64 one where the float64 outputs neared float64's limit).
         */
        void compareGradient(String which, Tensor x, List<List<Tensor>> twins, int index, double scale, double floor,
                             boolean overflowed, boolean overflowed64) {
            if (!x.dtype().isFloating() || !x.requiresGrad()) return;
            Tensor g = x.grad(), want = twins.get(0).get(index).grad();
            if ((g == null) != (want == null)) {
                record(type, "gives " + which + " a gradient in float32 but not in float64 (or the reverse)", where);
                return;
            }
            if (g == null) return;
            Tensor moved = twins.get(1).get(index).grad(), nudged = twins.get(2).get(index).grad();
            Tensor cpu = twins.size() > 3 ? twins.get(3).get(index).grad() : null;
            if (moved == null) return;
            if (rms(want) <= 1e-12 * scale && rms(g) <= 1e-5 * scale) return;
            if (g.dtype() == DType.F32 ? overflowed : overflowed64) return;
            String dis = TensorAgreement.disagreement(g, want, moved, nudged, cpu, SENSITIVITY_FACTOR, floor);
            if (dis != null) record(type, "differs from its float64 twin in the gradient of " + which, where + ": " + dis);
        }

        /** One random change to the draw's inputs: a size, the rank, the dtype, ids out of range or an empty batch. */
        Mutation mutate(SplittableRandom r) {
            List<long[]> shapes = new ArrayList<>();
            for (long[] s : d.inputs()) shapes.add(s.clone());
            boolean ids = d.vocabulary() > 0;
            DType first = ids ? DType.I32 : DType.F32;
            int which = r.nextInt(shapes.size());
            long[] s = shapes.get(which);
            if (masked && r.nextInt(5) == 0) {
                return new Mutation("a mask one step longer", shapes, first, 0, batch, false, 1);
            }
            switch (r.nextInt(ids ? 6 : 5)) {
                case 0 -> {
                    int a = r.nextInt(s.length);
                    s[a] = r.nextBoolean() ? s[a] + 1 + r.nextInt(3) : s[a] - 1;
                    return new Mutation("input " + which + " with axis " + a + " resized", shapes, first, 0, batch, false);
                }
                case 1 -> {
                    long[] t = r.nextBoolean() || s.length == 1 ? Arrays.copyOf(s, s.length + 1) : Arrays.copyOf(s, s.length - 1);
                    if (t.length > s.length) t[s.length] = 1 + r.nextInt(3);
                    shapes.set(which, t);
                    return new Mutation("input " + which + " of rank " + (t.length + 1), shapes, first, 0, batch, false);
                }
                case 2 -> {
                    DType other = ids ? DType.F32 : r.nextBoolean() ? DType.F64 : DType.I32;
                    return new Mutation("the first input in " + other, shapes, other, 0, batch, false);
                }
                case 3 -> {
                    return new Mutation("an empty batch", shapes, first, 0, 0, false);
                }
                case 4 -> {
                    if (shapes.size() > 1) {
                        shapes.remove(which);
                        return new Mutation("input " + which + " left out", shapes, first, 0, batch, false);
                    }
                    long[] t = new long[s.length + 1];
                    t[0] = 1 + r.nextInt(3);
                    System.arraycopy(s, 0, t, 1, s.length);
                    shapes.set(which, t);
                    return new Mutation("a leading axis added", shapes, first, 0, batch, false);
                }
                default -> {
                    int bad = r.nextBoolean() ? d.vocabulary() : -1;
                    return new Mutation("ids out of range (" + bad + ")", shapes, first, bad, batch, true);
                }
            }
        }

        /** The mutation's inputs, at home. */
        List<Tensor> mutatedInputs(Mutation m) {
            // Ids within the layer's vocabulary (floats given as ids: below 3); out of it only where the mutation says.
            int vocabulary = m.firstDtype() != DType.I32 ? 0 : d.vocabulary() > 0 ? d.vocabulary() : 3;
            DType floats = m.firstDtype() == DType.F64 ? DType.F64 : DType.F32;
            List<Tensor> in = inputs(m.shapes(), vocabulary, m.batch(), inputSeed ^ 0xBAD, floats, home);
            if (m.badId() != 0 && in.get(0).numel() > 0) {
                Tensor ids = in.get(0);
                int[] v = ids.toIntArray();
                v[v.length - 1] = m.badId();
                in.set(0, Tensor.ofInts(v, ids.shape()).to(home));
            }
            return in;
        }

        /** The input after a mutation: refused clearly, or a result of the promised shapes. False when refused. */
        boolean tryMutated(Layer target, Mutation m, String when) {
            String at = where + ", " + when + ": " + m;
            if (verbose) System.out.println("unfit input " + when + ": " + m);
            List<Tensor> in = mutatedInputs(m);
            try {
                List<Tensor> out = call(target, in, mask(m.batch(), m.shapes(), m.maskDelta(), in.get(0)), training);
                if (m.mustRefuse() && in.get(0).numel() > 0) {
                    record(type, "accepted " + m.kind(), at);
                } else {
                    checkShapes(target, m.shapes(), m.batch(), out, " (" + when + ": " + m + ")");
                }
                return true;
            } catch (Throwable e) {
                judge(e, type, at);
                return false;
            }
        }

        /** The outputs have the batch and the per-example shapes that computeOutputShapes promised. */
        void checkShapes(Layer l, List<long[]> perExample, long b, List<Tensor> out, String note) {
            List<long[]> want = l instanceof Merge merge ? List.of(merge.computeOutputShape(perExample))
                    : l.computeOutputShapes(perExample.get(0));
            if (want.size() != out.size()) {
                record(type, "returned " + out.size() + " outputs, promised " + want.size(), where + note);
                return;
            }
            for (int i = 0; i < out.size(); i++) {
                long[] full = new long[want.get(i).length + 1];
                full[0] = b;
                System.arraycopy(want.get(i), 0, full, 1, want.get(i).length);
                Tensor t = out.get(i);
                if (t.isClosed()) {
                    record(type, "returned a closed tensor", where + note);
                } else if (!Arrays.equals(full, t.shape()) && !variableFits(full, t.shape())) {
                    record(type, "returned output " + i + " of shape " + Arrays.toString(t.shape()) + " where it promised "
                            + Arrays.toString(full), where + note);
                }
            }
        }
    }

    /** The root mean square of a tensor's values; 0 for none. */
    private static double rms(Tensor t) {
        if (t == null || t.numel() == 0) return 0;
        double sum = 0;
        for (double v : t.toDoubleArray()) sum += v * v;
        return Math.sqrt(sum / t.numel());
    }

    /** A promised size of -1 (a variable size) fits any size. */
    private static boolean variableFits(long[] promised, long[] actual) {
        if (promised.length != actual.length) return false;
        for (int i = 0; i < promised.length; i++) if (promised[i] != -1 && promised[i] != actual[i]) return false;
        return true;
    }

    /**
     * An input the layer was not built for: per-example shapes, the first input's dtype (int32: ids), an id set to
     * {@code badId} (0: none), the batch, and whether it must be refused (ids out of range).
     */
    record Mutation(String kind, List<long[]> shapes, DType firstDtype, int badId, int batch, boolean mustRefuse,
                    int maskDelta) {
        Mutation(String kind, List<long[]> shapes, DType firstDtype, int badId, int batch, boolean mustRefuse) {
            this(kind, shapes, firstDtype, badId, batch, mustRefuse, 0);
        }

        @Override
        public String toString() {
            return kind + ": " + LayerFuzzer.shapes(shapes) + ", first input " + firstDtype + ", batch " + batch;
        }
    }

    // ---- helpers ----

    /**
     * Inputs of the given per-example shapes and batch: Gaussian floats of {@code dtype} needing a gradient, or, for
     * the first input when {@code vocabulary} is above 0, int32 ids below it.
     */
    static List<Tensor> inputs(List<long[]> shapes, int vocabulary, int batch, long seed, DType dtype, Device device) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < shapes.size(); i++) {
            long[] full = new long[shapes.get(i).length + 1];
            full[0] = batch;
            System.arraycopy(shapes.get(i), 0, full, 1, shapes.get(i).length);
            int n = Math.toIntExact(Arrays.stream(full).reduce(1, Math::multiplyExact));
            if (i == 0 && vocabulary > 0) {
                int[] ids = new int[n];
                for (int j = 0; j < n; j++) ids[j] = r.nextInt(vocabulary);
                out.add(Tensor.ofInts(ids, full).to(device));
            } else {
                double[] v = new double[n];
                for (int j = 0; j < n; j++) v[j] = r.nextGaussian();
                Tensor t = Tensor.of(v, full).to(dtype).to(device);
                out.add(t.setRequiresGrad(true));
            }
        }
        return out;
    }

    private static List<Tensor> copies(List<Tensor> inputs, Twin twin, Device device) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : inputs) {
            Tensor c = twin.copy(t);
            out.add(c.device().equals(device) ? c : c.to(device).setRequiresGrad(c.requiresGrad()));
        }
        return out;
    }

    /**
     * The backward of a random weighting of every floating output plus the regularization loss; false when the layer
     * has nothing to differentiate.
     */
    private static boolean backward(Layer l, List<Tensor> outputs, long seed) {
        Tensor loss = loss(l, outputs, seed);
        if (loss == null || !loss.requiresGrad()) return false;
        loss.backward();
        return true;
    }

    /** A random weighting (from {@code seed}) of every floating output, plus the regularization loss; null: none. */
    private static Tensor loss(Layer l, List<Tensor> outputs, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor loss = null;
        for (Tensor y : outputs) {
            if (!y.dtype().isFloating()) continue;
            double[] w = new double[(int) y.numel()];
            for (int i = 0; i < w.length; i++) w[i] = r.nextGaussian();
            Tensor term = y.mul(Tensor.of(w, y.shape()).to(y.dtype()).to(y.device())).sum();
            loss = loss == null ? term : loss.add(term);
        }
        Tensor reg = l.regularizationLoss();
        if (reg != null) loss = loss == null ? reg : loss.add(reg.to(loss.device()));
        return loss;
    }

    /** Whether a config draws random masks in training (any dropout rate above 0). */
    @SuppressWarnings("unchecked")
    static boolean stochastic(Map<String, Object> config) {
        for (Map.Entry<String, Object> e : config.entrySet()) {
            Object v = e.getValue();
            if ((e.getKey().contains("dropout") || e.getKey().equals("rate")) && v instanceof Number n && n.doubleValue() != 0) {
                return true;
            }
            if (v instanceof Map<?, ?> inner && stochastic((Map<String, Object>) inner)) return true;
        }
        return false;
    }

    /** The config as a checkpoint stores and reads it: through JSON. */
    private static Map<String, Object> roundTrip(Map<String, Object> config) {
        return GSON.fromJson(GSON.toJson(config), MAP);
    }

    private static boolean identical(List<Tensor> a, List<Tensor> b) {
        if (a.size() != b.size()) return false;
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i).shape(), b.get(i).shape()) || a.get(i).dtype() != b.get(i).dtype()) return false;
            if (!Arrays.equals(a.get(i).to(DType.F64).toDoubleArray(), b.get(i).to(DType.F64).toDoubleArray())) return false;
        }
        return true;
    }

    private static String shapes(List<long[]> shapes) {
        return shapes.stream().map(Arrays::toString).toList().toString();
    }

    private void judge(Throwable e, String type, String where) {
        if (e instanceof AssertionError a) throw a; // the fuzzer's own mistake
        String unclear = FuzzReports.unclearRefusal(e, false);
        if (unclear != null) record(type, unclear, where + ": " + e.getMessage() + " at " + FuzzReports.topFrames(e));
        if (verbose) System.out.println("refused: " + where + ": " + e);
    }

    private void record(String type, String what, String example) {
        findings.putIfAbsent(type + " " + what, example);
        if (verbose) System.out.println("FINDING " + type + " " + what + ": " + example);
    }

    Map<String, String> findings() {
        return findings;
    }

    /** The types none of whose layers reached the float64 comparison. */
    List<String> neverCompared() {
        return comparedBy.entrySet().stream().filter(e -> e.getValue() == 0).map(Map.Entry::getKey).toList();
    }

    String summary() {
        return trials + " layers, " + compared + " compared with float64, " + mutations + " unfit inputs, "
                + findings.size() + " findings";
    }
}
