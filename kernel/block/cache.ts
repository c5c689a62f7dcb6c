// The block cache between file systems and a BlockDevice, in file-system blocks.
//
// Two kinds of traffic with opposite needs:
//  - metadata (superblock, group descriptors, inode tables, extent and directory
//    blocks): small, re-read often -> an LRU of single blocks (`meta`);
//  - file data, mostly long sequential streams (model files of gigabytes): caching it
//    would only evict metadata -> big aligned reads go straight from the device into
//    the caller's buffer, and small or unaligned reads are served from a few
//    read-ahead windows that each hold one contiguous on-disk run (`readRange`).
// All buffers are regions (kernel/memory/regions.ts), so DMA lands in them directly.

import { BlockDevice, SECTOR_SHIFT } from "./device";
import { allocRegion, freeRegion } from "../memory/regions";

/** Reads at least this long (and block aligned) bypass the windows. */
export const BYPASS_BYTES: u32 = 64 * 1024;
/** Cap on one device call, so a huge read does not look like a hang between checks. */
const MAX_DIRECT_BYTES: u64 = 64 * 1024 * 1024;
const NONE: i32 = -1;

export class CacheStats {
  metaHits: u64 = 0;
  metaMisses: u64 = 0;
  windowHits: u64 = 0;
  windowFills: u64 = 0;
  directReads: u64 = 0;
  deviceCalls: u64 = 0;
  bytesFromDevice: u64 = 0;
}

export class BlockCache {
  readonly dev: BlockDevice;
  readonly blockSize: u32;
  readonly blockShift: u32;
  /** Whole blocks on the device. */
  readonly blockCount: u64;
  /** Last error message; meaningful only right after a call reported failure. */
  error: string = "";
  readonly stats: CacheStats = new CacheStats();

  // Metadata LRU: slot i holds block slotBlock[i] at metaBase + i * blockSize.
  private metaBase: usize = 0;
  private metaSlots: i32 = 0;
  private slotBlock: StaticArray<u64> = new StaticArray<u64>(0);
  private slotTag: StaticArray<u32> = new StaticArray<u32>(0);
  private prev: StaticArray<i32> = new StaticArray<i32>(0);
  private next: StaticArray<i32> = new StaticArray<i32>(0);
  private head: i32 = NONE; // most recently used
  private tail: i32 = NONE; // least recently used
  private used: i32 = 0;
  private index: Map<u64, i32> = new Map<u64, i32>();
  private lastSlot: i32 = NONE;

  // Read-ahead windows: window w holds winCount[w] blocks from winStart[w].
  private winBase: StaticArray<usize> = new StaticArray<usize>(0);
  private winStart: StaticArray<u64> = new StaticArray<u64>(0);
  private winCount: StaticArray<u32> = new StaticArray<u32>(0);
  private winUsed: StaticArray<u64> = new StaticArray<u64>(0);
  private winBlocks: u32 = 0;
  private clock: u64 = 0;

  /**
   * blockSize: a power of two >= 512. metaBlocks: LRU capacity. windows x windowBytes:
   * read-ahead buffers. Check `error` after construction (allocation can fail).
   */
  constructor(dev: BlockDevice, blockSize: u32, metaBlocks: i32, windows: i32, windowBytes: u32) {
    this.dev = dev;
    this.blockSize = blockSize;
    const shift = <u32>ctz(blockSize);
    this.blockShift = shift;
    this.blockCount = shift >= SECTOR_SHIFT ? dev.sectorCount() >> (shift - SECTOR_SHIFT) : 0;
    if (metaBlocks < 4) metaBlocks = 4;
    if (windows < 1) windows = 1;
    if (windowBytes < blockSize) windowBytes = blockSize;
    this.metaSlots = metaBlocks;
    this.slotBlock = new StaticArray<u64>(metaBlocks);
    this.slotTag = new StaticArray<u32>(metaBlocks);
    this.prev = new StaticArray<i32>(metaBlocks);
    this.next = new StaticArray<i32>(metaBlocks);
    this.winBlocks = windowBytes >> this.blockShift;
    this.winBase = new StaticArray<usize>(windows);
    this.winStart = new StaticArray<u64>(windows);
    this.winCount = new StaticArray<u32>(windows);
    this.winUsed = new StaticArray<u64>(windows);
    this.error = this.allocate(metaBlocks, windows);
  }

