// A virtio-mmio block device simulator for host tests: it answers mmio_read32 /
// mmio_write32 for one register window, in the legacy (version 1) or modern (version 2)
// layout, reads the driver's split virtqueue out of the wasm memory, serves IN requests
// from a disk image Buffer, writes the used ring, and checks the driver's side of the
// protocol as strictly as it can (every deviation lands in `violations`).
// Errors can be injected: IOERR/UNSUPP statuses, DEVICE_NEEDS_RESET, a device that hangs.

export const MMIO_BASE = 0x0a000000;
export const MMIO_STRIDE = 0x200;
export const MAGIC = 0x74726976;

const S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_NEEDS_RESET = 64, S_FAILED = 128;
const F_SIZE_MAX = 1n << 1n, F_SEG_MAX = 1n << 2n, F_RO = 1n << 5n, F_BLK_SIZE = 1n << 6n, F_FLUSH = 1n << 9n;
const F_RING_EVENT_IDX = 1n << 29n, F_VERSION_1 = 1n << 32n;
const DESC_NEXT = 1, DESC_WRITE = 2, DESC_INDIRECT = 4;

export class VirtioBlkSim {
  /**
   * image: Buffer (whole sectors). mode: "legacy" | "modern". memory: () => WebAssembly.Memory.
   * queueMax, segMax (0: not offered), sizeMax (0: not offered), blkSize, readOnly, physBase (BigInt).
   * completeAfter: number of barrier() calls before a notified request completes (0: at once).
   */
  constructor({ image, mode = "legacy", memory, queueMax = 256, segMax = 254, sizeMax = 0, blkSize = 512, readOnly = false,
    physBase = 0n, completeAfter = 0, deviceId = 2 }) {
    this.image = image;
    this.mode = mode;
    this.memory = memory;
    this.queueMax = queueMax;
    this.segMax = segMax;
    this.sizeMax = sizeMax;
    this.blkSize = blkSize;
    this.readOnly = readOnly;
    this.physBase = BigInt(physBase);
    this.completeAfter = completeAfter;
    this.deviceId = deviceId;
    this.violations = [];
    this.stats = { notifies: 0, requests: 0, sectors: 0, maxChain: 0, maxDataSegs: 0, maxBatch: 0, resets: 0 };
    this.inject = { status: [], needsResetAfter: -1, hang: false };
    this.pending = []; // [{ head, len, due }]
    this.barriers = 0;
    this.reset();
  }

  get version() { return this.mode === "legacy" ? 1 : 2; }
  violation(msg) { if (this.violations.length < 50) this.violations.push(msg); }

  reset() {
    this.status = 0;
    this.devFeatSel = 0; this.drvFeatSel = 0; this.drvFeatures = [0, 0];
    this.guestPageSize = 0;
    this.queueSel = 0; this.queueNum = 0; this.queueAlign = 4096; this.queuePfn = 0; this.queueReady = 0;
    this.desc = 0n; this.driver = 0n; this.device = 0n;
    this.lastAvail = 0; this.usedIdx = 0;
    this.interruptStatus = 0;
    this.pending = [];
    this.broken = false;
  }

  offered() {
    let f = F_FLUSH | F_RING_EVENT_IDX; // offered but not implemented: a driver must not accept them
    if (this.sizeMax) f |= F_SIZE_MAX;
    if (this.segMax) f |= F_SEG_MAX;
    if (this.blkSize !== 512) f |= F_BLK_SIZE;
    if (this.readOnly) f |= F_RO;
    if (this.mode === "modern") f |= F_VERSION_1;
    return f;
  }
  accepted() { return (BigInt(this.drvFeatures[1] >>> 0) << 32n) | BigInt(this.drvFeatures[0] >>> 0); }

  // --- error injection ---
  /** The next n requests complete with `status` (1 IOERR, 2 UNSUPP, 0xff: status left unwritten). */
  failNext(n = 1, status = 1) { for (let i = 0; i < n; i++) this.inject.status.push(status); }
  /** After `after` more requests, the device sets DEVICE_NEEDS_RESET and stops completing. */
  needsResetAfter(after = 0) { this.inject.needsResetAfter = after; }
  /** The device stops completing requests until reset. */
  hang() { this.inject.hang = true; }

