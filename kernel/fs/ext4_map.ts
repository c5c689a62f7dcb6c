// ext4 block mapping: which disk block holds logical block `lblk` of a file, and how many
// blocks from there on are contiguous (or how long the hole is). Two on-disk forms:
// extent trees (ext4) and the classic direct/indirect block map (ext2/ext3).
// Every pointer read from disk is checked before it is followed; extent trees must
// decrease in depth by exactly one per level, so no walk can loop.

import { Ext4Volume } from "./ext4_super";
import { Inode } from "./ext4_inode";
import { crc32cUpdate } from "./crc";

export const EXT4_EXT_MAGIC: u16 = 0xf30a;
export const EXT4_MAX_EXTENT_DEPTH: u32 = 5;
const INIT_MAX_LEN: u32 = 32768;
const TAG_EXTENT_BLOCK: u32 = 0x45580000; // cache tag: "verified extent block" | depth
const TAG_INDIRECT_BLOCK: u32 = 0x49000000;

/** The answer for one logical block. */
export class Mapping {
  /** Physical block of lblk (unused for holes). */
  pblk: u64 = 0;
  /** Blocks from lblk on that map contiguously (or stay a hole); at least 1. */
  len: u64 = 0;
  /** Reads as zeros: a hole, or an unwritten (uninitialised) extent. */
  hole: bool = false;
}

/** Maps logical block lblk of `inode`; "" or an error naming the inode and the bad field. */
export function mapBlock(vol: Ext4Volume, inode: Inode, lblk: u64, out: Mapping): string {
  if (inode.usesExtents) return mapExtent(vol, inode, lblk, out);
  return mapIndirect(vol, inode, lblk, out);
}

// --- extent trees ---

function extErr(inode: Inode, where: string, msg: string): string {
  return "inode " + inode.ino.toString() + ": extent tree " + where + ": " + msg;
}

/**
 * Checks an extent node header at p (capacity `cap` entries) that must have depth
 * `wantDepth` (or any depth <= 5 at the root, wantDepth = -1).
 */
function checkHeader(inode: Inode, p: usize, cap: u32, wantDepth: i32, where: string): string {
  const magic = load<u16>(p);
  if (magic != EXT4_EXT_MAGIC) return extErr(inode, where, "bad magic 0x" + magic.toString(16));
  const entries = <u32>load<u16>(p, 2), max = <u32>load<u16>(p, 4), depth = <u32>load<u16>(p, 6);
  if (max == 0 || max > cap) return extErr(inode, where, "eh_max " + max.toString() + " exceeds the room for " + cap.toString());
  if (entries > max) return extErr(inode, where, "eh_entries " + entries.toString() + " > eh_max " + max.toString());
  if (wantDepth < 0) {
    if (depth > EXT4_MAX_EXTENT_DEPTH) return extErr(inode, where, "depth " + depth.toString() + " exceeds " + EXT4_MAX_EXTENT_DEPTH.toString());
  } else if (depth != <u32>wantDepth) {
    return extErr(inode, where, "depth " + depth.toString() + " where " + wantDepth.toString() + " was expected");
  }
  return "";
}

function mapExtent(vol: Ext4Volume, inode: Inode, lblk: u64, out: Mapping): string {
  // one-extent cache: sequential reads hit it every time
  if (inode.cacheLen != 0 && lblk >= inode.cacheL && lblk - inode.cacheL < inode.cacheLen) {
    const d = lblk - inode.cacheL;
    out.pblk = inode.cacheP + d; out.len = inode.cacheLen - d; out.hole = inode.cacheUninit;
    return "";
  }
  if (lblk >= 0x100000000) { out.hole = true; out.len = u64.MAX_VALUE; return ""; }
  let node = inode.iblock;
  let cap: u32 = 4;
  let where = "root";
  let err = checkHeader(inode, node, cap, -1, where);
  if (err.length) return err;
  let depth = <i32>load<u16>(node, 6);
  // [lo, hi): the logical range the current node is responsible for
  let lo: u64 = 0, hi: u64 = 0x100000000;
  while (true) {
    const entries = <u32>load<u16>(node, 2);
    if (depth == 0) break;
    // index node: the last entry starting at or before lblk
    let pick: i32 = -1;
    let prev: u64 = 0;
    for (let i: u32 = 0; i < entries; i++) {
      const e = node + 12 + <usize>i * 12;
      const start = <u64>load<u32>(e);
      if (i > 0 && start <= prev) return extErr(inode, where, "index entries out of order");
      if (start < lo || start >= hi) return extErr(inode, where, "index entry for block " + start.toString() + " outside its parent's range");
      prev = start;
      if (start <= lblk) pick = <i32>i;
    }
    if (pick < 0) {
      // before the first index entry (or an empty node): a hole up to it
      out.hole = true;
      out.len = (entries > 0 ? <u64>load<u32>(node + 12) : hi) - lblk;
      return "";
    }
    const e = node + 12 + <usize>pick * 12;
    const newLo = <u64>load<u32>(e);
    if (<u32>pick + 1 < entries) hi = <u64>load<u32>(e + 12);
    lo = newLo;
    const child = <u64>load<u32>(e, 4) | (<u64>load<u16>(e, 8) << 32);
    where = "block " + child.toString();
    if (!vol.blocksValid(child, 1)) return extErr(inode, "index", "child block " + child.toString() + " is outside the data area");
    node = vol.meta(child);
    if (node == 0) return "inode " + inode.ino.toString() + ": " + vol.cache.error;
    depth--;
    const tag = TAG_EXTENT_BLOCK | <u32>depth;
    if (vol.cache.metaTag() != tag) {
      cap = (vol.blockSize - 12) / 12;
      err = checkHeader(inode, node, cap, depth, where);
      if (err.length) return err;
      if (vol.metadataCsum) {
        const tail: u32 = 12 + <u32>load<u16>(node, 4) * 12;
        if (tail + 4 > vol.blockSize) return extErr(inode, where, "no room for the checksum tail");
        if (crc32cUpdate(inode.seed, node, tail) != load<u32>(node + tail)) return extErr(inode, where, "checksum mismatch");
      }
      vol.cache.setMetaTag(tag);
    }
  }
  // leaf: extents ascending and disjoint, each inside [lo, hi)
  const entries = <u32>load<u16>(node, 2);
  let prevEnd: u64 = lo;
  let nextStart: u64 = hi;
  for (let i: u32 = 0; i < entries; i++) {
    const e = node + 12 + <usize>i * 12;
    const start = <u64>load<u32>(e);
    let len = <u32>load<u16>(e, 4);
    const uninit = len > INIT_MAX_LEN;
    if (uninit) len -= INIT_MAX_LEN;
    if (len == 0) return extErr(inode, where, "zero-length extent at block " + start.toString());
    const phys = <u64>load<u32>(e, 8) | (<u64>load<u16>(e, 6) << 32);
    if (start < prevEnd) return extErr(inode, where, "extents overlap or are out of order at block " + start.toString());
    const end = start + <u64>len;
    if (end > hi) return extErr(inode, where, "extent " + start.toString() + "+" + len.toString() + " runs past its parent's range");
    if (!vol.blocksValid(phys, <u64>len)) {
      return extErr(inode, where, "extent " + start.toString() + "+" + len.toString() + " -> block " + phys.toString() + " is outside the data area");
    }
    prevEnd = end;
    if (lblk >= start && lblk < end) {
      inode.cacheL = start; inode.cacheLen = <u64>len; inode.cacheP = phys; inode.cacheUninit = uninit;
      out.pblk = phys + (lblk - start); out.len = end - lblk; out.hole = uninit;
      return "";
    }
    if (start > lblk && start < nextStart) nextStart = start;
  }
  out.hole = true;
  out.len = nextStart - lblk;
  return "";
}

