// Small helpers shared by the emulated-kernel test programs: checks that count and print, the random seed,
// poison patterns and the run's banner.
#pragma once
#include <cuda_runtime.h>

#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

extern "C" const char* soma_emu_last_message(void);
extern "C" const char* soma_emu_schedule(void);

namespace tu {

inline int& failures() {
  static int n = 0;
  return n;
}
inline int& checks() {
  static int n = 0;
  return n;
}

// The seed of this run's random inputs: SOMA_TEST_SEED, or fresh from the clock and the OS.
inline uint64_t seed() {
  static const uint64_t s = [] {
    const char* e = std::getenv("SOMA_TEST_SEED");
    if (e && *e) return uint64_t(std::strtoull(e, nullptr, 10));
    std::random_device rd;
    uint64_t v = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
    return uint64_t(v % 1000000007ull);
  }();
  return s;
}

inline bool verbose() {
  static const bool v = std::getenv("VERBOSE") != nullptr;
  return v;
}

inline void fail(const char* file, int line, const std::string& what) {
  ++failures();
  const char* slash = std::strrchr(file, '/');
  std::printf("FAIL %s:%d: %s\n", slash ? slash + 1 : file, line, what.c_str());
  std::fflush(stdout);
}

inline std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string format(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

#define TU_CHECK(cond, ...)                                                                 \
  do {                                                                                      \
    ++::tu::checks();                                                                       \
    if (!(cond)) ::tu::fail(__FILE__, __LINE__, std::string(#cond) + ": " + ::tu::format(__VA_ARGS__)); \
  } while (0)

inline unsigned emu_threads() {
  const char* v = std::getenv("SOMA_EMU_THREADS");
  unsigned n = v ? unsigned(std::atoi(v)) : std::thread::hardware_concurrency();
  return n < 1 ? 1 : n;
}

inline void banner(const char* program) {
  std::printf("== %s: schedule %s, SOMA_EMU_THREADS=%u, seed %" PRIu64 "\n", program, soma_emu_schedule(),
              emu_threads(), seed());
  std::fflush(stdout);
}

inline int finish(const char* program) {
  if (failures())
    std::printf("== %s: %d of %d checks FAILED (schedule %s, SOMA_EMU_THREADS=%u); rerun with SOMA_TEST_SEED=%" PRIu64
                " SOMA_EMU_SCHEDULE=%s\n",
                program, failures(), checks(), soma_emu_schedule(), emu_threads(), seed(), soma_emu_schedule());
  else
    std::printf("== %s: all %d checks passed\n", program, checks());
  return failures() ? 1 : 0;
}

// Poison for outputs: NaN payloads no kernel computes, so an element left unwritten is told from a NaN result.
constexpr uint32_t kPoison32 = 0x7fbadbadu;
constexpr uint64_t kPoison64 = 0x7ff4badbadbadbadull;

}  // namespace tu
