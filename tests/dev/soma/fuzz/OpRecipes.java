package dev.soma.fuzz;

import dev.soma.backend.ConvKernels;
import dev.soma.backend.RecurrentKernels.Cell;
import dev.soma.ops.Convolution;
import dev.soma.ops.GhostNorms;
import dev.soma.tensor.DType;
import dev.soma.tensor.Tensor;

import java.lang.reflect.Method;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Arguments that fit together for the ops whose random arguments ({@link ArgumentMaker}) almost never do:
 * convolutions, pooling, attention, recurrent layers, embeddings and class labels need tensors of related ranks and
 * sizes. Sizes are small and odd on purpose (0 and 1, kernels larger than the image, strides larger than the kernel,
 * dilation), and ids and labels run one past their valid range at either end. The fuzzer then mutates some calls.
 */
final class OpRecipes {
    private OpRecipes() {}

    /** The ops with a recipe, as "Class.method" (every overload). */
    private static final Set<String> OPS = Set.of(
            "Convolution.conv2d", "Convolution.conv2dRelu", "Convolution.implementations",
            "ConvolutionPooling.conv2dReluMaxPool", "GhostNorms.conv2d", "GhostNorms.conv2dWeightGradients",
            "Pooling.maxPool2d", "Pooling.avgPool2d", "Pooling.implementations", "Resize.upsampleNearest2d",
            "TransposedConvolution.conv2dTranspose", "TransposedConvolution.implementations",
            "Convolution.outputShape", "TransposedConvolution.outputShape", "Pooling.outputShape",
            "Resize.upsampledShape", "Attention.scaledDotProduct", "Attention.withWeights", "Attention.plain",
            "Embeddings.embedding", "GhostNorms.embedding", "Losses.sparseCategoricalCrossEntropy", "Recurrent.run",
            "Linalg.matmul");

    /** Whether {@code method} has a recipe. */
    static boolean has(Method method) {
        return OPS.contains(method.getDeclaringClass().getSimpleName() + "." + method.getName());
    }

    /** Arguments for {@code method}, or null when it has no recipe (the fuzzer then makes them at random). */
    static Object[] argumentsFor(Method method, ArgumentMaker make, SplittableRandom r) {
        if (!has(method)) return null;
        String cls = method.getDeclaringClass().getSimpleName();
        int n = method.getParameterCount();
        return switch (cls + "." + method.getName()) {
            case "Convolution.conv2d", "Convolution.conv2dRelu", "Convolution.implementations" -> conv(make, r, n);
            case "ConvolutionPooling.conv2dReluMaxPool" -> convPool(make, r);
            case "GhostNorms.conv2d" -> ghostConv(make, r);
            case "GhostNorms.conv2dWeightGradients" -> ghostConvWeights(make, r);
            case "Pooling.maxPool2d", "Pooling.avgPool2d" -> pool(make, r, false);
            case "Pooling.implementations" -> pool(make, r, true);
            case "Resize.upsampleNearest2d" -> upsample(make, r, n);
            case "TransposedConvolution.conv2dTranspose" -> transposedConv(make, r, n);
            case "TransposedConvolution.implementations" -> transposedConvImplementations(make, r);
            case "Convolution.outputShape" -> new Object[] {"Conv2D", perExample(r), pair(r, 1, 4), size(r, 1, 5),
                                                            pair(r, 1, 3), padding(r), pair(r, 1, 2)};
            case "TransposedConvolution.outputShape" -> new Object[] {"Conv2DTranspose", perExample(r), pair(r, 1, 4),
                                                                      size(r, 1, 5), pair(r, 1, 3), padding(r)};
            case "Pooling.outputShape" -> new Object[] {"MaxPooling2D", perExample(r), pair(r, 1, 4),
                                                        r.nextBoolean() ? null : pair(r, 1, 4), padding(r)};
            case "Resize.upsampledShape" -> new Object[] {"UpSampling2D", perExample(r), pair(r, 1, 3)};
            case "Attention.scaledDotProduct", "Attention.withWeights", "Attention.plain" -> attention(make, r, n);
            case "Embeddings.embedding" -> embedding(make, r);
            case "GhostNorms.embedding" -> ghostEmbedding(make, r);
            case "Losses.sparseCategoricalCrossEntropy" -> sparseLabels(make, r);
            case "Recurrent.run" -> recurrent(make, r, n);
            case "Linalg.matmul" -> matmul(make, r);
            default -> throw new AssertionError("OPS lists " + cls + "." + method.getName() + " without a recipe");
        };
    }

