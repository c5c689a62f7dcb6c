// kernel/lib/fdt.ts and kernel/devicetree.ts on QEMU's own device trees (qemu-system-aarch64
// -M virt,dumpdtb=FILE) for the machines SIS is run on: GICv2 and GICv3, four CPU models,
// 1 to 8 cores, 512 MiB to 8 GiB; and damaged trees, which must give an error, never a trap.
// The same for the shim's own reader (boot/devtree.c, boot/machine.c: the hardware it
// drives), compiled for the host with AddressSanitizer and UndefinedBehaviorSanitizer: it
// must agree with the kernel's, and no damaged tree may make it read outside the tree.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, ROOT } from "../tools/lib/asbuild.mjs";
import { instantiate, readAsString } from "../tools/lib/wasmhost.mjs";

let x: any, inst: any, tmp: string;
let haveQemu = true;
try { execFileSync("qemu-system-aarch64", ["--version"], { stdio: "ignore" }); } catch { haveQemu = false; }

beforeAll(async () => {
  inst = await instantiate(await compile("tests/wasm/devicetree.ts"));
  x = inst.exports;
  tmp = mkdtempSync(join(tmpdir(), "sis-dtb-"));
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

function dumpdtb(machine: string, cpu: string, smp: number, mem: string): Buffer {
  const f = join(tmp, `${machine}-${cpu}-${smp}-${mem}.dtb`.replace(/[^\w.-]/g, "_"));
  execFileSync("qemu-system-aarch64", ["-M", `${machine},dumpdtb=${f}`, "-cpu", cpu, "-smp", String(smp), "-m", mem,
    "-display", "none", "-nic", "none"], { stdio: "ignore" });
  return readFileSync(f);
}

function describeBlob(b: Buffer): any {
  const p = Number(x.allocRegion(BigInt(Math.max(1, b.length))));
  try {
    new Uint8Array(inst.memory.buffer, p, b.length).set(b);
    const out = readAsString(inst.memory, x.describeBlob(p, b.length));
    return out.startsWith("error: ") ? out : JSON.parse(out);
  } finally {
    x.freeRegion(p);
  }
}

/** QEMU's tree for a small machine, only its used part (to the end of the strings block). */
function usedTree(): Buffer {
  const good = dumpdtb("virt", "neoverse-n1", 2, "1G");
  return good.subarray(0, good.readUInt32BE(12) + good.readUInt32BE(32));
}

/** 1500 damaged copies of blob, by turns: byte flips, a header field overwritten, truncated. */
function damagedTrees(blob: Buffer, seed: number): Buffer[] {
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  const out: Buffer[] = [];
  for (let i = 0; i < 1500; i++) {
    const b = Buffer.from(blob);
    const kind = i % 3;
    if (kind === 0) for (let k = 0; k < 1 + rnd(8); k++) b[rnd(b.length)] = rnd(256);
    else if (kind === 1) b.writeUInt32BE(rnd(2 ** 31) * 2, 4 * (1 + rnd(9)));
    out.push(kind === 2 ? b.subarray(0, rnd(b.length)) : b);
  }
  return out;
}

const MACHINES: [string, string, number, string, number][] = [
  // machine, cpu, cores, memory, GIC version
  ["virt", "neoverse-n1", 2, "4G", 2],
  ["virt,gic-version=3", "neoverse-n1", 2, "4G", 3],
  ["virt", "cortex-a53", 1, "512M", 2],
  ["virt,gic-version=3", "cortex-a72", 4, "1G", 3],
  ["virt,gic-version=3", "max", 8, "8G", 3],
  ["virt", "cortex-a72", 8, "2G", 2],
];

describe.skipIf(!haveQemu)("device trees of the machines SIS runs on", () => {
  it.each(MACHINES)("%s -cpu %s -smp %i -m %s", (machine, cpu, smp, mem, gic) => {
    const hw = describeBlob(dumpdtb(machine, cpu, smp, mem));
    expect(typeof hw).toBe("object");
    const bytes = mem.endsWith("G") ? Number(mem.slice(0, -1)) * 2 ** 30 : Number(mem.slice(0, -1)) * 2 ** 20;
    expect(hw.memory).toEqual(["0x40000000", `0x${bytes.toString(16)}`]);
    expect(hw.cpus.length).toBe(smp);
    expect(hw.cpus[0]).toBe("0x0");
    expect(hw.gic).toBe(gic);
    expect(hw.gicDist).toBe("0x8000000");
    expect(hw.gicCpu).toBe(gic === 2 ? "0x8010000" : "0x80a0000"); // GICv2's CPU interface, GICv3's redistributors
    expect([hw.uart, hw.rtc, hw.psci, hw.timer]).toEqual(["0x9000000", "0x9010000", "hvc", true]);
    expect(hw.virtio.length).toBe(64); // 32 windows of 0x200 from 0x0a000000, in address order
    expect(hw.virtio.slice(0, 4)).toEqual(["0xa000000", "0x200", "0xa000200", "0x200"]);
    expect(hw.lines[0]).toBe(`device tree: linux,dummy-virt, ${bytes / 2 ** 20} MiB of RAM in 1 range, ${smp} CPU${smp === 1 ? "" : "s"}, PSCI by hvc`);
    expect(hw.lines[1]).toBe(`device tree: PL011 UART at 0x9000000, GICv${gic} at 0x8000000/${hw.gicCpu}, architected timer, ` +
      "PL031 RTC at 0x9010000, 32 virtio-mmio slots from 0xa000000");
  });

  it("damaged trees give an error or a description, never a trap", () => {
    const blob = usedTree();
    expect(typeof describeBlob(blob)).toBe("object"); // the used part alone is a whole tree
    let errors = 0;
    for (const b of damagedTrees(blob, 99)) {
      const r = describeBlob(b);
      if (typeof r === "string") { expect(r).toMatch(/^error: device tree: /); errors++; }
    }
    expect(errors).toBeGreaterThan(500);
    expect(describeBlob(Buffer.from("not a device tree at all, just some text"))).toBe("error: device tree: bad magic (not a DTB)");
    expect(describeBlob(Buffer.alloc(8))).toMatch(/^error: device tree: 8 bytes, too short/);
  });
});

/** The shim's reader built for the host (null without a C compiler with the sanitizers). */
function shimReader(): string | null {
  const out = join(ROOT, "build", "test", "machine_host");
  mkdirSync(join(ROOT, "build", "test"), { recursive: true });
  const r = spawnSync("gcc", ["-std=gnu99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
    "-I", join(ROOT, "boot"), join(ROOT, "boot/devtree.c"), join(ROOT, "boot/machine.c"), join(ROOT, "tests/support/machine_host.c"), "-o", out]);
  return r.status === 0 ? out : null;
}

/** What the shim makes of each tree: one object per file, and its boot messages. */
function shimRead(reader: string, blobs: Buffer[]): { machines: any[]; messages: string } {
  const dir = mkdtempSync(join(tmp, "shim-"));
  const files = blobs.map((b, i) => { const f = join(dir, `${i}.dtb`); writeFileSync(f, b); return f; });
  const r = spawnSync(reader, files, { encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, ASAN_OPTIONS: "detect_leaks=0" } });
  expect(r.status, r.stderr.slice(-3000)).toBe(0);
  return { machines: r.stdout.trim().split("\n").map((l) => JSON.parse(l)), messages: r.stderr };
}

describe.skipIf(!haveQemu)("the shim's reader (boot/devtree.c, boot/machine.c) on the same trees", () => {
  const reader = shimReader();
  it.skipIf(!reader).each(MACHINES)("%s -cpu %s -smp %i -m %s: the hardware it drives, as the kernel reads it", (machine, cpu, smp, mem, gic) => {
    const blob = dumpdtb(machine, cpu, smp, mem);
    const { machines: [m], messages } = shimRead(reader!, [blob]);
    const hw = describeBlob(blob);
    expect(messages).toBe(""); // nothing assumed
    expect(m.defaulted).toBe(0);
    expect([m.uart, m.uartIntid, m.timerIntid, m.psci]).toEqual([hw.uart, 33, 27, hw.psci]);
    expect([m.gic, m.gicd, gic === 2 ? m.gicc : m.gicr]).toEqual([hw.gic, hw.gicDist, hw.gicCpu]);
    expect(m.cpus).toEqual(hw.cpus); // the boot core (affinity 0) first
    // every device register the kernel uses is mapped: UART, RTC, virtio slots, GIC
    const mapped = (a: string) => m.devices.some(([b, n]: string[]) => BigInt(a) >= BigInt(b) && BigInt(a) < BigInt(b) + BigInt(n));
    for (const a of [hw.uart, hw.rtc, hw.gicDist, hw.gicCpu, ...hw.virtio.filter((_: string, i: number) => i % 2 === 0)]) expect(mapped(a), a).toBe(true);
    expect(mapped("0x40000000")).toBe(false); // RAM is not a device
  });

  it.skipIf(!reader)("damaged trees: no access outside the tree (sanitizers), and what it lacks is said", () => {
    const { machines } = shimRead(reader!, damagedTrees(usedTree(), 7));
    expect(machines.length).toBe(1500);
    // a tree it cannot use at all leaves QEMU virt's machine, and says so
    expect(machines.filter((m) => m.defaulted !== 0).length).toBeGreaterThan(300);
    const none = shimRead(reader!, [Buffer.from("not a device tree")]);
    expect(none.machines[0].defaulted).toBe(1);
    expect(none.messages).toMatch(/^shim: no device tree: QEMU virt's hardware assumed/);
  });
});
