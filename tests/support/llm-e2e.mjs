// Helpers for the LLM end-to-end tests (tests/e2e/llm*.test.ts): reading a GGUF's
// metadata on the host (an independent reader, for the figures SIS must print), crafting
// small GGUF files that SIS must refuse (built with tests/support/gguf_fixture.mjs),
// reading `llmctl infer` output apart, and driving the chat prompt.
import { closeSync, openSync, readSync, fstatSync, ftruncateSync, writeFileSync } from "node:fs";
import { buildGGUF, f32Data, T } from "./gguf_fixture.mjs";
import { clean } from "./qemu-serial.mjs";

// ---------------------------------------------------------------------------------------
// GGUF metadata on the host

const SCALAR = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
/** ggml type id -> [elements per block, bytes per block] for the types the tests meet. */
export const GGML = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q6_K: 14, I32: 26 };
const BLOCK = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34], 14: [256, 210], 26: [1, 4], 12: [256, 144] };

/**
 * { version, kv: Map(key -> value; arrays as { type, length }), tensors: [{ name, dims, type, offset, bytes }],
 *   dataOffset, fileSize } from the file's first bytes.
 */
export function readGGUFMeta(path) {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 8 << 20);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, 0);
    return { ...readGGUFMetaBuffer(buf), fileSize: size };
  } finally { closeSync(fd); }
}

/** The same from the first bytes of a file in a Buffer (also: kvEnd, infoEnd offsets). */
export function readGGUFMetaBuffer(buf) {
  let p = 0;
  const u32 = () => { const v = buf.readUInt32LE(p); p += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(p)); p += 8; return v; };
  const str = () => { const n = u64(); const s = buf.toString("utf8", p, p + n); p += n; return s; };
  const scalar = (t) => {
    const at = p; p += SCALAR[t];
    switch (t) {
      case 0: return buf.readUInt8(at); case 1: return buf.readInt8(at); case 2: return buf.readUInt16LE(at);
      case 3: return buf.readInt16LE(at); case 4: return buf.readUInt32LE(at); case 5: return buf.readInt32LE(at);
      case 6: return buf.readFloatLE(at); case 7: return buf.readUInt8(at) !== 0; case 10: return Number(buf.readBigUInt64LE(at));
      case 11: return Number(buf.readBigInt64LE(at)); case 12: return buf.readDoubleLE(at);
    }
    throw new Error(`bad scalar type ${t}`);
  };
  const value = (t) => {
    if (t === T.STR) return str();
    if (t === T.ARR) {
      const et = u32(), n = u64();
      for (let i = 0; i < n; i++) value(et);
      return { type: et, length: n };
    }
    return scalar(t);
  };
  if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error("not GGUF");
  p = 4;
  const version = u32(), nTensors = u64(), nKv = u64();
  const kv = new Map();
  for (let i = 0; i < nKv; i++) { const k = str(); const t = u32(); kv.set(k, value(t)); }
  const kvEnd = p;
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str(), nd = u32();
    const dims = [];
    for (let d = 0; d < nd; d++) dims.push(u64());
    const type = u32(), offset = u64();
    const [be, bb] = BLOCK[type] ?? [0, 0];
    const n = dims.reduce((a, b) => a * b, 1);
    tensors.push({ name, dims, type, offset, bytes: be ? (n / be) * bb : NaN });
  }
  const align = kv.get("general.alignment") ?? 32;
  return { version, kv, tensors, kvEnd, infoEnd: p, dataOffset: Math.ceil(p / align) * align, fileSize: buf.length };
}

/**
 * A copy of a GGUF file with metadata entries added ([[key, type, value]] as for buildGGUF):
 * the header is written again with the new entries after the old ones, and the tensor
 * data section is copied as it is (tensor offsets are relative to it).
 */
export function withMetadata(bytes, kvs) {
  const g = readGGUFMetaBuffer(bytes);
  const { Out } = gguf_out();
  const o = new Out();
  o.push(bytes.subarray(0, 8));                       // magic, version
  o.u64(g.tensors.length);
  o.u64(g.kv.size + kvs.length);
  o.push(bytes.subarray(24, g.kvEnd));                // the old entries
  for (const [k, t, v] of kvs) { o.str(k); o.u32(t); o.value(t, v); }
  o.push(bytes.subarray(g.kvEnd, g.infoEnd));         // the tensor infos
  const align = g.kv.get("general.alignment") ?? 32;
  o.push(Buffer.alloc((align - (o.size % align)) % align));
  o.push(bytes.subarray(g.dataOffset));
  return o.bytes();
}