    /** A size from lo to hi, or now and then up to four times hi (vector tails and blocking edges). */
    private static long size(SplittableRandom r, int lo, int hi) {
        return r.nextInt(8) == 0 ? r.nextInt(Math.max(lo, hi + 1), 4 * hi + 2) : r.nextInt(lo, hi + 1);
    }

    private static int[] pair(SplittableRandom r, int lo, int hi) {
        return new int[] {r.nextInt(lo, hi + 1), r.nextInt(lo, hi + 1)};
    }

    private static String padding(SplittableRandom r) {
        return r.nextBoolean() ? "same" : "valid";
    }

    private static DType floating(SplittableRandom r) {
        return r.nextInt(4) == 0 ? DType.F64 : DType.F32;
    }

    /** An image batch {@code [N, H, W, C]}: N may be 0. */
    private static long[] image(SplittableRandom r, long c) {
        return new long[] {size(r, 0, 3), size(r, 1, 7), size(r, 1, 7), c};
    }

    /** One example's {@code [H, W, C]}, for the layers' shape inference. */
    private static long[] perExample(SplittableRandom r) {
        return new long[] {size(r, 1, 7), size(r, 1, 7), size(r, 1, 5)};
    }

    private static Object[] conv(ArgumentMaker make, SplittableRandom r, int params) {
        DType dt = floating(r);
        long c = size(r, 1, 5), oc = size(r, 1, 5);
        int[] k = pair(r, 1, 4);
        Tensor x = make.tensorOf(image(r, c), dt);
        Tensor w = make.tensorOf(new long[] {k[0], k[1], c, oc}, dt);
        Tensor b = r.nextBoolean() ? make.tensorOf(new long[] {oc}, dt) : null;
        if (params == 4) return new Object[] {x, w, b, padding(r)};
        return new Object[] {x, w, b, pair(r, 1, 3), padding(r), pair(r, 1, 2)};
    }

    private static Object[] convPool(ArgumentMaker make, SplittableRandom r) {
        Object[] c = conv(make, r, 6);
        return new Object[] {c[0], c[1], c[2], c[3], c[4], c[5], pair(r, 1, 3), r.nextBoolean() ? null : pair(r, 1, 3),
                             padding(r)};
    }

    /** The gradient at a convolution's output for these arguments, or a tensor of another shape when it has none. */
    private static Tensor outputGradient(ArgumentMaker make, long[] x, int[] k, long oc, int[] s, String pad, int[] d,
                                         DType dt) {
        try {
            long[] out = Convolution.outputShape("fuzz", new long[] {x[1], x[2], x[3]}, k, oc, s, pad, d);
            return make.tensorOf(new long[] {x[0], out[0], out[1], out[2]}, dt);
        } catch (RuntimeException e) {
            return make.tensorOf(new long[] {x[0], 1, 1, oc}, dt);
        }
    }

    /** x, kernel, the output's gradient, strides, padding and dilation of one ghost-norm convolution. */
    private static Object[] ghostConvInputs(ArgumentMaker make, SplittableRandom r, DType dt, long c, long oc) {
        int[] k = pair(r, 1, 3), s = pair(r, 1, 2), d = pair(r, 1, 2);
        String pad = padding(r);
        long[] xs = image(r, c);
        return new Object[] {make.tensorOf(xs, dt), make.tensorOf(new long[] {k[0], k[1], c, oc}, dt),
                             outputGradient(make, xs, k, oc, s, pad, d, dt), s, pad, d};
    }

