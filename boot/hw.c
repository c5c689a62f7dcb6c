/* PL011 UART, ARM generic timer, GICv2 or GICv3 (only to wake wfi), PSCI: at the addresses
   and with the interrupts and conduit the device tree names (machine.c). */
#include "hw.h"
#include "machine.h"

#define UART_DR 0x00
#define UART_FR 0x18
#define UART_LCR_H 0x2c
#define UART_CR 0x30
#define UART_IMSC 0x38
#define UART_ICR 0x44
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)

#define WAKE_SGI 1 /* the SGI one core sends another to end its wfi */
/* With no firmware before us (direct_main.c): 8 data bits, no parity, FIFOs on, then the
   UART, its transmitter and receiver. The baud rate stays as reset: QEMU ignores it. */
void uart_start(void) {
  mmio_write32(machine.uart + UART_CR, 0);
  mmio_write32(machine.uart + UART_LCR_H, (3u << 5) | (1u << 4)); /* WLEN 8 bits, FEN */
  mmio_write32(machine.uart + UART_CR, (1u << 9) | (1u << 8) | 1u); /* RXE, TXE, UARTEN */
}

void uart_init(void) {
  /* The firmware left the PL011 configured; only ask for receive interrupts so that
     wfi wakes when a byte arrives. */
  mmio_write32(machine.uart + UART_ICR, 0x7ff);
  mmio_write32(machine.uart + UART_IMSC, (1u << 4) | (1u << 6)); /* RX and RX timeout */
}

void uart_putc(char c) {
  while (mmio_read32(machine.uart + UART_FR) & FR_TXFF) {}
  mmio_write32(machine.uart + UART_DR, (uint8_t)c);
}

void uart_write_bytes(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') uart_putc('\r');
    uart_putc((char)p[i]);
  }
}

void uart_puts(const char* s) {
  while (*s) { if (*s == '\n') uart_putc('\r'); uart_putc(*s++); }
}

void uart_put_hex(uint64_t v) {
  uart_puts("0x");
  for (int i = 60; i >= 0; i -= 4) uart_putc("0123456789abcdef"[(v >> i) & 15]);
}

void uart_put_dec(uint64_t v) {
  char buf[24];
  int n = 0;
  do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) uart_putc(buf[--n]);
}

int uart_getc(void) {
  if (mmio_read32(machine.uart + UART_FR) & FR_RXFE) return -1;
  return (int)(mmio_read32(machine.uart + UART_DR) & 0xff);
}

/* ---- generic timer ---- */
uint64_t timer_ticks(void) {
  uint64_t v;
  __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
  return v;
}

uint64_t timer_freq(void) {
  uint64_t v;
  __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
  return v;
}

uint64_t timer_ns(void) {
  uint64_t t = timer_ticks(), f = timer_freq();
  return (t / f) * 1000000000ULL + (t % f) * 1000000000ULL / f;
}

/* ---- the GIC: interrupts stay masked in PSTATE; a pending one still ends wfi ----
   The UART's and the timer's interrupts go to the boot core; the wake-up SGI is enabled on
   every core. */

#define PRIORITY 0xa0

/* GICv2 (distributor + memory-mapped CPU interface) */
#define GICD_CTLR 0x000
#define GICD_IGROUPR 0x080
#define GICD_ISENABLER 0x100
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800
#define GICD_SGIR 0xf00
#define GICC_CTLR 0x000
#define GICC_PMR 0x004
#define GICC_IAR 0x00c
#define GICC_EOIR 0x010
/* GICv3 (affinity routing: redistributors and system-register CPU interface) */
#define GICD_CTLR_RWP (1u << 31)
#define GICD_IROUTER 0x6000
#define GICR_TYPER 0x008
#define GICR_WAKER 0x014
#define GICR_SGI 0x10000 /* the SGI/PPI frame follows each redistributor's control frame */
#define ICC_PMR_EL1 "S3_0_C4_C6_0"
#define ICC_IAR1_EL1 "S3_0_C12_C12_0"
#define ICC_EOIR1_EL1 "S3_0_C12_C12_1"
#define ICC_SGI1R_EL1 "S3_0_C12_C11_5"
#define ICC_SRE_EL1 "S3_0_C12_C12_5"
#define ICC_IGRPEN1_EL1 "S3_0_C12_C12_7"

