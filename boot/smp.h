/* Secondary cores (smp.c): started with PSCI CPU_ON, parked until the kernel has work. */
#pragma once
#include <stdint.h>

#define SMP_MAX_CPUS 8
#define SMP_STACK_BYTES (4ULL << 20) /* WORKER_CALL_DEPTH calls deep (runtime.c) */

/* Starts every core PSCI knows besides the boot core, each on its own stack in
   stacks[(i-1) * SMP_STACK_BYTES ...], with the boot core's vectors and page tables. */
void smp_start(uint64_t stacks);
/* Core i: 1 online, 0 no such core, < 0 the PSCI error that kept it from starting. */
int32_t smp_cpu_state(uint32_t i);
