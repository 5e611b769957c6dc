package dev.soma.fuzz;

import dev.soma.ops.Attention;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

/**
 * Random arguments for one call of a public op, by parameter type: mostly plausible ones, so that calls get past the
 * first check and reach the kernels with odd shapes (sizes 0 and 1, broadcast dimensions, strided views, NaN), and
 * some plainly wrong ones (wrong dtype or device, closed tensors, nulls, negative and huge sizes, unknown names).
 *
 * <p>The tensors of one call share a base shape and dtype most of the time; each tensor is then that shape, the shape
 * with dimensions set to 1 (broadcasting), or a shape of its own. Every argument made is described in words, so a
 * finding can be read and reproduced (the seed is reported too).
 */
final class ArgumentMaker {
    private static final long[] SMALL_SIZES = {0, 1, 1, 2, 2, 3, 3, 4, 5, 7};
    /** Now and then a dimension is one of these: vector tails, blocking edges and the threads' split get a turn. */
    private static final long[] LARGER_SIZES = {8, 9, 16, 17, 31, 33, 64, 129};
    /** Base shapes stay below this many elements (the float64 twins and the emulated GPU are slow). */
    private static final long MAX_ELEMENTS = 1 << 14;
    private static final int[] SMALL_INTS = {-2, -1, 0, 0, 1, 1, 2, 2, 3, 4};
    private static final double[] DOUBLES = {0, 1, -1, 0.5, 2, 1e-12, 0.1, Double.NaN, Double.POSITIVE_INFINITY,
                                             Double.NEGATIVE_INFINITY, 1e308, -0.0};
    private static final String[] STRINGS = {"same", "valid", "same", "valid", "full", "causal", "", "SAME", "tanh",
                                             "sigmoid", "relu", "linear", "softmax", "x", null};

    private final SplittableRandom random;
    /** The device most tensors are made on, and the other one wrong-device tensors go to (null: none other). */
    private final Device home;
    private final Device other;
    private final long[] baseShape;
    private final DType baseDType;
    /** Whether a null was passed anywhere in the call (a NullPointerException is then a fair answer). */
    private boolean passedNull;
    private boolean madeNonFinite;
    private final List<String> described = new ArrayList<>();
    private final java.util.Map<Attention.Options, OptionsSpec> options = new java.util.IdentityHashMap<>();

    ArgumentMaker(SplittableRandom random, Device home, Device other) {
        this.random = random;
        this.home = home;
        this.other = other;
        int rank = random.nextInt(0, 5);
        baseShape = new long[rank];
        for (int i = 0; i < rank; i++) baseShape[i] = random.nextInt(12) == 0 ? pick(LARGER_SIZES) : pick(SMALL_SIZES);
        while (elementsOf(baseShape) > MAX_ELEMENTS) baseShape[random.nextInt(rank)] /= 2;
        baseDType = random.nextInt(4) == 0 ? DType.F64 : DType.F32;
    }

    /**
     * Whether some tensor may hold NaN or an infinity, or a number argument is one in float32. Backends may then
     * differ and both be right: the CPU's convolutions skip the taps that fall into zero padding, a GPU's multiply
     * them (0 × inf is NaN), sums of infinities of both signs depend on the order, and 1e308 overflows in float32
     * only.
     */
    boolean madeNonFinite() {
        return madeNonFinite;
    }

    boolean passedNull() {
        return passedNull;
    }

    /** The tensors and options made so far, then every other argument of the call in order. */
    String description(Object[] args) {
        List<String> plain = new ArrayList<>();
        for (Object a : args) {
            if (!(a instanceof Tensor) && !(a instanceof Tensor[]) && !(a instanceof Attention.Options)) plain.add(show(a));
        }
        return String.join("; ", described) + (plain.isEmpty() ? "" : "; other arguments " + String.join(", ", plain));
    }

    Object[] argumentsFor(Class<?>[] types) {
        Object[] args = new Object[types.length];
        for (int i = 0; i < types.length; i++) {
            args[i] = make(types[i], i == types.length - 1);
        }
        return args;
    }

    private Object make(Class<?> type, boolean last) {
        Object value;
        if (type == Tensor.class) value = tensor();
        else if (type == Tensor[].class) value = tensors();
        else if (type == int.class) value = integer();
        else if (type == long.class) value = longValue();
        else if (type == double.class) {
            double v = pick(DOUBLES);
            madeNonFinite |= !Float.isFinite((float) v); // 1e308 is finite in a float64 twin only
            value = v;
        }
        else if (type == boolean.class) value = random.nextBoolean();
        else if (type == int[].class) value = ints();
        else if (type == long[].class) value = last ? shape() : longs();
        else if (type == float[].class) value = floats();
        else if (type == double[].class) value = doubles();
        else if (type == String.class) value = pickString();
        else if (type == DType.class) value = nullSometimes(DType.values()[random.nextInt(DType.values().length)]);
        else if (type == Device.class) value = device();
        else if (type == Attention.Options.class) value = attentionOptions();
        else if (type.isEnum()) value = nullSometimes(type.getEnumConstants()[random.nextInt(type.getEnumConstants().length)]);
        else throw new IllegalArgumentException("no maker for " + type.getName());
        if (value == null) passedNull = true;
        return value;
    }

