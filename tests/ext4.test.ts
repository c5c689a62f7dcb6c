// ext4 reader against real images made by mke2fs from content this test generates:
// block sizes 1024/4096, with and without 64bit and metadata_csum, extents and classic
// block maps (ext2/ext3), meta_bg, htree directories, deep paths, fast and slow symlinks,
// a fragmented file (extent tree depth 2 at 1 KiB blocks) and a sparse file past 4 GiB.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStorageWasm } from "./support/ext4-build.mjs";
import { Ext4Host } from "./support/ext4-host.mjs";
import { writeTree, mkfs, bytesFrom, sha256, debugfs, haveMke2fs } from "./support/ext4-images.mjs";

const GiB = 1024 ** 3;
const HUGE_WRITES: [number, Buffer][] = [
  [0, bytesFrom(70, 5000)],
  [GiB + 7, bytesFrom(71, 3000)],
  [4 * GiB - 10, Buffer.from("straddles the 4 GiB line")],
  [4 * GiB + 12345, bytesFrom(72, 70000)],
  [5 * GiB - 100, bytesFrom(73, 100)],
];
const HUGE_SIZE = 5 * GiB;
// "thousands of files in one directory" costs mke2fs O(n^2) time: only some images get 2000
const MANY_BIG = 2000, MANY_SMALL = 300;
const DEEP = Array.from({ length: 40 }, (_, i) => `d${i}`).join("/");
const LONG_DIR = "a-directory-name-long-enough-to-push-a-symlink-target-past-sixty-bytes";

function fragmented(): { writes: [number, Buffer][]; size: number } {
  const writes: [number, Buffer][] = [];
  for (let i = 0; i < 400; i++) writes.push([i * 8192, bytesFrom(1000 + i, 1024)]);
  return { writes, size: 400 * 8192 };
}

function expand(writes: [number, Buffer][], size: number, from: number, len: number): Buffer {
  const out = Buffer.alloc(Math.max(0, Math.min(len, size - from)));
  for (const [off, data] of writes) {
    const s = Math.max(off, from), e = Math.min(off + data.length, from + out.length);
    if (s < e) data.copy(out, s - from, s - off, e - off);
  }
  return out;
}

// Everything the tree holds, as the test knows it.
const regular: Record<string, Buffer> = {
  "empty": Buffer.alloc(0),
  "one": Buffer.from("x"),
  "hello.txt": Buffer.from("hello, world\n"),
  "b1023": bytesFrom(1, 1023), "b1024": bytesFrom(2, 1024), "b4095": bytesFrom(3, 4095), "b4096": bytesFrom(4, 4096), "b4097": bytesFrom(5, 4097),
  "medium.bin": bytesFrom(6, 300_000),
  "large.bin": bytesFrom(7, 1_500_000),
  [`${DEEP}/leaf.txt`]: Buffer.from("at the bottom\n"),
  [`${LONG_DIR}/${LONG_DIR}/target.txt`]: Buffer.from("reached through a slow symlink\n"),
  "dir with spaces/ünïcode-名前.txt": Buffer.from("utf-8 names\n"),
};
const manyName = (i: number) => `many/file-${String(i).padStart(5, "0")}`;
function regularFor(many: number): Record<string, Buffer> {
  const r = { ...regular };
  for (let i = 0; i < many; i += 100) r[manyName(i)] = Buffer.from(`content of ${i}\n`);
  return r;
}
const links: Record<string, string> = {
  "links/fast": "../hello.txt",
  "links/slow": `../${LONG_DIR}/${LONG_DIR}/target.txt`,
  "links/abs": "/medium.bin",
  "links/todir": `../${DEEP.split("/").slice(0, 20).join("/")}`,
  "links/dotdot": "../links/../hello.txt",
  "links/dangling": "nowhere",
  "links/self": "self",
  "links/loopA": "loopB",
  "links/loopB": "loopA",
};
// chains of trailing links: 40 hops resolve, 41 do not
for (let i = 0; i < 41; i++) links[`chain/c${i}`] = i === 40 ? "../hello.txt" : `c${i + 1}`;
// nested links (each body continues after the link): 8 levels resolve, 9 do not
links["nest/n8"] = "../deep";
for (let i = 0; i < 8; i++) links[`nest/n${i}`] = `n${i + 1}/.`;

