/* The hardware the shim drives itself, as the device tree describes it (machine.c): the
   console UART, the interrupt controller, the timer's interrupt, the PSCI conduit, the CPUs
   and the device registers to map. Until the tree is read, and for whatever it does not
   say, QEMU virt's (and the boot log says which). */
#pragma once
#include <stdint.h>
#include "smp.h"

#define MACHINE_MAX_DEVICE_RANGES 64

struct machine {
  uint64_t uart;              /* PL011 registers */
  uint32_t uart_intid;        /* its receive interrupt */
  uint32_t gic_version;       /* 2 or 3 */
  uint64_t gicd;              /* distributor */
  uint64_t gicc;              /* GICv2: CPU interface */
  uint64_t gicr, gicr_bytes;  /* GICv3: the (first) redistributor region */
  uint32_t timer_intid;       /* the virtual timer's PPI */
  uint32_t psci_smc;          /* PSCI's conduit: 1 smc, 0 hvc */
  uint32_t cpus;              /* the boot core first */
  uint64_t mpidr[SMP_MAX_CPUS]; /* each core's affinity (MPIDR_EL1 Aff3..Aff0) */
  uint32_t cpus_listed;       /* how many the tree lists (more than SMP_MAX_CPUS: the rest are left out) */
  uint32_t device_ranges;     /* device registers: (base, size) pairs, page-rounded, merged */
  uint64_t device[2 * MACHINE_MAX_DEVICE_RANGES];
  uint32_t defaulted;         /* MACHINE_* bits: what the tree did not say */
};
#define MACHINE_NO_TREE (1u << 0)
#define MACHINE_UART (1u << 1)
#define MACHINE_GIC (1u << 2)
#define MACHINE_TIMER (1u << 3)
#define MACHINE_PSCI (1u << 4)
#define MACHINE_CPUS (1u << 5)

extern struct machine machine;

/* Fills machine from the kept device tree (devtree.c); boot_mpidr: the boot core's affinity
   (cpu_affinity()), which goes first in the CPU list. */
void machine_from_devtree(uint64_t boot_mpidr);
/* One line per thing the tree did not say, and what is used instead. */
void machine_report(void);
/* [addr, addr + bytes) lies in one of the device ranges. */
int machine_is_device(uint64_t addr, uint64_t bytes);
