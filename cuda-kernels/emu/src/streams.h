// Stream order of the emulated device (streams.cpp). Every launch, copy, memset, event record and stream wait is
// an Op on a stream. By default an Op runs at the call, as the emulator always did. With SOMA_EMU_STREAMS=deferred
// an Op is only queued, with the Ops it must follow, and runs when something observes it (a synchronisation, a
// blocking copy to the host, an event query that has answered not-ready SOMA_EMU_EVENT_LAG times): work that a
// real GPU may still be running is then really not done, so a read that is not ordered after it sees old data.
#pragma once
#include "soma_emu.h"

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace soma_emu {

struct Op {
  uint64_t seq = 0;                      // enqueue order: an Op's dependencies always have lower numbers
  std::function<int()> work;             // answers 0 or a cudaError_t number; dropped once run
  std::vector<std::shared_ptr<Op>> deps; // Ops that must run first (dropped once run)
  bool done = false;
  std::chrono::steady_clock::time_point at;  // when it ran: an event's timestamp
};
using OpRef = std::shared_ptr<Op>;

// SOMA_EMU_STREAMS=deferred (read once); anything else, or unset, runs work at the call.
bool deferred_streams();

// Queues `work` on `stream` (nullptr or cudaStreamLegacy: the legacy default stream), after `extra` too. In the
// immediate mode it runs at once and the answer is its status in *status; deferred, *status is 0.
OpRef enqueue(cudaStream_t stream, std::function<int()> work, int* status, std::vector<OpRef> extra = {});

// Runs `op` (if not yet done) and every Op it depends on, in enqueue order; answers the first failure among them.
int complete(const OpRef& op);
// Runs everything queued on `stream` so far (the legacy stream: also what it implicitly waits for).
int complete_stream(cudaStream_t stream);
// Runs everything queued.
int complete_all();
bool is_done(const OpRef& op);

// Streams' flags: a blocking stream (flags 0) synchronises with the legacy default stream, a non-blocking one
// does not. A destroyed stream's queued work still runs, and later legacy work still waits for it if it blocked.
void stream_created(cudaStream_t stream, bool blocking);
void stream_destroyed(cudaStream_t stream);

// The stream of launches that name none (custom-op modules' entries call soma_emu::launch): set around a module
// launch to the stream Java launched it on.
cudaStream_t implicit_stream();
void set_implicit_stream(cudaStream_t stream);

}  // namespace soma_emu
