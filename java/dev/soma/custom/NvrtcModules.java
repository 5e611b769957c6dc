package dev.soma.custom;

import dev.soma.errors.DeviceException;
import dev.soma.errors.NativeException;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Compiles custom-op CUDA source with NVRTC and launches its kernels through the driver API. Modules are
 * compiled to a cubin for the device's own architecture (NVRTC's PTX may be newer than the driver accepts) and
 * cached per (device, SHA-256 of source and options); kernels run in the device's primary context (the one the
 * CUDA runtime and our kernel library use) on the backend's current stream, ordered with every other Soma kernel.
 * Only touched for CUDA tensors, so a CPU-only JVM never loads NVRTC.
 */
final class NvrtcModules {
    private record Key(int device, String hash) {}

    /** A loaded module and the driver handle of each named kernel. */
    private record Module(CUmod_st module, Map<String, CUfunc_st> functions) {}

    private static final Map<Key, Module> CACHE = new ConcurrentHashMap<>();
    private static final Map<Integer, CUctx_st> CONTEXTS = new ConcurrentHashMap<>();
    private static volatile String nvrtcProblem;
    private static volatile int compilations;

    private NvrtcModules() {}

    /** How many sources were compiled in this JVM (cache misses): tests check the cache with it. */
    static int compilations() {
        return compilations;
    }

    /** Launches {@code kernel.choose}'s pick with the given pointers and plan; compiles the source on first use. */
    static void launch(String op, CudaKernel kernel, int device, String name, long[] pointers, Launch plan) {
        CUctx_st ctx = context(device);
        check(cudart.cuCtxSetCurrent(ctx), op, "cuCtxSetCurrent on cuda:" + device);
        Module m = CACHE.computeIfAbsent(new Key(device, hash(kernel)), k -> compile(op, kernel, device));
        CUfunc_st f = m.functions().get(name);
        if (f == null) {
            throw new IllegalArgumentException("custom op " + op + ": kernel '" + name + "' is not among the declared kernels "
                    + kernel.kernels());
        }
        checkPlan(op, name, plan, device);
        if (plan.sharedBytes() > 48 * 1024) {
            check(cudart.cuFuncSetAttribute(f, cudart.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, plan.sharedBytes()),
                    op, "setting " + plan.sharedBytes() + " B of dynamic shared memory for kernel " + name);
        }
        List<Pointer> values = new ArrayList<>();
        try {
            for (long p : pointers) values.add(new LongPointer(1).put(p));
            for (Object a : plan.args()) {
                if (a instanceof Integer i) values.add(new IntPointer(1).put(i));
                else if (a instanceof Long l) values.add(new LongPointer(1).put(l));
                else if (a instanceof Float x) values.add(new FloatPointer(1).put(x));
                else values.add(new DoublePointer(1).put((Double) a));
            }
            try (PointerPointer<Pointer> params = new PointerPointer<>(values.toArray(new Pointer[0]))) {
                int[] g = plan.grid();
                int[] b = plan.block();
                int status = cudart.cuLaunchKernel(f, g[0], g[1], g[2], b[0], b[1], b[2], plan.sharedBytes(),
                        currentStream(device), params, (PointerPointer<?>) null);
                check(status, op, "launch of kernel " + name + " (" + plan + ")");
                if (Boolean.getBoolean("soma.custom.sync")) {
                    check(cudart.cuCtxSynchronize(), op, "kernel " + name + " (" + plan + ") while running");
                }
            }
        } finally {
            for (Pointer p : values) p.close();
        }
    }

    /** The CUDA backend's current stream (a cudaStream_t is a CUstream) as the driver API's handle type. */
    private static CUstream_st currentStream(int device) {
        long handle = dev.soma.backend.Backends.get(dev.soma.tensor.Device.cuda(device)).currentStream();
        return handle == 0 ? null : new CUstream_st(new Pointer() {
            {
                address = handle;
            }
        });
    }

    /** Waits for the device and names the kernel when it failed (Backends.compare uses it after each run). */
    static void synchronize(String op, int device, String what) {
        check(cudart.cuCtxSetCurrent(context(device)), op, "cuCtxSetCurrent on cuda:" + device);
        check(cudart.cuCtxSynchronize(), op, what + " while running");
    }