    private <T> T nullSometimes(T value) {
        return random.nextInt(25) == 0 ? null : value;
    }

    private long pick(long[] values) {
        return values[random.nextInt(values.length)];
    }

    private double pick(double[] values) {
        return values[random.nextInt(values.length)];
    }

    private String pickString() {
        return STRINGS[random.nextInt(STRINGS.length)];
    }

    private int integer() {
        int roll = random.nextInt(40);
        if (roll == 0) return Integer.MAX_VALUE;
        if (roll == 1) return Integer.MIN_VALUE;
        if (roll == 2) return 1 << 12; // valid, and large: a stride that makes a transposed convolution 4,096 times wider
        return SMALL_INTS[random.nextInt(SMALL_INTS.length)];
    }

    private long longValue() {
        int roll = random.nextInt(40);
        if (roll == 0) return Long.MAX_VALUE;
        if (roll == 1) return Long.MIN_VALUE;
        if (roll == 2) return 1L << 40;
        return SMALL_INTS[random.nextInt(SMALL_INTS.length)];
    }

    private int[] ints() {
        if (random.nextInt(25) == 0) return null;
        int[] v = new int[random.nextInt(0, 5)];
        for (int i = 0; i < v.length; i++) v[i] = random.nextInt(6) == 0 ? integer() : random.nextInt(-1, 4);
        return v;
    }

    private long[] longs() {
        if (random.nextInt(25) == 0) return null;
        long[] v = new long[random.nextInt(0, 5)];
        for (int i = 0; i < v.length; i++) v[i] = random.nextInt(6) == 0 ? longValue() : random.nextInt(-1, 6);
        return v;
    }

    /** A trailing long[] is a shape (varargs): mostly the base shape or a small one, rarely negative or huge. */
    private long[] shape() {
        int roll = random.nextInt(30);
        if (roll == 0) return null;
        if (roll == 1) return new long[] {-1};
        if (roll == 2) return new long[] {1L << 40, 1L << 40};
        if (roll == 3) return new long[] {1L << 36};
        if (roll == 4) return new long[] {1, 2, 1, 2, 1, 1, 2, 1, 1}; // one dimension more than any kernel takes
        if (roll < 15) return baseShape.clone();
        long[] s = new long[random.nextInt(0, 5)];
        for (int i = 0; i < s.length; i++) s[i] = pick(SMALL_SIZES);
        return s;
    }

