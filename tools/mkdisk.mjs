#!/usr/bin/env node
// mkdisk: builds an ext4 disk image from a folder, without root and without loop mounts:
// `mke2fs -t ext4 -d DIR` populates the file system straight from the folder.
//
//   node tools/mkdisk.mjs DIR IMAGE [--label NAME] [--headroom PERCENT] [--force]
//
// The image is rebuilt only when the folder changed: IMAGE.stamp keeps a hash of every
// path, type, size, mode, mtime and symlink target (and of the options). The size comes
// from what the folder really occupies (sparse files count their allocated blocks) plus
// file-system overhead and headroom. Built under a temporary name, then renamed, so an
// interrupted run never leaves a half-made image behind.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readlinkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, openSync, closeSync, ftruncateSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const BLOCK = 4096;
const INODE_SIZE = 256;
const MiB = 1024 * 1024;

export function findMke2fs() {
  for (const p of ["/usr/sbin/mke2fs", "/sbin/mke2fs", "/usr/local/sbin/mke2fs"]) if (existsSync(p)) return p;
  try { return execFileSync("sh", ["-c", "command -v mke2fs"], { encoding: "utf8" }).trim() || null; } catch { return null; }
}

/** Walks DIR: entries sorted by path, with what the stamp hashes and what the size needs. */
export function scanTree(dir) {
  const entries = [];
  const walk = (abs, rel) => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name), r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const e = { path: r, mode: st.mode, size: st.size, mtimeMs: st.mtimeMs, blocks512: st.blocks };
      if (st.isSymbolicLink()) e.target = readlinkSync(p);
      entries.push(e);
      if (st.isDirectory()) walk(p, r);
    }
  };
  if (!existsSync(dir)) throw new Error(`${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory`);
  walk(dir, "");
  return entries;
}

export function treeHash(entries, options) {
  const h = createHash("sha256");
  h.update(JSON.stringify(options));
  for (const e of entries) h.update(`${e.path}\0${e.mode}\0${e.size}\0${e.mtimeMs}\0${e.target ?? ""}\n`);
  return h.digest("hex");
}

const roundUp = (n, to) => Math.ceil(n / to) * to;
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** Image size in bytes and inode count for these entries (with headroom in percent). */
export function imageGeometry(entries, headroom = 15) {
  let data = 0, dirBytes = BLOCK; // the root directory
  for (const e of entries) {
    const type = e.mode & 0o170000;
    if (type === 0o100000) data += Math.min(roundUp(e.size, BLOCK), roundUp(e.blocks512 * 512, BLOCK) + BLOCK);
    else if (type === 0o120000 && e.target.length >= 60) data += BLOCK;
    else if (type === 0o040000) dirBytes += BLOCK;
    dirBytes += 8 + roundUp(Buffer.byteLength(e.path.split("/").pop()) + 1, 4);
  }
  const inodes = Math.max(1024, roundUp(Math.ceil(entries.length * 1.25) + 64, 256));
  const extentBlocks = roundUp(data / (128 * MiB), 1) * BLOCK * 4; // index blocks for long, fragmented files
  const metadata = inodes * INODE_SIZE + roundUp(dirBytes, BLOCK) + extentBlocks;
  // bitmaps, group descriptors and reserved GDT growth: a little over 1/1024 of the disk, plus slack
  const raw = data + metadata;
  const total = raw * (1 + headroom / 100) + raw / 512 + 8 * MiB;
  return { bytes: roundUp(total, MiB), inodes };
}

/** Builds IMAGE from DIR unless the stamp says it is current. Returns { rebuilt, bytes, inodes }. */
export function mkdisk(dir, image, { label = "sis-data", headroom = 15, force = false, log = () => {} } = {}) {
  dir = resolve(dir); image = resolve(image);
  const entries = scanTree(dir);
  const options = { label, headroom, version: 1 };
  const hash = treeHash(entries, options);
  const stampPath = image + ".stamp";
  if (!force && existsSync(image) && existsSync(stampPath)) {
    try {
      const stamp = JSON.parse(readFileSync(stampPath, "utf8"));
      if (stamp.hash === hash && statSync(image).size === stamp.bytes) {
        log(`${image}: up to date (${plural(entries.length, "entry", "entries")})`);
        return { rebuilt: false, bytes: stamp.bytes, inodes: stamp.inodes };
      }
    } catch { /* an unreadable stamp means rebuild */ }
  }
  const mke2fs = findMke2fs();
  if (!mke2fs) throw new Error("mke2fs not found (install the e2fsprogs package)");
  const { bytes, inodes } = imageGeometry(entries, headroom);
  const tmp = `${image}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  // a sparse file of the right size: mke2fs writes only the blocks it uses
  const fd = openSync(tmp, "w");
  try { ftruncateSync(fd, bytes); } finally { closeSync(fd); }
  try {
    execFileSync(mke2fs, [
      "-q", "-F", "-t", "ext4", "-b", String(BLOCK), "-I", String(INODE_SIZE), "-N", String(inodes),
      "-m", "0",               // no root reserve: nothing writes to this disk
      "-O", "^has_journal",    // read-only in the kernel: a journal would only take space
      "-L", label, "-E", "root_owner=0:0", "-d", dir, tmp,
    ], { stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`mke2fs failed for ${dir}: ${(e.stderr?.toString() || e.message).trim()}`);
  }
  renameSync(tmp, image);
  writeFileSync(stampPath, JSON.stringify({ hash, bytes, inodes, entries: entries.length }) + "\n");
  log(`${image}: built ${Math.round(bytes / MiB)} MiB ext4 image, ${plural(entries.length, "entry", "entries")}, ${inodes} inodes`);
  return { rebuilt: true, bytes, inodes };
}

function usage() {
  console.error("usage: node tools/mkdisk.mjs DIR IMAGE [--label NAME] [--headroom PERCENT] [--force]");
  process.exit(2);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opts = { log: (s) => console.log(s) };
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--force") opts.force = true;
    else if (a === "--label") opts.label = args[++i] ?? usage();
    else if (a === "--headroom") { opts.headroom = Number(args[++i]); if (!(opts.headroom >= 0)) usage(); }
    else if (a.startsWith("--")) usage();
    else pos.push(a);
  }
  if (pos.length !== 2) usage();
  try { mkdisk(pos[0], pos[1], opts); }
  catch (e) { console.error(`mkdisk: ${e.message}`); process.exit(1); }
}
