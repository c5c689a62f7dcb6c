#pragma once
#include <stdint.h>
/* The RAM block for linear memory; the boot core's runtime state (call first). */
void runtime_init(uint64_t phys, uint64_t bytes);
uint64_t runtime_memory_capacity(void);
int run_guarded(void (*fn)(void* arg), void* arg);
int runtime_in_guarded_call(void);
void runtime_trap_oob(void) __attribute__((noreturn)); /* an out-of-bounds WebAssembly access */
void run_kernel(uint32_t boot_ms) __attribute__((noreturn));
void runtime_core_main(uint32_t i) __attribute__((noreturn)); /* a worker core, once online */
