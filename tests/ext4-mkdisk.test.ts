// tools/mkdisk.mjs: builds an ext4 image from a folder with mke2fs -d (no root), sized
// from the folder, rebuilt only when the folder changed; the result is read back with
// the kernel's own ext4 reader.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync, unlinkSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStorageWasm } from "./support/ext4-build.mjs";
import { Ext4Host } from "./support/ext4-host.mjs";
import { writeTree, bytesFrom, sha256, haveMke2fs } from "./support/ext4-images.mjs";

const MKDISK = join(__dirname, "..", "tools", "mkdisk.mjs");
const run = (...args: string[]) => spawnSync(process.execPath, [MKDISK, ...args], { encoding: "utf8" });

describe.skipIf(!haveMke2fs)("tools/mkdisk.mjs", () => {
  let tmp: string, dir: string, img: string;
  let h: Ext4Host;
  const big = bytesFrom(9, 3_000_000);

  beforeAll(async () => {
    h = await Ext4Host.create(await buildStorageWasm());
    tmp = mkdtempSync(join(tmpdir(), "sis-mkdisk-"));
    dir = join(tmp, "disk");
    img = join(tmp, "disk.img");
    writeTree(dir, {
      "models/tiny.bin": big, "etc/motd": "hello\n", "link": { symlink: "etc/motd" }, "empty/": {},
      "sparse": { sparse: 6 * 1024 ** 3, writes: [[5 * 1024 ** 3, Buffer.from("far out")]] },
    });
  });
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  const readBack = () => {
    const image = readFileSync(img);
    expect(h.mount(image)).toBe("");
    try {
      return {
        tiny: h.readFile("/models/tiny.bin").data,
        motd: h.readFile("/link").data?.toString(),
        far: h.pread("/sparse", 5 * 1024 ** 3, 7).data?.toString(),
        root: h.list("/").entries?.map((e: any) => e.name).sort(),
        df: h.statfs("/"),
      };
    } finally { expect(h.unmount()).toBe(""); }
  };

  it("builds an image the kernel's reader mounts, sized from what the folder occupies", () => {
    const r = run(dir, img);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/built \d+ MiB ext4 image, 7 entries/);
    const b = readBack();
    expect(sha256(b.tiny!)).toBe(sha256(big));
    expect(b.motd).toBe("hello\n");
    expect(b.far).toBe("far out");
    expect(b.root).toEqual([".", "..", "empty", "etc", "link", "lost+found", "models", "sparse"]);
    expect(b.df.type).toBe("ext4");
    expect(b.df.label).toBe("sis-data");
    // the 6 GiB sparse file is counted by its allocation, not its length
    const size = statSync(img).size;
    expect(size).toBeGreaterThan(3_000_000);
    expect(size).toBeLessThan(64 << 20);
    expect(Number(b.df.free) * 4096).toBeGreaterThan(0.1 * 3_000_000); // headroom
  });

  it("rebuilds only when names, sizes or mtimes change", () => {
    const mtime = () => statSync(img).mtimeMs;
    let before = mtime();
    let r = run(dir, img);
    expect(r.stdout).toMatch(/up to date/);
    expect(mtime()).toBe(before);

    const t = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, "etc/motd"), t, t); // same content, new mtime
    r = run(dir, img);
    expect(r.stdout).toMatch(/built/);

    writeFileSync(join(dir, "etc/new.txt"), "new file\n");
    expect(run(dir, img).stdout).toMatch(/built/);
    expect(h.mount(readFileSync(img))).toBe("");
    expect(h.readFile("/etc/new.txt").data?.toString()).toBe("new file\n");
    expect(h.unmount()).toBe("");
    expect(run(dir, img).stdout).toMatch(/up to date/);

    unlinkSync(join(dir, "etc/new.txt"));
    expect(run(dir, img).stdout).toMatch(/built/);
    expect(h.mount(readFileSync(img))).toBe("");
    expect(h.readFile("/etc/new.txt").code).toBe(2);
    expect(h.unmount()).toBe("");

    // a damaged stamp or a missing image forces a rebuild; --force always does
    writeFileSync(img + ".stamp", "{");
    expect(run(dir, img).stdout).toMatch(/built/);
    before = mtime();
    expect(run(dir, img, "--force").stdout).toMatch(/built/);
    unlinkSync(img);
    expect(run(dir, img).stdout).toMatch(/built/);
    expect(existsSync(img)).toBe(true);
  });

  it("fails clearly on a missing folder or bad arguments", () => {
    const r = run(join(tmp, "nope"), join(tmp, "x.img"));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/mkdisk: .*nope: no such directory/);
    expect(existsSync(join(tmp, "x.img"))).toBe(false);
    expect(run(dir).status).toBe(2);
  });
});