function gguf_out() {
  // the builder's writer, without its layout logic
  class Out {
    constructor() { this.chunks = []; this.size = 0; }
    push(b) { this.chunks.push(b); this.size += b.length; }
    u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
    u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
    str(s) { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
    value(t, v) {
      if (t === T.STR) return this.str(v);
      if (t === T.U32) return this.u32(v);
      throw new Error(`withMetadata: type ${t} is not supported here`);
    }
    bytes() { return Buffer.concat(this.chunks); }
  }
  return { Out };
}

/** What SIS should print about a llama GGUF, from its metadata. */
export function expectedModel(path) {
  const g = readGGUFMeta(path);
  const a = g.kv.get("general.architecture");
  const k = (s) => g.kv.get(`${a}.${s}`);
  const heads = k("attention.head_count"), dim = k("embedding_length");
  const headDim = k("attention.key_length") ?? dim / heads;
  const kvHeads = k("attention.head_count_kv") ?? heads;
  const emb = g.tensors.find((t) => t.name === "token_embd.weight");
  return {
    name: g.kv.get("general.name"), arch: a, layers: k("block_count"), dim, ff: k("feed_forward_length"), heads, kvHeads, headDim,
    vocab: emb.dims[1], context: k("context_length"), params: g.tensors.reduce((s, t) => s + t.dims.reduce((x, y) => x * y, 1), 0),
    fileSize: g.fileSize,
    /** KV cache bytes for ctx tokens: F16 keys and values of every layer. */
    kvBytes: (ctx) => k("block_count") * ctx * kvHeads * headDim * 2 * 2,
  };
}

export const pageRound = (n) => Math.ceil(n / 65536) * 65536;

// ---------------------------------------------------------------------------------------
// Small GGUF files SIS must refuse (built with the independent JS builder)

/**
 * A tiny llama-shaped GGUF (F32, dim 32, one layer, 32-token vocabulary). Options:
 * arch (general.architecture), types { tensorName: ggmlType } to retype tensors (same
 * element size), ctx (context_length), extra: [{ name, dims, type, bytes }] tensors whose
 * data lies beyond the written file (the caller makes the file that long, sparse).
 */
export function tinyModel({ arch = "llama", types = {}, ctx = 64, dim = 32, sparse = false } = {}) {
  const ff = 64, vocab = 32;
  const kvs = [
    ["general.architecture", T.STR, arch],
    ["general.name", T.STR, "tiny-test"],
    [`${arch}.block_count`, T.U32, 1],
    [`${arch}.embedding_length`, T.U32, dim],
    [`${arch}.feed_forward_length`, T.U32, ff],
    [`${arch}.attention.head_count`, T.U32, 2],
    [`${arch}.context_length`, T.U32, ctx],
    [`${arch}.attention.layer_norm_rms_epsilon`, T.F32, 1e-5],
    ["tokenizer.ggml.model", T.STR, "llama"],
    ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: Array.from({ length: vocab }, (_, i) => `t${i}`) }],
  ];
  // sparse: the tensors are laid out (aligned, in order) but their data is not written, so a
  // model of any size costs only its header (see writeSparse)
  const tensors = [];
  let off = 0;
  const add = (name, dims) => {
    const n = dims.reduce((a, b) => a * b, 1), type = types[name] ?? GGML.F32;
    if (!sparse) { tensors.push({ name, dims, type, data: f32Data(n, 1e-3) }); return; }
    tensors.push({ name, dims, type, data: Buffer.alloc(0), offset: off });
    off = Math.ceil((off + n * 4) / 32) * 32;
  };
  add("token_embd.weight", [dim, vocab]);
  add("blk.0.attn_norm.weight", [dim]);
  add("blk.0.attn_q.weight", [dim, dim]);
  add("blk.0.attn_k.weight", [dim, dim]);
  add("blk.0.attn_v.weight", [dim, dim]);
  add("blk.0.attn_output.weight", [dim, dim]);
  add("blk.0.ffn_norm.weight", [dim]);
  add("blk.0.ffn_gate.weight", [dim, ff]);
  add("blk.0.ffn_up.weight", [dim, ff]);
  add("blk.0.ffn_down.weight", [ff, dim]);
  add("output_norm.weight", [dim]);
  const built = buildGGUF({ kvs, tensors, headerOnly: sparse });
  return { bytes: built.bytes, size: sparse ? built.marks.dataStart + off : built.bytes.length };
}