static uint8_t gicv2_target[SMP_MAX_CPUS]; /* each core's CPU interface bit (GICv2 SGIs) */
static uint64_t gicr_of[SMP_MAX_CPUS];     /* each core's redistributor (GICv3) */

static void mmio_write8(uint64_t addr, uint8_t v) { *(volatile uint8_t*)(uintptr_t)addr = v; }

/* Enables intid at dist (GICD, or a GICv3 SGI frame for 0..31). GICv3 signals group 1
   through ICC_IGRPEN1_EL1; GICv2's CPU interface is enabled for group 0, the reset group. */
static void gic_enable(uint64_t dist, uint32_t intid) {
  if (machine.gic_version == 3) {
    uint64_t group = dist + GICD_IGROUPR + 4 * (intid / 32);
    mmio_write32(group, mmio_read32(group) | 1u << (intid % 32));
  }
  mmio_write8(dist + GICD_IPRIORITYR + intid, PRIORITY);
  mmio_write32(dist + GICD_ISENABLER + 4 * (intid / 32), 1u << (intid % 32));
}

static void gicv3_wait_rwp(void) {
  while (mmio_read32(machine.gicd + GICD_CTLR) & GICD_CTLR_RWP) {}
}

/* GICv3: finds core i's redistributor by its affinity, wakes it and enables the wake-up
   SGI (and on the boot core the timer's PPI) in its SGI frame; then the CPU interface. */
static void gicv3_core_init(uint32_t i, int boot) {
  const uint64_t aff = machine.mpidr[i];
  const uint64_t want = (aff >> 32 & 0xff) << 24 | (aff & 0xffffff); /* GICR_TYPER's Aff3.Aff2.Aff1.Aff0 */
  uint64_t rd = 0;
  for (uint64_t off = 0; off < machine.gicr_bytes;) {
    uint64_t typer = *(volatile uint64_t*)(uintptr_t)(machine.gicr + off + GICR_TYPER);
    if ((typer >> 32) == want) { rd = machine.gicr + off; break; }
    if (typer & (1u << 4)) break;                 /* Last */
    off += (typer & (1u << 1)) ? 0x40000 : 0x20000; /* VLPIS: two more frames */
  }
  if (!rd) { uart_puts("shim: no GICv3 redistributor for core "); uart_put_dec(i); uart_puts("\n"); return; }
  gicr_of[i] = rd;
  mmio_write32(rd + GICR_WAKER, mmio_read32(rd + GICR_WAKER) & ~(1u << 1)); /* ProcessorSleep */
  while (mmio_read32(rd + GICR_WAKER) & (1u << 2)) {}                       /* ChildrenAsleep */
  gic_enable(rd + GICR_SGI, WAKE_SGI);
  if (boot) gic_enable(rd + GICR_SGI, machine.timer_intid);
  uint64_t sre;
  __asm__ volatile("mrs %0, " ICC_SRE_EL1 : "=r"(sre));
  __asm__ volatile("msr " ICC_SRE_EL1 ", %0; isb" :: "r"(sre | 1));
  __asm__ volatile("msr " ICC_PMR_EL1 ", %0; msr " ICC_IGRPEN1_EL1 ", %1; isb" :: "r"(0xffULL), "r"(1ULL));
}

static void gicv2_core_init(uint32_t i, int boot) {
  gicv2_target[i] = (uint8_t)mmio_read32(machine.gicd + GICD_ITARGETSR); /* banked: this core's bit */
  gic_enable(machine.gicd, WAKE_SGI); /* banked for 0..31 */
  if (boot) gic_enable(machine.gicd, machine.timer_intid);
  mmio_write32(machine.gicc + GICC_PMR, 0xff);
  mmio_write32(machine.gicc + GICC_CTLR, 1);
}

