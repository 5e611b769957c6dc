package dev.soma.cli;

import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.backend.LoadAwareWaiting;
import dev.soma.jni.CudaKernels;
import dev.soma.jni.CudaLibraries;
import dev.soma.tensor.Device;
import org.bytedeco.dnnl.dnnl_version_t;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.Loader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code soma info}: what this installation runs on. Every line is computed on its own and a failure prints the
 * reason on that line, so the command works (and explains) on a machine where something is missing.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print versions, the CPU backend, oneDNN, CUDA availability and memory pool statistics.")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** A labelled line of the report. */
    record Line(String label, String value) {}

    interface Value {
        String get() throws Throwable;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        for (Line l : report()) {
            String[] parts = l.value().split("\n", -1);
            out.printf("%-14s %s%n", l.label(), parts[0]);
            for (int i = 1; i < parts.length; i++) out.printf("%-14s %s%n", "", parts[i]);
        }
        out.flush();
        return 0;
    }

    static List<Line> report() {
        List<Line> lines = new ArrayList<>();
        add(lines, "Soma", SomaVersion::get);
        add(lines, "Java", () -> System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ", "
                + System.getProperty("java.vendor") + ")");
        add(lines, "OS", () -> System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                + System.getProperty("os.arch") + ", " + Runtime.getRuntime().availableProcessors() + " processors");
        add(lines, "CPU backend", () -> Backends.cpu().describe());
        add(lines, "OpenMP", () -> "OMP_NUM_THREADS=" + env("OMP_NUM_THREADS") + ", OPENBLAS_NUM_THREADS="
                + env("OPENBLAS_NUM_THREADS") + ", OMP_WAIT_POLICY=" + env("OMP_WAIT_POLICY"));
        add(lines, "OpenMP wait", LoadAwareWaiting::describe);
        add(lines, "oneDNN", InfoCommand::onednnVersion);
        add(lines, "JavaCPP", () -> Loader.getVersion() + " (platform " + Loader.getPlatform() + ")");
        add(lines, "CUDA", InfoCommand::cuda);
        add(lines, "CUDA kernels", InfoCommand::cudaBuild);
        add(lines, "NCCL", InfoCommand::nccl);
        add(lines, "MPI", dev.soma.distributed.Mpi::librariesFound);
        add(lines, "Memory", InfoCommand::pools);
        return lines;
    }

    private static void add(List<Line> lines, String label, Value v) {
        String s;
        try {
            s = v.get();
        } catch (Throwable t) {
            s = "unavailable (" + t.getClass().getSimpleName() + ": " + firstLine(t.getMessage()) + ")";
        }
        lines.add(new Line(label, s));
    }

    private static String onednnVersion() {
        Backends.cpu(); // loads oneDNN in the order that keeps one OpenMP runtime
        dnnl_version_t v = dnnl.dnnl_version();
        String hash = v.hash() == null ? "" : v.hash().getString();
        boolean noHash = hash.isEmpty() || hash.equals("N/A");
        return v.major() + "." + v.minor() + "." + v.patch() + (noHash ? "" : " (git " + hash + ")");
    }

    private static String cuda() {
        CudaProbe.Result r = CudaProbe.result();
        String sync = CudaProbe.syncRequested() ? "\nsoma.cuda.sync: every kernel call is followed by a device "
                + "synchronisation (debugging; slower)" : "";
        if (r.usable() && r.emulated()) {
            return "usable: " + r.deviceCount() + " emulated device (CPU fibers; no cuBLAS/cuDNN; for testing kernels, "
                    + "not speed)" + sync;
        }
        if (r.usable()) {
            return "usable: " + r.deviceCount() + " device(s), runtime " + cudaVersion(r.runtimeVersion()) + ", driver "
                    + cudaVersion(r.driverVersion()) + sync;
        }
        String versions = r.runtimeVersion() > 0
                ? " (runtime " + cudaVersion(r.runtimeVersion()) + ", driver " + cudaVersion(r.driverVersion()) + ")" : "";
        return "not usable: " + r.reason() + versions + "\nSoma runs on the CPU";
    }

    /** Which NCCL data-parallel GPU training would use, and whether it does (SOMA_GPU_COLLECTIVES). */
    private static String nccl() {
        String mode;
        try {
            mode = dev.soma.distributed.Mpi.GpuCollectives.configured() == dev.soma.distributed.Mpi.GpuCollectives.NCCL
                    ? "used for GPU ranks (SOMA_GPU_COLLECTIVES=nccl)"
                    : "GPU ranks go through host memory (SOMA_GPU_COLLECTIVES=nccl to use NCCL)";
        } catch (IllegalArgumentException e) {
            mode = e.getMessage();
        }
        if (!CudaProbe.result().usable()) return "needs a usable CUDA device; " + mode;
        String library;
        try {
            library = dev.soma.distributed.Nccl.library(dev.soma.tensor.Device.cuda(0));
        } catch (RuntimeException e) {
            library = "not available: " + firstLine(e.getMessage());
        }
        return library + "\n" + mode;
    }

    /** Only asked after the probe, which opens the kernel library it uses (the dispatcher explains otherwise). */
    private static String cudaBuild() {
        CudaProbe.Result r = CudaProbe.result();
        try {
            CudaKernels.load();
            if (CudaKernels.soma_cuda_built() != 0) return CudaKernels.soma_cuda_build_info();
            java.io.File nv = CudaLibraries.find(CudaLibraries.REAL);
            java.io.File emu = CudaLibraries.find(CudaLibraries.EMULATED);
            String real = nv != null ? "built with nvcc, not loaded (no usable device)"
                    : "not built (no nvcc at build time, or -Dsoma.cuda=OFF)";
            return real + "; emulated: " + (emu != null ? "built (SOMA_CUDA_EMULATE=1 to use it)" : "not built");
        } catch (Throwable t) {
            return "library present but not loadable here (" + firstLine(t.getMessage()) + ")";
        }
    }

    private static String pools() {
        StringBuilder sb = new StringBuilder(Backends.cpu().pool().stats().toString());
        CudaProbe.Result r = CudaProbe.result();
        for (int i = 0; i < r.deviceCount(); i++) {
            try {
                sb.append('\n').append(Backends.get(Device.cuda(i)).pool().stats());
            } catch (RuntimeException e) {
                sb.append('\n').append("cuda:").append(i).append(": ").append(firstLine(e.getMessage()));
            }
        }
        return sb.toString();
    }

    /** CUDA encodes versions as 1000 * major + 10 * minor. */
    static String cudaVersion(int v) {
        return v <= 0 ? "unknown" : (v / 1000) + "." + (v % 1000) / 10;
    }

    private static String env(String name) {
        String v = System.getenv(name);
        return v == null ? "(unset)" : v;
    }

    private static String firstLine(String s) {
        if (s == null) return "no message";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
