// GGUF reader. The file image already sits in linear memory (base, size); this walks its
// header, metadata and tensor infos, checks every length and offset against the image
// before using it, and hands out pointers INTO the image: tensor data is never copied.
//
// Layout (little-endian, versions 2 and 3 are identical on disk):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x { string key, u32 value_type, value },
//   tensor_count x { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset },
//   padding to `general.alignment`, then the tensor data (offsets are relative to it).
// A string is a u64 byte length followed by that many UTF-8 bytes (no terminator).
// An array is u32 element type, u64 count, then the elements.
//
// Bad input never traps: every failure is returned as GGUFResult.error.

import { blockElements, rowBytes, typeName } from "./tensor_types";

export const GGUF_MAGIC: u32 = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT: u32 = 32;
export const GGUF_MAX_DIMS: u32 = 4;
const MAX_ARRAY_NESTING: i32 = 16; // deeper nesting is surely garbage; keeps recursion bounded
// Limits on counts that cost memory per element beyond the file itself (real models stay far
// below them), so that a hostile file cannot make the parser allocate without bound.
const MAX_KV: u64 = 1 << 20;
const MAX_TENSORS: u64 = 1 << 20;
const MAX_STRING_ARRAY: u64 = 1 << 24; // 4 bytes of index per string
const MAX_NESTED_ARRAY: u64 = 1 << 20; // one object per element

// Metadata value types.
export const GGUF_TYPE_UINT8: u32 = 0;
export const GGUF_TYPE_INT8: u32 = 1;
export const GGUF_TYPE_UINT16: u32 = 2;
export const GGUF_TYPE_INT16: u32 = 3;
export const GGUF_TYPE_UINT32: u32 = 4;
export const GGUF_TYPE_INT32: u32 = 5;
export const GGUF_TYPE_FLOAT32: u32 = 6;
export const GGUF_TYPE_BOOL: u32 = 7;
export const GGUF_TYPE_STRING: u32 = 8;
export const GGUF_TYPE_ARRAY: u32 = 9;
export const GGUF_TYPE_UINT64: u32 = 10;
export const GGUF_TYPE_INT64: u32 = 11;
export const GGUF_TYPE_FLOAT64: u32 = 12;

/** Bytes of one scalar of this value type; 0 for string, array and unknown ids. */
export function ggufScalarSize(t: u32): u32 {
  switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
  }
  return 0;
}

export function ggufTypeName(t: u32): string {
  switch (t) {
    case GGUF_TYPE_UINT8: return "u8";
    case GGUF_TYPE_INT8: return "i8";
    case GGUF_TYPE_UINT16: return "u16";
    case GGUF_TYPE_INT16: return "i16";
    case GGUF_TYPE_UINT32: return "u32";
    case GGUF_TYPE_INT32: return "i32";
    case GGUF_TYPE_FLOAT32: return "f32";
    case GGUF_TYPE_BOOL: return "bool";
    case GGUF_TYPE_STRING: return "string";
    case GGUF_TYPE_ARRAY: return "array";
    case GGUF_TYPE_UINT64: return "u64";
    case GGUF_TYPE_INT64: return "i64";
    case GGUF_TYPE_FLOAT64: return "f64";
  }
  return "type " + t.toString();
}

