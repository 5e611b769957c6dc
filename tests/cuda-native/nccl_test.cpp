// The emulated device's NCCL stand-in (cuda-kernels/emu/src/nccl_emu.cpp) through soma.h's entries
// (cuda-kernels/nccl.cu): ranks as threads of this process and as forked processes; sums and broadcasts in
// several pieces of the shared slots, in place and not, checked bit for bit against the sum in rank order; and
// what NCCL leaves to hang, reported instead: ranks calling different collectives, a rank that exits, an abort, a
// rank that never calls, bad arguments. Runs with work at the call (threads of one process block each other under
// SOMA_EMU_STREAMS=deferred, which runs one queued Op at a time).
#include "test_util.h"

#include "soma.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string error_text() {
  char buf[1024];
  soma_cuda_nccl_error_text(buf, sizeof buf);
  return buf;
}

struct Id {
  uint8_t bytes[SOMA_NCCL_ID_BYTES];
};

Id fresh_id() {
  Id id;
  TU_CHECK(soma_cuda_nccl_unique_id(id.bytes) == 0, "unique id: %s", error_text().c_str());
  return id;
}

// Rank r's value at element i: distinct per rank and element, with fractions, so a wrong order or a missed piece shows.
double value(int r, int64_t i) { return std::ldexp(double((i * 7919 + r * 104729) % 65536) - 32768.0, -7) + 0.25 * r; }

// What every rank runs in the "sums and broadcasts" case; answers "" or the first mismatch. Runs in a thread or a
// forked process, so it reports instead of calling TU_CHECK.
std::string collectives(const Id& id, int nranks, int rank) {
  void* comm = nullptr;
  if (soma_cuda_nccl_comm_init(nranks, id.bytes, rank, 60.0, &comm) != 0) return "init: " + error_text();
  std::string bad;
  // 300,000 doubles are 2.4 MB: three pieces of the 1 MiB slots. float32 out of place, int32 and float64 in place.
  const int64_t n64 = 300000, n32 = 700001;
  std::vector<double> d(n64);
  for (int64_t i = 0; i < n64; i++) d[i] = value(rank, i);
  if (soma_cuda_nccl_all_reduce_sum(comm, d.data(), d.data(), n64, SOMA_F64, nullptr) != 0) bad = "f64: " + error_text();
  for (int64_t i = 0; bad.empty() && i < n64; i++) {
    double want = value(0, i);
    for (int r = 1; r < nranks; r++) want += value(r, i);
    if (d[i] != want) bad = "f64 sum at " + std::to_string(i) + ": " + std::to_string(d[i]) + " != " + std::to_string(want);
  }
  std::vector<float> f(n32), g(n32, -1.0f);
  for (int64_t i = 0; i < n32; i++) f[i] = float(value(rank, i));
  if (bad.empty() && soma_cuda_nccl_all_reduce_sum(comm, f.data(), g.data(), n32, SOMA_F32, nullptr) != 0)
    bad = "f32: " + error_text();
  for (int64_t i = 0; bad.empty() && i < n32; i++) {
    float want = float(value(0, i));
    for (int r = 1; r < nranks; r++) want += float(value(r, i));
    if (g[i] != want || f[i] != float(value(rank, i))) bad = "f32 sum at " + std::to_string(i);
  }
  std::vector<int32_t> k(1000);
  for (int i = 0; i < 1000; i++) k[i] = (rank + 1) * 1000 + i;
  if (bad.empty() && soma_cuda_nccl_all_reduce_sum(comm, k.data(), k.data(), 1000, SOMA_I32, nullptr) != 0)
    bad = "i32: " + error_text();
  for (int i = 0; bad.empty() && i < 1000; i++) {
    if (k[i] != 1000 * nranks * (nranks + 1) / 2 + nranks * i) bad = "i32 sum at " + std::to_string(i);
  }
  // Broadcast from the last rank, 2.1 MB of floats in place; then nothing (count 0) still in step.
  const int root = nranks - 1;
  std::vector<float> b(550000);
  for (size_t i = 0; i < b.size(); i++) b[i] = float(value(rank, int64_t(i)));
  if (bad.empty() && soma_cuda_nccl_broadcast(comm, b.data(), b.data(), int64_t(b.size()), SOMA_F32, root, nullptr) != 0)
    bad = "broadcast: " + error_text();
  for (size_t i = 0; bad.empty() && i < b.size(); i++) {
    if (b[i] != float(value(root, int64_t(i)))) bad = "broadcast at " + std::to_string(i);
  }
  if (bad.empty() && soma_cuda_nccl_all_reduce_sum(comm, nullptr, nullptr, 0, SOMA_F32, nullptr) != 0)
    bad = "count 0: " + error_text();
  int failed = -1;
  if (bad.empty() && (soma_cuda_nccl_comm_check(comm, &failed) != 0 || failed != 0)) bad = "check: " + error_text();
  soma_cuda_nccl_comm_destroy(comm);
  return bad;
}

