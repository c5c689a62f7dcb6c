// Corruption runs for the ext4 reader: the host's view of an image (which bytes each file
// depends on, via debugfs on the undamaged image), seeded damage, and checksum fix-ups so
// that structural damage also reaches the reader on metadata_csum images (instead of
// always being caught by a checksum).
import { debugfs, rng } from "./ext4-images.mjs";

// --- crc32c exactly as ext4 chains it (no final inversion) ---
const T = new Uint32Array(256);
for (let i = 0; i < 256; i++) { let c = i; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; T[i] = c >>> 0; }
export function crc32c(crc, buf, from = 0, to = buf.length) {
  for (let i = from; i < to; i++) crc = (T[(crc ^ buf[i]) & 255] ^ (crc >>> 8)) >>> 0;
  return crc >>> 0;
}
const le32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };

/** Superblock facts the fix-ups and the dependency sets need. */
export function superInfo(img) {
  const sb = img.subarray(1024, 2048);
  const incompat = sb.readUInt32LE(0x60), roCompat = sb.readUInt32LE(0x64);
  const bs = 1024 << sb.readUInt32LE(0x18);
  const is64 = (incompat & 0x80) !== 0;
  const info = {
    bs, is64,
    inodeSize: sb.readUInt16LE(0x58),
    csum: (roCompat & 0x400) !== 0,
    firstData: sb.readUInt32LE(0x14),
    blocks: sb.readUInt32LE(0x04) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0),
    bpg: sb.readUInt32LE(0x20),
    descSize: is64 ? sb.readUInt16LE(0xfe) : 32,
    seed: 0,
  };
  info.groups = Math.ceil((info.blocks - info.firstData) / info.bpg);
  info.gdtBlocks = Math.ceil(info.groups / (bs / info.descSize));
  info.seed = (incompat & 0x2000) ? sb.readUInt32LE(0x270) : crc32c(0xffffffff, sb, 0x68, 0x78);
  return info;
}

// --- checksum fix-ups (metadata_csum only) ---
export function fixSuper(img) { img.writeUInt32LE(crc32c(0xffffffff, img, 1024, 1024 + 0x3fc), 1024 + 0x3fc); }

export function fixGroupDesc(img, info, g) {
  const per = info.bs / info.descSize;
  const off = (info.firstData + 1 + Math.floor(g / per)) * info.bs + (g % per) * info.descSize;
  let c = crc32c(info.seed, le32(g));
  c = crc32c(c, img, off, off + 0x1e);
  c = crc32c(c, Buffer.alloc(2));
  if (info.descSize > 0x20) c = crc32c(c, img, off + 0x20, off + info.descSize);
  img.writeUInt16LE(c & 0xffff, off + 0x1e);
}

export function inodeSeed(info, ino, gen) { return crc32c(crc32c(info.seed, le32(ino)), le32(gen)); }

export function fixInode(img, info, ino, off) {
  const isz = info.inodeSize;
  const gen = img.readUInt32LE(off + 0x64);
  const extra = isz > 128 ? img.readUInt16LE(off + 0x80) : 0;
  const hasHi = isz > 128 && extra >= 4;
  let c = inodeSeed(info, ino, gen);
  c = crc32c(c, img, off, off + 0x7c);
  c = crc32c(c, Buffer.alloc(2));
  c = crc32c(c, img, off + 0x7e, off + 128);
  if (isz > 128) {
    c = crc32c(c, img, off + 0x80, off + 0x82);
    if (hasHi) { c = crc32c(c, Buffer.alloc(2)); c = crc32c(c, img, off + 0x84, off + isz); }
    else c = crc32c(c, img, off + 0x82, off + isz);
  }
  img.writeUInt16LE(c & 0xffff, off + 0x7c);
  if (hasHi) img.writeUInt16LE(c >>> 16, off + 0x82);
}

/** Directory leaf block with a checksum tail: recompute it (htree blocks are left alone). */
export function fixDirBlock(img, info, blk, ino, gen) {
  const off = blk * info.bs, t = off + info.bs - 12;
  if (img.readUInt32LE(t) !== 0 || img.readUInt16LE(t + 4) !== 12 || img[t + 7] !== 0xde) return;
  img.writeUInt32LE(crc32c(inodeSeed(info, ino, gen), img, off, t), t + 8);
}

export function fixExtentBlock(img, info, blk, ino, gen) {
  const off = blk * info.bs;
  const tail = 12 + 12 * img.readUInt16LE(off + 4);
  if (tail + 4 > info.bs) return;
  img.writeUInt32LE(crc32c(inodeSeed(info, ino, gen), img, off, off + tail), off + tail);
}

// --- the host's view: what each path depends on ---

