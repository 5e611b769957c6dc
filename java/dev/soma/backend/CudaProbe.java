package dev.soma.backend;

import dev.soma.jni.CudaKernels;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.cuda.global.cudart;

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
                return new Result(0, 0, 0, "cudaGetDeviceCount failed: " + cudart.cudaGetErrorString(status).getString());
            }
            count = n.get();
            cudart.cudaRuntimeGetVersion(n);
            runtime = n.get();
            cudart.cudaDriverGetVersion(n);
            driver = n.get();
            n.close();
        } catch (Throwable t) {
            return new Result(0, 0, 0, "the CUDA runtime could not be loaded (" + t.getClass().getSimpleName() + ": "
                    + firstLine(t.getMessage()) + "); no NVIDIA driver on this machine?");
        }
        if (count == 0) return new Result(0, runtime, driver, "the CUDA runtime loaded but found no device");
        try {
            CudaKernels.load();
            if (CudaKernels.soma_cuda_built() == 0) {
                return new Result(0, runtime, driver, "a device answered but Soma's CUDA kernels were not built: "
                        + CudaKernels.soma_cuda_build_info());
            }
        } catch (Throwable t) {
            return new Result(0, runtime, driver, "Soma's CUDA kernel library failed to load (" + t.getClass().getSimpleName()
                    + ": " + firstLine(t.getMessage()) + ")");
        }
        return new Result(count, runtime, driver, "ok");
    }

    private static String firstLine(String s) {
        if (s == null) return "no message";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