function spec(many: number): Record<string, any> {
  const s: Record<string, any> = regularFor(many);
  for (const [k, v] of Object.entries(links)) s[k] = { symlink: v };
  for (let i = 0; i < many; i++) if (i % 100) s[manyName(i)] = "";
  const f = fragmented();
  s["fragmented"] = { sparse: f.size, writes: f.writes };
  s["huge.sparse"] = { sparse: HUGE_SIZE, writes: HUGE_WRITES };
  s["emptydir/"] = {};
  s["deep"] = { symlink: DEEP.split("/").slice(0, 3).join("/") };
  return s;
}

const VARIANTS = [
  { name: "ext4 4K (64bit, metadata_csum)", type: "ext4", blockSize: 4096, features: "", flavour: "ext4", many: MANY_BIG },
  { name: "ext4 1K", type: "ext4", blockSize: 1024, features: "", flavour: "ext4", many: MANY_BIG },
  { name: "ext4 4K ^64bit, 1024-byte inodes", type: "ext4", blockSize: 4096, features: "^64bit", flavour: "ext4", many: MANY_SMALL, extra: ["-I", "1024"] },
  { name: "ext4 1K ^64bit ^metadata_csum (gdt_csum)", type: "ext4", blockSize: 1024, features: "^64bit,^metadata_csum", flavour: "ext4", many: MANY_SMALL },
  { name: "ext4 4K ^extents (block maps)", type: "ext4", blockSize: 4096, features: "^extents,^64bit", flavour: "ext4", many: MANY_SMALL },
  { name: "ext4 1K meta_bg", type: "ext4", blockSize: 1024, features: "meta_bg,^resize_inode", flavour: "ext4", many: MANY_SMALL },
  { name: "ext2 4K, 128-byte inodes", type: "ext2", blockSize: 4096, features: "", flavour: "ext2", many: MANY_SMALL, extra: ["-I", "128"] },
  { name: "ext4 1K 128-byte inodes (checksums without i_checksum_hi)", type: "ext4", blockSize: 1024, features: "^64bit", flavour: "ext4", many: MANY_SMALL, extra: ["-I", "128"] },
  { name: "ext2 1K", type: "ext2", blockSize: 1024, features: "", flavour: "ext2", many: MANY_BIG },
  { name: "ext3 1K", type: "ext3", blockSize: 1024, features: "", flavour: "ext3", many: MANY_SMALL },
];

