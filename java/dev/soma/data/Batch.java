package dev.soma.data;

import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * One batch in host memory: one or more input arrays and zero or more target arrays (one per model output),
 * each as floats or int labels. Tensors are made on the training thread (inside its step scope) from these
 * arrays. The five-argument constructor and the single-array accessors are the one-input, one-target form.
 */
public record Batch(List<HostArray> inputs, List<HostArray> targetArrays) {
    /** One array of a batch: floats or ints (exactly one of them), with its shape including the batch axis. */
    public record HostArray(float[] floats, int[] ints, long[] shape) {
        public HostArray {
            if ((floats == null) == (ints == null)) {
                throw new IllegalArgumentException("Batch.HostArray: give exactly one of float values and int values");
            }
            // Checked here, not only when a tensor is made: the device path writes the array into device memory.
            long[] s = dev.soma.ops.Shapes.checkShape("Batch", shape);
            long n = dev.soma.ops.Shapes.numel(s);
            int length = floats != null ? floats.length : ints.length;
            if (n != length) {
                throw new dev.soma.errors.ShapeException("Batch: " + length + " values cannot fill shape "
                        + java.util.Arrays.toString(s) + " (" + n + " elements expected)");
            }
        }

        public Tensor tensor() {
            return ints != null ? Tensor.ofInts(ints, shape) : Tensor.of(floats, shape);
        }

        /**
         * The array as a tensor on {@code device}: written straight from the host array into device memory by the
         * device's memory kernels (one host-to-device copy, no CPU tensor in between).
         */
        public Tensor tensor(Device device) {
            if (device.isCpu()) return tensor();
            Tensor t = Tensor.empty(ints != null ? DType.I32 : DType.F32, device, shape);
            try {
                if (ints != null) t.backend().memory().write(t, ints);
                else t.backend().memory().write(t, floats);
            } catch (RuntimeException e) {
                t.close();
                throw e;
            }
            return t;
        }
    }

    public Batch {
        if (inputs.isEmpty()) throw new IllegalArgumentException("Batch: at least one input array is needed");
        inputs = List.copyOf(inputs);
        targetArrays = List.copyOf(targetArrays);
    }

    /** The one-input, one-target batch: features as floats, targets as int labels or floats. */
    public Batch(float[] x, long[] xShape, int[] yLabels, float[] yValues, long[] yShape) {
        this(List.of(new HostArray(x, null, xShape)), List.of(new HostArray(yValues, yLabels, yShape)));
    }

    public int size() {
        return (int) inputs.get(0).shape()[0];
    }

    public float[] x() {
        return inputs.get(0).floats();
    }

    public long[] xShape() {
        return inputs.get(0).shape();
    }

    public int[] yLabels() {
        return firstTarget().ints();
    }

    public float[] yValues() {
        return firstTarget().floats();
    }

    public long[] yShape() {
        return firstTarget().shape();
    }

    public Tensor features() {
        return inputs.get(0).tensor();
    }

    /** The first input array as a tensor on {@code device}. */
    public Tensor features(Device device) {
        return inputs.get(0).tensor(device);
    }

    public Tensor targets() {
        return firstTarget().tensor();
    }

    /** Every input array as a tensor, in order. */
    public List<Tensor> featureTensors() {
        return featureTensors(Device.cpu());
    }

    /** Every input array as a tensor on {@code device}, in order (copied there from the host arrays). */
    public List<Tensor> featureTensors(Device device) {
        List<Tensor> out = new ArrayList<>(inputs.size());
        for (HostArray a : inputs) out.add(a.tensor(device));
        return out;
    }

    /** Every target array as a tensor, in order (one per model output). */
    public List<Tensor> targetTensors() {
        return targetTensors(Device.cpu());
    }

    /** Every target array as a tensor on {@code device}, in order (one per model output). */
    public List<Tensor> targetTensors(Device device) {
        List<Tensor> out = new ArrayList<>(targetArrays.size());
        for (HostArray a : targetArrays) out.add(a.tensor(device));
        return out;
    }

    private HostArray firstTarget() {
        if (targetArrays.isEmpty()) throw new IllegalStateException("Batch: this batch has no targets");
        return targetArrays.get(0);
    }
}
