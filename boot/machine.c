/* What the device tree says about the hardware the shim drives (machine.h). */
#include "devtree.h"
#include "hw.h"
#include "machine.h"

#define PAGE 4096ULL

/* QEMU's virt machine (hw/arm/virt.c's memory map): what is used where the tree is silent. */
#define QEMU_VIRT {                                                                              \
  .uart = 0x09000000, .uart_intid = 33,                                                         \
  .gic_version = 2, .gicd = 0x08000000, .gicc = 0x08010000, .gicr = 0x080a0000, .gicr_bytes = 0xf60000,\
  .timer_intid = 27, .psci_smc = 0,                                                             \
  .cpus = 1, .mpidr = {0},                                                                      \
  .device_ranges = 1, .device = {0, 0x40000000}, /* everything below RAM */                     \
}

static const struct machine qemu_virt = QEMU_VIRT;
struct machine machine = QEMU_VIRT; /* until machine_from_devtree */

/* Adds [base, base + size) to the device ranges, page-rounded; ranges that touch merge
   (virtio-mmio slots share pages, and a page can be mapped only once). */
static void add_device(uint64_t base, uint64_t size) {
  uint64_t lo = base & ~(PAGE - 1), hi = (base + size + PAGE - 1) & ~(PAGE - 1);
  if (!size || hi <= lo) return;
  uint64_t* d = machine.device;
  for (uint32_t i = 0; i < machine.device_ranges; i++) {
    uint64_t s = d[2 * i], e = s + d[2 * i + 1];
    if (hi < s || lo > e) continue;
    /* take range i out and add the union again: it may now touch others */
    lo = lo < s ? lo : s;
    hi = hi > e ? hi : e;
    machine.device_ranges--;
    d[2 * i] = d[2 * machine.device_ranges];
    d[2 * i + 1] = d[2 * machine.device_ranges + 1];
    add_device(lo, hi - lo);
    return;
  }
  if (machine.device_ranges == MACHINE_MAX_DEVICE_RANGES) {
    uart_puts("shim: too many device ranges in the device tree; left out: "); uart_put_hex(base); uart_puts("\n");
    return;
  }
  d[2 * machine.device_ranges] = lo;
  d[2 * machine.device_ranges + 1] = hi - lo;
  machine.device_ranges++;
}

struct found { uint32_t said; uint64_t boot_mpidr; };

static int visit(const struct dt_node* n, void* ctx) {
  struct found* f = ctx;
  uint64_t base, size, base2, size2;
  uint32_t intid;
  if (n->depth == 1 && !dt_string_is(n, "device_type", "memory")) {
    /* a device on the root bus: its registers are physical addresses (a bus below the root
       would need its ranges translated; QEMU virt has none). Disabled ones too: UEFI marks
       the PL031 disabled for the OS, and the kernel still reads the clock there. */
    for (uint32_t i = 0; dt_reg(n, i, &base, &size); i++) add_device(base, size);
  }
  if (!(f->said & MACHINE_UART) && dt_is_compatible(n, "arm,pl011") && dt_reg(n, 0, &base, &size)) {
    machine.uart = base;
    if (dt_gic_interrupt(n, 0, &intid)) machine.uart_intid = intid;
    f->said |= MACHINE_UART;
  }
  if (!(f->said & MACHINE_GIC) && dt_reg(n, 0, &base, &size) && dt_reg(n, 1, &base2, &size2)) {
    if (dt_is_compatible(n, "arm,gic-v3")) {
      machine.gic_version = 3;
      machine.gicd = base;
      machine.gicr = base2;
      machine.gicr_bytes = size2;
      f->said |= MACHINE_GIC;
    } else if (dt_is_compatible(n, "arm,cortex-a15-gic") || dt_is_compatible(n, "arm,gic-400") ||
               dt_is_compatible(n, "arm,cortex-a9-gic")) {
      machine.gic_version = 2;
      machine.gicd = base;
      machine.gicc = base2;
      f->said |= MACHINE_GIC;
    }
  }
  if (!(f->said & MACHINE_TIMER) && dt_is_compatible(n, "arm,armv8-timer") && dt_gic_interrupt(n, 2, &intid)) {
    machine.timer_intid = intid; /* entries: secure, non-secure physical, virtual, hypervisor */
    f->said |= MACHINE_TIMER;
  }
  if (!(f->said & MACHINE_PSCI) && n->depth == 1 && (dt_is_compatible(n, "arm,psci-0.2") || dt_is_compatible(n, "arm,psci-1.0"))) {
    if (dt_string_is(n, "method", "smc")) machine.psci_smc = 1;
    else if (dt_string_is(n, "method", "hvc")) machine.psci_smc = 0;
    else return 1;
    f->said |= MACHINE_PSCI;
  }
  if (n->depth == 2 && dt_string_is(n, "device_type", "cpu") && !dt_string_is(n, "status", "disabled") &&
      dt_reg(n, 0, &base, &size)) {
    f->said |= MACHINE_CPUS;
    machine.cpus_listed++;
    if (base == f->boot_mpidr) return 1; /* already first */
    if (machine.cpus < SMP_MAX_CPUS) machine.mpidr[machine.cpus++] = base;
  }
  return 1;
}

void machine_from_devtree(uint64_t boot_mpidr) {
  struct found f = { .said = 0, .boot_mpidr = boot_mpidr };
  machine = qemu_virt;
  machine.mpidr[0] = boot_mpidr;
  if (!devtree_size()) { machine.defaulted = MACHINE_NO_TREE; return; }
  machine.device_ranges = 0;
  dt_each_node(visit, &f);
  if (!machine.device_ranges) add_device(0, 0x40000000);
  machine.defaulted = ~f.said & (MACHINE_UART | MACHINE_GIC | MACHINE_TIMER | MACHINE_PSCI | MACHINE_CPUS);
}

int machine_is_device(uint64_t addr, uint64_t bytes) {
  for (uint32_t i = 0; i < machine.device_ranges; i++) {
    uint64_t s = machine.device[2 * i], n = machine.device[2 * i + 1];
    if (addr >= s && addr - s <= n && bytes <= n - (addr - s)) return 1;
  }
  return 0;
}

void machine_report(void) {
  const uint32_t d = machine.defaulted;
  if (d & MACHINE_NO_TREE) uart_puts("shim: no device tree: QEMU virt's hardware assumed (PL011, GICv2, PSCI by hvc, one core)\n");
  if (d & MACHINE_UART) { uart_puts("shim: the device tree names no PL011 UART; using "); uart_put_hex(machine.uart); uart_puts("\n"); }
  if (d & MACHINE_GIC) uart_puts("shim: the device tree names no GICv2 or GICv3; assuming QEMU virt's GICv2\n");
  if (d & MACHINE_TIMER) uart_puts("shim: the device tree has no arm,armv8-timer; assuming the virtual timer's PPI 27\n");
  if (d & MACHINE_PSCI) uart_puts("shim: the device tree has no PSCI 0.2+ node; assuming hvc\n");
  if (d & MACHINE_CPUS) uart_puts("shim: the device tree lists no CPUs; running on the boot core only\n");
  if (machine.cpus_listed > SMP_MAX_CPUS) {
    uart_puts("shim: the device tree lists "); uart_put_dec(machine.cpus_listed);
    uart_puts(" CPUs; SIS uses at most "); uart_put_dec(SMP_MAX_CPUS); uart_puts("\n");
  }
}
