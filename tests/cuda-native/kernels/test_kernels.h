// Host entry points of the test kernels (language.cu, misuse.cu, broken.cu). Each copies its inputs to
// cudaMalloc'ed memory, launches through soma_cuda::launch (launch.cuh) as the project's kernels do, copies the
// results back and returns the launch's cudaError_t number (0 = success).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace emu_test {

// ---------------------------------------------------------------- language.cu
// Per-block sums (block threads, a power of two <= 1024) by a shared-memory tree with __syncthreads; workers[b] is
// the OS thread that ran block b. wait_for_second_worker: block 0 waits (up to 10 s) until another OS thread
// has run a block, so a grid provably spreads over the worker threads.
int block_sum(const std::vector<float>& x, int block, bool wait_for_second_worker, std::vector<float>& sums,
              std::vector<uint64_t>& workers);

struct WarpOut {  // one thread's results of warp_ops (64 threads: two warps)
  int down_sum, xor_sum, idx_w8_src3, idx_rotate, idx_w16_src17, idx_src_minus1, up_scan, down_w16_d4, xor_w8_m4,
      xor_w8_m8, up_w8_d2;
  unsigned ballot, partial_ballot;
  int any, all, neighbour_after_syncwarp;
  double xor_double;
  long long down_int64;
};
int warp_ops(const std::vector<int>& in, std::vector<WarpOut>& out);

struct AtomicOut {  // global atomics (several OS threads) and shared-memory atomics (one block's fibers)
  float fsum;
  int isum, imax, imin;
  unsigned long long dsum_bits;  // a double added through an atomicCAS loop
  unsigned long long usum;
  int hist[8];            // built in shared memory with atomicAdd, then added to global
  long long block_max_sum;  // sum over blocks of a shared atomicMax
  unsigned cas_count;     // a shared counter incremented through atomicCAS
  int exch_last;          // atomicExch: some thread's index
};
int atomics(const std::vector<int>& values, int block, AtomicOut& out);

// out[i] = in[i] mirrored within its block, through SOMA_DYNAMIC_SHARED (block floats).
int dynamic_reverse(const std::vector<float>& in, int block, std::vector<float>& out);
// Two blocks fill and read back `bytes` of dynamic shared memory; opt_in > 0 first calls
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, opt_in) and returns its failure.
int dynamic_big(size_t bytes, int opt_in, uint64_t& checksum, uint64_t& expected);

// Every thread writes threadIdx.xyz, blockIdx.xyz, blockDim and gridDim (8 words) at its global linear index.
int index_map(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, std::vector<uint32_t>& out);

// Each of `blocks` blocks (128 threads) reads static __shared__ (uint32 and double) and dynamic shared memory
// before writing it: everything read must be the poison (0xFF bytes).
int shared_poison(int blocks, std::vector<uint32_t>& static_words, std::vector<uint64_t>& static_doubles,
                  std::vector<uint32_t>& dynamic_words);

// ---------------------------------------------------------------- misuse.cu
struct Misuse {
  int status;
  std::string message;  // soma_emu_last_message() right after the launch
};
Misuse partial_barrier();
Misuse two_barriers();
Misuse mask_excludes_caller();
Misuse shuffle_reads_outside_mask();
Misuse divergent_shuffles();
Misuse mask_names_missing_lane();
Misuse collective_waits_for_exited_lane();
Misuse barrier_and_warp_collective_deadlock();
Misuse block_of(unsigned x, unsigned y, unsigned z);  // a trivial kernel with that block
Misuse grid_of(unsigned x, unsigned y, unsigned z);
Misuse dynamic_shared_without_opt_in(size_t bytes);   // a kernel that never opts in
int dynamic_shared_opt_in(int bytes);                  // cudaFuncSetAttribute for the next one
Misuse dynamic_shared_with_opt_in(size_t bytes);
bool healthy_launch();  // a correct kernel still runs after all of the above

// ---------------------------------------------------------------- broken.cu: proof that the checks can fail
// Per-block sums (256 threads) by a shared-memory tree; broken: the barrier inside the loop is missing.
int tree_sum(const std::vector<float>& x, bool broken, std::vector<float>& sums);
// n x n transpose through 16x16 shared tiles (2-D blocks and grid); broken: the barrier between the tile's
// write and its transposed read is missing.
int transpose(const std::vector<float>& in, int n, bool broken, std::vector<float>& out);
// Writes one float past the end of an n-float cudaMalloc (i <= n instead of i < n).
int out_of_bounds_write(int n);

}  // namespace emu_test