  // --- registers ---
  read32(off) {
    switch (off) {
      case 0x000: return MAGIC;
      case 0x004: return this.version;
      case 0x008: return this.deviceId;
      case 0x00c: return 0x554d4551; // "QEMU"
      case 0x010: {
        if (this.mode === "legacy" && this.devFeatSel !== 0) return 0;
        return Number((this.offered() >> BigInt(32 * this.devFeatSel)) & 0xffffffffn) >>> 0;
      }
      case 0x034: return this.queueSel === 0 ? this.queueMax : 0;
      case 0x040: if (this.mode !== "legacy") this.violation("read QueuePFN on a modern device"); return this.queuePfn;
      case 0x044: if (this.mode !== "modern") this.violation("read QueueReady on a legacy device"); return this.queueReady;
      case 0x060: return this.interruptStatus;
      case 0x070: return this.status;
      case 0x0fc: return this.mode === "modern" ? 7 : 0;
    }
    if (off >= 0x100 && off < 0x100 + 0x40) return this.config32(off - 0x100);
    this.violation(`read of register 0x${off.toString(16)}`);
    return 0;
  }

  config32(o) {
    const cap = BigInt(Math.floor(this.image.length / 512));
    switch (o) {
      case 0: return Number(cap & 0xffffffffn) >>> 0;
      case 4: return Number(cap >> 32n) >>> 0;
      case 8: return this.sizeMax;
      case 12: return this.segMax;
      case 16: return 0x3f10_0400; // geometry, unused
      case 20: return this.blkSize;
    }
    return 0;
  }

  write32(off, v) {
    v >>>= 0;
    const legacyOnly = (name) => { if (this.mode !== "legacy") this.violation(`wrote ${name} on a modern device`); };
    const modernOnly = (name) => { if (this.mode !== "modern") this.violation(`wrote ${name} on a legacy device`); };
    switch (off) {
      case 0x014: this.devFeatSel = v; return;
      case 0x020:
        if (this.drvFeatSel > 1) this.violation("DriverFeaturesSel > 1");
        else this.drvFeatures[this.drvFeatSel] = v;
        return;
      case 0x024: this.drvFeatSel = v; return;
      case 0x028: legacyOnly("GuestPageSize"); this.guestPageSize = v; return;
      case 0x030: this.queueSel = v; return;
      case 0x038:
        if (v > this.queueMax || v === 0 || (v & (v - 1)) !== 0) this.violation(`QueueNum ${v} (max ${this.queueMax}, must be a power of two)`);
        this.queueNum = v; return;
      case 0x03c: legacyOnly("QueueAlign"); this.queueAlign = v; return;
      case 0x040: {
        legacyOnly("QueuePFN");
        this.queuePfn = v;
        if (v === 0) return;
        if (!this.guestPageSize) this.violation("QueuePFN written before GuestPageSize");
        const base = BigInt(v) * BigInt(this.guestPageSize || 4096);
        const n = BigInt(this.queueNum);
        this.desc = base;
        this.driver = base + 16n * n;
        const align = BigInt(this.queueAlign || 4096);
        this.device = ((this.driver + 6n + 2n * n + align - 1n) / align) * align;
        this.checkQueueMemory();
        return;
      }
      case 0x044:
        modernOnly("QueueReady");
        if (v === 1) {
          if (this.desc % 16n || this.driver % 2n || this.device % 4n) this.violation("queue addresses misaligned");
          this.checkQueueMemory();
        }
        this.queueReady = v; return;
      case 0x050: this.notify(v); return;
      case 0x064: this.interruptStatus &= ~v; return;
      case 0x070: this.writeStatus(v); return;
      case 0x080: modernOnly("QueueDescLow"); this.desc = (this.desc & ~0xffffffffn) | BigInt(v); return;
      case 0x084: modernOnly("QueueDescHigh"); this.desc = (this.desc & 0xffffffffn) | (BigInt(v) << 32n); return;
      case 0x090: modernOnly("QueueDriverLow"); this.driver = (this.driver & ~0xffffffffn) | BigInt(v); return;
      case 0x094: modernOnly("QueueDriverHigh"); this.driver = (this.driver & 0xffffffffn) | (BigInt(v) << 32n); return;
      case 0x0a0: modernOnly("QueueDeviceLow"); this.device = (this.device & ~0xffffffffn) | BigInt(v); return;
      case 0x0a4: modernOnly("QueueDeviceHigh"); this.device = (this.device & 0xffffffffn) | (BigInt(v) << 32n); return;
    }
    this.violation(`write of register 0x${off.toString(16)} = 0x${v.toString(16)}`);
  }

