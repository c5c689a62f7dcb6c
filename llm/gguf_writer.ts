// GGUF writer: builds a version 3 file image in a memory region, for tools that make or
// convert models (mkmodel, quantize). The host reads the finished bytes out of linear
// memory and writes them to disk.
//
// Metadata is encoded as it is set (key order is kept; setting a key again replaces its
// value in place). Tensor data is laid out in the order tensors were added, each at an
// offset that is a multiple of the alignment, like llama.cpp's own writer, so a file read
// and written back unchanged comes out byte for byte the same.

import { allocRegion } from "../kernel/memory/regions";
import { blockElements, rowBytes, typeName } from "./tensor_types";
import {
  GGUFFile, GGUFValue, GGUF_MAGIC, GGUF_DEFAULT_ALIGNMENT, GGUF_MAX_DIMS, ggufScalarSize, ggufTypeName,
  ggufIsIntegerType, GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16, GGUF_TYPE_UINT32,
  GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_UINT64,
  GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64,
} from "./gguf";

/** A growable byte buffer on the GC heap. */
export class ByteSink {
  buf: Uint8Array = new Uint8Array(64);
  length: i32 = 0;

  private reserve(n: i32): usize {
    if (this.length + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.length + n) cap *= 2;
      const nb = new Uint8Array(cap);
      memory.copy(nb.dataStart, this.buf.dataStart, <usize>this.length);
      this.buf = nb;
    }
    const p = this.buf.dataStart + <usize>this.length;
    this.length += n;
    return p;
  }
  u8(v: u32): void { store<u8>(this.reserve(1), <u8>v); }
  u16(v: u32): void { store<u16>(this.reserve(2), <u16>v); }
  u32(v: u32): void { store<u32>(this.reserve(4), v); }
  u64(v: u64): void { store<u64>(this.reserve(8), v); }
  f32(v: f32): void { store<f32>(this.reserve(4), v); }
  f64(v: f64): void { store<f64>(this.reserve(8), v); }
  bytes(src: usize, n: usize): void { memory.copy(this.reserve(<i32>n), src, n); }
  /** GGUF string: u64 length + UTF-8 bytes. */
  gstring(s: string): void {
    const b = String.UTF8.encode(s);
    this.u64(<u64>b.byteLength);
    this.bytes(changetype<usize>(b), <usize>b.byteLength);
  }
  gstringBytes(src: usize, n: usize): void { this.u64(<u64>n); this.bytes(src, n); }
  /** One scalar of type t from an integer or float source. */
  scalar(t: u32, i: i64, f: f64): void {
    switch (t) {
      case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: this.u8(<u32>i); break;
      case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: this.u16(<u32>i); break;
      case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: this.u32(<u32>i); break;
      case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: this.u64(<u64>i); break;
      case GGUF_TYPE_FLOAT32: this.f32(<f32>f); break;
      case GGUF_TYPE_FLOAT64: this.f64(f); break;
    }
  }
  copyTo(dst: usize): void { memory.copy(dst, this.buf.dataStart, <usize>this.length); }
}

