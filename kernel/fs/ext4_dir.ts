// ext4 directories, read linearly: every block is a chain of entries
// {inode u32, rec_len u16, name_len u8, file_type u8, name}. Hashed (htree) directories
// are read the same way: their index blocks look like one big empty entry. Each block is
// checked once per cache load (checksum tail or htree tail, and the whole entry chain)
// before any entry in it is used.

import { Ext4Volume } from "./ext4_super";
import { Inode, EXT4_INDEX_FL } from "./ext4_inode";
import { mapBlock, Mapping } from "./ext4_map";
import { crc32cUpdate, crc32cZeros } from "./crc";
import { DirResult, FT_UNKNOWN } from "./fs";

const TAG_DIR: u32 = 0x44000000; // | limit (end of the entry area)
const TAIL_FT: u8 = 0xde;

/** A checked directory block: entries live in [p, p + limit). */
export class DirBlock {
  p: usize = 0;
  limit: u32 = 0;
  error: string = "";
}

function recLen(vol: Ext4Volume, raw: u32): u32 {
  // 64 KiB blocks store a whole-block rec_len as 65535 (or 0)
  if (vol.blockSize == 65536 && (raw == 65535 || raw == 0)) return 65536;
  return raw;
}

function nameLen(vol: Ext4Volume, e: usize): u32 {
  return vol.hasFiletype() ? <u32>load<u8>(e, 6) : <u32>load<u16>(e, 6);
}

function dirErr(dir: Inode, bi: u64, msg: string): string {
  return "directory inode " + dir.ino.toString() + ", block " + bi.toString() + ": " + msg;
}

/** The htree count/limit offset if this block is an htree root or node, else -1. */
function dxCountOffset(vol: Ext4Volume, dir: Inode, bi: u64, p: usize): i32 {
  if ((dir.flags & EXT4_INDEX_FL) == 0) return -1;
  const bs = vol.blockSize;
  if (bi == 0) {
    if (recLen(vol, <u32>load<u16>(p, 4)) != 12 || recLen(vol, <u32>load<u16>(p, 16)) != bs - 12) return -1;
    return 0x18 + <i32>load<u8>(p, 0x1d); // after dx_root_info (info_length)
  }
  if (load<u32>(p) == 0 && recLen(vol, <u32>load<u16>(p, 4)) == bs && load<u8>(p, 6) == 0) return 8;
  return -1;
}

/** Maps, reads and checks directory block `bi` of `dir` into `out`. */
export function loadDirBlock(vol: Ext4Volume, dir: Inode, bi: u64, m: Mapping, out: DirBlock): bool {
  const err = mapBlock(vol, dir, bi, m);
  if (err.length) { out.error = err; return false; }
  if (m.hole) { out.error = dirErr(dir, bi, "is a hole (directories have none)"); return false; }
  const p = vol.meta(m.pblk);
  if (p == 0) { out.error = dirErr(dir, bi, vol.cache.error); return false; }
  out.p = p;
  const tag = vol.cache.metaTag();
  if ((tag & 0xff000000) == TAG_DIR) { out.limit = tag & 0xffffff; return true; }

  const bs = vol.blockSize;
  let limit = bs;
  if (vol.metadataCsum) {
    const t = p + bs - 12;
    if (load<u32>(t) == 0 && load<u16>(t, 4) == 12 && load<u8>(t, 6) == 0 && load<u8>(t, 7) == TAIL_FT) {
      if (crc32cUpdate(dir.seed, p, bs - 12) != load<u32>(t, 8)) { out.error = dirErr(dir, bi, "checksum mismatch"); return false; }
      limit = bs - 12;
    } else {
      const cl = dxCountOffset(vol, dir, bi, p);
      if (cl < 0) { out.error = dirErr(dir, bi, "has no checksum tail"); return false; }
      const lim = <u32>load<u16>(p + <usize>cl), count = <u32>load<u16>(p + <usize>cl, 2);
      const tailOff = <u32>cl + lim * 8;
      if (count > lim || tailOff + 8 > bs) { out.error = dirErr(dir, bi, "htree count/limit " + count.toString() + "/" + lim.toString() + " do not fit"); return false; }
      let c = crc32cUpdate(dir.seed, p, <usize>cl + <usize>count * 8);
      c = crc32cUpdate(c, p + tailOff, 4); // dt_reserved, then the checksum field as zeros
      c = crc32cZeros(c, 4);
      if (c != load<u32>(p + tailOff, 4)) { out.error = dirErr(dir, bi, "htree block checksum mismatch"); return false; }
    }
  }
  // the whole entry chain must tile [0, limit) exactly
  let off: u32 = 0;
  while (off < limit) {
    if (off + 8 > limit) { out.error = dirErr(dir, bi, "entry at " + off.toString() + " crosses the end of the block"); return false; }
    const e = p + off;
    const rec = recLen(vol, <u32>load<u16>(e, 4));
    const nl = nameLen(vol, e);
    const ino = load<u32>(e);
    if (rec < 12 || (rec & 3) != 0 || off + rec > limit) {
      out.error = dirErr(dir, bi, "entry at " + off.toString() + " has bad rec_len " + rec.toString()); return false;
    }
    if (<u32>8 + nl > rec) { out.error = dirErr(dir, bi, "entry at " + off.toString() + " has name_len " + nl.toString() + " longer than its rec_len " + rec.toString()); return false; }
    if (ino != 0) {
      if (nl == 0) { out.error = dirErr(dir, bi, "entry at " + off.toString() + " has an empty name"); return false; }
      if (ino > vol.inodesCount) { out.error = dirErr(dir, bi, "entry at " + off.toString() + " names inode " + ino.toString() + " beyond the inode count"); return false; }
      for (let i: u32 = 0; i < nl; i++) {
        const c = load<u8>(e + 8 + i);
        if (c == 0 || c == 0x2f) { out.error = dirErr(dir, bi, "entry at " + off.toString() + " has a name containing NUL or '/'"); return false; }
      }
    }
    off += rec;
  }
  out.limit = limit;
  vol.cache.setMetaTag(TAG_DIR | limit);
  return true;
}

