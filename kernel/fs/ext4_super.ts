// ext4 global layout: the superblock, the group descriptor table and the "system zones"
// (blocks that belong to the file system's own metadata, which no file may point into).
// Ext4Volume is what the rest of the ext4 code reads the disk through; everything in it
// has been checked against the device and against itself at mount time.

import { BlockDevice } from "../block/device";
import { BlockCache } from "../block/cache";
import { crc32cUpdate, crc32cU32, crc32cZeros, crc16Update, crc16U32 } from "./crc";
import { EIO, EUCLEAN } from "./fs";

export const EXT4_MAGIC: u16 = 0xef53;
const SB_OFFSET: u32 = 1024;
const SB_SIZE: u32 = 1024;

// Feature bits.
export const COMPAT_HAS_JOURNAL: u32 = 0x4;
export const COMPAT_SPARSE_SUPER2: u32 = 0x200;
export const INCOMPAT_COMPRESSION: u32 = 0x1;
export const INCOMPAT_FILETYPE: u32 = 0x2;
export const INCOMPAT_RECOVER: u32 = 0x4;
export const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
export const INCOMPAT_META_BG: u32 = 0x10;
export const INCOMPAT_EXTENTS: u32 = 0x40;
export const INCOMPAT_64BIT: u32 = 0x80;
export const INCOMPAT_MMP: u32 = 0x100;
export const INCOMPAT_FLEX_BG: u32 = 0x200;
export const INCOMPAT_EA_INODE: u32 = 0x400;
export const INCOMPAT_DIRDATA: u32 = 0x1000;
export const INCOMPAT_CSUM_SEED: u32 = 0x2000;
export const INCOMPAT_LARGEDIR: u32 = 0x4000;
export const INCOMPAT_INLINE_DATA: u32 = 0x8000;
export const INCOMPAT_ENCRYPT: u32 = 0x10000;
export const INCOMPAT_CASEFOLD: u32 = 0x20000;
/** What this reader understands well enough to return only correct data. */
const INCOMPAT_SUPPORTED: u32 = INCOMPAT_FILETYPE | INCOMPAT_META_BG | INCOMPAT_EXTENTS | INCOMPAT_64BIT |
  INCOMPAT_MMP | INCOMPAT_FLEX_BG | INCOMPAT_EA_INODE | INCOMPAT_CSUM_SEED | INCOMPAT_LARGEDIR;
export const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
export const RO_COMPAT_LARGE_FILE: u32 = 0x2;
export const RO_COMPAT_HUGE_FILE: u32 = 0x8;
export const RO_COMPAT_GDT_CSUM: u32 = 0x10;
export const RO_COMPAT_BIGALLOC: u32 = 0x200;
export const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

const BG_INODE_UNINIT: u16 = 0x1;

export function incompatName(bit: u32): string {
  switch (bit) {
    case INCOMPAT_COMPRESSION: return "compression";
    case INCOMPAT_FILETYPE: return "filetype";
    case INCOMPAT_RECOVER: return "needs_recovery (the journal must be replayed first)";
    case INCOMPAT_JOURNAL_DEV: return "journal_dev (this is an external journal, not a file system)";
    case INCOMPAT_META_BG: return "meta_bg";
    case INCOMPAT_EXTENTS: return "extent";
    case INCOMPAT_64BIT: return "64bit";
    case INCOMPAT_MMP: return "mmp";
    case INCOMPAT_FLEX_BG: return "flex_bg";
    case INCOMPAT_EA_INODE: return "ea_inode";
    case INCOMPAT_DIRDATA: return "dirdata";
    case INCOMPAT_CSUM_SEED: return "metadata_csum_seed";
    case INCOMPAT_LARGEDIR: return "large_dir";
    case INCOMPAT_INLINE_DATA: return "inline_data";
    case INCOMPAT_ENCRYPT: return "encrypt";
    case INCOMPAT_CASEFOLD: return "casefold";
  }
  return "unknown incompat bit 0x" + bit.toString(16);
}