  private allocate(metaBlocks: i32, windows: i32): string {
    const bs = this.blockSize;
    if (bs < 512 || popcnt(bs) != 1) return "block cache: bad block size " + bs.toString();
    this.metaBase = allocRegion(<u64>metaBlocks * bs);
    if (this.metaBase == 0) return "block cache: out of memory for " + metaBlocks.toString() + " metadata blocks";
    for (let w = 0; w < windows; w++) {
      const p = allocRegion(<u64>this.winBlocks << this.blockShift);
      if (p == 0) { this.release(); return "block cache: out of memory for read-ahead windows"; }
      this.winBase[w] = p;
    }
    return "";
  }

  /** Returns every buffer to the region allocator. The cache is unusable afterwards. */
  release(): void {
    if (this.metaBase != 0) { freeRegion(this.metaBase); this.metaBase = 0; }
    for (let w = 0; w < this.winBase.length; w++) {
      if (this.winBase[w] != 0) { freeRegion(this.winBase[w]); this.winBase[w] = 0; }
      this.winCount[w] = 0;
    }
    this.index.clear();
    this.used = 0; this.head = NONE; this.tail = NONE; this.lastSlot = NONE;
  }

  private deviceRead(block: u64, count: u32, dst: usize): bool {
    if (block >= this.blockCount || <u64>count > this.blockCount - block) {
      this.error = this.dev.name() + ": block " + block.toString() + (count > 1 ? "+" + count.toString() : "") +
        " is past the end of the device (" + this.blockCount.toString() + " blocks of " + this.blockSize.toString() + ")";
      return false;
    }
    const shift = this.blockShift - SECTOR_SHIFT;
    this.stats.deviceCalls++;
    const err = this.dev.readSectors(block << shift, count << shift, dst);
    if (err.length) { this.error = err; return false; }
    this.stats.bytesFromDevice += <u64>count << this.blockShift;
    return true;
  }

  // --- metadata LRU ---

  private unlink(s: i32): void {
    const p = this.prev[s], n = this.next[s];
    if (p != NONE) this.next[p] = n; else this.head = n;
    if (n != NONE) this.prev[n] = p; else this.tail = p;
  }

  private pushFront(s: i32): void {
    this.prev[s] = NONE;
    this.next[s] = this.head;
    if (this.head != NONE) this.prev[this.head] = s;
    this.head = s;
    if (this.tail == NONE) this.tail = s;
  }

  /**
   * A pointer to the cached contents of `block`, valid until the next call into the
   * cache; 0 on error (see `error`).
   */
  meta(block: u64): usize {
    if (this.metaBase == 0) { this.error = "block cache: released"; return 0; }
    if (this.index.has(block)) {
      const s = this.index.get(block);
      if (s != this.head) { this.unlink(s); this.pushFront(s); }
      this.stats.metaHits++;
      this.lastSlot = s;
      return this.metaBase + (<usize>s << this.blockShift);
    }
    let s: i32;
    if (this.used < this.metaSlots) s = this.used++;
    else { s = this.tail; this.unlink(s); this.index.delete(this.slotBlock[s]); }
    const p = this.metaBase + (<usize>s << this.blockShift);
    if (!this.deviceRead(block, 1, p)) {
      // the slot is empty now: put it at the cold end for reuse
      this.slotBlock[s] = u64.MAX_VALUE;
      this.prev[s] = this.tail; this.next[s] = NONE;
      if (this.tail != NONE) this.next[this.tail] = s; else this.head = s;
      this.tail = s;
      this.lastSlot = NONE;
      return 0;
    }
    this.stats.metaMisses++;
    this.slotBlock[s] = block;
    this.slotTag[s] = 0;
    this.index.set(block, s);
    this.pushFront(s);
    this.lastSlot = s;
    return p;
  }

