package dev.soma.distributed;

import dev.soma.backend.CudaProbe;
import dev.soma.errors.DistributedException;
import dev.soma.memory.Scope;
import dev.soma.tensor.DType;
import dev.soma.tensor.Device;
import dev.soma.tensor.Tensor;
import dev.soma.testing.NoLeaks;
import dev.soma.testing.UsableGpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * One process's NCCL communicator on cuda:0: NVIDIA's NCCL on a real GPU (one rank: NCCL refuses two on one GPU),
 * the emulator's stand-in in CI. Two and three ranks are GpuDataParallelTest's NCCL job (processes) and
 * tests/cuda-native/nccl_test.cpp (threads and processes, and the failures it reports).
 */
@Tag("gpu")
@ExtendWith(NoLeaks.class)
class NcclTest {
    private static final Device GPU = Device.cuda(0);

    private static void requireGpu() {
        CudaProbe.Result r = UsableGpu.required();
    }

    @Test
    void aOneRankCommunicatorSumsAndBroadcastsToTheSameValues() {
        requireGpu();
        String library = Nccl.library(GPU);
        System.out.println("NCCL on " + GPU + ": " + library);
        assertFalse(library.isBlank());
        SplittableRandom r = new SplittableRandom();
        try (Scope s = Scope.open(); Nccl c = Nccl.join(GPU, Nccl.uniqueId(GPU), 0, 1, 30)) {
            assertTrue(c.describe().endsWith("rank 0 of 1 on " + GPU), c.describe());
            float[] f = new float[300_001];
            for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
            Tensor tf = Tensor.of(f).to(GPU);
            c.allreduceSum(tf);
            assertArrayEquals(f, tf.toFloatArray(), "one rank's sum is its own values, bit for bit");
            double[] d = new double[4097];
            for (int i = 0; i < d.length; i++) d[i] = r.nextDouble(-1e300, 1e300);
            Tensor td = Tensor.of(d, 17, 241).to(GPU);
            c.allreduceSum(td);
            assertArrayEquals(d, td.toDoubleArray());
            int[] n = new int[1000];
            for (int i = 0; i < n.length; i++) n[i] = r.nextInt();
            Tensor ti = Tensor.ofInts(n).to(GPU);
            c.broadcast(ti, 0);
            assertArrayEquals(n, ti.toIntArray());
            c.broadcast(tf, 0);
            assertArrayEquals(f, tf.toFloatArray());
            c.checkHealthy();
        }
    }

    /** The bucket path: a collective on the communication stream, joined back into the compute stream. */
    @Test
    void anOverlappedCollectiveJoinsTheComputeStream() {
        requireGpu();
        SplittableRandom r = new SplittableRandom();
        try (Scope s = Scope.open(); Nccl c = Nccl.join(GPU, Nccl.uniqueId(GPU), 0, 1, 30)) {
            double[] d = new double[70_001];
            for (int i = 0; i < d.length; i++) d[i] = r.nextGaussian();
            Tensor t = Tensor.of(d).to(GPU);
            Tensor doubled = t.mul(2.0); // compute-stream work before the collective, which must wait for it
            c.allreduceSumOverlapped(doubled);
            c.joinCompute();
            Tensor back = doubled.mul(0.5); // compute-stream work after it
            assertArrayEquals(d, back.toDoubleArray());
            c.broadcast(doubled, 0); // a compute-stream collective after an overlapped one
            double[] after = doubled.toDoubleArray();
            for (int i = 0; i < d.length; i++) assertEquals(2 * d[i], after[i]);
            c.checkHealthy();
        }
    }

    @Test
    void badInputIsRefusedBeforeTheLibrarySeesIt() {
        requireGpu();
        try (Scope s = Scope.open(); Nccl c = Nccl.join(GPU, Nccl.uniqueId(GPU), 0, 1, 30)) {
            Tensor cpu = Tensor.zeros(DType.F32, Device.cpu(), 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.allreduceSum(cpu));
            assertTrue(e.getMessage().contains("NCCL all-reduce") && e.getMessage().contains("is on cpu")
                    && e.getMessage().contains("the communicator on " + GPU), e.getMessage());
            Tensor matrix = Tensor.zeros(DType.F32, GPU, 3, 5);
            Tensor transposed = matrix.transpose(0, 1);
            e = assertThrows(IllegalArgumentException.class, () -> c.allreduceSum(transposed));
            assertTrue(e.getMessage().contains("not contiguous"), e.getMessage());
            Tensor ints = Tensor.zeros(DType.I32, GPU, 4);
            e = assertThrows(IllegalArgumentException.class, () -> c.allreduceSum(ints));
            assertTrue(e.getMessage().contains("dtype int32; expected float32 or float64"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> c.broadcast(matrix, 1));
            assertTrue(e.getMessage().contains("root 1 is not a rank of 1"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> c.allreduceSum(null));
            Tensor closed = Tensor.zeros(DType.F32, GPU, 4);
            closed.close();
            assertThrows(RuntimeException.class, () -> c.allreduceSum(closed));
            c.checkHealthy(); // nothing above reached the communicator
            c.close();
            IllegalStateException after = assertThrows(IllegalStateException.class, () -> c.allreduceSum(matrix));
            assertTrue(after.getMessage().contains("is closed"), after.getMessage());
            c.close(); // twice is harmless
        }
        byte[] id = Nccl.uniqueId(GPU);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Nccl.join(GPU, new byte[16], 0, 1, 30));
        assertTrue(e.getMessage().contains("128 bytes, got 16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Nccl.join(GPU, id, 1, 1, 30));
        assertTrue(e.getMessage().contains("rank 1 of 1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Nccl.join(GPU, id, 0, 1, 0));
        e = assertThrows(IllegalArgumentException.class, () -> Nccl.library(Device.cpu()));
        assertTrue(e.getMessage().contains("needs a CUDA device, got cpu"), e.getMessage());
    }

    @Test
    void anIdFromElsewhereIsRefusedByTheEmulation() {
        requireGpu();
        assumeTrue(dev.soma.jni.CudaKernels.soma_cuda_kind() == dev.soma.jni.CudaKernels.EMULATED,
                "emulated device only: a real NCCL takes any 128 bytes as an id and waits for peers that never come");
        byte[] junk = new byte[128];
        java.util.Arrays.fill(junk, (byte) 7);
        DistributedException e = assertThrows(DistributedException.class, () -> Nccl.join(GPU, junk, 0, 1, 30));
        assertTrue(e.getMessage().contains("ncclCommInitRank on " + GPU)
                && e.getMessage().contains("not made by the emulated device"), e.getMessage());
    }
}