/** The outcome of mounting: a volume, or the reason there is none. */
export class VolumeResult {
  vol: Ext4Volume | null = null;
  error: string = "";
}

export class Ext4Volume {
  dev: BlockDevice;
  cache: BlockCache;
  /** A private copy of the superblock (1024 bytes). */
  sb: StaticArray<u8> = new StaticArray<u8>(SB_SIZE);

  blockSize: u32 = 0;
  blockShift: u32 = 0;
  blocksCount: u64 = 0;
  freeBlocks: u64 = 0;
  reservedBlocks: u64 = 0;
  inodesCount: u32 = 0;
  freeInodes: u32 = 0;
  firstDataBlock: u32 = 0;
  blocksPerGroup: u32 = 0;
  inodesPerGroup: u32 = 0;
  inodeSize: u32 = 0;
  firstIno: u32 = 0;
  revLevel: u32 = 0;
  groups: u32 = 0;
  descSize: u32 = 0;
  itableBlocks: u32 = 0;
  compat: u32 = 0;
  incompat: u32 = 0;
  roCompat: u32 = 0;
  metadataCsum: bool = false;
  gdtCsum: bool = false;
  csumSeed: u32 = 0;
  label: string = "";

  // Per-group facts the reader needs.
  inodeTable: StaticArray<u64> = new StaticArray<u64>(0);
  bgFlags: StaticArray<u16> = new StaticArray<u16>(0);

  // System zones: sorted, merged, non-overlapping [start, end) block ranges.
  zoneStart: Array<u64> = new Array<u64>();
  zoneEnd: Array<u64> = new Array<u64>();

  constructor(dev: BlockDevice, cache: BlockCache) { this.dev = dev; this.cache = cache; }

  @inline sbU8(off: i32): u32 { return <u32>this.sb[off]; }
  @inline sbU16(off: i32): u32 { return <u32>load<u16>(changetype<usize>(this.sb) + <usize>off); }
  @inline sbU32(off: i32): u32 { return load<u32>(changetype<usize>(this.sb) + <usize>off); }
  @inline has64(): bool { return (this.incompat & INCOMPAT_64BIT) != 0; }
  @inline hasExtents(): bool { return (this.incompat & INCOMPAT_EXTENTS) != 0; }
  @inline hasFiletype(): bool { return (this.incompat & INCOMPAT_FILETYPE) != 0; }

  /** "ext4", "ext3" or "ext2", from the features in use (what df shows). */
  flavour(): string {
    if ((this.incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG)) != 0 ||
        (this.roCompat & (RO_COMPAT_HUGE_FILE | RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM)) != 0) return "ext4";
    return (this.compat & COMPAT_HAS_JOURNAL) != 0 ? "ext3" : "ext2";
  }

  /** Whether group g carries a superblock backup (and so the descriptor table after it). */
  groupHasSuper(g: u32): bool {
    if (g == 0) return true;
    if ((this.compat & COMPAT_SPARSE_SUPER2) != 0) return g == this.sbU32(0x24c) || g == this.sbU32(0x250);
    if ((this.roCompat & RO_COMPAT_SPARSE_SUPER) == 0 || g == 1) return true;
    if ((g & 1) == 0) return false;
    return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7);
  }

  groupFirstBlock(g: u32): u64 { return <u64>this.firstDataBlock + <u64>g * <u64>this.blocksPerGroup; }

  /** True when [start, start+count) is inside the file system and clear of its metadata. */
  blocksValid(start: u64, count: u64): bool {
    if (count == 0) return false;
    if (start < <u64>this.firstDataBlock || start >= this.blocksCount || count > this.blocksCount - start) return false;
    // last zone whose start is <= the last block asked for
    const last = start + count - 1;
    let lo = 0, hi = this.zoneStart.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (unchecked(this.zoneStart[mid]) <= last) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found < 0 || unchecked(this.zoneEnd[found]) <= start;
  }

  /** crc32c seed for one inode's metadata (inode, extent blocks, directory blocks). */
  inodeSeed(ino: u32, generation: u32): u32 {
    return crc32cU32(crc32cU32(this.csumSeed, ino), generation);
  }

  /** Set when a device read failed (as opposed to bad contents); reset per operation. */
  ioFailed: bool = false;
  /** A metadata block through the cache; 0 on a read error (message in cache.error). */
  meta(blk: u64): usize {
    const p = this.cache.meta(blk);
    if (p == 0) this.ioFailed = true;
    return p;
  }
  /** EIO when the last failure was the device, EUCLEAN when it was the contents. */
  errCode(): i32 { return this.ioFailed ? EIO : EUCLEAN; }

  release(): void { this.cache.release(); }
}

