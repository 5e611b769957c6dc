package dev.soma.backend;

import dev.soma.jni.CudaKernels;
import dev.soma.jni.CudaLibraries;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Asks once whether CUDA is usable, and on which kind of device.
 * <p>Real (the default): the JavaCPP cuda preset must load (it needs the driver's libcuda.so.1, and puts the
 * libcudart that our nvcc library links into the process), a device must answer, and the jar must carry
 * libsoma_cuda_nv.so, which our dispatcher then opens.
 * <p>Emulated ({@code SOMA_CUDA_EMULATE=1} or {@code -Dsoma.cuda.emulate=true}): cuda:0 is the CPU emulator
 * (libsoma_cuda_emu.so); the cuda preset is not loaded at all.
 * <p>Any failure is caught once (a failed preset load leaves its classes unusable for the life of the JVM:
 * never retry) and kept as the reason that {@code soma info} prints. A CPU-only user never sees a CUDA error.
 */
public final class CudaProbe {
    /** The probe's verdict: a device count, or zero and the reason; {@code emulated} for the CPU emulator. */
    public record Result(int deviceCount, int runtimeVersion, int driverVersion, String reason, boolean emulated) {
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

    /** True when the environment asks for the emulated device (SOMA_CUDA_EMULATE=1 or -Dsoma.cuda.emulate=true). */
    public static boolean emulationRequested() {
        String env = System.getenv("SOMA_CUDA_EMULATE");
        return Boolean.getBoolean("soma.cuda.emulate") || "1".equals(env) || "true".equalsIgnoreCase(env);
    }

    /**
     * The debug switch {@code -Dsoma.cuda.sync=true} (or {@code SOMA_CUDA_SYNC=1}): the CUDA backend synchronises
     * after every kernel call, so a fault is reported by the call that caused it, naming the kernel and shapes.
     */
    public static boolean syncRequested() {
        String env = System.getenv("SOMA_CUDA_SYNC");
        return Boolean.getBoolean("soma.cuda.sync") || "1".equals(env) || "true".equalsIgnoreCase(env);
    }

    private static Result probe() {
        if (Boolean.getBoolean("soma.cuda.disable")) {
            return new Result(0, 0, 0, "disabled with -Dsoma.cuda.disable=true", false);
        }
        return emulationRequested() ? probeEmulated() : probeReal();
    }

    private static Result probeEmulated() {
        String asked = "the emulated CUDA device was requested (SOMA_CUDA_EMULATE=1 or -Dsoma.cuda.emulate=true)";
        try {
            File lib = CudaLibraries.find(CudaLibraries.EMULATED);
            if (lib == null) {
                return new Result(0, 0, 0, "CUDA is not available: " + asked + " but this Soma build has no "
                        + CudaLibraries.EMULATED + ".", true);
            }
            CudaLibraries.open(lib);
            int[] n = new int[1];
            int[] runtime = new int[1];
            int[] driver = new int[1];
            int status = CudaKernels.soma_cuda_device_count(n);
            if (status == 0) status = CudaKernels.soma_cuda_versions(runtime, driver);
            if (status != 0) {
                return new Result(0, 0, 0, "CUDA is not available: " + asked + " but the emulator answered "
                        + CudaKernels.soma_cuda_status_string(status) + ".", true);
            }
            if (CudaKernels.soma_cuda_built() != CudaKernels.EMULATED) {
                return new Result(0, runtime[0], driver[0], "CUDA is not available: " + asked + " but "
                        + CudaLibraries.EMULATED + " is not an emulated build (" + CudaKernels.soma_cuda_build_info() + ").", true);
            }
            if (n[0] == 0) return new Result(0, runtime[0], driver[0], "CUDA is not available: the emulator has no device.", true);
            return new Result(n[0], runtime[0], driver[0], "ok", true);
        } catch (Throwable t) {
            return new Result(0, 0, 0, "CUDA is not available: " + asked + " but its library failed to load ("
                    + t.getClass().getSimpleName() + ": " + firstLine(t.getMessage()) + ").", true);
        }
    }

    private static Result probeReal() {
        int count;
        int runtime;
        int driver;
        try {
            Loader.load(cudart.class);
            IntPointer n = new IntPointer(1);
            int status = cudart.cudaGetDeviceCount(n);
            if (status != 0) {
                return new Result(0, 0, 0, "CUDA is not available: cudaGetDeviceCount failed ("
                        + cudart.cudaGetErrorString(status).getString() + ").", false);
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
                        + "installed on this machine (" + why + ").", false);
            }
            return new Result(0, 0, 0, "CUDA is not available because the CUDA runtime could not be loaded (" + why + ").", false);
        }
        if (count == 0) {
            return new Result(0, runtime, driver, "CUDA is not available: the runtime loaded but found no device.", false);
        }
        try {
            File lib = CudaLibraries.find(CudaLibraries.REAL);
            if (lib == null) {
                return new Result(0, runtime, driver, "CUDA is not used: a device answered but this Soma library was "
                        + "built without its CUDA kernels (no " + CudaLibraries.REAL + ": nvcc was not found at build "
                        + "time, or -Dsoma.cuda=OFF).", false);
            }
            CudaLibraries.open(lib);
            if (CudaKernels.soma_cuda_built() != CudaKernels.REAL) {
                return new Result(0, runtime, driver, "CUDA is not used: " + CudaLibraries.REAL + " is not an nvcc build ("
                        + CudaKernels.soma_cuda_build_info() + ").", false);
            }
        } catch (Throwable t) {
            return new Result(0, runtime, driver, "CUDA is not used: a device answered but Soma's CUDA kernel library "
                    + "failed to load (" + t.getClass().getSimpleName() + ": " + firstLine(t.getMessage()) + ").", false);
        }
        return new Result(count, runtime, driver, "ok", false);
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
            byte[] name = new byte[256];
            long[] total = new long[1];
            int[] major = new int[1];
            int[] minor = new int[1];
            int[] sms = new int[1];
            try {
                int status = CudaKernels.soma_cuda_device_info(i, name, name.length, total, major, minor, sms);
                if (status != 0) {
                    out.add("cuda:" + i + ": properties unavailable (" + CudaKernels.soma_cuda_status_string(status) + ")");
                    continue;
                }
                out.add(String.format(Locale.ROOT,
                        "cuda:%d: %s%s, %.1f GiB, compute capability %d.%d, %d multiprocessors, driver %s, runtime %s, cuDNN %s",
                        i, CudaLibraries.cString(name).trim(), r.emulated() ? " (emulated on the CPU)" : "",
                        total[0] / (double) (1L << 30), major[0], minor[0], sms[0],
                        cudaVersion(r.driverVersion()), cudaVersion(r.runtimeVersion()), cudnnText));
            } catch (Throwable t) {
                out.add("cuda:" + i + ": properties unavailable (" + t.getClass().getSimpleName() + ": "
                        + firstLine(t.getMessage()) + ")");
            }
        }
        return List.copyOf(out);
    }

    private static String probeCudnn() {
        Result r = result();
        if (!r.usable()) return "not loaded (CUDA is not usable)";
        if (r.emulated()) return "not available (emulated device: no vendor libraries)";
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
