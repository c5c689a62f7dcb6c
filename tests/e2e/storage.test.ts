// End to end: the models disk in QEMU. A folder the test generates (files from 0 bytes to
// ~300 MiB, text and binary files, nested .gguf files, links, odd names) is packed by
// tools/mkdisk.mjs into an ext4 image that QEMU attaches as virtio-blk on virtio-mmio; SIS
// mounts it at /models at boot. Every answer is checked against the host's own view of the
// same files and image (Node's fs, crypto, dumpe2fs, debugfs). Also: the modern virtio-mmio
// layout, and a boot without a disk.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { writeDataFile, sha256hex, hostSuper, hostInode, runRendered } from "../support/storage-e2e.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";

const MiB = 1 << 20;
const LABEL = "sis-e2e";
const DEV = "virtio-blk@0xa003e00"; // the last virtio-mmio slot: where QEMU's virt machine puts the first device

// name -> size; every byte random, hashed by the host while written
const DATA: Record<string, number> = {
  "empty.bin": 0, "one.bin": 1, "b4095.bin": 4095, "mib7.bin": MiB + 7,
  "big64.bin": 64 * MiB, "huge.bin": 300 * MiB + 12345,
};

const HELLO = "Hello, SIS!\nzweite Zeile: äöü ß — ✓ 🙂\n\ttabbed line\n";
const line64 = "0123456789abcdef".repeat(4) + "\n"; // 65 bytes

let tmp: string, src: string, image: string;
const sums: Record<string, string> = {};

function setupTree() {
  tmp = mkdtempSync(join(tmpdir(), "sis-e2e-storage-"));
  src = join(tmp, "src");
  mkdirSync(src);
  for (const [name, size] of Object.entries(DATA)) sums[name] = writeDataFile(join(src, name), size);
  const text = join(src, "text");
  mkdirSync(text);
  writeFileSync(join(text, "hello.txt"), HELLO);
  writeFileSync(join(text, "noeol.txt"), "no newline at the end");
  const exact = line64.repeat(Math.ceil(65536 / 65)).slice(0, 65535) + "\n";
  writeFileSync(join(text, "exact64k.txt"), exact);            // 65536 bytes: printed
  writeFileSync(join(text, "over64k.txt"), exact + "x");        // 65537 bytes: refused
  writeFileSync(join(text, "nul.bin"), Buffer.from("text, then a NUL\0and more\n"));
  writeFileSync(join(text, "latin1.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])); // "café" in Latin-1
  mkdirSync(join(src, "with space"));
  writeFileSync(join(src, "with space", "file name.txt"), "spaced\n");
  writeFileSync(join(src, "ünïcödé.txt"), "unicode name\n");
  const gg = join(src, "gguf");
  mkdirSync(join(gg, "nested", "deeper"), { recursive: true });
  writeFileSync(join(gg, "tiny-a.gguf"), Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(10_000, 7)]));
  writeFileSync(join(gg, "nested", "deeper", "model-b.GGUF"), Buffer.alloc(20_001, 1));
  writeFileSync(join(gg, "nested", "c.gguf"), Buffer.alloc(3, 2));
  writeFileSync(join(gg, "notes.txt"), "not a model\n");
  writeFileSync(join(gg, "gguf"), "no extension\n");
  symlinkSync("tiny-a.gguf", join(gg, "link-a.gguf"));
  symlinkSync("nested", join(gg, "dirlink"));      // a link to a directory: not walked
  symlinkSync("missing.gguf", join(gg, "dangling.gguf"));
  mkdirSync(join(src, "many"));
  for (let i = 0; i < 300; i++) writeFileSync(join(src, "many", `entry-${String(i).padStart(3, "0")}.txt`), `${i}\n`);
  image = join(tmp, "models.img");
  mkdisk(src, image, { label: LABEL });
}

/** Host: every .gguf under src (links to files followed, links to directories not). */
function hostModels(dir = src, rel = ""): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name), r = `${rel}/${name}`;
    const l = lstatSync(p);
    if (l.isDirectory()) out.push(...hostModels(p, r));
    else if (/\.gguf$/i.test(name)) {
      let st;
      try { st = statSync(p); } catch { continue; }
      if (st.isFile()) out.push([`/models${r}`, st.size]);
    }
  }
  return out;
}

