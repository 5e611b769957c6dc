package dev.soma.backend.cuda;

import dev.soma.testing.TemporaryProperties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.bytedeco.cuda.global.cudnn.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Which cuDNN algorithms we ask for, no device needed. Convolutions: deterministic FMA-math algorithms by default,
 * FFT-based ones only when allowed (an H200 run picked FFT for a 5x5 backward-data pass that then missed the f32
 * bound 6-fold). Recurrences: the persistent small-hidden kernels within cuDNN's hidden-size limits.
 */
class CudnnAlgorithmChoiceTest {
    private final TemporaryProperties properties = new TemporaryProperties();

    /** The defaults, whatever the test JVM was started with. */
    @BeforeEach
    void defaults() {
        properties.clear("soma.cuda.cudnn.fft").clear("soma.cuda.cudnn.rnnAlgo");
    }

    @AfterEach
    void restore() {
        properties.close();
    }

    @Test
    void recurrencesTakeCudnnsSmallHiddenPersistentKernelsWithinTheirLimits() {
        // Training: forward and backward share one algorithm, so the backward's limit (128) decides.
        assertEquals(VendorPaths.RnnAlgo.PERSIST_STATIC_SMALL_H, VendorPaths.cudnnRnnAlgo(128, true));
        assertEquals(VendorPaths.RnnAlgo.PERSIST_STATIC_SMALL_H, VendorPaths.cudnnRnnAlgo(1, true));
        assertEquals(VendorPaths.RnnAlgo.STANDARD, VendorPaths.cudnnRnnAlgo(129, true));
        // Inference: the forward's limit (192).
        assertEquals(VendorPaths.RnnAlgo.PERSIST_STATIC_SMALL_H, VendorPaths.cudnnRnnAlgo(192, false));
        assertEquals(VendorPaths.RnnAlgo.STANDARD, VendorPaths.cudnnRnnAlgo(193, false));
        assertEquals(3, VendorPaths.RnnAlgo.PERSIST_STATIC_SMALL_H.code);
        assertEquals(CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H, VendorPaths.RnnAlgo.PERSIST_STATIC_SMALL_H.code);
        assertEquals(CUDNN_RNN_ALGO_PERSIST_STATIC, VendorPaths.RnnAlgo.PERSIST_STATIC.code);
        assertEquals(CUDNN_RNN_ALGO_STANDARD, VendorPaths.RnnAlgo.STANDARD.code);
        properties.set("soma.cuda.cudnn.rnnAlgo", "standard");
        assertEquals(VendorPaths.RnnAlgo.STANDARD, VendorPaths.cudnnRnnAlgo(64, true));
        properties.set("soma.cuda.cudnn.rnnAlgo", "Persist-Static");
        assertEquals(VendorPaths.RnnAlgo.PERSIST_STATIC, VendorPaths.cudnnRnnAlgo(512, true));
        properties.set("soma.cuda.cudnn.rnnAlgo", "small-h");
        assertEquals(VendorPaths.RnnAlgo.PERSIST_STATIC_SMALL_H, VendorPaths.cudnnRnnAlgo(512, true));
        properties.set("soma.cuda.cudnn.rnnAlgo", "fastest");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VendorPaths.cudnnRnnAlgo(64, true));
        assertTrue(e.getMessage().contains("soma.cuda.cudnn.rnnAlgo") && e.getMessage().contains("'fastest'"),
                e.getMessage());
    }

    @Test
    void fftAlgorithmsAreNamedPerPass() {
        assertTrue(CudnnConv.isFft("forward", CUDNN_CONVOLUTION_FWD_ALGO_FFT));
        assertTrue(CudnnConv.isFft("forward", CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING));
        assertFalse(CudnnConv.isFft("forward", CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM));
        assertFalse(CudnnConv.isFft("forward", CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED));
        assertTrue(CudnnConv.isFft("backward data", CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT));
        assertTrue(CudnnConv.isFft("backward data", CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING));
        assertFalse(CudnnConv.isFft("backward data", CUDNN_CONVOLUTION_BWD_DATA_ALGO_1));
        assertTrue(CudnnConv.isFft("backward weights", CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT));
        assertTrue(CudnnConv.isFft("backward weights", CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING));
        assertFalse(CudnnConv.isFft("backward weights", CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudnnConv.isFft("sideways", 0));
        assertTrue(e.getMessage().contains("sideways"), e.getMessage());
    }

    @Test
    void fftIsRefusedUnlessAllowedAndTheModeSaysWhich() {
        CudnnConv.Mode strict = CudnnConv.Mode.current(false);
        assertFalse(strict.fft());
        assertTrue(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_FMA_MATH, false, strict));
        assertFalse(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_FMA_MATH, true, strict));
        properties.set("soma.cuda.cudnn.fft", "true");
        CudnnConv.Mode loose = CudnnConv.Mode.current(false);
        assertTrue(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_FMA_MATH, true, loose));
        // The choice is remembered per mode (in memory and on disk), so the two modes must not share a key.
        assertNotEquals(strict.toString(), loose.toString());
        // Determinism and math still apply.
        assertFalse(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC, CUDNN_FMA_MATH, false, strict));
        assertFalse(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, false, strict));
    }
}
