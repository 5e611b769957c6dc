package dev.soma.distributed;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
        String override = env.get("SOMA_MPI_LIBRARY");
        if (override != null && !override.isBlank()) return List.of(override);
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

    /**
     * The candidate libraries this machine has, without loading any: each name that a directory of LD_LIBRARY_PATH
     * holds or the dynamic linker's cache ({@code ldconfig -p}) lists, with its path, in the order a process that no
     * launcher started would try them.
     */
    static Map<String, Path> installed(Map<String, String> env) {
        List<String> names = new ArrayList<>(OPEN_MPI);
        names.addAll(MPICH);
        names.add("libmpi.so");
        String cache = linkerCache();
        Map<String, Path> found = new LinkedHashMap<>();
        for (String name : names) {
            for (String dir : env.getOrDefault("LD_LIBRARY_PATH", "").split(":")) {
                Path p = dir.isBlank() ? null : Path.of(dir, name);
                if (p != null && Files.exists(p)) {
                    found.putIfAbsent(name, p);
                }
            }
            if (!found.containsKey(name)) {
                for (String line : cache.lines().toList()) {
                    String t = line.strip();
                    int arrow = t.indexOf(" => ");
                    if (t.startsWith(name + " ") && arrow > 0) {
                        found.put(name, Path.of(t.substring(arrow + 4).strip()));
                        break;
                    }
                }
            }
        }
        return found;
    }

    /** {@code ldconfig -p}'s listing, or "" where there is none (not Linux, no ldconfig). */
    private static String linkerCache() {
        for (String ldconfig : new String[] {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
            if (!Files.isExecutable(Path.of(ldconfig))) continue;
            try {
                Process p = new ProcessBuilder(ldconfig, "-p").redirectErrorStream(true).start();
                String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                return p.waitFor(10, TimeUnit.SECONDS) ? text : "";
            } catch (IOException e) {
                return "";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "";
            }
        }
        return "";
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
        String launcher = env.containsKey("OMPI_COMM_WORLD_SIZE") ? "Open MPI's mpirun"
                : startedByHydra(env) ? "Hydra (MPICH's or Intel MPI's mpiexec)" : "the launcher";
        String use = env.containsKey("OMPI_COMM_WORLD_SIZE") ? "Open MPI's libmpi.so.40"
                : startedByHydra(env) ? "the MPICH-ABI library (libmpi.so.12; on Debian and Ubuntu libmpich.so.12)"
                : "the library of the MPI that started the job";
        return "MPI: " + launcher + " started " + announced + " ranks (" + announcedBy(env) + "=" + announced + "), but "
                + library + " initialised a world of " + worldSize + ": the library belongs to another MPI than the "
                + "launcher, so the ranks cannot see each other and each would train alone. Start the job with the "
                + "launcher of the same MPI, or set SOMA_MPI_LIBRARY to " + use;
    }
}
