package dev.soma.cli;

import com.google.gson.GsonBuilder;
import dev.soma.io.AtomicFiles;
import dev.soma.tensor.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code soma bench op NAME}: one op over a sweep of sizes, timed after warm-up; achieved GFLOP/s and GB/s
 * from the op's declared cost, as fractions of the ceilings measured in the same run ({@link Ceilings});
 * CSV, JSON and optionally a PNG; {@code --compare} adds a second device or a second op side by side.
 */
@Command(name = "op", mixinStandardHelpOptions = true,
        description = "Time one op (add, relu, matmul, softmax, conv2d, silu, silu-composite, topk) over a sweep of sizes.")
final class BenchOpCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    // Optional so that "bench op --list" runs without naming an op (as docs/custom-ops.md shows it).
    @Parameters(index = "0", arity = "0..1", paramLabel = "OP", description = "The op: ${COMPLETION-CANDIDATES}",
            completionCandidates = OpNames.class)
    String op;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or cuda:N")
    String device;

    @Option(names = "--sizes", split = ",", description = "Sizes to sweep (what a size means depends on the op; see --list)")
    long[] sizes;

    @Option(names = "--warmup", defaultValue = "3")
    int warmup;

    @Option(names = "--repeats", defaultValue = "10")
    int repeats;

    @Option(names = "--compare", description = "A second device (cuda:0) or op (silu-composite) to run side by side")
    String compare;

    @Option(names = "--out", defaultValue = "bench-results", description = "Folder for op-<name>.csv / .json / .png")
    Path out;

    @Option(names = "--plot", description = "Also write a PNG of throughput against size with the ceilings drawn in")
    boolean plot;

    @Option(names = "--list", description = "List the ops and what their sizes mean, then stop")
    boolean list;

    /** One timed point. */
    record Row(String variant, String device, long size, String shape, double medianMs, double minMs, double maxMs,
               double gflops, double gbps, double fracGemm, double fracCopy) {}

    /** A variant (op on a device) that could not run, and why. */
    record Unusable(String variant, String reason) {}

    static final class OpNames extends ArrayList<String> {
        OpNames() {
            super(BenchOps.ALL.keySet());
        }
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter w = spec.commandLine().getOut();
        if (list) {
            BenchOps.ALL.values().forEach(e -> w.printf("%-15s %s%n", e.name(), e.sizeMeaning()));
            w.flush();
            return 0;
        }
        BenchOps.Entry entry;
        Device primary;
        long[] sweep;
        try { // argument mistakes: picocli prints the message and the usage, no stack trace
            if (op == null) throw new IllegalArgumentException("bench op: name the op to time (bench op --list lists them)");
            entry = BenchOps.get(op);
            primary = Device.parse(device);
            if (compare != null && !BenchOps.ALL.containsKey(compare)) Device.parse(compare);
            sweep = sizes != null ? sizes : entry.defaultSizes();
            for (long s : sweep) if (s <= 0) throw new IllegalArgumentException("bench op: sizes must be > 0, got " + s);
            if (warmup < 0 || repeats < 1) throw new IllegalArgumentException("bench op: --warmup must be >= 0, --repeats >= 1");
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        Ceilings.usable(primary); // the primary device must work: fail with the reason otherwise

        List<String[]> variants = new ArrayList<>(); // {op, device}
        variants.add(new String[] {op, primary.toString()});
        if (compare != null) {
            if (BenchOps.ALL.containsKey(compare)) variants.add(new String[] {compare, primary.toString()});
            else variants.add(new String[] {op, Device.parse(compare).toString()});
        }

        Map<String, Ceilings> ceilings = new LinkedHashMap<>();
        List<Unusable> unusable = new ArrayList<>();
        List<Row> rows = new ArrayList<>();
        for (String[] v : variants) {
            Device d = Device.parse(v[1]);
            String name = v[0] + "@" + d;
            try {
                Ceilings c = ceilings.computeIfAbsent(d.toString(), k -> Ceilings.measure(d, 10));
                BenchOps.Entry e = BenchOps.get(v[0]);
                for (long size : sweep) rows.add(measure(name, e, d, size, c));
            } catch (RuntimeException ex) {
                String reason = Ceilings.reason(d, ex.getMessage() == null ? ex.toString() : ex.getMessage());
                unusable.add(new Unusable(name, reason));
                if (d.equals(primary) && v[0].equals(op)) throw ex;
            }
        }

        print(w, entry, ceilings, rows, unusable);
        Files.createDirectories(out);
        Path csv = out.resolve("op-" + op + ".csv");
        Path json = out.resolve("op-" + op + ".json");
        writeCsv(csv, rows);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("op", op);
        doc.put("size_meaning", entry.sizeMeaning());
        doc.put("warmup", warmup);
        doc.put("repeats", repeats);
        doc.put("threads", System.getenv().getOrDefault("OMP_NUM_THREADS", "?"));
        doc.put("ceilings", ceilings.values().stream().map(c -> Map.of("device", c.device().toString(),
                "gemm_gflops", c.gemmGflops(), "copy_gbps", c.copyGBps())).toList());
        doc.put("rows", rows);
        doc.put("unusable", unusable);
        AtomicFiles.write(json, new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create()
                .toJson(doc).getBytes(StandardCharsets.UTF_8));
        w.println("wrote " + csv + " and " + json);
        if (plot) {
            Path png = out.resolve("op-" + op + ".png");
            ThroughputPlot.write(png, op + " (" + entry.sizeMeaning() + ")", rows, ceilings.values());
            w.println("wrote " + png);
        }
        w.flush();
        return 0;
    }

    private Row measure(String variant, BenchOps.Entry e, Device d, long size, Ceilings c) {
        try (dev.soma.memory.Scope s = dev.soma.memory.Scope.open()) {
            BenchOps.Case k = e.maker().make(d, size);
            DeviceTiming.Times t = DeviceTiming.time(d, k::run, warmup, repeats);
            double sec = t.median();
            double gflops = k.cost().flops() / sec / 1e9;
            double gbps = k.cost().bytes() / sec / 1e9;
            return new Row(variant, d.toString(), size, k.shape(), t.median() * 1e3, t.min() * 1e3, t.max() * 1e3, gflops, gbps,
                    gflops / c.gemmGflops(), gbps / c.copyGBps());
        }
    }

    private void print(PrintWriter w, BenchOps.Entry e, Map<String, Ceilings> ceilings, List<Row> rows, List<Unusable> unusable) {
        w.printf(Locale.ROOT, "bench op %s: size = %s; warmup %d, repeats %d, threads %s%n", op, e.sizeMeaning(), warmup,
                repeats, System.getenv().getOrDefault("OMP_NUM_THREADS", "?"));
        for (Ceilings c : ceilings.values()) {
            w.printf(Locale.ROOT, "ceilings %s: GEMM %.1f GFLOP/s (matmul %d^3), copy %.1f GB/s%n", c.device(), c.gemmGflops(),
                    Ceilings.GEMM_N, c.copyGBps());
        }
        for (Unusable u : unusable) w.printf("%s: not usable: %s%n", u.variant(), u.reason());
        w.printf(Locale.ROOT, "%-24s %10s %10s %10s %10s %10s %9s %9s %8s %8s  %s%n", "variant", "size", "median_ms", "min_ms",
                "max_ms", "GFLOP/s", "GB/s", "%gemm", "%copy", "", "shape");
        for (Row r : rows) {
            w.printf(Locale.ROOT, "%-24s %10d %10.4f %10.4f %10.4f %10.2f %10.2f %8.1f%% %8.1f%% %8s  %s%n", r.variant(), r.size(),
                    r.medianMs(), r.minMs(), r.maxMs(), r.gflops(), r.gbps(), 100 * r.fracGemm(), 100 * r.fracCopy(), "",
                    r.shape());
        }
        if (rows.stream().map(Row::variant).distinct().count() == 2) {
            String a = rows.get(0).variant();
            for (Row r : rows) {
                if (r.variant().equals(a)) continue;
                rows.stream().filter(x -> x.variant().equals(a) && x.size() == r.size()).findFirst().ifPresent(x ->
                        w.printf(Locale.ROOT, "size %d: %s takes %.2fx the time of %s%n", r.size(), r.variant(),
                                r.medianMs() / x.medianMs(), a));
            }
        }
    }

    private static void writeCsv(Path csv, List<Row> rows) throws IOException {
        StringBuilder sb = new StringBuilder("variant,device,size,shape,median_ms,min_ms,max_ms,gflops,gbps,frac_gemm,frac_copy\n");
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT, "%s,%s,%d,\"%s\",%.6f,%.6f,%.6f,%.4f,%.4f,%.5f,%.5f%n", r.variant(), r.device(),
                    r.size(), r.shape(), r.medianMs(), r.minMs(), r.maxMs(), r.gflops(), r.gbps(), r.fracGemm(), r.fracCopy()));
        }
        AtomicFiles.write(csv, sb.toString().getBytes(StandardCharsets.UTF_8));
    }
}
