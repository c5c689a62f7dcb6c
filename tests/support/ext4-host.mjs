// Host side of tests/wasm/storage.ts: serves disk image Buffers as the "hostdisk" import
// and wraps the exported VFS calls in plain JS (paths in, Buffers out).
import { instantiate, readAsString, WasmTrap } from "../../tools/lib/wasmhost.mjs";

export class Ext4Host {
  /** platform: overrides of the platform imports (a virtio simulator, for instance). */
  static async create(wasmPath, { maxSectorsPerOp = 0, platform = {} } = {}) {
    const h = new Ext4Host();
    h.images = [];
    h.sectorsRead = 0;
    h.maxSectorsPerOp = maxSectorsPerOp; // > 0: trap (throw) when one operation reads more
    h.failLba = -1n;
    const r = await instantiate(wasmPath, {
      platform,
      imports: {
        hostdisk: {
          sectors: (disk) => BigInt(Math.floor((h.images[disk]?.length ?? 0) / 512)),
          read: (disk, lba, count, dst) => {
            const off = Number(lba) * 512, len = count * 512;
            if (h.failLba >= 0n && h.failLba >= lba && h.failLba < lba + BigInt(count)) return 5;
            h.sectorsRead += count;
            if (h.maxSectorsPerOp && h.sectorsRead > h.maxSectorsPerOp) throw new WasmTrap(`unbounded I/O: more than ${h.maxSectorsPerOp} sectors in one operation`);
            const mem = new Uint8Array(r.memory.buffer, dst, len);
            h.images[disk].copy(mem, 0, off, off + len);
            return 0;
          },
        },
      },
      onOutput: () => {},
    });
    h.r = r;
    h.x = r.exports;
    return h;
  }

  get mem() { return this.r.memory; }
  str(ptr) { return readAsString(this.r.memory, ptr); }
  arg(s) {
    const b = Buffer.from(s, "utf8");
    if (b.length > 8192) throw new Error("argument too long for the scratch buffer");
    new Uint8Array(this.r.memory.buffer, this.x.scratchPtr(), b.length).set(b);
    return b.length;
  }
  beginOp() { this.sectorsRead = 0; }

  /** Mounts `image` (a Buffer) at `path`; "" or the error. */
  mount(image, path = "/", disk = 0) {
    this.images[disk] = image;
    this.beginOp();
    return this.str(this.x.mountHost(disk, this.arg(path)));
  }
  /** Mounts the probed virtio disk at `path`. */
  mountVirtio(path = "/") { this.beginOp(); return this.str(this.x.mountVirtio(this.arg(path))); }
  unmount(path = "/") { return this.str(this.x.unmount(this.arg(path))); }
  chdir(path) { return this.str(this.x.chdir(this.arg(path))); }
  getcwd() { return this.str(this.x.getcwd()); }
  error() { return this.str(this.x.error()); }

  /** { ino, mode, size, nlink, blocks, mtime, uid, gid, type } or { error } */
  stat(path, follow = true) {
    this.beginOp();
    const e = this.str(this.x.stat(this.arg(path), follow ? 1 : 0));
    if (e) return { error: e };
    const f = (i) => this.x.statField(i);
    return { ino: Number(f(0)), mode: Number(f(1)), size: f(2), nlink: Number(f(3)), blocks: f(4), mtime: Number(f(5)), uid: Number(f(6)), gid: Number(f(7)), type: Number(f(8)) };
  }

  readlink(path) {
    this.beginOp();
    const t = this.str(this.x.readlink(this.arg(path)));
    const e = this.error();
    return e ? { error: e } : { target: t };
  }

  /** Whole file (or `max` bytes) read in `chunk`-sized reads; { data } or { error }. */
  readFile(path, { chunk = 65536, max = Infinity } = {}) {
    this.beginOp();
    const fd = this.x.open(this.arg(path));
    if (fd < 0) return { error: this.error(), code: this.x.code() };
    try {
      const buf = this.x.allocRegion(BigInt(chunk));
      if (!buf) return { error: "out of memory" };
      const parts = [];
      let total = 0;
      try {
        while (total < max) {
          const want = Math.min(chunk, max - total);
          const n = Number(this.x.read(fd, buf, want));
          if (n < 0) return { error: this.error(), code: this.x.code() };
          if (n === 0) break;
          parts.push(Buffer.from(new Uint8Array(this.r.memory.buffer, buf, n)));
          total += n;
        }
      } finally { this.x.freeRegion(buf); }
      return { data: Buffer.concat(parts) };
    } finally { this.x.close(fd); }
  }

  /** Bytes at an offset; { data } or { error }. */
  pread(path, offset, len) {
    this.beginOp();
    const fd = this.x.open(this.arg(path));
    if (fd < 0) return { error: this.error() };
    try {
      const buf = this.x.allocRegion(BigInt(Math.max(1, len)));
      try {
        const n = Number(this.x.pread(fd, BigInt(offset), buf, len));
        if (n < 0) return { error: this.error() };
        return { data: Buffer.from(new Uint8Array(this.r.memory.buffer, buf, n)) };
      } finally { this.x.freeRegion(buf); }
    } finally { this.x.close(fd); }
  }

  /** [{ name, ino, type }] including "." and ".."; or { error }. */
  list(path, limit = 1e6) {
    this.beginOp();
    const fd = this.x.open(this.arg(path));
    if (fd < 0) return { error: this.error() };
    try {
      const out = [];
      for (let i = 0; i < limit; i++) {
        const r = this.x.readdir(fd);
        if (r < 0) return { error: this.error() };
        if (r === 0) return { entries: out };
        out.push({ name: this.str(this.x.entryName()), ino: Number(this.x.entryIno()), type: this.x.entryType() });
      }
      return { error: "readdir did not end" };
    } finally { this.x.close(fd); }
  }

  statfs(path = "/") {
    const e = this.str(this.x.statfs(this.arg(path)));
    if (e) return { error: e };
    const f = (i) => this.x.statfsField(i);
    return { type: this.str(this.x.statfsType()), label: this.str(this.x.statfsLabel()), blockSize: Number(f(0)), blocks: f(1), free: f(2), avail: f(3), inodes: f(4), freeInodes: f(5) };
  }
}
