package dev.soma.backend.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.bytedeco.cuda.global.cudnn.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Which of cuDNN's answers a convolution pass may take, no device needed: deterministic FMA-math algorithms by
 * default, FFT-based ones only when allowed (an H200 run picked FFT for a 5x5 backward-data pass that then missed
 * the f32 bound 6-fold).
 */
class CudnnAlgorithmChoiceTest {
    @AfterEach
    void reset() {
        System.clearProperty("soma.cuda.cudnn.fft");
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
        System.setProperty("soma.cuda.cudnn.fft", "true");
        CudnnConv.Mode loose = CudnnConv.Mode.current(false);
        assertTrue(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_FMA_MATH, true, loose));
        // The choice is remembered per mode (in memory and on disk), so the two modes must not share a key.
        assertNotEquals(strict.toString(), loose.toString());
        // Determinism and math still apply.
        assertFalse(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_NON_DETERMINISTIC, CUDNN_FMA_MATH, false, strict));
        assertFalse(CudnnConv.acceptable(CUDNN_STATUS_SUCCESS, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, false, strict));
    }
}