    private static void checkPlan(String op, String name, Launch plan, int device) {
        checkDimensions(op, name, plan);
        int[] max = new int[1];
        cudart.cudaDeviceGetAttribute(max, cudart.cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
        if (plan.sharedBytes() > max[0]) {
            throw new IllegalArgumentException("custom op " + op + ": kernel " + name + " asks for " + plan.sharedBytes()
                    + " B of shared memory; cuda:" + device + " allows at most " + max[0] + " B per block");
        }
    }

    /** Block and grid limits of every CUDA device (the emulated one's too). */
    static void checkDimensions(String op, String name, Launch plan) {
        int[] b = plan.block();
        int[] g = plan.grid();
        if (plan.threadsPerBlock() > 1024 || b[2] > 64) {
            throw new IllegalArgumentException("custom op " + op + ": kernel " + name + " asks for " + plan
                    + "; a block holds at most 1024 threads (z at most 64)");
        }
        if (g[1] > 65535 || g[2] > 65535) {
            throw new IllegalArgumentException("custom op " + op + ": kernel " + name + " asks for " + plan
                    + "; grid y and z are at most 65535");
        }
    }

    private static CUctx_st context(int device) {
        return CONTEXTS.computeIfAbsent(device, d -> {
            check(cudart.cuInit(0), "-", "cuInit");
            int[] dev = new int[1];
            check(cudart.cuDeviceGet(dev, d), "-", "cuDeviceGet(" + d + ")");
            CUctx_st ctx = new CUctx_st();
            check(cudart.cuDevicePrimaryCtxRetain(ctx, dev[0]), "-", "retaining the primary context of cuda:" + d);
            return ctx;
        });
    }

    private static Module compile(String op, CudaKernel kernel, int device) {
        loadNvrtc(op);
        int[] major = new int[1];
        int[] minor = new int[1];
        cudart.cudaDeviceGetAttribute(major, cudart.cudaDevAttrComputeCapabilityMajor, device);
        cudart.cudaDeviceGetAttribute(minor, cudart.cudaDevAttrComputeCapabilityMinor, device);
        List<String> options = new ArrayList<>();
        options.add("--gpu-architecture=sm_" + major[0] + minor[0]);
        options.add("-std=c++17");
        options.addAll(kernel.options());
        _nvrtcProgram prog = new _nvrtcProgram();
        checkNvrtc(nvrtc.nvrtcCreateProgram(prog, new BytePointer(kernel.source()), new BytePointer(op + ".cu"), 0,
                (PointerPointer<?>) null, (PointerPointer<?>) null), op, "nvrtcCreateProgram");
        try {
            for (String k : kernel.kernels()) checkNvrtc(nvrtc.nvrtcAddNameExpression(prog, k), op, "nvrtcAddNameExpression " + k);
            int status;
            try (PointerPointer<?> opts = new PointerPointer<>(options.toArray(new String[0]))) {
                status = nvrtc.nvrtcCompileProgram(prog, options.size(), opts);
            }
            if (status != nvrtc.NVRTC_SUCCESS) {
                throw new CudaCompileException(op, options.toString(), log(prog));
            }
            Map<String, String> lowered = new java.util.HashMap<>();
            for (String k : kernel.kernels()) {
                try (PointerPointer<?> out = new PointerPointer<>(1)) {
                    checkNvrtc(nvrtc.nvrtcGetLoweredName(prog, new BytePointer(k), out), op, "nvrtcGetLoweredName " + k);
                    lowered.put(k, out.getString(0));
                }
            }
            byte[] cubin;
            try (SizeTPointer size = new SizeTPointer(1)) {
                checkNvrtc(nvrtc.nvrtcGetCUBINSize(prog, size), op, "nvrtcGetCUBINSize");
                cubin = new byte[Math.toIntExact(size.get())];
            }
            checkNvrtc(nvrtc.nvrtcGetCUBIN(prog, cubin), op, "nvrtcGetCUBIN");
            CUmod_st module = new CUmod_st();
            try (BytePointer image = new BytePointer(cubin)) {
                check(cudart.cuModuleLoadData(module, image), op, "loading the compiled module on cuda:" + device);
            }
            Map<String, CUfunc_st> functions = new ConcurrentHashMap<>();
            for (var e : lowered.entrySet()) {
                CUfunc_st f = new CUfunc_st();
                check(cudart.cuModuleGetFunction(f, module, e.getValue()), op, "finding kernel " + e.getKey());
                functions.put(e.getKey(), f);
            }
            compilations++;
            return new Module(module, functions);
        } finally {
            nvrtc.nvrtcDestroyProgram(prog);
        }
    }

    private static String log(_nvrtcProgram prog) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            nvrtc.nvrtcGetProgramLogSize(prog, size);
            byte[] text = new byte[Math.toIntExact(size.get())];
            nvrtc.nvrtcGetProgramLog(prog, text);
            int end = text.length;
            while (end > 0 && text[end - 1] == 0) end--;
            return new String(text, 0, end, StandardCharsets.UTF_8).strip();
        }
    }

    private static void loadNvrtc(String op) {
        if (nvrtcProblem == null) {
            synchronized (NvrtcModules.class) {
                if (nvrtcProblem == null) {
                    try {
                        Loader.load(nvrtc.class);
                        nvrtcProblem = "";
                    } catch (Throwable t) {
                        nvrtcProblem = t.getClass().getSimpleName() + ": " + t.getMessage();
                    }
                }
            }
        }
        if (!nvrtcProblem.isEmpty()) {
            throw new DeviceException("custom op " + op + ": NVRTC (libnvrtc.so) could not be loaded, so CUDA source cannot "
                    + "be compiled at run time (" + nvrtcProblem + ")");
        }
    }

    private static String hash(CudaKernel k) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(k.source().getBytes(StandardCharsets.UTF_8));
            for (String o : k.options()) md.update(("\0" + o).getBytes(StandardCharsets.UTF_8));
            for (String n : k.kernels()) md.update(("\1" + n).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void checkNvrtc(int status, String op, String what) {
        if (status != nvrtc.NVRTC_SUCCESS) {
            throw new NativeException("custom op " + op + ": " + what + " failed: " + nvrtc.nvrtcGetErrorString(status).getString());
        }
    }

    private static void check(int status, String op, String what) {
        if (status != 0) {
            String text;
            try (PointerPointer<?> s = new PointerPointer<>(1)) {
                text = cudart.cuGetErrorString(status, s) == 0 && s.get(0) != null ? s.getString(0) : "unknown error";
            }
            throw new NativeException("custom op " + op + ": " + what + " failed on the GPU: " + text + " (CUDA error " + status + ")");
        }
    }
}