/** Writes bytes to path and extends the file to `size` (sparse: no data is written past the bytes). */
export function writeSparse(path, bytes, size) {
  writeFileSync(path, bytes);
  const fd = openSync(path, "r+");
  try { ftruncateSync(fd, size); } finally { closeSync(fd); }
}

// ---------------------------------------------------------------------------------------
// Reading SIS's output

const SUMMARY = /^\[(\d+) tokens?, prompt (\d+) tok at ([\d.]+|-) tok\/s, generation ([\d.]+|-) tok\/s\](?: context (\d+)\/(\d+))?$/m;

/**
 * `llmctl infer` (or one chat turn) output taken apart: { text, tokens, promptTokens,
 * promptRate, genRate, stopped, contextUsed, contextSize }. `text` is exactly what was
 * streamed (the newline SIS prints after it is removed).
 */
export function parseGeneration(out) {
  const at = out.lastIndexOf("\n[");
  const m = SUMMARY.exec(out.slice(at + 1));
  if (at < 0 || !m) throw new Error(`no summary line in:\n${out}`);
  let body = out.slice(0, at + 1); // text + "\n" [+ "(stopped...)\n"]
  let stopped = null;
  const s = /\n?\((stopped[^)]*)\)\n$/.exec(body);
  if (s) { stopped = s[1]; body = body.slice(0, s.index) + "\n"; }
  if (body.endsWith("^C\n")) body = body.slice(0, -3) + "\n";
  return {
    text: body.slice(0, -1), tokens: +m[1], promptTokens: +m[2], promptRate: parseFloat(m[3]), genRate: parseFloat(m[4]),
    stopped, contextUsed: m[5] === undefined ? null : +m[5], contextSize: m[6] === undefined ? null : +m[6],
  };
}

/**
 * Types `line` (a generation), presses Ctrl-C once `seen` has been printed and returns what the
 * command printed up to the next prompt (the echoed line and the prompt left out).
 */
export async function interruptAfter(m, line, seen, { timeout = 60_000 } = {}) {
  const from = m.output.length;
  m.send(line + "\r");
  await m.waitFor(seen, { from, timeout });
  m.send("\x03");
  const { text } = await m.waitFor("\nsis> ", { from, timeout });
  return text.slice(text.indexOf("\n") + 1).replace(/\nsis> $/, "");
}

/** "regions: N B in use" from llmctl info / stats. */
export function regionsInUse(out) {
  const m = /^regions: (\d+) B in use/m.exec(out);
  if (!m) throw new Error(`no regions line in:\n${out}`);
  return Number(m[1]);
}

/** The memory line of llmctl info: { model, kv, scratch, total } in bytes. */
export function modelMemory(out) {
  const m = /^memory: model [^(]+\((\d+) B\), KV cache [^(]+\((\d+) B\), scratch [^(]+\((\d+) B\); total [^(]+\((\d+) B\)$/m.exec(out);
  if (!m) throw new Error(`no memory line in:\n${out}`);
  return { model: +m[1], kv: +m[2], scratch: +m[3], total: +m[4] };
}

/** Sends a line and waits for the next prompt (sis> or you>); returns what came between, cleaned. */
export async function sendLine(m, line, { timeout = 120_000 } = {}) {
  const from = m.output.length;
  m.send(line + "\r");
  const { text } = await m.waitFor(/\n(sis|you)> $/, { from, timeout });
  const nl = text.indexOf("\n");
  const body = text.slice(nl + 1);
  return body.replace(/\n(sis|you)> $/, "");
}

/** The prompt the machine shows now. */
export function currentPrompt(m) {
  const o = m.output;
  return o.endsWith("you> ") ? "you> " : o.endsWith("sis> ") ? "sis> " : null;
}

export { clean };