function parseStat(text) {
  const ino = +/Inode: (\d+)/.exec(text)[1];
  const gen = +(/Generation: (\d+)/.exec(text)?.[1] ?? 0);
  const type = /Type: (\w+)/.exec(text)[1];
  const data = [], meta = [];
  const sec = /(?:EXTENTS|BLOCKS):\n([\s\S]*?)(?:\n(?:TOTAL|debugfs)|$)/.exec(text);
  if (sec) {
    for (const m of sec[1].matchAll(/\(([^)]*)\):(\d+)(?:-(\d+))?/g)) {
      const s = +m[2], e = m[3] ? +m[3] : s;
      (/^(ETB\d+|IND|DIND|TIND)$/.test(m[1]) ? meta : data).push([s, e + 1]);
    }
  }
  return { ino, gen, type, data, meta };
}

/**
 * For each path (files, dirs, links): { ino, gen, type, inodeOff, data: [[blk, blkEnd)],
 * meta: [[...]] } from debugfs on the undamaged image.
 */
export function hostView(imagePath, paths) {
  const cmds = [];
  for (const p of paths) cmds.push(`stat "${p}"`, `imap "${p}"`);
  const out = debugfs(imagePath, cmds).split(/^debugfs: /m).slice(1);
  const view = {};
  for (let i = 0; i < paths.length; i++) {
    const st = parseStat(out[2 * i]);
    const im = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(out[2 * i + 1]);
    view[paths[i]] = { ...st, inodeBlock: +im[1], inodeOffInBlock: parseInt(im[2], 16) };
  }
  return view;
}

/** Byte ranges [s, e) a path's read depends on: its own and every ancestor's inode and blocks. */
export function depsOf(view, info, path, { withData = true } = {}) {
  const ranges = [];
  const add = (v, data) => {
    const io = v.inodeBlock * info.bs + v.inodeOffInBlock;
    ranges.push([io, io + info.inodeSize]);
    for (const [s, e] of v.meta) ranges.push([s * info.bs, e * info.bs]);
    if (data) for (const [s, e] of v.data) ranges.push([s * info.bs, e * info.bs]);
  };
  const parts = path.split("/").filter(Boolean);
  add(view["/"], true);
  for (let i = 1; i <= parts.length; i++) {
    const p = "/" + parts.slice(0, i).join("/");
    add(view[p], i < parts.length || withData);
  }
  // superblock and group descriptors: everything depends on them
  ranges.push([1024, 2048], [(info.firstData + 1) * info.bs, (info.firstData + 1 + info.gdtBlocks) * info.bs]);
  return ranges;
}

export function touches(ranges, changed) {
  // changed: sorted offsets
  for (const [s, e] of ranges) {
    let lo = 0, hi = changed.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (changed[m] < s) lo = m + 1; else hi = m; }
    if (lo < changed.length && changed[lo] < e) return true;
  }
  return false;
}

// --- damage ---

/** Offsets (within the block) of the directory entries of the block at `off`, walking rec_len. */
function entryStarts(img, off, bs) {
  const out = [];
  for (let o = 0; o + 8 <= bs && out.length < 1000;) {
    const rec = img.readUInt16LE(off + o + 4);
    if (rec < 8 || rec % 4) break;
    out.push(o);
    o += rec;
  }
  return out;
}

/**
 * Damages a copy of `base` with seeded random operations aimed mostly at metadata.
 * view/info: from hostView/superInfo. Returns { img, changed (sorted byte offsets), ops }.
 */
