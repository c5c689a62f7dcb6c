// The virtio-mmio transport (virtio 1.x section 4.2) as QEMU's `virt` machine wires it:
// 32 register windows of 0x200 bytes from 0x0a000000. Both register layouts are handled:
// version 1 (legacy: GuestPageSize, QueuePFN, QueueAlign; QEMU's default) and version 2
// (modern: 64-bit queue addresses, QueueReady, FEATURES_OK, VIRTIO_F_VERSION_1).

import { mmio_read32, mmio_write32, time_ns } from "../platform";
import { Virtqueue, QUEUE_ALIGN } from "./virtqueue";

export const VIRTIO_MMIO_BASE: u64 = 0x0a000000;
export const VIRTIO_MMIO_STRIDE: u64 = 0x200;
export const VIRTIO_MMIO_SLOTS: i32 = 32;
export const VIRTIO_MAGIC: u32 = 0x74726976; // "virt"

// Register offsets.
export const REG_MAGIC: u32 = 0x000;
export const REG_VERSION: u32 = 0x004;
export const REG_DEVICE_ID: u32 = 0x008;
export const REG_VENDOR_ID: u32 = 0x00c;
export const REG_DEVICE_FEATURES: u32 = 0x010;
export const REG_DEVICE_FEATURES_SEL: u32 = 0x014;
export const REG_DRIVER_FEATURES: u32 = 0x020;
export const REG_DRIVER_FEATURES_SEL: u32 = 0x024;
export const REG_GUEST_PAGE_SIZE: u32 = 0x028; // legacy
export const REG_QUEUE_SEL: u32 = 0x030;
export const REG_QUEUE_NUM_MAX: u32 = 0x034;
export const REG_QUEUE_NUM: u32 = 0x038;
export const REG_QUEUE_ALIGN: u32 = 0x03c;     // legacy
export const REG_QUEUE_PFN: u32 = 0x040;       // legacy
export const REG_QUEUE_READY: u32 = 0x044;     // modern
export const REG_QUEUE_NOTIFY: u32 = 0x050;
export const REG_INTERRUPT_STATUS: u32 = 0x060;
export const REG_INTERRUPT_ACK: u32 = 0x064;
export const REG_STATUS: u32 = 0x070;
export const REG_QUEUE_DESC_LOW: u32 = 0x080;  // modern, and the five below
export const REG_QUEUE_DESC_HIGH: u32 = 0x084;
export const REG_QUEUE_DRIVER_LOW: u32 = 0x090;
export const REG_QUEUE_DRIVER_HIGH: u32 = 0x094;
export const REG_QUEUE_DEVICE_LOW: u32 = 0x0a0;
export const REG_QUEUE_DEVICE_HIGH: u32 = 0x0a4;
export const REG_CONFIG_GENERATION: u32 = 0x0fc;
export const REG_CONFIG: u32 = 0x100;

// Device status bits.
export const STATUS_ACKNOWLEDGE: u32 = 1;
export const STATUS_DRIVER: u32 = 2;
export const STATUS_DRIVER_OK: u32 = 4;
export const STATUS_FEATURES_OK: u32 = 8;
export const STATUS_DEVICE_NEEDS_RESET: u32 = 64;
export const STATUS_FAILED: u32 = 128;

// Transport feature bits.
export const VIRTIO_F_VERSION_1: u64 = 1 << 32;
export const VIRTIO_F_ACCESS_PLATFORM: u64 = 1 << 33;

export const LEGACY_PAGE_SIZE: u32 = 4096;

/** Names of the device ids a `virt` machine is likely to have, for the probe log. */
export function virtioDeviceName(id: u32): string {
  switch (id) {
    case 0: return "none";
    case 1: return "network";
    case 2: return "block";
    case 3: return "console";
    case 4: return "entropy";
    case 5: return "balloon";
    case 8: return "scsi";
    case 9: return "9p";
    case 16: return "gpu";
    case 18: return "input";
    case 19: return "vsock";
    case 26: return "fs";
  }
  return "type " + id.toString();
}

