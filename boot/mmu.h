/* The kernel's translation tables: an identity map of RAM and devices, plus the window
   through which WebAssembly linear memory is reached (see mmu.c). */
#pragma once
#include <stdint.h>

/* Linear-memory byte i is at virtual address MMU_WASM_WINDOW + i. The window spans every
   address wasm2c's code can form (a 32-bit address plus a 32-bit offset, plus a 16-byte
   access); only [0, memory size) of it is mapped, the rest faults. */
#define MMU_WASM_WINDOW (1ULL << 40) /* 1 TiB: above RAM and devices, below 2^48 */
#define MMU_WASM_WINDOW_BYTES ((8ULL << 30) + (64ULL << 10))

uint64_t mmu_pool_bytes(uint64_t wasm_bytes); /* page-table memory for wasm_bytes of linear memory */
void mmu_init(void* pool, uint64_t pool_bytes, uint64_t wasm_phys);
void mmu_map_ram(uint64_t phys, uint64_t bytes); /* identity, Normal write-back */
void mmu_enable(void);                            /* maps the devices and switches to our tables */
void mmu_wasm_map(uint64_t bytes);                /* the window is mapped up to bytes (grows only) */
int mmu_in_wasm_window(uint64_t va);
