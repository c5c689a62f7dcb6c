// The second way in: build/Image, the arm64 Linux-style Image QEMU starts with -kernel (no
// firmware), boots to the same shell with the machine taken from the device tree QEMU hands
// over in x0, and runs the same inference. (The other end-to-end tests boot the EFI image,
// the default, or this one with SIS_FIRMWARE=direct.)
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";
import { LLM } from "../../tools/lib/llm.mjs";

const haveMke2fs = !!findMke2fs();
const haveImage = existsSync(join(ROOT, "build", "Image"));
let tmp: string, image: string;
beforeAll(() => {
  if (!haveMke2fs) return;
  tmp = mkdtempSync(join(tmpdir(), "sis-direct-"));
  image = join(tmp, "models.img");
  mkdisk(join(ROOT, "models"), image);
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!haveMke2fs || !haveImage)("direct boot (qemu -kernel build/Image)", () => {
  it("boots to sis> with the machine from the device tree, and runs a model as on UEFI", async () => {
    const m = await SisMachine.boot({ disk: image, firmware: "direct", smp: 2, mem: "4G" });
    try {
      const log = m.output;
      expect(log).toMatch(/device tree: linux,dummy-virt, 4096 MiB of RAM in 1 range, 2 CPUs, PSCI by hvc/);
      expect(log).toMatch(/device tree: PL011 UART at 0x9000000, GICv2 at 0x8000000\/0x8010000, architected timer, PL031 RTC at 0x9010000, 32 virtio-mmio slots from 0xa000000/);
      expect(log).toMatch(/cpus: 2 of 2 online/);
      expect(log).toMatch(/boot: ready in [\d.]+ ms \(firmware and shim \d+ ms, kernel [\d.]+ ms\)/);
      expect(await m.run("llmctl backend real")).toMatch(/TransformerBackend/);
      expect(await m.run("llmctl load sis-scribe-15m-q4_0.gguf", { timeout: 60_000 })).toMatch(/^loaded /m);
      const host = await LLM.create();
      expect(host.load(join(ROOT, "models", "sis-scribe-15m-q4_0.gguf"), 256)).toBe("");
      const want = host.generate("And God said", { temperature: 0, maxTokens: 16 }).text;
      const out = await m.run('llmctl infer "And God said" --max-tokens 16 --temperature 0', { timeout: 60_000 });
      expect(out.split("\n")[0]).toBe(want);
      expect(await m.run("date")).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/); // the PL031 found in the tree
    } finally {
      m.kill();
    }
  });

  it("boots other machines: one core and 512 MiB, four cores", async () => {
    for (const [smp, mem, mib] of [[1, "512M", 512], [4, "1G", 1024]] as const) {
      const m = await SisMachine.boot({ disk: image, firmware: "direct", smp, mem });
      try {
        expect(m.output).toMatch(new RegExp(`device tree: linux,dummy-virt, ${mib} MiB of RAM in 1 range, ${smp} CPUs?, PSCI by hvc`));
        expect(m.output).toMatch(new RegExp(`cpus: ${smp} of ${smp} online`));
        expect(await m.run("echo ok")).toBe("ok");
      } finally {
        m.kill();
      }
    }
  });
});