/** Builds one array value element by element (any element type, arrays of arrays too). */
export class GGUFArrayBuilder {
  count: u64 = 0;
  body: ByteSink = new ByteSink();
  error: string = "";
  constructor(public elemType: u32) {
    if (elemType != GGUF_TYPE_STRING && elemType != GGUF_TYPE_ARRAY && ggufScalarSize(elemType) == 0) {
      this.error = "unknown array element type " + elemType.toString();
    }
  }
  private check(ok: bool, what: string): bool {
    if (!ok && this.error.length == 0) this.error = "cannot push " + what + " into an array of " + ggufTypeName(this.elemType);
    if (ok) this.count++;
    return ok;
  }
  /** Integer element (any integer type; bool takes 0/1). */
  pushInt(v: i64): this {
    if (this.check(ggufIsIntegerType(this.elemType) || this.elemType == GGUF_TYPE_BOOL, "an integer")) this.body.scalar(this.elemType, v, 0);
    return this;
  }
  pushFloat(v: f64): this {
    if (this.check(this.elemType == GGUF_TYPE_FLOAT32 || this.elemType == GGUF_TYPE_FLOAT64, "a float")) this.body.scalar(this.elemType, 0, v);
    return this;
  }
  pushBool(v: bool): this {
    if (this.check(this.elemType == GGUF_TYPE_BOOL, "a bool")) this.body.u8(v ? 1 : 0);
    return this;
  }
  pushString(s: string): this {
    if (this.check(this.elemType == GGUF_TYPE_STRING, "a string")) this.body.gstring(s);
    return this;
  }
  pushStringBytes(p: usize, n: usize): this {
    if (this.check(this.elemType == GGUF_TYPE_STRING, "a string")) this.body.gstringBytes(p, n);
    return this;
  }
  pushArray(a: GGUFArrayBuilder): this {
    if (a.error.length > 0 && this.error.length == 0) this.error = a.error;
    if (this.check(this.elemType == GGUF_TYPE_ARRAY, "an array")) a.encodeInto(this.body);
    return this;
  }
  /** Element type, count, elements: the encoding after the value's type tag. */
  encodeInto(out: ByteSink): void {
    out.u32(this.elemType);
    out.u64(this.count);
    out.bytes(this.body.buf.dataStart, <usize>this.body.length);
  }
}

class PendingTensor {
  name: string = "";
  nameBytes: ArrayBuffer = new ArrayBuffer(0);
  dims: StaticArray<u64> = new StaticArray<u64>(4);
  nDims: u32 = 0;
  type: u32 = 0;
  nbytes: u64 = 0;
  src: usize = 0;
  offset: u64 = 0;
}

export class GGUFWriteResult {
  /** Start of the image (a region from kernel/memory/regions: freeRegion(ptr) when done). */
  ptr: usize = 0;
  size: u64 = 0;
  /** Absolute address of each tensor's data in the image, in the order they were added. */
  tensorData: Array<usize> = new Array<usize>();
  error: string = "";
  get ok(): bool { return this.error.length == 0; }
}

export class GGUFWriter {
  alignment: u32 = GGUF_DEFAULT_ALIGNMENT;
  /** First error; finish() refuses to write when set. */
  error: string = "";
  private keys: Array<string> = new Array<string>();
  private encodedKeys: Array<ArrayBuffer> = new Array<ArrayBuffer>();
  /** u32 value type followed by the value's encoding. */
  private encodedValues: Array<ByteSink> = new Array<ByteSink>();
  private tensors: Array<PendingTensor> = new Array<PendingTensor>();
  private tensorNames: Set<string> = new Set<string>();

  private fail(msg: string): bool {
    if (this.error.length == 0) this.error = msg;
    return false;
  }

  // Starts (or restarts) the value of key with its type tag and returns the sink to fill.
  private begin(key: string, type: u32): ByteSink {
    const s = new ByteSink();
    s.u32(type);
    const i = this.keys.indexOf(key);
    if (i >= 0) {
      this.encodedValues[i] = s;
    } else {
      this.keys.push(key);
      this.encodedKeys.push(String.UTF8.encode(key));
      this.encodedValues.push(s);
    }
    return s;
  }

  /** Sets the data alignment (a power of two); stored as general.alignment unless it is the default 32. */
  setAlignment(a: u32): bool {
    if (a == 0 || (a & (a - 1)) != 0) return this.fail("alignment " + a.toString() + " is not a power of two");
    this.alignment = a;
    if (a != GGUF_DEFAULT_ALIGNMENT || this.has("general.alignment")) this.begin("general.alignment", GGUF_TYPE_UINT32).u32(a);
    return true;
  }

  has(key: string): bool { return this.keys.includes(key); }
  remove(key: string): bool {
    const i = this.keys.indexOf(key);
    if (i < 0) return false;
    this.keys.splice(i, 1);
    this.encodedKeys.splice(i, 1);
    this.encodedValues.splice(i, 1);
    return true;
  }
  get kvCount(): i32 { return this.keys.length; }

