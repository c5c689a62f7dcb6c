#pragma once
#include <stdint.h>
void runtime_set_memory(uint64_t phys, uint64_t bytes); /* the RAM block for linear memory */
uint64_t runtime_memory_capacity(void);
int run_guarded(void (*fn)(void* arg), void* arg);
int runtime_in_guarded_call(void);
void runtime_trap_oob(void) __attribute__((noreturn)); /* an out-of-bounds WebAssembly access */
void run_kernel(uint32_t boot_ms) __attribute__((noreturn));
