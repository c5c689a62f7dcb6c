/* EFI entry: take RAM for WebAssembly and the stacks, keep the device tree, leave boot
   services, and hand over to the shared start sequence (start.c) with the RAM of the final
   memory map. Everything after that is AssemblyScript. */
#include "efi.h"
#include "hw.h"
#include "start.h"
#include "devtree.h"
#include "machine.h"

#define EFI_PAGE 4096ULL
#define MAX_RAM_RANGES 32

static uint8_t memory_map[64 * 1024] __attribute__((aligned(16)));
static UINTN memory_map_size, memory_desc_size; /* of the final map, the one ExitBootServices took */
static uint64_t ram[2 * MAX_RAM_RANGES];

static void fail(const char* what, EFI_STATUS s) {
  uart_puts("FATAL: ");
  uart_puts(what);
  uart_puts(" failed, status ");
  uart_put_hex(s);
  uart_puts("\n");
  halt();
}

/* Finds the largest free RAM block and claims linear memory and the page-table pool in it
   (start.c boot_place_linear). */
static void claim_linear_memory(EFI_BOOT_SERVICES* bs, struct boot_memory* m) {
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
  if (!boot_place_linear(best_start, best_start + best_pages * EFI_PAGE, m)) fail("finding RAM for WebAssembly", 0);
  EFI_PHYSICAL_ADDRESS addr = m->linear_phys;
  s = bs->AllocatePages(AllocateAddress, EfiLoaderData, (m->linear_bytes + m->table_pool_bytes) / EFI_PAGE, &addr);
  if (s != EFI_SUCCESS) fail("AllocatePages (linear memory)", s);
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

static uint32_t ram_ranges;

static void add_ram(uint64_t start, uint64_t end) {
  if (end <= start) return;
  if (ram_ranges == MAX_RAM_RANGES) fail("listing RAM (too many ranges in the memory map)", ram_ranges);
  ram[2 * ram_ranges] = start;
  ram[2 * ram_ranges + 1] = end - start;
  ram_ranges++;
}

/* RAM for the kernel's identity map: every write-back range of the final memory map,
   neighbours joined (so that large blocks cover them). */
static void ram_from_memory_map(struct boot_memory* m) {
  uint64_t start = 0, end = 0;
  for (UINTN off = 0; off + memory_desc_size <= memory_map_size; off += memory_desc_size) {
    EFI_MEMORY_DESCRIPTOR* d = (EFI_MEMORY_DESCRIPTOR*)(memory_map + off);
    if (!(d->Attribute & EFI_MEMORY_WB) || d->Type == EfiMemoryMappedIO || d->Type == EfiMemoryMappedIOPortSpace) continue;
    uint64_t s = d->PhysicalStart, e = s + d->NumberOfPages * EFI_PAGE;
    if (s == end) { end = e; continue; }
    add_ram(start, end);
    start = s;
    end = e;
  }
  add_ram(start, end);
  m->ram = ram;
  m->ram_ranges = ram_ranges;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  bs->SetWatchdogTimer(0, 0, 0, 0);

  struct boot_memory m;
  EFI_PHYSICAL_ADDRESS stack = 0, smp_stacks = 0;
  EFI_STATUS s = bs->AllocatePages(AllocateAnyPages, EfiLoaderData, KERNEL_STACK_BYTES / EFI_PAGE, &stack);
  if (s != EFI_SUCCESS) fail("AllocatePages (stack)", s);
  s = bs->AllocatePages(AllocateAnyPages, EfiLoaderData, SMP_STACKS_BYTES / EFI_PAGE, &smp_stacks);
  if (s != EFI_SUCCESS) fail("AllocatePages (secondary cores' stacks)", s);
  m.stack_top = stack + KERNEL_STACK_BYTES;
  m.smp_stacks = smp_stacks;
  claim_linear_memory(bs, &m);
  devtree_from_efi_tables(st->NumberOfTableEntries, st->ConfigurationTable);
  machine_from_devtree(cpu_affinity());
  exit_boot_services(image, bs);
  ram_from_memory_map(&m);
  boot_kernel(&m);
}
