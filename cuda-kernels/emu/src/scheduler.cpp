// The emulated device's scheduler: runs a grid's blocks on a pool of OS threads, each block's CUDA threads as
// fibers on one OS thread. A fiber runs until it waits at a barrier or warp collective, or exits; when every
// fiber of the block waits, the barrier or collective is checked for misuse and released.
//
// Invariants:
//  - A block runs start to end on one OS thread, alone: static __shared__ (thread_local) and the dynamic shared
//    buffer belong to it; both are poisoned (0xFF: NaN for floats, -1 for integers) at every block start.
//  - Within a block, the order in which ready fibers run follows the schedule (forward, reverse or seeded
//    random, reseeded per block so a result does not depend on which OS thread ran the block).
//  - The first misuse ends the launch; the message names the kernel, its launch site, the block and thread,
//    and the source line of the barrier or collective. Launches run one at a time: at the call, or queued on
//    their stream until observed (SOMA_EMU_STREAMS=deferred, streams.cpp), with their arguments copied at the call.
#include "fiber.h"
#include "soma_emu.h"
#include "streams.h"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace soma_emu {

// Limits of the emulated device (an sm_90 part's): checked at every launch.
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kDefaultSharedLimit = 48 * 1024;
constexpr size_t kOptInSharedLimit = 227 * 1024;

size_t dynamic_shared_limit(const void* kernel);  // runtime_api.cpp: cudaFuncSetAttribute's opt-in
void set_last_error(int status, const std::string& message);  // runtime_api.cpp; sticky until read
void clear_last_message();

namespace {

enum class State { Ready, AtBarrier, AtWarp, Done };
enum class Collective { Sync, Shuffle, Ballot };

struct Fiber {
  Context ctx;
  uint3 tid;
  unsigned linear = 0;
  State state = State::Ready;
  Collective kind = Collective::Sync;
  unsigned mask = 0;
  const char* file = "";
  int line = 0;
  uint64_t deposit = 0;  // this lane's shuffle value / ballot predicate
  int src = 0;           // the lane a shuffle reads
  uint64_t result = 0;
};

struct Grid;

// One per OS thread that runs blocks; kept for the thread's life so fiber stacks are reused across launches, and
// unmapped when the thread ends (a service's short-lived request threads would otherwise pile up mappings until
// the process hits vm.max_map_count).
struct Worker {
  ~Worker() {
    for (Stack& s : stacks) s.release();
  }