  // ---- scalars ----
  setU8(key: string, v: u8): void { this.begin(key, GGUF_TYPE_UINT8).u8(v); }
  setI8(key: string, v: i8): void { this.begin(key, GGUF_TYPE_INT8).u8(<u32>v); }
  setU16(key: string, v: u16): void { this.begin(key, GGUF_TYPE_UINT16).u16(v); }
  setI16(key: string, v: i16): void { this.begin(key, GGUF_TYPE_INT16).u16(<u32>v); }
  setU32(key: string, v: u32): void {
    if (key == "general.alignment") { this.setAlignment(v); return; }
    this.begin(key, GGUF_TYPE_UINT32).u32(v);
  }
  setI32(key: string, v: i32): void { this.begin(key, GGUF_TYPE_INT32).u32(<u32>v); }
  setU64(key: string, v: u64): void { this.begin(key, GGUF_TYPE_UINT64).u64(v); }
  setI64(key: string, v: i64): void { this.begin(key, GGUF_TYPE_INT64).u64(<u64>v); }
  setF32(key: string, v: f32): void { this.begin(key, GGUF_TYPE_FLOAT32).f32(v); }
  setF64(key: string, v: f64): void { this.begin(key, GGUF_TYPE_FLOAT64).f64(v); }
  setBool(key: string, v: bool): void { this.begin(key, GGUF_TYPE_BOOL).u8(v ? 1 : 0); }
  setString(key: string, v: string): void { this.begin(key, GGUF_TYPE_STRING).gstring(v); }
  setStringBytes(key: string, p: usize, n: usize): void { this.begin(key, GGUF_TYPE_STRING).gstringBytes(p, n); }

  // ---- arrays ----
  /** Array of `count` scalars of elemType copied from memory at p (little-endian, packed). */
  setArrayRaw(key: string, elemType: u32, p: usize, count: i32): bool {
    const es = ggufScalarSize(elemType);
    if (es == 0) return this.fail("setArrayRaw('" + key + "'): " + ggufTypeName(elemType) + " is not a scalar type");
    const s = this.begin(key, GGUF_TYPE_ARRAY);
    s.u32(elemType);
    s.u64(<u64>count);
    s.bytes(p, <usize>count * <usize>es);
    return true;
  }
  setArrayU8(key: string, a: Uint8Array): void { this.setArrayRaw(key, GGUF_TYPE_UINT8, a.dataStart, a.length); }
  setArrayI32(key: string, a: Int32Array): void { this.setArrayRaw(key, GGUF_TYPE_INT32, a.dataStart, a.length); }
  setArrayU32(key: string, a: Uint32Array): void { this.setArrayRaw(key, GGUF_TYPE_UINT32, a.dataStart, a.length); }
  setArrayF32(key: string, a: Float32Array): void { this.setArrayRaw(key, GGUF_TYPE_FLOAT32, a.dataStart, a.length); }
  setArrayStrings(key: string, a: Array<string>): void {
    const s = this.begin(key, GGUF_TYPE_ARRAY);
    s.u32(GGUF_TYPE_STRING);
    s.u64(<u64>a.length);
    for (let i = 0; i < a.length; i++) s.gstring(a[i]);
  }
  /** Any array, arrays of arrays included, built with GGUFArrayBuilder. */
  setArray(key: string, a: GGUFArrayBuilder): bool {
    if (a.error.length > 0) return this.fail("array '" + key + "': " + a.error);
    a.encodeInto(this.begin(key, GGUF_TYPE_ARRAY));
    return true;
  }

  /** Copies a value parsed from another file, byte for byte. */
  copyValue(key: string, v: GGUFValue): void {
    if (key == "general.alignment" && v.fitsU32()) {
      const a = <u32>v.asI64();
      if (a != 0 && (a & (a - 1)) == 0) this.alignment = a;
    }
    this.begin(key, v.type).bytes(v.raw, v.end - v.raw);
  }
  /** Copies every metadata entry of f, in order. */
  copyMetadata(f: GGUFFile): void {
    for (let i = 0; i < f.kvCount; i++) this.copyValue(f.keys[i], f.values[i]);
  }

