package dev.soma.cuda;

import dev.soma.jni.CudaKernels;
import dev.soma.jni.CudaLibraries;

/** For {@link CudaDispatcherTest}: the dispatcher before any open, after a failed open, and after opening the emulator. */
public final class DispatcherMain {
    private DispatcherMain() {}

    public static void main(String[] args) throws Exception {
        CudaKernels.load();
        int[] n = {7};
        int status = CudaKernels.soma_cuda_device_count(n);
        System.out.println("count " + status + " " + n[0]);
        System.out.println("status " + CudaKernels.soma_cuda_status_string(status));
        System.out.println("built " + CudaKernels.soma_cuda_built());
        System.out.println("info " + CudaKernels.soma_cuda_build_info());
        byte[] error = new byte[512];
        int opened = CudaKernels.soma_cuda_open("/nonexistent/libsoma_cuda_nv.so", error, error.length);
        System.out.println("bad-open " + opened + " " + CudaLibraries.cString(error));
        System.out.println("after-bad-open " + CudaKernels.soma_cuda_status_string(CudaKernels.soma_cuda_malloc(16, new long[1])));
        CudaLibraries.open(CudaLibraries.find(CudaLibraries.EMULATED));
        status = CudaKernels.soma_cuda_device_count(n);
        System.out.println("emulated " + CudaKernels.soma_cuda_built() + " " + status + " " + n[0]);
        opened = CudaKernels.soma_cuda_open("/another/libsoma_cuda_nv.so", error, error.length);
        System.out.println("second-open " + opened + " " + CudaLibraries.cString(error));
    }
}
