// A small GGUF writer in JS, independent of the engine's own (llm/gguf_writer.ts): tests craft
// good and deliberately broken files with it, and tools write vocabulary files
// (tools/lib/hf_vocab.mjs).
export const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10, I64: 11, F64: 12 };

class Out {
  constructor() { this.chunks = []; this.size = 0; }
  push(b) { this.chunks.push(b); this.size += b.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))); this.push(b); }
  str(s) { const b = Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
  scalar(t, v) {
    const b = Buffer.alloc([1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][t]);
    switch (t) {
      case T.U8: b.writeUInt8(v); break; case T.I8: b.writeInt8(v); break;
      case T.U16: b.writeUInt16LE(v); break; case T.I16: b.writeInt16LE(v); break;
      case T.U32: b.writeUInt32LE(v); break; case T.I32: b.writeInt32LE(v); break;
      case T.F32: b.writeFloatLE(v); break; case T.BOOL: b.writeUInt8(v ? 1 : 0); break;
      case T.U64: b.writeBigUInt64LE(BigInt(v)); break; case T.I64: b.writeBigInt64LE(BigInt(v)); break;
      case T.F64: b.writeDoubleLE(v); break;
      default: throw new Error(`not a scalar type ${t}`);
    }
    this.push(b);
  }
  /** value: for arrays { elem, items } where nested arrays are again { elem, items }. */
  value(t, v) {
    if (t === T.STR) this.str(v);
    else if (t === T.ARR) { this.u32(v.elem); this.u64(v.count ?? v.items.length); for (const it of v.items) this.value(v.elem, it); }
    else this.scalar(t, v);
  }
  bytes() { return Buffer.concat(this.chunks); }
}

/**
 * buildGGUF({ version=3, kvs: [[key, type, value]], tensors: [{name, dims, type, data: Buffer, offset?}],
 *             alignment (sets general.alignment when given), tensorCount?, kvCount?, magic?, headerOnly? })
 * Tensor data is laid out in order, each aligned, unless `offset` is given explicitly.
 * Returns { bytes, marks } where marks records byte offsets of interesting fields.
 */
export function buildGGUF(spec) {
  const align = spec.alignment ?? 32;
  const kvs = [...(spec.kvs ?? [])];
  if (spec.alignment !== undefined) kvs.push(["general.alignment", T.U32, spec.alignment]);
  const tensors = spec.tensors ?? [];
  const o = new Out();
  const marks = { tensorInfo: [], kv: [] };
  o.push(Buffer.from(spec.magic ?? "GGUF", "latin1"));
  o.u32(spec.version ?? 3);
  marks.tensorCount = o.size; o.u64(spec.tensorCount ?? tensors.length);
  marks.kvCount = o.size; o.u64(spec.kvCount ?? kvs.length);
  for (const [k, t, v] of kvs) { marks.kv.push(o.size); o.str(k); o.u32(t); o.value(t, v); }
  let off = 0;
  const offsets = [];
  for (const t of tensors) {
    const m = { start: o.size };
    o.str(t.name);
    m.nDims = o.size; o.u32(t.nDims ?? t.dims.length);
    m.dims = o.size; for (const d of t.dims) o.u64(d);
    m.type = o.size; o.u32(t.type);
    const mine = t.offset ?? off;
    offsets.push(mine);
    m.offset = o.size; o.u64(mine);
    marks.tensorInfo.push(m);
    off = Math.max(off, mine + t.data.length);
    off = Math.ceil(off / align) * align;
  }
  const headerEnd = o.size;
  const dataStart = Math.ceil(headerEnd / align) * align;
  marks.dataStart = dataStart;
  o.push(Buffer.alloc(dataStart - headerEnd));
  // headerOnly: the tensors' data is left out (the caller extends the file, see writeSparse)
  const data = Buffer.alloc(tensors.length && !spec.headerOnly ? Math.max(...tensors.map((t, i) => offsets[i] + t.data.length)) : 0);
  tensors.forEach((t, i) => t.data.copy(data, offsets[i]));
  o.push(data);
  return { bytes: o.bytes(), marks };
}