export function ggufIsIntegerType(t: u32): bool {
  return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16 ||
    t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

export function ggufIsFloatType(t: u32): bool {
  return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

// Reads one integer scalar of type t at p, widened to i64 (u64 values above 2^63 wrap;
// use readU64 when that matters).
function readInt(t: u32, p: usize): i64 {
  switch (t) {
    case GGUF_TYPE_UINT8: return <i64>load<u8>(p);
    case GGUF_TYPE_INT8: return <i64>load<i8>(p);
    case GGUF_TYPE_UINT16: return <i64>load<u16>(p);
    case GGUF_TYPE_INT16: return <i64>load<i16>(p);
    case GGUF_TYPE_UINT32: return <i64>load<u32>(p);
    case GGUF_TYPE_INT32: return <i64>load<i32>(p);
    case GGUF_TYPE_UINT64: return <i64>load<u64>(p);
    case GGUF_TYPE_INT64: return load<i64>(p);
    case GGUF_TYPE_BOOL: return <i64>(load<u8>(p) != 0);
  }
  return 0;
}

function readFloat(t: u32, p: usize): f64 {
  if (t == GGUF_TYPE_FLOAT32) return <f64>load<f32>(p);
  if (t == GGUF_TYPE_FLOAT64) return load<f64>(p);
  if (t == GGUF_TYPE_UINT64) return <f64>load<u64>(p);
  if (ggufIsIntegerType(t)) return <f64>readInt(t, p);
  return 0;
}

/** Whether an integer scalar of type t at p is >= 0 and fits in u32. */
function intFitsU32(t: u32, p: usize): bool {
  if (t == GGUF_TYPE_UINT64) return load<u64>(p) <= <u64>u32.MAX_VALUE;
  const v = readInt(t, p);
  return v >= 0 && v <= <i64>u32.MAX_VALUE;
}

/**
 * One metadata value, pointing into the file image.
 * Scalars: `ptr` is the value's address. Strings: `ptr` is the first byte, `len` the byte
 * count. Arrays: `elemType`, `len` = element count, `ptr` = first element; numeric arrays
 * can be read in place from `ptr`; string and nested arrays have per-element indexes.
 */
export class GGUFValue {
  type: u32 = 0;
  ptr: usize = 0;
  len: u64 = 0;
  elemType: u32 = 0;
  /** The value's whole encoding (after its type tag) is [raw, end): the writer copies it as is. */
  raw: usize = 0;
  end: usize = 0;
  /** Arrays of strings: address of each element's first byte (its u64 length sits 8 bytes before). */
  strings: StaticArray<usize> | null = null;
  /** Arrays of arrays: the element values. */
  items: Array<GGUFValue> | null = null;

  isInteger(): bool { return ggufIsIntegerType(this.type); }
  isFloat(): bool { return ggufIsFloatType(this.type); }
  isString(): bool { return this.type == GGUF_TYPE_STRING; }
  isArray(): bool { return this.type == GGUF_TYPE_ARRAY; }
  isBool(): bool { return this.type == GGUF_TYPE_BOOL; }

  // ---- scalars (0 / "" when the type does not match) ----
  asI64(): i64 { return readInt(this.type, this.ptr); }
  asU64(): u64 { return this.type == GGUF_TYPE_UINT64 ? load<u64>(this.ptr) : <u64>readInt(this.type, this.ptr); }
  /** Float value; integers are converted too. */
  asF64(): f64 { return readFloat(this.type, this.ptr); }
  asBool(): bool { return this.type == GGUF_TYPE_BOOL && load<u8>(this.ptr) != 0; }
  asString(): string { return this.type == GGUF_TYPE_STRING ? String.UTF8.decodeUnsafe(this.ptr, <usize>this.len) : ""; }
  fitsU32(): bool { return this.isInteger() && intFitsU32(this.type, this.ptr); }
  fitsI32(): bool {
    if (!this.isInteger()) return false;
    if (this.type == GGUF_TYPE_UINT64) return load<u64>(this.ptr) <= <u64>i32.MAX_VALUE;
    const v = this.asI64();
    return v >= <i64>i32.MIN_VALUE && v <= <i64>i32.MAX_VALUE;
  }

  // ---- arrays ----
  /** Element count (0 for non-arrays). */
  get length(): i32 { return this.type == GGUF_TYPE_ARRAY ? <i32>this.len : 0; }
  private inRange(i: i32): bool { return this.type == GGUF_TYPE_ARRAY && i >= 0 && <u64>i < this.len; }
  private elemPtr(i: i32): usize { return this.ptr + <usize>i * <usize>ggufScalarSize(this.elemType); }

  /** Integer element i widened to i64 (0 if out of range or not an integer array). */
  i64At(i: i32): i64 {
    if (!this.inRange(i) || !ggufIsIntegerType(this.elemType) && this.elemType != GGUF_TYPE_BOOL) return 0;
    return readInt(this.elemType, this.elemPtr(i));
  }
  i32At(i: i32): i32 { return <i32>this.i64At(i); }
  /** Float element i (integer arrays are converted). */
  f64At(i: i32): f64 {
    if (!this.inRange(i) || ggufScalarSize(this.elemType) == 0) return 0;
    return readFloat(this.elemType, this.elemPtr(i));
  }
  f32At(i: i32): f32 { return <f32>this.f64At(i); }
  boolAt(i: i32): bool { return this.inRange(i) && this.elemType == GGUF_TYPE_BOOL && load<u8>(this.elemPtr(i)) != 0; }
  /** Address of string element i's bytes (0 if not a string array or out of range). */
  stringPtrAt(i: i32): usize {
    const s = this.strings;
    if (s === null || !this.inRange(i)) return 0;
    return unchecked(s[i]);
  }
  /** Byte length of string element i. */
  stringLenAt(i: i32): usize {
    const p = this.stringPtrAt(i);
    return p == 0 ? 0 : <usize>load<u64>(p - 8);
  }
  stringAt(i: i32): string {
    const p = this.stringPtrAt(i);
    return p == 0 ? "" : String.UTF8.decodeUnsafe(p, <usize>load<u64>(p - 8));
  }
  arrayAt(i: i32): GGUFValue | null {
    const a = this.items;
    if (a === null || !this.inRange(i)) return null;
    return a[i];
  }
}

/** One tensor: shape, type and where its bytes are in memory. */
export class TensorInfo {
  name: string = "";
  nDims: u32 = 0;
  /** ne0 (innermost, the row length) first; unused dimensions are 1. */
  dims: StaticArray<u64> = new StaticArray<u64>(4);
  type: u32 = 0;
  /** Offset from the start of the data section, as in the file. */
  offset: u64 = 0;
  /** Absolute address of the first byte in linear memory. */
  data: usize = 0;
  nbytes: u64 = 0;
  nelements: u64 = 0;

  constructor() { for (let i = 0; i < 4; i++) this.dims[i] = 1; }

  /** Row length (elements) = dims[0]. */
  get ne0(): u64 { return this.dims[0]; }
  /** Number of rows = product of dims[1..]. */
  get rows(): u64 { return this.nelements / this.dims[0]; }
  /** Bytes of one row. */
  get rowBytes(): u64 { return this.nbytes / this.rows; }
}

export class GGUFFile {
  base: usize = 0;
  size: u64 = 0;
  version: u32 = 0;
  alignment: u32 = GGUF_DEFAULT_ALIGNMENT;
  /** Offset of the tensor data section from `base`. */
  dataOffset: u64 = 0;
  keys: Array<string> = new Array<string>();
  values: Array<GGUFValue> = new Array<GGUFValue>();
  tensors: Array<TensorInfo> = new Array<TensorInfo>();
  private keyIndex: Map<string, i32> = new Map<string, i32>();
  private tensorIndex: Map<string, i32> = new Map<string, i32>();

  get kvCount(): i32 { return this.keys.length; }
  get tensorCount(): i32 { return this.tensors.length; }

  // ---- metadata lookup ----
  has(key: string): bool { return this.keyIndex.has(key); }
  find(key: string): GGUFValue | null {
    if (!this.keyIndex.has(key)) return null;
    return this.values[this.keyIndex.get(key)];
  }
  /** Value type of `key`, or -1 when absent. */
  typeOf(key: string): i32 {
    const v = this.find(key);
    return v === null ? -1 : <i32>v.type;
  }

  /** Present and of any integer type. */
  hasInt(key: string): bool { const v = this.find(key); return v !== null && v.isInteger(); }
  /** Present, integer and within 0..2^32-1. */
  hasU32(key: string): bool { const v = this.find(key); return v !== null && v.fitsU32(); }
  hasFloat(key: string): bool { const v = this.find(key); return v !== null && v.isFloat(); }
  hasBool(key: string): bool { const v = this.find(key); return v !== null && v.isBool(); }
  hasString(key: string): bool { const v = this.find(key); return v !== null && v.isString(); }
  /** Present and an array (optionally check elemType with getArray(key)!.elemType). */
  hasArray(key: string): bool { const v = this.find(key); return v !== null && v.isArray(); }

  /** Integer of any width; `def` when absent or not an integer. */
  getI64(key: string, def: i64): i64 { const v = this.find(key); return v !== null && v.isInteger() ? v.asI64() : def; }
  /** Integer in u32 range; `def` when absent, not an integer, or out of range. */
  getU32(key: string, def: u32): u32 { const v = this.find(key); return v !== null && v.fitsU32() ? <u32>v.asI64() : def; }
  getI32(key: string, def: i32): i32 { const v = this.find(key); return v !== null && v.fitsI32() ? <i32>v.asI64() : def; }
  /** Float32/64 (integers accepted too); `def` when absent or not numeric. */
  getF32(key: string, def: f32): f32 { return <f32>this.getF64(key, <f64>def); }
  getF64(key: string, def: f64): f64 {
    const v = this.find(key);
    return v !== null && (v.isFloat() || v.isInteger()) ? v.asF64() : def;
  }
  getBool(key: string, def: bool): bool { const v = this.find(key); return v !== null && v.isBool() ? v.asBool() : def; }
  getString(key: string, def: string): string { const v = this.find(key); return v !== null && v.isString() ? v.asString() : def; }
  getArray(key: string): GGUFValue | null { const v = this.find(key); return v !== null && v.isArray() ? v : null; }

  // ---- tensors ----
  findTensor(name: string): TensorInfo | null {
    if (!this.tensorIndex.has(name)) return null;
    return this.tensors[this.tensorIndex.get(name)];
  }

  /** @internal used by the parser */
  addKey(key: string, v: GGUFValue): bool {
    if (this.keyIndex.has(key)) return false;
    this.keyIndex.set(key, this.keys.length);
    this.keys.push(key);
    this.values.push(v);
    return true;
  }
  /** @internal used by the parser */
  addTensor(t: TensorInfo): bool {
    if (this.tensorIndex.has(t.name)) return false;
    this.tensorIndex.set(t.name, this.tensors.length);
    this.tensors.push(t);
    return true;
  }
}

export class GGUFResult {
  file: GGUFFile | null = null;
  /** Empty when the parse succeeded. */
  error: string = "";
  get ok(): bool { return this.error.length == 0; }
}

// A bounds-checked cursor over the image. The first failure is kept; later reads return 0.
class Cursor {
  pos: u64 = 0;
  err: string = "";
  constructor(public base: usize, public size: u64) {}

  get failed(): bool { return this.err.length > 0; }
  get remaining(): u64 { return this.size - this.pos; }
  fail(msg: string): void { if (this.err.length == 0) this.err = msg; }

  need(n: u64, what: string): bool {
    if (this.err.length > 0) return false;
    if (n > this.size - this.pos) {
      this.fail("file truncated: " + what + " at offset " + this.pos.toString() + " needs " + n.toString() +
        " bytes but only " + (this.size - this.pos).toString() + " remain");
      return false;
    }
    return true;
  }
  here(): usize { return this.base + <usize>this.pos; }
  u32(what: string): u32 {
    if (!this.need(4, what)) return 0;
    const v = load<u32>(this.here()); this.pos += 4; return v;
  }
  u64(what: string): u64 {
    if (!this.need(8, what)) return 0;
    const v = load<u64>(this.here()); this.pos += 8; return v;
  }
  /** Reads a string header and returns the address of its bytes (0 on failure); length in lastLen. */
  lastLen: u64 = 0;
  str(what: string): usize {
    const n = this.u64(what + " length");
    if (this.failed) return 0;
    if (n > this.remaining) {
      this.fail(what + " at offset " + (this.pos - 8).toString() + " claims " + n.toString() +
        " bytes, past the end of the file (" + this.remaining.toString() + " bytes remain)");
      return 0;
    }
    const p = this.here();
    this.pos += n;
    this.lastLen = n;
    return p;
  }
}

function parseValue(c: Cursor, type: u32, what: string, depth: i32): GGUFValue | null {
  const start = c.here();
  const v = parseValueAt(c, type, what, depth);
  if (v !== null) { v.raw = start; v.end = c.here(); }
  return v;
}

function parseValueAt(c: Cursor, type: u32, what: string, depth: i32): GGUFValue | null {
  const v = new GGUFValue();
  v.type = type;
  const scalar = ggufScalarSize(type);
  if (scalar > 0) {
    if (!c.need(scalar, what)) return null;
    v.ptr = c.here();
    c.pos += scalar;
    return v;
  }
  if (type == GGUF_TYPE_STRING) {
    v.ptr = c.str(what);
    v.len = c.lastLen;
    return c.failed ? null : v;
  }
  if (type != GGUF_TYPE_ARRAY) {
    c.fail(what + " has unknown value type " + type.toString());
    return null;
  }
  if (depth >= MAX_ARRAY_NESTING) {
    c.fail(what + ": arrays nested deeper than " + MAX_ARRAY_NESTING.toString() + " levels");
    return null;
  }
  const et = c.u32(what + " element type");
  const n = c.u64(what + " element count");
  if (c.failed) return null;
  v.elemType = et;
  v.len = n;
  const es = ggufScalarSize(et);
  // Smallest possible encoding of one element: a scalar, an empty string (8), an empty array (12).
  const minSize: u64 = es > 0 ? <u64>es : et == GGUF_TYPE_STRING ? 8 : et == GGUF_TYPE_ARRAY ? 12 : 0;
  if (minSize == 0) {
    c.fail(what + " is an array of unknown value type " + et.toString());
    return null;
  }
  if (n > c.remaining / minSize) {
    c.fail(what + " claims " + n.toString() + " elements of " + ggufTypeName(et) +
      ", more than the remaining " + c.remaining.toString() + " bytes can hold");
    return null;
  }
  v.ptr = c.here();
  if (es > 0) {
    c.pos += n * <u64>es;
    return v;
  }
  const limit = et == GGUF_TYPE_STRING ? MAX_STRING_ARRAY : MAX_NESTED_ARRAY;
  if (n > limit) {
    c.fail(what + " has " + n.toString() + " elements of " + ggufTypeName(et) + ", more than this reader accepts (" + limit.toString() + ")");
    return null;
  }
  if (et == GGUF_TYPE_STRING) {
    const ptrs = new StaticArray<usize>(<i32>n);
    for (let i: i32 = 0; <u64>i < n; i++) {
      // fast path without building a label; on failure c.str() below says what broke
      if (c.remaining >= 8 && load<u64>(c.here()) <= c.remaining - 8) {
        const len = load<u64>(c.here());
        c.pos += 8;
        unchecked(ptrs[i] = c.here());
        c.pos += len;
        continue;
      }
      c.str(what + "[" + i.toString() + "]");
      return null;
    }
    v.strings = ptrs;
    return v;
  }
  const items = new Array<GGUFValue>();
  for (let i: i32 = 0; <u64>i < n; i++) {
    const sub = parseValue(c, GGUF_TYPE_ARRAY, what + "[" + i.toString() + "]", depth + 1);
    if (sub === null) return null;
    items.push(sub);
  }
  v.items = items;
  return v;
}

function hex2(b: u32): string {
  const s = (b & 0xff).toString(16);
  return s.length < 2 ? "0" + s : s;
}

function errorResult(msg: string): GGUFResult {
  const r = new GGUFResult();
  r.error = "GGUF: " + msg;
  return r;
}

/** Parses the GGUF image at [base, base+size). Tensor data stays where it is. */
export function parseGGUF(base: usize, size: u64): GGUFResult {
  const memBytes = <u64>memory.size() << 16;
  if (<u64>base > memBytes || size > memBytes - <u64>base) {
    return errorResult("image of " + size.toString() + " bytes at " + base.toString() + " lies outside linear memory");
  }
  const c = new Cursor(base, size);
  if (size < 4) return errorResult("file too small (" + size.toString() + " bytes) to be GGUF");
  const magic = load<u32>(base);
  if (magic != GGUF_MAGIC) {
    return errorResult("bad magic " + hex2(magic) + " " + hex2(magic >> 8) + " " + hex2(magic >> 16) + " " +
      hex2(magic >> 24) + " (expected 47 47 55 46, \"GGUF\"): not a GGUF file");
  }
  c.pos = 4;
  const version = c.u32("version");
  if (c.failed) return errorResult(c.err);
  if (version == 1) return errorResult("version 1 is not supported (it is obsolete; versions 2 and 3 are)");
  if (version == 0x02000000 || version == 0x03000000) {
    return errorResult("big-endian GGUF files are not supported");
  }
  if (version != 2 && version != 3) {
    return errorResult("version " + version.toString() + " is not supported (only versions 2 and 3)");
  }
  const nTensors = c.u64("tensor count");
  const nKv = c.u64("metadata key/value count");
  if (c.failed) return errorResult(c.err);
  // Each kv needs at least 8 (key length) + 4 (type) + 1 (smallest value) bytes and each
  // tensor info at least 8 (name length) + 4 + 8 (one dim) + 4 + 8 bytes.
  if (nKv > c.remaining / 13) {
    return errorResult("metadata count " + nKv.toString() + " is impossible for a file of " + size.toString() + " bytes");
  }
  if (nTensors > c.remaining / 32) {
    return errorResult("tensor count " + nTensors.toString() + " is impossible for a file of " + size.toString() + " bytes");
  }

  if (nKv > MAX_KV) return errorResult("metadata count " + nKv.toString() + " is implausibly large (limit " + MAX_KV.toString() + ")");
  if (nTensors > MAX_TENSORS) return errorResult("tensor count " + nTensors.toString() + " is implausibly large (limit " + MAX_TENSORS.toString() + ")");

  const f = new GGUFFile();
  f.base = base;
  f.size = size;
  f.version = version;

  for (let i: i32 = 0; <u64>i < nKv; i++) {
    const kp = c.str("key of metadata entry " + i.toString());
    if (c.failed) return errorResult(c.err);
    const key = String.UTF8.decodeUnsafe(kp, <usize>c.lastLen);
    const type = c.u32("value type of '" + key + "'");
    if (c.failed) return errorResult(c.err);
    const v = parseValue(c, type, "value of '" + key + "'", 0);
    if (v === null) return errorResult(c.err);
    if (!f.addKey(key, v)) return errorResult("duplicate metadata key '" + key + "'");
  }

  const al = f.find("general.alignment");
  if (al !== null) {
    if (!al.fitsU32() || al.asI64() == 0) {
      return errorResult("general.alignment must be a positive 32-bit integer");
    }
    const a = <u32>al.asI64();
    if ((a & (a - 1)) != 0) return errorResult("general.alignment " + a.toString() + " is not a power of two");
    f.alignment = a;
  }

  for (let i: i32 = 0; <u64>i < nTensors; i++) {
    const t = new TensorInfo();
    const np = c.str("name of tensor " + i.toString());
    if (c.failed) return errorResult(c.err);
    t.name = String.UTF8.decodeUnsafe(np, <usize>c.lastLen);
    const label = "tensor '" + t.name + "'";
    t.nDims = c.u32(label + " dimension count");
    if (c.failed) return errorResult(c.err);
    if (t.nDims < 1 || t.nDims > GGUF_MAX_DIMS) {
      return errorResult(label + " has " + t.nDims.toString() + " dimensions (must be 1 to 4)");
    }
    let count: u64 = 1;
    for (let d: u32 = 0; d < t.nDims; d++) {
      const ne = c.u64(label + " dimension " + d.toString());
      if (c.failed) return errorResult(c.err);
      if (ne == 0) return errorResult(label + " has dimension " + d.toString() + " equal to 0");
      // keep the element count below 2^63 as ggml does
      if (ne > <u64>i64.MAX_VALUE / count) {
        return errorResult(label + " has too many elements (the dimensions overflow 64 bits)");
      }
      count *= ne;
      t.dims[d] = ne;
    }
    t.nelements = count;
    t.type = c.u32(label + " type");
    t.offset = c.u64(label + " offset");
    if (c.failed) return errorResult(c.err);
    if (blockElements(t.type) == 0) {
      return errorResult(label + " has unknown tensor type id " + t.type.toString());
    }
    const rb = rowBytes(t.type, t.dims[0]);
    if (rb == 0) {
      return errorResult(label + " row length " + t.dims[0].toString() + " is not a multiple of the " +
        typeName(t.type) + " block size " + blockElements(t.type).toString());
    }
    const rows = count / t.dims[0];
    if (rb > <u64>i64.MAX_VALUE / rows) return errorResult(label + " byte size overflows 64 bits");
    t.nbytes = rb * rows;
    if (!f.addTensor(t)) return errorResult("duplicate tensor name '" + t.name + "'");
  }

  // The data section starts at the next multiple of the alignment.
  const al64 = <u64>f.alignment;
  const pad = (al64 - c.pos % al64) % al64;
  f.dataOffset = c.pos + pad;

  for (let i = 0; i < f.tensors.length; i++) {
    const t = f.tensors[i];
    const label = "tensor '" + t.name + "'";
    if (t.offset % al64 != 0) {
      return errorResult(label + " offset " + t.offset.toString() + " is not a multiple of the alignment " + f.alignment.toString());
    }
    const room = size > f.dataOffset ? size - f.dataOffset : 0;
    if (t.offset > room || t.nbytes > room - t.offset) {
      return errorResult(label + " data (offset " + t.offset.toString() + ", " + t.nbytes.toString() +
        " bytes) lies past the end of the file (data section is " + room.toString() + " bytes)");
    }
    t.data = base + <usize>(f.dataOffset + t.offset);
  }

  // No two tensors may share bytes: sort by offset and compare neighbours.
  const sorted = f.tensors.slice(0);
  sorted.sort((a: TensorInfo, b: TensorInfo): i32 => a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1], q = sorted[i];
    if (p.offset + p.nbytes > q.offset) {
      return errorResult("tensors '" + p.name + "' and '" + q.name + "' overlap (" + p.offset.toString() + "+" +
        p.nbytes.toString() + " > " + q.offset.toString() + ")");
    }
  }

  const r = new GGUFResult();
  r.file = f;
  return r;
}
