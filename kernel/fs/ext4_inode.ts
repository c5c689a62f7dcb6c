// ext4 inodes: finding one in its group's inode table, checking it (checksum, sizes,
// flags that this reader cannot honour) and keeping a private copy with the fields parsed.

import { Ext4Volume, groupInodesUninit, INCOMPAT_EXTENTS, RO_COMPAT_HUGE_FILE } from "./ext4_super";
import { crc32cUpdate, crc32cZeros } from "./crc";
import { typeOfMode, FT_LNK, FT_DIR, FT_REG } from "./fs";

export const ROOT_INO: u32 = 2;
const GOOD_OLD_INODE_SIZE: u32 = 128;

// i_flags
export const EXT4_COMPR_FL: u32 = 0x4;
export const EXT4_ENCRYPT_FL: u32 = 0x800;
export const EXT4_INDEX_FL: u32 = 0x1000;
export const EXT4_HUGE_FILE_FL: u32 = 0x40000;
export const EXT4_EXTENTS_FL: u32 = 0x80000;
export const EXT4_VERITY_FL: u32 = 0x100000;
export const EXT4_EA_INODE_FL: u32 = 0x200000;
export const EXT4_INLINE_DATA_FL: u32 = 0x10000000;

/** Largest file an indirect block map can describe (12 + p + p^2 + p^3 blocks). */
export function indirectMaxBlocks(bs: u32): u64 {
  const p = <u64>(bs / 4);
  return 12 + p + p * p + p * p * p;
}

export class Inode {
  ino: u32 = 0;
  raw: StaticArray<u8>;
  mode: u32 = 0;
  type: u8 = 0;
  flags: u32 = 0;
  size: u64 = 0;
  links: u32 = 0;
  uid: u32 = 0;
  gid: u32 = 0;
  blocks512: u64 = 0;
  generation: u32 = 0;
  fileAcl: u64 = 0;
  atime: i64 = 0;
  mtime: i64 = 0;
  ctime: i64 = 0;
  /** crc32c seed for this inode's extent and directory blocks (metadata_csum). */
  seed: u32 = 0;
  // One-extent lookup cache (ext4_map): logical start, length, physical start; len 0 = empty.
  cacheL: u64 = 0;
  cacheLen: u64 = 0;
  cacheP: u64 = 0;
  cacheUninit: bool = false;

  constructor(size: u32) { this.raw = new StaticArray<u8>(size); }
  @inline get ptr(): usize { return changetype<usize>(this.raw); }
  /** Address of i_block (60 bytes: extent root, block map or inline symlink). */
  @inline get iblock(): usize { return this.ptr + 0x28; }
  @inline get usesExtents(): bool { return (this.flags & EXT4_EXTENTS_FL) != 0; }

  /** A fast symlink keeps its target inside i_block. */
  isFastSymlink(vol: Ext4Volume): bool {
    if (this.type != FT_LNK || this.usesExtents) return false;
    const eaBlocks: u64 = this.fileAcl != 0 ? <u64>(vol.blockSize >> 9) : 0;
    return this.blocks512 <= eaBlocks && this.size < 60;
  }
}

export class InodeResult {
  inode: Inode | null = null;
  error: string = "";
}

function fail(msg: string): InodeResult { const r = new InodeResult(); r.error = msg; return r; }

function timeOf(p: usize, off: usize, extraOff: usize, hasExtra: bool): i64 {
  let t = <i64>load<i32>(p + off);
  // the low two bits of the *_extra field extend the epoch past 2038
  if (hasExtra) t += <i64>(load<u32>(p + extraOff) & 3) << 32;
  return t;
}