export function hex(v: u64): string { return "0x" + v.toString(16); }

export class VirtioMmio {
  readonly base: u64;
  readonly version: u32;
  readonly deviceId: u32;
  readonly vendorId: u32;

  constructor(base: u64) {
    this.base = base;
    this.version = mmio_read32(base + REG_VERSION);
    this.deviceId = mmio_read32(base + REG_DEVICE_ID);
    this.vendorId = mmio_read32(base + REG_VENDOR_ID);
  }

  /** True when a virtio-mmio register window answers at `base`. */
  static present(base: u64): bool { return mmio_read32(base + REG_MAGIC) == VIRTIO_MAGIC; }

  @inline get legacy(): bool { return this.version == 1; }
  read(reg: u32): u32 { return mmio_read32(this.base + reg); }
  write(reg: u32, v: u32): void { mmio_write32(this.base + reg, v); }
  status(): u32 { return this.read(REG_STATUS); }
  addStatus(bits: u32): void { this.write(REG_STATUS, this.status() | bits); }
  where(): string { return hex(this.base); }

  /** Writes 0 to Status and, as the modern spec asks, waits for it to read back 0. */
  reset(): string {
    this.write(REG_STATUS, 0);
    if (this.legacy) return "";
    const t0 = time_ns();
    while (this.status() != 0) {
      if (time_ns() - t0 > 1_000_000_000) return "device did not complete its reset";
    }
    return "";
  }

  deviceFeatures(): u64 {
    this.write(REG_DEVICE_FEATURES_SEL, 0);
    const lo = this.read(REG_DEVICE_FEATURES);
    this.write(REG_DEVICE_FEATURES_SEL, 1);
    const hi = this.read(REG_DEVICE_FEATURES);
    return (<u64>hi << 32) | <u64>lo;
  }

  /**
   * Reset, ACKNOWLEDGE, DRIVER, feature negotiation (and FEATURES_OK on modern devices).
   * `wanted` are the device-specific bits the driver can use; returns the accepted set
   * in `accepted` or an error naming the step that failed.
   */
  accepted: u64 = 0;
  negotiate(wanted: u64): string {
    if (this.version != 1 && this.version != 2) return "unsupported virtio-mmio version " + this.version.toString();
    const err = this.reset();
    if (err.length) return err;
    this.addStatus(STATUS_ACKNOWLEDGE);
    this.addStatus(STATUS_DRIVER);
    const offered = this.deviceFeatures();
    let accept = offered & wanted;
    if (!this.legacy) {
      if ((offered & VIRTIO_F_VERSION_1) == 0) {
        this.addStatus(STATUS_FAILED);
        return "modern (version 2) device does not offer VIRTIO_F_VERSION_1";
      }
      accept |= VIRTIO_F_VERSION_1;
      // no IOMMU in front of our DMA: physical addresses are what the platform gives
      accept |= offered & VIRTIO_F_ACCESS_PLATFORM;
    } else {
      accept &= 0xffffffff; // legacy devices have 32 feature bits
      this.write(REG_GUEST_PAGE_SIZE, LEGACY_PAGE_SIZE);
    }
    this.write(REG_DRIVER_FEATURES_SEL, 0);
    this.write(REG_DRIVER_FEATURES, <u32>accept);
    this.write(REG_DRIVER_FEATURES_SEL, 1);
    this.write(REG_DRIVER_FEATURES, <u32>(accept >> 32));
    if (!this.legacy) {
      this.addStatus(STATUS_FEATURES_OK);
      if ((this.status() & STATUS_FEATURES_OK) == 0) {
        this.addStatus(STATUS_FAILED);
        return "device refused features " + hex(accept) + " (FEATURES_OK not kept)";
      }
    }
    this.accepted = accept;
    return "";
  }

