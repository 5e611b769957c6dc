package dev.soma.cli;

import dev.soma.testing.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The command line with values a user could type by mistake: each run is a valid command (train cnn, mlp, dale, dpcnn
 * or gan, evaluate, predict, explain, attack and robustness on a checkpoint, and sample from a GAN generator, all on a
 * tiny MNIST-format folder) with one to three of its options, found in picocli's model of the command so that an option
 * added later is fuzzed too, set to a wrong value of its type: 0, negative, the smallest int (and the largest, where it
 * means "all"), NaN, infinities, words where numbers go, unknown names, paths that do not exist. Judged: the exit code
 * is 0, 1 (a one-to-three-line message) or 2 (picocli's usage error); no stack trace and no exception's class name on
 * either stream; nothing fetched into the empty data root; a run that succeeded took no NaN, infinity or smallest int
 * (a seed excepted) and printed no NaN or infinity; a run refused with the largest int as a size works with 2 there;
 * every run ends within 2 minutes; no native memory left.
 * {@code -Dsoma.fuzz.seed=S}, {@code -Dsoma.fuzz.cliRuns=N} (default 60).
 */
@ExtendWith(NoLeaks.class)
class CliFuzzTest {
    static final long SEED = Long.getLong("soma.fuzz.seed", System.nanoTime());
    static final int RUNS = Integer.getInteger("soma.fuzz.cliRuns", 60);
    /** Options every run sets itself, and those that would fetch, time or loop on purpose. */
    private static final Set<String> KEPT = Set.of("--data-root", "--dataset", "--checkpoint", "--help", "--version",
            "--resume", "--out", "-h", "-V");
    /** Options whose largest value is valid but asks for endless work: epochs, steps, samples. */
    private static final Set<String> WORK_COUNTS = Set.of("--epochs", "--steps", "--samples", "--adv-steps");
    /** Options whose largest value means "all of it": a batch of everything, no limit. (predict's --count is a range.) */
    private static final Set<String> SIZES = Set.of("--batch-size", "--limit", "--test-limit", "--show");
    private static final String[] NUMBERS = {"0", "-1", "-2147483648", "NaN", "Infinity", "-Infinity", "abc", "1e999",
                                             "", "0x10", "1,5"};
    private static final String[] WORDS = {"", "bogus", "NaN", "-1", "a,,b", "../../etc/passwd"};

    static {
        System.out.println("CliFuzzTest: seed " + SEED + " (replay with -Dsoma.fuzz.seed=" + SEED + ")");
    }

    @TempDir
    Path dir;

    private final Map<String, String> findings = new LinkedHashMap<>();

    @Test
    void wrongValuesOnTheCommandLineAreRefusedInOneLine() throws Exception {
        Path digits = AttackCliTest.setUp(dir);
        Path run = dir.resolve("run");
        Path emptyRoot = Files.createDirectories(dir.resolve("empty-root"));
        Path gan = dir.resolve("gan"); // a generator for soma sample, trained for one step on the tiny folder
        CliRun trained = CliRun.of("train", "gan", "--dataset", digits.toString(), "--data-root", emptyRoot.toString(),
                "--limit", "8", "--batch-size", "8", "--epochs", "1", "--quiet", "--out", gan.toString());
        assertEquals(0, trained.exit(), trained.err());
        SplittableRandom r = new SplittableRandom(SEED);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        int ran = 0, refused = 0;
        try {
            for (int i = 0; i < RUNS; i++) {
                List<String> args = command(r, digits, run, gan, emptyRoot, i);
                String where = String.join(" ", args);
                Future<CliRun> f = pool.submit(() -> CliRun.of(args.toArray(String[]::new)));
                CliRun result;
                try {
                    result = f.get(120, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    fail("ran over 2 minutes (seed " + SEED + "): " + where); // the thread cannot be stopped: end here
                    return;
                }
                judge(result, where);
                if (result.exit() == 0) acceptedNonsense(args, where);
                if (result.exit() != 0) refusedAll(args, where + " -> " + firstLines(result.err()), pool);
                if (result.exit() == 0) ran++;
                else refused++;
                try (Stream<Path> s = Files.list(emptyRoot)) {
                    if (s.findAny().isPresent()) record("fetched into the data root", where);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        System.out.println("cli fuzzing, seed " + SEED + ": " + ran + " ran, " + refused + " refused, " + findings.size()
                + " findings");
        if (!findings.isEmpty()) {
            StringBuilder s = new StringBuilder(findings.size() + " findings (seed " + SEED + "):\n");
            findings.forEach((what, example) -> s.append("- ").append(what).append("\n    e.g. ").append(example).append('\n'));
            fail(s.toString());
        }
    }

    /** A valid command and its base options, then one to three of its options set wrong (replacing a base value). */
    private List<String> command(SplittableRandom r, Path digits, Path run, Path gan, Path emptyRoot, int i) {
        String name = new String[] {"train", "train", "evaluate", "predict", "explain", "attack", "robustness", "sample"}[r.nextInt(8)];
        Map<String, String> options = new LinkedHashMap<>(); // option -> value (null: a flag)
        List<String> head = new ArrayList<>(List.of(name));
        if (name.equals("train")) {
            head.add(new String[] {"cnn", "mlp", "dale", "dpcnn", "gan"}[r.nextInt(5)]);
            options.putAll(Map.of("--epochs", "1", "--limit", "8", "--test-limit", "8", "--validation-split", "0",
                    "--out", dir.resolve("train-" + i).toString()));
            options.put("--quiet", null);
        } else if (name.equals("sample")) {
            options.putAll(Map.of("--checkpoint", gan.toString(), "--count", "4", "--out", dir.resolve("s" + i + ".png").toString()));
        } else {
            options.put("--checkpoint", name.equals("predict") ? run.resolve("model.safetensors").toString() : run.toString());
            switch (name) {
                case "attack" -> options.putAll(Map.of("--limit", "4", "--steps", "2", "--out", dir.resolve("a" + i + ".png").toString()));
                case "robustness" -> options.putAll(Map.of("--limit", "4", "--steps", "2", "--sigmas", "0,0.1", "--epsilons",
                        "0,0.1", "--out", dir.resolve("r" + i + ".png").toString()));
                case "explain" -> options.putAll(Map.of("--steps", "4", "--samples", "3", "--out", dir.resolve("e" + i + ".png").toString()));
                case "predict" -> options.put("--count", "3");
                default -> { }
            }
        }
        CommandSpec spec = SomaCli.commandLine().getSubcommands().get(name).getCommandSpec();
        if (spec.findOption("--dataset") != null) options.put("--dataset", digits.toString());
        if (spec.findOption("--data-root") != null) options.put("--data-root", emptyRoot.toString());
        List<OptionSpec> specs = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            if (!KEPT.contains(o.longestName()) && !o.usageHelp() && !o.versionHelp()) specs.add(o);
        }
        for (int k = 0, n = 1 + r.nextInt(3); k < n && !specs.isEmpty(); k++) {
            OptionSpec o = specs.remove(r.nextInt(specs.size()));
            options.put(o.longestName(), o.arity().max() == 0 ? null : wrongValue(o, r));
        }
        List<String> args = new ArrayList<>(head);
        options.forEach((option, value) -> {
            args.add(option);
            if (value != null) args.add(value);
        });
        return args;
    }

    /** A wrong value for the option's type, now and then a plausible one (so that wrong ones meet in one run). */
    private String wrongValue(OptionSpec o, SplittableRandom r) {
        Class<?> t = o.type();
        Class<?> element = t.isArray() ? t.getComponentType() : List.class.isAssignableFrom(t) && o.auxiliaryTypes().length > 0
                ? o.auxiliaryTypes()[0] : t;
        boolean integer = element == int.class || element == Integer.class || element == long.class || element == Long.class;
        boolean real = element == double.class || element == Double.class || element == float.class || element == Float.class;
        if (Path.class.isAssignableFrom(t) || t == java.io.File.class) {
            return new String[] {dir.resolve("missing/deeper").toString(), "", dir.resolve("run/model.safetensors").toString()}[r.nextInt(3)];
        }
        if (integer) {
            // The largest int is a valid size ("all of it") that int arithmetic can wrap; for counts of work it is
            // valid too, but means a run of years.
            if (!WORK_COUNTS.contains(o.longestName()) && r.nextInt(SIZES.contains(o.longestName()) ? 3 : 8) == 0) {
                return "2147483647";
            }
            return r.nextInt(6) == 0 ? pick(NUMBERS, r) : new String[] {"0", "-1", "-2147483648", "1", "2"}[r.nextInt(5)];
        }
        if (real) {
            String v = r.nextInt(6) == 0 ? pick(NUMBERS, r) : new String[] {"NaN", "Infinity", "-Infinity", "-1", "0", "0.5"}[r.nextInt(6)];
            return o.splitRegex() != null && !o.splitRegex().isEmpty() && r.nextBoolean() ? "0.1," + v : v;
        }
        return pick(WORDS, r);
    }

    private static String pick(String[] values, SplittableRandom r) {
        return values[r.nextInt(values.length)];
    }

    private void judge(CliRun result, String where) {
        String both = result.out() + result.err();
        if (result.exit() < 0 || result.exit() > 2) record("exit code " + result.exit(), where + " -> " + result.err());
        if (both.contains("\tat ") || both.matches("(?s).*\\b[a-z]+(\\.[a-z]+)+\\.[A-Z][A-Za-z]*(Exception|Error)\\b.*")) {
            record("a stack trace or an exception's class name", where + " -> " + firstLines(both));
        }
        if (result.exit() == 1) {
            long lines = result.err().strip().lines().count();
            if (lines == 0 || lines > 3) record("refused in " + lines + " lines", where + " -> " + firstLines(result.err()));
        }
        if (result.exit() == 0 && result.out().matches("(?s).*\\b(NaN|nan|Infinity|inf)\\b.*")) {
            record("ran and printed a non-finite result", where + " -> " + firstLines(result.out()));
        }
    }

    /**
     * A run that went through must not have taken NaN, an infinity or the smallest int for any option (a seed
     * excepted): no option of ours means anything by them, in any model or method, used or not.
     */
    private void acceptedNonsense(List<String> args, String where) {
        for (int i = 1; i < args.size(); i++) {
            String option = args.get(i - 1), value = args.get(i);
            if (!option.startsWith("--") || option.equals("--seed")) continue;
            for (String part : value.split(",")) {
                if (Set.of("NaN", "Infinity", "-Infinity", "-2147483648").contains(part)) {
                    record("a run took " + option + " " + part, where);
                }
            }
        }
    }

    /**
     * The largest int for a size means "all of it" and must work wherever 2 does: refused, the command is run again
     * with 2 there. (A batch size of 2^31 - 1 once wrapped to 0 batches and was refused in one clear-looking line.)
     */
    private void refusedAll(List<String> args, String where, ExecutorService pool) throws Exception {
        List<String> small = new ArrayList<>(args);
        boolean any = false;
        for (int i = 1; i < small.size(); i++) {
            if (SIZES.contains(small.get(i - 1)) && small.get(i).equals("2147483647")) {
                small.set(i, "2");
                any = true;
            }
        }
        if (!any) return;
        CliRun again = pool.submit(() -> CliRun.of(small.toArray(String[]::new))).get(120, TimeUnit.SECONDS);
        if (again.exit() == 0) record("refused the largest int for a size where 2 works", where);
    }

    private static String firstLines(String s) {
        return s.strip().lines().limit(4).reduce((a, b) -> a + " | " + b).orElse("");
    }

    private void record(String what, String example) {
        findings.putIfAbsent(what, example);
    }
}
