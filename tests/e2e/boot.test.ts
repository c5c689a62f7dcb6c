// Both ways in, on the machines SIS is meant for. The direct path (build/Image, which QEMU
// starts with -kernel and the device tree in x0; the default, and what the other end-to-end
// tests boot) on GICv2 and GICv3, four CPU models, 1 to 8 cores and 512 MiB to 8 GiB, entered
// at EL1 or at EL2 (then it goes on at EL1, and PSCI is reached by smc); the
// UEFI path (build/BOOTAA64.EFI started by the firmware, the device tree from its
// configuration table) on GICv2 and GICv3. Each boots to sis> with the hardware the tree
// names, starts every core, and runs the same greedy text as the host engine on all of
// them. A tree that lacks what the shim drives gets a message per thing and still boots.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";
import { LLM } from "../../tools/lib/llm.mjs";
import { DIRECT_IMAGE, ESP_IMAGE } from "../../tools/lib/qemu.mjs";

const haveMke2fs = !!findMke2fs();
const PROMPT = "And God said";
let tmp: string, image: string, want: string;
beforeAll(async () => {
  if (!haveMke2fs) return;
  tmp = mkdtempSync(join(tmpdir(), "sis-boot-"));
  image = join(tmp, "models.img");
  mkdisk(join(ROOT, "models"), image);
  const host = await LLM.create();
  expect(host.load(join(ROOT, "models", "sis-scribe-15m-q4_0.gguf"), 256)).toBe("");
  want = host.generate(PROMPT, { temperature: 0, maxTokens: 16 }).text;
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

type Machine = { firmware: "direct" | "uefi"; cpu: string; gic: 2 | 3; smp: number; mem: string; mib: number; el2?: boolean };

/** Boots m, checks what the boot log says of it, and runs the model on all its cores. */
async function bootAndRun(c: Machine) {
  const m = await SisMachine.boot({ disk: image, ...c });
  try {
    const log = m.output;
    expect(log).not.toMatch(/shim: /); // nothing assumed: the tree said it all
    expect(log).toMatch(new RegExp(`device tree: linux,dummy-virt, ${c.mib} MiB of RAM in 1 range, ${c.smp} CPUs?, PSCI by ${c.el2 ? "smc" : "hvc"}`));
    const gic = c.gic === 3 ? "GICv3 at 0x8000000/0x80a0000" : "GICv2 at 0x8000000/0x8010000";
    expect(log).toMatch(new RegExp(`device tree: PL011 UART at 0x9000000, ${gic}, architected timer, PL031 RTC at 0x9010000, 32 virtio-mmio slots from 0xa000000`));
    expect(log).toMatch(new RegExp(`cpus: ${c.smp} of ${c.smp} online`));
    expect(log).toMatch(/boot: ready in [\d.]+ ms \(firmware and shim \d+ ms, kernel [\d.]+ ms\)/);
    expect(await m.run("llmctl backend real")).toMatch(/TransformerBackend/);
    expect(await m.run("llmctl load sis-scribe-15m-q4_0.gguf", { timeout: 60_000 })).toMatch(/^loaded /m);
    expect(await m.run("llmctl config")).toMatch(new RegExp(`^  threads\\s+${c.smp} \\(of ${c.smp} cores?\\)$`, "m"));
    const out = await m.run(`llmctl infer "${PROMPT}" --max-tokens 16 --temperature 0`, { timeout: 120_000 });
    expect(out.split("\n")[0]).toBe(want);
    expect(await m.run("date")).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/); // the PL031 found in the tree
  } finally {
    m.kill();
  }
}

const DIRECT: Machine[] = [
  { firmware: "direct", cpu: "neoverse-n1", gic: 2, smp: 2, mem: "4G", mib: 4096 },
  { firmware: "direct", cpu: "cortex-a53", gic: 2, smp: 1, mem: "512M", mib: 512 },
  { firmware: "direct", cpu: "cortex-a72", gic: 3, smp: 3, mem: "1G", mib: 1024 },
  { firmware: "direct", cpu: "neoverse-n1", gic: 3, smp: 4, mem: "2G", mib: 2048 },
  { firmware: "direct", cpu: "max", gic: 2, smp: 8, mem: "8G", mib: 8192 },
  { firmware: "direct", cpu: "max", gic: 3, smp: 8, mem: "4G", mib: 4096 },
  { firmware: "direct", cpu: "cortex-a72", gic: 2, smp: 2, mem: "1G", mib: 1024, el2: true },
  { firmware: "direct", cpu: "neoverse-n1", gic: 3, smp: 4, mem: "2G", mib: 2048, el2: true },
];
const UEFI: Machine[] = [
  { firmware: "uefi", cpu: "neoverse-n1", gic: 2, smp: 2, mem: "4G", mib: 4096 },
  { firmware: "uefi", cpu: "neoverse-n1", gic: 3, smp: 2, mem: "4G", mib: 4096 },
];
const name = (c: Machine) => `-cpu ${c.cpu}, GICv${c.gic}, -smp ${c.smp}, -m ${c.mem}${c.el2 ? ", entered at EL2" : ""}`;

describe.skipIf(!haveMke2fs || !existsSync(DIRECT_IMAGE))("direct boot (qemu -kernel build/Image)", () => {
  for (const c of DIRECT) it(name(c), () => bootAndRun(c), 180_000);

  // (QEMU rewrites the /psci node of any tree it loads, so that one cannot go missing here)
  it("a device tree without its PL011, timer or GIC: a message for each, QEMU virt's assumed, and it still runs", async () => {
    const dtb = join(tmp, "virt.dtb");
    execFileSync("qemu-system-aarch64", ["-M", `virt,acpi=off,dumpdtb=${dtb}`, "-cpu", "neoverse-n1", "-smp", "2", "-m", "1G",
      "-display", "none", "-nic", "none"], { stdio: "ignore" });
    // the same tree with the three compatible strings renamed in place (sizes unchanged)
    let blob = readFileSync(dtb);
    for (const [from, to] of [["arm,pl011", "acme,uart"], ["arm,armv8-timer", "acme,clock-wxyz"], ["arm,cortex-a15-gic", "acme,irqchip-a15xy"]]) {
      const at = blob.indexOf(from);
      expect(at, from).toBeGreaterThan(0);
      expect(to.length).toBe(from.length);
      blob = Buffer.concat([blob.subarray(0, at), Buffer.from(to), blob.subarray(at + from.length)]);
    }
    const damaged = join(tmp, "lacking.dtb");
    writeFileSync(damaged, blob);
    const m = await SisMachine.boot({ firmware: "direct", smp: 2, mem: "1G", dtb: damaged });
    try {
      expect(m.output).toMatch(/shim: the device tree names no PL011 UART; using 0x0*9000000\n/);
      expect(m.output).toMatch(/shim: the device tree has no arm,armv8-timer; assuming the virtual timer's PPI 27\n/);
      expect(m.output).toMatch(/shim: the device tree names no GICv2 or GICv3; assuming QEMU virt's GICv2\n/);
      expect(m.output).toMatch(/cpus: 2 of 2 online/);
      expect(await m.run("echo ok")).toBe("ok");
    } finally {
      m.kill();
    }
  }, 60_000);

  // A tree that names a core the machine does not have (as a board whose core is broken or
  // fused off): PSCI refuses to start it, and SIS goes on with the cores it has.
  it("a core the device tree names that does not start: reported with PSCI's error, left out, the others run the model", async () => {
    const dtb = join(tmp, "three-cores.dtb");
    execFileSync("qemu-system-aarch64", ["-M", `virt,acpi=off,gic-version=3,dumpdtb=${dtb}`, "-cpu", "neoverse-n1", "-smp", "3", "-m", "1G",
      "-display", "none", "-nic", "none"], { stdio: "ignore" });
    const m = await SisMachine.boot({ firmware: "direct", gic: 3, smp: 2, mem: "1G", dtb, disk: image });
    try {
      // PSCI's INVALID_PARAMETERS (-2): no core has that affinity
      expect(m.output).toMatch(/cpus: 2 of 3 online \(the boot core and 1 worker started with PSCI CPU_ON\); core 2 did not start \(PSCI error -2\), left out\n/);
      expect(await m.run("llmctl backend real")).toMatch(/TransformerBackend/);
      expect(await m.run("llmctl load sis-scribe-15m-q4_0.gguf", { timeout: 60_000 })).toMatch(/^loaded /m);
      expect(await m.run("llmctl config")).toMatch(/^  threads\s+2 \(of 2 cores\)$/m);
      expect(await m.run("llmctl config threads 3")).toBe("error: threads needs a whole number from 1 to 2 (the cores that run jobs), not '3'");
      expect(await m.run("llmctl config")).toMatch(/^  threads\s+2 \(of 2 cores\)$/m);
      const out = await m.run(`llmctl infer "${PROMPT}" --max-tokens 16 --temperature 0`, { timeout: 120_000 });
      expect(out.split("\n")[0]).toBe(want);
    } finally {
      m.kill();
    }
  }, 180_000);
});

describe.skipIf(!haveMke2fs || !existsSync(ESP_IMAGE))("UEFI boot (the firmware starts build/BOOTAA64.EFI)", () => {
  for (const c of UEFI) it(name(c), () => bootAndRun(c), 180_000);
});
