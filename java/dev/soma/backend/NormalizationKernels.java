package dev.soma.backend;

import dev.soma.tensor.Tensor;

/**
 * Layer normalisation over the last axis and batch normalisation (training) over the rows, on contiguous
 * {@code rows x cols} tensors of one floating dtype.
 */
public interface NormalizationKernels {
    /** y, mean and rstd (one per row) from x; gamma and beta ({@code [cols]}) may be null. */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps, long rows, long cols, Tensor y, Tensor mean,
                   Tensor rstd);

    /** gradX (whole) and gradGamma / gradBeta (when not null) from the forward's x, gamma, mean, rstd and gradY. */
    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor gradY, long rows, long cols,
                           Tensor gradX, Tensor gradGamma, Tensor gradBeta);

    /**
     * y, and mean, population variance and rstd (one per column) over the rows of x ({@code rows > 0}); gamma and
     * beta ({@code [cols]}) may be null.
     */
    void batchNorm(Tensor x, Tensor gamma, Tensor beta, double eps, long rows, long cols, Tensor y, Tensor mean,
                   Tensor variance, Tensor rstd);

    /** gradX (whole) and gradGamma / gradBeta (when not null) from the forward's x, gamma, mean, rstd and gradY. */
    void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor gradY, long rows, long cols,
                           Tensor gradX, Tensor gradGamma, Tensor gradBeta);
}