  std::vector<Fiber> fibers;
  std::vector<Stack> stacks;
  Context scheduler;
  Fiber* cur = nullptr;
  const Grid* grid = nullptr;
  std::vector<unsigned char> dynamic;
  std::string error;
  std::mt19937_64 rng;
  struct TlsSegment { void* anchor; unsigned char* start; size_t size; };
  std::vector<TlsSegment> segments;  // the kernel libraries' static shared memory, found once per thread
};

struct Grid {
  LaunchSite site;
  dim3 grid, block;
  size_t dynamic_shared;
  void (*body)(void*);
  void* ctx;
  void* (*module_tls)();
  std::string schedule;
  uint64_t seed;
  unsigned long blocks;
  std::atomic<unsigned long> next{0};
  std::mutex error_mu;
  unsigned long error_block = ~0ul;
  std::string error;  // of the lowest-numbered failing block, so the report does not depend on timing
};

thread_local ThreadState tl_state;
thread_local Worker* tl_worker = nullptr;

size_t stack_size() {
#ifdef __SANITIZE_ADDRESS__
  return 192 * 1024;  // instrumented frames are larger; ASan clears a stack's shadow at switches, so not too large
#else
  return 128 * 1024;
#endif
}

std::string dims(uint3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string at_line(const char* file, int line) {
  const char* slash = std::strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

std::string thread_name(const Fiber& f) { return "block " + dims(tl_state.block_index) + " thread " + dims(f.tid); }

[[noreturn]] void abandon(Worker& w) {
  w.cur->state = State::Done;
  fiber_switch(w.cur->ctx, w.scheduler);
  __builtin_trap();  // an abandoned fiber is never resumed
}

void fail(Worker& w, const std::string& message) {
  if (w.error.empty()) w.error = message;
}

void fiber_main() {
  Worker& w = *tl_worker;
  w.grid->body(w.grid->ctx);
  w.cur->state = State::Done;
  fiber_switch(w.cur->ctx, w.scheduler);
  __builtin_trap();
}

// Where the calling thread keeps the TLS segment (static __shared__ variables) of the library holding `anchor`.
struct SegmentSearch { void* anchor; unsigned char* start; size_t size; };
int find_segment(struct dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<SegmentSearch*>(data);
  if (!info->dlpi_tls_data) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_TLS) continue;
    auto* start = static_cast<unsigned char*>(info->dlpi_tls_data);
    auto* a = static_cast<unsigned char*>(s->anchor);
    if (a >= start && a < start + ph.p_memsz) {
      s->start = start;
      s->size = ph.p_memsz;
      return 1;
    }
  }
  return 0;
}

void poison_static_shared(Worker& w) {
  if (!w.grid->module_tls) return;
  void* anchor = w.grid->module_tls();  // allocates this thread's copy of the segment if it had none
  for (auto& s : w.segments) {
    if (s.anchor == anchor) {
      std::memset(s.start, 0xFF, s.size);
      return;
    }
  }
  SegmentSearch search{anchor, nullptr, 0};
  dl_iterate_phdr(find_segment, &search);
  if (!search.start) return;  // a kernel linked into the executable itself: its TLS is not searched
  w.segments.push_back({anchor, search.start, search.size});
  std::memset(search.start, 0xFF, search.size);
}

// Releases a warp's collectives whose lanes have all arrived; false (and w.error) on misuse.
bool release_warps(Worker& w, unsigned n, bool& released) {
  for (unsigned base = 0; base < n; base += 32) {
    const unsigned lanes = std::min(32u, n - base);
    unsigned handled = 0;
    for (unsigned l = 0; l < lanes; ++l) {
      Fiber& first = w.fibers[base + l];
      if (first.state != State::AtWarp || (handled >> l & 1u)) continue;
      const unsigned mask = first.mask;
      bool ready = true;
      for (unsigned m = 0; m < 32; ++m) {
        if (!(mask >> m & 1u)) continue;
        if (m >= lanes) {
          fail(w, thread_name(first) + ": the mask 0x" + ([&] { char b[16]; std::snprintf(b, sizeof b, "%08x", mask); return std::string(b); })()
                      + " of the warp collective at " + at_line(first.file, first.line) + " names lane " + std::to_string(m)
                      + ", which this block does not have");
          return false;
        }
        Fiber& o = w.fibers[base + m];
        if (o.state == State::Done) {
          fail(w, thread_name(first) + ": the warp collective at " + at_line(first.file, first.line) + " waits for lane "
                      + std::to_string(m) + ", which has exited");
          return false;
        }
        if (o.state != State::AtWarp) {
          ready = false;
          continue;
        }
        if (o.line != first.line || std::strcmp(o.file, first.file) != 0) {
          fail(w, "lanes of one warp diverge at warp collectives: " + thread_name(first) + " at "
                      + at_line(first.file, first.line) + ", " + thread_name(o) + " at " + at_line(o.file, o.line));
          return false;
        }
        if (o.mask != mask) {
          fail(w, "lanes of one warp pass different masks to the warp collective at " + at_line(o.file, o.line) + ": "
                      + thread_name(first) + " and " + thread_name(o));
          return false;
        }
      }
      handled |= mask;
      if (!ready) continue;
      uint64_t ballot = 0;
      for (unsigned m = 0; m < lanes; ++m)
        if ((mask >> m & 1u) && w.fibers[base + m].deposit) ballot |= uint64_t(1) << m;
      for (unsigned m = 0; m < lanes; ++m) {
        if (!(mask >> m & 1u)) continue;
        Fiber& o = w.fibers[base + m];
        if (o.kind == Collective::Shuffle) {
          if (o.src < 0 || o.src >= 32 || !(mask >> o.src & 1u)) {
            fail(w, thread_name(o) + ": the shuffle at " + at_line(o.file, o.line) + " reads lane " + std::to_string(o.src)
                        + ", which is not in its mask (undefined on a GPU)");
            return false;
          }
          o.result = w.fibers[base + unsigned(o.src)].deposit;
        } else if (o.kind == Collective::Ballot) {
          o.result = ballot;
        }
        o.state = State::Ready;
      }
      released = true;
    }
  }
  return true;
}

// Runs one block to its end; false (and w.error) on misuse or deadlock.
bool run_block(Worker& w, unsigned long block_index) {
  const Grid& g = *w.grid;
  const unsigned n = g.block.x * g.block.y * g.block.z;
  while (w.stacks.size() < n) {
    Stack s = Stack::make(stack_size());
    if (!s.base) {
      fail(w, "the emulator could not map a fiber stack for thread " + std::to_string(w.stacks.size()) + " of a block of "
                  + std::to_string(n) + " (" + std::strerror(errno) + "; the process may have reached vm.max_map_count)");
      return false;
    }
    w.stacks.push_back(s);
  }
  w.fibers.resize(n);
  if (!w.dynamic.empty()) std::memset(w.dynamic.data(), 0xFF, w.dynamic.size());
  poison_static_shared(w);
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = w.fibers[i];
    f = Fiber{};
    f.tid = uint3{i % g.block.x, (i / g.block.x) % g.block.y, i / (g.block.x * g.block.y)};
    f.linear = i;
    fiber_init(f.ctx, w.scheduler, w.stacks[i], fiber_main);
  }
  std::vector<unsigned> order(n);
  for (unsigned i = 0; i < n; ++i) order[i] = g.schedule == "reverse" ? n - 1 - i : i;
  const bool random = g.schedule == "random";
  if (random) w.rng.seed(g.seed * 0x9E3779B97F4A7C15ull + block_index);
  for (;;) {
    if (random) std::shuffle(order.begin(), order.end(), w.rng);
    for (unsigned i : order) {
      Fiber& f = w.fibers[i];
      if (f.state != State::Ready) continue;
      w.cur = &f;
      tl_state.thread_index = f.tid;
      tl_state.lane = f.linear % 32;
      fiber_switch(w.scheduler, f.ctx);
      if (!w.error.empty()) return false;
    }
    unsigned done = 0, at_barrier = 0;
    for (const Fiber& f : w.fibers) {
      done += f.state == State::Done;
      at_barrier += f.state == State::AtBarrier;
    }
    if (done == n) return true;
    bool released = false;
    if (!release_warps(w, n, released)) return false;
    if (released) continue;
    const Fiber* site = nullptr;
    const Fiber* at_warp = nullptr;
    for (const Fiber& f : w.fibers) {
      if (f.state == State::AtWarp && !at_warp) at_warp = &f;
      if (f.state != State::AtBarrier) continue;
      if (site && (f.line != site->line || std::strcmp(f.file, site->file) != 0)) {
        fail(w, "threads of one block wait at different barriers: " + thread_name(*site) + " at "
                    + at_line(site->file, site->line) + ", " + thread_name(f) + " at " + at_line(f.file, f.line));
        return false;
      }
      if (!site) site = &f;
    }
    if (at_warp) {
      fail(w, "deadlock: " + thread_name(*at_warp) + " waits at the warp collective at "
                  + at_line(at_warp->file, at_warp->line) + " for lanes that never arrive"
                  + (site ? " (they wait at the barrier at " + at_line(site->file, site->line) + ")" : std::string()));
      return false;
    }
    if (done > 0) {
      fail(w, "a barrier reached by part of a block: " + std::to_string(at_barrier) + " threads wait at "
                  + at_line(site->file, site->line) + " while " + std::to_string(done)
                  + " have exited (a __syncthreads() in code that not every thread runs)");
      return false;
    }
    for (Fiber& f : w.fibers)
      if (f.state == State::AtBarrier) f.state = State::Ready;
  }
}

