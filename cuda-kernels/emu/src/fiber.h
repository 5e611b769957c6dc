// Fibers for the emulator: one per CUDA thread, switched cooperatively on the OS thread that runs its block.
// Default: a six-register x86-64 switch (no signal-mask system call; ~11x faster than swapcontext in the study).
// Under AddressSanitizer, on other processors, or with -DSOMA_EMU_UCONTEXT: ucontext, which the sanitizer knows.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__) || !defined(__x86_64__) || defined(SOMA_EMU_UCONTEXT)
#define SOMA_EMU_USE_UCONTEXT 1
#include <ucontext.h>
#endif

namespace soma_emu {

struct Context {
#ifdef SOMA_EMU_USE_UCONTEXT
  ucontext_t uc;
#else
  void* sp = nullptr;
#endif
};

// A stack with a guard page below it, so an overflow faults instead of corrupting a neighbour. Its owner releases it.
struct Stack {
  char* base = nullptr;  // lowest usable byte
  size_t size = 0;
  // A fresh stack, or one with a null base when the system refuses the mapping (errno says why).
  static Stack make(size_t size);
  void release();
};

// Prepares `fiber` to start in entry() on `stack`; entry must never return (it switches away for good).
void fiber_init(Context& fiber, Context& scheduler, const Stack& stack, void (*entry)());
// Saves the current context into `from` and resumes `to`.
void fiber_switch(Context& from, Context& to);

// Which switch this build uses, for the build description.
const char* fiber_kind();

}  // namespace soma_emu
