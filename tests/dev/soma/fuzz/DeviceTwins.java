package dev.soma.fuzz;

import dev.soma.model.Sequential;
import dev.soma.nn.Layer;
import dev.soma.tensor.Device;

import java.util.Arrays;

/**
 * One random stack of the model fuzzer drawn twice (the same layers and options), one model for the CPU and one for
 * a GPU, which the GPU fuzzers build with the same weights and compare. Closing closes both models and their layers (a
 * model that refused to build may not have taken its layers).
 */
final class DeviceTwins implements AutoCloseable {
    final ModelStacks.Stack stack;
    final Sequential cpu;
    final Sequential gpu;
    private final ModelStacks.Stack gpuStack;

    DeviceTwins(long drawSeed) throws Throwable {
        stack = ModelStacks.draw(new java.util.SplittableRandom(drawSeed));
        gpuStack = ModelStacks.draw(new java.util.SplittableRandom(drawSeed));
        cpu = new Sequential(stack.layers().toArray(new Layer[0]));
        gpu = new Sequential(gpuStack.layers().toArray(new Layer[0]));
    }

    /** "model seed S (family [shape]): [layer types]", for findings. */
    String describe(long seed) {
        return "model seed " + seed + " (" + stack.family() + " " + Arrays.toString(stack.input()) + "): "
                + cpu.layers().stream().map(Layer::typeName).toList();
    }

    /**
     * Builds both from {@code modelSeed} (compile them first where needed) and moves the second to {@code device};
     * false when their weights then differ (a finding for the caller).
     */
    boolean buildAlike(long modelSeed, Device device) {
        cpu.seed(modelSeed);
        cpu.build(stack.input());
        gpu.seed(modelSeed);
        gpu.build(stack.input());
        gpu.to(device);
        return WeightLists.same(WeightLists.of(cpu), WeightLists.of(gpu));
    }

    @Override
    public void close() {
        cpu.close();
        gpu.close();
        for (Layer l : stack.layers()) l.close();
        for (Layer l : gpuStack.layers()) l.close();
    }
}
