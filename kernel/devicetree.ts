// The machine as its device tree describes it (kernel/lib/fdt.ts): memory, the console UART,
// the interrupt controller, the timer, PSCI, the CPUs, virtio-mmio slots and the real-time
// clock. The boot log says what was found and what is missing; drivers take their addresses
// from here, falling back to QEMU virt's when there is no tree.

import { device_tree } from "./platform";
import { Fdt } from "./lib/fdt";

/** QEMU's tree is a few KiB; larger ones are read once their size is known. */
const FIRST_TRY: u32 = 64 * 1024;

export class Hardware {
  /** Why there is no description ("" when there is one). */
  error: string = "";
  model: string = "";
  /** RAM as (base, size) pairs. */
  memory: Array<u64> = [];
  uart: u64 = 0;           // PL011
  gicVersion: i32 = 0;     // 2 or 3 (0: none found)
  gicDist: u64 = 0;
  gicCpu: u64 = 0;         // GICv2's CPU interface, or GICv3's redistributors
  psci: string = "";       // "hvc" or "smc"
  cpus: Array<u64> = [];   // each CPU's MPIDR affinity (its reg)
  virtio: Array<u64> = []; // virtio-mmio windows as (base, size) pairs, in address order
  rtc: u64 = 0;            // PL031
  timer: bool = false;     // the architected timer (arm,armv8-timer)
}

let described: Hardware | null = null;

/** The description, read from the tree on first use. */
export function hardware(): Hardware {
  if (described === null) described = describe();
  return described!;
}

function describe(): Hardware {
  const hw = new Hardware();
  let buf = new Uint8Array(FIRST_TRY);
  let n = device_tree(buf.dataStart, FIRST_TRY);
  if (n > FIRST_TRY) { buf = new Uint8Array(n); n = device_tree(buf.dataStart, n); }
  if (n == 0) { hw.error = "no device tree was handed over"; return hw; }
  const r = Fdt.parse(buf.dataStart, n);
  if (r.fdt === null) { hw.error = r.error; return hw; }
  return describeTree(r.fdt!);
}

/** What a parsed tree says (exported for the tests, which give QEMU's own trees). */
export function describeTree(t: Fdt): Hardware {
  const hw = new Hardware();
  hw.model = t.stringOf(0, "model");
  for (let i = 0; i < t.nodes.length; i++) {
    if (t.nodes[i].parent == 0 && t.stringOf(i, "device_type") == "memory") {
      const reg = t.reg(i);
      for (let k = 0; k < reg.length; k++) hw.memory.push(reg[k]);
    }
  }
  hw.uart = first(t, "arm,pl011");
  let gic = t.compatible("arm,gic-v3");
  if (gic.length > 0) hw.gicVersion = 3;
  else {
    gic = t.compatible("arm,cortex-a15-gic");
    if (gic.length == 0) gic = t.compatible("arm,gic-400");
    if (gic.length > 0) hw.gicVersion = 2;
  }
  if (gic.length > 0) {
    const reg = t.reg(gic[0]);
    if (reg.length >= 4) { hw.gicDist = reg[0]; hw.gicCpu = reg[2]; }
  }
  const psci = t.path("/psci");
  if (psci >= 0) hw.psci = t.stringOf(psci, "method");
  const cpus = t.path("/cpus");
  if (cpus >= 0) {
    for (let i = 0; i < t.nodes.length; i++) {
      if (t.nodes[i].parent != cpus || t.stringOf(i, "device_type") != "cpu") continue;
      const reg = t.prop(i, "reg");
      if (reg === null) continue;
      const ac = t.u32Of(cpus, "#address-cells", 2);
      hw.cpus.push(t.cells(reg!, 0, ac == 2 ? 2 : 1));
    }
  }
  const slots = t.compatible("virtio,mmio");
  const windows = new Array<u64>();
  for (let i = 0; i < slots.length; i++) {
    const reg = t.reg(slots[i]);
    if (reg.length >= 2) { windows.push(reg[0]); windows.push(reg[1]); }
  }
  // address order (QEMU lists them from the top down)
  for (let i = 2; i < windows.length; i += 2) {
    for (let j = i; j >= 2 && windows[j - 2] > windows[j]; j -= 2) {
      const a = windows[j - 2], s = windows[j - 1];
      windows[j - 2] = windows[j]; windows[j - 1] = windows[j + 1];
      windows[j] = a; windows[j + 1] = s;
    }
  }
  hw.virtio = windows;
  hw.rtc = first(t, "arm,pl031");
  hw.timer = t.compatible("arm,armv8-timer").length > 0;
  return hw;
}

/** The first register window of the first node compatible with `compat` (0: none). */
function first(t: Fdt, compat: string): u64 {
  const n = t.compatible(compat);
  if (n.length == 0) return 0;
  const reg = t.reg(n[0]);
  return reg.length >= 1 ? reg[0] : 0;
}

/** The boot log's lines: what was found, and what is missing. */
export function describeLines(hw: Hardware): Array<string> {
  const out = new Array<string>();
  if (hw.error.length != 0) { out.push("device tree: " + hw.error + "; QEMU virt's addresses are assumed"); return out; }
  let mem: u64 = 0;
  for (let i = 1; i < hw.memory.length; i += 2) mem += hw.memory[i];
  out.push("device tree: " + (hw.model.length != 0 ? hw.model + ", " : "") + (mem >> 20).toString() + " MiB of RAM in " +
    (hw.memory.length / 2).toString() + " range" + (hw.memory.length == 2 ? "" : "s") + ", " + hw.cpus.length.toString() + " CPU" +
    (hw.cpus.length == 1 ? "" : "s") + ", PSCI " + (hw.psci.length != 0 ? "by " + hw.psci : "missing"));
  out.push("device tree: " + (hw.uart != 0 ? "PL011 UART at " + hex(hw.uart) : "no PL011 UART") + ", " +
    (hw.gicVersion != 0 ? "GICv" + hw.gicVersion.toString() + " at " + hex(hw.gicDist) + "/" + hex(hw.gicCpu) : "no GIC") + ", " +
    (hw.timer ? "architected timer" : "no timer node") + ", " + (hw.rtc != 0 ? "PL031 RTC at " + hex(hw.rtc) : "no PL031 RTC") + ", " +
    (hw.virtio.length / 2).toString() + " virtio-mmio slot" + (hw.virtio.length == 2 ? "" : "s") +
    (hw.virtio.length > 0 ? " from " + hex(hw.virtio[0]) : ""));
  return out;
}

function hex(v: u64): string { return "0x" + v.toString(16); }
