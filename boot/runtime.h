#pragma once
#include <stdint.h>
void runtime_set_memory(void* base, uint64_t bytes);
uint64_t runtime_memory_capacity(void);
int run_guarded(void (*fn)(void* arg), void* arg);
void run_kernel(uint32_t boot_ms) __attribute__((noreturn));
