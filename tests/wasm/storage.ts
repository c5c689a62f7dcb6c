// Test entry for the storage tests: ext4 + VFS over a "host disk" whose sectors the test
// serves from Buffers (import module "hostdisk"), and virtio-blk probed through the
// platform imports (a simulator in tests/support/virtio-sim.mjs).

import { BlockDevice, SECTOR_SIZE, checkRange } from "../../kernel/block/device";
import { Ext4 } from "../../kernel/fs/ext4";
import { vfs } from "../../kernel/fs/vfs";
import { Stat, StatFs, FT_DIR } from "../../kernel/fs/fs";
export { allocRegion, freeRegion, regionBytesInUse } from "../../kernel/memory/regions";

@external("hostdisk", "sectors") declare function hostSectors(disk: i32): u64;
@external("hostdisk", "read") declare function hostRead(disk: i32, lba: u64, count: u32, dst: usize): i32;

class HostDisk implements BlockDevice {
  constructor(public disk: i32) {}
  name(): string { return "hostdisk" + this.disk.toString(); }
  sectorSize(): u32 { return SECTOR_SIZE; }
  sectorCount(): u64 { return hostSectors(this.disk); }
  readSectors(lba: u64, count: u32, dst: usize): string {
    const e = checkRange(this, lba, count);
    if (e.length) return e;
    const st = hostRead(this.disk, lba, count, dst);
    return st == 0 ? "" : this.name() + ": read of sectors " + lba.toString() + "+" + count.toString() + " failed (host error " + st.toString() + ")";
  }
}

// Strings come in through a scratch buffer (UTF-8) that the test fills.
const scratch = new ArrayBuffer(8192);
export function scratchPtr(): usize { return changetype<usize>(scratch); }
function arg(len: i32): string { return String.UTF8.decodeUnsafe(changetype<usize>(scratch), <usize>len); }

let fs: Ext4 | null = null; // the one mounted last, for cache statistics

/** Mounts host disk `disk` at the path in the scratch buffer; returns "" or the error. */
export function mountHost(disk: i32, len: i32): string {
  const r = Ext4.mount(new HostDisk(disk));
  if (r.fs == null) return r.error;
  const e = vfs.mount(arg(len), r.fs!);
  if (e.length) { r.fs!.unmount(); return e; }
  fs = r.fs;
  return "";
}

export function unmount(len: i32): string { return vfs.unmount(arg(len)); }

// Results of the last call, read by the test one field at a time.
let lastError = "";
let lastCode: i32 = 0;
let lastBytes: u64 = 0;
let lastName = "";
let lastType: u8 = 0;
let lastIno: u64 = 0;
let lastEnd = false;
export function error(): string { return lastError; }
export function code(): i32 { return lastCode; }
export function bytes(): u64 { return lastBytes; }
export function entryName(): string { return lastName; }
export function entryType(): u8 { return lastType; }
export function entryIno(): u64 { return lastIno; }
export function entryEnd(): bool { return lastEnd; }

export function open(len: i32): i32 {
  const r = vfs.open(arg(len));
  lastError = r.error; lastCode = r.code;
  return r.fd;
}
export function close(fd: i32): string { return vfs.close(fd); }
export function openCount(): i32 { return vfs.openCount(); }

/** Reads up to len bytes into dst; -1 on error (see error()). */
export function read(fd: i32, dst: usize, len: u32): i64 {
  const r = vfs.read(fd, dst, <usize>len);
  lastError = r.error; lastCode = r.code;
  return r.error.length ? -1 : <i64>r.bytes;
}
export function pread(fd: i32, off: u64, dst: usize, len: u32): i64 {
  const r = vfs.pread(fd, off, dst, <usize>len);
  lastError = r.error; lastCode = r.code;
  return r.error.length ? -1 : <i64>r.bytes;
}
export function seek(fd: i32, off: i64, whence: i32): i64 {
  const r = vfs.seek(fd, off, whence);
  lastError = r.error; lastCode = r.code;
  return r.error.length ? -1 : <i64>r.offset;
}
/** 1 entry, 0 end, -1 error. */
export function readdir(fd: i32): i32 {
  const r = vfs.readdir(fd);
  lastError = r.error; lastCode = r.code;
  if (r.error.length) return -1;
  lastEnd = r.end; lastName = r.name; lastType = r.type; lastIno = r.ino;
  return r.end ? 0 : 1;
}

