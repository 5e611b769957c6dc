package dev.soma.memory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How much host memory this process can still take: the kernel's {@code MemAvailable}, or less where a memory cgroup
 * (a container, a systemd slice) caps the process. Linux overcommits, so a host allocation larger than this succeeds
 * and the kernel's OOM killer ends the JVM when the pages are written; the CPU allocator asks here first and refuses
 * instead. A reading takes /proc/meminfo and the usage of any limiting cgroup (tens of microseconds), so the allocator
 * reads for large requests and otherwise keeps an estimate ({@link CpuAllocator}).
 */
public final class HostMemory {
    /** What no reading could tell (not Linux, or the files are unreadable): no cap. */
    public static final long UNKNOWN = Long.MAX_VALUE;

    private final Path proc;
    private final Path cgroupRoot;

    private static final HostMemory SYSTEM = new HostMemory(Path.of("/proc"), Path.of("/sys/fs/cgroup"));

    /** Reads from {@code proc} (as /proc) and {@code cgroupRoot} (as /sys/fs/cgroup); tests pass folders of their own. */
    HostMemory(Path proc, Path cgroupRoot) {
        this.proc = proc;
        this.cgroupRoot = cgroupRoot;
    }

    /** This machine's reading. */
    public static HostMemory system() {
        return SYSTEM;
    }

    /** Bytes this process can still allocate and write without being killed, or {@link #UNKNOWN}. */
    public long available() {
        return Math.min(machineAvailable(), cgroupAvailable());
    }

    /** The memory this process may hold at most: the machine's ({@code MemTotal}) or a tighter cgroup limit. */
    public long total() {
        long least = meminfo("MemTotal:");
        for (CgroupLevel level : limitedLevels()) least = Math.min(least, number(first(level.dir.resolve(level.limitFile))));
        return least;
    }

    /** {@code MemAvailable} from /proc/meminfo (free memory plus the page cache the kernel can drop). */
    long machineAvailable() {
        return meminfo("MemAvailable:");
    }

    private long meminfo(String key) {
        for (String line : lines(proc.resolve("meminfo"))) {
            if (line.startsWith(key)) {
                long kib = number(line.substring(key.length()).replace("kB", ""));
                return kib == UNKNOWN ? UNKNOWN : kib * 1024;
            }
        }
        return UNKNOWN;
    }

    /**
     * The least headroom over this process's memory cgroup and its ancestors: limit minus usage, the usage less the
     * file cache the kernel would drop first ({@code inactive_file}), as {@code docker stats} counts it.
     */
    long cgroupAvailable() {
        long least = UNKNOWN;
        for (CgroupLevel level : limitedLevels()) {
            long limit = number(first(level.dir.resolve(level.limitFile)));
            long usage = number(first(level.dir.resolve(level.usageFile)));
            if (limit == UNKNOWN || usage == UNKNOWN) continue;
            long dropped = statValue(level.dir.resolve("memory.stat"), level.inactiveKey);
            least = Math.min(least, Math.max(0, limit - Math.max(0, usage - dropped)));
        }
        return least;
    }

    /**
     * A cgroup folder with a memory limit, and the names its cgroup version gives the limit and usage files and the
     * droppable file cache in memory.stat. The usage counts the whole subtree in both versions; so does v2's
     * {@code inactive_file}, while v1 writes the subtree's as {@code total_inactive_file}.
     */
    private record CgroupLevel(Path dir, String limitFile, String usageFile, String inactiveKey) {}

    /** Found once (a process does not move between cgroups): walking them cost ~0.4 ms a reading, mostly misses. */
    private volatile List<CgroupLevel> limitedLevels;

    /**
     * The process's memory cgroup and its ancestors that set a limit, in both cgroup versions: v2 ({@code 0::/path},
     * memory.max) and v1 (the {@code memory} controller, memory.limit_in_bytes). A limit may sit on any ancestor.
     */
    private List<CgroupLevel> limitedLevels() {
        List<CgroupLevel> levels = limitedLevels;
        if (levels != null) return levels;
        levels = new ArrayList<>();
        for (String line : lines(proc.resolve("self/cgroup"))) {
            String[] f = line.split(":", 3);
            if (f.length < 3) continue;
            boolean v2 = f[0].equals("0") && f[1].isEmpty();
            boolean v1 = List.of(f[1].split(",")).contains("memory");
            if (!v1 && !v2) continue;
            Path base = v1 ? cgroupRoot.resolve("memory") : cgroupRoot;
            String limitFile = v1 ? "memory.limit_in_bytes" : "memory.max";
            String usageFile = v1 ? "memory.usage_in_bytes" : "memory.current";
            for (Path dir = base.resolve(f[2].replaceFirst("^/", "")); dir != null && dir.startsWith(base); dir = dir.getParent()) {
                long limit = number(first(dir.resolve(limitFile)));
                // v1 writes "no limit" as a huge page-rounded number; anything past 2^60 bytes is that.
                if (limit != UNKNOWN && limit < 1L << 60) {
                    levels.add(new CgroupLevel(dir, limitFile, usageFile, v1 ? "total_inactive_file" : "inactive_file"));
                }
            }
        }
        levels = List.copyOf(levels);
        limitedLevels = levels;
        return levels;
    }

    /** A value of memory.stat, or 0 where it is missing. */
    private static long statValue(Path stat, String key) {
        for (String line : lines(stat)) {
            if (line.startsWith(key + " ")) {
                long v = number(line.substring(key.length() + 1));
                return v == UNKNOWN ? 0 : v;
            }
        }
        return 0;
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException | SecurityException e) {
            return List.of();
        }
    }

    private static String first(Path file) {
        List<String> l = lines(file);
        return l.isEmpty() ? "" : l.get(0);
    }

    /** A non-negative decimal, or {@link #UNKNOWN} ("max", empty, garbled). */
    private static long number(String s) {
        try {
            long v = Long.parseLong(s.trim());
            return v < 0 ? UNKNOWN : v;
        } catch (NumberFormatException e) {
            return UNKNOWN;
        }
    }
}
