/* The kernel's translation tables (EL1 stage 1, 4 KiB granule, 48-bit virtual addresses).

   EDK2 leaves the MMU on with its own identity map (and so does image_head.S on the direct
   path, with a boot map of 1 GiB blocks); we install ours:
   - an identity map of RAM (Normal write-back) and of the device tree's device registers
     (machine.c; Device-nGnRnE, never executable), so the shim, its stack and DMA buffers
     stay where they are;
   - the WebAssembly window at MMU_WASM_WINDOW, mapped to the physical block the entry
     (efi_main, direct_main) claimed for linear memory, exactly up to the memory's current size. Everything after
     that, up to the 8 GiB + 64 KiB any wasm2c access can reach, stays unmapped: an access
     beyond the end of linear memory takes a translation fault, which sis_exception turns
     into WebAssembly's out-of-bounds trap. This replaces wasm2c's compare-and-branch
     before every load and store.
   Tables come from a pool the entry set aside after linear memory. Entries only ever go
   from invalid to valid, so no break-before-make or TLB invalidation is needed after the
   switch. */
#include <stdbool.h>
#include <string.h>
#include "hw.h"
#include "machine.h"
#include "mmu.h"

#define PAGE 4096ULL
#define ENTRIES 512

/* Descriptor bits (Arm ARM D8.3). */
#define DESC_VALID (1ULL << 0)
#define DESC_TABLE (1ULL << 1)  /* levels 0-2: points to a table; level 3: a page (not a block) */
#define DESC_ATTR(i) ((uint64_t)(i) << 2)
#define DESC_INNER_SHAREABLE (3ULL << 8)
#define DESC_AF (1ULL << 10)    /* access flag: set, so that no access-flag faults occur */
#define DESC_PXN (1ULL << 53)
#define DESC_UXN (1ULL << 54)   /* AP = 00: EL1 read/write, EL0 nothing */
#define DESC_ADDR 0x0000fffffffff000ULL

/* MAIR_EL1 slots (ours: written while the MMU is off, see mmu_switch in arch.S). */
#define ATTR_NORMAL_WB 0 /* 0xff: inner and outer write-back, read/write-allocate */
#define ATTR_DEVICE 1    /* 0x00: Device-nGnRnE */
#define MAIR_VALUE 0x00ffULL

#define NORMAL (DESC_ATTR(ATTR_NORMAL_WB) | DESC_INNER_SHAREABLE | DESC_AF | DESC_UXN)
#define DEVICE (DESC_ATTR(ATTR_DEVICE) | DESC_AF | DESC_PXN | DESC_UXN)

#define IDENTITY_TABLES 64 /* generous: RAM is one or a few ranges */

void mmu_switch(uint64_t mair, uint64_t tcr, uint64_t ttbr0, uint64_t sctlr); /* arch.S */

static uint64_t* pool;
static uint64_t pool_tables, pool_used;
static uint64_t* root; /* level 0 */
static uint64_t wasm_phys, wasm_mapped;

static void fatal(const char* what, uint64_t addr) {
  uart_puts("FATAL: page tables: ");
  uart_puts(what);
  uart_puts(" at ");
  uart_put_hex(addr);
  uart_puts("\n");
  halt();
}

/* Level 0 root, identity tables, and for the window one level-1 table, a level-2 table
   per GiB and, at worst, a level-3 table per 2 MiB: each grow can leave its last 2 MiB
   chunk partly mapped, and such a chunk keeps its page table. */
uint64_t mmu_pool_bytes(uint64_t wasm_bytes) {
  uint64_t tables = 1 + IDENTITY_TABLES + 1 + (wasm_bytes + (1ULL << 30) - 1) / (1ULL << 30) +
                    (wasm_bytes + (2ULL << 20) - 1) / (2ULL << 20);
  return tables * PAGE;
}

static uint64_t* new_table(uint64_t va) {
  if (pool_used == pool_tables) fatal("pool exhausted mapping", va);
  uint64_t* t = pool + ENTRIES * pool_used++;
  memset(t, 0, PAGE);
  return t;
}

/* Maps [va, va + bytes) to [pa, pa + bytes) (all 4 KiB aligned) with the largest blocks the
   alignment allows: 1 GiB and 2 MiB blocks, 4 KiB pages for the rest. Refuses to replace a
   valid entry: an overlap is a bug, and replacing live entries would need break-before-make. */
static void map(uint64_t va, uint64_t pa, uint64_t bytes, uint64_t attrs) {
  while (bytes) {
    uint64_t* table = root;
    for (int level = 0;; level++) {
      uint64_t span = 1ULL << (39 - 9 * level);
      uint64_t* e = &table[(va >> (39 - 9 * level)) & (ENTRIES - 1)];
      bool block_fits = level >= 1 && ((va | pa) & (span - 1)) == 0 && bytes >= span;
      if (level == 3 || (block_fits && *e == 0)) {
        if (*e) fatal("overlapping mappings", va);
        *e = pa | attrs | DESC_VALID | (level == 3 ? DESC_TABLE : 0);
        va += span;
        pa += span;
        bytes -= span;
        break;
      }
      if (*e == 0) *e = (uint64_t)(uintptr_t)new_table(va) | DESC_TABLE | DESC_VALID;
      else if (!(*e & DESC_TABLE)) fatal("overlapping mappings", va);
      table = (uint64_t*)(uintptr_t)(*e & DESC_ADDR);
    }
  }
}

