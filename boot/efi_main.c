/* EFI entry: take RAM for WebAssembly and a stack, leave boot services, install the
   exception vectors and our own page tables, and start the kernel. Everything after this
   is AssemblyScript. */
#include <string.h>
#include "efi.h"
#include "hw.h"
#include "mmu.h"
#include "runtime.h"
#include "smp.h"
#include "devtree.h"

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

#define MAX_LINEAR_BYTES (4ULL << 30) /* wasm32 addresses no more */
#define BLOCK_2M (2ULL << 20)

static UINTN memory_map_size, memory_desc_size; /* of the final map, the one ExitBootServices took */
static uint64_t linear_phys, linear_bytes;
static void* table_pool;
static uint64_t table_pool_bytes;

/* Finds the largest free RAM block and claims it: linear memory from its first 2 MiB
   boundary (so that the WebAssembly window maps it with 2 MiB blocks, mmu.c), and right
   after it the pool for the kernel's page tables. */
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
  uint64_t start = (best_start + BLOCK_2M - 1) & ~(BLOCK_2M - 1);
  uint64_t end = best_start + best_pages * EFI_PAGE;
  uint64_t avail = end > start ? end - start : 0;
  uint64_t pool = mmu_pool_bytes(avail < MAX_LINEAR_BYTES ? avail : MAX_LINEAR_BYTES);
  if (avail < pool + (1ULL << 20)) fail("finding RAM for WebAssembly", 0);
  /* Whole WebAssembly pages (64 KiB). */
  uint64_t bytes = (avail - pool) & ~0xffffULL;
  if (bytes > MAX_LINEAR_BYTES) bytes = MAX_LINEAR_BYTES;
  EFI_PHYSICAL_ADDRESS addr = start;
  s = bs->AllocatePages(AllocateAddress, EfiLoaderData, (bytes + pool) / EFI_PAGE, &addr);
  if (s != EFI_SUCCESS) fail("AllocatePages (linear memory)", s);
  linear_phys = addr;
  linear_bytes = bytes;
  table_pool = (void*)(uintptr_t)(addr + bytes);
  table_pool_bytes = pool;
}

static void exit_boot_services(EFI_HANDLE image, EFI_BOOT_SERVICES* bs) {
  for (int attempt = 0; attempt < 4; attempt++) {
    UINTN size = sizeof memory_map, key, desc_size;
    uint32_t desc_version;
    EFI_STATUS s = bs->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR*)memory_map, &key, &desc_size, &desc_version);
    if (s != EFI_SUCCESS) fail("GetMemoryMap", s);
    if (bs->ExitBootServices(image, key) == EFI_SUCCESS) {
      memory_map_size = size;
      memory_desc_size = desc_size;
      return;
    }
  }
  fail("ExitBootServices", 0);
}

/* Replaces the firmware's translation tables by the kernel's (mmu.c): every RAM range of
   the final memory map identity-mapped (neighbours joined, so that large blocks cover
   them), the devices, and the WebAssembly window, mapped as linear memory grows. */
static void start_mmu(void) {
  mmu_init(table_pool, table_pool_bytes, linear_phys);
  uint64_t start = 0, end = 0;
  for (UINTN off = 0; off + memory_desc_size <= memory_map_size; off += memory_desc_size) {
    EFI_MEMORY_DESCRIPTOR* d = (EFI_MEMORY_DESCRIPTOR*)(memory_map + off);
    if (!(d->Attribute & EFI_MEMORY_WB) || d->Type == EfiMemoryMappedIO || d->Type == EfiMemoryMappedIOPortSpace) continue;
    uint64_t s = d->PhysicalStart, e = s + d->NumberOfPages * EFI_PAGE;
    if (s == end) { end = e; continue; }
    if (end > start) mmu_map_ram(start, end - start);
    start = s;
    end = e;
  }
  if (end > start) mmu_map_ram(start, end - start);
  mmu_enable();
}

static void kernel_entry(void) {
  run_kernel((uint32_t)(timer_ns() / 1000000ULL)); /* ms since power-on */
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  bs->SetWatchdogTimer(0, 0, 0, 0);

  EFI_PHYSICAL_ADDRESS stack = 0, smp_stacks = 0;
  EFI_STATUS s = bs->AllocatePages(AllocateAnyPages, EfiLoaderData, KERNEL_STACK_BYTES / EFI_PAGE, &stack);
  if (s != EFI_SUCCESS) fail("AllocatePages (stack)", s);
  s = bs->AllocatePages(AllocateAnyPages, EfiLoaderData, (SMP_MAX_CPUS - 1) * SMP_STACK_BYTES / EFI_PAGE, &smp_stacks);
  if (s != EFI_SUCCESS) fail("AllocatePages (secondary cores' stacks)", s);
  claim_linear_memory(bs);
  devtree_from_efi_tables(st->NumberOfTableEntries, st->ConfigurationTable);
  exit_boot_services(image, bs);

  uint64_t el;
  __asm__ volatile("mrs %0, CurrentEL" : "=r"(el));
  if (((el >> 2) & 3) != 1) { uart_puts("FATAL: SIS expects to run at EL1\n"); halt(); }
  __asm__ volatile("msr vbar_el1, %0; isb" :: "r"(exception_vectors));
  start_mmu();
  runtime_init(linear_phys, linear_bytes);
  uart_init();
  irq_init();
  smp_start(smp_stacks);
  call_on_stack(kernel_entry, (void*)(uintptr_t)(stack + KERNEL_STACK_BYTES));
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
  uart_puts("\nSystem halted.\n");
  halt();
}
