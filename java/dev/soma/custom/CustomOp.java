package dev.soma.custom;

import dev.soma.autograd.Autograd;
import dev.soma.autograd.GradMode;
import dev.soma.autograd.NamedOp;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.ops.Check;
import dev.soma.ops.Shapes;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * An op defined outside the engine, used like a built-in one: it validates its inputs, allocates its outputs
 * (in the current {@link dev.soma.memory.Scope}), runs its CPU or CUDA implementation according to the inputs'
 * device, and records a backward rule for autograd. Defined with a builder:
 *
 * <pre>{@code
 * CustomOp scale2 = CustomOp.builder("scale2")
 *     .arity(1)
 *     .validate((op, in) -> Check.floating(op, in[0]))
 *     .output(in -> OutputSpec.of(in[0].dtype(), in[0].shape()))
 *     .cpu((CpuKernel.Host) (in, out) -> { for (int i = 0; i < in[0].length(); i++) out[0].set(i, 2 * in[0].get(i)); })
 *     .backward((in, out, g) -> new Tensor[] {g[0].mul(2)})
 *     .cost(in -> new Cost(in[0].numel(), 2.0 * in[0].numel() * in[0].dtype().byteSize()))
 *     .build();
 * Tensor y = scale2.apply(x);
 * }</pre>
 *
 * Every floating-point output is differentiable: the backward rule receives the gradient of one output at a
 * time (the others null: treat them as zero) and returns one gradient per input (null where none); rules are
 * built from ops or other custom ops and return new tensors (or an incoming gradient), as built-in rules do.
 */
public final class CustomOp implements NamedOp {
    /** Throws a dev.soma.errors exception naming {@code op} when the inputs are not acceptable. */
    @FunctionalInterface
    public interface Validator {
        void check(String op, Tensor[] inputs);
    }

    /** The dtype and shape of every output, from the (validated) inputs. */
    @FunctionalInterface
    public interface OutputRule {
        List<OutputSpec> outputs(Tensor[] inputs);
    }

    /** Gradients of the inputs from the inputs, the forward outputs and the output gradients. */
    @FunctionalInterface
    public interface Backward {
        Tensor[] apply(Tensor[] inputs, Tensor[] outputs, Tensor[] gradOutputs);
    }

    /** FLOPs and bytes of one call, for benchmarks. */
    @FunctionalInterface
    public interface CostRule {
        Cost cost(Tensor[] inputs);
    }

    private final String name;
    private final int arity;
    private final Validator validator;
    private final OutputRule outputs;
    private final CpuKernel cpu;
    private final CudaKernel cuda;
    private final Backward backward;
    private final CostRule cost;