  /**
   * A tag the caller attaches to the block last returned by `meta` (for instance "checksum
   * verified as a directory block"), so that validation is not repeated on every hit.
   * Reset to 0 whenever the block is read from the device again.
   */
  metaTag(): u32 { return this.lastSlot == NONE ? 0 : this.slotTag[this.lastSlot]; }
  setMetaTag(tag: u32): void { if (this.lastSlot != NONE) this.slotTag[this.lastSlot] = tag; }

  // --- data ---

  /**
   * Copies `bytes` bytes that start `offset` bytes into block `block` to `dst`.
   * The caller guarantees that blocks [block, block + runBlocks) are one contiguous run
   * that belongs to what it is reading (read-ahead never goes past it) and that
   * offset + bytes <= runBlocks * blockSize. Returns "" or an error message.
   */
  readRange(block: u64, offset: u32, bytes: u64, dst: usize, runBlocks: u64): string {
    if (this.metaBase == 0) return "block cache: released";
    const bs = <u64>this.blockSize;
    if (<u64>offset + bytes > runBlocks * bs) return "block cache: read beyond its run (internal)";
    let done: u64 = 0;
    while (done < bytes) {
      const at = <u64>offset + done;
      const blk = block + (at >> this.blockShift);
      const inb = <u32>(at & (bs - 1));
      const left = bytes - done;
      if (inb == 0 && left >= <u64>BYPASS_BYTES) {
        let n = left >> this.blockShift;
        if ((n << this.blockShift) > MAX_DIRECT_BYTES) n = MAX_DIRECT_BYTES >> this.blockShift;
        if (!this.deviceRead(blk, <u32>n, dst + <usize>done)) return this.error;
        this.stats.directReads++;
        done += n << this.blockShift;
        continue;
      }
      let w = this.findWindow(blk);
      if (w < 0) {
        w = this.fillWindow(blk, runBlocks - (blk - block));
        if (w < 0) return this.error;
      } else this.stats.windowHits++;
      const avail = ((this.winStart[w] + <u64>this.winCount[w] - blk) << this.blockShift) - <u64>inb;
      const n = left < avail ? left : avail;
      const src = this.winBase[w] + (<usize>(blk - this.winStart[w]) << this.blockShift) + inb;
      memory.copy(dst + <usize>done, src, <usize>n);
      done += n;
    }
    return "";
  }

  private findWindow(blk: u64): i32 {
    for (let w = 0; w < this.winBase.length; w++) {
      const c = this.winCount[w];
      if (c != 0 && blk >= this.winStart[w] && blk - this.winStart[w] < <u64>c) {
        this.winUsed[w] = ++this.clock;
        return w;
      }
    }
    return -1;
  }

  /** Loads a window with up to winBlocks blocks of the run starting at blk (LRU window). */
  private fillWindow(blk: u64, runLeft: u64): i32 {
    let w = 0;
    for (let i = 1; i < this.winBase.length; i++) if (this.winUsed[i] < this.winUsed[w]) w = i;
    let n = <u64>this.winBlocks;
    if (runLeft < n) n = runLeft;
    if (blk < this.blockCount && this.blockCount - blk < n) n = this.blockCount - blk;
    if (n == 0) n = 1; // let deviceRead report the bad block
    this.winCount[w] = 0;
    if (!this.deviceRead(blk, <u32>n, this.winBase[w])) {
      // read-ahead must not turn a good block into an error: retry the one block needed
      if (n == 1 || !this.deviceRead(blk, 1, this.winBase[w])) return -1;
      n = 1;
    }
    this.stats.windowFills++;
    this.winStart[w] = blk;
    this.winCount[w] = <u32>n;
    this.winUsed[w] = ++this.clock;
    return w;
  }
}
