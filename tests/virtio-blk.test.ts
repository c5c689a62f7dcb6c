// virtio-blk driver (kernel/drivers/virtio_*.ts) against the virtio-mmio simulator in
// tests/support/virtio-sim.mjs, in both register layouts, with error injection, and
// ext4 + VFS on top of it (which also gives a host throughput figure).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStorageWasm } from "./support/ext4-build.mjs";
import { Ext4Host } from "./support/ext4-host.mjs";
import { VirtioBlkSim, virtioPlatform, MMIO_BASE } from "./support/virtio-sim.mjs";
import { writeTree, mkfs, sha256, haveMke2fs } from "./support/ext4-images.mjs";

let wasm: string;
beforeAll(async () => { wasm = await buildStorageWasm(); });

/** A machine with a block device simulator in `slot` (and a network device in slot 0). */
async function machine(image: Buffer, simOpts: any = {}, { slot = 31, physBase = 0n, extra = {} as any } = {}) {
  let h: Ext4Host;
  const sim = new VirtioBlkSim({ image, memory: () => h.mem, physBase, ...simOpts });
  const net = new VirtioBlkSim({ image: Buffer.alloc(0), deviceId: 1, memory: () => h.mem });
  const { platform, log } = virtioPlatform({ 0: net, [slot]: sim, ...extra }, { physBase });
  h = await Ext4Host.create(wasm, { platform });
  return { h, sim, log, x: h.x };
}

function readSectors(m: any, lba: number, count: number): { data?: Buffer; error?: string } {
  const buf = m.x.allocRegion(BigInt(count * 512));
  try {
    const e = m.h.str(m.x.virtioRead(BigInt(lba), count, buf));
    if (e) return { error: e };
    return { data: Buffer.from(new Uint8Array(m.h.mem.buffer, buf, count * 512)) };
  } finally { m.x.freeRegion(buf); }
}

const disk = randomBytes(8 << 20); // 16384 sectors

for (const mode of ["legacy", "modern"]) {
  describe(`virtio-blk, ${mode} transport`, () => {
    it("probes the slots, logs what it found, reads single and multi-request runs", async () => {
      const m = await machine(disk, { mode });
      expect(m.x.virtioProbe()).toBe(1);
      const log = m.h.str(m.x.virtioLog());
      expect(log).toContain(`slot 0 @0x${MMIO_BASE.toString(16)}: network device`);
      expect(log).toContain(`slot 31 @0x${(MMIO_BASE + 31 * 0x200).toString(16)}: block device, version ${mode === "legacy" ? "1 (legacy)" : "2 (modern)"}`);
      expect(log).toMatch(/16384 sectors \(8 MiB\)/);
      expect(log).toMatch(/using virtio-blk@0xa003e00/);
      expect(m.x.virtioSectors()).toBe(16384n);
      for (const [lba, n] of [[0, 1], [1, 7], [100, 2048], [5, 9000], [16383, 1], [0, 16384]]) {
        const r = readSectors(m, lba, n);
        expect(r.error, `${lba}+${n}`).toBeUndefined();
        expect(r.data!.equals(disk.subarray(lba * 512, (lba + n) * 512)), `${lba}+${n}`).toBe(true);
      }
      expect(Number(m.x.virtioStat(3))).toBeGreaterThan(4); // many requests in flight at once
      expect(m.sim.stats.maxBatch).toBeGreaterThan(4);       // ...and notified as a batch
      expect(m.sim.violations).toEqual([]);
      expect(m.log).toEqual([]);
      expect(readSectors(m, 16380, 5).error).toMatch(/read of sectors 16380\+5 is past the end of the device \(16384 sectors\)/);
    });

    it("honours seg_max and size_max, small queues, late completions and a physical base", async () => {
      const m = await machine(disk, { mode, sizeMax: 4096, segMax: 8, queueMax: 16, completeAfter: 3 }, { physBase: 0x40000000n });
      expect(m.x.virtioProbe()).toBe(1);
      expect(m.x.virtioStat(6)).toBe(64n);    // 8 segments x 4096 bytes = 64 sectors per request
      expect(m.x.virtioStat(7)).toBe(4096n);
      const r = readSectors(m, 3, 3000);
      expect(r.data!.equals(disk.subarray(3 * 512, 3003 * 512))).toBe(true);
      expect(m.sim.stats.maxDataSegs).toBe(8);
      expect(m.sim.violations).toEqual([]);
      // without size_max a request is one data descriptor
      const n = await machine(disk, { mode, segMax: 1 });
      expect(n.x.virtioProbe()).toBe(1);
      expect(readSectors(n, 0, 4096).data!.equals(disk.subarray(0, 4096 * 512))).toBe(true);
      expect(n.sim.stats.maxDataSegs).toBe(1);
      expect(n.sim.violations).toEqual([]);
    });

    it("reports I/O errors with the operation and sector, and keeps working", async () => {
      const m = await machine(disk, { mode });
      expect(m.x.virtioProbe()).toBe(1);
      m.sim.failNext(1, 1);
      expect(readSectors(m, 42, 8).error).toBe("virtio-blk@0xa003e00: read of sectors 42+8 failed: I/O error (VIRTIO_BLK_S_IOERR) (in a read of sectors 42+8)");
      expect(readSectors(m, 42, 8).data!.equals(disk.subarray(42 * 512, 50 * 512))).toBe(true);
      m.sim.failNext(1, 2);
      expect(readSectors(m, 7, 1).error).toMatch(/read of sectors 7\+1 failed: unsupported request/);
      m.sim.failNext(1, 0xff);
      expect(readSectors(m, 9, 1).error).toMatch(/without writing its status/);
      // an error in the middle of a long multi-request read names the failing request
      m.sim.stats.requests = 0;
      const before = m.sim.stats.requests;
      m.sim.inject.status = [];
      m.sim.failNext(0);
      const sims = m.sim;
      const orig = sims.serve.bind(sims);
      let k = 0;
      sims.serve = (head: number) => { if (++k === 3) sims.failNext(1, 1); return orig(head); };
      const e = readSectors(m, 1000, 8192).error!;
      expect(e).toMatch(/read of sectors 5096\+2048 failed: I\/O error/);
      expect(e).toMatch(/in a read of sectors 1000\+8192/);
      sims.serve = orig;
      expect(readSectors(m, 1000, 8192).data!.equals(disk.subarray(1000 * 512, 9192 * 512))).toBe(true);
      expect(m.sim.stats.requests).toBeGreaterThan(before);
      expect(m.sim.violations).toEqual([]);
    });

    it("reports DEVICE_NEEDS_RESET and a hung device, then resets and recovers", async () => {
      const m = await machine(disk, { mode });
      expect(m.x.virtioProbe()).toBe(1);
      m.sim.needsResetAfter(1);
      const e = readSectors(m, 0, 6000).error!;
      expect(e).toMatch(/read of sectors 0\+6000: device set DEVICE_NEEDS_RESET/);
      expect(e).toMatch(/first unfinished at sector 2048/);
      m.sim.inject.needsResetAfter = -1;
      expect(readSectors(m, 10, 20).data!.equals(disk.subarray(10 * 512, 30 * 512))).toBe(true);
      expect(m.x.virtioStat(5)).toBe(1n);
      m.sim.hang();
      expect(readSectors(m, 10, 20).error).toMatch(/read of sectors 10\+20: no completion within 10 s/);
      m.sim.inject.hang = false;
      expect(readSectors(m, 77, 3).data!.equals(disk.subarray(77 * 512, 80 * 512))).toBe(true);
      expect(m.x.virtioStat(5)).toBe(2n);
      expect(m.sim.violations).toEqual([]);
    });
  });
}

