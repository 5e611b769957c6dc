package dev.soma.cli;

import dev.soma.autograd.GradMode;
import dev.soma.data.DatasetFetcher;
import dev.soma.data.Mnist;
import dev.soma.explain.Attribution;
import dev.soma.explain.AttributionMethod;
import dev.soma.explain.Baseline;
import dev.soma.explain.IntegratedGradients;
import dev.soma.explain.IntegrationRule;
import dev.soma.explain.Methods;
import dev.soma.explain.Occlusion;
import dev.soma.explain.SmoothGrad;
import dev.soma.explain.Target;
import dev.soma.explain.TokenAttribution;
import dev.soma.explain.Heatmap;
import dev.soma.explain.TokenHtml;
import dev.soma.memory.Scope;
import dev.soma.model.Checkpoint;
import dev.soma.model.Sequential;
import dev.soma.tensor.Tensor;
import dev.soma.text.Imdb;
import dev.soma.text.Sequences;
import dev.soma.text.Vocabulary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code soma explain --checkpoint runs/cnn-mnist --index 0 --method ig}: attributions of one test example. For an
 * image model, a PNG of the image and one heatmap per method; for a text model (first layer an embedding, e.g.
 * {@code runs/lstm-imdb} with its vocabulary.txt) an HTML page with each token coloured by its attribution.
 */
@Command(name = "explain", mixinStandardHelpOptions = true,
        description = "Explain a checkpoint's prediction on one test example: saliency, gradient x input (gxi), "
                + "Integrated Gradients (ig), SmoothGrad or occlusion; a PNG heatmap for images, HTML for text.")
