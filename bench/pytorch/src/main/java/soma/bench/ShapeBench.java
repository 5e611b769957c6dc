package soma.bench;

import static org.bytedeco.pytorch.global.torch.*;

import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.*;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.global.torch;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * PyTorch's training step for the models of Soma's {@code bench train-step}, at the same {@code --shape} keys and
 * defaults (see dev.soma.cli.BenchShape): zero_grad + forward + loss + backward + Adam(1e-3), float32, fixed random
 * data. Unlike ../shared/peers' PtBench, the cnn has Soma's Dropout(0.5) after its hidden Dense, so both sides run the
 * same model. Prints {@code RESULT peer=pytorch model=.. shape=.. median_ms=.. p90_ms=.. p99_ms=.. min_ms=.. max_ms=..}.
 *
 * <pre>ShapeBench --model cnn --shape kernel=5,filters1=16 --batch 32 --threads 2 --warmup 50 --steps 300</pre>
 */
public final class ShapeBench {
    interface Step {
        void run();
    }

    public static void main(String[] args) {
        Map<String, String> a = flags(args);
        String model = a.getOrDefault("--model", "cnn");
        int batch = Integer.parseInt(a.getOrDefault("--batch", "32"));
        int warmup = Integer.parseInt(a.getOrDefault("--warmup", "50"));
        int steps = Integer.parseInt(a.getOrDefault("--steps", "300"));
        int threads = Integer.parseInt(a.getOrDefault("--threads", "0"));
        if (threads > 0) set_num_threads(threads);
        manual_seed(42);
        Map<String, String> shape = shape(model, a.getOrDefault("--shape", ""));
        Step step = switch (model) {
            case "cnn" -> cnn(batch, shape);
            case "lstm" -> lstm(batch, shape);
            case "attn" -> attn(batch, shape);
            case "gan" -> gan(batch, shape);
            default -> throw new IllegalArgumentException("ShapeBench: unknown model " + model + ": cnn, lstm, attn or gan");
        };
        for (int i = 0; i < warmup; i++) step.run();
        double[] ms = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            step.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        System.out.printf(Locale.ROOT, "RESULT peer=pytorch model=%s shape=%s batch=%d threads=%d median_ms=%.2f "
                        + "p90_ms=%.2f p99_ms=%.2f min_ms=%.2f max_ms=%.2f%n", model, a.getOrDefault("--shape", "-"),
                batch, get_num_threads(), quantile(ms, 0.5), quantile(ms, 0.9), quantile(ms, 0.99), ms[0],
                ms[ms.length - 1]);
    }

    /** One training step: zero_grad, loss from the closure, backward, step; the loss read back as Soma's step does. */
    private static Step adamStep(Module net, java.util.function.Supplier<Tensor> loss) {
        Adam opt = new Adam(net.parameters(), new AdamOptions(1e-3));
        return () -> {
            try (PointerScope ps = new PointerScope()) {
                opt.zero_grad();
                Tensor l = loss.get();
                l.backward();
                opt.step();
                l.item_float();
            }
        };
    }

    private static Tensor crossEntropy(Tensor logits2d, Tensor target1d) {
        return nll_loss(log_softmax(logits2d, 1), target1d);
    }

    private static Tensor labels(long high, long... shape) {
        return randint(high, shape, new TensorOptions(torch.ScalarType.Long));
    }

    // Conv kxk same relu -> Conv kxk same relu -> MaxPool p -> Flatten -> Dense relu -> Dropout 0.5 -> Dense 10.
    static final class Cnn extends Module {
        final Conv2dImpl c1, c2;
        final LinearImpl f1, f2;
        final long pool;

        Cnn(int channels, int image, int kernel, int filters1, int filters2, int pool, int dense) {
            if (kernel % 2 == 0) throw new IllegalArgumentException("ShapeBench: odd kernels only (padding k/2 is 'same')");
            this.pool = pool;
            c1 = register_module("c1", new Conv2dImpl(conv(channels, filters1, kernel)));
            c2 = register_module("c2", new Conv2dImpl(conv(filters1, filters2, kernel)));
            long side = image / pool;
            f1 = register_module("f1", new LinearImpl(side * side * filters2, dense));
            f2 = register_module("f2", new LinearImpl(dense, 10));
        }

