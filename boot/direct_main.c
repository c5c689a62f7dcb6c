/* Entry of the Linux-style Image (image_head.S): a loader such as QEMU's -kernel starts it
   at EL1 with the MMU and caches off and x0 = the device tree. There is no firmware to ask
   for memory: RAM is what the tree's memory nodes say, less the Image itself, the tree and
   the tree's reserved ranges. The stacks go at the top of the smallest free range they fit,
   linear memory and the page tables in the largest (start.c boot_place_linear); then the
   shared start sequence runs (start.c boot_kernel). image_head.S has turned on the MMU and
   caches with a boot map of its own, so this is ordinary C. */
#include "devtree.h"
#include "hw.h"
#include "machine.h"
#include "start.h"

extern char _image_start[], _image_end[]; /* image.ld: the Image, its .bss included */

#define MAX_RANGES 16
#define PAGE 4096ULL

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

static void add_ram(uint64_t base, uint64_t size) {
  uint64_t start = (base + PAGE - 1) & ~(PAGE - 1), end = (base + size) & ~(PAGE - 1); /* whole pages */
  if (end <= start) return;
  if (ram_n == MAX_RANGES) fail("too many RAM ranges in the device tree:", ram_n);
  ram[2 * ram_n] = start;
  ram[2 * ram_n + 1] = end - start;
  ram_n++;
}

/* RAM: the reg of every top-level node whose device_type is "memory" (as kernel/devicetree.ts
   reads it). */
static int add_memory_node(const struct dt_node* n, void* ctx) {
  (void)ctx;
  uint64_t base, size;
  if (n->depth == 1 && dt_string_is(n, "device_type", "memory"))
    for (uint32_t i = 0; dt_reg(n, i, &base, &size); i++) add_ram(base, size);
  return 1;
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
static void reserve_from_header(const uint8_t* t, uint32_t size) {
  for (uint32_t off = dt_be32(t + 16); off <= size && size - off >= 16; off += 16) {
    uint64_t base = dt_be64(t + off), bytes = dt_be64(t + off + 8);
    if (!base && !bytes) return;
    reserve(base, bytes);
  }
}

/* /reserved-memory's children with a reg: firmware's regions (e.g. a secure monitor's). */
static int reserve_node(const struct dt_node* n, void* ctx) {
  (void)ctx;
  uint64_t base, size;
  if (n->depth == 2 && dt_name_is(n->parent, "reserved-memory"))
    for (uint32_t i = 0; dt_reg(n, i, &base, &size); i++) reserve(base, size);
  return 1;
}

void direct_main(const void* dtb) {
  devtree_keep(dtb);
  machine_from_devtree(cpu_affinity());
  uart_start();
  const uint8_t* t = devtree_data();
  uint32_t size = devtree_size();
  if (!size) fail("no device tree (or one over 256 KiB) at x0 =", (uint64_t)(uintptr_t)dtb);
  dt_each_node(add_memory_node, 0);
  if (!ram_n) fail("no memory node in the device tree at", (uint64_t)(uintptr_t)dtb);

  for (uint32_t i = 0; i < 2 * ram_n; i++) free_ram[i] = ram[i];
  free_n = ram_n;
  reserve((uint64_t)(uintptr_t)_image_start, (uint64_t)(_image_end - _image_start));
  reserve((uint64_t)(uintptr_t)dtb, dt_be32(t + 4)); /* totalsize: the loader's whole blob */
  reserve_from_header(t, size);
  dt_each_node(reserve_node, 0);

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
