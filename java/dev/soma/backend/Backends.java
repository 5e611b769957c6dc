package dev.soma.backend;

import dev.soma.backend.cuda.CudaBackend;
import dev.soma.errors.DeviceException;
import dev.soma.tensor.Device;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The backend of each device, created on first use. The CPU backend always exists; a CUDA backend is made
 * only after {@link CudaProbe} found a usable device, so a CPU-only JVM never runs the line that builds one.
 */
public final class Backends {
    private static final Map<Device, Backend> BACKENDS = new ConcurrentHashMap<>();

    private Backends() {}

    public static Backend cpu() {
        return get(Device.cpu());
    }

    public static Backend get(Device device) {
        Backend b = BACKENDS.get(device);
        if (b != null) return b;
        return BACKENDS.computeIfAbsent(device, Backends::create);
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
        return new CudaBackend(device);
    }
}