        static Conv2dOptions conv(long in, long out, long k) {
            Conv2dOptions o = new Conv2dOptions(in, out, new LongPointer(k, k));
            o.padding().put(new LongPointer(k / 2, k / 2));
            return o;
        }

        Tensor forward(Tensor x) {
            x = relu(c1.forward(x));
            x = relu(c2.forward(x));
            x = max_pool2d(x, pool, pool);
            x = relu(f1.forward(x.flatten(1, -1)));
            return f2.forward(dropout(x, 0.5, true));
        }
    }

    private static Step cnn(int batch, Map<String, String> s) {
        int image = i(s, "image"), channels = i(s, "channels");
        Cnn net = new Cnn(channels, image, i(s, "kernel"), i(s, "filters1"), i(s, "filters2"), i(s, "pool"), i(s, "dense"));
        Tensor x = rand(batch, channels, image, image), y = labels(10, batch);
        return adamStep(net, () -> crossEntropy(net.forward(x), y));
    }

    // ids [B, T] -> Embedding -> LSTM or GRU (every step) -> Dense 10 at every step.
    static final class Tagger extends Module {
        final EmbeddingImpl emb;
        final LSTMImpl lstm;
        final GRUImpl gru;
        final LinearImpl fc;

        Tagger(int vocab, int embed, int hidden, boolean useGru) {
            emb = register_module("emb", new EmbeddingImpl(vocab, embed));
            if (useGru) {
                GRUOptions o = new GRUOptions(embed, hidden);
                o.batch_first().put(true);
                gru = register_module("gru", new GRUImpl(o));
                lstm = null;
            } else {
                LSTMOptions o = new LSTMOptions(embed, hidden);
                o.batch_first().put(true);
                lstm = register_module("lstm", new LSTMImpl(o));
                gru = null;
            }
            fc = register_module("fc", new LinearImpl(hidden, 10));
        }

        Tensor forward(Tensor ids) {
            Tensor e = emb.forward(ids);
            Tensor h = lstm != null ? lstm.forward(e).get0() : gru.forward(e).get0();
            return fc.forward(h);
        }
    }

    private static Step lstm(int batch, Map<String, String> s) {
        int length = i(s, "length"), vocab = i(s, "vocab");
        Tagger net = new Tagger(vocab, i(s, "embed"), i(s, "hidden"), s.get("cell").equals("gru"));
        Tensor ids = labels(vocab, batch, length), y = labels(10, (long) batch * length);
        return adamStep(net, () -> crossEntropy(net.forward(ids).reshape(-1, 10), y));
    }

    // x [B, T, D] -> Q, K, V = Dense D -> per head of D / H: softmax(Q K^T / sqrt(D / H)) V -> heads concatenated
    // -> mean over time -> Dense 10.
    static final class Attn extends Module {
        final LinearImpl q, k, v, out;
        final int heads, dim;

        Attn(int dim, int heads) {
            this.heads = heads;
            this.dim = dim;
            q = register_module("q", new LinearImpl(dim, dim));
            k = register_module("k", new LinearImpl(dim, dim));
            v = register_module("v", new LinearImpl(dim, dim));
            out = register_module("out", new LinearImpl(dim, 10));
        }

        Tensor split(Tensor t) { // [B, T, D] -> [B, H, T, D / H]
            return t.reshape(t.size(0), t.size(1), heads, dim / heads).transpose(1, 2);
        }

        Tensor forward(Tensor x) {
            Tensor qh = split(q.forward(x)), kh = split(k.forward(x)), vh = split(v.forward(x));
            Tensor scores = matmul(qh, kh.transpose(2, 3)).mul(new Scalar(1.0 / Math.sqrt((double) dim / heads)));
            Tensor o = matmul(softmax(scores, -1), vh).transpose(1, 2).reshape(x.size(0), x.size(1), dim);
            return out.forward(o.mean(1));
        }
    }

