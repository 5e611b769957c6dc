package dev.soma.backend.cuda;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.reflect.TypeToken;
import dev.soma.io.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import java.util.TreeMap;

/**
 * The convolution algorithms cuDNN measured fastest, kept on disk so that every later run on the same machine
 * uses the same ones: a measured choice alone could differ between runs (two algorithms within timing noise of
 * each other), and with it the last bits of the results. Keyed by GPU, cuDNN version, pass, mode and geometry;
 * delete the file to measure again. A file that cannot be read is ignored (and replaced at the next write) with
 * one warning: the cache only ever saves time.
 *
 * <p>Where: {@code -Dsoma.cuda.cudnn.cache=<file>}, else {@code $XDG_CACHE_HOME/soma/cudnn-algorithms.json},
 * else {@code ~/.cache/soma/cudnn-algorithms.json}. {@code -Dsoma.cuda.cudnn.cache=none} keeps nothing on disk.
 */
final class CudnnAlgorithmCache {
    private static final System.Logger LOG = System.getLogger(CudnnAlgorithmCache.class.getName());
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

    /** One measured choice. */
    record Entry(int algo, int mathType, long workspace, float ms) {}

    private final Path file;
    private final Map<String, Entry> entries = new TreeMap<>();

    /** {@code file} null: in memory only. */
    CudnnAlgorithmCache(Path file) {
        this.file = file;
        if (file != null && Files.isRegularFile(file)) load();
    }

    /** The cache at the configured place (see the class comment). */
    static CudnnAlgorithmCache configured() {
        return new CudnnAlgorithmCache(configuredPath());
    }

    static Path configuredPath() {
        String p = System.getProperty("soma.cuda.cudnn.cache");
        if (p != null && !p.isBlank()) return p.equals("none") ? null : Paths.get(p);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Paths.get(xdg) : Paths.get(System.getProperty("user.home"), ".cache");
        return base.resolve("soma").resolve("cudnn-algorithms.json");
    }

    synchronized Entry get(String key) {
        return entries.get(key);
    }

    /** Remembers a choice and rewrites the file (atomically); a failed write is logged, the choice still kept. */
    synchronized void put(String key, Entry entry) {
        entries.put(key, entry);
        if (file == null) return;
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            AtomicFiles.write(file, GSON.toJson(entries).getBytes(StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cuDNN algorithm cache " + file + " not written: " + e.getMessage());
        }
    }

    synchronized int size() {
        return entries.size();
    }

    private void load() {
        try {
            Map<String, Entry> read = GSON.fromJson(Files.readString(file, StandardCharsets.UTF_8),
                    new TypeToken<TreeMap<String, Entry>>() {}.getType());
            if (read != null) {
                read.forEach((k, v) -> {
                    if (k != null && v != null && v.algo() >= 0) entries.put(k, v);
                });
            }
        } catch (IOException | JsonParseException | IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "cuDNN algorithm cache " + file + " ignored (" + e.getMessage()
                    + "); algorithms are measured again");
        }
    }
}
