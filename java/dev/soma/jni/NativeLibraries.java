package dev.soma.jni;

import org.bytedeco.javacpp.Loader;

/**
 * Loads native libraries once, in the order that keeps one OpenMP runtime per process: the oneDNN preset
 * (which bundles libgomp) first, then our CPU kernels, whose libgomp dependency then resolves to the
 * already-loaded copy instead of a second thread pool.
 */
public final class NativeLibraries {
    private static volatile boolean cpuLoaded;

    private NativeLibraries() {}

    /** Loads the CPU kernels (and oneDNN before them). Safe to call from any thread, any number of times. */
    public static void cpu() {
        if (cpuLoaded) return;
        synchronized (NativeLibraries.class) {
            if (cpuLoaded) return;
            Loader.load(org.bytedeco.dnnl.global.dnnl.class);
            CpuKernels.load();
            cpuLoaded = true;
        }
    }
}
