// virtio-blk over virtio-mmio (virtio 1.x section 5.2): a BlockDevice for the disk QEMU
// attaches with `-drive if=none,id=d -device virtio-blk-device,drive=d`.
//
// A read is split into requests of many sectors each (header, data, status descriptors;
// data split further when the device offers size_max, never more segments than seg_max).
// As many requests as the queue holds are in flight at once, the device is notified once
// per batch, and completions are found by polling the used ring (no interrupts).

import { BlockDevice, SECTOR_SIZE, checkRange } from "../block/device";
import { barrier, time_ns } from "../platform";
import { Virtqueue } from "./virtqueue";
import {
  VirtioMmio, VIRTIO_MMIO_BASE, VIRTIO_MMIO_STRIDE, VIRTIO_MMIO_SLOTS,
  STATUS_DEVICE_NEEDS_RESET, STATUS_FAILED, hex, virtioDeviceName,
} from "./virtio_mmio";
import { hardware } from "../devicetree";
import * as log from "../log";

export const VIRTIO_ID_BLOCK: u32 = 2;

// Device feature bits (section 5.2.3).
export const VIRTIO_BLK_F_SIZE_MAX: u64 = 1 << 1;
export const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
export const VIRTIO_BLK_F_RO: u64 = 1 << 5;
export const VIRTIO_BLK_F_BLK_SIZE: u64 = 1 << 6;

// Config space offsets.
const CFG_CAPACITY: u32 = 0;
const CFG_SIZE_MAX: u32 = 8;
const CFG_SEG_MAX: u32 = 12;
const CFG_BLK_SIZE: u32 = 20;

// Request types and status values.
export const VIRTIO_BLK_T_IN: u32 = 0;
export const VIRTIO_BLK_S_OK: u8 = 0;
export const VIRTIO_BLK_S_IOERR: u8 = 1;
export const VIRTIO_BLK_S_UNSUPP: u8 = 2;
const STATUS_UNWRITTEN: u8 = 0xff;

/** Queue size we ask for (the device may offer less). */
const WANT_QUEUE: u32 = 256;
/** Largest single request; many are in flight at once, so bigger buys little. */
export const MAX_REQUEST_BYTES: u32 = 1024 * 1024;
/** A request not completed in this time is reported (polling, no interrupts). */
const TIMEOUT_NS: u64 = 10_000_000_000;
/** Check Status for DEVICE_NEEDS_RESET every this many empty polls (a register read is a VM exit). */
const STATUS_POLL_EVERY: u32 = 4096;
const SCRATCH_PER_DESC: u32 = 32; // 16-byte request header + status byte, per chain head

export class VirtioBlkStats {
  requests: u64 = 0;
  sectors: u64 = 0;
  calls: u64 = 0;
  maxInFlight: u32 = 0;
  errors: u64 = 0;
  resets: u64 = 0;
}

export class VirtioBlk implements BlockDevice {
  readonly mmio: VirtioMmio;
  vq: Virtqueue | null = null;
  capacity: u64 = 0;
  sizeMax: u32 = 0;      // 0: not offered
  segMax: u32 = 0;       // 0: not offered
  blkSize: u32 = 512;
  readOnly: bool = false;
  /** Sectors per request and data descriptors per request that we use. */
  maxSectors: u32 = 0;
  segBytes: u32 = 0;
  /** Set when the device must be reset before the next request (needs-reset, timeout, bad ring). */
  broken: string = "";
  readonly stats: VirtioBlkStats = new VirtioBlkStats();

  // In-flight requests, indexed by chain head.
  private reqLba: StaticArray<u64> = new StaticArray<u64>(0);
  private reqCount: StaticArray<u32> = new StaticArray<u32>(0);
  private reqDescs: StaticArray<u32> = new StaticArray<u32>(0);

  constructor(mmio: VirtioMmio) { this.mmio = mmio; }

  name(): string { return "virtio-blk@" + this.mmio.where(); }
  sectorSize(): u32 { return SECTOR_SIZE; }
  sectorCount(): u64 { return this.capacity; }

