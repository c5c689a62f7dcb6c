// End to end: damaged models disks in QEMU. A disk without an ext4 superblock is refused at
// mount with a clear log line and the kernel boots on; a disk with a corrupted extent
// header on one file, a corrupted directory block and a sector that fails with EIO
// (QEMU's blkdebug driver) mounts, and each damaged object gives a clear error when it is
// touched while everything else keeps working.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { bootWithIoError, sha256hex } from "../support/storage-e2e.mjs";
import { hostView, superInfo, fixInode, fixDirBlock } from "../support/ext4-corrupt.mjs";
import { bytesFrom } from "../support/ext4-images.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";

const DEV = "virtio-blk@0xa003e00";
const haveMke2fs = !!findMke2fs();

let tmp: string, src: string, good: string;
const files: Record<string, Buffer> = {
  "ok.txt": Buffer.from("fine\n"),
  "good.gguf": bytesFrom(1, 5000),
  "badext.bin": bytesFrom(2, 20000),
  "baddir/a.txt": Buffer.from("a\n"),
  "baddir/b.txt": Buffer.from("b\n"),
  "ioerr.bin": bytesFrom(3, 300_000),
  "sub/model.gguf": bytesFrom(4, 6000),
};

beforeAll(() => {
  if (!haveMke2fs) return;
  tmp = mkdtempSync(join(tmpdir(), "sis-e2e-damaged-"));
  src = join(tmp, "src");
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(src, rel, ".."), { recursive: true });
    writeFileSync(join(src, rel), data);
  }
  good = join(tmp, "good.img");
  mkdisk(src, good, { label: "sis-damaged" });
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!haveMke2fs)("storage in QEMU: a disk without an ext4 superblock", () => {
  let m: SisMachine;
  beforeAll(async () => {
    const img = join(tmp, "badmagic.img");
    copyFileSync(good, img);
    const b = readFileSync(img);
    b.writeUInt16LE(0x1234, 1024 + 0x38); // s_magic
    writeFileSync(img, b);
    m = await SisMachine.boot({ disk: img });
  });
  afterAll(() => m?.kill());

  it("logs a clear mount error, boots on, and explains the missing /models", async () => {
    const mib = (statSync(good).size / (1 << 20)).toFixed(1);
    const why = `${DEV}: no ext2/3/4 file system (superblock magic 0x1234, expected 0xef53)`;
    expect(m.output).toContain(`error: storage: cannot mount ${DEV} (${mib} MiB) at /models: ${why}; continuing without /models`);
    expect(m.output).toMatch(/info: boot: ready in/);
    const reason = `the models disk ${DEV} could not be mounted: ${why}`;
    expect(await m.run("ls /models")).toBe(`error: /models: no such file or directory (${reason})`);
    expect(await m.run("llmctl models")).toBe(`error: /models: no such file or directory (${reason})`);
    expect(await m.run("df")).toBe(`no disk file systems are mounted (${reason})`);
    expect(await m.run("mounts")).toBe(`rootfs on / type rootfs (ro)\n(${reason})`);
    expect(await m.run("log")).toContain("error: storage: cannot mount");
    expect(await m.run("echo still alive")).toBe("still alive");
    expect(await m.poweroff()).toBe(0);
  });
});