final class ExplainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true, description = "a run folder (with model.safetensors) or a checkpoint file")
    Path checkpoint;

    @Mixin
    DatasetOptions datasetOptions = new DatasetOptions();

    @Mixin
    DeviceOption deviceOption = new DeviceOption();

    @Option(names = "--index", defaultValue = "0", description = "the test example to explain (default 0)")
    int index;

    @Option(names = "--method", defaultValue = "ig", description = "saliency, gxi, ig, smoothgrad, occlusion or all (default ig)")
    String method;

    @Option(names = "--target", defaultValue = "-1", description = "output unit to explain (default: the predicted class; 0 for a one-unit output)")
    int target;

    @Option(names = "--output", defaultValue = "logit", description = "logit (before the final activation, default) or probability")
    String output;

    @Option(names = "--steps", defaultValue = "64", description = "Integrated Gradients steps (default 64)")
    int steps;

    @Option(names = "--rule", defaultValue = "gauss-legendre",
            description = "IG quadrature: riemann-left, riemann-right, riemann-middle, riemann-trapezoid, gauss-legendre")
    String rule;

    @Option(names = "--baseline", defaultValue = "zeros", description = "IG baseline: zeros, blur or uniform (images)")
    String baseline;

    @Option(names = "--samples", defaultValue = "50", description = "SmoothGrad samples (default 50)")
    int samples;

    @Option(names = "--noise", defaultValue = "0.15", description = "SmoothGrad noise, a fraction of the input's range")
    double noise;

    @Option(names = "--window", defaultValue = "4", description = "occlusion window (pixels or tokens, default 4)")
    int window;

    @Option(names = "--stride", defaultValue = "2", description = "occlusion stride (default 2)")
    int stride;

    @Option(names = "--seed", defaultValue = "1", description = "seed of SmoothGrad's noise and the uniform baseline")
    long seed;

    @Option(names = "--out", description = "output file (default: explain-<index>.png or .html in the run folder)")
    Path out;

    @Override
    public Integer call() throws Exception {
        PrintWriter console = spec.commandLine().getOut();
        List<String> names = Methods.expand(method);
        if (!output.equals("logit") && !output.equals("probability")) {
            throw new IllegalArgumentException("--output must be logit or probability, got '" + output + "'");
        }
        if (index < 0) throw new IllegalArgumentException("--index must be >= 0, got " + index);
        // Every method's settings are checked, not only the chosen one's: --window -1 is wrong whatever --method says.
        for (String n : List.of("ig", "smoothgrad", "occlusion")) configured(n, false);
        Path file = CheckpointFiles.fileOrFolder(checkpoint, "model.safetensors");
        Path runDir = file.toAbsolutePath().getParent();
        try (Sequential model = Checkpoint.load(file, deviceOption.resolve())) {
            boolean text = TokenAttribution.isTextModel(model);
            List<AttributionMethod> methods = new ArrayList<>();
            for (String n : names) methods.add(configured(n, text));
            if (text) return explainText(model, methods, runDir, console);
            return explainImage(model, methods, runDir, console);
        }
    }

    /** The method with the command's settings; occlusion covers whole pixels (all channels) or whole tokens. */
    private AttributionMethod configured(String name, boolean text) {
        if (text && name.equals("ig") && !baseline.equals("zeros")) {
            throw new IllegalArgumentException("--baseline " + baseline + " is for images; text models are explained "
                    + "from the zero embedding (--baseline zeros)");
        }
        return switch (name) {
            case "ig" -> new IntegratedGradients().steps(steps).rule(IntegrationRule.parse(rule)).baseline(switch (baseline) {
                case "zeros" -> Baseline.zeros();
                case "blur" -> Baseline.blurred(5);
                case "uniform" -> Baseline.uniform(0, 1, seed);
                default -> throw new IllegalArgumentException("--baseline must be zeros, blur or uniform, got '" + baseline + "'");
            });
            case "smoothgrad" -> new SmoothGrad().samples(samples).noise(noise).seed(seed);
            case "occlusion" -> text ? new Occlusion().window(window).stride(stride)
                    : new Occlusion().window(window, window).stride(stride, stride);
            default -> Methods.byName(name);
        };
    }

    private int explainImage(Sequential model, List<AttributionMethod> methods, Path runDir, PrintWriter console)
            throws IOException {
        Mnist.Split test = datasetOptions.load(console).test();
        if (index >= test.count()) {
            throw new IllegalArgumentException("--index " + index + " is outside the " + test.count() + " test images");
        }
        Mnist.Split one = test.slice(index, index + 1);
        long[] shape = {one.height(), one.width(), 1};
        int unit = chooseUnit(model, one.images(), shape);
        Target t = output.equals("logit") ? Target.logit(model, unit) : Target.output(model, unit);
        List<Attribution> maps = new ArrayList<>();
        for (AttributionMethod m : methods) maps.add(report(console, m.attribute(t, one.images(), shape)));
        Path png = out != null ? out : runDir.resolve("explain-" + index + ".png");
        Heatmap.write(png, one.images(), shape, 0, 1, maps, 6);
        console.printf(Locale.ROOT, "image %d: label %d, explained %s %d; wrote %s%n", index, one.labels()[0],
                output, unit, png);
        console.flush();
        return 0;
    }

    private int explainText(Sequential model, List<AttributionMethod> methods, Path runDir, PrintWriter console)
            throws IOException {
        if (Files.isRegularFile(runDir.resolve(dev.soma.text.CharModelInfo.FILE_NAME))) {
            throw new IllegalArgumentException(runDir + " holds a character language model ('soma train charlm'); "
                    + "explain works on image classifiers and on the text classifiers of 'soma train lstm|bilstm|gru|transformer'");
        }
        Path vocabFile = runDir.resolve("vocabulary.txt");
        if (!Files.isRegularFile(vocabFile)) {
            throw new IOException("a text model needs the vocabulary of its run folder, and there is no " + vocabFile);
        }
        Vocabulary vocab = Vocabulary.of(Files.readAllLines(vocabFile));
        // Only the default (mnist) stands for imdb; --dataset mnist typed by hand is a mistake, as in train.
        boolean given = spec.commandLine().getParseResult().hasMatchedOption("--dataset");
        String dataset = datasetOptions.dataset.equals("mnist") && !given ? "imdb" : datasetOptions.dataset;
        if (!dataset.equals("imdb")) throw new IllegalArgumentException("text models are explained on --dataset imdb, got '" + dataset + "'");
        Path root = datasetOptions.dataRoot != null ? datasetOptions.dataRoot : DatasetFetcher.defaultDataRoot();
        Imdb.Split test = Imdb.load(root, line -> {
            console.println(line);
            console.flush();
        }).test();
        if (index >= test.size()) throw new IllegalArgumentException("--index " + index + " is outside the " + test.size() + " test reviews");
        int length = (int) model.layers().get(0).inputShape()[0];
        float[] padded = Sequences.pad(new int[][] {vocab.encode(test.texts().get(index))}, length,
                Sequences.Side.PRE, Sequences.Side.PRE);
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) ids[i] = (int) padded[i];
        int unit = chooseUnit(model, padded, new long[] {length});
        List<TokenAttribution.Result> results = new ArrayList<>();
        for (AttributionMethod m : methods) {
            TokenAttribution.Result r = TokenAttribution.attribute(model, ids, unit, output.equals("logit"), m);
            report(console, r.full());
            results.add(r);
        }
        Path html = out != null ? out : runDir.resolve("explain-" + index + ".html");
        TokenHtml.write(html, "IMDB test review " + index + " (label " + test.labels()[index] + ", " + output + " " + unit + ")",
                results, vocab::word, Vocabulary.PAD);
        console.printf(Locale.ROOT, "review %d: label %d; wrote %s%n", index, test.labels()[index], html);
        console.flush();
        return 0;
    }

    /** --target, or the predicted class when it is -1 (unit 0 for a one-unit output). */
    private int chooseUnit(Sequential model, float[] example, long[] shape) {
        if (target < -1) throw new IllegalArgumentException("--target must be >= 0 (or -1 for the predicted class), got " + target);
        if (target >= 0) return target;
        long[] batch = new long[shape.length + 1];
        batch[0] = 1;
        System.arraycopy(shape, 0, batch, 1, shape.length);
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            float[] p = model.call(Tensor.of(example, batch)).toFloatArray();
            int best = 0;
            for (int i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
            return best;
        }
    }

    private static Attribution report(PrintWriter console, Attribution a) {
        if (Double.isNaN(a.delta())) {
            console.printf(Locale.ROOT, "%-10s score %.4f  sum %.4f%n", a.method(), a.score(), a.sum());
        } else {
            console.printf(Locale.ROOT, "%-10s score %.4f  sum %.4f  convergence delta %.3e (%.3f%% of F(x) - F(baseline))%n",
                    a.method(), a.score(), a.sum(), a.delta(), 100 * a.relativeDelta());
        }
        console.flush();
        return a;
    }
}
