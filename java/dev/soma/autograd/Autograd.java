package dev.soma.autograd;

import dev.soma.errors.AnomalyException;
import dev.soma.errors.DTypeException;
import dev.soma.errors.DeviceException;
import dev.soma.errors.ShapeException;
import dev.soma.errors.SomaException;
import dev.soma.memory.Scope;
import dev.soma.ops.Elementwise;
import dev.soma.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The define-by-run tape. Ops call {@link #record} after computing their output; {@link #backward} walks
 * the recorded graph from a root in reverse topological order, accumulating gradients for tensors used more
 * than once, and adds the results into the {@code grad} of leaves that require grad (micrograd's idea).
 * Backward itself runs with recording off (no higher-order gradients). A backward rule returns new tensors
 * or the output gradient itself, never a tensor saved from the forward pass.
 */
public final class Autograd {
    private Autograd() {}

    /**
     * Told about each tensor backward has finished on this thread, in order: for a leaf, right after its gradient
     * became final (a leaf is reached once, after every path into it); for any other tensor, after its backward rule
     * ran. Data-parallel training starts a bucket's all-reduce as soon as the bucket's last gradient is final, and
     * uses the other calls to move the all-reduces in flight on (MPI progresses them only inside MPI calls).
     * Null: nobody listens.
     */
    private static final ThreadLocal<java.util.function.Consumer<Tensor>> LEAF_READY = new ThreadLocal<>();

    /**
     * Runs {@link #backward(Tensor)} from {@code root}, calling {@code onFinished} with each tensor it has finished:
     * a leaf once its gradient is final, any other tensor once its backward rule ran.
     */
    public static void backward(Tensor root, java.util.function.Consumer<Tensor> onFinished) {
        java.util.function.Consumer<Tensor> previous = LEAF_READY.get();
        LEAF_READY.set(onFinished);
        try {
            backward(root);
        } finally {
            LEAF_READY.set(previous);
        }
    }

    /** True when an op with these inputs must record a node: recording is on and an input requires grad. */
    public static boolean needsGrad(Tensor... inputs) {
        if (!GradMode.isEnabled()) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad()) return true;
        return false;
    }

    /** Attaches a node to {@code output} when {@link #needsGrad}; returns output for chaining. */
    public static Tensor record(String op, Tensor output, BackwardFn backward, Tensor... inputs) {
        if (Anomaly.enabled) Anomaly.checkOutput(op, output, inputs);
        if (needsGrad(inputs)) {
            output.setGradFn(new Node(op, inputs.clone(), backward));
        }
        return output;
    }

    /** Backward from a scalar (one element) root, with gradient 1. */
    public static void backward(Tensor root) {
        if (root.numel() != 1) {
            throw new ShapeException("backward: the root must hold one element to start from gradient 1, got shape "
                    + Arrays.toString(root.shape()) + "; pass an output gradient instead");
        }
        try (Tensor one = Tensor.full(1.0, root.dtype(), root.device(), root.shape())) {
            backward(root, one);
        }
    }

    /** Backward from {@code root} with the given gradient of the loss with respect to it. */
    public static void backward(Tensor root, Tensor gradOutput) {
        if (!root.requiresGrad()) {
            throw new SomaException("backward: the tensor " + root.describe()
                    + " does not require grad (no input of the ops that made it had requiresGrad set)");
        }
        root.checkOpen("backward");
        root.checkGradient("backward", gradOutput);
        List<Tensor> order = topologicalOrder(root);
        Map<Tensor, Tensor> grads = new IdentityHashMap<>();
        grads.put(root, gradOutput);
        // Every tensor made during backward (intermediate gradients, temporaries inside rules) belongs to this
        // scope and is freed when backward ends; leaves copy what they accumulate into their own grad.
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.disable()) {
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor grad = grads.remove(t);
                if (grad == null) continue;
                Node node = t.gradFn();
                if (node == null) {
                    if (t.requiresGrad()) {
                        // Backward's own results (made in this backward's scope) may become the leaf's gradient
                        // without a copy, unless another tensor's gradient still to be used is the same tensor (a rule
                        // passed it to two inputs): a data-parallel hook may rewrite the leaf's gradient in place.
                        // The caller's output gradient never is (it is not this scope's).
                        t.accumulateGrad(grad, !grads.containsValue(grad));
                        java.util.function.Consumer<Tensor> hook = LEAF_READY.get();
                        if (hook != null) hook.accept(t);
                    }
                    continue;
                }
                Tensor[] inputGrads;
                try {
                    inputGrads = node.backward().apply(grad);
                } catch (AnomalyException e) {
                    throw e.during("inside the backward of " + node.op());
                }
                for (int k = 0; k < node.inputs().length; k++) {
                    Tensor in = node.inputs()[k];
                    Tensor gi = inputGrads[k];
                    if (in == null || gi == null || !in.requiresGrad()) continue;
                    if (Anomaly.enabled) Anomaly.checkGradient(node.op(), k, gi, node.inputs());
                    if (!Arrays.equals(in.shape(), gi.shape())) {
                        throw new ShapeException("backward of " + node.op() + ": gradient " + gi.describe()
                                + " does not match input " + k + " " + in.describe());
                    }
                    // A custom op's rule may return any tensor: name it here, not at some later accumulation.
                    if (gi.dtype() != in.dtype()) {
                        throw new DTypeException("backward of " + node.op() + ": gradient " + gi.describe()
                                + " does not match input " + k + " " + in.describe() + " in dtype");
                    }
                    if (!gi.device().equals(in.device())) {
                        throw new DeviceException("backward of " + node.op() + ": gradient " + gi.describe()
                                + " is not on the device of input " + k + " " + in.describe());
                    }
                    Tensor previous = grads.get(in);
                    grads.put(in, previous == null ? gi : Elementwise.add(previous, gi));
                }
                java.util.function.Consumer<Tensor> hook = LEAF_READY.get();
                if (hook != null) hook.accept(t);
            }
        }
    }

    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> visited = new IdentityHashMap<>();
        // Iterative DFS: deep graphs (long sequences) must not overflow the Java stack.
        Deque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[] {root, 0});
        visited.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            int next = (Integer) frame[1];
            Node node = t.gradFn();
            Tensor[] inputs = node == null ? new Tensor[0] : node.inputs();
            if (next < inputs.length) {
                frame[1] = next + 1;
                Tensor in = inputs[next];
                if (in != null && in.requiresGrad() && visited.put(in, Boolean.TRUE) == null) {
                    stack.push(new Object[] {in, 0});
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
