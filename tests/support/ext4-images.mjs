// Builds ext2/3/4 test images with the host's mke2fs from content the test generates,
// and asks debugfs (the host's view) which blocks a file depends on.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, symlinkSync, openSync, writeSync, closeSync, ftruncateSync, readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { createHash } from "node:crypto";

export const MKE2FS = "/usr/sbin/mke2fs";
export const DEBUGFS = "/usr/sbin/debugfs";
export const E2FSCK = "/usr/sbin/e2fsck";
export const haveMke2fs = existsSync(MKE2FS);

/** Deterministic PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function bytesFrom(seed, n) {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const v = (r() * 4294967296) >>> 0;
    b[i] = v; if (i + 1 < n) b[i + 1] = v >>> 8; if (i + 2 < n) b[i + 2] = v >>> 16; if (i + 3 < n) b[i + 3] = v >>> 24;
  }
  return b;
}

export const sha256 = (b) => createHash("sha256").update(b).digest("hex");

/**
 * Writes a tree into `root` from a spec: { "a/b.txt": Buffer|string, "l": { symlink: "target" },
 * "s": { sparse: size, writes: [[offset, Buffer], ...] }, "d/": {} (empty dir) }.
 */
export function writeTree(root, spec) {
  mkdirSync(root, { recursive: true });
  for (const [rel, v] of Object.entries(spec)) {
    const p = join(root, rel);
    if (rel.endsWith("/")) { mkdirSync(p, { recursive: true }); continue; }
    mkdirSync(dirname(p), { recursive: true });
    if (typeof v === "string" || Buffer.isBuffer(v)) writeFileSync(p, v);
    else if (v.symlink !== undefined) symlinkSync(v.symlink, p);
    else if (v.sparse !== undefined) {
      const fd = openSync(p, "w");
      try {
        for (const [off, data] of v.writes) writeSync(fd, data, 0, data.length, off);
        ftruncateSync(fd, v.sparse);
      } finally { closeSync(fd); }
    }
  }
}

/**
 * mke2fs -d: { type: "ext4"|"ext2"|"ext3", blockSize, features: "^64bit,...", sizeK, inodes }.
 * Returns the image as a Buffer (also left at `image`).
 */
export function mkfs(image, srcDir, { type = "ext4", blockSize = 4096, features = "", sizeK = 8192, inodes = 0, extra = [], htree = false } = {}) {
  const args = ["-q", "-F", "-t", type, "-b", String(blockSize), "-L", "sis-test", "-E", "root_owner=0:0",
    "-U", "6f8b2a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "-E", "hash_seed=11111111-2222-3333-4444-555555555555"];
  if (features) args.push("-O", features);
  if (inodes) args.push("-N", String(inodes));
  args.push(...extra, "-d", srcDir, image, `${sizeK}k`);
  execFileSync(MKE2FS, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, E2FSPROGS_FAKE_TIME: "1700000000" } });
  if (htree) {
    // mke2fs -d writes linear directories; e2fsck -D indexes the large ones (exit 1: "changed")
    try { execFileSync(E2FSCK, ["-fyD", image], { stdio: ["ignore", "pipe", "pipe"] }); }
    catch (e) { if (e.status !== 1) throw e; }
  }
  return readFileSync(image);
}

/** Runs debugfs commands (read-only) and returns stdout. */
export function debugfs(image, commands) {
  return execFileSync(DEBUGFS, ["-f", "-", image], { input: commands.join("\n") + "\n", stdio: ["pipe", "pipe", "pipe"] }).toString();
}