void test_ranks_as_threads() {
  for (int nranks : {1, 2, 3}) {
    Id id = fresh_id();
    std::vector<std::string> results(nranks);
    std::vector<std::thread> ts;
    for (int r = 0; r < nranks; r++) ts.emplace_back([&, r] { results[r] = collectives(id, nranks, r); });
    for (auto& t : ts) t.join();
    for (int r = 0; r < nranks; r++) TU_CHECK(results[r].empty(), "%d ranks as threads, rank %d: %s", nranks, r, results[r].c_str());
  }
}

void test_ranks_as_processes() {
  const int nranks = 3;
  Id id = fresh_id();
  std::vector<pid_t> children;
  for (int r = 1; r < nranks; r++) {
    pid_t pid = fork();
    if (pid == 0) {
      std::string e = collectives(id, nranks, r);
      if (!e.empty()) std::fprintf(stderr, "rank %d (child): %s\n", r, e.c_str());
      _exit(e.empty() ? 0 : 1);
    }
    children.push_back(pid);
  }
  std::string e = collectives(id, nranks, 0);
  TU_CHECK(e.empty(), "rank 0 of 3 processes: %s", e.c_str());
  for (pid_t c : children) {
    int status = 0;
    waitpid(c, &status, 0);
    TU_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d ended with status %d", int(c), status);
  }
}

// Two threads as ranks 0 and 1: `r0` and `r1` run on an initialised communicator; answers their error texts.
template <typename R0, typename R1>
std::pair<std::string, std::string> two_ranks(double timeout, R0 r0, R1 r1) {
  Id id = fresh_id();
  std::string e0, e1;
  std::thread t1([&] {
    void* c = nullptr;
    if (soma_cuda_nccl_comm_init(2, id.bytes, 1, timeout, &c) != 0) { e1 = "init: " + error_text(); return; }
    e1 = r1(c);
  });
  void* c = nullptr;
  if (soma_cuda_nccl_comm_init(2, id.bytes, 0, timeout, &c) != 0) e0 = "init: " + error_text();
  else e0 = r0(c);
  t1.join();
  return {e0, e1};
}

std::string all_reduce_floats(void* c, int64_t n) {
  std::vector<float> v(size_t(n), 1.0f);
  std::string e = soma_cuda_nccl_all_reduce_sum(c, v.data(), v.data(), n, SOMA_F32, nullptr) == 0 ? "" : error_text();
  // A failed communicator refuses what comes next, naming the first failure.
  if (!e.empty()) {
    int failed = 0;
    soma_cuda_nccl_comm_check(c, &failed);
    std::string again = soma_cuda_nccl_all_reduce_sum(c, v.data(), v.data(), n, SOMA_F32, nullptr) == 0 ? "" : error_text();
    e += failed == 1 && again.find("has failed before") != std::string::npos ? " [then refused]" : " [NOT refused after]";
  }
  soma_cuda_nccl_comm_destroy(c);
  return e;
}