function isPowerOf(n: u32, b: u32): bool {
  let x: u32 = b;
  while (x < n) x *= b;
  return x == n;
}

function ceilDiv(a: u64, b: u64): u64 { return (a + b - 1) / b; }

/**
 * Reads and checks the superblock and the group descriptors of the ext4 file system on
 * `dev`, and sets up its block cache. Every failure is a message; nothing is trusted
 * before it has been checked.
 */
export function openVolume(dev: BlockDevice, metaCacheBytes: u32, windows: i32, windowBytes: u32): VolumeResult {
  const r = new VolumeResult();
  const sectors = dev.sectorCount();
  if (sectors < 4) { r.error = dev.name() + ": too small to hold an ext4 superblock"; return r; }
  const sbuf = new StaticArray<u8>(SB_SIZE);
  const sp = changetype<usize>(sbuf);
  const err = dev.readSectors(SB_OFFSET / 512, SB_SIZE / 512, sp);
  if (err.length) { r.error = "reading the superblock: " + err; return r; }
  if (load<u16>(sp + 0x38) != EXT4_MAGIC) {
    r.error = dev.name() + ": no ext2/3/4 file system (superblock magic 0x" + load<u16>(sp + 0x38).toString(16) + ", expected 0xef53)";
    return r;
  }
  const what = dev.name() + ": ext4 superblock: ";
  const rev = load<u32>(sp + 0x4c);
  if (rev > 1) { r.error = what + "revision " + rev.toString() + " is newer than this reader knows"; return r; }
  const incompat = rev >= 1 ? load<u32>(sp + 0x60) : 0;
  const roCompat = rev >= 1 ? load<u32>(sp + 0x64) : 0;
  const compat = rev >= 1 ? load<u32>(sp + 0x5c) : 0;

  // metadata_csum: the superblock checks itself first, so nothing below reads garbage
  if ((roCompat & RO_COMPAT_METADATA_CSUM) != 0) {
    if (load<u8>(sp + 0x175) != 1) { r.error = what + "unknown checksum type " + load<u8>(sp + 0x175).toString(); return r; }
    const want = load<u32>(sp + 0x3fc);
    const got = crc32cUpdate(0xffffffff, sp, 0x3fc);
    if (want != got) { r.error = what + "checksum mismatch (stored 0x" + want.toString(16) + ", computed 0x" + got.toString(16) + ")"; return r; }
  }

  const unsupported = incompat & ~INCOMPAT_SUPPORTED;
  if (unsupported != 0) {
    let names = "";
    for (let b = 0; b < 32; b++) {
      const bit: u32 = 1 << b;
      if ((unsupported & bit) != 0) names += (names.length ? ", " : "") + incompatName(bit);
    }
    r.error = dev.name() + ": cannot mount: unsupported ext4 feature" + (popcnt(unsupported) > 1 ? "s: " : ": ") + names;
    return r;
  }

  const logBs = load<u32>(sp + 0x18);
  if (logBs > 6) { r.error = what + "block size 2^(10+" + logBs.toString() + ") is out of range"; return r; }
  const bs: u32 = 1024 << logBs;
  const is64 = (incompat & INCOMPAT_64BIT) != 0;
  let blocks = <u64>load<u32>(sp + 0x04);
  if (is64) blocks |= <u64>load<u32>(sp + 0x150) << 32;
  const bigalloc = (roCompat & RO_COMPAT_BIGALLOC) != 0;
  const firstData = load<u32>(sp + 0x14);
  const bpg = load<u32>(sp + 0x20);
  const ipg = load<u32>(sp + 0x28);
  const inodesCount = load<u32>(sp + 0x00);
  const isz: u32 = rev >= 1 ? <u32>load<u16>(sp + 0x58) : 128;
  const firstIno: u32 = rev >= 1 ? load<u32>(sp + 0x54) : 11;
  const deviceBlocks = (sectors * 512) / <u64>bs;

  if (blocks == 0 || blocks > deviceBlocks) {
    r.error = what + "the file system has " + blocks.toString() + " blocks of " + bs.toString() + " bytes but the device holds " + deviceBlocks.toString();
    return r;
  }
  const logCluster = load<u32>(sp + 0x1c);
  if (!bigalloc && logCluster != logBs) { r.error = what + "cluster size differs from block size without bigalloc"; return r; }
  if (bigalloc) {
    // clusters are the allocation unit (bitmaps count them); block numbers stay in blocks
    const cpg = load<u32>(sp + 0x24);
    if (logCluster < logBs || logCluster - logBs > 16) { r.error = what + "cluster size 2^(10+" + logCluster.toString() + ") is out of range"; return r; }
    if (cpg < 8 || cpg > bs * 8 || (cpg & 7) != 0 || <u64>bpg != <u64>cpg << (logCluster - logBs)) {
      r.error = what + "clusters per group " + cpg.toString() + " does not match " + bpg.toString() + " blocks per group";
      return r;
    }
  }
  const wantFirst: u32 = bs == 1024 && !bigalloc ? 1 : 0;
  if (firstData != wantFirst) { r.error = what + "first data block " + firstData.toString() + " (expected " + wantFirst.toString() + ")"; return r; }
  if (bpg < 8 || (!bigalloc && bpg > bs * 8) || (bpg & 7) != 0) { r.error = what + "blocks per group " + bpg.toString() + " is out of range"; return r; }
  if (isz < 128 || isz > bs || popcnt(isz) != 1) { r.error = what + "inode size " + isz.toString() + " is invalid"; return r; }
  if (ipg < bs / isz || ipg > bs * 8) { r.error = what + "inodes per group " + ipg.toString() + " is out of range"; return r; }
  if (firstIno < 11 || firstIno >= inodesCount) { r.error = what + "first inode " + firstIno.toString() + " is invalid"; return r; }
  let descSize: u32 = 32;
  if (is64) {
    descSize = <u32>load<u16>(sp + 0xfe);
    if (descSize < 64 || descSize > 1024 || popcnt(descSize) != 1) { r.error = what + "group descriptor size " + descSize.toString() + " is invalid for 64bit"; return r; }
  }
  const groups64 = ceilDiv(blocks - <u64>firstData, <u64>bpg);
  if (groups64 == 0 || groups64 * <u64>ipg != <u64>inodesCount) {
    r.error = what + "inode count " + inodesCount.toString() + " does not match " + groups64.toString() + " groups of " + ipg.toString() + " inodes";
    return r;
  }
  const groups = <u32>groups64;

  const cache = new BlockCache(dev, bs, <i32>(metaCacheBytes / bs), windows, windowBytes);
  if (cache.error.length) { r.error = cache.error; return r; }
  const v = new Ext4Volume(dev, cache);
  memory.copy(changetype<usize>(v.sb), sp, SB_SIZE);
  v.blockSize = bs;
  v.blockShift = 10 + logBs;
  v.blocksCount = blocks;
  v.freeBlocks = <u64>load<u32>(sp + 0x0c) | (is64 ? <u64>load<u32>(sp + 0x158) << 32 : 0);
  v.reservedBlocks = <u64>load<u32>(sp + 0x08) | (is64 ? <u64>load<u32>(sp + 0x154) << 32 : 0);
  v.inodesCount = inodesCount;
  v.freeInodes = load<u32>(sp + 0x10);
  v.firstDataBlock = firstData;
  v.blocksPerGroup = bpg;
  v.inodesPerGroup = ipg;
  v.inodeSize = isz;
  v.firstIno = firstIno;
  v.revLevel = rev;
  v.groups = groups;
  v.descSize = descSize;
  v.itableBlocks = <u32>ceilDiv(<u64>ipg * isz, bs);
  v.compat = compat;
  v.incompat = incompat;
  v.roCompat = roCompat;
  v.metadataCsum = (roCompat & RO_COMPAT_METADATA_CSUM) != 0;
  v.gdtCsum = !v.metadataCsum && (roCompat & RO_COMPAT_GDT_CSUM) != 0;
  if (v.metadataCsum) {
    v.csumSeed = (incompat & INCOMPAT_CSUM_SEED) != 0 ? load<u32>(sp + 0x270) : crc32cUpdate(0xffffffff, sp + 0x68, 16);
  }
  let label = "";
  for (let i = 0; i < 16; i++) {
    const c = load<u8>(sp + 0x78 + i);
    if (c == 0) break;
    label += String.fromCharCode(c >= 32 && c < 127 ? c : 63);
  }
  v.label = label;

  const gerr = loadGroups(v);
  if (gerr.length) { v.release(); r.error = dev.name() + ": " + gerr; return r; }
  buildZones(v);
  r.vol = v;
  return r;
}

