package dev.soma.cli;

import dev.soma.gan.GanTrainer;
import dev.soma.memory.Scope;
import dev.soma.model.Sequential;
import dev.soma.optim.Adam;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.zoo.ReferenceModels;

import java.io.PrintWriter;

/**
 * {@code soma bench train-step --model gan}: the step ../shared/peers times for PyTorch: G 100-256-256-784 tanh,
 * D 784-256-256-1 sigmoid (leaky relu 0.2 hidden), batch of fixed tanh(N(0, 1)) "images"; one D update on the real
 * batch and a detached fake batch, then one G update through the updated D; Adam(1e-3) for each; G runs forward
 * once per step (the DCGAN example's pattern, as PtBench's gan).
 */
final class GanBench {
    private GanBench() {}

    static int run(PrintWriter out, int batch, int warmup, int steps, java.nio.file.Path trace, Device device) {
        return run(out, batch, warmup, steps, trace, false, device);
    }

    /** As above; {@code settle}: see {@link StepTimer#run(PrintWriter, String, int, int, int, java.nio.file.Path, boolean, Runnable)}. */
    static int run(PrintWriter out, int batch, int warmup, int steps, java.nio.file.Path trace, boolean settle,
                   Device device) {
        return run(out, "gan", batch, 100, 256, 784, warmup, steps, trace, settle, device);
    }

    /** The same GAN with other sizes: {@code latent} noise, {@code hidden} units per hidden layer, {@code pixels}. */
    static int run(PrintWriter out, String label, int batch, int latent, int hidden, int pixels, int warmup, int steps,
                   java.nio.file.Path trace, boolean settle, Device device) {
        return time(out, label, ReferenceModels.ganGenerator(hidden, pixels), ReferenceModels.ganDiscriminator(hidden),
                1e-3, latent, new long[] {batch, pixels}, warmup, steps, trace, settle, device);
    }

    /**
     * {@code --model dcgan}: the DCGAN of the reference models (G: Dense 100 -> 7x7x128, BatchNorm, two strided
     * transposed convolutions to 28x28x1 tanh; D: two strided convolutions, Dense 1 sigmoid), Adam(2e-4) for each,
     * a batch of fixed tanh(N(0, 1)) images; the same alternation as {@link #run}. bench/gpu/pytorch_steps.py
     * times the same models in PyTorch.
     */
    static int runDcgan(PrintWriter out, int batch, int warmup, int steps, java.nio.file.Path trace, boolean settle,
                        Device device) {
        return time(out, "dcgan", ReferenceModels.dcganGenerator(), ReferenceModels.dcganDiscriminator(), 2e-4, 100,
                new long[] {batch, 28, 28, 1}, warmup, steps, trace, settle, device);
    }

    /** Steps of G and D (Adam at {@code lr} for each, noise of {@code latent} values) on a fixed batch of tanh(N(0, 1)) "images". */
    private static int time(PrintWriter out, String name, Sequential generator, Sequential discriminator, double lr,
                            int latent, long[] realShape, int warmup, int steps, java.nio.file.Path trace, boolean settle,
                            Device device) {
        try (Sequential g = generator; Sequential d = discriminator;
             GanTrainer gan = new GanTrainer(g.seed(1), new Adam(lr), d.seed(2), new Adam(lr), latent).seed(3).to(device);
             Scope scope = Scope.open()) {
            Tensor real = Tensor.randn(4, realShape).tanh().to(device);
            return StepTimer.run(out, name, (int) realShape[0], warmup, steps, trace, settle, device,
                    () -> gan.trainStep(real));
        }
    }
}
