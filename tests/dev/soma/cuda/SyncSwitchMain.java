package dev.soma.cuda;

import dev.soma.backend.Backend;
import dev.soma.backend.Backends;
import dev.soma.backend.CudaProbe;
import dev.soma.backend.ElementwiseKernels.BinaryOp;
import dev.soma.errors.NativeException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;

import java.util.Arrays;

/** For {@link CudaDispatcherTest}: kernels on the emulated device under -Dsoma.cuda.sync=true. */
public final class SyncSwitchMain {
    private SyncSwitchMain() {}

    public static void main(String[] args) {
        CudaProbe.Result r = CudaProbe.result();
        System.out.println("probe " + r.usable() + " " + r.emulated() + " " + CudaProbe.syncRequested() + " " + r.reason());
        Backend gpu = Backends.get(Device.cuda(0));
        try (Scope s = Scope.open()) {
            Tensor a = Tensor.ones(DType.F32, Device.cuda(0), 3, 5);
            Tensor out = Tensor.empty(DType.F32, Device.cuda(0), 3, 5);
            gpu.elementwise().binary(BinaryOp.ADD, a, a, out);
            System.out.println("sum " + Arrays.toString(out.toFloatArray()));
            Tensor i = Tensor.zeros(DType.I32, Device.cuda(0), 2, 3);
            Tensor iout = Tensor.empty(DType.I32, Device.cuda(0), 2, 3);
            try {
                gpu.elementwise().binary(BinaryOp.DIV, i, i, iout); // no int32 division: the kernel refuses
                System.out.println("error none");
            } catch (NativeException e) {
                System.out.println("error " + e.getMessage().replace('\n', ' '));
            }
        }
        System.out.println("live " + gpu.pool().stats().allocatedBytes());
    }
}
