/* PL011 UART, ARM generic timer, GICv2 (only to wake wfi), PSCI — for QEMU -M virt. */
#include "hw.h"

#define UART0 0x09000000ULL
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_LCR_H 0x2c
#define UART_CR 0x30
#define UART_IMSC 0x38
#define UART_ICR 0x44
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define UART_RX_INTID 33 /* SPI 1 on virt */

#define GICD 0x08000000ULL
#define GICC 0x08010000ULL
#define VTIMER_INTID 27
#define WAKE_SGI 1 /* the SGI one core sends another to end its wfi */

/* With no firmware before us (direct_main.c): 8 data bits, no parity, FIFOs on, then the
   UART, its transmitter and receiver. The baud rate stays as reset: QEMU ignores it. */
void uart_start(void) {
  mmio_write32(UART0 + UART_CR, 0);
  mmio_write32(UART0 + UART_LCR_H, (3u << 5) | (1u << 4)); /* WLEN 8 bits, FEN */
  mmio_write32(UART0 + UART_CR, (1u << 9) | (1u << 8) | 1u); /* RXE, TXE, UARTEN */
}

void uart_init(void) {
  /* The firmware left the PL011 configured; only ask for receive interrupts so that
     wfi wakes when a byte arrives. */
  mmio_write32(UART0 + UART_ICR, 0x7ff);
  mmio_write32(UART0 + UART_IMSC, (1u << 4) | (1u << 6)); /* RX and RX timeout */
}

void uart_putc(char c) {
  while (mmio_read32(UART0 + UART_FR) & FR_TXFF) {}
  mmio_write32(UART0 + UART_DR, (uint8_t)c);
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
  if (mmio_read32(UART0 + UART_FR) & FR_RXFE) return -1;
  return (int)(mmio_read32(UART0 + UART_DR) & 0xff);
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

/* ---- GICv2: interrupts stay masked in PSTATE; a pending one still ends wfi ---- */
static void gic_enable(uint32_t intid) {
  mmio_write32(GICD + 0x100 + 4 * (intid / 32), 1u << (intid % 32));             /* ISENABLER */
  *(volatile uint8_t*)(uintptr_t)(GICD + 0x400 + intid) = 0xa0;                   /* IPRIORITYR */
  if (intid >= 32) *(volatile uint8_t*)(uintptr_t)(GICD + 0x800 + intid) = 1;     /* ITARGETSR: cpu0 */
}

void irq_init(void) {
  __asm__ volatile("msr daifset, #0xf");
  mmio_write32(GICD + 0x000, 1); /* GICD_CTLR */
  gic_enable(UART_RX_INTID);
  gic_enable(VTIMER_INTID);
  mmio_write32(GICD + 0x100, 1u << WAKE_SGI); /* the boot core's wake-up SGI (banked) */
  mmio_write32(GICC + 0x004, 0xff); /* GICC_PMR */
  mmio_write32(GICC + 0x000, 1);    /* GICC_CTLR */
}

/* A secondary core's own CPU interface (GICC is banked per core), so that an SGI ends its wfi. */
void irq_init_secondary(void) {
  __asm__ volatile("msr daifset, #0xf");
  mmio_write32(GICD + 0x100, 1u << WAKE_SGI); /* ISENABLER0 (banked): the wake-up SGI */
  mmio_write32(GICC + 0x004, 0xff);
  mmio_write32(GICC + 0x000, 1);
}

/* Ends core `cpu`'s wfi. The dsb makes every store before it visible to that core first. */
void core_signal(uint32_t cpu) {
  __asm__ volatile("dsb ish" ::: "memory");
  mmio_write32(GICD + 0xf00, (1u << (16 + cpu)) | WAKE_SGI); /* GICD_SGIR: target list, SGI id */
}

/* Sleeps until an interrupt is pending (an SGI from core_signal, or on the boot core the
   UART or the timer), then acknowledges it. */
void core_sleep(void) {
  __asm__ volatile("dsb sy; wfi" ::: "memory");
  uint32_t iar = mmio_read32(GICC + 0x00c);
  if ((iar & 0x3ff) < 1020) mmio_write32(GICC + 0x010, iar);
}

void idle_until_event(uint32_t max_ms) {
  if (!(mmio_read32(UART0 + UART_FR) & FR_RXFE)) return;
  uint64_t tval = timer_freq() * max_ms / 1000;
  __asm__ volatile("msr cntv_tval_el0, %0; msr cntv_ctl_el0, %1; isb" :: "r"(tval), "r"(1ULL));
  __asm__ volatile("dsb sy; wfi");
  __asm__ volatile("msr cntv_ctl_el0, %0; isb" :: "r"(2ULL)); /* disable + mask */
  uint32_t iar = mmio_read32(GICC + 0x00c);                    /* acknowledge, then end */
  if ((iar & 0x3ff) < 1020) mmio_write32(GICC + 0x010, iar);
}

/* ---- PSCI through hvc, the conduit QEMU's virt machine offers at EL1 ---- */
/* A PSCI call with up to three arguments; returns x0 (0 or a negative PSCI error). */
int64_t psci_call3(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) {
  register uint64_t x0 __asm__("x0") = fn;
  register uint64_t x1 __asm__("x1") = a1;
  register uint64_t x2 __asm__("x2") = a2;
  register uint64_t x3 __asm__("x3") = a3;
  __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
  return (int64_t)x0;
}

void psci_system_off(void) { psci_call3(0x84000008, 0, 0, 0); halt(); }
void psci_system_reset(void) { psci_call3(0x84000009, 0, 0, 0); halt(); }

void halt(void) {
  for (;;) __asm__ volatile("wfi");
}
