package dev.soma.fuzz;

import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Calls every public op of the tensor API (Tensor's methods and the static ops of dev.soma.ops) with random
 * arguments ({@link ArgumentMaker}) and judges each outcome:
 * <ul>
 *   <li>a result is fine: a tensor result must be open, have as many elements as its shape says, and be readable;
 *       when it needs a gradient, the backward of its sum runs too and is judged the same way;</li>
 *   <li>an exception is fine when it is one a user can act on: a {@link SomaException} (shape, dtype, device, closed
 *       tensor, out of memory), an IllegalArgumentException, UnsupportedOperationException or IllegalStateException,
 *       with a message that says something; a NullPointerException only when a null was passed;</li>
 *   <li>anything else is a finding: an IndexOutOfBounds or ArithmeticException from deep inside, a ClassCastException,
 *       an Error, native memory left allocated after the call's scope closed, or, worst, a crash of the JVM (the
 *       test run then dies, which fails the build).</li>
 * </ul>
 * Each call is reproducible from its seed; findings are grouped by method and kind, with one example each.
 */
final class OpFuzzer {
    /** Classes whose public static methods are ops. */
    static final List<String> OP_CLASSES = List.of("Attention", "BatchNorm", "BiasActivation", "Convolution",
            "ConvolutionPooling", "Creation", "Elementwise", "Embeddings", "GhostNorms", "Linalg", "Losses",
            "Normalization", "Pooling", "Recurrent", "Reductions", "Resize", "Shapes", "TransposedConvolution");

    /**
     * Methods left out, and why: raw addresses and streams are an escape hatch for kernel authors (documented as
     * unchecked), global switches would leak into other tests, and a Node cannot be made at random.
     */
    private static final Set<String> SKIPPED = Set.of("address", "recordStream", "setGradFn", "useLibraryLstm",
            "hashCode", "equals", "getClass", "notify", "notifyAll", "wait");

    /** Results larger than this are neither compared nor differentiated (the checks build Java arrays of them). */
    private static final long MAX_CHECKED = 1 << 20;

    /**
     * Ops without a reference: {@code empty}'s values are whatever the memory held, and {@code viewOf} reads the
     * storage, which the reference's contiguous copy lays out otherwise.
     */
    private static final Set<String> UNCOMPARED = Set.of("empty", "viewOf");

    /**
     * Whether a float64 reference computes the same function: not for the ops above, nor for pow with an exponent
     * that float32 rounds (its gradient's exponent p - 1 then rounds too: 1e-12 - 1 becomes -1, so a negative base
     * gets a finite gradient where the exact one is NaN; PyTorch rounds it the same way).
     */
    private static boolean comparable(Method method, Object[] args) {
        if (UNCOMPARED.contains(method.getName())) return false;
        if (!method.getName().equals("pow")) return true;
        for (Object a : args) if (a instanceof Double d && (double) (float) (double) d != d) return false;
        return true;
    }

    /**
     * {@code -Dsoma.fuzz.trace=FILE}: each call is written to FILE (flushed) before it is made, so that its last line
     * names a call that crashed the JVM (the test's own output can be lost with the process).
     */
    private static final String TRACE = System.getProperty("soma.fuzz.trace");