  /** Full device initialisation (also used to recover after DEVICE_NEEDS_RESET). */
  init(): string {
    const m = this.mmio;
    let err = m.negotiate(VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_BLK_SIZE);
    if (err.length) return err;
    const f = m.accepted;
    this.capacity = m.config64(CFG_CAPACITY);
    this.sizeMax = (f & VIRTIO_BLK_F_SIZE_MAX) != 0 ? m.config32(CFG_SIZE_MAX) : 0;
    this.segMax = (f & VIRTIO_BLK_F_SEG_MAX) != 0 ? m.config32(CFG_SEG_MAX) : 0;
    this.blkSize = (f & VIRTIO_BLK_F_BLK_SIZE) != 0 ? m.config32(CFG_BLK_SIZE) : 512;
    this.readOnly = (f & VIRTIO_BLK_F_RO) != 0;
    if ((f & VIRTIO_BLK_F_SIZE_MAX) != 0 && this.sizeMax < SECTOR_SIZE) {
      m.addStatus(STATUS_FAILED);
      return "size_max " + this.sizeMax.toString() + " is smaller than one sector";
    }
    if ((f & VIRTIO_BLK_F_SEG_MAX) != 0 && this.segMax == 0) {
      m.addStatus(STATUS_FAILED);
      return "seg_max is 0";
    }

    const max = m.queueMax(0);
    if (max == 0) { m.addStatus(STATUS_FAILED); return "request queue 0 is not available"; }
    let size = WANT_QUEUE;
    while (size > max) size >>= 1;
    if (size < 4) { m.addStatus(STATUS_FAILED); return "queue too small (" + max.toString() + " descriptors)"; }
    let vq = this.vq;
    if (vq == null || vq.size != size) {
      if (vq != null) vq.release();
      vq = new Virtqueue(size, SCRATCH_PER_DESC);
      if (vq.base == 0) { this.vq = null; m.addStatus(STATUS_FAILED); return "out of memory for the virtqueue"; }
      this.vq = vq;
      this.reqLba = new StaticArray<u64>(size);
      this.reqCount = new StaticArray<u32>(size);
      this.reqDescs = new StaticArray<u32>(size);
    } else vq.reset();
    for (let i = 0; i < this.reqDescs.length; i++) this.reqDescs[i] = 0; // nothing is in flight after a reset
    err = m.setupQueue(0, vq);
    if (err.length) { m.addStatus(STATUS_FAILED); return err; }

    // Request geometry: segments are capped by size_max, their number by seg_max and by
    // the queue (header + status take two descriptors).
    let segs = size - 2;
    if (this.segMax != 0 && this.segMax < segs) segs = this.segMax;
    const segCap: u64 = this.sizeMax != 0 ? <u64>(this.sizeMax & ~(SECTOR_SIZE - 1)) : <u64>MAX_REQUEST_BYTES;
    let reqBytes = <u64>segs * segCap;
    if (reqBytes > <u64>MAX_REQUEST_BYTES) reqBytes = <u64>MAX_REQUEST_BYTES;
    this.segBytes = <u32>(segCap < reqBytes ? segCap : reqBytes);
    this.maxSectors = <u32>(reqBytes / SECTOR_SIZE);

    err = m.driverOk();
    if (err.length) return err;
    this.broken = "";
    return "";
  }

  /** One line describing the device, for the probe log. */
  describe(): string {
    const mib = this.capacity / 2048;
    return this.name() + ": " + this.capacity.toString() + " sectors (" + mib.toString() + " MiB), " +
      (this.mmio.legacy ? "legacy" : "modern") + " transport, queue " + (this.vq != null ? this.vq!.size.toString() : "-") +
      ", seg_max " + (this.segMax != 0 ? this.segMax.toString() : "-") +
      ", size_max " + (this.sizeMax != 0 ? this.sizeMax.toString() : "-") +
      ", blk_size " + this.blkSize.toString() + (this.readOnly ? ", read-only" : "") +
      ", up to " + (this.maxSectors / 2).toString() + " KiB per request";
  }

  private reqName(lba: u64, count: u32): string {
    return this.name() + ": read of sectors " + lba.toString() + "+" + count.toString();
  }

