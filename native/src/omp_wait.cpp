// Whether idle OpenMP workers spin or sleep, switched at run time (dev.soma.backend.LoadAwareWaiting decides when).
//
// With OMP_WAIT_POLICY unset, GNU libgomp lets a worker spin for about 300,000 iterations (milliseconds) after each
// parallel region before it sleeps: on an idle core that makes the next region start at once. On a core shared with
// another busy process the spinning worker burns its time slice while the thread it waits for is preempted, and a
// training step of tens of regions slows down by whole scheduler periods. libgomp's manual documents a second, very
// short spin count "if there are more OpenMP threads than available CPUs", and it decides that at every wait from
// the number of threads it manages. So to make the workers sleep at once we start a parked team: a host thread that
// opens one parallel region of as many threads as the process may use CPUs and then waits, keeping its pool alive.
// Ending that thread frees its pool and the long spin returns. Neither changes how work is split, so results do not
// depend on the mode. Other OpenMP runtimes ignore the parked team (it then costs a few sleeping threads).
#include "soma.h"
#include "dtype_dispatch.h"
#include <omp.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace {
pthread_mutex_t switching = PTHREAD_MUTEX_INITIALIZER;  // one switch at a time (the join below drops `lock`)
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
bool parked = false;        // a parked team exists (or is being started)
bool release_team = false;  // asks the parked team's host thread to end
pthread_t host;

std::atomic<int> team_members{0};
volatile double probe_sink = 0;  // keeps the probe's busy loop

void* park_team(void*) {
  const int size = omp_get_num_procs() > 1 ? omp_get_num_procs() : 2;
  team_members = 0;
  // The team only has to exist; the count is there because GCC drops a parallel region with an empty body.
#pragma omp parallel num_threads(size)
  team_members.fetch_add(1);
  pthread_mutex_lock(&lock);
  while (!release_team) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  return nullptr;
}

double cpu_ns(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
}  // namespace

extern "C" {

int soma_cpu_omp_short_waits(int on) {
  pthread_mutex_lock(&switching);
  pthread_mutex_lock(&lock);
  int ok = 1;
  if (on && !parked) {
    release_team = false;
    ok = pthread_create(&host, nullptr, park_team, nullptr) == 0;
    parked = ok;
  } else if (!on && parked) {
    release_team = true;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    pthread_join(host, nullptr);  // the pool's threads end with their host thread
    pthread_mutex_lock(&lock);
    parked = false;
  }
  // Eight times the grain: a 262,144-element loop takes about 0.1 ms on one core, worth a wake-up that may wait.
  soma::element_grain_now.store(parked ? soma::kParallelGrain * 8 : soma::kParallelGrain, std::memory_order_relaxed);
  pthread_mutex_unlock(&lock);
  pthread_mutex_unlock(&switching);
  return ok ? 0 : -1;
}

int soma_cpu_omp_short_waits_on(void) {
  pthread_mutex_lock(&lock);
  const int on = parked;
  pthread_mutex_unlock(&lock);
  return on;
}

double soma_cpu_omp_idle_spin_ns(int rounds, int gap_us) {
  // Thread 1 of a team of two records its CPU clock; after the region the caller sleeps gap_us and reads how much
  // CPU that worker burnt meanwhile (its spin before it went to sleep).
  double total = 0;
  int measured = 0;
  for (int r = 0; r < rounds; ++r) {
    clockid_t worker{};
    std::atomic<int> have{0};
#pragma omp parallel num_threads(2)
    {
      double s = 0;
      for (int i = 0; i < 20000; ++i) s += i * 1e-9;
      probe_sink = s;
      if (omp_get_thread_num() == 1 && pthread_getcpuclockid(pthread_self(), &worker) == 0) have = 1;
    }
    if (!have) continue;  // a team of one: nothing spins
    const double before = cpu_ns(worker);
    usleep(gap_us);
    total += cpu_ns(worker) - before;
    ++measured;
  }
  return measured > 0 ? total / measured : -1;
}

}  // extern "C"
