// Bands of rows for the deterministic column sums of layernorm.cu (dgamma, dbeta) and batchnorm.cu (every
// statistic): each block sums 32 columns over one band of rows into a double partial per (band, column), then each
// column adds its bands in order. The bands are a function of rows alone, so the workspace size is known before the
// call and the order of the sums does not depend on the device.
#pragma once
#include <cstdint>

namespace soma_cuda {

constexpr int kBandRows = 32;      // rows per band, at least
constexpr int64_t kMaxBands = 64;  // bands at most (the workspace is bands x cols doubles per sum)

inline void column_bands(int64_t rows, int64_t* bands, int64_t* rows_per_band) {
  if (rows <= 0) {
    *bands = 0;
    *rows_per_band = 0;
    return;
  }
  int64_t b = (rows + kBandRows - 1) / kBandRows;
  if (b > kMaxBands) b = kMaxBands;
  *rows_per_band = (rows + b - 1) / b;
  *bands = (rows + *rows_per_band - 1) / *rows_per_band;
}

}  // namespace soma_cuda
