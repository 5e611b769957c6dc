// NCCL's collectives for the emulated device (src/nccl_emu.cpp). The emulated device's memory is host memory of
// one process, so ranks meet in a POSIX shared-memory segment named by the communicator id: each rank copies its
// part in, waits for the others at a barrier, and reads the result out. It keeps NCCL's contract (an id made by
// one rank and given to all, a communicator per rank, collectives queued on a stream in the same order on every
// rank, results identical on every rank) and reports what NCCL would leave to hang or corrupt: ranks that call
// different collectives, a rank that exits, a communicator another rank aborted, a wait longer than the timeout.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace soma_emu {

struct NcclComm;

constexpr int kNcclIdBytes = 128;
constexpr int kNcclMaxRanks = 64;

// Each answers "" or why it failed.
std::string nccl_unique_id(uint8_t* id);
std::string nccl_comm_init(int nranks, const uint8_t* id, int rank, double timeout_seconds, NcclComm** out);
// dtype: enum soma_dtype. Queued on `stream`; at the call (the default) its failure is the answer, deferred it
// marks the communicator failed and the stream's synchronisation answers cudaErrorUnknown.
std::string nccl_all_reduce_sum(NcclComm* comm, const void* send, void* recv, int64_t count, int dtype,
                                cudaStream_t stream);
std::string nccl_broadcast(NcclComm* comm, const void* send, void* recv, int64_t count, int dtype, int root,
                           cudaStream_t stream);
// The calling thread's last NCCL failure text, for soma_cuda_nccl_error_text: kept here, not in the kernel library,
// whose TLS segment the scheduler poisons at every block start.
std::string& nccl_error_slot();
// "" while healthy, else the first failure.
std::string nccl_check(NcclComm* comm);
void nccl_destroy(NcclComm* comm);
// Also fails the other ranks' waits at once.
void nccl_abort(NcclComm* comm);

}  // namespace soma_emu
