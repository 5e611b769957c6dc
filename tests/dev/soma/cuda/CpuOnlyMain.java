package dev.soma.cuda;

import dev.soma.backend.Backends;
import dev.soma.memory.Scope;
import dev.soma.tensor.Tensor;

/** A CPU-only program for {@link CudaProbeTest}: creates, reduces and reads tensors, then says "ok". */
public final class CpuOnlyMain {
    private CpuOnlyMain() {}

    public static void main(String[] args) {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            double total = t.sum().item();
            float[] copy = t.transpose(0, 1).copy().toFloatArray();
            System.out.println(Backends.cpu().describe());
            System.out.println(total == 21 && copy[1] == 4 ? "ok" : "wrong: " + total);
        }
    }
}