    private CustomOp(Builder b) {
        this.name = b.name;
        this.arity = b.arity;
        this.validator = b.validator;
        this.outputs = Objects.requireNonNull(b.outputs, () -> "custom op " + b.name + ": an output rule is required");
        this.cpu = Objects.requireNonNull(b.cpu, () -> "custom op " + b.name + ": a CPU implementation is required");
        this.cuda = b.cuda;
        this.backward = b.backward;
        this.cost = b.cost;
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    @Override
    public String name() {
        return name;
    }

    public int arity() {
        return arity;
    }

    public boolean hasCuda() {
        return cuda != null;
    }

    public boolean hasBackward() {
        return backward != null;
    }

    /** The first output (the usual case of one output). */
    @Override
    public Tensor apply(Tensor... inputs) {
        return applyAll(inputs)[0];
    }

    /** Every output, in the order of the output rule. */
    public Tensor[] applyAll(Tensor... inputs) {
        Device device = validate(inputs);
        List<OutputSpec> specs = outputSpecs(inputs);
        Tensor[] outs = new Tensor[specs.size()];
        try {
            for (int k = 0; k < outs.length; k++) outs[k] = Tensor.empty(specs.get(k).dtype(), device, specs.get(k).shape());
            try (GradMode.Guard g = GradMode.disable()) {
                if (device.isCpu()) runCpu(inputs, outs);
                else runCuda(inputs, outs, device);
            }
        } catch (RuntimeException | Error e) {
            for (Tensor t : outs) if (t != null) t.close();
            throw e;
        }
        record(inputs, outs);
        return outs;
    }

    /** The declared cost of a call on these inputs; UnsupportedOperationException when none was declared. */
    public Cost cost(Tensor... inputs) {
        if (cost == null) throw new UnsupportedOperationException("custom op " + name + " declares no cost (Builder.cost)");
        validate(inputs);
        return cost.cost(inputs);
    }

    /** The output specs these inputs give (validated): what {@link #applyAll} would allocate. */
    public List<OutputSpec> outputSpecs(Tensor... inputs) {
        validate(inputs);
        List<OutputSpec> specs = outputs.outputs(inputs);
        if (specs == null || specs.isEmpty()) {
            throw new IllegalStateException("custom op " + name + ": its output rule returned no outputs");
        }
        for (OutputSpec s : specs) {
            if (s == null) throw new IllegalStateException("custom op " + name + ": its output rule returned a null spec");
            Shapes.checkShape(name, s.shape());
        }
        return List.copyOf(specs);
    }

    private Device validate(Tensor[] inputs) {
        if (inputs == null) throw new NullPointerException("custom op " + name + ": inputs are null");
        if (arity >= 0 && inputs.length != arity) {
            throw new IllegalArgumentException("custom op " + name + ": expected " + arity + " input(s), got " + inputs.length);
        }
        if (inputs.length == 0) throw new IllegalArgumentException("custom op " + name + ": needs at least one input");
        Device device = Check.sameDevice(name, inputs);
        if (validator != null) validator.check(name, inputs);
        return device;
    }

    private void runCpu(Tensor[] inputs, Tensor[] outs) {
        if (cpu instanceof CpuKernel.Host host) {
            HostArray[] in = new HostArray[inputs.length];
            for (int i = 0; i < in.length; i++) in[i] = toHost(inputs[i]);
            HostArray[] out = new HostArray[outs.length];
            for (int k = 0; k < out.length; k++) out[k] = HostArray.zeros(outs[k].dtype(), outs[k].shape());
            host.compute(in, out);
            for (int k = 0; k < out.length; k++) write(outs[k], out[k]);
        } else {
            List<Tensor> copies = new ArrayList<>();
            try {
                Tensor[] dense = contiguous(inputs, copies);
                ((CpuKernel.Native) cpu).compute(dense, outs);
            } finally {
                for (Tensor c : copies) c.close();
            }
        }
    }

    private void runCuda(Tensor[] inputs, Tensor[] outs, Device device) {
        if (cuda == null) {
            throw new DeviceException("custom op " + name + " has no CUDA implementation; its inputs are on " + device
                    + " (" + describe(inputs) + "): move them to the CPU or give the op a CudaKernel");
        }
        List<Tensor> copies = new ArrayList<>();
        try {
            Tensor[] dense = contiguous(inputs, copies);
            String kernel = cuda.choose().kernel(dense, outs);
            Launch plan = cuda.launch().plan(dense, outs);
            long[] pointers = new long[dense.length + outs.length];
            for (int i = 0; i < dense.length; i++) pointers[i] = dense[i].address();
            for (int k = 0; k < outs.length; k++) pointers[dense.length + k] = outs[k].address();
            if (Arrays.stream(outs).allMatch(t -> t.numel() == 0)) return;
            dev.soma.backend.Backends.get(device); // makes sure the device's backend (and the runtime) is up
            if (EmulatedModules.active()) EmulatedModules.launch(name, cuda, device.index(), kernel, pointers, plan);
            else NvrtcModules.launch(name, cuda, device.index(), kernel, pointers, plan);
        } finally {
            for (Tensor c : copies) c.close();
        }
    }

    private void record(Tensor[] inputs, Tensor[] outs) {
        if (!Autograd.needsGrad(inputs)) return;
        Tensor[] saved = outs.clone();
        for (int k = 0; k < outs.length; k++) {
            if (!outs[k].dtype().isFloating()) continue;
            final int which = k;
            Autograd.record(name, outs[k], g -> {
                if (backward == null) {
                    throw new UnsupportedOperationException("custom op " + name + " has no backward rule; build it with "
                            + "Builder.backward to differentiate through it");
                }
                Tensor[] grads = new Tensor[saved.length];
                grads[which] = g;
                Tensor[] r = backward.apply(inputs, saved, grads);
                if (r == null || r.length != inputs.length) {
                    throw new IllegalStateException("custom op " + name + ": its backward rule returned "
                            + (r == null ? "null" : r.length + " gradient(s)") + " for " + inputs.length + " input(s)");
                }
                return r;
            }, inputs);
        }
    }

    private static Tensor[] contiguous(Tensor[] inputs, List<Tensor> copies) {
        Tensor[] dense = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            dense[i] = inputs[i].contiguous();
            if (dense[i] != inputs[i]) copies.add(dense[i]);
        }
        return dense;
    }