void irq_init(void) {
  __asm__ volatile("msr daifset, #0xf");
  if (machine.gic_version == 3) {
    mmio_write32(machine.gicd + GICD_CTLR, 0x13); /* ARE, group 1 (and group 0 where there is one security state) */
    gicv3_wait_rwp();
    gic_enable(machine.gicd, machine.uart_intid);
    /* the affinities in machine.mpidr are already IROUTER's layout (Aff3 at bit 32) */
    *(volatile uint64_t*)(uintptr_t)(machine.gicd + GICD_IROUTER + 8 * machine.uart_intid) = machine.mpidr[0];
    gicv3_core_init(0, 1);
  } else {
    mmio_write32(machine.gicd + GICD_CTLR, 1);
    gicv2_core_init(0, 1);
    gic_enable(machine.gicd, machine.uart_intid);
    mmio_write8(machine.gicd + GICD_ITARGETSR + machine.uart_intid, gicv2_target[0]);
  }
}

void irq_init_secondary(uint32_t i) {
  __asm__ volatile("msr daifset, #0xf");
  if (machine.gic_version == 3) gicv3_core_init(i, 0);
  else gicv2_core_init(i, 0);
}

/* Ends core i's wfi. The dsb makes every store before it visible to that core first. */
void core_signal(uint32_t i) {
  __asm__ volatile("dsb ish" ::: "memory");
  if (machine.gic_version == 3) {
    const uint64_t a = machine.mpidr[i];
    const uint64_t sgi = (a >> 32 & 0xff) << 48 | (a >> 16 & 0xff) << 32 | (uint64_t)WAKE_SGI << 24 |
                         (a >> 4 & 0xf) << 44 | (a >> 8 & 0xff) << 16 | 1u << (a & 0xf);
    __asm__ volatile("msr " ICC_SGI1R_EL1 ", %0; isb" :: "r"(sgi));
  } else {
    mmio_write32(machine.gicd + GICD_SGIR, (uint32_t)gicv2_target[i] << 16 | WAKE_SGI);
  }
}

/* Acknowledges the pending interrupt, if any, and ends it. */
static void gic_acknowledge(void) {
  if (machine.gic_version == 3) {
    uint64_t iar;
    __asm__ volatile("mrs %0, " ICC_IAR1_EL1 : "=r"(iar));
    if ((iar & 0xffffff) < 1020) __asm__ volatile("msr " ICC_EOIR1_EL1 ", %0; isb" :: "r"(iar));
  } else {
    uint32_t iar = mmio_read32(machine.gicc + GICC_IAR);
    if ((iar & 0x3ff) < 1020) mmio_write32(machine.gicc + GICC_EOIR, iar);
  }
}

/* Sleeps until an interrupt is pending (an SGI from core_signal, or on the boot core the
   UART or the timer), then acknowledges it. */
void core_sleep(void) {
  __asm__ volatile("dsb sy; wfi" ::: "memory");
  gic_acknowledge();
}

void idle_until_event(uint32_t max_ms) {
  if (!(mmio_read32(machine.uart + UART_FR) & FR_RXFE)) return;
  uint64_t tval = timer_freq() * max_ms / 1000;
  __asm__ volatile("msr cntv_tval_el0, %0; msr cntv_ctl_el0, %1; isb" :: "r"(tval), "r"(1ULL));
  __asm__ volatile("dsb sy; wfi");
  __asm__ volatile("msr cntv_ctl_el0, %0; isb" :: "r"(2ULL)); /* disable + mask */
  gic_acknowledge();
}

/* ---- PSCI, through hvc or smc as the device tree says ---- */
/* A PSCI call with up to three arguments; returns x0 (0 or a negative PSCI error). */
int64_t psci_call3(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) {
  register uint64_t x0 __asm__("x0") = fn;
  register uint64_t x1 __asm__("x1") = a1;
  register uint64_t x2 __asm__("x2") = a2;
  register uint64_t x3 __asm__("x3") = a3;
  if (machine.psci_smc) __asm__ volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
  else __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
  return (int64_t)x0;
}

void psci_system_off(void) { psci_call3(0x84000008, 0, 0, 0); halt(); }
void psci_system_reset(void) { psci_call3(0x84000009, 0, 0, 0); halt(); }

void halt(void) {
  for (;;) __asm__ volatile("wfi");
}
