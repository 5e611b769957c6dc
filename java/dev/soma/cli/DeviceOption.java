package dev.soma.cli;

import dev.soma.backend.CudaProbe;
import dev.soma.errors.DeviceException;
import dev.soma.tensor.Device;
import picocli.CommandLine.Option;

/**
 * {@code --device cpu|cuda:N} (a picocli mixin shared by train, evaluate, predict, generate, sample, bench
 * train-step, fit-step and serve-load). {@link #resolve()} checks the device before any work: where CUDA is not usable the command fails with
 * one sentence, the probe's reason, and no stack trace (the CLI prints a {@code SomaException}'s message only).
 */
final class DeviceOption {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE",
            description = "where the model runs: cpu (default) or cuda:N (cuda means cuda:0; under an MPI launcher, "
                    + "the GPU of this rank's place on its node: cuda:(local rank mod GPUs))")
    String device;

    /** The device asked for, checked to be usable. */
    Device resolve() {
        Device d;
        try {
            d = Device.parse(device);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device: " + e.getMessage());
        }
        if (d.isCpu()) return d;
        CudaProbe.Result probe = CudaProbe.result();
        if (!probe.usable()) {
            throw new DeviceException("--device " + d + " cannot be used: " + probe.reason());
        }
        if (bareCuda(device) && dev.soma.distributed.Mpi.launched()) {
            // One GPU per rank of a node, as PyTorch's launchers set LOCAL_RANK: NCCL refuses two ranks on one GPU.
            d = Device.cuda(dev.soma.distributed.Mpi.localRank(System.getenv()) % Math.max(1, probe.deviceCount()));
        }
        if (d.index() >= probe.deviceCount()) {
            throw new DeviceException("--device " + d + " does not exist: " + probe.deviceCount() + " CUDA device"
                    + (probe.deviceCount() == 1 ? "" : "s") + " found (cuda:0" + (probe.deviceCount() > 1
                    ? " to cuda:" + (probe.deviceCount() - 1) : "") + ").");
        }
        return d;
    }

    /** "cuda" or "gpu" without an index. */
    static boolean bareCuda(String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
        return t.equals("cuda") || t.equals("gpu");
    }
}