/** Block holding descriptor block number `i` of the table (meta_bg moves them). */
function descBlock(v: Ext4Volume, i: u32, descPerBlock: u32): u64 {
  if ((v.incompat & INCOMPAT_META_BG) == 0 || i < v.sbU32(0x104)) return <u64>v.firstDataBlock + 1 + <u64>i;
  const g = i * descPerBlock;
  return v.groupFirstBlock(g) + (v.groupHasSuper(g) ? 1 : 0);
}

function loadGroups(v: Ext4Volume): string {
  const descPerBlock = v.blockSize / v.descSize;
  const tableBlocks = <u32>ceilDiv(<u64>v.groups, <u64>descPerBlock);
  if ((v.incompat & INCOMPAT_META_BG) != 0 && v.sbU32(0x104) > tableBlocks) {
    return "ext4 superblock: first meta_bg " + v.sbU32(0x104).toString() + " is past the " + tableBlocks.toString() + " descriptor blocks";
  }
  v.inodeTable = new StaticArray<u64>(v.groups);
  v.bgFlags = new StaticArray<u16>(v.groups);
  const is64 = v.descSize >= 64;
  let gcrc16: u16 = 0;
  if (v.gdtCsum) gcrc16 = crc16Update(0xffff, changetype<usize>(v.sb) + 0x68, 16);
  for (let i: u32 = 0; i < tableBlocks; i++) {
    const blk = descBlock(v, i, descPerBlock);
    if (blk >= v.blocksCount) return "group descriptor block " + i.toString() + " lies at block " + blk.toString() + ", past the end";
    const p = v.cache.meta(blk);
    if (p == 0) return "reading group descriptors: " + v.cache.error;
    for (let k: u32 = 0; k < descPerBlock; k++) {
      const g = i * descPerBlock + k;
      if (g >= v.groups) break;
      const d = p + <usize>(k * v.descSize);
      const where = "group " + g.toString() + " descriptor: ";
      if (v.metadataCsum) {
        let c = crc32cU32(v.csumSeed, g);
        c = crc32cUpdate(c, d, 0x1e);
        c = crc32cZeros(c, 2);
        if (v.descSize > 0x20) c = crc32cUpdate(c, d + 0x20, v.descSize - 0x20);
        if ((c & 0xffff) != <u32>load<u16>(d + 0x1e)) return where + "checksum mismatch";
      } else if (v.gdtCsum) {
        let c = crc16U32(gcrc16, g);
        c = crc16Update(c, d, 0x1e);
        if (v.descSize > 0x20) c = crc16Update(c, d + 0x20, v.descSize - 0x20);
        if (c != load<u16>(d + 0x1e)) return where + "checksum mismatch";
      }
      const bb = <u64>load<u32>(d) | (is64 ? <u64>load<u32>(d + 0x20) << 32 : 0);
      const ib = <u64>load<u32>(d + 4) | (is64 ? <u64>load<u32>(d + 0x24) << 32 : 0);
      const it = <u64>load<u32>(d + 8) | (is64 ? <u64>load<u32>(d + 0x28) << 32 : 0);
      const flags = load<u16>(d + 0x12);
      if (bb < <u64>v.firstDataBlock || bb >= v.blocksCount) return where + "block bitmap at " + bb.toString() + " is outside the file system";
      if (ib < <u64>v.firstDataBlock || ib >= v.blocksCount) return where + "inode bitmap at " + ib.toString() + " is outside the file system";
      if (it <= <u64>v.firstDataBlock || it >= v.blocksCount || <u64>v.itableBlocks > v.blocksCount - it) {
        return where + "inode table at " + it.toString() + " (+" + v.itableBlocks.toString() + " blocks) is outside the file system";
      }
      v.inodeTable[g] = it;
      v.bgFlags[g] = (v.metadataCsum || v.gdtCsum) ? flags : 0;
      // bitmaps are system zones too; remembered via the zone list
      v.zoneStart.push(bb); v.zoneEnd.push(bb + 1);
      v.zoneStart.push(ib); v.zoneEnd.push(ib + 1);
      v.zoneStart.push(it); v.zoneEnd.push(it + v.itableBlocks);
    }
  }
  // superblock copies and descriptor tables
  const reserved = <u64>v.sbU16(0xce);
  if ((v.incompat & INCOMPAT_META_BG) == 0) {
    for (let g: u32 = 0; g < v.groups; g++) {
      if (!v.groupHasSuper(g)) continue;
      const s = v.groupFirstBlock(g);
      v.zoneStart.push(g == 0 ? 0 : s); v.zoneEnd.push(s + 1 + <u64>tableBlocks + reserved);
    }
  } else {
    const s = v.groupFirstBlock(0);
    v.zoneStart.push(0); v.zoneEnd.push(s + 1 + <u64>v.sbU32(0x104) + reserved);
    for (let i: u32 = v.sbU32(0x104); i < tableBlocks; i++) {
      const b = descBlock(v, i, descPerBlock);
      v.zoneStart.push(b); v.zoneEnd.push(b + 1);
    }
  }
  return "";
}

/** Sorts and merges the zone list so that blocksValid can binary-search it. */
function buildZones(v: Ext4Volume): void {
  const s = v.zoneStart, e = v.zoneEnd;
  for (let i = 0; i < s.length; i++) if (e[i] > v.blocksCount) e[i] = v.blocksCount;
  s.sort(); e.sort();
  const ms = new Array<u64>(), me = new Array<u64>();
  let i = 0, j = 0, depth = 0;
  let segStart: u64 = 0;
  while (i < s.length) {
    if (s[i] <= e[j]) { if (depth++ == 0) segStart = s[i]; i++; }
    else { if (--depth == 0) { ms.push(segStart); me.push(e[j]); } j++; }
  }
  while (j < e.length) { if (--depth == 0) { ms.push(segStart); me.push(e[j]); } j++; }
  v.zoneStart = ms; v.zoneEnd = me;
}

/** INODE_UNINIT: the group's inode table was never written (only with group checksums). */
export function groupInodesUninit(v: Ext4Volume, g: u32): bool { return (v.bgFlags[g] & BG_INODE_UNINIT) != 0; }
