// NCCL's collectives on the emulated device: see soma_emu_nccl.h.
//
// The segment is a header (who joined, a barrier, each rank's description of its current collective) and one
// 1 MiB slot per rank. A collective goes in pieces of a slot: every rank copies its piece into its slot, all meet
// at the barrier, every rank reads the slots (a sum in rank order, so the result is the same bits everywhere), and
// all meet again before the slots are reused. Waits poll: for the generation of the barrier to change, for an
// abort, for a peer process that exited, and for the timeout.
#include "soma_emu_nccl.h"

#include "streams.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

namespace soma_emu {
void set_last_error(int status, const std::string& message);  // runtime_api.cpp

namespace {

constexpr char kMagic[16] = "SOMA-EMU-NCCL-1";
constexpr size_t kSlotBytes = size_t(1) << 20;
constexpr size_t kHeaderBytes = 64 * 1024;

enum Kind : int32_t { kAllReduceSum = 1, kBroadcast = 2 };

// What a rank is about to do: checked against every other rank's before any data moves.
struct OpDesc {
  int32_t kind;
  int32_t dtype;
  int64_t count;
  int32_t root;
  int32_t pad;
  uint64_t seq;
};

struct Header {
  std::atomic<int32_t> nranks;
  std::atomic<int32_t> joined;
  std::atomic<uint32_t> arrived;
  std::atomic<uint32_t> generation;
  std::atomic<int32_t> aborted_by;  // rank + 1 of a rank that aborted
  std::atomic<int32_t> present[kNcclMaxRanks];
  std::atomic<int32_t> pids[kNcclMaxRanks];
  OpDesc ops[kNcclMaxRanks];  // plain data: written before a barrier, read after it
};
static_assert(sizeof(Header) <= kHeaderBytes, "the header must fit its page range");
static_assert(std::atomic<int32_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free");

struct State {
  Header* h = nullptr;
  size_t bytes = 0;
  int rank = 0;
  int nranks = 0;
  double timeout_seconds = 0;
  uint64_t seq = 0;  // collectives this rank has run (the descriptions carry it)
  std::mutex mu;
  std::string failed;

  char* slot(int r) const { return reinterpret_cast<char*>(h) + kHeaderBytes + size_t(r) * kSlotBytes; }

  std::string fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (failed.empty()) failed = why;
    return failed;
  }
  std::string failure() {
    std::lock_guard<std::mutex> lock(mu);
    return failed;
  }
  ~State() {
    if (h != nullptr) munmap(h, bytes);
  }
};

size_t dtype_bytes(int dtype) {
  switch (dtype) {
    case 0: return 4;  // SOMA_F32
    case 1: return 8;  // SOMA_F64
    case 2: return 4;  // SOMA_I32
    default: return 0;
  }
}

const char* dtype_name(int dtype) {
  switch (dtype) {
    case 0: return "float32";
    case 1: return "float64";
    case 2: return "int32";
    default: return "?";
  }
}

std::string describe(const OpDesc& d) {
  std::string s = d.kind == kAllReduceSum ? "all-reduce (sum)" : d.kind == kBroadcast ? "broadcast" : "nothing";
  s += " of " + std::to_string(d.count) + " " + dtype_name(d.dtype);
  if (d.kind == kBroadcast) s += " from rank " + std::to_string(d.root);
  return s;
}

// True when `pid` has exited (gone, or a zombie its parent has not reaped yet).
bool exited(int pid) {
  if (pid <= 0 || pid == getpid()) return false;
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && (line[close + 2] == 'Z' || line[close + 2] == 'X');
}

// Polls until `done` answers true; "" then, or why the wait ended (an abort, a peer that exited, the timeout).
template <typename Done>
std::string wait_until(State& s, Done done, const std::string& what) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto last_check = start;
  unsigned polls = 0;
  while (!done()) {
    if (int a = s.h->aborted_by.load(std::memory_order_acquire)) {
      return "rank " + std::to_string(a - 1) + " aborted the communicator during " + what;
    }
    if (++polls < 1000) {
      std::this_thread::yield();
      continue;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    auto now = clock::now();
    if (now - last_check < std::chrono::milliseconds(20)) continue;
    last_check = now;
    for (int r = 0; r < s.nranks; r++) {
      int pid = s.h->pids[r].load(std::memory_order_acquire);
      if (exited(pid)) {
        return "rank " + std::to_string(r) + " (process " + std::to_string(pid) + ") exited during " + what;
      }
    }
    double waited = std::chrono::duration<double>(now - start).count();
    if (waited > s.timeout_seconds) {
      char t[64];
      std::snprintf(t, sizeof t, "%.3g", s.timeout_seconds);
      return what + ": not every rank arrived within " + t + " s (a rank stopped, or ranks called different collectives)";
    }
  }
  return "";
}

std::string barrier(State& s, const std::string& what) {
  Header* h = s.h;
  const uint32_t gen = h->generation.load(std::memory_order_acquire);
  if (h->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == uint32_t(s.nranks)) {
    h->arrived.store(0, std::memory_order_relaxed);
    h->generation.fetch_add(1, std::memory_order_release);
    return "";
  }
  return wait_until(s, [&] { return h->generation.load(std::memory_order_acquire) != gen; }, what);
}

// After the first barrier of a collective: every rank must have described the same one.
std::string same_everywhere(State& s) {
  const OpDesc& mine = s.h->ops[s.rank];
  for (int r = 0; r < s.nranks; r++) {
    const OpDesc& d = s.h->ops[r];
    if (d.kind != mine.kind || d.dtype != mine.dtype || d.count != mine.count || d.root != mine.root ||
        d.seq != mine.seq) {
      return "collective #" + std::to_string(mine.seq) + ": rank " + std::to_string(s.rank) + " called " +
             describe(mine) + " where rank " + std::to_string(r) + "'s collective #" + std::to_string(d.seq) +
             " is " + describe(d) + "; every rank must call the same collectives in the same order";
    }
  }
  return "";
}

template <typename T, typename Acc>
void sum_slots(const State& s, char* out, int64_t n) {
  T* o = reinterpret_cast<T*>(out);
  const T* first = reinterpret_cast<const T*>(s.slot(0));
  for (int64_t i = 0; i < n; i++) o[i] = first[i];
  for (int r = 1; r < s.nranks; r++) {
    const T* in = reinterpret_cast<const T*>(s.slot(r));
    for (int64_t i = 0; i < n; i++) o[i] = T(Acc(o[i]) + Acc(in[i]));  // int32 wraps, as NCCL's does
  }
}

// One collective, in pieces of a slot: for each piece [off, off + n), `before` fills this rank's slot, the ranks meet,
// `between` reads the slots, and the ranks meet again before the slots are reused.
template <typename Before, typename Between>
std::string run(State& s, const OpDesc& desc, Before before, Between between) {
  std::string failed = s.failure();
  if (!failed.empty()) return "the communicator has failed before: " + failed;
  s.h->ops[s.rank] = desc;
  const std::string what = "collective #" + std::to_string(desc.seq) + " (" + describe(desc) + ")";
  const int64_t per = int64_t(kSlotBytes / dtype_bytes(desc.dtype));
  int64_t off = 0;
  bool first = true;
  do {
    const int64_t n = std::min(per, desc.count - off);
    before(off, n);
    std::string e = barrier(s, what);
    if (e.empty() && first) e = same_everywhere(s);
    if (!e.empty()) return s.fail(e);
    first = false;
    between(off, n);
    e = barrier(s, what);
    if (!e.empty()) return s.fail(e);
    off += n;
  } while (off < desc.count);
  return "";
}

std::string enqueue_collective(const std::shared_ptr<State>& state, cudaStream_t stream,
                               std::function<std::string(State&)> body) {
  int status = 0;
  // At the call (the default) the answer is this collective's own failure; deferred, it is recorded in the state.
  auto answer = std::make_shared<std::string>();
  enqueue(stream, [state, body, answer] {
    *answer = body(*state);
    if (answer->empty()) return 0;
    // Deferred, the synchronisation that ran this answers the error: its text then names the collective's failure.
    set_last_error(cudaErrorUnknown, "NCCL (emulated): " + *answer);
    return int(cudaErrorUnknown);
  }, &status);
  return status != 0 ? *answer : "";
}

}  // namespace

struct NcclComm {
  std::shared_ptr<State> state;
};

std::string nccl_unique_id(uint8_t* id) {
  if (id == nullptr) return "the id buffer is null";
  std::memset(id, 0, kNcclIdBytes);
  std::memcpy(id, kMagic, sizeof kMagic);
  std::random_device rd;
  uint64_t r = (uint64_t(rd()) << 32) ^ rd();
  char name[64];
  std::snprintf(name, sizeof name, "/soma-nccl-%d-%016llx", int(getpid()), static_cast<unsigned long long>(r));
  std::memcpy(id + sizeof kMagic, name, std::strlen(name) + 1);
  return "";
}

std::string nccl_comm_init(int nranks, const uint8_t* id, int rank, double timeout_seconds, NcclComm** out) {
  if (out == nullptr) return "the communicator pointer is null";
  *out = nullptr;
  if (nranks < 1 || nranks > kNcclMaxRanks) {
    return "nranks " + std::to_string(nranks) + ": the emulation joins 1.." + std::to_string(kNcclMaxRanks) + " ranks";
  }
  if (rank < 0 || rank >= nranks) return "rank " + std::to_string(rank) + " is not in 0.." + std::to_string(nranks - 1);
  if (!(timeout_seconds > 0)) return "the timeout must be > 0 s";
  if (id == nullptr || std::memcmp(id, kMagic, sizeof kMagic) != 0) {
    return "the id was not made by the emulated device's soma_cuda_nccl_unique_id";
  }
  char name[kNcclIdBytes];
  std::memcpy(name, id + sizeof kMagic, kNcclIdBytes - sizeof kMagic);
  name[kNcclIdBytes - sizeof kMagic - 1] = '\0';

  auto s = std::make_shared<State>();
  s->rank = rank;
  s->nranks = nranks;
  s->timeout_seconds = timeout_seconds;
  s->bytes = kHeaderBytes + size_t(nranks) * kSlotBytes;
  int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
  if (fd < 0) return std::string("shm_open(") + name + "): " + std::strerror(errno);
  struct stat st;
  // Only ever grow the segment: a rank that asks for fewer ranks must not cut the others' slots off.
  if (fstat(fd, &st) != 0 || (size_t(st.st_size) < s->bytes && ftruncate(fd, off_t(s->bytes)) != 0)) {
    std::string e = std::string("sizing the shared segment ") + name + ": " + std::strerror(errno);
    close(fd);
    return e;
  }
  void* p = mmap(nullptr, s->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return std::string("mmap of ") + name + ": " + std::strerror(errno);
  s->h = static_cast<Header*>(p);
  Header* h = s->h;

  // A misuse ends the communicator for the ranks already waiting too (they fail at once instead of timing out).
  auto refuse = [&](const std::string& why) {
    h->aborted_by.store(rank + 1, std::memory_order_release);
    shm_unlink(name);
    return why;
  };
  int32_t expected = 0;
  if (!h->nranks.compare_exchange_strong(expected, nranks) && expected != nranks) {
    return refuse("rank " + std::to_string(rank) + " joined with " + std::to_string(nranks) +
                  " ranks, the communicator has " + std::to_string(expected));
  }
  int32_t was = 0;
  if (!h->present[rank].compare_exchange_strong(was, 1)) return refuse("rank " + std::to_string(rank) + " joined twice");
  h->pids[rank].store(int32_t(getpid()), std::memory_order_release);
  h->joined.fetch_add(1, std::memory_order_acq_rel);
  std::string e = wait_until(*s, [&] { return h->joined.load(std::memory_order_acquire) >= nranks; },
                             "joining the communicator as rank " + std::to_string(rank) + " of " +
                                 std::to_string(nranks));
  shm_unlink(name);  // every rank has it mapped (or the join failed): the name is no longer needed
  if (!e.empty()) {
    h->aborted_by.store(rank + 1, std::memory_order_release);
    return e;
  }
  *out = new NcclComm{std::move(s)};
  return "";
}

std::string nccl_all_reduce_sum(NcclComm* comm, const void* send, void* recv, int64_t count, int dtype,
                                cudaStream_t stream) {
  if (comm == nullptr) return "the communicator is null";
  if (dtype_bytes(dtype) == 0) return "dtype " + std::to_string(dtype) + " is not float32, float64 or int32";
  if (count < 0) return "count " + std::to_string(count) + " is negative";
  if (count > 0 && (send == nullptr || recv == nullptr)) return "a buffer is null";
  std::shared_ptr<State> st = comm->state;
  const OpDesc desc{kAllReduceSum, dtype, count, -1, 0, ++st->seq};
  const size_t elem = dtype_bytes(dtype);
  return enqueue_collective(st, stream, [desc, send, recv, elem](State& s) {
    const char* in = static_cast<const char*>(send);
    char* out = static_cast<char*>(recv);
    return run(
        s, desc, [&](int64_t off, int64_t n) { if (n > 0) std::memcpy(s.slot(s.rank), in + off * elem, n * elem); },
        [&](int64_t off, int64_t n) {
          if (desc.dtype == 0) sum_slots<float, float>(s, out + off * elem, n);
          else if (desc.dtype == 1) sum_slots<double, double>(s, out + off * elem, n);
          else sum_slots<int32_t, uint32_t>(s, out + off * elem, n);
        });
  });
}

std::string nccl_broadcast(NcclComm* comm, const void* send, void* recv, int64_t count, int dtype, int root,
                           cudaStream_t stream) {
  if (comm == nullptr) return "the communicator is null";
  std::shared_ptr<State> st = comm->state;
  if (dtype_bytes(dtype) == 0) return "dtype " + std::to_string(dtype) + " is not float32, float64 or int32";
  if (count < 0) return "count " + std::to_string(count) + " is negative";
  if (root < 0 || root >= st->nranks) {
    return "root " + std::to_string(root) + " is not a rank of " + std::to_string(st->nranks);
  }
  if (count > 0 && (recv == nullptr || (st->rank == root && send == nullptr))) return "a buffer is null";
  const OpDesc desc{kBroadcast, dtype, count, root, 0, ++st->seq};
  const size_t elem = dtype_bytes(dtype);
  return enqueue_collective(st, stream, [desc, send, recv, elem](State& s) {
    const char* in = static_cast<const char*>(send);
    char* out = static_cast<char*>(recv);
    const bool is_root = s.rank == desc.root;
    return run(
        s, desc,
        [&](int64_t off, int64_t n) { if (is_root && n > 0) std::memcpy(s.slot(desc.root), in + off * elem, n * elem); },
        [&](int64_t off, int64_t n) {
          // The root already holds the data when it broadcasts in place; nobody else reads its send buffer.
          if (n > 0 && !(is_root && in == out)) std::memcpy(out + off * elem, s.slot(desc.root), n * elem);
        });
  });
}

std::string& nccl_error_slot() {
  static thread_local std::string text;
  return text;
}

std::string nccl_check(NcclComm* comm) {
  if (comm == nullptr) return "the communicator is null";
  return comm->state->failure();
}

void nccl_destroy(NcclComm* comm) { delete comm; }

void nccl_abort(NcclComm* comm) {
  if (comm == nullptr) return;
  comm->state->h->aborted_by.store(comm->state->rank + 1, std::memory_order_release);
  comm->state->fail("this rank aborted the communicator");
  delete comm;
}

}  // namespace soma_emu
