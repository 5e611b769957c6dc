package dev.soma.backend;

import dev.soma.errors.DeviceException;
import dev.soma.tensor.Device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/** The backend of each device, created on first use. The CPU backend always exists. */
public final class Backends {
    private static final Map<Device, Backend> BACKENDS = new ConcurrentHashMap<>();
    private static volatile Function<Device, Backend> cudaFactory;

    private Backends() {}

    public static Backend cpu() {
        return get(Device.cpu());
    }

    public static Backend get(Device device) {
        Backend b = BACKENDS.get(device);
        if (b != null) return b;
        return BACKENDS.computeIfAbsent(device, Backends::create);
    }

    /** Registers how CUDA backends are made (the CUDA backend class does this when it loads). */
    public static void registerCudaFactory(Function<Device, Backend> factory) {
        cudaFactory = factory;
    }

    private static Backend create(Device device) {
        if (device.isCpu()) return new CpuBackend();
        CudaProbe.Result probe = CudaProbe.result();
        if (!probe.usable()) {
            throw new DeviceException("device " + device + " is not usable: " + probe.reason());
        }
        if (device.index() >= probe.deviceCount()) {
            throw new DeviceException("device " + device + " does not exist: " + probe.deviceCount() + " CUDA device(s) found");
        }
        Function<Device, Backend> factory = cudaFactory;
        if (factory == null) {
            throw new DeviceException("device " + device + ": the CUDA backend is not available in this build");
        }
        return factory.apply(device);
    }
}
