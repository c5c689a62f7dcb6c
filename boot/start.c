/* The start sequence both entries end with (start.h), and the CPU exception handler. */
#include "backtrace.h"
#include "hw.h"
#include "machine.h"
#include "mmu.h"
#include "runtime.h"
#include "smp.h"
#include "start.h"

extern char exception_vectors[];
void call_on_stack(void (*fn)(void), void* stack_top) __attribute__((noreturn));

#define MAX_LINEAR_BYTES (4ULL << 30) /* wasm32 addresses no more */
#define BLOCK_2M (2ULL << 20)

int boot_place_linear(uint64_t start_, uint64_t end, struct boot_memory* m) {
  uint64_t start = (start_ + BLOCK_2M - 1) & ~(BLOCK_2M - 1);
  uint64_t avail = end > start ? end - start : 0;
  uint64_t pool = mmu_pool_bytes(avail < MAX_LINEAR_BYTES ? avail : MAX_LINEAR_BYTES);
  if (avail < pool + (1ULL << 20)) return 0;
  uint64_t bytes = (avail - pool) & ~0xffffULL; /* whole WebAssembly pages (64 KiB) */
  if (bytes > MAX_LINEAR_BYTES) bytes = MAX_LINEAR_BYTES;
  m->linear_phys = start;
  m->linear_bytes = bytes;
  m->table_pool = (void*)(uintptr_t)(start + bytes);
  m->table_pool_bytes = pool;
  return 1;
}

static void kernel_entry(void) {
  run_kernel((uint32_t)(timer_ns() / 1000000ULL)); /* ms since power-on */
}

void boot_kernel(const struct boot_memory* m) {
  uint64_t el;
  __asm__ volatile("mrs %0, CurrentEL" : "=r"(el));
  if (((el >> 2) & 3) != 1) { uart_puts("FATAL: SIS expects to run at EL1\n"); halt(); }
  __asm__ volatile("msr vbar_el1, %0; isb" :: "r"(exception_vectors));
  backtrace_stacks(m->stack_top - KERNEL_STACK_BYTES, m->stack_top, m->smp_stacks, m->smp_stacks + SMP_STACKS_BYTES);
  mmu_init(m->table_pool, m->table_pool_bytes, m->linear_phys);
  for (uint32_t i = 0; i < m->ram_ranges; i++) mmu_map_ram(m->ram[2 * i], m->ram[2 * i + 1]);
  mmu_enable();
  runtime_init(m->linear_phys, m->linear_bytes);
  uart_init();
  machine_report();
  irq_init();
  smp_start(m->smp_stacks);
  call_on_stack(kernel_entry, (void*)(uintptr_t)m->stack_top);
}

/* ---- CPU exceptions: WebAssembly's out-of-bounds accesses trap, anything else is reported ---- */

static const char* exception_class(uint32_t ec) {
  switch (ec) {
    case 0x00: return "unknown reason";
    case 0x01: return "WFI/WFE trapped";
    case 0x07: return "SIMD/FP access trapped";
    case 0x0e: return "illegal execution state";
    case 0x15: return "SVC";
    case 0x16: return "HVC";
    case 0x18: return "system register access";
    case 0x20: case 0x21: return "instruction abort";
    case 0x22: return "PC alignment fault";
    case 0x24: case 0x25: return "data abort";
    case 0x26: return "SP alignment fault";
    case 0x2c: return "floating-point exception";
    case 0x2f: return "SError";
    case 0x3c: return "BRK instruction";
  }
  return "other";
}

void sis_exception(uint64_t* regs, uint64_t index) {
  uint64_t esr, elr, far, spsr;
  __asm__ volatile("mrs %0, esr_el1; mrs %1, elr_el1; mrs %2, far_el1; mrs %3, spsr_el1"
                   : "=r"(esr), "=r"(elr), "=r"(far), "=r"(spsr));
  /* A translation fault on a data access in the WebAssembly window while WebAssembly runs
     is an out-of-bounds load or store (mmu.c maps the window exactly up to the memory's
     size). Return from the exception into runtime_trap_oob, which traps as wasm2c's bounds
     check would have: the trap unwinds to run_guarded and the shell reports it. */
  uint32_t ec = (uint32_t)(esr >> 26) & 0x3f, dfsc = (uint32_t)esr & 0x3f;
  int far_valid = !(esr & (1u << 10)); /* ISS.FnV */
  if ((index & 3) == 0 && ec == 0x25 && (dfsc & 0x3c) == 0x04 && far_valid &&
      mmu_in_wasm_window(far) && runtime_in_guarded_call()) {
    __asm__ volatile("msr elr_el1, %0" :: "r"(runtime_trap_oob));
    return;
  }
  static const char* kinds[4] = {"synchronous", "IRQ", "FIQ", "SError"};
  uart_puts("\n*** CPU exception (not a WebAssembly trap): ");
  uart_puts(kinds[index & 3]);
  uart_puts(", ");
  uart_puts(exception_class(ec));
  uart_puts("\nESR="); uart_put_hex(esr);
  uart_puts(" ELR="); uart_put_hex(elr);
  uart_puts(" FAR="); uart_put_hex(far);
  uart_puts(" SPSR="); uart_put_hex(spsr);
  for (int i = 0; i < 31; i++) {
    uart_puts(i % 4 == 0 ? "\n" : "  ");
    uart_puts("x");
    uart_put_dec((uint64_t)i);
    uart_puts(i < 10 ? " =" : "=");
    uart_put_hex(regs[i]);
  }
  uart_puts("\n");
  backtrace_print(elr, regs[29]);
  uart_puts("System halted.\n");
  halt();
}