    private static Object[] ghostConv(ArgumentMaker make, SplittableRandom r) {
        Object[] in = ghostConvInputs(make, r, floating(r), size(r, 1, 4), size(r, 1, 4));
        GhostNorms.Method m = GhostNorms.Method.values()[r.nextInt(GhostNorms.Method.values().length)];
        return new Object[] {in[0], in[1], in[2], in[3], in[4], in[5], r.nextBoolean(), m};
    }

    /** The inputs, then the kernel's and (or null) the bias's gradient buffers. */
    private static Object[] ghostConvWeights(ArgumentMaker make, SplittableRandom r) {
        DType dt = floating(r);
        long c = size(r, 1, 4), oc = size(r, 1, 4);
        Object[] in = ghostConvInputs(make, r, dt, c, oc);
        long[] kernel = ((Tensor) in[1]).shape();
        Tensor gb = r.nextBoolean() ? make.tensorOf(new long[] {oc}, dt) : null;
        return new Object[] {in[0], in[1], in[2], in[3], in[4], in[5], make.tensorOf(kernel, dt), gb};
    }

    private static Object[] pool(ArgumentMaker make, SplittableRandom r, boolean withKind) {
        Tensor x = make.tensorOf(image(r, size(r, 1, 5)), floating(r));
        int[] p = pair(r, 1, 4);
        int[] s = r.nextInt(3) == 0 ? null : pair(r, 1, 4);
        String pad = padding(r);
        if (withKind) {
            ConvKernels.PoolKind kind = ConvKernels.PoolKind.values()[r.nextInt(ConvKernels.PoolKind.values().length)];
            return new Object[] {kind, x, p, s, pad};
        }
        return new Object[] {x, p, s, pad};
    }

    private static Object[] upsample(ArgumentMaker make, SplittableRandom r, int params) {
        Tensor x = make.tensorOf(image(r, size(r, 1, 4)), floating(r));
        int[] size = pair(r, 1, 3);
        return params == 2 ? new Object[] {x, size} : new Object[] {"UpSampling2D", x, size};
    }

    private static Object[] transposedConv(ArgumentMaker make, SplittableRandom r, int params) {
        DType dt = floating(r);
        long c = size(r, 1, 4), f = size(r, 1, 4);
        int[] k = pair(r, 1, 4);
        Tensor x = make.tensorOf(image(r, c), dt);
        Tensor w = make.tensorOf(new long[] {k[0], k[1], f, c}, dt);
        Tensor b = r.nextBoolean() ? make.tensorOf(new long[] {f}, dt) : null;
        if (params == 4) return new Object[] {x, w, b, padding(r)};
        return new Object[] {x, w, b, pair(r, 1, 3), padding(r)};
    }

    private static Object[] transposedConvImplementations(ArgumentMaker make, SplittableRandom r) {
        Object[] t = transposedConv(make, r, 5);
        return new Object[] {t[0], t[1], t[3], t[4]};
    }

    private static Object[] attention(ArgumentMaker make, SplittableRandom r, int params) {
        DType dt = floating(r);
        long b = size(r, 0, 2), h = size(r, 1, 3), tq = size(r, 1, 6), tk = size(r, 1, 6), d = size(r, 1, 8),
                dv = r.nextBoolean() ? d : size(r, 1, 8);
        Tensor q = make.tensorOf(new long[] {b, h, tq, d}, dt);
        Tensor k = make.tensorOf(new long[] {b, h, tk, d}, dt);
        Tensor v = make.tensorOf(new long[] {b, h, tk, dv}, dt);
        if (params == 3) return new Object[] {q, k, v};
        ArgumentMaker.OptionsSpec o = new ArgumentMaker.OptionsSpec(r.nextBoolean(),
                r.nextBoolean() ? null : new double[] {0.125, 1, 0.5}[r.nextInt(3)],
                r.nextInt(3) == 0 ? make.tensorOf(r.nextBoolean() ? new long[] {b, tk} : new long[] {b, tq, tk},
                        r.nextBoolean() ? dt : DType.I32, 0, 2) : null,
                r.nextInt(3) == 0 ? make.tensorOf(new long[] {b}, DType.I32, -1, tk + 2) : null,
                r.nextInt(3) == 0 ? new double[] {0.1, 0.5}[r.nextInt(2)] : null, r.nextLong(), r.nextInt(3));
        return new Object[] {q, k, v, make.options(o)};
    }