// Runs blocks of `g` until none is left or one fails.
void work_on(Grid& g) {
  static thread_local Worker worker;
  Worker& w = worker;
  w.grid = &g;
  w.dynamic.assign(g.dynamic_shared, 0xFF);
  tl_worker = &w;
  tl_state.block_dim = g.block;
  tl_state.grid_dim = g.grid;
  for (unsigned long b; (b = g.next.fetch_add(1)) < g.blocks;) {
    tl_state.block_index = uint3{unsigned(b % g.grid.x), unsigned(b / g.grid.x % g.grid.y), unsigned(b / (g.grid.x * g.grid.y))};
    w.error.clear();
    if (!run_block(w, b)) {
      std::lock_guard<std::mutex> lock(g.error_mu);
      if (b < g.error_block) {
        g.error_block = b;
        g.error = w.error;
      }
      g.next = g.blocks;  // the others stop after their current block
      break;
    }
  }
  tl_worker = nullptr;
  w.grid = nullptr;
}

// OS threads that run blocks beside the launching thread; started on the first launch with several blocks.
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // never destroyed: its threads are detached and live as long as the process
    return *pool;
  }

  void run(Grid& g) {
    const unsigned helpers = unsigned(std::min<unsigned long>(threads_ - 1, g.blocks - 1));
    if (helpers == 0) {
      work_on(g);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (started_ < helpers) {
        std::thread(&Pool::loop, this).detach();
        ++started_;
      }
      job_ = &g;
      wanted_ = helpers;
      busy_ = 0;
      ++generation_;
    }
    cv_.notify_all();
    work_on(g);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return wanted_ == 0 && busy_ == 0; });
    job_ = nullptr;
  }

  unsigned threads() const { return threads_; }

 private:
  Pool() {
    const char* v = std::getenv("SOMA_EMU_THREADS");
    unsigned n = v ? unsigned(std::atoi(v)) : std::thread::hardware_concurrency();
    threads_ = std::max(1u, std::min(n, 64u));
  }

  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return generation_ != seen && wanted_ > 0; });
      seen = generation_;
      --wanted_;
      ++busy_;
      Grid* g = job_;
      lock.unlock();
      work_on(*g);
      lock.lock();
      --busy_;
      if (wanted_ == 0 && busy_ == 0) done_cv_.notify_all();
    }
  }

  unsigned threads_;
  unsigned started_ = 0;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  Grid* job_ = nullptr;
  unsigned wanted_ = 0, busy_ = 0;
  uint64_t generation_ = 0;
};

