// A split virtqueue (virtio 1.x section 2.7, same layout as legacy virtio 0.9.5):
// descriptor table, available ring (driver -> device), used ring (device -> driver).
// We never take interrupts: completions are found by polling the used ring.
//
// Layout in one region: descriptors at 0, the available ring right after them, the used
// ring at the next 4096 boundary (the legacy QueueAlign), so the same memory satisfies
// both the legacy (QueuePFN) and the modern (three addresses) transports.

import { allocRegion, freeRegion } from "../memory/regions";
import { barrier, mem_phys_base } from "../platform";

export const VIRTQ_DESC_F_NEXT: u16 = 1;
export const VIRTQ_DESC_F_WRITE: u16 = 2;
export const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
export const QUEUE_ALIGN: u32 = 4096;
const DESC_SIZE: usize = 16;

export class Virtqueue {
  readonly size: u32;       // number of descriptors, a power of two
  base: usize = 0;          // linear address of the region (0 if allocation failed)
  desc: usize = 0;
  avail: usize = 0;
  used: usize = 0;
  /** Extra per-descriptor scratch after the rings (for request headers and status bytes). */
  scratch: usize = 0;
  scratchBytes: usize = 0;
  private freeHead: i32 = 0;
  numFree: u32 = 0;
  private nextFree: StaticArray<i32> = new StaticArray<i32>(0);
  private availIdx: u16 = 0;
  private lastUsed: u16 = 0;

  constructor(size: u32, scratchPerDesc: u32) {
    this.size = size;
    this.nextFree = new StaticArray<i32>(size);
    const availBytes: usize = 6 + 2 * <usize>size;
    const usedOff = (<usize>size * DESC_SIZE + availBytes + QUEUE_ALIGN - 1) & ~(<usize>QUEUE_ALIGN - 1);
    const usedBytes: usize = 6 + 8 * <usize>size;
    const scratchOff = (usedOff + usedBytes + 63) & ~<usize>63;
    this.scratchBytes = <usize>scratchPerDesc * size;
    const base = allocRegion(<u64>(scratchOff + this.scratchBytes));
    if (base != 0) {
      this.base = base;
      this.desc = base;
      this.avail = base + <usize>size * DESC_SIZE;
      this.used = base + usedOff;
      this.scratch = base + scratchOff;
      this.reset();
    }
  }

  /** Forgets all in-flight chains and zeroes the rings (after a device reset). */
  reset(): void {
    if (this.base == 0) return;
    memory.fill(this.desc, 0, this.scratch - this.desc);
    for (let i: u32 = 0; i < this.size; i++) this.nextFree[i] = i + 1 < this.size ? <i32>(i + 1) : -1;
    this.freeHead = 0;
    this.numFree = this.size;
    this.availIdx = 0;
    this.lastUsed = 0;
    store<u16>(this.avail, VIRTQ_AVAIL_F_NO_INTERRUPT); // we poll
  }

  release(): void { if (this.base != 0) freeRegion(this.base); }

  /** Physical address of a linear-memory address, as the device must see it. */
  @inline static phys(linear: usize): u64 { return mem_phys_base() + <u64>linear; }

  /** Takes n descriptors and links them into a chain; returns the head or -1. */
  allocChain(n: u32): i32 {
    if (n == 0 || n > this.numFree) return -1;
    const head = this.freeHead;
    let d = head;
    for (let i: u32 = 0; i < n; i++) {
      const nx = this.nextFree[d];
      if (i + 1 < n) store<u16>(this.desc + <usize>d * DESC_SIZE + 14, <u16>nx);
      if (i + 1 == n) this.freeHead = nx;
      else d = nx;
    }
    this.numFree -= n;
    return head;
  }

  /** Fills descriptor d (flags NEXT is added when `hasNext`); returns the next index in the chain. */
  setDesc(d: i32, linear: usize, len: u32, write: bool, hasNext: bool): i32 {
    const p = this.desc + <usize>d * DESC_SIZE;
    store<u64>(p, Virtqueue.phys(linear));
    store<u32>(p, len, 8);
    store<u16>(p, (write ? VIRTQ_DESC_F_WRITE : 0) | (hasNext ? VIRTQ_DESC_F_NEXT : 0), 12);
    return <i32>load<u16>(p, 14);
  }

  /** Returns a chain to the free list, following the descriptors the driver itself built. */
  freeChain(head: i32, n: u32): void {
    let d = head;
    for (let i: u32 = 0; i < n; i++) {
      const nx = <i32>load<u16>(this.desc + <usize>d * DESC_SIZE + 14);
      this.nextFree[d] = i + 1 < n ? nx : this.freeHead;
      if (i + 1 < n) d = nx;
    }
    this.freeHead = head;
    this.numFree += n;
  }

  /** Publishes a chain in the available ring (the caller notifies the device). */
  submit(head: i32): void {
    store<u16>(this.avail + 4 + 2 * <usize>(this.availIdx & <u16>(this.size - 1)), <u16>head);
    barrier(); // the ring entry before the index that exposes it
    this.availIdx++;
    store<u16>(this.avail, this.availIdx, 2);
    barrier(); // the index before the notify that follows
  }

  /** True when the device has returned a chain that `takeUsed` has not consumed. */
  hasUsed(): bool {
    barrier(); // see the device's ring writes in order
    return load<u16>(this.used, 2) != this.lastUsed;
  }

  /** Consumes the next used element; returns its id (chain head). Call only after hasUsed(). */
  takeUsed(): u32 {
    barrier(); // the element (and the request's status byte) only after the index that published it
    const e = this.used + 4 + 8 * <usize>(this.lastUsed & <u16>(this.size - 1));
    const id = load<u32>(e);
    this.lastUsed++;
    return id;
  }

  /** Length the device wrote for the element takeUsed() just returned. */
  lastUsedLen(): u32 {
    const e = this.used + 4 + 8 * <usize>((this.lastUsed - 1) & <u16>(this.size - 1));
    return load<u32>(e, 4);
  }

  /** How far the device's used index is ahead of us (a sane device never exceeds size). */
  pendingUsed(): u32 { return <u32>(<u16>(load<u16>(this.used, 2) - this.lastUsed)); }
}
