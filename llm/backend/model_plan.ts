// What loading a model will take, worked out from the GGUF header alone, before the file
// is read: the header (metadata and tensor infos, usually well under a few MiB) sits in a
// buffer holding the first bytes of the file; the tensor data is not there yet.
//
// The metadata is parsed by the engine's own GGUF reader (llm/gguf.ts) over a copy of the
// header whose tensor count is set to 0, so that it stops after the key/value section; the
// tensor infos that follow are read here with the same checks the reader makes (known
// type, whole blocks per row, data inside the file, aligned). The result is bound to a
// model with the engine's own bindModel (llm/model.ts), which rejects an unsupported
// architecture or tensor type with the same message a full load would give, and the KV
// cache and scratch sizes come from the engine's own KVCache and Scratch classes for the
// context that will be used. Nothing here reads tensor data.

import { parseGGUF, GGUFFile, GGUF_MAGIC, TensorInfo, GGUF_MAX_DIMS } from "../gguf";
import { blockElements, rowBytes, typeName } from "../tensor_types";
import { bindModel, Config } from "../model";
import { Scratch } from "../scratch";
import { PREFILL_BATCH } from "../engine";

/** Outcome of planModel. `needMore` asks for a longer prefix of the file (at least `wantBytes`). */
export class ModelPlan {
  error: string = "";
  needMore: bool = false;
  wantBytes: u64 = 0;
  /** With needMore: what went wrong with the bytes there were (the error if no more can be read). */
  why: string = "";
  /** Bytes of header (metadata + tensor infos + padding) = where tensor data starts. */
  headerBytes: u64 = 0;
  fileBytes: u64 = 0;
  config: Config | null = null;
  /** Context the load will use, and the memory it needs besides the file image. */
  context: i32 = 0;
  kvBytes: u64 = 0;
  scratchBytes: u64 = 0;
  tensorCount: i32 = 0;
  /** general.name, architecture and the tensor types present ("F32 x13, Q4_0 x42"). */
  name: string = "";
  arch: string = "";
  types: string = "";
  vocab: i32 = 0;
  params: u64 = 0;
}

/** KV cache bytes for ctx tokens (F16 keys and values of every layer), in 64 bits. */
export function kvBytes64(c: Config, ctx: i32): u64 {
  return <u64>c.nLayer * <u64>ctx * <u64>c.nHeadKv * <u64>c.headDim * 4;
}

function more(want: u64, why: string): ModelPlan {
  const p = new ModelPlan();
  p.needMore = true;
  p.wantBytes = want;
  p.why = why;
  return p;
}

function failed(msg: string): ModelPlan {
  const p = new ModelPlan();
  p.error = msg;
  return p;
}

// Little-endian reads from the prefix, with a flag for running out of it.
class Reader {
  pos: u64;
  short: bool = false;
  constructor(public base: usize, public len: u64, start: u64) { this.pos = start; }
  has(n: u64): bool {
    if (this.short) return false;
    if (n > this.len - this.pos) { this.short = true; return false; }
    return true;
  }
  u32(): u32 { if (!this.has(4)) return 0; const v = load<u32>(this.base + <usize>this.pos); this.pos += 4; return v; }
  u64(): u64 { if (!this.has(8)) return 0; const v = load<u64>(this.base + <usize>this.pos); this.pos += 8; return v; }
}

/**
 * Plans a load from the first `len` bytes of a `fileSize`-byte file at `buf` (the buffer is
 * modified: its tensor count is zeroed while the metadata is parsed, then restored).
 * nCtx: the context wanted (0: the model's own). Returns an error, a request for more bytes,
 * or the plan. The GGUFFile made here points into `buf`; nothing of it is kept.
 */
