#include "fiber.h"

#include <sys/mman.h>


#ifndef SOMA_EMU_USE_UCONTEXT
// rdi = where to save this stack pointer, rsi = the stack pointer to resume. Saves the System V callee-saved
// registers; the floating-point control words are never changed by kernel code, so they are not saved. The block
// restores the section it found (the compiler does not re-state .text before the functions after it), and the
// translation unit's own .note.GNU-stack keeps the stack non-executable.
extern "C" void soma_emu_switch(void** save_sp, void* load_sp);
asm(R"(
.pushsection .text
.globl soma_emu_switch
.hidden soma_emu_switch
.type soma_emu_switch,@function
soma_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size soma_emu_switch, .-soma_emu_switch
.popsection
)");
#endif

namespace soma_emu {
namespace {
constexpr size_t kGuard = 4096;
}

Stack Stack::make(size_t size) {
  void* p = mmap(nullptr, size + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return Stack{};  // the caller fails the launch with errno's reason
  if (mprotect(p, kGuard, PROT_NONE) != 0) {
    munmap(p, size + kGuard);
    return Stack{};
  }
  return Stack{static_cast<char*>(p) + kGuard, size};
}

void Stack::release() {
  if (base) munmap(base - kGuard, size + kGuard);
  base = nullptr;
}

#ifdef SOMA_EMU_USE_UCONTEXT
void fiber_init(Context& fiber, Context& scheduler, const Stack& stack, void (*entry)()) {
  getcontext(&fiber.uc);
  fiber.uc.uc_stack.ss_sp = stack.base;
  fiber.uc.uc_stack.ss_size = stack.size;
  fiber.uc.uc_link = &scheduler.uc;
  makecontext(&fiber.uc, entry, 0);
}
void fiber_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
const char* fiber_kind() { return "ucontext fibers"; }
#else
void fiber_init(Context& fiber, Context&, const Stack& stack, void (*entry)()) {
  // The first switch pops six zeroed registers and returns into entry() with the stack aligned as after a call.
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack.base) + stack.size) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;  // entry()'s return address: it never returns
  *--sp = reinterpret_cast<void*>(entry);
  for (int r = 0; r < 6; ++r) *--sp = nullptr;
  fiber.sp = sp;
}
void fiber_switch(Context& from, Context& to) { soma_emu_switch(&from.sp, to.sp); }
const char* fiber_kind() { return "x86-64 register-switch fibers"; }
#endif

}  // namespace soma_emu