    private static void trace(String where) {
        try (java.io.FileWriter w = new java.io.FileWriter(TRACE, true)) {
            w.write(where + "\n");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Prints every call's arguments and results (replaying one finding). */
    boolean verbose;
    private final Device home;
    private final Device other;
    private final Map<String, String> findings = new LinkedHashMap<>();
    /** Calls per method that returned a result: a method that never does was only ever refused. */
    private final Map<String, Integer> returnedBy = new LinkedHashMap<>();
    private int calls;
    private int succeeded;

    /**
     * Tensors go to {@code home}; some go to {@code other} (null: none) to test device checks. Successful calls are
     * repeated on the CPU in float64 ({@link Twin}).
     */
    OpFuzzer(Device home, Device other) {
        this.home = home;
        this.other = other;
    }

    /** Every op method: Tensor's public instance and static methods, then the ops classes' public static ones. */
    static List<Method> ops() throws ClassNotFoundException {
        List<Method> all = new ArrayList<>();
        for (Method m : Tensor.class.getMethods()) {
            if (m.getDeclaringClass() == Tensor.class && !SKIPPED.contains(m.getName())) all.add(m);
        }
        for (String name : OP_CLASSES) {
            Class<?> c = Class.forName("dev.soma.ops." + name);
            for (Method m : c.getMethods()) {
                if (m.getDeclaringClass() == c && Modifier.isStatic(m.getModifiers()) && !SKIPPED.contains(m.getName())) {
                    all.add(m);
                }
            }
        }
        all.removeIf(m -> !makeable(m.getParameterTypes()));
        all.sort(Comparator.comparing(OpFuzzer::name));
        return all;
    }

    private static boolean makeable(Class<?>[] types) {
        for (Class<?> t : types) {
            if (t.getName().startsWith("dev.soma.autograd")) return false;
        }
        return true;
    }

    static String name(Method m) {
        return m.getDeclaringClass().getSimpleName() + "." + m.getName()
                + Arrays.stream(m.getParameterTypes()).map(Class::getSimpleName).toList().toString()
                        .replace('[', '(').replace(']', ')');
    }

    /** Runs {@code trials} random calls of {@code method}, the i-th from seed {@code seed + i}. */
    void fuzz(Method method, long seed, int trials) {
        returnedBy.putIfAbsent(name(method), 0);
        for (int i = 0; i < trials; i++) call(method, seed + i);
    }

    private void call(Method method, long seed) {
        long liveBefore = FuzzReports.liveBytes(home);
        SplittableRandom random = new SplittableRandom(seed);
        ArgumentMaker maker = new ArgumentMaker(random, home, other);
        String where = name(method) + " seed " + seed;
        calls++;
        try (Scope scope = Scope.open()) {
            Object target = null;
            if (!Modifier.isStatic(method.getModifiers())) target = maker.tensor();
            Object[] args = arguments(method, maker, random);
            where += " on " + (target == null ? "" : "[this] ") + maker.description(args);
            if (target != null || Modifier.isStatic(method.getModifiers())) { // else a null receiver: nothing to call
                // The twin's inputs are copied before the call (a call may close or move its inputs). Non-finite
                // inputs have no twin: backends may differ there and both be right (ArgumentMaker#madeNonFinite).
                List<Tensor> inputs = new ArrayList<>(maker.tensorsIn(args));
                if (target instanceof Tensor t) inputs.add(t);
                boolean twinned = !maker.madeNonFinite() && Twin.covers(home, inputs) && comparable(method, args);
                Twin[] twins = home.equals(Device.cpu())
                        ? new Twin[] {Twin.reference(), Twin.perturbed(seed), Twin.nudged(seed)}
                        : new Twin[] {Twin.reference(), Twin.perturbed(seed), Twin.nudged(seed), Twin.cpu()};
                Object[][] twinCalls = new Object[twins.length][];
                for (int k = 0; twinned && k < twins.length; k++) {
                    Twin twin = twins[k];
                    twinCalls[k] = new Object[args.length + 1];
                    twinCalls[k][0] = maker.twinOf(target, twin);
                    for (int i = 0; i < args.length; i++) twinCalls[k][i + 1] = maker.twinOf(args[i], twin);
                }
                if (TRACE != null) trace(where);
                if (verbose) show("call " + where, target, args);
                Object result = invoke(method, target, args, maker.passedNull(), where);
                if (verbose) show("result", result);
                if (result != NOTHING) {
                    if (twinned) compareWithReference(method, target, args, result, twinCalls, where);
                    else runBackward(result, 0, method, where);
                }
            }
        } catch (Throwable t) {
            // Setting up the arguments or checking a result threw: judged like the call's own exceptions.
            judge(t, maker.passedNull(), method, where);
        }
        long leaked = FuzzReports.liveBytes(home) - liveBefore;
        if (leaked != 0) record(method, "left native memory allocated after its scope closed", leaked + " bytes: " + where);
    }

    /**
     * A recipe's arguments that fit together ({@link OpRecipes}) most of the time where the op has one, one of them
     * mutated now and then; otherwise random ones.
     */
    private static Object[] arguments(Method method, ArgumentMaker maker, SplittableRandom random) {
        Object[] args = random.nextInt(10) < 7 ? OpRecipes.argumentsFor(method, maker, random) : null;
        if (args == null) return maker.argumentsFor(method.getParameterTypes());
        if (random.nextInt(10) < 3) maker.mutate(args, method.getParameterTypes());
        return args;
    }

    /** What {@link #invoke} returns when the call threw (judged already). */
    private static final Object NOTHING = new Object();

    private Object invoke(Method method, Object target, Object[] args, boolean passedNull, String where) {
        Object result;
        try {
            result = method.invoke(target, args);
        } catch (InvocationTargetException e) {
            judge(e.getCause(), passedNull, method, where);
            return NOTHING;
        } catch (IllegalAccessException e) {
            throw new AssertionError(where, e);
        }
        for (Tensor t : tensorsIn(result)) checkResult(t, method, where);
        succeeded++;
        returnedBy.merge(name(method), 1, Integer::sum);
        return result;
    }

    /** The tensors a result holds: itself, or a record's tensor components (attention's weights, batch statistics). */
    private static List<Tensor> tensorsIn(Object result) {
        if (result instanceof Tensor t) return List.of(t);
        List<Tensor> ts = new ArrayList<>();
        if (result instanceof Record r) {
            for (var c : r.getClass().getRecordComponents()) {
                try {
                    if (c.getAccessor().invoke(r) instanceof Tensor t) ts.add(t);
                } catch (ReflectiveOperationException e) {
                    throw new AssertionError(e);
                }
            }
        }
        return ts;
    }

    /**
     * The backward of a random weighting of the result's first tensor (the same weights on every device, from
     * {@code seed}), when it needs one; false when it was refused. Not a plain sum: the gradient of a sum vanishes
     * for softmax, normalisations and attention over one key, and a comparison would then look at rounding noise.
     */
    private boolean runBackward(Object result, long seed, Method method, String where) {
        List<Tensor> ts = tensorsIn(result);
        if (ts.isEmpty() || ts.get(0).isClosed() || !ts.get(0).requiresGrad() || !ts.get(0).dtype().isFloating()) return false;
        Tensor y = ts.get(0);
        if (y.numel() > MAX_CHECKED) return false;
        try {
            SplittableRandom r = new SplittableRandom(seed);
            double[] w = new double[(int) y.numel()];
            for (int i = 0; i < w.length; i++) w[i] = r.nextGaussian();
            Tensor weights = Tensor.of(w, y.shape()).to(y.dtype()).to(y.device());
            y.mul(weights).sum().backward();
            return true;
        } catch (Throwable e) {
            judge(e, false, method, where + " (in backward)");
            return false;
        }
    }

    /**
     * The same call on the reference's inputs and on the perturbed ones ({@link Twin}): both must succeed, and every
     * result, and after the backward passes every input's gradient, must lie within the bound of its dtype or 100
     * times the perturbation's effect of the reference ({@link #sensitivityFactor}: 1000 for a recurrence). A call
     * whose float32 result left its reference by more than 1 % (allowed only where the reference is that badly
     * conditioned) has its gradients taken along another trajectory: they are not judged.
     */
    private void compareWithReference(Method method, Object target, Object[] args, Object result, Object[][] twinCalls,
                                      String where) {
        List<Tensor> got = tensorsIn(result);
        if (got.isEmpty()) return; // arrays, numbers and strings are not compared
        for (Tensor t : got) if (t.numel() > MAX_CHECKED) return;
        int twins = twinCalls.length;
        Object[] twinResults = new Object[twins];
        for (int k = 0; k < twins; k++) {
            try {
                twinResults[k] = method.invoke(twinCalls[k][0], Arrays.copyOfRange(twinCalls[k], 1, twinCalls[k].length));
            } catch (InvocationTargetException e) {
                record(method, "succeeded, but not on its float64 reference", where + ": " + e.getCause());
                return;
            } catch (IllegalAccessException e) {
                throw new AssertionError(where, e);
            }
        }
        List<Tensor> want = tensorsIn(twinResults[0]), moved = tensorsIn(twinResults[1]);
        List<Tensor> nudged = tensorsIn(twinResults[2]), cpu = twins > 3 ? tensorsIn(twinResults[3]) : null;
        if (verbose) show("the float64 reference's result", twinResults[0]);
        double factor = sensitivityFactor(method);
        boolean diverged = false;
        for (int i = 0; i < got.size(); i++) {
            String d = TensorAgreement.disagreement(got.get(i), want.get(i), moved.get(i), nudged.get(i),
                    cpu == null ? null : cpu.get(i), factor);
            if (d != null) record(method, "differs from its float64 reference in result " + i, where + ": " + d);
            diverged |= got.get(i).dtype() == DType.F32 && TensorAgreement.diverged(got.get(i), want.get(i));
        }
        long lossSeed = where.hashCode();
        boolean ran = runBackward(result, lossSeed, method, where);
        boolean[] twinRan = new boolean[twins];
        for (int k = 0; k < twins; k++) twinRan[k] = runBackward(twinResults[k], lossSeed, method, where + " (reference)");
        if (verbose) {
            show("after backward", target, args);
            show("after backward, the reference", twinCalls[0]);
        }
        if (ran != twinRan[0]) {
            record(method, "ran its backward, but not on its reference (or the reverse)", where + ": " + ran);
            return;
        }
        if (!ran || diverged) return;
        // A reference beyond float32's range, forward or backward: the float32 backward overflowed on the way, and its
        // infinities reach other gradients too (as NaN, where an exact 0 multiplies them), so no float32 gradient is
        // judged.
        boolean overflowed = TensorAgreement.anyBeyondFloat32(want);
        boolean overflowed64 = TensorAgreement.anyNearFloat64Limit(want);
        for (Object a : twinCalls[0]) {
            if (a instanceof Tensor t && !t.isClosed() && t.grad() != null) overflowed |= TensorAgreement.beyondFloat32(t.grad());
        }
        double floor = TensorAgreement.gradientFloor(want); // looser where the forward pass grew beyond 1e6
        for (int i = 0; i <= args.length; i++) {
            Object[] of = new Object[twins];
            for (int k = 0; k < twins; k++) of[k] = twinCalls[k][i];
            Object arg = i == 0 ? target : args[i - 1];
            if (overflowed && arg instanceof Tensor t && t.dtype() == DType.F32) continue;
            if (overflowed64 && arg instanceof Tensor t && t.dtype() == DType.F64) continue;
            compareGradients(method, i == 0 ? "the receiver" : "argument " + (i - 1), arg, of, where, floor, factor);
        }
    }

    /**
     * How many times the perturbed reference's move a result may differ by: 100, and for a recurrent layer 1000, as
     * for the layer fuzzer's whole layers. A recurrence rounds its state at every step, and where it is chaotic (linear
     * or relu gates) each step's rounding is amplified like the inputs' nudge: a float32 LSTM with linear gates drifted
     * 180 times the perturbed reference's move from float64 in one example (OpsFuzzTest seed 32061806362521), its
     * error growing 10-30x per step from 3e-7 at the first.
     */
    static double sensitivityFactor(Method method) {
        return method.getDeclaringClass().getSimpleName().equals("Recurrent") ? 1000 : 100;
    }

    /** The gradient of one input against those of its twins (reference, perturbed, nudged, and on a GPU the CPU's). */
    private void compareGradients(Method method, String which, Object arg, Object[] twins, String where, double floor,
                                  double factor) {
        if (!(arg instanceof Tensor a) || !(twins[0] instanceof Tensor c) || !(twins[1] instanceof Tensor p)
                || a.isClosed() || c.isClosed()) {
            return;
        }
        Tensor nudged = twins[2] instanceof Tensor n ? n.grad() : null;
        Tensor cpu = twins.length > 3 && twins[3] instanceof Tensor t ? t.grad() : null;
        if ((a.grad() == null) != (c.grad() == null)) {
            record(method, "gives " + which + " a gradient, but not on its reference (or the reverse)", where);
        } else if (a.grad() != null && p.grad() != null) {
            String d = TensorAgreement.disagreement(a.grad(), c.grad(), p.grad(), nudged, cpu, factor, floor);
            if (d != null) record(method, "differs from its float64 reference in the gradient of " + which, where + ": " + d);
        }
    }

    /** An open result whose elements can be read. */
    private void checkResult(Tensor t, Method method, String where) {
        if (t.isClosed()) {
            record(method, "returned a closed tensor", where);
            return;
        }
        long n = 1;
        for (long d : t.shape()) n *= d;
        if (n != t.numel()) record(method, "returned numel " + t.numel() + " for shape " + Arrays.toString(t.shape()), where);
        if (t.numel() <= 1 << 16) {
            if (t.dtype() == DType.I32) t.toIntArray();
            else t.toDoubleArray();
        }
    }

    private static void show(String what, Object... values) {
        if (!what.isEmpty()) System.out.println(what + ":");
        for (Object v : values) {
            if (v instanceof Object[] inner) {
                show("", inner);
                continue;
            }
            for (Tensor t : tensorsIn(v)) {
                if (t == null || t.isClosed()) continue;
                System.out.println("  " + t.describe() + (t.requiresGrad() ? " requiresGrad" : "") + " = "
                        + (t.dtype() == DType.I32 ? Arrays.toString(t.toIntArray()) : Arrays.toString(t.toDoubleArray()))
                        + (t.grad() == null ? "" : "\n    grad " + Arrays.toString(t.grad().toDoubleArray())));
            }
        }
    }

    private void judge(Throwable e, boolean passedNull, Method method, String where) {
        String unclear = FuzzReports.unclearRefusal(e, passedNull);
        if (unclear != null) record(method, unclear, where + ": " + e.getMessage() + " at " + FuzzReports.topFrames(e));
    }

    private void record(Method method, String what, String example) {
        findings.putIfAbsent(name(method) + " " + what, example);
    }

    /** The methods none of whose calls returned a result (their kernels were never reached). */
    List<String> neverReturned() {
        return returnedBy.entrySet().stream().filter(e -> e.getValue() == 0).map(Map.Entry::getKey).toList();
    }

    Map<String, String> findings() {
        return findings;
    }

    String summary() {
        return calls + " calls, " + succeeded + " returned, " + (calls - succeeded) + " refused, "
                + findings.size() + " findings";
    }
}
