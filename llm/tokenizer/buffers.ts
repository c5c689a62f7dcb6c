// Growable byte and i32 lists on the GC heap: the tokenizers' scratch and output buffers.
// They are reused across calls (clear() keeps the capacity) so encoding does not allocate
// per token.

export class U8List {
  data: Uint8Array;
  length: i32 = 0;
  constructor(capacity: i32) { this.data = new Uint8Array(capacity > 16 ? capacity : 16); }

  @inline get ptr(): usize { return this.data.dataStart; }
  clear(): void { this.length = 0; }
  reserve(n: i32): void {
    if (this.length + n <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < this.length + n) cap *= 2;
    const nd = new Uint8Array(cap);
    memory.copy(nd.dataStart, this.data.dataStart, <usize>this.length);
    this.data = nd;
  }
  push(b: u32): void {
    if (this.length == this.data.length) this.reserve(1);
    store<u8>(this.data.dataStart + <usize>this.length, <u8>b);
    this.length++;
  }
  pushBytes(p: usize, n: i32): void {
    if (n <= 0) return;
    this.reserve(n);
    memory.copy(this.data.dataStart + <usize>this.length, p, <usize>n);
    this.length += n;
  }
  @inline at(i: i32): u32 { return <u32>load<u8>(this.data.dataStart + <usize>i); }
  /** A copy of bytes [from, to) as a new Uint8Array. */
  slice(from: i32, to: i32): Uint8Array {
    const out = new Uint8Array(to - from);
    memory.copy(out.dataStart, this.data.dataStart + <usize>from, <usize>(to - from));
    return out;
  }
  toUint8Array(): Uint8Array { return this.slice(0, this.length); }
  /** Drops the first n bytes. */
  shift(n: i32): void {
    memory.copy(this.data.dataStart, this.data.dataStart + <usize>n, <usize>(this.length - n));
    this.length -= n;
  }
}

export class I32List {
  data: Int32Array;
  length: i32 = 0;
  constructor(capacity: i32) { this.data = new Int32Array(capacity > 16 ? capacity : 16); }

  clear(): void { this.length = 0; }
  reserve(n: i32): void {
    if (this.length + n <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < this.length + n) cap *= 2;
    const nd = new Int32Array(cap);
    memory.copy(nd.dataStart, this.data.dataStart, <usize>this.length << 2);
    this.data = nd;
  }
  push(v: i32): void {
    if (this.length == this.data.length) this.reserve(1);
    store<i32>(this.data.dataStart + (<usize>this.length << 2), v);
    this.length++;
  }
  @inline at(i: i32): i32 { return load<i32>(this.data.dataStart + (<usize>i << 2)); }
  @inline set(i: i32, v: i32): void { store<i32>(this.data.dataStart + (<usize>i << 2), v); }
  toInt32Array(): Int32Array {
    const out = new Int32Array(this.length);
    memory.copy(out.dataStart, this.data.dataStart, <usize>this.length << 2);
    return out;
  }
}
