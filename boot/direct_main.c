/* Entry of the Linux-style Image (image_head.S): a loader such as QEMU's -kernel starts it
   at EL1 with the MMU and caches off and x0 = the device tree. There is no firmware to ask
   for memory: RAM is what the tree's memory nodes say, less the Image itself, the tree and
   the tree's reserved ranges. The stacks go at the top of the smallest free range they fit,
   linear memory and the page tables in the largest (start.c boot_place_linear); then the
   shared start sequence runs (start.c boot_kernel). image_head.S has turned on the MMU and
   caches with a boot map of its own, so this is ordinary C. */
#include "devtree.h"
#include "hw.h"
#include "start.h"

extern char _image_start[], _image_end[]; /* image.ld: the Image, its .bss included */

#define MAX_RANGES 16
#define PAGE 4096ULL

/* Flattened device tree structure tokens (devicetree specification, 5.4). */
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4

static uint64_t ram[2 * MAX_RANGES];   /* (base, size) pairs */
static uint64_t free_ram[2 * MAX_RANGES];
static uint32_t ram_n, free_n;

static void fail(const char* what, uint64_t v) {
  uart_puts("FATAL: direct boot: ");
  uart_puts(what);
  uart_puts(" ");
  uart_put_hex(v);
  uart_puts("\n");
  halt();
}

static uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t be64(const uint8_t* p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* The string at p (at most n bytes) is want. */
static int string_is(const uint8_t* p, uint32_t n, const char* want) {
  for (uint32_t i = 0;; i++) {
    if (i == n || p[i] != (uint8_t)want[i]) return 0;
    if (!want[i]) return 1;
  }
}

static void add_ram(uint64_t base, uint64_t size) {
  uint64_t start = (base + PAGE - 1) & ~(PAGE - 1), end = (base + size) & ~(PAGE - 1); /* whole pages */
  if (end <= start) return;
  if (ram_n == MAX_RANGES) fail("too many RAM ranges in the device tree:", ram_n);
  ram[2 * ram_n] = start;
  ram[2 * ram_n + 1] = end - start;
  ram_n++;
}

/* RAM: the reg of every top-level node whose device_type is "memory" (as kernel/devicetree.ts
   reads it), in the root's #address-cells and #size-cells. Reads the kept copy (devtree.c),
   every offset checked against its size. */
static void ram_from_tree(const uint8_t* t, uint32_t size) {
  uint32_t off = be32(t + 8), end = off + be32(t + 36); /* off_dt_struct, size_dt_struct */
  uint32_t strings_off = be32(t + 12), strings_size = be32(t + 32);
  if (end < off || end > size || strings_off > size || strings_size > size - strings_off) fail("damaged device tree, size", size);
  const uint8_t* strings = t + strings_off;
  uint32_t depth = 0, address_cells = 2, size_cells = 1; /* the specification's defaults */
  const uint8_t* reg = 0;
  uint32_t reg_len = 0;
  int memory = 0;
  while (off + 4 <= end) {
    uint32_t token = be32(t + off);
    off += 4;
    if (token == FDT_BEGIN_NODE) {
      while (off < end && t[off]) off++; /* the node's name */
      off = (off + 1 + 3) & ~3u;
      if (++depth == 2) { reg = 0; memory = 0; }
    } else if (token == FDT_END_NODE) {
      if (depth == 2 && memory && reg) {
        if ((address_cells != 1 && address_cells != 2) || (size_cells != 1 && size_cells != 2))
          fail("unusual #address-cells/#size-cells in the device tree:", address_cells << 8 | size_cells);
        uint32_t entry = 4 * (address_cells + size_cells);
        for (uint32_t i = 0; i + entry <= reg_len; i += entry) {
          uint64_t base = address_cells == 2 ? be64(reg + i) : be32(reg + i);
          uint64_t bytes = size_cells == 2 ? be64(reg + i + 4 * address_cells) : be32(reg + i + 4 * address_cells);
          add_ram(base, bytes);
        }
      }
      if (depth-- <= 1) return;
    } else if (token == FDT_PROP) {
      if (off + 8 > end) break;
      uint32_t len = be32(t + off), nameoff = be32(t + off + 4);
      off += 8;
      if (len > end - off) break;
      const uint8_t* v = t + off;
      const uint8_t* name = nameoff < strings_size ? strings + nameoff : strings;
      uint32_t name_max = nameoff < strings_size ? strings_size - nameoff : 0;
      if (depth == 1 && len == 4 && string_is(name, name_max, "#address-cells")) address_cells = be32(v);
      if (depth == 1 && len == 4 && string_is(name, name_max, "#size-cells")) size_cells = be32(v);
      if (depth == 2 && string_is(name, name_max, "reg")) { reg = v; reg_len = len; }
      if (depth == 2 && string_is(name, name_max, "device_type") && string_is(v, len, "memory")) memory = 1;
      off = (off + len + 3) & ~3u;
    } else if (token != FDT_NOP) {
      break; /* FDT_END or damage */
    }
  }
}

/* Takes [base, base + size) out of the free ranges. */
static void reserve(uint64_t base, uint64_t size) {
  uint64_t lo = base & ~(PAGE - 1), hi = (base + size + PAGE - 1) & ~(PAGE - 1);
  for (uint32_t i = 0; i < free_n; i++) {
    uint64_t s = free_ram[2 * i], e = s + free_ram[2 * i + 1];
    if (hi <= s || lo >= e) continue;
    free_ram[2 * i + 1] = lo > s ? lo - s : 0; /* the part below */
    if (hi < e) {                               /* the part above becomes a range of its own */
      if (free_n == MAX_RANGES) fail("too many reserved ranges, at", base);
      free_ram[2 * free_n] = hi;
      free_ram[2 * free_n + 1] = e - hi;
      free_n++;
    }
  }
}

/* The memory reservation block: (address, size) pairs up to a (0, 0). */
static void reserve_from_tree(const uint8_t* t, uint32_t size) {
  for (uint32_t off = be32(t + 16); off <= size && size - off >= 16; off += 16) {
    uint64_t base = be64(t + off), bytes = be64(t + off + 8);
    if (!base && !bytes) return;
    reserve(base, bytes);
  }
}

void direct_main(const void* dtb) {
  uart_start();
  devtree_keep(dtb);
  const uint8_t* t = devtree_data();
  uint32_t size = devtree_size();
  if (!size) fail("no device tree (or one over 256 KiB) at x0 =", (uint64_t)(uintptr_t)dtb);
  ram_from_tree(t, size);
  if (!ram_n) fail("no memory node in the device tree at", (uint64_t)(uintptr_t)dtb);

  for (uint32_t i = 0; i < 2 * ram_n; i++) free_ram[i] = ram[i];
  free_n = ram_n;
  reserve((uint64_t)(uintptr_t)_image_start, (uint64_t)(_image_end - _image_start));
  reserve((uint64_t)(uintptr_t)dtb, be32(t + 4)); /* totalsize: the loader's whole blob */
  reserve_from_tree(t, size);

  struct boot_memory m;
  m.ram = ram;
  m.ram_ranges = ram_n;
  /* The stacks: the top of the smallest free range that holds them, so that the largest
     stays whole for linear memory. */
  const uint64_t stacks = KERNEL_STACK_BYTES + SMP_STACKS_BYTES;
  int32_t best = -1, largest = -1;
  for (uint32_t i = 0; i < free_n; i++) {
    if (free_ram[2 * i + 1] >= stacks && (best < 0 || free_ram[2 * i + 1] < free_ram[2 * best + 1])) best = (int32_t)i;
  }
  if (best < 0) fail("no free RAM for the stacks, bytes", stacks);
  uint64_t top = free_ram[2 * best] + free_ram[2 * best + 1];
  m.stack_top = top;
  m.smp_stacks = top - stacks;
  free_ram[2 * best + 1] -= stacks;
  for (uint32_t i = 0; i < free_n; i++) {
    if (largest < 0 || free_ram[2 * i + 1] > free_ram[2 * largest + 1]) largest = (int32_t)i;
  }
  if (!boot_place_linear(free_ram[2 * largest], free_ram[2 * largest] + free_ram[2 * largest + 1], &m))
    fail("no free RAM for WebAssembly, largest range bytes", free_ram[2 * largest + 1]);
  boot_kernel(&m);
}