describe("virtio-blk probing", () => {
  it("reports when there is no block device", async () => {
    const m = await machine(disk, { deviceId: 4 });
    expect(m.x.virtioProbe()).toBe(0);
    const log = m.h.str(m.x.virtioLog());
    expect(log).toContain("entropy device");
    expect(log).toContain("2 device(s) in 32 slots, no usable block device");
  });

  it("rejects a modern device that does not offer VIRTIO_F_VERSION_1", async () => {
    const m = await machine(disk, { mode: "modern" });
    m.sim.offered = function () { return 1n << 2n; };
    expect(m.x.virtioProbe()).toBe(0);
    expect(m.h.str(m.x.virtioLog())).toContain("not usable: modern (version 2) device does not offer VIRTIO_F_VERSION_1");
  });
});

describe.skipIf(!haveMke2fs)("ext4 over virtio-blk", () => {
  let tmp: string;
  let img: Buffer;
  const big = randomBytes(48 << 20);
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "sis-virtio-"));
    writeTree(join(tmp, "src"), { "model.bin": big, "etc/motd": "welcome\n" });
    img = mkfs(join(tmp, "img"), join(tmp, "src"), { sizeK: 56 * 1024 });
  });
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  for (const mode of ["legacy", "modern"]) {
    it(`mounts and streams a 48 MiB file (${mode})`, async () => {
      const m = await machine(img, { mode });
      expect(m.x.virtioProbe()).toBe(1);
      expect(m.h.mountVirtio("/")).toBe("");
      expect(m.h.readFile("/etc/motd").data!.toString()).toBe("welcome\n");
      const t0 = process.hrtime.bigint();
      const r = m.h.readFile("/model.bin", { chunk: 8 << 20 });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      expect(r.error).toBeUndefined();
      expect(sha256(r.data!)).toBe(sha256(big));
      const small = m.h.readFile("/model.bin", { chunk: 4096, max: 4 << 20 });
      expect(small.data!.equals(big.subarray(0, 4 << 20))).toBe(true);
      console.log(`ext4 over virtio-blk (${mode}, simulator): ${(48 / s).toFixed(0)} MiB/s in 8 MiB reads; ` +
        `${m.x.virtioStat(0)} requests, up to ${m.x.virtioStat(3)} in flight; cache: ${m.x.cacheStat(4)} direct reads, ${m.x.cacheStat(3)} window fills, ${m.x.cacheStat(2)} window hits`);
      expect(m.sim.violations).toEqual([]);
      expect(m.h.unmount("/")).toBe("");
    });
  }
});