  writeStatus(v) {
    if (v === 0) { this.reset(); this.stats.resets++; return; }
    const added = v & ~this.status;
    if (this.status & ~v & ~S_NEEDS_RESET) this.violation(`status bits cleared without a reset (0x${this.status.toString(16)} -> 0x${v.toString(16)})`);
    if ((added & S_DRIVER) && !(v & S_ACK)) this.violation("DRIVER before ACKNOWLEDGE");
    if (added & S_FEATURES_OK) {
      if (this.mode === "legacy") this.violation("FEATURES_OK on a legacy device");
      const extra = this.accepted() & ~this.offered();
      if (extra) this.violation(`driver accepted features not offered: 0x${extra.toString(16)}`);
      if (!(this.accepted() & F_VERSION_1)) { v &= ~S_FEATURES_OK; } // refused: the driver must notice
    }
    if (added & S_DRIVER_OK) {
      if (this.mode === "modern" && !(v & S_FEATURES_OK)) this.violation("DRIVER_OK without FEATURES_OK");
      const extra = this.accepted() & ~this.offered();
      if (extra) this.violation(`driver accepted features not offered: 0x${extra.toString(16)}`);
      if (this.accepted() & (F_RING_EVENT_IDX | F_FLUSH)) this.violation("driver accepted features it cannot use");
      if (this.mode === "legacy" ? !this.queuePfn : !this.queueReady) this.violation("DRIVER_OK before the queue was set up");
    }
    this.status = v | (this.status & S_NEEDS_RESET);
  }

  // --- memory ---
  lin(phys, len) {
    const a = BigInt(phys) - this.physBase;
    const size = BigInt(this.memory().buffer.byteLength);
    if (a < 0n || a + BigInt(len) > size) { this.violation(`DMA address 0x${BigInt(phys).toString(16)}+${len} outside memory`); return -1; }
    return Number(a);
  }
  view() { return new DataView(this.memory().buffer); }
  checkQueueMemory() {
    const n = BigInt(this.queueNum);
    for (const [a, l, what] of [[this.desc, 16n * n, "descriptor table"], [this.driver, 6n + 2n * n, "available ring"], [this.device, 6n + 8n * n, "used ring"]]) {
      if (this.lin(a, Number(l)) < 0) this.violation(`${what} outside memory`);
    }
  }

  // --- requests ---
  notify(q) {
    this.stats.notifies++;
    if (q !== 0) { this.violation(`notify of queue ${q}`); return; }
    if (!(this.status & S_DRIVER_OK)) { this.violation("notify before DRIVER_OK"); return; }
    if (this.broken || this.inject.hang) return;
    const dv = this.view();
    const avail = this.lin(this.driver, 6 + 2 * this.queueNum);
    if (avail < 0) return;
    const idx = dv.getUint16(avail + 2, true);
    const batch = (idx - this.lastAvail) & 0xffff;
    if (batch > this.queueNum) { this.violation(`available index moved by ${batch} on a ${this.queueNum}-entry queue`); return; }
    this.stats.maxBatch = Math.max(this.stats.maxBatch, batch);
    while (this.lastAvail !== idx) {
      const head = dv.getUint16(avail + 4 + 2 * (this.lastAvail % this.queueNum), true);
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      if (this.inject.needsResetAfter === 0) {
        this.status |= S_NEEDS_RESET; this.broken = true; this.interruptStatus |= 2;
        return;
      }
      if (this.inject.needsResetAfter > 0) this.inject.needsResetAfter--;
      const len = this.serve(head);
      if (this.completeAfter > 0) this.pending.push({ head, len, due: this.barriers + this.completeAfter });
      else this.complete(head, len);
    }
  }

  /** Called on every platform.barrier(): completes deferred requests that are due. */
  tick() {
    this.barriers++;
    while (this.pending.length && this.pending[0].due <= this.barriers && !this.broken) {
      const { head, len } = this.pending.shift();
      this.complete(head, len);
    }
  }

