// Proof that the checks can fail (2): kernels/broken.cu's oob_write_kernel writes one float past the end of a
// cudaMalloc'ed buffer. The emulated device's memory is host memory of the exact size, so AddressSanitizer
// reports the write (ctest asserts its report); the normal build cannot see it and skips (exit 77).
#include "test_kernels.h"

#include <cstdio>

int main() {
#if defined(__SANITIZE_ADDRESS__)
  std::printf("expecting AddressSanitizer to report a heap-buffer-overflow in oob_write_kernel\n");
  std::fflush(stdout);
  const int status = emu_test::out_of_bounds_write(1000);
  std::printf("NOT CAUGHT: the out-of-bounds write went unreported (launch status %d)\n", status);
  return 1;
#else
  std::printf("skipped: only the sanitizer build (-DSOMA_EMU_SANITIZE=ON) sees an out-of-bounds write\n");
  return 77;
#endif
}