void test_different_collectives_are_reported() {
  auto [e0, e1] = two_ranks(30.0, [](void* c) { return all_reduce_floats(c, 10); },
                            [](void* c) {
                              std::vector<float> v(20, 2.0f);
                              std::string e = soma_cuda_nccl_broadcast(c, v.data(), v.data(), 20, SOMA_F32, 0, nullptr) == 0
                                                  ? "" : error_text();
                              soma_cuda_nccl_comm_destroy(c);
                              return e;
                            });
  for (const std::string& e : {e0, e1}) {
    TU_CHECK(e.find("every rank must call the same collectives") != std::string::npos &&
                 e.find("all-reduce (sum) of 10 float32") != std::string::npos &&
                 e.find("broadcast of 20 float32 from rank 0") != std::string::npos,
             "different collectives: '%s'", e.c_str());
  }
  TU_CHECK(e0.find("[then refused]") != std::string::npos, "a failed communicator is refused after: '%s'", e0.c_str());
}

void test_abort_reaches_the_other_rank() {
  auto start = std::chrono::steady_clock::now();
  auto [e0, e1] = two_ranks(30.0, [](void* c) { return all_reduce_floats(c, 1000); },
                            [](void* c) {
                              std::this_thread::sleep_for(std::chrono::milliseconds(50));
                              soma_cuda_nccl_comm_abort(c);
                              return std::string();
                            });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TU_CHECK(e0.find("rank 1 aborted the communicator") != std::string::npos, "abort: '%s'", e0.c_str());
  TU_CHECK(s < 10, "the abort was seen after %.1f s", s);
}

void test_a_rank_that_never_calls_times_out() {
  auto start = std::chrono::steady_clock::now();
  auto [e0, e1] = two_ranks(0.5, [](void* c) { return all_reduce_floats(c, 100); },
                            [](void* c) {
                              std::this_thread::sleep_for(std::chrono::milliseconds(1500));
                              soma_cuda_nccl_comm_destroy(c);
                              return std::string();
                            });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TU_CHECK(e0.find("not every rank arrived within 0.5 s") != std::string::npos, "timeout: '%s'", e0.c_str());
  TU_CHECK(s < 10, "the timeout took %.1f s", s);
}

void test_a_rank_that_exits_is_reported() {
  Id id = fresh_id();
  pid_t child = fork();
  if (child == 0) {
    void* c = nullptr;
    int rc = soma_cuda_nccl_comm_init(2, id.bytes, 1, 30.0, &c);
    _exit(rc == 0 ? 0 : 3);  // joins, then dies without a collective (and is not reaped until below)
  }
  void* c = nullptr;
  TU_CHECK(soma_cuda_nccl_comm_init(2, id.bytes, 0, 30.0, &c) == 0, "init: %s", error_text().c_str());
  auto start = std::chrono::steady_clock::now();
  std::string e = c ? all_reduce_floats(c, 100) : "";
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TU_CHECK(e.find("rank 1 (process " + std::to_string(child) + ") exited") != std::string::npos, "exit: '%s'", e.c_str());
  TU_CHECK(s < 10, "the exit was seen after %.1f s (timeout 30 s)", s);
  int status = 0;
  waitpid(child, &status, 0);
}