void mmu_init(void* p, uint64_t pool_bytes, uint64_t wasm_phys_base) {
  pool = p;
  pool_tables = pool_bytes / PAGE;
  pool_used = 0;
  root = new_table(0);
  wasm_phys = wasm_phys_base;
  wasm_mapped = 0;
}

void mmu_map_ram(uint64_t phys, uint64_t bytes) {
  if (phys + bytes > MMU_WASM_WINDOW) fatal("RAM reaches the WebAssembly window", phys);
  map(phys, phys, bytes, NORMAL);
}

#define READ_SYSREG(name) ({ uint64_t v_; __asm__ volatile("mrs %0, " #name : "=r"(v_)); v_; })

void mmu_enable(void) {
  for (uint32_t i = 0; i < machine.device_ranges; i++) {
    uint64_t base = machine.device[2 * i], bytes = machine.device[2 * i + 1];
    if (base + bytes > MMU_WASM_WINDOW) { uart_puts("shim: device registers beyond 1 TiB left unmapped: "); uart_put_hex(base); uart_puts("\n"); continue; }
    map(base, base, bytes, DEVICE);
  }

  uint64_t mmfr0 = READ_SYSREG(id_aa64mmfr0_el1);
  if (((mmfr0 >> 28) & 0xf) == 0xf) { uart_puts("FATAL: the CPU has no 4 KiB translation granule\n"); halt(); }
  uint64_t ips = mmfr0 & 0xf; /* PARange: the physical address size the tables may name */
  if (ips > 5) ips = 5;       /* 52-bit needs FEAT_LPA2 with 4 KiB pages: 48 is plenty here */

#ifdef SIS_MMU_DEBUG /* build with -DSIS_MMU_DEBUG to see what the firmware left */
  uart_puts("mmu: firmware SCTLR="); uart_put_hex(READ_SYSREG(sctlr_el1));
  uart_puts(" TCR="); uart_put_hex(READ_SYSREG(tcr_el1));
  uart_puts(" MAIR="); uart_put_hex(READ_SYSREG(mair_el1));
  uart_puts(" TTBR0="); uart_put_hex(READ_SYSREG(ttbr0_el1));
  uart_puts(" MMFR0="); uart_put_hex(mmfr0);
  uart_puts(" SPSel="); uart_put_hex(READ_SYSREG(spsel));
  uart_puts("\nmmu: tables used "); uart_put_dec(pool_used); uart_puts(" of "); uart_put_dec(pool_tables);
  uart_puts("\n");
#endif

  uint64_t tcr = (64 - 48)                /* T0SZ: 48-bit virtual addresses, walks start at level 0 */
               | (1ULL << 8) | (1ULL << 10) /* IRGN0, ORGN0: walks read the tables write-back cached */
               | (3ULL << 12)             /* SH0: inner shareable */
               | (0ULL << 14)             /* TG0: 4 KiB granule */
               | (1ULL << 23)             /* EPD1: no walks through TTBR1 (nothing lives up there) */
               | (2ULL << 30)             /* TG1: 4 KiB (unused, but a valid encoding) */
               | (ips << 32);             /* IPS */
  uint64_t sctlr = READ_SYSREG(sctlr_el1);
  sctlr |= (1ULL << 0) | (1ULL << 2) | (1ULL << 12); /* M, C, I */
  sctlr &= ~((1ULL << 1) | (1ULL << 19));            /* A: WebAssembly accesses may be unaligned; WXN: RAM is RW+X */
  mmu_switch(MAIR_VALUE, tcr, (uint64_t)(uintptr_t)root, sctlr);
}

void mmu_wasm_map(uint64_t bytes) {
  if (bytes <= wasm_mapped) return;
  if (bytes > (4ULL << 30)) fatal("linear memory beyond 4 GiB", bytes);
  map(MMU_WASM_WINDOW + wasm_mapped, wasm_phys + wasm_mapped, bytes - wasm_mapped,
      NORMAL | DESC_PXN);
  wasm_mapped = bytes;
  /* New entries replace invalid ones, which the TLB never holds: it is enough that the
     walker sees the stores before the next access to the window. */
  __asm__ volatile("dsb ishst; isb" ::: "memory");
}

int mmu_in_wasm_window(uint64_t va) {
  return va >= MMU_WASM_WINDOW && va - MMU_WASM_WINDOW < MMU_WASM_WINDOW_BYTES;
}
