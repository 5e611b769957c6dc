// Stream order of the emulated device: see streams.h.
//
// Deferred mode keeps a graph of queued Ops. Each Op depends on the previous Op of its stream, on what a
// cudaStreamWaitEvent made its stream wait for, and on the legacy default stream's implicit synchronisation as
// the CUDA programming guide defines it: legacy work waits for all earlier work of blocking streams, and later
// work of blocking streams waits for earlier legacy work; non-blocking streams take part in neither.
//
// Observing an Op runs it and its ancestors on the calling thread, in enqueue order (dependencies are always
// older, so that order respects them). No worker thread and no timing is involved, so a stale read repeats run
// after run. The one mutex serialises the queue: deferred work of several host threads runs one Op at a time.
#include "streams.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace soma_emu {
namespace {

struct StreamState {
  bool blocking = true;
  OpRef last;  // the newest Op queued on the stream (may be done)
};

struct Queue {
  std::mutex mu;
  uint64_t next_seq = 1;
  std::map<uint64_t, OpRef> pending;  // queued and not yet run, by enqueue order
  StreamState legacy;
  std::unordered_map<cudaStream_t, StreamState> streams;
  std::vector<OpRef> retired_blocking;  // last Ops of destroyed blocking streams: the next legacy Op waits for them
};
// Never destroyed: work still queued at exit holds arguments whose destructors live in kernel libraries, which
// need not outlive this one's static destructors.
Queue& q = *new Queue();
std::mutex& queue_mu = q.mu;
uint64_t& next_seq = q.next_seq;
std::map<uint64_t, OpRef>& pending = q.pending;
StreamState& legacy = q.legacy;
std::unordered_map<cudaStream_t, StreamState>& streams = q.streams;
std::vector<OpRef>& retired_blocking = q.retired_blocking;

thread_local cudaStream_t tl_implicit_stream = nullptr;

bool is_legacy(cudaStream_t s) { return s == nullptr || s == reinterpret_cast<cudaStream_t>(uintptr_t(1)); }

// Unknown handles (cudaStreamPerThread, a stream from another runtime) count as blocking streams of their own.
StreamState& state_of(cudaStream_t s) { return is_legacy(s) ? legacy : streams[s]; }

void add_pending(std::vector<OpRef>& deps, const OpRef& op) {
  if (op && !op->done) deps.push_back(op);
}

int run_one(const OpRef& op) {
  op->at = std::chrono::steady_clock::now();
  int status = op->work ? op->work() : 0;
  op->work = nullptr;
  op->deps.clear();
  op->done = true;
  pending.erase(op->seq);
  return status;
}

// Runs the not-yet-run ancestors of `target` (and it) in enqueue order; queue_mu held.
int complete_locked(const OpRef& target) {
  if (!target || target->done) return 0;
  std::vector<Op*> stack{target.get()};
  std::vector<uint64_t> wanted;
  std::unordered_map<uint64_t, bool> seen;
  while (!stack.empty()) {
    Op* op = stack.back();
    stack.pop_back();
    if (op->done || seen[op->seq]) continue;
    seen[op->seq] = true;
    wanted.push_back(op->seq);
    for (const OpRef& d : op->deps) stack.push_back(d.get());
  }
  std::sort(wanted.begin(), wanted.end());
  int first = 0;
  for (uint64_t seq : wanted) {
    auto it = pending.find(seq);
    if (it == pending.end()) continue;
    OpRef op = it->second;  // keeps it alive while it runs
    int s = run_one(op);
    if (s != 0 && first == 0) first = s;
  }
  return first;
}

}  // namespace

bool deferred_streams() {
  static const bool deferred = [] {
    const char* v = std::getenv("SOMA_EMU_STREAMS");
    return v && std::strcmp(v, "deferred") == 0;
  }();
  return deferred;
}

OpRef enqueue(cudaStream_t stream, std::function<int()> work, int* status, std::vector<OpRef> extra) {
  auto op = std::make_shared<Op>();
  if (!deferred_streams()) {
    // As the emulator always did: the work runs at the call, so every stream is trivially in order.
    op->at = std::chrono::steady_clock::now();
    *status = work ? work() : 0;
    op->done = true;
    return op;
  }
  *status = 0;
  std::lock_guard<std::mutex> lock(queue_mu);
  std::vector<OpRef> deps;
  for (const OpRef& e : extra) add_pending(deps, e);
  StreamState& st = state_of(stream);
  add_pending(deps, st.last);
  if (&st == &legacy) {
    for (auto& kv : streams)
      if (kv.second.blocking) add_pending(deps, kv.second.last);
    for (const OpRef& r : retired_blocking) add_pending(deps, r);
    retired_blocking.clear();
  } else if (st.blocking) {
    add_pending(deps, legacy.last);
  }
  op->seq = next_seq++;
  op->work = std::move(work);
  op->deps = std::move(deps);
  st.last = op;
  pending.emplace(op->seq, op);
  return op;
}

int complete(const OpRef& op) {
  if (!deferred_streams()) return 0;
  std::lock_guard<std::mutex> lock(queue_mu);
  return complete_locked(op);
}

int complete_stream(cudaStream_t stream) {
  if (!deferred_streams()) return 0;
  std::lock_guard<std::mutex> lock(queue_mu);
  return complete_locked(state_of(stream).last);
}

int complete_all() {
  if (!deferred_streams()) return 0;
  std::lock_guard<std::mutex> lock(queue_mu);
  int first = 0;
  while (!pending.empty()) {
    OpRef op = pending.begin()->second;
    int s = run_one(op);
    if (s != 0 && first == 0) first = s;
  }
  return first;
}

bool is_done(const OpRef& op) {
  if (!op) return true;
  std::lock_guard<std::mutex> lock(queue_mu);
  return op->done;
}

void stream_created(cudaStream_t stream, bool blocking) {
  std::lock_guard<std::mutex> lock(queue_mu);
  streams[stream] = StreamState{blocking, nullptr};
}

void stream_destroyed(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(queue_mu);
  auto it = streams.find(stream);
  if (it == streams.end()) return;
  // cudaStreamDestroy returns at once; the queued work still runs (it holds what it needs), and the handle's
  // memory may come back for the next stream, so its entry goes now.
  if (it->second.blocking && it->second.last && !it->second.last->done) retired_blocking.push_back(it->second.last);
  streams.erase(it);
}

cudaStream_t implicit_stream() { return tl_implicit_stream; }
void set_implicit_stream(cudaStream_t stream) { tl_implicit_stream = stream; }

}  // namespace soma_emu