std::mutex schedule_mu;
std::string schedule_text;  // "forward", "reverse" or "random:<seed>"

bool parse_schedule(const std::string& s, std::string& kind, uint64_t& seed) {
  if (s == "forward" || s == "reverse") {
    kind = s;
    seed = 0;
    return true;
  }
  if (s.rfind("random:", 0) == 0 && s.size() > 7) {
    char* end = nullptr;
    seed = std::strtoull(s.c_str() + 7, &end, 10);
    kind = "random";
    return *end == '\0';
  }
  return false;
}

std::string current_schedule() {
  std::lock_guard<std::mutex> lock(schedule_mu);
  if (schedule_text.empty()) {
    const char* env = std::getenv("SOMA_EMU_SCHEDULE");
    std::string kind;
    uint64_t seed;
    schedule_text = env && parse_schedule(env, kind, seed) ? env : "forward";
    if (env && schedule_text != env)
      std::fprintf(stderr, "soma_emu: SOMA_EMU_SCHEDULE=%s is not forward, reverse or random:<seed>; using forward\n", env);
  }
  return schedule_text;
}

std::mutex launch_mu;
}  // namespace

ThreadState& current() { return tl_state; }

__attribute__((noinline)) void sync_block(const char* file, int line) {
  Worker& w = *tl_worker;
  Fiber& f = *w.cur;
  f.state = State::AtBarrier;
  f.file = file;
  f.line = line;
  fiber_switch(f.ctx, w.scheduler);
}

namespace {
uint64_t warp_wait(Collective kind, unsigned mask, uint64_t deposit, int src, const char* file, int line) {
  Worker& w = *tl_worker;
  Fiber& f = *w.cur;
  if (!(mask >> (f.linear % 32) & 1u)) {
    char m[16];
    std::snprintf(m, sizeof m, "%08x", mask);
    fail(w, thread_name(f) + ": the warp collective at " + at_line(file, line) + " has the mask 0x" + m
                + ", which excludes the calling lane " + std::to_string(f.linear % 32));
    abandon(w);
  }
  f.kind = kind;
  f.mask = mask;
  f.deposit = deposit;
  f.src = src;
  f.file = file;
  f.line = line;
  f.state = State::AtWarp;
  fiber_switch(f.ctx, w.scheduler);
  tl_state.lane = f.linear % 32;
  return f.result;
}
}  // namespace

__attribute__((noinline)) void sync_warp(unsigned mask, const char* file, int line) {
  warp_wait(Collective::Sync, mask, 0, 0, file, line);
}

