package dev.soma.backend;

import dev.soma.jni.CudaKernels;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Asks once whether CUDA is usable: the JavaCPP cuda preset must load (it needs the driver's libcuda.so.1),
 * a device must answer, and our kernel library must have been built with nvcc. Any failure is caught once
 * (a failed preset load leaves its classes unusable for the life of the JVM: never retry) and kept as the
 * reason that {@code soma info} prints. A CPU-only user never sees a CUDA error.
 */
public final class CudaProbe {
    /** The probe's verdict: a device count, or zero and the reason. */
    public record Result(int deviceCount, int runtimeVersion, int driverVersion, String reason) {
        public boolean usable() {
            return deviceCount > 0;
        }
    }

    private static volatile Result result;
    private static volatile List<String> devices;
    private static volatile String cudnnVersion;

    private CudaProbe() {}

    public static Result result() {
        Result r = result;
        if (r == null) {
            synchronized (CudaProbe.class) {
                if (result == null) result = probe();
                r = result;
            }
        }
        return r;
    }

    private static Result probe() {
        if (Boolean.getBoolean("soma.cuda.disable")) {
            return new Result(0, 0, 0, "disabled with -Dsoma.cuda.disable=true");
        }
        int count;
        int runtime;
        int driver;
        try {
            Loader.load(cudart.class);
            IntPointer n = new IntPointer(1);
            int status = cudart.cudaGetDeviceCount(n);
            if (status != 0) {
                return new Result(0, 0, 0, "CUDA is not available: cudaGetDeviceCount failed ("
                        + cudart.cudaGetErrorString(status).getString() + ").");
            }
            count = n.get();
            cudart.cudaRuntimeGetVersion(n);
            runtime = n.get();
            cudart.cudaDriverGetVersion(n);
            driver = n.get();
            n.close();
        } catch (Throwable t) {
            // JavaCPP's last attempt ("no jnicudart in java.library.path") hides the first one's cause.
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            String why = root.getClass().getSimpleName() + ": " + firstLine(root.getMessage());
            if (why.contains("libcuda.so")) {
                return new Result(0, 0, 0, "CUDA is not available: the NVIDIA driver library libcuda.so.1 is not "
                        + "installed on this machine (" + why + ").");
            }
            return new Result(0, 0, 0, "CUDA is not available because the CUDA runtime could not be loaded (" + why + ").");
        }
        if (count == 0) return new Result(0, runtime, driver, "CUDA is not available: the runtime loaded but found no device.");
        try {
            CudaKernels.load();
            if (CudaKernels.soma_cuda_built() == 0) {
                return new Result(0, runtime, driver, "CUDA is not used: a device answered but this Soma library was "
                        + "built without its CUDA kernels (" + CudaKernels.soma_cuda_build_info() + ").");
            }
        } catch (Throwable t) {
            return new Result(0, runtime, driver, "CUDA is not used: a device answered but Soma's CUDA kernel library "
                    + "failed to load (" + t.getClass().getSimpleName() + ": " + firstLine(t.getMessage()) + ").");
        }
        return new Result(count, runtime, driver, "ok");
    }

    /**
     * One line per usable device for {@code soma info}: name, memory, compute capability, driver and runtime
     * versions, and the cuDNN version (or why cuDNN did not load). Empty when CUDA is not usable (see
     * {@link #result()} for why). Asked once.
     */
    public static List<String> devices() {
        List<String> d = devices;
        if (d == null) {
            synchronized (CudaProbe.class) {
                if (devices == null) devices = describeDevices(result());
                d = devices;
            }
        }
        return d;
    }

    /** "9.x.y" when libcudnn loads, otherwise why not. Loaded at most once (a failed load is final). */
    public static String cudnnVersion() {
        String v = cudnnVersion;
        if (v == null) {
            synchronized (CudaProbe.class) {
                if (cudnnVersion == null) cudnnVersion = probeCudnn();
                v = cudnnVersion;
            }
        }
        return v;
    }

    private static List<String> describeDevices(Result r) {
        if (!r.usable()) return List.of();
        List<String> out = new ArrayList<>();
        String cudnnText = cudnnVersion();
        for (int i = 0; i < r.deviceCount(); i++) {
            try (cudaDeviceProp p = new cudaDeviceProp()) {
                int status = cudart.cudaGetDeviceProperties(p, i);
                if (status != 0) {
                    out.add("cuda:" + i + ": properties unavailable (" + cudart.cudaGetErrorString(status).getString() + ")");
                    continue;
                }
                out.add(String.format(Locale.ROOT,
                        "cuda:%d: %s, %.1f GiB, compute capability %d.%d, driver %s, runtime %s, cuDNN %s",
                        i, p.name().getString().trim(), p.totalGlobalMem() / (double) (1L << 30), p.major(), p.minor(),
                        cudaVersion(r.driverVersion()), cudaVersion(r.runtimeVersion()), cudnnText));
            } catch (Throwable t) {
                out.add("cuda:" + i + ": properties unavailable (" + t.getClass().getSimpleName() + ": "
                        + firstLine(t.getMessage()) + ")");
            }
        }
        return List.copyOf(out);
    }

    private static String probeCudnn() {
        if (!result().usable()) return "not loaded (CUDA is not usable)";
        try {
            Loader.load(cudnn.class);
            long v = cudnn.cudnnGetVersion();
            return (v / 10000) + "." + (v % 10000 / 100) + "." + (v % 100);
        } catch (Throwable t) {
            return "not loadable (" + t.getClass().getSimpleName() + ": " + firstLine(t.getMessage()) + ")";
        }
    }

    /** CUDA encodes versions as 1000 * major + 10 * minor. */
    static String cudaVersion(int v) {
        return (v / 1000) + "." + (v % 1000 / 10);
    }

    private static String firstLine(String s) {
        if (s == null) return "no message";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
