package dev.soma.distributed;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Which MPI library a rank opens, and what its launcher announced. A rank must open the library of the MPI that
 * started it: Open MPI's library under MPICH's Hydra (or the other way round) starts as a world of one, so each rank
 * would train alone. Machines often have both installed (Debian installs Open MPI and MPICH side by side), so the
 * order of the candidates follows the launcher, and {@link Mpi} checks the opened world against the announced size.
 */
final class MpiLibraries {
    /** Open MPI 4.x / 5.x (and HPC-X, Amazon's EFA Open MPI). */
    static final List<String> OPEN_MPI = List.of("libmpi.so.40");
    /** The MPICH ABI: upstream MPICH, Intel MPI, MVAPICH and Cray MPICH install libmpi.so.12; Debian and Ubuntu name
     * MPICH's library libmpich.so.12. */
    static final List<String> MPICH = List.of("libmpi.so.12", "libmpich.so.12");

    private MpiLibraries() {}

    /**
     * The libraries to try, first to last: {@code SOMA_MPI_LIBRARY} alone when set; otherwise MPICH's first when
     * Hydra (MPICH's and Intel MPI's mpiexec) started this process, else Open MPI's first; then the plain libmpi.so.
     */
    static List<String> candidates(Map<String, String> env) {
        String override = override(env);
        if (override != null) return List.of(override);
        List<String> order = new ArrayList<>();
        if (startedByHydra(env)) {
            order.addAll(MPICH);
            order.addAll(OPEN_MPI);
        } else {
            order.addAll(OPEN_MPI);
            order.addAll(MPICH);
        }
        order.add("libmpi.so");
        return order;
    }

    /** SOMA_MPI_LIBRARY when set to something, else null. */
    static String override(Map<String, String> env) {
        String v = env.get("SOMA_MPI_LIBRARY");
        return v == null || v.isBlank() ? null : v;
    }

    /**
     * The candidate libraries this machine has, without loading any: each name that a directory of LD_LIBRARY_PATH
     * holds or the dynamic linker's cache ({@code ldconfig -p}) lists, with its path, in the order a process that no
     * launcher started would try them.
     */
    static Map<String, Path> installed(Map<String, String> env) {
        Map<String, Path> cached = linkerCache();
        Map<String, Path> found = new LinkedHashMap<>();
        for (String name : candidates(Map.of())) {
            Path path = cached.get(name);
            for (String dir : env.getOrDefault("LD_LIBRARY_PATH", "").split(":")) {
                if (!dir.isBlank() && Files.exists(Path.of(dir, name))) {
                    path = Path.of(dir, name); // the dynamic linker looks here before its cache
                    break;
                }
            }
            if (path != null) found.put(name, path);
        }
        return found;
    }

    /**
     * The dynamic linker's cache ({@code ldconfig -p}: lines "name (flags) => path"), the first path of each name; empty
     * where there is none (not Linux, no ldconfig).
     */
    private static Map<String, Path> linkerCache() {
        Map<String, Path> cache = new HashMap<>();
        Path ldconfig = Path.of("/sbin/ldconfig");
        if (!Files.isExecutable(ldconfig)) ldconfig = Path.of("/usr/sbin/ldconfig");
        if (!Files.isExecutable(ldconfig)) return cache;
        try {
            Process p = new ProcessBuilder(ldconfig.toString(), "-p").redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.SECONDS)) return cache;
            for (String line : text.lines().toList()) {
                String t = line.strip();
                int space = t.indexOf(' '), arrow = t.indexOf(" => ");
                if (space > 0 && arrow > space) {
                    cache.putIfAbsent(t.substring(0, space), Path.of(t.substring(arrow + 4).strip()));
                }
            }
        } catch (IOException e) {
            // no listing: as without ldconfig
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return cache;
    }

    /** Hydra sets MPI_LOCALRANKID for every rank; Open MPI's mpirun and Slurm's srun do not. */
    static boolean startedByHydra(Map<String, String> env) {
        return env.containsKey("MPI_LOCALRANKID") && !env.containsKey("OMPI_COMM_WORLD_SIZE");
    }

    /**
     * The world size the launcher announced (Open MPI's OMPI_COMM_WORLD_SIZE, else the PMI_SIZE of Hydra and of
     * srun's PMI-2), or 0 when it announced none; the variable's name is in {@link #announcedBy}.
     */
    static int announcedWorldSize(Map<String, String> env) {
        String name = announcedBy(env);
        return name == null ? 0 : Integer.parseInt(env.get(name));
    }

    /** The variable that announced the world size, or null. */
    static String announcedBy(Map<String, String> env) {
        for (String v : new String[] {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
            String s = env.get(v);
            if (s != null && s.matches("\\d{1,6}")) return v;
        }
        return null;
    }

    /**
     * Null when the opened world matches the launcher; otherwise why it does not and what to do: the library belongs
     * to another MPI than the launcher, so the ranks would not see each other.
     */
    static String mismatch(Map<String, String> env, String library, int worldSize) {
        int announced = announcedWorldSize(env);
        if (announced == 0 || announced == worldSize) return null;
        String launcher = "the launcher", use = "the library of the MPI that started the job";
        if (env.containsKey("OMPI_COMM_WORLD_SIZE")) {
            launcher = "Open MPI's mpirun";
            use = "Open MPI's libmpi.so.40";
        } else if (startedByHydra(env)) {
            launcher = "Hydra (MPICH's or Intel MPI's mpiexec)";
            use = "the MPICH-ABI library (libmpi.so.12; on Debian and Ubuntu libmpich.so.12)";
        }
        return "MPI: " + launcher + " started " + announced + " ranks (" + announcedBy(env) + "=" + announced + "), but "
                + library + " initialised a world of " + worldSize + ": the library belongs to another MPI than the "
                + "launcher, so the ranks cannot see each other and each would train alone. Start the job with the "
                + "launcher of the same MPI, or set SOMA_MPI_LIBRARY to " + use;
    }
}