    private float[] floats() {
        if (random.nextInt(25) == 0) return null;
        int n = Math.max(0, (int) elementsOf(baseShape) + (random.nextInt(4) == 0 ? random.nextInt(-1, 2) : 0));
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) random.nextGaussian();
        return v;
    }

    private double[] doubles() {
        if (random.nextInt(25) == 0) return null;
        int n = Math.max(0, (int) elementsOf(baseShape) + (random.nextInt(4) == 0 ? random.nextInt(-1, 2) : 0));
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = random.nextGaussian();
        return v;
    }

    private Device device() {
        int roll = random.nextInt(20);
        if (roll == 0) return null;
        if (roll == 1) return Device.cuda(7); // no such device anywhere we run
        if (roll == 2 && other != null) return other;
        return home;
    }

    private Tensor[] tensors() {
        if (random.nextInt(25) == 0) {
            passedNull = true;
            described.add("Tensor[] null");
            return null;
        }
        Tensor[] ts = new Tensor[random.nextInt(0, 4)];
        for (int i = 0; i < ts.length; i++) ts[i] = tensor();
        return ts;
    }

    /**
     * What an {@link Attention.Options} holds, so that the same options can be built again around other tensors (the
     * CPU twin of a GPU call). Null fields are left at their defaults.
     */
    record OptionsSpec(boolean causal, Double scale, Tensor mask, Tensor keyLengths, Double dropout, long seed,
                       long stream) {
        Attention.Options build(UnaryOperator<Tensor> move) {
            Attention.Options o = new Attention.Options().causal(causal);
            if (scale != null) o.scale(scale);
            if (mask != null) o.mask(move.apply(mask));
            if (keyLengths != null) o.keyLengths(move.apply(keyLengths));
            if (dropout != null) o.dropout(dropout, seed, stream);
            return o;
        }

        @Override
        public String toString() {
            return "Options(causal " + causal + (scale == null ? "" : ", scale " + scale) + (mask == null ? "" : ", mask")
                    + (keyLengths == null ? "" : ", keyLengths") + (dropout == null ? "" : ", dropout " + dropout) + ")";
        }
    }

    /** Options built from {@code spec}; remembered, so {@link #twinOf} can build their twin. */
    Attention.Options options(OptionsSpec spec) {
        Attention.Options o = spec.build(t -> t);
        options.put(o, spec);
        described.add(spec.toString());
        return o;
    }

    private Attention.Options attentionOptions() {
        if (random.nextInt(25) == 0) {
            passedNull = true;
            described.add("Options null");
            return null;
        }
        Double scale = random.nextBoolean() ? pick(DOUBLES) : null;
        madeNonFinite |= scale != null && !Float.isFinite((float) (double) scale); // as for number arguments
        return options(new OptionsSpec(random.nextBoolean(), scale,
                random.nextInt(3) == 0 ? tensor() : null, random.nextInt(3) == 0 ? tensor() : null,
                random.nextInt(3) == 0 ? new double[] {0, 0.1, 0.5, 1, -0.5, 2, Double.NaN}[random.nextInt(7)] : null,
                random.nextLong(), random.nextInt(3)));
    }

    /** A tensor of the call's base shape or a broadcastable or unrelated one, of varied dtype, layout and state. */
    Tensor tensor() {
        int roll = random.nextInt(100);
        if (roll < 3) {
            passedNull = true;
            described.add("Tensor null");
            return null;
        }
        DType dtype = random.nextInt(8) == 0 ? DType.values()[random.nextInt(DType.values().length)] : baseDType;
        Device device = other != null && random.nextInt(12) == 0 ? other : home;
        Tensor t = laidOut(tensorShape(), dtype, device, null);
        if (random.nextInt(30) == 0) {
            t.close();
            described.set(described.size() - 1, described.get(described.size() - 1) + " closed");
        }
        return t;
    }

    /** An open tensor of this shape and dtype on the call's device (varied layout; it may need a gradient). */
    Tensor tensorOf(long[] shape, DType dtype) {
        return laidOut(shape, dtype, home, null);
    }

    /** As {@link #tensorOf(long[], DType)}, holding integers from {@code lo} to {@code hi - 1} (ids, labels, masks). */
    Tensor tensorOf(long[] shape, DType dtype, long lo, long hi) {
        return laidOut(shape, dtype, home, new long[] {lo, hi});
    }

    /**
     * A tensor of random values (integers from range[0] to range[1] - 1 when range is given) laid out contiguous, as a
     * transposed view or as every other element along one axis of a larger one; floating ones need a gradient now and
     * then.
     */
    private Tensor laidOut(long[] shape, DType dtype, Device device, long[] range) {
        String layout = random.nextInt(5) == 0 && shape.length >= 1 ? (shape.length >= 2 && random.nextBoolean()
                ? "transposed" : "strided") : "contiguous";
        Tensor t = switch (layout) {
            case "transposed" -> filled(swapLastTwo(shape), dtype, device, range)
                    .transpose(shape.length - 2, shape.length - 1);
            case "strided" -> { // every other element along one axis of a larger tensor
                int axis = random.nextInt(shape.length);
                long[] doubled = shape.clone();
                doubled[axis] = 2 * shape[axis];
                yield filled(doubled, dtype, device, range).slice(axis, 0, doubled[axis], 2);
            }
            default -> filled(shape, dtype, device, range);
        };
        StringBuilder d = new StringBuilder("Tensor ").append(dtype).append(Arrays.toString(shape))
                .append(" on ").append(device).append(' ').append(layout);
        if (range != null) d.append(" of integers in [").append(range[0]).append(", ").append(range[1]).append(')');
        if (dtype.isFloating() && random.nextInt(4) == 0) {
            t.setRequiresGrad(true);
            d.append(" requiresGrad");
        }
        described.add(d.toString());
        return t;
    }

    /**
     * Replaces one argument: a tensor by one with a dimension one larger or smaller, one dimension more or fewer, or
     * another dtype; anything else by a fresh random value of its type.
     */
    void mutate(Object[] args, Class<?>[] types) {
        if (args.length == 0) return;
        int i = random.nextInt(args.length);
        if (args[i] instanceof Tensor t && !t.isClosed() && random.nextBoolean()) {
            long[] shape = t.shape();
            int what = random.nextInt(3);
            DType dtype = t.dtype();
            if (what == 0 && shape.length > 0) {
                int axis = random.nextInt(shape.length);
                shape[axis] = Math.max(0, shape[axis] + (random.nextBoolean() ? 1 : -1));
            } else if (what == 1) {
                shape = random.nextBoolean() && shape.length > 0 ? Arrays.copyOf(shape, shape.length - 1)
                        : Arrays.copyOf(shape, shape.length + 1);
                if (shape.length > 0 && shape[shape.length - 1] == 0) shape[shape.length - 1] = 1 + random.nextInt(3);
            } else {
                dtype = DType.values()[random.nextInt(DType.values().length)];
            }
            described.add("mutated argument " + i + " into:");
            args[i] = laidOut(shape, dtype, home, dtype.isFloating() ? null : new long[] {-1, 5});
        } else {
            described.add("mutated argument " + i + " (listed below)");
            args[i] = make(types[i], i == types.length - 1);
        }
    }

    /** The argument with every tensor replaced by its twin ({@link Twin#copy}); null and closed tensors stay. */
    Object twinOf(Object arg, Twin twin) {
        UnaryOperator<Tensor> copy = t -> t == null || t.isClosed() ? t : twin.copy(t);
        if (arg instanceof Tensor t) return copy.apply(t);
        if (arg instanceof Tensor[] ts) {
            Tensor[] c = new Tensor[ts.length];
            for (int i = 0; i < ts.length; i++) c[i] = copy.apply(ts[i]);
            return c;
        }
        if (arg instanceof Attention.Options o) return options.get(o).build(copy);
        return arg;
    }

    /** Every tensor among the arguments (options' masks included). */
    List<Tensor> tensorsIn(Object... args) {
        List<Tensor> ts = new ArrayList<>();
        for (Object a : args) {
            if (a instanceof Tensor t) ts.add(t);
            else if (a instanceof Tensor[] arr) ts.addAll(Arrays.asList(arr));
            else if (a instanceof Attention.Options o) {
                OptionsSpec spec = options.get(o);
                ts.add(spec.mask());
                ts.add(spec.keyLengths());
            }
        }
        return ts;
    }

    private long[] tensorShape() {
        if (random.nextInt(25) == 0) { // rank 5 to 8, the most the kernels take
            long[] s = new long[random.nextInt(5, 9)];
            for (int i = 0; i < s.length; i++) s[i] = random.nextInt(1, 3);
            return s;
        }
        int roll = random.nextInt(10);
        if (roll < 6) return baseShape.clone();
        if (roll < 8) {
            long[] s = baseShape.clone();
            for (int i = 0; i < s.length; i++) if (random.nextBoolean()) s[i] = 1;
            return s;
        }
        long[] s = new long[random.nextInt(0, 5)];
        for (int i = 0; i < s.length; i++) s[i] = pick(SMALL_SIZES);
        return s;
    }

    private static long[] swapLastTwo(long[] shape) {
        long[] s = shape.clone();
        long t = s[s.length - 1];
        s[s.length - 1] = s[s.length - 2];
        s[s.length - 2] = t;
        return s;
    }

    /**
     * Random values: Gaussian floats with an occasional NaN or infinity, or small integers from -2 to 9 (indices and
     * class labels, some out of range for whatever they index); integers from range[0] to range[1] - 1 when given.
     */
    private Tensor filled(long[] shape, DType dtype, Device device, long[] range) {
        int n = (int) elementsOf(shape);
        Tensor cpu;
        if (dtype == DType.I32) {
            int[] v = new int[n];
            for (int i = 0; i < n; i++) {
                v[i] = range == null ? random.nextInt(-2, 10) : (int) random.nextLong(range[0], Math.max(range[0] + 1, range[1]));
            }
            cpu = Tensor.ofInts(v, shape);
        } else {
            double[] v = new double[n];
            boolean special = range == null && random.nextInt(8) == 0;
            madeNonFinite |= special;
            for (int i = 0; i < n; i++) {
                if (range != null) v[i] = random.nextLong(range[0], Math.max(range[0] + 1, range[1]));
                else if (special && random.nextInt(4) == 0) v[i] = pick(new double[] {Double.NaN,
                        Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY});
                else v[i] = random.nextGaussian();
            }
            cpu = Tensor.of(v, shape).to(dtype);
        }
        return device.equals(cpu.device()) ? cpu : cpu.to(device);
    }

    private static long elementsOf(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    private static String show(Object value) {
        if (value == null) return "null";
        if (value instanceof int[] a) return Arrays.toString(a);
        if (value instanceof long[] a) return Arrays.toString(a);
        if (value instanceof float[] a) return "float[" + a.length + "]";
        if (value instanceof double[] a) return "double[" + a.length + "]";
        if (value instanceof String s) return '"' + s + '"';
        return String.valueOf(value);
    }
}
