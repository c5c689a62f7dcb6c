/* EFI entry: take RAM for WebAssembly and a stack, leave boot services, install the
   exception vectors and start the kernel. Everything after this is AssemblyScript. */
#include <string.h>
#include "efi.h"
#include "hw.h"
#include "runtime.h"

#define EFI_PAGE 4096ULL
#define KERNEL_STACK_BYTES (32ULL << 20)

extern char exception_vectors[];
void call_on_stack(void (*fn)(void), void* stack_top) __attribute__((noreturn));

static uint8_t memory_map[64 * 1024] __attribute__((aligned(16)));

static void fail(const char* what, EFI_STATUS s) {
  uart_puts("FATAL: ");
  uart_puts(what);
  uart_puts(" failed, status ");
  uart_put_hex(s);
  uart_puts("\n");
  halt();
}

/* Finds the largest free RAM block and claims it for WebAssembly linear memory. */
static void claim_linear_memory(EFI_BOOT_SERVICES* bs) {
  UINTN size = sizeof memory_map, key, desc_size;
  uint32_t desc_version;
  EFI_STATUS s = bs->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR*)memory_map, &key, &desc_size, &desc_version);
  if (s != EFI_SUCCESS) fail("GetMemoryMap", s);
  uint64_t best_start = 0, best_pages = 0;
  for (UINTN off = 0; off + desc_size <= size; off += desc_size) {
    EFI_MEMORY_DESCRIPTOR* d = (EFI_MEMORY_DESCRIPTOR*)(memory_map + off);
    if (d->Type == EfiConventionalMemory && d->NumberOfPages > best_pages) {
      best_start = d->PhysicalStart;
      best_pages = d->NumberOfPages;
    }
  }
  /* Start on a 64 KiB boundary so that WebAssembly pages are physical-page aligned. */
  uint64_t aligned = (best_start + 0xffff) & ~0xffffULL;
  uint64_t pages = best_pages - (aligned - best_start) / EFI_PAGE;
  pages &= ~15ULL;
  EFI_PHYSICAL_ADDRESS addr = aligned;
  s = bs->AllocatePages(AllocateAddress, EfiLoaderData, pages, &addr);
  if (s != EFI_SUCCESS) fail("AllocatePages (linear memory)", s);
  runtime_set_memory((void*)(uintptr_t)addr, pages * EFI_PAGE);
}

static void exit_boot_services(EFI_HANDLE image, EFI_BOOT_SERVICES* bs) {
  for (int attempt = 0; attempt < 4; attempt++) {
    UINTN size = sizeof memory_map, key, desc_size;
    uint32_t desc_version;
    EFI_STATUS s = bs->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR*)memory_map, &key, &desc_size, &desc_version);
    if (s != EFI_SUCCESS) fail("GetMemoryMap", s);
    if (bs->ExitBootServices(image, key) == EFI_SUCCESS) return;
  }
  fail("ExitBootServices", 0);
}

static void kernel_entry(void) {
  run_kernel((uint32_t)(timer_ns() / 1000000ULL)); /* ms since power-on */
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  bs->SetWatchdogTimer(0, 0, 0, 0);

  EFI_PHYSICAL_ADDRESS stack = 0;
  EFI_STATUS s = bs->AllocatePages(AllocateAnyPages, EfiLoaderData, KERNEL_STACK_BYTES / EFI_PAGE, &stack);
  if (s != EFI_SUCCESS) fail("AllocatePages (stack)", s);
  claim_linear_memory(bs);
  exit_boot_services(image, bs);

  uint64_t el;
  __asm__ volatile("mrs %0, CurrentEL" : "=r"(el));
  if (((el >> 2) & 3) != 1) { uart_puts("FATAL: SIS expects to run at EL1\n"); halt(); }
  __asm__ volatile("msr vbar_el1, %0; isb" :: "r"(exception_vectors));
  uart_init();
  irq_init();
  call_on_stack(kernel_entry, (void*)(uintptr_t)(stack + KERNEL_STACK_BYTES));
}

/* ---- faults outside WebAssembly: report and stop ---- */

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
  static const char* kinds[4] = {"synchronous", "IRQ", "FIQ", "SError"};
  uart_puts("\n*** CPU exception outside WebAssembly: ");
  uart_puts(kinds[index & 3]);
  uart_puts(", ");
  uart_puts(exception_class((uint32_t)(esr >> 26) & 0x3f));
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
  uart_puts("\nSystem halted.\n");
  halt();
}
