/* The shim's hardware layer: PL011, generic timer, GICv2/GICv3, PSCI (where: machine.h). */
#pragma once
#include <stdint.h>
#include <stddef.h>

void uart_start(void);          /* enables the PL011 when no firmware did (direct boot) */
void uart_init(void);
void uart_putc(char c);
void uart_puts(const char* s);
void uart_write_bytes(const uint8_t* p, size_t n);
void uart_put_hex(uint64_t v);
void uart_put_dec(uint64_t v);
int uart_getc(void);           /* -1 when no byte is waiting */

uint64_t timer_ticks(void);
uint64_t timer_freq(void);
uint64_t timer_ns(void);       /* since power-on (the virtual counter starts with the machine) */

void irq_init(void);
void idle_until_event(uint32_t max_ms); /* wfi until UART input or the timeout */
void irq_init_secondary(uint32_t i);    /* core i's GIC CPU interface (and redistributor) */
void core_signal(uint32_t i);           /* an SGI that ends core i's core_sleep */
void core_sleep(void);                  /* wfi until an interrupt (an SGI) is pending */

int64_t psci_call3(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
void psci_system_off(void) __attribute__((noreturn));
void psci_system_reset(void) __attribute__((noreturn));
void halt(void) __attribute__((noreturn));

/* This core's affinity as the device tree's cpu nodes give it: MPIDR_EL1's Aff3 (bits 32-39)
   and Aff2..Aff0 (bits 0-23). */
static inline uint64_t cpu_affinity(void) {
  uint64_t m;
  __asm__ volatile("mrs %0, mpidr_el1" : "=r"(m));
  return m & 0xff00ffffffULL;
}

static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t*)(uintptr_t)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t*)(uintptr_t)addr = v; }
