// kernel/lib/fdt.ts and kernel/devicetree.ts on QEMU's own device trees (qemu-system-aarch64
// -M virt,dumpdtb=FILE) for the machines SIS is run on: GICv2 and GICv3, four CPU models,
// 1 to 8 cores, 512 MiB to 8 GiB; and damaged trees, which must give an error, never a trap.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../tools/lib/asbuild.mjs";
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
    const good = dumpdtb("virt", "neoverse-n1", 2, "1G");
    const used = good.readUInt32BE(12) + good.readUInt32BE(32); // the end of the strings block
    const blob = good.subarray(0, used);
    expect(typeof describeBlob(blob)).toBe("object"); // the used part alone is a whole tree
    let seed = 99;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
    let errors = 0;
    for (let i = 0; i < 1500; i++) {
      const b = Buffer.from(blob);
      const kind = i % 3;
      if (kind === 0) for (let k = 0; k < 1 + rnd(8); k++) b[rnd(b.length)] = rnd(256);   // byte flips
      else if (kind === 1) b.writeUInt32BE(rnd(2 ** 31) * 2, 4 * (1 + rnd(9)));           // a header field
      const r = describeBlob(kind === 2 ? b.subarray(0, rnd(b.length)) : b);                // truncated
      if (typeof r === "string") { expect(r).toMatch(/^error: device tree: /); errors++; }
    }
    expect(errors).toBeGreaterThan(500);
    expect(describeBlob(Buffer.from("not a device tree at all, just some text"))).toBe("error: device tree: bad magic (not a DTB)");
    expect(describeBlob(Buffer.alloc(8))).toMatch(/^error: device tree: 8 bytes, too short/);
  });
});
