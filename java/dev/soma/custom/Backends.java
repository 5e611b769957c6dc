package dev.soma.custom;

import dev.soma.autograd.GradMode;
import dev.soma.backend.CudaProbe;
import dev.soma.errors.DeviceException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;

/**
 * Checks a custom op's GPU implementation against its CPU one: the same inputs (CPU tensors, copied to the
 * device), every output compared as ‖gpu − cpu‖ / ‖cpu‖ (float outputs) or by the count of differing elements
 * (int outputs). GPU outputs are read after a device synchronisation, so a kernel that faults names itself.
 */
public final class Backends {
    /** One output's agreement. */
    public record OutputError(int output, OutputSpec spec, double relativeError, long mismatches) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "output %d %s: relative error %.3g, %d element(s) differ", output, spec,
                    relativeError, mismatches);
        }
    }

    /** The comparison of one op on one input set. */
    public record Comparison(String op, Device device, OutputError[] outputs) {
        /** The largest relative error over the float outputs. */
        public double maxRelativeError() {
            double m = 0;
            for (OutputError e : outputs) if (!(e.relativeError <= m)) m = e.relativeError;
            return m;
        }

        /** True when every float output is within {@code bound} and every int output matches exactly. */
        public boolean within(double bound) {
            for (OutputError e : outputs) {
                if (e.spec.dtype().isFloating() ? !(e.relativeError <= bound) : e.mismatches != 0) return false;
            }
            return true;
        }

        @Override
        public String toString() {
            return "compare " + op + " cpu vs " + device + ": " + Arrays.toString(outputs);
        }
    }

    private Backends() {}

    /** Compares on cuda:0. Throws DeviceException saying why when no usable GPU is present. */
    public static Comparison compare(CustomOp op, Tensor... cpuInputs) {
        return compare(op, Device.cuda(0), cpuInputs);
    }

    public static Comparison compare(CustomOp op, Device device, Tensor... cpuInputs) {
        if (device.isCpu()) throw new IllegalArgumentException("compare " + op.name() + ": give a CUDA device to compare the CPU with");
        for (Tensor t : cpuInputs) {
            t.checkOpen("compare " + op.name());
            if (!t.device().isCpu()) {
                throw new DeviceException("compare " + op.name() + ": inputs must be CPU tensors (the reference side), got "
                        + t.describe());
            }
        }
        CudaProbe.Result probe = CudaProbe.result();
        if (!probe.usable()) {
            throw new DeviceException("compare " + op.name() + ": no GPU to compare with: " + device + " is not usable: "
                    + probe.reason());
        }
        if (!op.hasCuda()) throw new DeviceException("compare " + op.name() + ": the op has no CUDA implementation");
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            Tensor[] ref = op.applyAll(cpuInputs);
            Tensor[] onDevice = new Tensor[cpuInputs.length];
            for (int i = 0; i < onDevice.length; i++) onDevice[i] = toDevice(cpuInputs[i], device);
            Tensor[] got = op.applyAll(onDevice);
            // The emulated device runs each launch to its end before returning: nothing to wait for there.
            if (!probe.emulated()) NvrtcModules.synchronize(op.name(), device.index(), "the kernel of custom op " + op.name());
            OutputError[] errors = new OutputError[ref.length];
            for (int k = 0; k < ref.length; k++) {
                OutputSpec spec = OutputSpec.of(ref[k].dtype(), ref[k].shape());
                if (ref[k].dtype() == DType.I32) {
                    int[] a = ref[k].toIntArray();
                    int[] b = got[k].toIntArray();
                    long diff = 0;
                    for (int i = 0; i < a.length; i++) if (a[i] != b[i]) diff++;
                    errors[k] = new OutputError(k, spec, diff == 0 ? 0 : Double.NaN, diff);
                } else {
                    double[] a = ref[k].toDoubleArray();
                    double[] b = got[k].toDoubleArray();
                    errors[k] = new OutputError(k, spec, relativeError(b, a), countDiff(a, b));
                }
            }
            return new Comparison(op.name(), device, errors);
        }
    }

    /** ‖out − ref‖ / ‖ref‖ (‖out − ref‖ when ref is zero); NaN anywhere in out where ref has none gives NaN. */
    public static double relativeError(double[] out, double[] ref) {
        double d = 0;
        double r = 0;
        for (int i = 0; i < ref.length; i++) {
            boolean bothNaN = Double.isNaN(out[i]) && Double.isNaN(ref[i]);
            if (bothNaN) continue;
            double e = out[i] - ref[i];
            d += e * e;
            r += ref[i] * ref[i];
        }
        return r == 0 ? Math.sqrt(d) : Math.sqrt(d / r);
    }

    private static long countDiff(double[] a, double[] b) {
        long n = 0;
        for (int i = 0; i < a.length; i++) {
            if (Double.compare(a[i], b[i]) != 0 && !(Double.isNaN(a[i]) && Double.isNaN(b[i]))) n++;
        }
        return n;
    }

    private static Tensor toDevice(Tensor cpu, Device device) {
        Tensor t = Tensor.empty(cpu.dtype(), device, cpu.shape());
        switch (cpu.dtype()) {
            case F32 -> t.backend().memory().write(t, cpu.toFloatArray());
            case F64 -> t.backend().memory().write(t, cpu.toDoubleArray());
            case I32 -> t.backend().memory().write(t, cpu.toIntArray());
        }
        return t;
    }
}
