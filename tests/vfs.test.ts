// VFS (kernel/fs/vfs.ts): handle table, seek/read/readdir/stat semantics, working
// directory, mount points (a second ext4 mounted inside the first), statfs for df.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStorageWasm } from "./support/ext4-build.mjs";
import { Ext4Host } from "./support/ext4-host.mjs";
import { writeTree, mkfs, bytesFrom, haveMke2fs } from "./support/ext4-images.mjs";

describe.skipIf(!haveMke2fs)("vfs", () => {
  let tmp: string;
  let h: Ext4Host;
  let x: any;
  let rootImg: Buffer, dataImg: Buffer;
  const blob = bytesFrom(5, 100_000);

  beforeAll(async () => {
    h = await Ext4Host.create(await buildStorageWasm());
    x = h.x;
    tmp = mkdtempSync(join(tmpdir(), "sis-vfs-"));
    writeTree(join(tmp, "root"), {
      "etc/motd": "hi\n", "mnt/": {}, "blob": blob,
      "real/inner/file.txt": "inner\n", "jump": { symlink: "real/inner" }, "up": { symlink: ".." },
    });
    writeTree(join(tmp, "data"), { "models/m.bin": bytesFrom(6, 3000), "readme": "data disk\n" });
    rootImg = mkfs(join(tmp, "root.img"), join(tmp, "root"), { sizeK: 4096 });
    dataImg = mkfs(join(tmp, "data.img"), join(tmp, "data"), { type: "ext2", blockSize: 1024, sizeK: 2048 });
  });
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it("refuses to resolve before anything is mounted", () => {
    expect(h.readFile("/etc/motd").error).toMatch(/nothing is mounted/);
    expect(h.mount(dataImg, "/mnt")).toMatch(/mount a root file system at \/ first/);
  });

  it("mounts a second file system inside the first; df sees both; unmount rules", () => {
    expect(h.mount(rootImg, "/", 0)).toBe("");
    expect(h.mount(rootImg, "/", 0)).toMatch(/already a mount point/);
    expect(h.mount(dataImg, "/etc/motd", 1)).toMatch(/not a directory/);
    expect(h.mount(dataImg, "/nope", 1)).toMatch(/no such file/);
    expect(h.mount(dataImg, "/mnt/", 1)).toBe("");
    expect(h.readFile("/mnt/readme").data!.toString()).toBe("data disk\n");
    expect(h.readFile("/mnt/models/../../etc/motd").data!.toString()).toBe("hi\n"); // ".." leaves the mount
    expect(h.readFile("/mnt/../mnt/./models/m.bin").data!.equals(bytesFrom(6, 3000))).toBe(true);
    expect(h.list("/mnt").entries.map((e: any) => e.name).sort()).toEqual([".", "..", "lost+found", "models", "readme"]);
    const a = h.statfs("/"), b = h.statfs("/mnt/models");
    expect(a.type).toBe("ext4");
    expect(b.type).toBe("ext2");
    expect(b.blockSize).toBe(1024);
    expect(Number(b.blocks)).toBe(2048);
    expect(b.avail).toBeLessThanOrEqual(b.free);
    // busy while a file is open on it; "/" refused while /mnt is mounted
    const fd = x.open(h.arg("/mnt/readme"));
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(h.unmount("/mnt")).toMatch(/busy \(\/mnt\/readme is open\)/);
    expect(h.unmount("/")).toMatch(/\/mnt is mounted below it/);
    expect(h.str(x.close(fd))).toBe("");
    expect(h.unmount("/mnt")).toBe("");
    expect(h.list("/mnt").entries.map((e: any) => e.name).sort()).toEqual([".", ".."]);
    expect(h.unmount("/mnt")).toMatch(/not a mount point/);
  });

  it("keeps a limited handle table and rejects bad descriptors", () => {
    const fds: number[] = [];
    for (let i = 0; i < 64; i++) { const fd = x.open(h.arg("/etc/motd")); expect(fd).toBeGreaterThanOrEqual(0); fds.push(fd); }
    expect(new Set(fds).size).toBe(64);
    expect(x.open(h.arg("/etc/motd"))).toBe(-1);
    expect(h.error()).toMatch(/too many open files \(64\)/);
    expect(x.code()).toBe(24);
    expect(h.str(x.close(fds[10]))).toBe("");
    expect(h.str(x.close(fds[10]))).toMatch(/bad file descriptor/);
    const again = x.open(h.arg("/etc/motd"));
    expect(again).toBe(fds[10]);
    for (const fd of fds) x.close(fd);
    expect(x.openCount()).toBe(0);
    expect(x.read(99, 0, 1)).toBe(-1n);
    expect(x.code()).toBe(9);
    expect(x.read(-1, 0, 1)).toBe(-1n);
    expect(x.open(h.arg("/missing"))).toBe(-1);
    expect(x.code()).toBe(2);
    expect(x.openCount()).toBe(0);
  });

  it("reads, seeks and stats through handles", () => {
    const fd = x.open(h.arg("/blob"));
    const buf = x.allocRegion(200_000n);
    const mem = () => Buffer.from(new Uint8Array(h.mem.buffer, buf, 200_000));
    expect(x.read(fd, buf, 1000)).toBe(1000n);
    expect(x.read(fd, buf, 1000)).toBe(1000n);
    expect(mem().subarray(0, 1000).equals(blob.subarray(1000, 2000))).toBe(true);
    expect(x.seek(fd, -10n, 2)).toBe(99_990n);
    expect(x.read(fd, buf, 1000)).toBe(10n);
    expect(mem().subarray(0, 10).equals(blob.subarray(99_990))).toBe(true);
    expect(x.read(fd, buf, 1000)).toBe(0n);
    expect(x.seek(fd, 5n, 0)).toBe(5n);
    expect(x.seek(fd, 7n, 1)).toBe(12n);
    expect(x.read(fd, buf, 3)).toBe(3n);
    expect(mem().subarray(0, 3).equals(blob.subarray(12, 15))).toBe(true);
    expect(x.seek(fd, -100n, 1)).toBe(-1n);
    expect(x.code()).toBe(22);
    expect(x.seek(fd, 0n, 7)).toBe(-1n);
    expect(x.seek(fd, 1n << 40n, 0)).toBe(1n << 40n); // past the end is allowed
    expect(x.read(fd, buf, 10)).toBe(0n);
    expect(x.pread(fd, 50_000n, buf, 100)).toBe(100n);
    expect(mem().subarray(0, 100).equals(blob.subarray(50_000, 50_100))).toBe(true);
    expect(h.str(x.fstat(fd))).toBe("");
    expect(x.statField(2)).toBe(100_000n);
    expect(x.readdir(fd)).toBe(-1);
    expect(x.code()).toBe(20);
    x.close(fd);
    const dfd = x.open(h.arg("/etc"));
    expect(x.read(dfd, buf, 10)).toBe(-1n);
    expect(x.code()).toBe(21);
    const names: string[] = [];
    while (x.readdir(dfd) === 1) names.push(h.str(x.entryName()));
    expect(names.sort()).toEqual([".", "..", "motd"]);
    expect(x.readdir(dfd)).toBe(0); // stays at the end
    x.close(dfd);
    x.freeRegion(buf);
  });

  it("resolves relative paths from the working directory, physically through symlinks", () => {
    expect(h.chdir("/jump")).toBe("");
    expect(h.getcwd()).toBe("/real/inner");
    expect(h.readFile("file.txt").data!.toString()).toBe("inner\n");
    expect(h.readFile("../inner/./file.txt").data!.toString()).toBe("inner\n");
    expect(h.readFile("../../etc/motd").data!.toString()).toBe("hi\n");
    expect(h.chdir("..")).toBe("");
    expect(h.getcwd()).toBe("/real");
    expect(h.chdir("/etc/motd")).toMatch(/not a directory/);
    expect(h.getcwd()).toBe("/real");
    expect(h.chdir("/")).toBe("");
    // ".." after a symlinked directory is the target's parent, not the link's
    expect(h.list("/jump/..").entries.map((e: any) => e.name).sort()).toEqual([".", "..", "inner"]);
    expect(h.stat("/jump/", false).type).toBe(2);   // trailing slash follows the link
    expect(h.stat("/jump", false).type).toBe(7);
    expect(h.stat("/up/up/up/etc/motd").size).toBe(3n);
    expect(h.readlink("/etc/motd").error).toMatch(/not a symbolic link/);
  });
});