  // ---- tensors ----
  /**
   * Adds a tensor of `type` with dims (ne0 first, 1 to 4 of them). Its bytes are copied from
   * `src` at finish(); src = 0 leaves them zero, to be filled through result.tensorData[i].
   */
  addTensor(name: string, type: u32, dims: Array<u64>, src: usize): bool {
    const label = "tensor '" + name + "'";
    if (this.tensorNames.has(name)) return this.fail("duplicate tensor name '" + name + "'");
    if (dims.length < 1 || <u32>dims.length > GGUF_MAX_DIMS) {
      return this.fail(label + " has " + dims.length.toString() + " dimensions (must be 1 to 4)");
    }
    if (blockElements(type) == 0) return this.fail(label + " has unknown tensor type id " + type.toString());
    const t = new PendingTensor();
    let count: u64 = 1;
    for (let d = 0; d < 4; d++) t.dims[d] = 1;
    for (let d = 0; d < dims.length; d++) {
      const ne = dims[d];
      if (ne == 0) return this.fail(label + " has dimension " + d.toString() + " equal to 0");
      if (ne > <u64>i64.MAX_VALUE / count) return this.fail(label + " has too many elements");
      count *= ne;
      t.dims[d] = ne;
    }
    const rb = rowBytes(type, dims[0]);
    if (rb == 0) {
      return this.fail(label + " row length " + dims[0].toString() + " is not a multiple of the " + typeName(type) +
        " block size " + blockElements(type).toString());
    }
    t.name = name;
    t.nameBytes = String.UTF8.encode(name);
    t.nDims = <u32>dims.length;
    t.type = type;
    t.nbytes = rb * (count / dims[0]);
    t.src = src;
    this.tensors.push(t);
    this.tensorNames.add(name);
    return true;
  }
  get tensorCount(): i32 { return this.tensors.length; }

  /** Lays out and writes the whole image into a new region. */
  finish(): GGUFWriteResult {
    const r = new GGUFWriteResult();
    if (this.error.length > 0) { r.error = "GGUF writer: " + this.error; return r; }
    const al = <u64>this.alignment;
    let size: u64 = 4 + 4 + 8 + 8;
    for (let i = 0; i < this.keys.length; i++) size += 8 + <u64>this.encodedKeys[i].byteLength + <u64>this.encodedValues[i].length;
    let dataSize: u64 = 0;
    for (let i = 0; i < this.tensors.length; i++) {
      const t = this.tensors[i];
      size += 8 + <u64>t.nameBytes.byteLength + 4 + 8 * <u64>t.nDims + 4 + 8;
      t.offset = dataSize;
      dataSize = (dataSize + t.nbytes + al - 1) / al * al;
    }
    const dataStart = (size + al - 1) / al * al;
    // llama.cpp pads the last tensor too; a file without tensors ends after its header.
    const total = this.tensors.length > 0 ? dataStart + dataSize : size;
    if (total > 0xffff0000) { r.error = "GGUF writer: image of " + total.toString() + " bytes does not fit in memory"; return r; }
    const base = allocRegion(total);
    if (base == 0) { r.error = "GGUF writer: out of memory for an image of " + total.toString() + " bytes"; return r; }

    let p = base;
    store<u32>(p, GGUF_MAGIC); store<u32>(p, 3, 4);
    store<u64>(p, <u64>this.tensors.length, 8); store<u64>(p, <u64>this.keys.length, 16);
    p += 24;
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.encodedKeys[i];
      store<u64>(p, <u64>k.byteLength); p += 8;
      memory.copy(p, changetype<usize>(k), <usize>k.byteLength); p += <usize>k.byteLength;
      this.encodedValues[i].copyTo(p); p += <usize>this.encodedValues[i].length;
    }
    for (let i = 0; i < this.tensors.length; i++) {
      const t = this.tensors[i];
      store<u64>(p, <u64>t.nameBytes.byteLength); p += 8;
      memory.copy(p, changetype<usize>(t.nameBytes), <usize>t.nameBytes.byteLength); p += <usize>t.nameBytes.byteLength;
      store<u32>(p, t.nDims); p += 4;
      for (let d: u32 = 0; d < t.nDims; d++) { store<u64>(p, t.dims[d]); p += 8; }
      store<u32>(p, t.type); p += 4;
      store<u64>(p, t.offset); p += 8;
      const dst = base + <usize>(dataStart + t.offset);
      if (t.src != 0) memory.copy(dst, t.src, <usize>t.nbytes);
      r.tensorData.push(dst);
    }
    r.ptr = base;
    r.size = total;
    return r;
  }
}