    /** Up to three batch dimensions, each one broadcast (size 1) or missing in one operand now and then. */
    private static Object[] matmul(ArgumentMaker make, SplittableRandom r) {
        DType dt = floating(r);
        long[][] ab = dev.soma.testing.MatmulShapes.broadcasting(r, () -> size(r, 1, 3)); // now and then large
        return new Object[] {make.tensorOf(ab[0], dt), make.tensorOf(ab[1], dt)};
    }

    private static Object[] embedding(ArgumentMaker make, SplittableRandom r) {
        long vocab = size(r, 1, 6);
        Tensor ids = make.tensorOf(new long[] {size(r, 0, 3), size(r, 1, 4)}, DType.I32, r.nextInt(5) == 0 ? -1 : 0,
                vocab + (r.nextInt(5) == 0 ? 1 : 0));
        return new Object[] {ids, make.tensorOf(new long[] {vocab, size(r, 1, 5)}, floating(r))};
    }

    private static Object[] ghostEmbedding(ArgumentMaker make, SplittableRandom r) {
        long n = size(r, 0, 3), t = size(r, 1, 4);
        Tensor ids = make.tensorOf(new long[] {n, t}, DType.I32, -1, 7);
        return new Object[] {ids, make.tensorOf(new long[] {n, t, size(r, 1, 5)}, floating(r))};
    }

    private static Object[] sparseLabels(ArgumentMaker make, SplittableRandom r) {
        long n = size(r, 0, 5), classes = size(r, 1, 6);
        Tensor logits = make.tensorOf(new long[] {n, classes}, floating(r));
        Tensor labels = make.tensorOf(new long[] {n}, DType.I32, r.nextInt(5) == 0 ? -1 : 0,
                classes + (r.nextInt(5) == 0 ? 1 : 0));
        return new Object[] {logits, labels};
    }

    private static Object[] recurrent(ArgumentMaker make, SplittableRandom r, int params) {
        DType dt = floating(r);
        Cell cell = Cell.values()[r.nextInt(Cell.values().length)];
        long n = size(r, 0, 3), t = size(r, 0, 4), f = size(r, 1, 4), h = size(r, 1, 4), g = cell.gates * h;
        String[] acts = {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"};
        long[] biasShape = cell == Cell.GRU ? new long[] {2, g} : new long[] {g};
        Object[] args = {cell, acts[r.nextInt(acts.length)], acts[r.nextInt(acts.length)], r.nextBoolean(),
                         cell == Cell.LSTM && r.nextBoolean(), make.tensorOf(new long[] {n, t, f}, dt),
                         make.tensorOf(new long[] {f, g}, dt), make.tensorOf(new long[] {h, g}, dt),
                         r.nextBoolean() ? make.tensorOf(biasShape, dt) : null,
                         r.nextBoolean() ? make.tensorOf(new long[] {n, h}, dt) : null,
                         cell == Cell.LSTM && r.nextBoolean() ? make.tensorOf(new long[] {n, h}, dt) : null,
                         r.nextBoolean() ? make.tensorOf(new long[] {n, t}, dt, 0, 2) : null, null};
        if (params == 13 && r.nextBoolean()) args[12] = make.tensorOf(new long[] {n, h}, dt, 0, 3);
        return params == 13 ? args : java.util.Arrays.copyOf(args, 12);
    }
}