__attribute__((noinline)) uint64_t warp_exchange(unsigned mask, uint64_t mine, int src_lane, const char* file, int line) {
  return warp_wait(Collective::Shuffle, mask, mine, src_lane, file, line);
}

__attribute__((noinline)) unsigned warp_ballot(unsigned mask, bool pred, const char* file, int line) {
  return unsigned(warp_wait(Collective::Ballot, mask, pred ? 1 : 0, 0, file, line));
}

unsigned active_mask() {
  Worker& w = *tl_worker;
  const unsigned base = w.cur->linear / 32 * 32;
  const unsigned n = unsigned(w.fibers.size());
  unsigned bits = 0;
  for (unsigned l = 0; l < 32 && base + l < n; ++l)
    if (w.fibers[base + l].state != State::Done) bits |= 1u << l;
  return bits;
}

void* dynamic_shared() {
  Worker& w = *tl_worker;
  return w.dynamic.empty() ? nullptr : w.dynamic.data();
}

[[noreturn]] void kernel_error(const char* file, int line, const char* what) {
  Worker& w = *tl_worker;
  fail(w, thread_name(*w.cur) + " at " + at_line(file, line) + ": " + what);
  abandon(w);
}

int run_grid(const LaunchSite& site, dim3 grid, dim3 block, size_t dynamic_shared, cudaStream_t stream,
             void (*body)(void*), void* ctx, void (*destroy)(void*), void* (*module_tls)()) {
  // The arguments are ours from here on: freed when the launch has run, or now if it is refused.
  std::shared_ptr<void> params(ctx, destroy);
  clear_last_message();
  const std::string where = std::string("kernel ") + site.kernel + " (launched at " + at_line(site.file, site.line) + ")";
  auto reject = [where](int status, const std::string& why) {
    set_last_error(status, where + ": " + why);
    return status;
  };
  // Configuration errors are answered by the launch itself, as a GPU's launch does; misuse inside the kernel is
  // found when it runs (at the call, or at the observation that runs it under SOMA_EMU_STREAMS=deferred).
  if (tl_worker) return reject(cudaErrorLaunchFailure, "launched from inside a kernel (not supported by the emulator)");
  const unsigned long threads = (unsigned long)block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || threads > kMaxThreadsPerBlock || block.z > 64)
    return reject(cudaErrorInvalidConfiguration, "a block of " + dims(block) + " threads (at most 1024 in all, z at most 64)");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    return reject(cudaErrorInvalidConfiguration, "a grid of " + dims(grid) + " blocks");
  const size_t limit = std::max(kDefaultSharedLimit, std::min(kOptInSharedLimit, dynamic_shared_limit(site.kernel_address)));
  if (dynamic_shared > limit)
    return reject(cudaErrorInvalidValue, std::to_string(dynamic_shared) + " bytes of dynamic shared memory (the limit is "
                                             + std::to_string(limit) + "; above 49152 only after cudaFuncSetAttribute)");
  const std::string schedule = current_schedule();  // the schedule in force at the launch, not at the run
  // The work does not clear the thread's message: when an observation runs several queued launches, the first
  // failure's reason must survive the launches after it.
  auto work = [=]() -> int {
    std::lock_guard<std::mutex> lock(launch_mu);
    Grid g;
    g.site = site;
    g.grid = grid;
    g.block = block;
    g.dynamic_shared = dynamic_shared;
    g.body = body;
    g.ctx = params.get();
    g.module_tls = module_tls;
    parse_schedule(schedule, g.schedule, g.seed);
    g.blocks = (unsigned long)grid.x * grid.y * grid.z;
    Pool::get().run(g);
    if (!g.error.empty()) return reject(cudaErrorLaunchFailure, g.error);
    return cudaSuccess;
  };
  int status = 0;
  enqueue(stream, std::move(work), &status);
  return status;
}

unsigned worker_threads() { return Pool::get().threads(); }

}  // namespace soma_emu

extern "C" int soma_emu_set_schedule(const char* schedule) {
  std::string kind;
  uint64_t seed;
  if (!schedule || !soma_emu::parse_schedule(schedule, kind, seed)) return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(soma_emu::schedule_mu);
  soma_emu::schedule_text = schedule;
  return cudaSuccess;
}

extern "C" const char* soma_emu_schedule(void) {
  static thread_local std::string copy;
  copy = soma_emu::current_schedule();
  return copy.c_str();
}