export function damage(base, info, view, seed) {
  const r = rng(seed);
  const ri = (n) => Math.floor(r() * n);
  const pick = (a) => a[ri(a.length)];
  const img = Buffer.from(base);
  const ops = [];
  const regions = []; // [offset, length] of every write, to find the bytes that changed
  const w16 = (v, o) => { regions.push([o, 2]); img.writeUInt16LE(v & 0xffff, o); };
  const w32 = (v, o) => { regions.push([o, 4]); img.writeUInt32LE(v >>> 0, o); };
  const wholeBlock = (b) => regions.push([b * info.bs, info.bs]);
  const entries = Object.entries(view);
  const inodes = entries.map(([p, v]) => ({ p, v, off: v.inodeBlock * info.bs + v.inodeOffInBlock }));
  const dirBlocks = [], extBlocks = [], dataBlocks = [];
  for (const [p, v] of entries) {
    for (const [s, e] of v.meta) for (let b = s; b < e; b++) extBlocks.push({ b, v });
    for (const [s, e] of v.data) for (let b = s; b < e && b < s + 64; b++) (v.type === "directory" ? dirBlocks : dataBlocks).push({ b, v });
  }
  const metaBlocks = [...dirBlocks, ...extBlocks, ...inodes.map((i) => ({ b: Math.floor(i.off / info.bs), v: i.v }))];
  const interesting = () => pick([0, 1, 2, 0xffffffff, 0x7fffffff, 0x80000000, info.blocks, info.blocks - 1, ri(info.blocks), pick(metaBlocks).b, ri(256), 0xf30a, 0x0001f30a, ri(2 ** 32)]) >>> 0;
  const nOps = 1 + ri(3);
  for (let k = 0; k < nOps; k++) {
    const kind = ri(12);
    if (kind <= 2) { // an inode field (checksum fixed), often in i_block (extent root / block map)
      const i = pick(inodes);
      const field = pick([0x00, 0x04, 0x1a, 0x20, 0x28, 0x2c, 0x30, 0x34, 0x38, 0x3c, 0x40, 0x44, 0x48, 0x4c, 0x50, 0x58, 0x60, 0x64, 0x6c, 0x80]);
      const w = field === 0x00 || field === 0x1a || field === 0x80 ? 2 : 4;
      const v = interesting();
      if (w === 2) w16(v, i.off + field); else w32(v, i.off + field);
      regions.push([i.off, info.inodeSize]);
      if (info.csum && r() < 0.85) fixInode(img, info, i.v.ino, i.off);
      ops.push(`inode ${i.v.ino}+0x${field.toString(16)}=${v}`);
    } else if (kind <= 4 && dirBlocks.length) { // a directory entry field (tail checksum fixed)
      const d = pick(dirBlocks);
      const starts = entryStarts(base, d.b * info.bs, info.bs);
      const o = d.b * info.bs + (starts.length && r() < 0.8 ? pick(starts) : 4 * ri(info.bs / 4 - 3));
      const f = ri(4);
      if (f === 0) w32(interesting(), o); // inode
      else if (f === 1) w16(pick([0, 1, 4, 8, 12, 13, 16, info.bs, info.bs - 12, info.bs + 4, 0xffff, ri(0x10000)]), o + 4); // rec_len
      else if (f === 2) { regions.push([o + 6, 1]); img[o + 6] = pick([0, 1, 8, 200, 255, ri(256)]); } // name_len
      else { regions.push([o + 7, 1]); img[o + 7] = pick([0, 1, 2, 7, 8, 0xde, ri(256)]); } // file_type
      wholeBlock(d.b);
      if (info.csum && r() < 0.85) fixDirBlock(img, info, d.b, d.v.ino, d.v.gen);
      ops.push(`dir block ${d.b}@${o % info.bs}`);
    } else if (kind <= 6 && extBlocks.length) { // an extent/indirect block (checksum fixed)
      const d = pick(extBlocks);
      const o = d.b * info.bs + 2 * ri(Math.min(info.bs, 12 * 24) / 2);
      if (r() < 0.5) w16(interesting(), o); else w32(interesting(), o & ~3);
      wholeBlock(d.b);
      if (info.csum && r() < 0.85) fixExtentBlock(img, info, d.b, d.v.ino, d.v.gen);
      ops.push(`map block ${d.b}@${o % info.bs}`);
    } else if (kind === 7) { // a superblock or group descriptor field (checksums fixed)
      if (r() < 0.5) {
        const field = pick([0x00, 0x04, 0x14, 0x18, 0x20, 0x28, 0x4c, 0x54, 0x58, 0x60, 0x64, 0xfe, 0x150]);
        const w = field === 0x58 || field === 0xfe ? 2 : 4;
        const v = interesting();
        if (w === 2) w16(v, 1024 + field); else w32(v, 1024 + field);
        ops.push(`super+0x${field.toString(16)}=${v}`);
      } else {
        const g = ri(info.groups), per = info.bs / info.descSize;
        const off = (info.firstData + 1 + Math.floor(g / per)) * info.bs + (g % per) * info.descSize;
        w32(interesting(), off + pick([0, 4, 8, 0x12 - 2]));
        regions.push([off, info.descSize]);
        if (info.csum) fixGroupDesc(img, info, g);
        ops.push(`group ${g} desc`);
      }
      regions.push([1024, 1024]);
      if (info.csum) fixSuper(img);
    } else if (kind === 8) { // one metadata block copied over another (type confusion, loops)
      const a = pick(metaBlocks), b = pick(metaBlocks);
      base.copy(img, b.b * info.bs, a.b * info.bs, (a.b + 1) * info.bs);
      wholeBlock(b.b);
      ops.push(`block ${a.b} copied over ${b.b}`);
    } else if (kind === 9) { // random bytes in a metadata block, no fix-up
      const d = pick(metaBlocks);
      const o = d.b * info.bs + ri(info.bs);
      regions.push([o, 8]);
      for (let i = 0, n = 1 + ri(8); i < n && o + i < img.length; i++) img[o + i] = ri(256);
      ops.push(`bytes in block ${d.b}`);
    } else if (kind === 10 && dataBlocks.length) { // file data
      const d = pick(dataBlocks);
      const o = d.b * info.bs + ri(info.bs);
      regions.push([o, 1]);
      img[o] ^= 1 + ri(255);
      ops.push(`data block ${d.b}`);
    } else { // a bit anywhere in the used part of the image
      const o = ri(Math.min(img.length, 4 << 20));
      regions.push([o, 1]);
      img[o] ^= 1 << ri(8);
      ops.push(`bit at ${o}`);
    }
  }
  const seen = new Set();
  for (const [o, n] of regions) for (let i = o; i < o + n && i < img.length; i++) if (img[i] !== base[i]) seen.add(i);
  const changed = [...seen].sort((a, b) => a - b);
  return { img, changed, ops };
}