    private static Step attn(int batch, Map<String, String> s) {
        int dim = i(s, "dim"), heads = i(s, "heads");
        if (dim % heads != 0) throw new IllegalArgumentException("ShapeBench: dim must be a multiple of heads");
        Attn net = new Attn(dim, heads);
        Tensor x = randn(batch, i(s, "length"), dim), y = labels(10, batch);
        return adamStep(net, () -> crossEntropy(net.forward(x), y));
    }

    // G latent -> hidden -> hidden -> pixels tanh, D pixels -> hidden -> hidden -> 1 sigmoid, leaky relu 0.2 hidden.
    static final class Mlp3 extends Module {
        final LinearImpl l1, l2, l3;
        final boolean gen;

        Mlp3(long in, long hidden, long out, boolean gen) {
            l1 = register_module("l1", new LinearImpl(in, hidden));
            l2 = register_module("l2", new LinearImpl(hidden, hidden));
            l3 = register_module("l3", new LinearImpl(hidden, out));
            this.gen = gen;
        }

        Tensor forward(Tensor x) {
            Scalar slope = new Scalar(0.2);
            x = leaky_relu(l1.forward(x), slope);
            x = leaky_relu(l2.forward(x), slope);
            x = l3.forward(x);
            return gen ? tanh(x) : sigmoid(x);
        }
    }

    // One D update on the real batch and a detached fake batch, then one G update through the updated D (G runs
    // forward once per step), as Soma's GanTrainer and PtBench's gan.
    private static Step gan(int batch, Map<String, String> s) {
        int latent = i(s, "latent"), hidden = i(s, "hidden"), pixels = i(s, "pixels");
        Mlp3 g = new Mlp3(latent, hidden, pixels, true), d = new Mlp3(pixels, hidden, 1, false);
        Adam optG = new Adam(g.parameters(), new AdamOptions(1e-3)), optD = new Adam(d.parameters(), new AdamOptions(1e-3));
        Tensor real = tanh(randn(batch, pixels)), z = randn(batch, latent);
        Tensor ones = torch.ones(batch, 1), zeros = torch.zeros(batch, 1);
        return () -> {
            try (PointerScope ps = new PointerScope()) {
                Tensor fake = g.forward(z);
                optD.zero_grad();
                Tensor lossD = binary_cross_entropy(d.forward(real), ones)
                        .add(binary_cross_entropy(d.forward(fake.detach()), zeros));
                lossD.backward();
                optD.step();
                optG.zero_grad();
                Tensor lossG = binary_cross_entropy(d.forward(fake), ones);
                lossG.backward();
                optG.step();
                lossG.item_float();
            }
        };
    }

    /** The model's keys with Soma's reference defaults, overridden by "k=v,k=v"; unknown keys are refused. */
    static Map<String, String> shape(String model, String given) {
        Map<String, String> s = new LinkedHashMap<>();
        switch (model) {
            case "cnn" -> put(s, "image", "28", "channels", "1", "kernel", "3", "filters1", "32", "filters2", "64",
                    "pool", "2", "dense", "128");
            case "lstm" -> put(s, "length", "100", "vocab", "10000", "embed", "64", "hidden", "128", "cell", "lstm");
            case "attn" -> put(s, "length", "100", "dim", "64", "heads", "1");
            case "gan" -> put(s, "latent", "100", "hidden", "256", "pixels", "784");
            default -> { }
        }
        for (String kv : given.split(",")) {
            if (kv.isBlank()) continue;
            String[] p = kv.split("=", 2);
            if (p.length != 2 || !s.containsKey(p[0].trim())) {
                throw new IllegalArgumentException("ShapeBench: --shape " + kv + " is not one of " + model + "'s keys " + s.keySet());
            }
            s.put(p[0].trim(), p[1].trim());
        }
        return s;
    }

    private static void put(Map<String, String> m, String... kv) {
        for (int j = 0; j < kv.length; j += 2) m.put(kv[j], kv[j + 1]);
    }

    private static int i(Map<String, String> s, String key) {
        return Integer.parseInt(s.get(key));
    }

    private static Map<String, String> flags(String[] args) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int j = 0; j + 1 < args.length; j += 2) m.put(args[j], args[j + 1]);
        return m;
    }

    private static double quantile(double[] sorted, double q) {
        int idx = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }
}