  complete(head, len) {
    const dv = this.view();
    const used = this.lin(this.device, 6 + 8 * this.queueNum);
    if (used < 0) return;
    const slot = used + 4 + 8 * (this.usedIdx % this.queueNum);
    dv.setUint32(slot, head, true);
    dv.setUint32(slot + 4, len, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    dv.setUint16(used + 2, this.usedIdx, true);
    this.interruptStatus |= 1;
  }

  /** Serves one chain; returns the number of bytes written into it. */
  serve(head) {
    this.stats.requests++;
    const dv = this.view();
    const chain = [];
    let d = head;
    for (let i = 0; ; i++) {
      if (d >= this.queueNum) { this.violation(`descriptor index ${d} out of range`); return 0; }
      if (i >= this.queueNum) { this.violation("descriptor chain loops"); return 0; }
      const p = this.lin(this.desc + 16n * BigInt(d), 16);
      if (p < 0) return 0;
      const addr = dv.getBigUint64(p, true), len = dv.getUint32(p + 8, true), flags = dv.getUint16(p + 12, true), next = dv.getUint16(p + 14, true);
      if (flags & DESC_INDIRECT) this.violation("indirect descriptor without the feature");
      chain.push({ addr, len, flags });
      if (!(flags & DESC_NEXT)) break;
      d = next;
    }
    this.stats.maxChain = Math.max(this.stats.maxChain, chain.length);
    if (chain.length < 2) { this.violation("chain shorter than header + status"); return 0; }
    const hdr = chain[0], st = chain[chain.length - 1], data = chain.slice(1, -1);
    if (hdr.len < 16 || (hdr.flags & DESC_WRITE)) { this.violation("bad request header descriptor"); return 0; }
    if (st.len < 1 || !(st.flags & DESC_WRITE)) { this.violation("bad status descriptor"); return 0; }
    const hp = this.lin(hdr.addr, 16), sp = this.lin(st.addr, 1);
    if (hp < 0 || sp < 0) return 0;
    const type = dv.getUint32(hp, true);
    const sector = dv.getBigUint64(hp + 8, true);
    const setStatus = (s) => { new Uint8Array(this.memory().buffer)[sp] = s; return 1; };
    if (type !== 0) { this.violation(`request type ${type}`); return setStatus(2); }
    this.stats.maxDataSegs = Math.max(this.stats.maxDataSegs, data.length);
    if (this.accepted() & F_SEG_MAX && data.length > this.segMax) this.violation(`${data.length} data segments > seg_max ${this.segMax}`);
    let total = 0;
    for (const s of data) {
      if (!(s.flags & DESC_WRITE)) this.violation("read request with a device-readable data buffer");
      if ((this.accepted() & F_SIZE_MAX) && s.len > this.sizeMax) this.violation(`segment of ${s.len} bytes > size_max ${this.sizeMax}`);
      total += s.len;
    }
    if (total === 0 || total % 512) { this.violation(`data length ${total} is not a whole number of sectors`); return setStatus(1); }
    const injected = this.inject.status.length ? this.inject.status.shift() : -1;
    if (injected === 0xff) return 0; // status left unwritten
    if (injected >= 0) return setStatus(injected);
    const from = Number(sector) * 512;
    if (from + total > this.image.length) return setStatus(1); // like QEMU: IOERR past the end
    const mem = new Uint8Array(this.memory().buffer);
    let off = from;
    for (const s of data) {
      const p = this.lin(s.addr, s.len);
      if (p < 0) return setStatus(1);
      this.image.copy(mem, p, off, off + s.len);
      off += s.len;
    }
    this.stats.sectors += total / 512;
    setStatus(0);
    return total + 1;
  }
}

/**
 * The `platform` overrides for a machine with these devices: { slot: sim } (other slots
 * answer like QEMU's empty transports: the magic with device id 0). Adds barrier() ticks
 * and a virtual clock (1 ms per barrier) so that timeouts happen quickly.
 */
export function virtioPlatform(slots, { physBase = 0n } = {}) {
  let clock = 0n;
  const find = (addr) => {
    const a = Number(addr);
    if (a < MMIO_BASE || a >= MMIO_BASE + 32 * MMIO_STRIDE) return null;
    const i = Math.floor((a - MMIO_BASE) / MMIO_STRIDE);
    return { i, off: (a - MMIO_BASE) % MMIO_STRIDE, sim: slots[i] };
  };
  const sims = Object.values(slots);
  const log = [];
  return {
    log,
    platform: {
      mmio_read32(addr) {
        const f = find(addr);
        if (!f) { log.push(`read outside virtio-mmio: 0x${addr.toString(16)}`); return 0; }
        if (!f.sim) return f.off === 0 ? MAGIC : f.off === 4 ? 2 : 0;
        return f.sim.read32(f.off);
      },
      mmio_write32(addr, v) {
        const f = find(addr);
        if (!f || !f.sim) { log.push(`write to 0x${addr.toString(16)}`); return; }
        f.sim.write32(f.off, v);
      },
      barrier() { clock += 1_000_000n; for (const s of sims) s.tick(); },
      time_ns() { return clock; },
      mem_phys_base() { return BigInt(physBase); },
    },
  };
}