    private static HostArray toHost(Tensor t) {
        return switch (t.dtype()) {
            case F32 -> new HostArray(DType.F32, t.shape(), t.toFloatArray(), null, null);
            case F64 -> new HostArray(DType.F64, t.shape(), null, t.toDoubleArray(), null);
            case I32 -> new HostArray(DType.I32, t.shape(), null, null, t.toIntArray());
        };
    }

    private static void write(Tensor t, HostArray a) {
        switch (t.dtype()) {
            case F32 -> t.backend().memory().write(t, a.f32());
            case F64 -> t.backend().memory().write(t, a.f64());
            case I32 -> t.backend().memory().write(t, a.i32());
        }
    }

    static String describe(Tensor[] ts) {
        StringBuilder sb = new StringBuilder();
        for (Tensor t : ts) sb.append(sb.length() == 0 ? "" : ", ").append(t.describe());
        return sb.toString();
    }

    @Override
    public String toString() {
        return "CustomOp[" + name + (cuda != null ? ", cpu+cuda" : ", cpu") + (backward != null ? ", backward" : "") + "]";
    }

    /** Collects an op's parts; {@link #build} checks that the required ones are there. */
    public static final class Builder {
        private final String name;
        private int arity = -1;
        private Validator validator;
        private OutputRule outputs;
        private CpuKernel cpu;
        private CudaKernel cuda;
        private Backward backward;
        private CostRule cost;

        private Builder(String name) {
            if (name == null || !name.matches("[A-Za-z_][A-Za-z0-9_.\\-]*")) {
                throw new IllegalArgumentException("custom op name must be a plain identifier (letters, digits, _ . -), got '"
                        + name + "'");
            }
            this.name = name;
        }

        /** The exact number of inputs (default: any, at least one). */
        public Builder arity(int n) {
            if (n < 1) throw new IllegalArgumentException("custom op " + name + ": arity must be >= 1, got " + n);
            this.arity = n;
            return this;
        }

        /** Extra input checks, run after the arity, open and same-device checks. */
        public Builder validate(Validator v) {
            this.validator = v;
            return this;
        }

        /** Several outputs. */
        public Builder outputs(OutputRule rule) {
            this.outputs = rule;
            return this;
        }

        /** One output. */
        public Builder output(java.util.function.Function<Tensor[], OutputSpec> rule) {
            this.outputs = in -> List.of(rule.apply(in));
            return this;
        }

        public Builder cpu(CpuKernel kernel) {
            this.cpu = kernel;
            return this;
        }

        public Builder cuda(CudaKernel kernel) {
            this.cuda = kernel;
            return this;
        }

        public Builder backward(Backward rule) {
            this.backward = rule;
            return this;
        }

        public Builder cost(CostRule rule) {
            this.cost = rule;
            return this;
        }

        public CustomOp build() {
            return new CustomOp(this);
        }
    }

    /** A convenience for validators: the tensor has this rank, or a ShapeException naming the op. */
    public static void requireRank(String op, Tensor t, int rank) {
        if (t.ndim() != rank) {
            throw new ShapeException(op + ": tensor " + t.describe() + " has rank " + t.ndim() + ", expected rank " + rank);
        }
    }
}