// Two joins that cannot make one communicator: the second is refused, and the first stops waiting at once.
void test_a_misused_join_ends_the_wait() {
  struct Case {
    int nranks_a, rank_a, nranks_b, rank_b;
    const char* second;
  };
  for (Case k : {Case{2, 0, 2, 0, "rank 0 joined twice"}, Case{2, 0, 3, 1, "joined with 3 ranks, the communicator has 2"}}) {
    Id id = fresh_id();
    std::string first;
    auto start = std::chrono::steady_clock::now();
    std::thread a([&] {
      void* c = nullptr;
      first = soma_cuda_nccl_comm_init(k.nranks_a, id.bytes, k.rank_a, 30.0, &c) == 0 ? "" : error_text();
      if (c) soma_cuda_nccl_comm_destroy(c);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the first join is waiting by now
    void* c = nullptr;
    int rc = soma_cuda_nccl_comm_init(k.nranks_b, id.bytes, k.rank_b, 30.0, &c);
    std::string second = error_text();
    a.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    TU_CHECK(rc == SOMA_NCCL_ERROR && c == nullptr && second.find(k.second) != std::string::npos, "second join: '%s'",
             second.c_str());
    TU_CHECK(first.find("aborted the communicator during joining") != std::string::npos, "first join: '%s'", first.c_str());
    TU_CHECK(s < 10, "the first join waited %.1f s (timeout 30 s)", s);
  }
}

void test_bad_arguments() {
  Id id = fresh_id();
  void* c = reinterpret_cast<void*>(0x1);
  auto refused = [&](int rc, const char* what, const char* expect) {
    std::string e = error_text();
    TU_CHECK(rc == SOMA_NCCL_ERROR && e.find(expect) != std::string::npos, "%s: rc %d, '%s'", what, rc, e.c_str());
  };
  refused(soma_cuda_nccl_comm_init(0, id.bytes, 0, 1.0, &c), "0 ranks", "nranks 0");
  TU_CHECK(c == nullptr, "a refused init leaves no communicator");
  refused(soma_cuda_nccl_comm_init(2, id.bytes, 2, 1.0, &c), "rank 2 of 2", "rank 2 is not in 0..1");
  refused(soma_cuda_nccl_comm_init(1, id.bytes, 0, 0.0, &c), "timeout 0", "timeout must be > 0");
  Id junk;
  std::memset(junk.bytes, 7, sizeof junk.bytes);
  refused(soma_cuda_nccl_comm_init(1, junk.bytes, 0, 1.0, &c), "a foreign id", "not made by the emulated device");
  TU_CHECK(soma_cuda_nccl_comm_init(1, id.bytes, 0, 1.0, &c) == 0, "1 rank: %s", error_text().c_str());
  float v[4] = {1, 2, 3, 4};
  refused(soma_cuda_nccl_all_reduce_sum(c, v, v, 4, 7, nullptr), "dtype 7", "dtype 7 is not");
  refused(soma_cuda_nccl_all_reduce_sum(c, v, v, -1, SOMA_F32, nullptr), "count -1", "count -1 is negative");
  refused(soma_cuda_nccl_all_reduce_sum(c, nullptr, v, 4, SOMA_F32, nullptr), "null send", "null");
  refused(soma_cuda_nccl_broadcast(c, v, v, 4, SOMA_F32, 1, nullptr), "root 1 of 1", "root 1 is not a rank of 1");
  refused(soma_cuda_nccl_all_reduce_sum(nullptr, v, v, 4, SOMA_F32, nullptr), "null communicator", "null");
  // The refusals above moved nothing and left the communicator healthy.
  TU_CHECK(soma_cuda_nccl_all_reduce_sum(c, v, v, 4, SOMA_F32, nullptr) == 0 && v[3] == 4.0f, "1 rank sums to itself");
  soma_cuda_nccl_comm_destroy(c);
}

}  // namespace

int main() {
  tu::banner("cuda_nccl");
  std::printf("NCCL: ");
  char info[256];
  TU_CHECK(soma_cuda_nccl_open(info, sizeof info) == 0, "open: %s", error_text().c_str());
  std::printf("%s\n", info);
  test_bad_arguments();
  test_ranks_as_threads();
  test_ranks_as_processes();
  test_different_collectives_are_reported();
  test_abort_reaches_the_other_rank();
  test_a_rank_that_never_calls_times_out();
  test_a_rank_that_exits_is_reported();
  test_a_misused_join_ends_the_wait();
  return tu::finish("cuda_nccl");
}
