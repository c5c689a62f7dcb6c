// Corruption runs: real mke2fs images damaged on purpose with seeded random damage (mostly
// aimed at metadata, with checksums recomputed so that structural damage reaches the reader
// on metadata_csum images too). On every image the reader must give a clear error or the
// right data: a file, directory or link whose bytes (and whose ancestors', superblock's and
// group descriptors') were not touched must read exactly as the host saw the original.
// Never a trap; never a hang (a watchdog terminates the worker; each operation's I/O is
// bounded by the host disk).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { Worker } from "node:worker_threads";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStorageWasm } from "./support/ext4-build.mjs";
import { writeTree, mkfs, bytesFrom, sha256, haveMke2fs } from "./support/ext4-images.mjs";
import { superInfo, hostView, fixInode, fixDirBlock, fixExtentBlock, fixSuper, fixGroupDesc } from "./support/ext4-corrupt.mjs";

const RUNS = 150;          // damaged images per base image
const STALL_MS = 20_000;   // no progress for this long = a hang

const LONG = "long-name-".repeat(4);
function tree() {
  const files: Record<string, Buffer> = {
    "a.txt": Buffer.from("alpha\n"),
    "b.bin": bytesFrom(11, 5000),
    "mid.bin": bytesFrom(12, 300_000),
    "d1/x.txt": Buffer.from("x\n"),
    "d1/d2/d3/deep.txt": Buffer.from("deep\n"),
  };
  for (let i = 0; i < 150; i++) files[`big/${LONG}${String(i).padStart(3, "0")}`] = i % 8 ? Buffer.alloc(0) : Buffer.from(`entry ${i}\n`);
  const frag: [number, Buffer][] = [];
  for (let i = 0; i < 60; i++) frag.push([i * 8192, bytesFrom(100 + i, 1000)]);
  const fragData = Buffer.alloc(60 * 8192);
  for (const [o, d] of frag) d.copy(fragData, o);
  const links = { "l/fast": "../a.txt", "l/slow": "../d1/d2/d3/" + "../".repeat(3) + "d1/d2/d3/deep.txt".padStart(90, "/") };
  const spec: Record<string, any> = { ...files, frag: { sparse: fragData.length, writes: frag } };
  for (const [k, v] of Object.entries(links)) spec[k] = { symlink: v };
  return { spec, files: { ...files, frag: fragData }, links };
}

const BASES = [
  { name: "ext4-4k-csum", type: "ext4", blockSize: 4096, features: "^has_journal", sizeK: 4096 },
  { name: "ext4-1k-csum", type: "ext4", blockSize: 1024, features: "^has_journal", sizeK: 3072 },
  { name: "ext4-1k-gdtcsum", type: "ext4", blockSize: 1024, features: "^has_journal,^metadata_csum,^64bit", sizeK: 3072 },
  { name: "ext2-1k", type: "ext2", blockSize: 1024, features: "", sizeK: 3072 },
];

describe.skipIf(!haveMke2fs)("ext4 reader on damaged images", () => {
  let tmp: string;
  let wasm: string;
  const bases: any[] = [];

  beforeAll(async () => {
    wasm = await buildStorageWasm();
    tmp = mkdtempSync(join(tmpdir(), "sis-ext4-corrupt-"));
    const t = tree();
    writeTree(join(tmp, "src"), t.spec);
    for (const b of BASES) {
      const path = join(tmp, b.name);
      const image = mkfs(path, join(tmp, "src"), { ...b, htree: true });
      const info = superInfo(image);
      const dirs: Record<string, string[]> = {};
      const paths = ["/", ...Object.keys(t.files).map((p) => "/" + p), ...Object.keys(t.links).map((p) => "/" + p)];
      for (const p of paths) {
        const parts = p.split("/").filter(Boolean);
        for (let i = 0; i < parts.length; i++) {
          const d = "/" + parts.slice(0, i).join("/");
          (dirs[d] ??= [".", ".."]).includes(parts[i]) || dirs[d].push(parts[i]);
        }
      }
      dirs["/"].push("lost+found");
      const allPaths = [...new Set([...paths, ...Object.keys(dirs)])];
      const view = hostView(path, allPaths);
      const files: Record<string, any> = {};
      for (const [p, d] of Object.entries(t.files)) files["/" + p] = { sha: sha256(d), size: d.length };
      const links: Record<string, string> = {};
      for (const [p, d] of Object.entries(t.links)) links["/" + p] = d;
      bases.push({ name: b.name, image, info, view, files, dirs, links });
    }
  });
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it("the checksum fix-ups reproduce mke2fs's checksums (so fixed-up damage is meaningful)", () => {
    for (const b of bases.filter((b) => b.info.csum)) {
      const img = Buffer.from(b.image);
      for (const v of Object.values<any>(b.view)) {
        fixInode(img, b.info, v.ino, v.inodeBlock * b.info.bs + v.inodeOffInBlock);
        for (const [s, e] of v.meta) for (let k = s; k < e; k++) fixExtentBlock(img, b.info, k, v.ino, v.gen);
        if (v.type === "directory") for (const [s, e] of v.data) for (let k = s; k < e; k++) fixDirBlock(img, b.info, k, v.ino, v.gen);
      }
      fixSuper(img);
      for (let g = 0; g < b.info.groups; g++) fixGroupDesc(img, b.info, g);
      expect(img.equals(b.image), b.name).toBe(true);
      expect(Object.values<any>(b.view).some((v) => v.meta.length > 0), `${b.name} has extent blocks`).toBe(true);
    }
  });

  it(`${BASES.length} x ${RUNS} damaged images: an error or the right data, never a trap or a hang`, async () => {
    const worker = new Worker(new URL("./support/ext4-corrupt-worker.mjs", import.meta.url), {
      workerData: { wasm, runs: RUNS, seed0: 1, bases: bases.map((b) => ({ ...b, image: new Uint8Array(b.image) })) },
    });
    const result: any = await new Promise((resolve, reject) => {
      let last = "start";
      let timer = setTimeout(() => {}, 0);
      const arm = () => { clearTimeout(timer); timer = setTimeout(() => { worker.terminate(); reject(new Error(`hang: no progress for ${STALL_MS} ms after ${last}`)); }, STALL_MS); };
      arm();
      worker.on("message", (m) => {
        if (m.progress) { last = m.progress; arm(); }
        if (m.done) { clearTimeout(timer); resolve(m); }
      });
      worker.on("error", (e) => { clearTimeout(timer); reject(e); });
      worker.on("exit", (c) => { clearTimeout(timer); if (c) reject(new Error(`worker exited ${c} after ${last}`)); });
    });
    await worker.terminate();
    const s = result.stats;
    console.log(`corruption runs: ${s.images} images, ${s.mountErrors} refused at mount, ${s.reads} file reads: ${s.readErrors} errors, ` +
      `${s.intactChecked} untouched files verified, ${s.touchedButCorrect} touched but correct, ${s.touchedWrongData} with damaged data blocks read as stored`);
    console.log("sample of error messages:\n  " + s.messages.slice(0, 40).join("\n  "));
    expect(result.failures.slice(0, 20)).toEqual([]);
    // the damage must actually bite, and the reader must not refuse everything
    expect(s.images).toBe(BASES.length * RUNS);
    expect(s.mountErrors + s.readErrors).toBeGreaterThan(s.images / 4);
    expect(s.mounted).toBeGreaterThan(s.images / 3);
    expect(s.intactChecked).toBeGreaterThan(s.reads / 3);
  });
});