describe.skipIf(!haveMke2fs)("storage in QEMU: damaged metadata and a failing sector", () => {
  let m: SisMachine;
  let extIno = 0, dirIno = 0, ioSector = 0;

  beforeAll(async () => {
    const img = join(tmp, "damaged.img");
    copyFileSync(good, img);
    const b = readFileSync(img);
    const info = superInfo(b);
    expect(info.csum).toBe(true); // mkdisk images use metadata_csum: the fix-ups below let the damage reach the reader
    const view = hostView(img, ["/badext.bin", "/baddir", "/ioerr.bin"]);
    // 1. the extent header in badext.bin's inode: bad magic (inode checksum fixed)
    const e = view["/badext.bin"];
    const inodeOff = e.inodeBlock * info.bs + e.inodeOffInBlock;
    expect(b.readUInt16LE(inodeOff + 0x28)).toBe(0xf30a);
    b.writeUInt16LE(0x1234, inodeOff + 0x28);
    fixInode(b, info, e.ino, inodeOff);
    extIno = e.ino;
    // 2. the first entry of baddir's first block: rec_len 5 (block checksum fixed)
    const d = view["/baddir"];
    const blk = d.data[0][0];
    expect(b.readUInt16LE(blk * info.bs + 4)).toBe(12); // "." has rec_len 12
    b.writeUInt16LE(5, blk * info.bs + 4);
    fixDirBlock(b, info, blk, d.ino, d.gen);
    dirIno = d.ino;
    writeFileSync(img, b);
    // 3. a sector in the middle of ioerr.bin fails with EIO
    const io = view["/ioerr.bin"];
    ioSector = (io.data[0][0] + 2) * (info.bs / 512) + 3;
    m = await bootWithIoError({ disk: img }, ioSector, join(tmp, "blkdebug.conf"));
  });
  afterAll(() => m?.kill());

  it("mounts, and the undamaged files read correctly", async () => {
    expect(m.output).toContain(`info: storage: mounted ${DEV}`);
    const ls = await m.run("ls /models");
    for (const name of ["badext.bin", "baddir", "good.gguf", "ioerr.bin", "ok.txt", "sub"]) expect(ls).toMatch(new RegExp(`  ${name.replace(".", "\\.")}$`, "m"));
    expect(await m.run("cat /models/ok.txt")).toBe("fine");
    expect(await m.run("sha256sum /models/good.gguf")).toBe(`${sha256hex(files["good.gguf"])}  /models/good.gguf`);
  });

  it("a corrupted extent header: a clear error when the file is read", async () => {
    const err = `error: /models/badext.bin: inode ${extIno}: extent tree root: bad magic 0x1234`;
    expect(await m.run("sha256sum /models/badext.bin")).toBe(err);
    expect(await m.run("readfile /models/badext.bin")).toBe(err);
    expect(await m.run("stat /models/badext.bin")).toMatch(/^  Size: 20000 bytes/m); // the inode itself is fine
  });

  it("a corrupted directory block: a clear error when the directory is touched", async () => {
    const why = `directory inode ${dirIno}, block 0: entry at 0 has bad rec_len 5`;
    expect(await m.run("ls /models/baddir")).toBe(`error: /models/baddir: ${why}`);
    expect(await m.run("cat /models/baddir/a.txt")).toBe(`error: /models/baddir/a.txt: ${why}`);
    const models = (await m.run("llmctl models")).split("\n");
    // (their bytes are random: each is listed with why it would not load)
    const notGguf = "cannot load: GGUF: bad magic [0-9a-f ]+ \\(expected 47 47 55 46, \"GGUF\"\\): not a GGUF file";
    expect(models.length).toBe(4);
    expect(models[0]).toMatch(new RegExp(`^/models/good\\.gguf  5000 bytes \\(4\\.9 KiB\\)  ${notGguf}$`));
    expect(models[1]).toMatch(new RegExp(`^/models/sub/model\\.gguf  6000 bytes \\(5\\.9 KiB\\)  ${notGguf}$`));
    expect(models.slice(2)).toEqual([`error: /models/baddir: ${why}`, "2 models, 10.7 KiB in all"]);
  });

  it("an I/O error: names the operation and the sectors, and the disk keeps working", async () => {
    for (const cmd of ["sha256sum", "readfile"]) {
      const out = await m.run(`${cmd} /models/ioerr.bin`);
      const r = /^error: \/models\/ioerr.bin: inode \d+: virtio-blk@0xa003e00: read of sectors (\d+)\+(\d+) failed: I\/O error \(VIRTIO_BLK_S_IOERR\)/.exec(out);
      expect(r, out).not.toBeNull();
      expect(Number(r![1])).toBeLessThanOrEqual(ioSector);
      expect(Number(r![1]) + Number(r![2])).toBeGreaterThan(ioSector);
    }
    expect(await m.run("sha256sum /models/sub/model.gguf")).toBe(`${sha256hex(files["sub/model.gguf"])}  /models/sub/model.gguf`);
    expect(await m.run("echo still alive")).toBe("still alive");
    expect(await m.poweroff()).toBe(0);
  });
});
