/* The start sequence both entries share: efi_main.c (a UEFI application) and
   direct_main.c (a Linux-style Image a loader starts with the device tree in x0) each find
   RAM and set aside what the kernel needs, then hand over to boot_kernel. */
#pragma once
#include <stdint.h>
#include "smp.h"

#define KERNEL_STACK_BYTES (32ULL << 20)
#define SMP_STACKS_BYTES ((SMP_MAX_CPUS - 1) * SMP_STACK_BYTES)

struct boot_memory {
  const uint64_t* ram;        /* RAM as (base, size) pairs: identity-mapped as Normal memory */
  uint32_t ram_ranges;
  uint64_t linear_phys;       /* linear memory's block (2 MiB aligned) */
  uint64_t linear_bytes;
  void* table_pool;           /* page tables (mmu.c), right after linear memory */
  uint64_t table_pool_bytes;
  uint64_t stack_top;         /* the boot core's stack, KERNEL_STACK_BYTES */
  uint64_t smp_stacks;        /* the other cores' stacks, SMP_STACKS_BYTES */
};

/* Splits the free RAM [start, end) into linear memory, from its first 2 MiB boundary (so
   that the WebAssembly window maps it with 2 MiB blocks) and at most 4 GiB, and the
   page-table pool right after it. Sets m's linear_* and table_pool*; 0 if it is too small. */
int boot_place_linear(uint64_t start, uint64_t end, struct boot_memory* m);

/* Checks EL1, installs the exception vectors, switches to the kernel's page tables with the
   MMU and caches on, starts the runtime, UART interrupts, GIC and the other cores, and runs
   the kernel on its own stack. */
void boot_kernel(const struct boot_memory* m) __attribute__((noreturn));