/** Loads and checks inode `ino`. */
export function loadInode(vol: Ext4Volume, ino: u32): InodeResult {
  const what = "inode " + ino.toString() + ": ";
  if (ino == 0 || ino > vol.inodesCount) return fail(what + "number out of range (1.." + vol.inodesCount.toString() + ")");
  const g = (ino - 1) / vol.inodesPerGroup;
  const idx = (ino - 1) % vol.inodesPerGroup;
  if (groupInodesUninit(vol, g)) return fail(what + "lies in group " + g.toString() + " whose inode table is not initialised");
  const byteOff = <u64>idx * <u64>vol.inodeSize;
  const blk = vol.inodeTable[g] + (byteOff >> vol.blockShift);
  const p = vol.meta(blk);
  if (p == 0) return fail(what + vol.cache.error);
  const isz = vol.inodeSize;
  const inode = new Inode(isz);
  const ip = inode.ptr;
  memory.copy(ip, p + <usize>(byteOff & <u64>(vol.blockSize - 1)), isz);

  let extra: u32 = 0;
  if (isz > GOOD_OLD_INODE_SIZE) {
    extra = <u32>load<u16>(ip + 0x80);
    if (GOOD_OLD_INODE_SIZE + extra > isz || (extra & 3) != 0) return fail(what + "extra inode size " + extra.toString() + " is invalid");
  }
  inode.ino = ino;
  inode.mode = <u32>load<u16>(ip);
  inode.links = <u32>load<u16>(ip + 0x1a);
  inode.generation = load<u32>(ip + 0x64);
  if (vol.metadataCsum) {
    let allZero = true;
    for (let i: u32 = 0; i < isz; i += 4) if (load<u32>(ip + i) != 0) { allZero = false; break; }
    if (allZero) return fail(what + "is not in use");
    const hasHi = extra >= 4;
    let c = vol.inodeSeed(ino, inode.generation);
    c = crc32cUpdate(c, ip, 0x7c);
    c = crc32cZeros(c, 2);
    c = crc32cUpdate(c, ip + 0x7e, GOOD_OLD_INODE_SIZE - 0x7e);
    if (isz > GOOD_OLD_INODE_SIZE) {
      c = crc32cUpdate(c, ip + 0x80, 2);
      if (hasHi) { c = crc32cZeros(c, 2); c = crc32cUpdate(c, ip + 0x84, isz - 0x84); }
      else c = crc32cUpdate(c, ip + 0x82, isz - 0x82);
    }
    let stored = <u32>load<u16>(ip + 0x7c);
    if (hasHi) stored |= <u32>load<u16>(ip + 0x82) << 16; else c &= 0xffff;
    if (c != stored) return fail(what + "checksum mismatch");
    inode.seed = vol.inodeSeed(ino, inode.generation);
  }
  if (inode.links == 0 || inode.mode == 0) return fail(what + "is not in use");
  inode.type = typeOfMode(inode.mode);
  if (inode.type == 0) return fail(what + "has an invalid file type in mode 0" + inode.mode.toString(8));
  inode.flags = load<u32>(ip + 0x20);
  inode.size = <u64>load<u32>(ip + 0x04) | (<u64>load<u32>(ip + 0x6c) << 32);
  inode.uid = <u32>load<u16>(ip + 0x02) | (<u32>load<u16>(ip + 0x78) << 16);
  inode.gid = <u32>load<u16>(ip + 0x18) | (<u32>load<u16>(ip + 0x7a) << 16);
  let b = <u64>load<u32>(ip + 0x1c);
  if ((vol.roCompat & RO_COMPAT_HUGE_FILE) != 0) {
    b |= <u64>load<u16>(ip + 0x74) << 32;
    if ((inode.flags & EXT4_HUGE_FILE_FL) != 0) b <<= (vol.blockShift - 9); // counted in fs blocks
  }
  inode.blocks512 = b;
  inode.fileAcl = <u64>load<u32>(ip + 0x68) | (<u64>load<u16>(ip + 0x76) << 32);
  inode.atime = timeOf(ip, 0x08, 0x8c, extra >= 0x10);
  inode.ctime = timeOf(ip, 0x0c, 0x84, extra >= 0x08);
  inode.mtime = timeOf(ip, 0x10, 0x88, extra >= 0x0c);

  if ((inode.flags & EXT4_INLINE_DATA_FL) != 0) return fail(what + "keeps its data inline (inline_data is not supported)");
  if ((inode.flags & EXT4_ENCRYPT_FL) != 0) return fail(what + "is encrypted (not supported)");
  if ((inode.flags & EXT4_COMPR_FL) != 0) return fail(what + "is compressed (not supported)");
  if (inode.usesExtents && (vol.incompat & INCOMPAT_EXTENTS) == 0) return fail(what + "uses extents on a file system without the extent feature");

  // The size must be something its block map could describe.
  const maxBlocks: u64 = inode.usesExtents ? <u64>0x100000000 : indirectMaxBlocks(vol.blockSize);
  const maxBytes = maxBlocks << vol.blockShift;
  if (inode.size > maxBytes) return fail(what + "size " + inode.size.toString() + " exceeds what its block map can address (" + maxBytes.toString() + ")");
  if (inode.type == FT_DIR && (inode.size & <u64>(vol.blockSize - 1)) != 0) {
    return fail(what + "directory size " + inode.size.toString() + " is not a multiple of the block size");
  }
  if (inode.type == FT_LNK && (inode.size == 0 || inode.size >= 4096)) {
    return fail(what + "symlink length " + inode.size.toString() + " is invalid");
  }
  if (inode.type != FT_REG && inode.type != FT_DIR && inode.type != FT_LNK) inode.size = 0; // devices have no data
  const r = new InodeResult();
  r.inode = inode;
  return r;
}