describe.skipIf(!haveMke2fs)("ext4 reader on mke2fs images", () => {
  let h: Ext4Host;
  let tmp: string;
  const srcs: Record<number, string> = {};
  const hostNames = (rel: string, many: number) => {
    const set = new Set<string>([".", ".."]);
    for (const k of Object.keys(spec(many))) {
      const p = k.endsWith("/") ? k.slice(0, -1) : k;
      if (rel === "" ? true : p.startsWith(rel + "/")) {
        const rest = rel === "" ? p : p.slice(rel.length + 1);
        set.add(rest.split("/")[0]);
      }
    }
    return set;
  };

  beforeAll(async () => {
    h = await Ext4Host.create(await buildStorageWasm(), { maxSectorsPerOp: 200000 });
    tmp = mkdtempSync(join(tmpdir(), "sis-ext4-"));
    for (const n of [MANY_BIG, MANY_SMALL]) { srcs[n] = join(tmp, `src${n}`); writeTree(srcs[n], spec(n)); }
  });
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  for (const v of VARIANTS) {
    it(v.name, () => {
      const imgPath = join(tmp, "img");
      const img = mkfs(imgPath, srcs[v.many], { type: v.type, blockSize: v.blockSize, features: v.features, sizeK: 20480, inodes: 4096, htree: true, extra: (v as any).extra ?? [] });
      const isz = img.readUInt16LE(1024 + 0x58);
      if ((v as any).extra) expect(isz).toBe(Number((v as any).extra[1]));
      h.unmount("/"); // in case an earlier case failed half way
      const baseline = h.x.regionBytesInUse();
      expect(h.mount(img)).toBe("");

      const sf = h.statfs("/");
      expect(sf.type).toBe(v.flavour);
      expect(sf.blockSize).toBe(v.blockSize);
      expect(sf.label).toBe("sis-test");
      expect(Number(sf.blocks)).toBe(img.length / v.blockSize);

      // directory listings match what the test put there
      const root = h.list("/");
      expect(root.error).toBeUndefined();
      const rootNames = new Set(root.entries.map((e: any) => e.name));
      const want = hostNames("", v.many); want.add("lost+found");
      expect(rootNames).toEqual(want);
      const many = h.list("/many");
      expect(many.entries.length).toBe(v.many + 2);
      expect(new Set(many.entries.map((e: any) => e.name))).toEqual(hostNames("many", v.many));
      expect(h.list("/emptydir").entries.map((e: any) => e.name).sort()).toEqual([".", ".."]);
      // the big directory really is an htree
      const flags = /Flags: 0x([0-9a-f]+)/.exec(debugfs(imgPath, ["stat /many"]))!;
      expect(parseInt(flags[1], 16) & 0x1000).toBe(0x1000);

      // every regular file, through reads of several sizes
      const chunks = [4096, 65536, 1 << 20, 1000];
      let k = 0;
      for (const [p, data] of Object.entries(regularFor(v.many))) {
        const r = h.readFile("/" + p, { chunk: chunks[k++ % chunks.length] });
        expect(r.error, p).toBeUndefined();
        expect(sha256(r.data), p).toBe(sha256(data));
        const st = h.stat("/" + p);
        expect(st.size, p).toBe(BigInt(data.length));
        expect(st.type, p).toBe(1);
      }
      // random preads in the large file hit the read-ahead windows and the direct path
      const large = regular["large.bin"];
      for (const [off, len] of [[0, 10], [4095, 2], [123457, 70000], [1_499_990, 100], [1_000_000, 400_000]]) {
        const r = h.pread("/large.bin", off, len);
        expect(r.data.equals(large.subarray(off, off + len))).toBe(true);
      }

      // fragmented file: many extents (a depth-2 tree at 1 KiB blocks)
      const f = fragmented();
      const fr = h.readFile("/fragmented", { chunk: 100000 });
      expect(fr.error).toBeUndefined();
      expect(sha256(fr.data)).toBe(sha256(expand(f.writes, f.size, 0, f.size)));
      if (v.type === "ext4" && v.blockSize === 1024) expect(debugfs(imgPath, ["stat /fragmented"])).toContain("ETB1");

      // sparse file past 4 GiB
      const hs = h.stat("/huge.sparse");
      expect(hs.size).toBe(BigInt(HUGE_SIZE));
      expect(hs.blocks).toBeLessThan(4096n);
      for (const [off, data] of HUGE_WRITES) {
        for (const [from, len] of [[off - 33, data.length + 66], [off, data.length]]) {
          const a = Math.max(0, from);
          const r = h.pread("/huge.sparse", a, len);
          expect(r.error).toBeUndefined();
          expect(r.data.equals(expand(HUGE_WRITES, HUGE_SIZE, a, len)), `at ${a}`).toBe(true);
        }
      }
      const hole = h.pread("/huge.sparse", 3 * GiB, 1 << 20);
      expect(hole.data.length).toBe(1 << 20);
      expect(hole.data.every((b: number) => b === 0)).toBe(true);
      expect(h.pread("/huge.sparse", HUGE_SIZE - 10, 100).data.length).toBe(10);
      expect(h.pread("/huge.sparse", HUGE_SIZE + 10, 100).data.length).toBe(0);

      // symlinks
      for (const [p, target] of Object.entries(links)) expect(h.readlink("/" + p), p).toEqual({ target });
      expect(h.readFile("/links/fast").data.toString()).toBe("hello, world\n");
      expect(h.readFile("/links/slow").data.toString()).toBe("reached through a slow symlink\n");
      expect(sha256(h.readFile("/links/abs").data)).toBe(sha256(regular["medium.bin"]));
      expect(h.readFile("/links/dotdot").data.toString()).toBe("hello, world\n");
      expect(h.readFile("/links/todir/d20/d21/../d21/d22/" + DEEP.split("/").slice(23).join("/") + "/leaf.txt").data?.toString()).toBe("at the bottom\n");
      expect(h.readFile("/links/dangling").code).toBe(2);
      expect(h.readFile("/links/self").code).toBe(40);
      expect(h.readFile("/links/loopA").code).toBe(40);
      expect(h.readFile("/chain/c1").data.toString()).toBe("hello, world\n"); // 40 links
      const c0 = h.readFile("/chain/c0"); // 41 links
      expect(c0.code).toBe(40);
      expect(c0.error).toMatch(/too many symbolic links/);
      expect(h.readFile("/nest/n1/d3/d4/" + DEEP.split("/").slice(5).join("/") + "/leaf.txt").data?.toString()).toBe("at the bottom\n"); // 8 nested
      expect(h.readFile("/nest/n0/d3/leaf.txt").error).toMatch(/nested deeper than 8/); // 9 nested
      // the symlink itself and what it points to
      expect(h.stat("/links/fast", false).type).toBe(7);
      expect(h.stat("/links/fast", true).size).toBe(13n);

      // deep paths and odd spellings
      expect(h.readFile(`//${DEEP}///./leaf.txt`).data.toString()).toBe("at the bottom\n");
      expect(h.readFile(`/${DEEP}/../${DEEP.split("/").pop()}/leaf.txt`).data.toString()).toBe("at the bottom\n");
      expect(h.readFile("/../../hello.txt").data.toString()).toBe("hello, world\n");
      expect(h.readFile("/hello.txt/").code).toBe(20);
      expect(h.readFile("/hello.txt/x").code).toBe(20);
      expect(h.readFile("/nope").code).toBe(2);
      expect(h.readFile("/" + "n".repeat(256)).code).toBe(36);

      expect(h.x.openCount()).toBe(0);
      expect(h.unmount()).toBe("");
      expect(h.x.regionBytesInUse()).toBe(baseline);
    });
  }

  it("reads other geometries: 2K and 64K blocks, bigalloc clusters, sparse_super2", () => {
    h.unmount("/");
    const small = join(tmp, "geo");
    const data = bytesFrom(3, 700_000);
    writeTree(small, { "f.bin": data, "d/g.txt": "g\n", "l": { symlink: "d/g.txt" } });
    for (const o of [
      { blockSize: 2048, sizeK: 8192 },
      { blockSize: 65536, sizeK: 65536 },
      { blockSize: 4096, features: "bigalloc", extra: ["-C", "65536"], sizeK: 65536 },
      { blockSize: 1024, features: "sparse_super2", sizeK: 65536 },
    ]) {
      const what = JSON.stringify(o);
      expect(h.mount(mkfs(join(tmp, "geo.img"), small, o)), what).toBe("");
      expect(sha256(h.readFile("/f.bin", { chunk: 3000 }).data!), what).toBe(sha256(data));
      expect(h.readFile("/l").data!.toString(), what).toBe("g\n");
      expect(h.statfs("/").blockSize, what).toBe(o.blockSize);
      expect(h.unmount(), what).toBe("");
    }
  });

  it("names unsupported incompat features, refuses needs_recovery, ignores unknown ro_compat", () => {
    h.unmount("/");
    const imgPath = join(tmp, "feat");
    const small = join(tmp, "small");
    writeTree(small, { "a.txt": "a\n" });
    for (const [feat, name] of [["inline_data", "inline_data"], ["encrypt", "encrypt"], ["casefold", "casefold"]]) {
      const img = mkfs(imgPath, small, { features: feat, sizeK: 4096 });
      const e = h.mount(img);
      expect(e, feat).toMatch(/unsupported ext4 feature/);
      expect(e, feat).toContain(name);
    }
    // patch feature words of a checksum-less image (so the patch is not caught as damage)
    const base = mkfs(imgPath, small, { features: "^metadata_csum", sizeK: 4096 });
    const patched = (off: number, bit: number) => { const b = Buffer.from(base); b.writeUInt32LE((b.readUInt32LE(1024 + off) | bit) >>> 0, 1024 + off); return b; };
    expect(h.mount(patched(0x60, 0x4))).toMatch(/needs_recovery/);
    expect(h.mount(patched(0x60, 0x80000000))).toMatch(/unknown incompat bit 0x80000000/);
    expect(h.mount(patched(0x64, 0x40000000))).toBe(""); // unknown ro_compat: fine read-only
    expect(h.readFile("/a.txt").data.toString()).toBe("a\n");
    expect(h.unmount()).toBe("");
    const nomagic = Buffer.from(base); nomagic[1024 + 0x38] = 0;
    expect(h.mount(nomagic)).toMatch(/no ext2\/3\/4 file system/);
    expect(h.mount(Buffer.alloc(1000))).toMatch(/too small/);
    // a file system claiming more blocks than the device has
    expect(h.mount(base.subarray(0, base.length / 2))).toMatch(/device holds/);
  });
});