// --- classic block maps ---

function indErr(inode: Inode, msg: string): string {
  return "inode " + inode.ino.toString() + ": block map: " + msg;
}

function mapIndirect(vol: Ext4Volume, inode: Inode, lblk: u64, out: Mapping): string {
  const ppb = <u64>(vol.blockSize >> 2);
  const shift = vol.blockShift - 2; // log2(pointers per block)
  let table: usize = inode.iblock;
  let idx: u64;
  let levels: i32;
  if (lblk < 12) {
    idx = lblk; levels = 0;
  } else {
    let rel = lblk - 12;
    let span = ppb;
    levels = 1;
    while (rel >= span) {
      rel -= span;
      levels++;
      if (levels > 3) return indErr(inode, "block " + lblk.toString() + " is beyond a triple-indirect map");
      span <<= shift;
    }
    // i_block[12..14] lead to single, double, triple indirect tables
    const top = load<u32>(inode.iblock + <usize>(11 + levels) * 4);
    if (top == 0) { out.hole = true; out.len = span - rel; return ""; }
    idx = rel;
    let ptr = <u64>top;
    for (let l = levels; l >= 1; l--) {
      if (!vol.blocksValid(ptr, 1)) return indErr(inode, "indirect block " + ptr.toString() + " is outside the data area");
      table = vol.meta(ptr);
      if (table == 0) return "inode " + inode.ino.toString() + ": " + vol.cache.error;
      if (vol.cache.metaTag() != TAG_INDIRECT_BLOCK) {
        // every pointer in a map block must be a hole or a valid block
        for (let k: u64 = 0; k < ppb; k++) {
          const q = load<u32>(table + <usize>k * 4);
          if (q != 0 && !vol.blocksValid(<u64>q, 1)) return indErr(inode, "pointer " + q.toString() + " in block " + ptr.toString() + " is outside the data area");
        }
        vol.cache.setMetaTag(TAG_INDIRECT_BLOCK);
      }
      if (l == 1) break;
      const sub = <u64>1 << (<u64>shift * <u64>(l - 1)); // blocks under one entry of this table
      const k = idx >> (<u64>shift * <u64>(l - 1));
      idx &= sub - 1;
      const next = load<u32>(table + <usize>k * 4);
      if (next == 0) { out.hole = true; out.len = sub - idx; return ""; }
      ptr = <u64>next;
    }
  }
  // `table` holds entry idx; extend the run within this table
  const n: u64 = levels == 0 ? 12 : ppb;
  const first = load<u32>(table + <usize>idx * 4);
  let run: u64 = 1;
  if (first == 0) {
    while (idx + run < n && load<u32>(table + <usize>(idx + run) * 4) == 0) run++;
    out.hole = true; out.len = run;
    return "";
  }
  while (idx + run < n && load<u32>(table + <usize>(idx + run) * 4) == first + <u32>run) run++;
  if (levels == 0 && !vol.blocksValid(<u64>first, run)) return indErr(inode, "direct blocks " + first.toString() + "+" + run.toString() + " are outside the data area");
  out.hole = false; out.pblk = <u64>first; out.len = run;
  return "";
}