  readSectors(lba: u64, count: u32, dst: usize): string {
    this.stats.calls++;
    if (count == 0) return "";
    if (this.broken.length) {
      // The previous failure left the device needing a reset: do it now.
      this.stats.resets++;
      const err = this.init();
      if (err.length) return this.reqName(lba, count) + ": device re-initialisation failed: " + err;
    }
    const range = checkRange(this, lba, count);
    if (range.length) return range;
    const vq = this.vq!;
    let nextLba = lba;
    let left = count;
    let at = dst;
    let inFlight: u32 = 0;
    let firstError = "";
    while (true) {
      // Queue as many requests as descriptors allow, then notify once.
      let queued = false;
      while (left > 0 && firstError.length == 0) {
        const n = left < this.maxSectors ? left : this.maxSectors;
        const bytes = n * SECTOR_SIZE;
        const segs = (bytes + this.segBytes - 1) / this.segBytes;
        const head = vq.allocChain(segs + 2);
        if (head < 0) break;
        const hdr = vq.scratch + <usize>head * SCRATCH_PER_DESC;
        store<u32>(hdr, VIRTIO_BLK_T_IN);
        store<u32>(hdr, 0, 4);
        store<u64>(hdr, nextLba, 8);
        store<u8>(hdr, STATUS_UNWRITTEN, 16);
        let d = vq.setDesc(head, hdr, 16, false, true);
        let off: u32 = 0;
        for (let s: u32 = 0; s < segs; s++) {
          const len = bytes - off < this.segBytes ? bytes - off : this.segBytes;
          d = vq.setDesc(d, at + <usize>off, len, true, true);
          off += len;
        }
        vq.setDesc(d, hdr + 16, 1, true, false);
        this.reqLba[head] = nextLba;
        this.reqCount[head] = n;
        this.reqDescs[head] = segs + 2;
        vq.submit(head);
        queued = true;
        inFlight++;
        this.stats.requests++;
        nextLba += n; left -= n; at += <usize>bytes;
      }
      if (inFlight > this.stats.maxInFlight) this.stats.maxInFlight = inFlight;
      if (queued) this.mmio.notify(0);
      if (inFlight == 0) break;

      // Wait for one completion.
      const t0 = time_ns();
      let polls: u32 = 0;
      while (!vq.hasUsed()) {
        if (++polls % STATUS_POLL_EVERY == 0) {
          const st = this.mmio.status();
          if ((st & STATUS_DEVICE_NEEDS_RESET) != 0) {
            this.broken = "needs reset";
            this.stats.errors++;
            return this.reqName(lba, count) + ": device set DEVICE_NEEDS_RESET (" + inFlight.toString() +
              " request(s) in flight, first unfinished at sector " + this.firstPending(inFlight).toString() + ")";
          }
          if (time_ns() - t0 > TIMEOUT_NS) {
            this.broken = "timeout";
            this.stats.errors++;
            return this.reqName(lba, count) + ": no completion within " + (TIMEOUT_NS / 1_000_000_000).toString() +
              " s (" + inFlight.toString() + " request(s) in flight)";
          }
        }
      }
      if (vq.pendingUsed() > vq.size) {
        this.broken = "bad used index";
        this.stats.errors++;
        return this.reqName(lba, count) + ": device used index ran " + vq.pendingUsed().toString() + " entries ahead of a " + vq.size.toString() + "-entry queue";
      }
      const id = vq.takeUsed();
      if (id >= vq.size || this.reqDescs[id] == 0) {
        this.broken = "bad used id";
        this.stats.errors++;
        return this.reqName(lba, count) + ": device completed unknown descriptor " + id.toString();
      }
      const st = load<u8>(vq.scratch + <usize>id * SCRATCH_PER_DESC + 16);
      if (st != VIRTIO_BLK_S_OK && firstError.length == 0) {
        this.stats.errors++;
        firstError = this.reqName(this.reqLba[id], this.reqCount[id]) + " failed: " + blkStatusName(st) +
          " (in a read of sectors " + lba.toString() + "+" + count.toString() + ")";
      }
      vq.freeChain(<i32>id, this.reqDescs[id]);
      this.reqDescs[id] = 0;
      inFlight--;
      this.stats.sectors += st == VIRTIO_BLK_S_OK ? <u64>this.reqCount[id] : 0;
    }
    this.mmio.ackInterrupts();
    return firstError;
  }

  /** Lowest start sector among the requests still in flight (for error messages). */
  private firstPending(inFlight: u32): u64 {
    let best = u64.MAX_VALUE;
    for (let i = 0; i < this.reqDescs.length; i++) if (this.reqDescs[i] != 0 && this.reqLba[i] < best) best = this.reqLba[i];
    return best;
  }
}

export function blkStatusName(st: u8): string {
  if (st == VIRTIO_BLK_S_IOERR) return "I/O error (VIRTIO_BLK_S_IOERR)";
  if (st == VIRTIO_BLK_S_UNSUPP) return "unsupported request (VIRTIO_BLK_S_UNSUPP)";
  if (st == STATUS_UNWRITTEN) return "device completed the request without writing its status";
  return "unknown status " + hex(st);
}

/**
 * Scans the virtio-mmio slots the device tree lists (QEMU virt's 32 without a tree), logs
 * every device found, and returns the first block device that initialises (null if none).
 */
export function probeVirtioBlk(): VirtioBlk | null {
  let found: VirtioBlk | null = null;
  let devices = 0;
  const hw = hardware();
  const slots = new Array<u64>();
  if (hw.error.length != 0) for (let i = 0; i < VIRTIO_MMIO_SLOTS; i++) slots.push(VIRTIO_MMIO_BASE + <u64>i * VIRTIO_MMIO_STRIDE);
  else for (let i = 0; i < hw.virtio.length; i += 2) slots.push(hw.virtio[i]);
  for (let i = 0; i < slots.length; i++) {
    const base = slots[i];
    if (!VirtioMmio.present(base)) continue;
    const m = new VirtioMmio(base);
    if (m.deviceId == 0) continue; // an empty slot: QEMU answers the magic with device id 0
    devices++;
    log.info("virtio-mmio: slot " + i.toString() + " @" + hex(base) + ": " + virtioDeviceName(m.deviceId) +
      " device, version " + m.version.toString() + (m.version == 1 ? " (legacy)" : m.version == 2 ? " (modern)" : " (unsupported)") +
      ", vendor " + hex(m.vendorId));
    if (m.deviceId != VIRTIO_ID_BLOCK || found != null) continue;
    const blk = new VirtioBlk(m);
    const err = blk.init();
    if (err.length) { log.error("virtio-blk@" + hex(base) + ": not usable: " + err); continue; }
    log.info(blk.describe());
    found = blk;
  }
  const using = found != null ? ", using " + found.name() : ", no usable block device";
  log.info("virtio-mmio: " + devices.toString() + " device(s) in " + slots.length.toString() + " slots" + using +
    (hw.error.length != 0 ? " (QEMU virt's slots: no device tree)" : ""));
  return found;
}
