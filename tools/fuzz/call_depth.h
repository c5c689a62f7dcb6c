/* Forced in front of the fuzz module's C (Makefile: -include). wasm2c checks the call depth
   with a compare in every function's prologue, and libFuzzer traces every compare (a call
   to __sanitizer_cov_trace_const_cmp4 each time): with the stack checks AssemblyScript
   compiles into the module, 30% of the gbnf target's time. Here the prologue reads the byte
   at fuzz_depth_guard + depth instead: the byte for the first depth past the limit is the
   first of an unmapped page, whose fault the harness makes the trap wasm2c would have raised
   (tools/fuzz/harness.c on_segv), and the prologue's own compare, against UINT32_MAX, is
   folded away. The same limit, WASM_RT_MAX_CALL_STACK_DEPTH, as the kernel's. */
#pragma once
#include <stdint.h>
#include "wasm-rt.h"

extern const volatile uint8_t* fuzz_depth_guard;

static inline uint32_t* fuzz_depth_slot(void) {
  (void)fuzz_depth_guard[wasm_rt_call_stack_depth];
  return &wasm_rt_call_stack_depth;
}

#define wasm_rt_call_stack_depth (*fuzz_depth_slot())
#undef WASM_RT_MAX_CALL_STACK_DEPTH
#define WASM_RT_MAX_CALL_STACK_DEPTH UINT32_MAX