/** The result of a name lookup: ino 0 when absent (and no error). */
export class DirLookup {
  ino: u32 = 0;
  type: u8 = FT_UNKNOWN;
  error: string = "";
}

/** Finds `name` (UTF-8) in `dir` by scanning every block. */
export function dirLookup(vol: Ext4Volume, dir: Inode, name: ArrayBuffer): DirLookup {
  const r = new DirLookup();
  const m = new Mapping();
  const b = new DirBlock();
  const n = <u32>name.byteLength;
  const np = changetype<usize>(name);
  const blocks = dir.size >> vol.blockShift;
  for (let bi: u64 = 0; bi < blocks; bi++) {
    if (!loadDirBlock(vol, dir, bi, m, b)) { r.error = b.error; return r; }
    let off: u32 = 0;
    while (off < b.limit) {
      const e = b.p + off;
      if (load<u32>(e) != 0 && nameLen(vol, e) == n && memory.compare(e + 8, np, n) == 0) {
        r.ino = load<u32>(e);
        r.type = vol.hasFiletype() ? load<u8>(e, 7) : FT_UNKNOWN;
        if (r.type > 7) r.type = FT_UNKNOWN;
        return r;
      }
      off += recLen(vol, <u32>load<u16>(e, 4));
    }
  }
  return r;
}

/** The first live entry at or after byte position `cookie` of `dir`. */
export function dirNext(vol: Ext4Volume, dir: Inode, cookie: u64): DirResult {
  const m = new Mapping();
  const b = new DirBlock();
  const blocks = dir.size >> vol.blockShift;
  let bi = cookie >> vol.blockShift;
  let want = <u32>(cookie & <u64>(vol.blockSize - 1));
  while (bi < blocks) {
    if (!loadDirBlock(vol, dir, bi, m, b)) return DirResult.fail(vol.errCode(), b.error);
    // walk from the start of the block so that any cookie lands on an entry boundary
    let off: u32 = 0;
    while (off < b.limit) {
      const e = b.p + off;
      const rec = recLen(vol, <u32>load<u16>(e, 4));
      if (off >= want && load<u32>(e) != 0) {
        const r = new DirResult();
        r.ino = <u64>load<u32>(e);
        r.name = String.UTF8.decodeUnsafe(e + 8, nameLen(vol, e));
        r.type = vol.hasFiletype() ? load<u8>(e, 7) : FT_UNKNOWN;
        if (r.type > 7) r.type = FT_UNKNOWN;
        r.next = (bi << vol.blockShift) + <u64>off + <u64>rec;
        return r;
      }
      off += rec;
    }
    bi++;
    want = 0;
  }
  const r = new DirResult();
  r.end = true;
  r.next = cookie;
  return r;
}