export function planModel(buf: usize, len: u64, fileSize: u64, nCtx: i32): ModelPlan {
  if (fileSize < 4) return failed("GGUF: file too small (" + fileSize.toString() + " bytes) to be GGUF");
  if (len < 24 && len < fileSize) return more(24, "GGUF: file truncated: the header needs 24 bytes");
  if (load<u32>(buf) != GGUF_MAGIC) {
    const r = parseGGUF(buf, len); // says what the first bytes are
    return failed(r.error);
  }
  if (len < 24) return failed("GGUF: file truncated: the header needs 24 bytes but the file has " + fileSize.toString());
  // the metadata, with the tensor count hidden so that the reader stops after it
  const nTensors = load<u64>(buf, 8);
  store<u64>(buf, 0, 8);
  const r = parseGGUF(buf, len);
  store<u64>(buf, nTensors, 8);
  if (!r.ok) {
    if (len < fileSize) return more(len * 2, r.error); // most likely cut short: read more of the header
    return failed(r.error);
  }
  const f = r.file!;
  let kvEnd: u64 = 24;
  for (let i = 0; i < f.values.length; i++) {
    const e = <u64>(f.values[i].end - buf);
    if (e > kvEnd) kvEnd = e;
  }

  // the tensor infos
  if (nTensors > (fileSize - kvEnd) / 32) {
    return failed("GGUF: tensor count " + nTensors.toString() + " is impossible for a file of " + fileSize.toString() + " bytes");
  }
  const rd = new Reader(buf, len, kvEnd);
  for (let i: u64 = 0; i < nTensors; i++) {
    const t = new TensorInfo();
    const nameLen = rd.u64();
    if (rd.short) break;
    if (nameLen > fileSize) return failed("GGUF: name of tensor " + i.toString() + " claims " + nameLen.toString() + " bytes, past the end of the file");
    if (!rd.has(nameLen)) break;
    t.name = String.UTF8.decodeUnsafe(buf + <usize>rd.pos, <usize>nameLen);
    rd.pos += nameLen;
    const label = "tensor '" + t.name + "'";
    t.nDims = rd.u32();
    if (rd.short) break;
    if (t.nDims < 1 || t.nDims > GGUF_MAX_DIMS) return failed("GGUF: " + label + " has " + t.nDims.toString() + " dimensions (must be 1 to 4)");
    let count: u64 = 1;
    for (let d: u32 = 0; d < t.nDims; d++) {
      const ne = rd.u64();
      if (rd.short) break;
      if (ne == 0) return failed("GGUF: " + label + " has dimension " + d.toString() + " equal to 0");
      if (ne > <u64>i64.MAX_VALUE / count) return failed("GGUF: " + label + " has too many elements (the dimensions overflow 64 bits)");
      count *= ne;
      t.dims[d] = ne;
    }
    t.nelements = count;
    t.type = rd.u32();
    t.offset = rd.u64();
    if (rd.short) break;
    if (blockElements(t.type) == 0) return failed("GGUF: " + label + " has unknown tensor type id " + t.type.toString());
    const rb = rowBytes(t.type, t.dims[0]);
    if (rb == 0) {
      return failed("GGUF: " + label + " row length " + t.dims[0].toString() + " is not a multiple of the " +
        typeName(t.type) + " block size " + blockElements(t.type).toString());
    }
    const rows = count / t.dims[0];
    if (rb > <u64>i64.MAX_VALUE / rows) return failed("GGUF: " + label + " byte size overflows 64 bits");
    t.nbytes = rb * rows;
    if (!f.addTensor(t)) return failed("GGUF: duplicate tensor name '" + t.name + "'");
  }
  if (rd.short) {
    const why = "GGUF: file truncated inside the tensor infos (at offset " + rd.pos.toString() + ")";
    if (len < fileSize) return more(len * 2, why);
    return failed(why);
  }

  // where the data starts, and every tensor inside the file
  const al = <u64>f.alignment;
  const dataOffset = rd.pos + (al - rd.pos % al) % al;
  const room = fileSize > dataOffset ? fileSize - dataOffset : 0;
  for (let i = 0; i < f.tensors.length; i++) {
    const t = f.tensors[i];
    const label = "tensor '" + t.name + "'";
    if (t.offset % al != 0) {
      return failed("GGUF: " + label + " offset " + t.offset.toString() + " is not a multiple of the alignment " + f.alignment.toString());
    }
    if (t.offset > room || t.nbytes > room - t.offset) {
      return failed("GGUF: " + label + " data (offset " + t.offset.toString() + ", " + t.nbytes.toString() +
        " bytes) lies past the end of the file (data section is " + room.toString() + " bytes)");
    }
  }

  // the model as the engine will bind it (architecture, shapes, tensor types)
  const mr = bindModel(f);
  if (mr.model === null) return failed("model: " + mr.error);
  const m = mr.model!;
  const c = m.config;
  if (nCtx < 0) return failed("context size " + nCtx.toString() + " is negative");
  const ctx = nCtx == 0 || nCtx > c.nCtxTrain ? c.nCtxTrain : nCtx;

  const p = new ModelPlan();
  p.headerBytes = dataOffset;
  p.fileBytes = fileSize;
  p.config = c;
  p.context = ctx;
  // sizes only: nothing is allocated. Worked out in 64 bits too: a context too long for a
  // 32-bit address space must come out too large, not wrap around.
  p.kvBytes = kvBytes64(c, ctx);
  p.scratchBytes = p.kvBytes < (<u64>1 << 32) ? <u64>new Scratch(m, PREFILL_BATCH, ctx).bytes : 0;
  const scores = <u64>ctx * 4 + <u64>c.nVocab * 4; // the part of the scratch that grows with the context
  if (p.scratchBytes < scores) p.scratchBytes = scores;
  p.tensorCount = f.tensors.length;
  p.name = c.name;
  p.arch = c.arch;
  p.vocab = c.nVocab;
  const typeIds = new Array<u32>(), counts = new Array<i32>();
  for (let i = 0; i < f.tensors.length; i++) {
    const t = f.tensors[i];
    p.params += t.nelements;
    let j = typeIds.indexOf(t.type);
    if (j < 0) { j = typeIds.length; typeIds.push(t.type); counts.push(0); }
    counts[j]++;
  }
  for (let j = 0; j < typeIds.length; j++) p.types += (j > 0 ? ", " : "") + typeName(typeIds[j]) + " x" + counts[j].toString();
  return p;
}