/** One `ls` line as the shell formats it. */
const row = (type: string, size: number, name: string) => type.padEnd(5) + String(size).padStart(14) + "  " + name;

const utc = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace("T", " ").replace(/\.000Z$/, " UTC");

const haveMke2fs = !!findMke2fs();
beforeAll(() => { if (haveMke2fs) setupTree(); });
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!haveMke2fs)("storage in QEMU: the models disk", () => {
  let m: SisMachine;
  beforeAll(async () => { m = await SisMachine.boot({ disk: image }); });
  afterAll(() => m?.kill());

  it("probes virtio-blk and logs the mount at boot", async () => {
    const sb = hostSuper(image);
    expect(sb.label).toBe(LABEL);
    const sectors = statSync(image).size / 512;
    expect(m.output).toContain(`info: virtio-mmio: slot 31 @0xa003e00: block device, version 1 (legacy)`);
    expect(m.output).toContain(`info: ${DEV}: ${sectors} sectors (${Math.floor(sectors / 2048)} MiB), legacy transport`);
    const mount = new RegExp(`info: storage: mounted ${DEV} \\([\\d.]+ MiB\\) at /models: ext4 '${LABEL}', read-only, ` +
      `([\\d.]+) MiB file system, ([\\d.]+) MiB used, ([\\d.]+) MiB free`).exec(m.output);
    expect(mount, m.output).not.toBeNull();
    const mib = (blocks: number) => (blocks * sb.blockSize) / MiB;
    expect(Number(mount![1])).toBeCloseTo(mib(sb.blocks), 1);
    expect(Number(mount![2])).toBeCloseTo(mib(sb.blocks - sb.free), 1);
    expect(Number(mount![3])).toBeCloseTo(mib(sb.free - sb.reserved), 1);
    expect(m.output).toMatch(/info: boot: ready in/);
    expect(await m.run("log")).toContain(`storage: mounted ${DEV}`);
  });

  it("ls shows type, size and name of every entry, sorted", async () => {
    const out = (await m.run("ls /models")).split("\n");
    const names = readdirSync(src).concat(["lost+found"]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(out.map((l) => l.replace(/^\S+\s+\S+  /, ""))).toEqual(names);
    for (const l of out) {
      const [, type, size, name] = /^(\S+)\s+(\d+)  (.*)$/.exec(l)!;
      if (name === "lost+found") { expect(type).toBe("dir"); continue; }
      const st = lstatSync(join(src, name));
      expect(type, name).toBe(st.isDirectory() ? "dir" : "file");
      if (st.isFile()) expect(Number(size), name).toBe(st.size);
      else expect(Number(size) % 4096, name).toBe(0);
    }
    const g = (await m.run("ls /models/gguf")).split("\n");
    expect(g).toContain(row("link", 11, "link-a.gguf -> tiny-a.gguf"));
    expect(g).toContain(row("link", 6, "dirlink -> nested"));
    expect(g).toContain(row("file", 10004, "tiny-a.gguf"));
    expect(g.some((l) => /^dir\s+\d+  nested$/.test(l))).toBe(true);
    // a file argument lists the file itself; a link argument to a directory is followed
    expect(await m.run("ls /models/one.bin")).toBe(row("file", 1, "/models/one.bin"));
    expect(await m.run("ls /models/gguf/dirlink")).toMatch(/^file\s+3  c.gguf\ndir\s+\d+  deeper$/);
    expect(await m.run("ls /models/gguf/dangling.gguf")).toBe(row("link", 12, "/models/gguf/dangling.gguf -> missing.gguf"));
    // 300 entries span several directory blocks
    const many = (await m.run("ls /models/many")).split("\n");
    expect(many).toHaveLength(300);
    expect(many[0]).toBe(row("file", 2, "entry-000.txt"));
    expect(many[299]).toBe(row("file", 4, "entry-299.txt"));
    expect(await m.run('ls "/models/with space"')).toBe(row("file", 7, "file name.txt"));
    // "/" is the in-memory root; its one entry is the mount point, shown as the disk's root directory
    expect(await m.run("ls /")).toBe(row("dir", 4096, "models"));
    // the working directory starts at /models: ls without a path and relative paths are there
    expect(await m.run("pwd")).toBe("/models");
    expect(await m.run("ls")).toBe(await m.run("ls /models"));
    expect(await m.run("ls text")).toBe(await m.run("ls /models/text"));
    expect(await m.run("cd /")).toBe("");
    expect(await m.run("ls")).toBe(row("dir", 4096, "models"));
    expect(await m.run("cd models/text")).toBe("");
    expect(await m.run("pwd")).toBe("/models/text");
    expect(await m.run("cd /nowhere")).toMatch(/^error: .*nowhere/);
    expect(await m.run("pwd")).toBe("/models/text");
    expect(await m.run("cd /models")).toBe("");
  });

  it("stat matches the host's size, mode, inode and times", async () => {
    for (const rel of ["b4095.bin", "text/hello.txt", "ünïcödé.txt", "many/entry-007.txt"]) {
      const st = lstatSync(join(src, rel));
      const out = await m.run(`stat /models/${rel}`);
      expect(out).toContain(`  File: /models/${rel}`);
      expect(out).toContain("  Type: regular file");
      expect(out).toMatch(new RegExp(`^  Size: ${st.size} bytes`, "m"));
      expect(out).toMatch(new RegExp(`^ Inode: ${hostInode(image, "/" + rel)}   Links: 1$`, "m"));
      expect(out).toContain(`  Mode: 0${(st.mode & 0o7777).toString(8)} (-`);
      expect(out).toContain(`Modify: ${utc(st.mtimeMs)}`);
    }
    const d = await m.run("stat /models/gguf");
    expect(d).toContain("  Type: directory");
    expect(d).toContain(`  Mode: 0${(statSync(join(src, "gguf")).mode & 0o7777).toString(8)} (d`);
    const l = await m.run("stat /models/gguf/link-a.gguf");
    expect(l).toContain("  File: /models/gguf/link-a.gguf -> tiny-a.gguf");
    expect(l).toContain("  Type: symbolic link");
    expect(await m.run("stat")).toBe("usage: stat PATH");
  });

  it("cat prints text and refuses binary, non-UTF-8 and large files", async () => {
    expect(await m.run("cat /models/text/hello.txt")).toBe(HELLO.replace(/\n$/, ""));
    expect(await m.run("cat /models/text/noeol.txt")).toBe("no newline at the end");
    expect(await m.run('cat "/models/with space/file name.txt"')).toBe("spaced");
    expect(await m.run("cat /models/ünïcödé.txt")).toBe("unicode name");
    expect(await m.run("cat /models/empty.bin")).toBe("");
    const exact = readFileSync(join(src, "text", "exact64k.txt"), "utf8");
    expect(await m.run("cat /models/text/exact64k.txt", { timeout: 60_000 })).toBe(exact.replace(/\n$/, ""));
    expect(await m.run("cat /models/text/over64k.txt")).toMatch(/^error: \/models\/text\/over64k.txt: 65537 bytes \(64.0 KiB\) is too large for cat \(at most 64.0 KiB\)/);
    const nulAt = readFileSync(join(src, "text", "nul.bin")).indexOf(0);
    expect(await m.run("cat /models/text/nul.bin")).toBe(`error: /models/text/nul.bin: binary file (NUL byte at offset ${nulAt}), not printed`);
    expect(await m.run("cat /models/text/latin1.txt")).toBe("error: /models/text/latin1.txt: not UTF-8 text (invalid byte sequence at offset 3), not printed");
    expect(await m.run("cat /models/huge.bin")).toMatch(/is too large for cat/);
  });

  it("df and mounts agree with the host's superblock", async () => {
    const sb = hostSuper(image);
    const k = (blocks: number) => (blocks * sb.blockSize) / 1024;
    const df = (await m.run("df")).split("\n");
    expect(df[0]).toMatch(/^Filesystem\s+Type\s+1K-blocks\s+Used\s+Available\s+Use%\s+Mounted on$/);
    expect(df).toHaveLength(2);
    const [fsname, type, total, used, avail, pct, on] = df[1].split(/\s+/);
    expect([fsname, type, on]).toEqual([DEV, "ext4", "/models"]);
    expect(Number(total)).toBe(k(sb.blocks));
    expect(Number(used)).toBe(k(sb.blocks - sb.free));
    expect(Number(avail)).toBe(k(sb.free - sb.reserved));
    const u = sb.blocks - sb.free, a = sb.free - sb.reserved;
    expect(pct).toBe(`${Math.ceil((u * 100) / (u + a))}%`);
    expect(await m.run("df -h")).toMatch(/virtio-blk@0xa003e00\s+ext4\s+[\d.]+ MiB\s+[\d.]+ MiB\s+[\d.]+ MiB\s+\d+%\s+\/models/);
    expect(await m.run("df -x")).toBe("usage: df [-h]     (-h: sizes in KiB/MiB/GiB)");
    expect(await m.run("mounts")).toBe(`rootfs on / type rootfs (ro)\n${DEV} on /models type ext4 (ro, label '${LABEL}', ${sb.blockSize}-byte blocks)`);
  });

  it("llmctl models lists every .gguf under /models with its size", async () => {
    const want = hostModels().sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    expect(want.length).toBe(4); // tiny-a, link-a, nested/c, nested/deeper/model-b
    const out = (await m.run("llmctl models")).split("\n");
    // a dangling .gguf link is reported, the rest listed
    const listed = out.filter((l) => l.startsWith("/models/")).map((l) => {
      const r = /^(\S+)  (\d+) bytes(?: \([\d.]+ [KMG]iB\))?  (?:cannot load: .+|\w+ \(.+\).*)$/.exec(l)!;
      return [r[1], Number(r[2])];
    });
    expect(listed).toEqual(want);
    // no unit for sizes under 1 KiB; what the header says (not a GGUF file here)
    expect(out.find((l) => l.startsWith("/models/gguf/nested/c.gguf  3 bytes  cannot load: "))).toBeDefined();
    expect(out).toContain("error: /models/gguf/dangling.gguf: broken symbolic link: /models/gguf/missing.gguf: no such file or directory");
    expect(out[out.length - 1]).toMatch(new RegExp(`^${want.length} models, [\\d.]+ KiB in all$`));
    expect(await m.run("llmctl models extra")).toMatch(/^usage: llmctl /);
    expect(await m.run("help llmctl")).toContain("llmctl models");
  });

  it("sha256sum equals the host's for files from 0 bytes to 300 MiB", async () => {
    for (const name of ["empty.bin", "one.bin", "b4095.bin", "mib7.bin", "big64.bin", "huge.bin"]) {
      const { text } = await runRendered(m, `sha256sum /models/${name}`, { timeout: 300_000 });
      expect(text, name).toBe(`${sums[name]}  /models/${name}`);
    }
    // several files at once, a relative path, a name with spaces, text files
    const hello = sha256hex(Buffer.from(HELLO));
    expect(await m.run('sha256sum one.bin /models/text/hello.txt "/models/with space/file name.txt"')).toBe(
      `${sums["one.bin"]}  one.bin\n${hello}  /models/text/hello.txt\n${sha256hex(Buffer.from("spaced\n"))}  /models/with space/file name.txt`);
  }, 600_000);

  it("sha256sum shows progress for big files on one updating line", async () => {
    const t0 = Date.now();
    const { text, raw } = await runRendered(m, "sha256sum /models/big64.bin", { timeout: 300_000 });
    const took = Date.now() - t0;
    expect(text).toBe(`${sums["big64.bin"]}  /models/big64.bin`); // the progress line is gone from the screen
    // progress is shown every 0.5 s; a machine that hashes 64 MiB faster than that shows none
    if (took > 1500) expect(raw).toMatch(/\rsha256sum: \/models\/big64.bin: \d+% \([\d.]+ MiB of 64.0 MiB, [\d.]+ MB\/s\)\x1b\[K/);
    expect(raw).not.toMatch(/% \([^\r]*\n/); // never a newline after a progress text
  }, 300_000);

  it("Ctrl-C stops sha256sum cleanly, and the shell carries on", async () => {
    const from = m.output.length;
    m.send("sha256sum /models/huge.bin\r");
    await m.waitFor(/sha256sum: \/models\/huge.bin: \d+%/, { from, timeout: 120_000 });
    m.send("\x03");
    const { text } = await m.waitFor("\nsis> ", { from, timeout: 60_000 });
    expect(text).toMatch(/\^C\nsha256sum: \/models\/huge.bin: interrupted after [\d.]+ MiB of 300.0 MiB\n/);
    expect(text).not.toContain(sums["huge.bin"]);
    expect(await m.run("sha256sum /models/mib7.bin")).toBe(`${sums["mib7.bin"]}  /models/mib7.bin`);
    expect(await m.run("mem")).toMatch(/regions:/);
  }, 300_000);

  it("readfile reads a file to the end and reports the throughput", async () => {
    const out = await m.run("readfile /models/big64.bin", { timeout: 120_000 });
    expect(out).toMatch(/^\/models\/big64.bin: read 67108864 bytes \(64.0 MiB\) in [\d.]+ s, [\d.]+ MB\/s$/m);
    expect(await m.run("readfile /models/gguf")).toBe("error: /models/gguf: is a directory");
  });

  it("answers every error clearly", async () => {
    expect(await m.run("ls /models/nope")).toBe("error: /models/nope: no such file or directory");
    expect(await m.run("cat /models/text/hello.txt/x")).toBe("error: /models/text/hello.txt: not a directory");
    expect(await m.run("cat /models/text")).toBe("error: /models/text: is a directory");
    expect(await m.run("sha256sum /models/text")).toBe("error: /models/text: is a directory");
    expect(await m.run("sha256sum /models/one.bin /models/nope")).toBe(`${sums["one.bin"]}  /models/one.bin\nerror: /models/nope: no such file or directory`);
    expect(await m.run("stat /nope")).toBe("error: /nope: no such file or directory");
    expect(await m.run("sha256sum")).toBe("usage: sha256sum PATH...");
    expect(await m.run("cat")).toBe("usage: cat PATH");
    expect(await m.run("ls a b")).toBe("usage: ls [PATH]");
    expect(await m.run("echo still alive")).toBe("still alive");
  });

  it("poweroff ends QEMU with exit status 0", async () => {
    expect(await m.poweroff()).toBe(0);
  });
});

describe.skipIf(!haveMke2fs)("storage in QEMU: modern virtio-mmio layout", () => {
  let m: SisMachine;
  beforeAll(async () => { m = await SisMachine.boot({ disk: image, modernVirtio: true }); });
  afterAll(() => m?.kill());

  it("negotiates the version 2 transport and reads through it", async () => {
    expect(m.output).toContain("info: virtio-mmio: slot 31 @0xa003e00: block device, version 2 (modern)");
    expect(m.output).toMatch(/virtio-blk@0xa003e00: \d+ sectors \(\d+ MiB\), modern transport/);
    expect(m.output).toContain(`info: storage: mounted ${DEV}`);
    expect(await m.run("cat /models/text/hello.txt")).toBe(HELLO.replace(/\n$/, ""));
    for (const name of ["b4095.bin", "mib7.bin", "big64.bin"]) {
      expect(await m.run(`sha256sum /models/${name}`, { timeout: 120_000 })).toContain(`${sums[name]}  /models/${name}`);
    }
    expect((await m.run("llmctl models")).split("\n").filter((l) => l.startsWith("/models/"))).toHaveLength(4);
    expect(await m.poweroff()).toBe(0);
  }, 300_000);
});

describe("storage in QEMU: no models disk", () => {
  let m: SisMachine;
  beforeAll(async () => { m = await SisMachine.boot(); });
  afterAll(() => m?.kill());

  it("boots, says no models disk is attached, and commands say no such file", async () => {
    expect(m.output).toContain("info: virtio-mmio: 0 device(s) in 32 slots, no usable block device");
    expect(m.output).toContain("info: storage: no models disk attached (no virtio-blk device on virtio-mmio); /models is not available");
    expect(m.output).toMatch(/info: boot: ready in/);
    const why = "no such file or directory (no models disk is attached)";
    expect(await m.run("ls /models")).toBe(`error: /models: ${why}`);
    expect(await m.run("cat /models/x.txt")).toBe(`error: /models: ${why}`);
    expect(await m.run("sha256sum /models/x.gguf")).toBe(`error: /models: ${why}`);
    expect(await m.run("stat /models")).toBe(`error: /models: ${why}`);
    expect(await m.run("llmctl models")).toBe(`error: /models: ${why}`);
    expect(await m.run("df")).toBe("no disk file systems are mounted (no models disk is attached)");
    expect(await m.run("mounts")).toBe("rootfs on / type rootfs (ro)\n(no models disk is attached)");
    expect(await m.run("ls /")).toBe("");
    expect(await m.run("echo still alive")).toBe("still alive");
    expect(await m.poweroff()).toBe(0);
  });
});
