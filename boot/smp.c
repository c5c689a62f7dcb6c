/* Secondary cores. The boot core asks PSCI to start each core (CPU_ON) at
   smp_secondary_entry (arch.S) with a parameter block of its own: the boot core's
   translation registers, vectors and a stack. The core comes up at EL1 with its MMU and
   caches off, loads those registers, turns the MMU on with the kernel's page tables (the
   WebAssembly window included) and says it is online; then it sleeps (wfi, woken by an SGI)
   until the kernel gives it work (runtime.c runtime_core_main) and costs the host nothing.
   The cores are the device tree's (machine.c, the boot core first); without a list, PSCI is
   asked for Aff0 = 1, 2, ... until it answers INVALID_PARAMETERS (no such core). */
#include "hw.h"
#include "machine.h"
#include "runtime.h"
#include "smp.h"

#define PSCI_CPU_ON 0xC4000003ULL
#define PSCI_INVALID_PARAMETERS (-2)
#define START_TIMEOUT_MS 200

/* Read by the core with its MMU off (uncached): field offsets are arch.S's. */
struct smp_params {
  uint64_t mair, tcr, ttbr0, sctlr, vbar, stack_top; /* 0, 8, 16, 24, 32, 40 */
  uint64_t index;                                     /* 48 */
  uint64_t pad;
};
static struct smp_params params[SMP_MAX_CPUS] __attribute__((aligned(64)));
static volatile uint32_t online[SMP_MAX_CPUS];
static int32_t state[SMP_MAX_CPUS];

extern char exception_vectors[];
void smp_secondary_entry(void);

#define READ_SYSREG(name) ({ uint64_t v_; __asm__ volatile("mrs %0, " #name : "=r"(v_)); v_; })

/* Writes [p, p+n) back to the point of coherency: a core whose caches are off reads RAM. */
static void clean_to_poc(const void* p, uint64_t n) {
  uint64_t line = 4ULL << ((READ_SYSREG(ctr_el0) >> 16) & 0xf); /* DminLine: log2 words */
  for (uint64_t a = (uint64_t)(uintptr_t)p & ~(line - 1); a < (uint64_t)(uintptr_t)p + n; a += line)
    __asm__ volatile("dc cvac, %0" :: "r"(a) : "memory");
  __asm__ volatile("dsb sy" ::: "memory");
}

/* Called by each secondary core on its own stack, MMU on (arch.S). */
void smp_secondary_main(uint64_t i) {
  irq_init_secondary((uint32_t)i);
  __atomic_store_n(&online[i], 1, __ATOMIC_RELEASE);
  __asm__ volatile("dsb ish; sev" ::: "memory");
  runtime_core_main((uint32_t)i);
}

void smp_start(uint64_t stacks) {
  state[0] = 1;
  struct smp_params common = {
    .mair = READ_SYSREG(mair_el1), .tcr = READ_SYSREG(tcr_el1), .ttbr0 = READ_SYSREG(ttbr0_el1),
    .sctlr = READ_SYSREG(sctlr_el1), .vbar = (uint64_t)(uintptr_t)exception_vectors,
  };
  const int listed = !(machine.defaulted & (MACHINE_CPUS | MACHINE_NO_TREE));
  if (!listed) {
    machine.cpus = SMP_MAX_CPUS;
    for (uint32_t i = 1; i < SMP_MAX_CPUS; i++) machine.mpidr[i] = i;
  }
  for (uint32_t i = 1; i < machine.cpus; i++) {
    struct smp_params* p = &params[i];
    *p = common;
    p->stack_top = stacks + (uint64_t)i * SMP_STACK_BYTES; /* top of slot i-1 */
    p->index = i;
    clean_to_poc(p, sizeof *p);
    int64_t r = psci_call3(PSCI_CPU_ON, machine.mpidr[i], (uint64_t)(uintptr_t)smp_secondary_entry, (uint64_t)(uintptr_t)p);
    if (r == PSCI_INVALID_PARAMETERS && !listed) { machine.cpus = i; break; } /* no such core: the last was the last */
    if (r != 0) { state[i] = (int32_t)r; continue; }
    uint64_t until = timer_ns() + START_TIMEOUT_MS * 1000000ULL;
    while (!__atomic_load_n(&online[i], __ATOMIC_ACQUIRE) && timer_ns() < until) __asm__ volatile("wfe");
    state[i] = __atomic_load_n(&online[i], __ATOMIC_ACQUIRE) ? 1 : -1000; /* -1000: started, never said so */
  }
}

int32_t smp_cpu_state(uint32_t i) { return i < SMP_MAX_CPUS ? state[i] : 0; }