  /** Largest queue the device offers for queue q (0: no such queue). */
  queueMax(q: u32): u32 {
    this.write(REG_QUEUE_SEL, q);
    return this.read(REG_QUEUE_NUM_MAX);
  }

  /** Tells the device where queue q lives. */
  setupQueue(q: u32, vq: Virtqueue): string {
    this.write(REG_QUEUE_SEL, q);
    const max = this.read(REG_QUEUE_NUM_MAX);
    if (max == 0) return "queue " + q.toString() + " is not available";
    if (vq.size > max) return "queue " + q.toString() + " size " + vq.size.toString() + " exceeds the device maximum " + max.toString();
    if (this.legacy) {
      if (this.read(REG_QUEUE_PFN) != 0) return "queue " + q.toString() + " is already in use";
      const phys = Virtqueue.phys(vq.desc);
      if ((phys & <u64>(LEGACY_PAGE_SIZE - 1)) != 0) return "queue memory " + hex(phys) + " is not page aligned";
      const pfn = phys / <u64>LEGACY_PAGE_SIZE;
      if (pfn > 0xffffffff) return "queue memory " + hex(phys) + " is above what QueuePFN can address";
      this.write(REG_QUEUE_NUM, vq.size);
      this.write(REG_QUEUE_ALIGN, QUEUE_ALIGN);
      this.write(REG_QUEUE_PFN, <u32>pfn);
    } else {
      if (this.read(REG_QUEUE_READY) != 0) return "queue " + q.toString() + " is already in use";
      this.write(REG_QUEUE_NUM, vq.size);
      const d = Virtqueue.phys(vq.desc), a = Virtqueue.phys(vq.avail), u = Virtqueue.phys(vq.used);
      this.write(REG_QUEUE_DESC_LOW, <u32>d); this.write(REG_QUEUE_DESC_HIGH, <u32>(d >> 32));
      this.write(REG_QUEUE_DRIVER_LOW, <u32>a); this.write(REG_QUEUE_DRIVER_HIGH, <u32>(a >> 32));
      this.write(REG_QUEUE_DEVICE_LOW, <u32>u); this.write(REG_QUEUE_DEVICE_HIGH, <u32>(u >> 32));
      this.write(REG_QUEUE_READY, 1);
      if (this.read(REG_QUEUE_READY) != 1) return "queue " + q.toString() + " did not become ready";
    }
    return "";
  }

  driverOk(): string {
    this.addStatus(STATUS_DRIVER_OK);
    const s = this.status();
    if ((s & STATUS_DEVICE_NEEDS_RESET) != 0) return "device needs reset right after DRIVER_OK";
    if ((s & STATUS_DRIVER_OK) == 0) return "device did not accept DRIVER_OK (status " + hex(s) + ")";
    return "";
  }

  notify(q: u32): void { this.write(REG_QUEUE_NOTIFY, q); }

  /** Acknowledges whatever interrupt causes are pending (we poll, but keep the line quiet). */
  ackInterrupts(): void {
    const s = this.read(REG_INTERRUPT_STATUS);
    if (s != 0) this.write(REG_INTERRUPT_ACK, s);
  }

  config32(off: u32): u32 { return this.read(REG_CONFIG + off); }

  /** A 64-bit config field read consistently (generation counter, or a hi/lo/hi re-read on legacy). */
  config64(off: u32): u64 {
    for (let tries = 0; tries < 16; tries++) {
      if (this.legacy) {
        const hi = this.config32(off + 4), lo = this.config32(off);
        if (this.config32(off + 4) == hi) return (<u64>hi << 32) | <u64>lo;
      } else {
        const g = this.read(REG_CONFIG_GENERATION);
        const lo = this.config32(off), hi = this.config32(off + 4);
        if (this.read(REG_CONFIG_GENERATION) == g) return (<u64>hi << 32) | <u64>lo;
      }
    }
    return (<u64>this.config32(off + 4) << 32) | <u64>this.config32(off);
  }
}