const st = new Stat();
/** stat (follow=1) or lstat; "" or error. Fields via statField(). */
export function stat(len: i32, follow: i32): string {
  const p = arg(len);
  const e = follow ? vfs.stat(p, st) : vfs.lstat(p, st);
  lastError = e;
  return e;
}
export function fstat(fd: i32): string { const e = vfs.fstat(fd, st); lastError = e; return e; }
/** 0 ino, 1 mode, 2 size, 3 nlink, 4 blocks, 5 mtime, 6 uid, 7 gid, 8 type */
export function statField(i: i32): u64 {
  switch (i) {
    case 0: return st.ino;
    case 1: return <u64>st.mode;
    case 2: return st.size;
    case 3: return <u64>st.nlink;
    case 4: return st.blocks;
    case 5: return <u64>st.mtime;
    case 6: return <u64>st.uid;
    case 7: return <u64>st.gid;
    case 8: return <u64>st.type;
  }
  return 0;
}
export function readlink(len: i32): string {
  const r = vfs.readlink(arg(len));
  lastError = r.error; lastCode = r.code;
  return r.text;
}
const sf = new StatFs();
export function statfs(len: i32): string { const e = vfs.statfs(arg(len), sf); lastError = e; return e; }
/** 0 blockSize, 1 blocks, 2 free, 3 avail, 4 inodes, 5 freeInodes */
export function statfsField(i: i32): u64 {
  switch (i) {
    case 0: return <u64>sf.blockSize;
    case 1: return sf.blocks;
    case 2: return sf.freeBlocks;
    case 3: return sf.availBlocks;
    case 4: return sf.inodes;
    case 5: return sf.freeInodes;
  }
  return 0;
}
export function statfsType(): string { return sf.fsType; }
export function statfsLabel(): string { return sf.label; }
export function chdir(len: i32): string { return vfs.chdir(arg(len)); }
export function getcwd(): string { return vfs.getcwd(); }
export function isDirType(t: u8): bool { return t == FT_DIR; }

/** Cache counters: 0 metaHits 1 metaMisses 2 windowHits 3 windowFills 4 directReads 5 deviceCalls 6 bytesFromDevice */
export function cacheStat(i: i32): u64 {
  if (fs == null) return 0;
  const s = fs!.cacheStats();
  switch (i) {
    case 0: return s.metaHits;
    case 1: return s.metaMisses;
    case 2: return s.windowHits;
    case 3: return s.windowFills;
    case 4: return s.directReads;
    case 5: return s.deviceCalls;
    case 6: return s.bytesFromDevice;
  }
  return 0;
}

// --- virtio-blk (the test's platform imports put a simulator behind mmio) ---
import { probeVirtioBlk, VirtioBlk } from "../../kernel/drivers/virtio_blk";
import { recent as logRecent } from "../../kernel/log";

let blk: VirtioBlk | null = null;
/** Scans the virtio-mmio slots; true when a block device was initialised. */
export function virtioProbe(): bool { blk = probeVirtioBlk(); return blk != null; }
export function virtioLog(): string { return logRecent(0).join("\n"); }
export function virtioDescribe(): string { return blk == null ? "" : blk!.describe(); }
export function virtioSectors(): u64 { return blk == null ? 0 : blk!.sectorCount(); }
export function virtioRead(lba: u64, count: u32, dst: usize): string {
  if (blk == null) return "no virtio block device";
  return blk!.readSectors(lba, count, dst);
}
/** 0 requests 1 sectors 2 calls 3 maxInFlight 4 errors 5 resets 6 maxSectors/request 7 segBytes */
export function virtioStat(i: i32): u64 {
  if (blk == null) return 0;
  const s = blk!.stats;
  switch (i) {
    case 0: return s.requests;
    case 1: return s.sectors;
    case 2: return s.calls;
    case 3: return <u64>s.maxInFlight;
    case 4: return s.errors;
    case 5: return s.resets;
    case 6: return <u64>blk!.maxSectors;
    case 7: return <u64>blk!.segBytes;
  }
  return 0;
}
/** Mounts ext4 from the probed virtio disk at the path in the scratch buffer. */
export function mountVirtio(len: i32): string {
  if (blk == null) return "no virtio block device";
  const r = Ext4.mount(blk!);
  if (r.fs == null) return r.error;
  const e = vfs.mount(arg(len), r.fs!);
  if (e.length) { r.fs!.unmount(); return e; }
  fs = r.fs;
  return "";
}
