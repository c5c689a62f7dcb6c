/* Forced in front of the lowered kernel (Makefile: -include). wasm2c counts calls in one
   global, wasm_rt_call_stack_depth; with an instance per core (runtime.c, struct core)
   each core counts in its own word, kept right after its instance. Every use is in a
   generated function, whose `instance` is the running core's. */
#pragma once
#include "wasm-rt.h"
#define wasm_rt_call_stack_depth (*(uint32_t*)((char*)instance + sizeof(w2c_kernel)))
