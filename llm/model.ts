// Binds a parsed GGUF file to a model of one of the families the engine runs (llm/arch):
// reads every hyper-parameter from the metadata, finds every tensor, checks its shape and
// type, and keeps pointers into the file image. No weight is copied or dequantized here:
// the compute kernels read the quantized rows in place, in the file's layout except where
// they take another (Model.toProductLayout, which the engine runs once a load succeeded). As
// in llama.cpp, a file holding a tensor the family's graph does not use is refused rather
// than run without it.
//
// Names and shapes follow llama.cpp (ne0 = row length first):
//   token_embd.weight      {n_embd, n_vocab}
//   blk.N.attn_norm.weight {n_embd}                 blk.N.ffn_norm.weight {n_embd}
//   blk.N.attn_q.weight    {n_embd, n_head*hd}      blk.N.attn_output.weight {n_head*hd, n_embd}
//   blk.N.attn_k.weight    {n_embd, n_head_kv*hd}   blk.N.attn_v.weight      {n_embd, n_head_kv*hd}
//   blk.N.ffn_gate.weight  {n_embd, n_ff}           blk.N.ffn_up.weight      {n_embd, n_ff}
//   blk.N.ffn_down.weight  {n_ff, n_embd}
//   output_norm.weight     {n_embd}                 output.weight {n_embd, n_vocab} (optional: tied)
//   blk.N.attn_q.bias {n_head*hd}, attn_k.bias / attn_v.bias {n_head_kv*hd}   (optional, F32)
//   blk.N.attn_q_norm.weight, attn_k_norm.weight {hd}   (families with qkNorm)
//   rope_freqs.weight {n_rot/2}                    (optional: llama3-style RoPE divisors)
//   rope_factors_short/_long.weight {n_rot/2}      (optional: LongRoPE divisors, phi3)
//   blk.N.attn_qkv.weight {n_embd, q+k+v rows}     (instead of attn_q/k/v: phi3)
//   blk.N.ffn_up.weight {n_embd, 2*n_ff}           (gate's rows then up's, no ffn_gate: phi3)

import { GGUFFile, TensorInfo } from "./gguf";
import { GGML_F32, typeName } from "./tensor_types";
import { activationType, ACT_NONE, weightScaleMax, dequantizeMatrixRow, productLayoutWorkBytes, toProductLayout } from "./kernels/matmul";
import { prepareGelu } from "./kernels/vector";
import { Family } from "./arch/family";
import { LLAMA } from "./arch/llama";
import { findFamily, familyNames } from "./arch/families";

/** Whether the kernels can multiply with (and dequantize rows of) weights of type t. */
function canMultiply(t: u32): bool { return activationType(t) != ACT_NONE; }

/** "F32, F16, ..." for error messages: every type id the kernels accept. */
function supportedWeightTypes(): string {
  let s = "";
  for (let t: u32 = 0; t < 40; t++) if (canMultiply(t)) s += (s.length > 0 ? ", " : "") + typeName(t);
  return s;
}

/** A weight matrix used in place: `rows` rows of `cols` elements, each `rowBytes` long. */
export class Matrix {
  name: string = "";
  type: u32 = 0;
  data: usize = 0;
  cols: i32 = 0;
  rows: i32 = 0;
  rowBytes: usize = 0;
  /** Whether its rows are interleaved, as the products take them (kernels/matmul.ts
   *  toProductLayout); false: the file's layout. */
  interleaved: bool = false;

  /** Rows [first, first + count) of this matrix as a matrix of their own (q, k and v in a fused
   *  attn_qkv; gate and up in a fused ffn_up): each row's product is the same either way. */
  rowsOf(first: i32, count: i32, into: Matrix): void {
    into.name = this.name + "[" + first.toString() + ".." + (first + count).toString() + "]";
    into.type = this.type; into.data = this.data + <usize>first * this.rowBytes;
    into.cols = this.cols; into.rows = count; into.rowBytes = this.rowBytes;
  }

  /** Row r as f32 at dst (embedding lookups), in whichever layout it is. */
  row(r: i32, dst: usize): void {
    dequantizeMatrixRow(this.data, this.type, this.rowBytes, this.interleaved, r, dst, this.cols);
  }
}

export class Layer {
  attnNorm: usize = 0; // f32[n_embd]
  wq: Matrix = new Matrix();
  wk: Matrix = new Matrix();
  wv: Matrix = new Matrix();
  bq: usize = 0;       // f32[n_head*hd] or 0: biases added to q, k, v after their products
  bk: usize = 0;       // f32[n_head_kv*hd] or 0
  bv: usize = 0;       // f32[n_head_kv*hd] or 0
  qNorm: usize = 0;    // f32[hd] or 0: each head of q RMS-normed with these weights (qkNorm)
  kNorm: usize = 0;    // f32[hd] or 0
  attnPostNorm: usize = 0; // f32[n_embd] or 0: the attention's output RMS-normed (postNorms)
  ffnPostNorm: usize = 0;  // f32[n_embd] or 0
  wo: Matrix = new Matrix();
  ffnNorm: usize = 0;  // f32[n_embd]
  wGate: Matrix = new Matrix();
  wUp: Matrix = new Matrix();
  wDown: Matrix = new Matrix();
}

/** Hyper-parameters, named as in llama.cpp's hparams. */
export class Config {
  arch: string = "";
  family: Family = LLAMA;
  name: string = "";
  nLayer: i32 = 0;
  nEmbd: i32 = 0;
  nHead: i32 = 0;
  nHeadKv: i32 = 0;
  headDim: i32 = 0;
  nFF: i32 = 0;
  nCtxTrain: i32 = 0;
  nVocab: i32 = 0;
  nRot: i32 = 0;
  normEps: f32 = 0;
  ropeBase: f32 = 10000;
  /** 1/scaling factor for linear RoPE scaling, 1 without scaling. */
  ropeFreqScale: f32 = 1;
  /** rope.scaling.attn_factor: RoPE's cos and sin are multiplied by it (LongRoPE), 1 without. */
  ropeAttnFactor: f32 = 1;
  /** rope.scaling.original_context_length: LongRoPE's long factors apply beyond it. */
  nCtxOrig: i32 = 0;
  /** Sliding-window attention: a token sees the last nSwa positions on the layers isSwa()
   *  says (0: none), which rotate with base ropeBaseSwa. */
  nSwa: i32 = 0;
  swaPattern: i32 = 0;
  ropeBaseSwa: f32 = 10000;

  /** Whether layer il attends through the sliding window: all but each swaPattern-th. */
  isSwa(il: i32): bool { return this.nSwa > 0 && (this.swaPattern == 0 || il % this.swaPattern < this.swaPattern - 1); }

  /** The scale of attention scores: 1/sqrt(head size), or 1 when q was scaled before (phi3). */
  get attnScale(): f32 { return this.family.qPrescale ? <f32>1 : <f32>1.0 / Mathf.sqrt(<f32>this.headDim); }

  get qDim(): i32 { return this.nHead * this.headDim; }
  get kvDim(): i32 { return this.nHeadKv * this.headDim; }
}

export class Model {
  file: GGUFFile;
  config: Config = new Config();
  tokenEmbd: Matrix = new Matrix();
  layers: Array<Layer> = new Array<Layer>();
  outputNorm: usize = 0;
  output: Matrix = new Matrix();
  /** True when the output head is token_embd (no output.weight in the file). */
  tiedOutput: bool = false;
  /** The largest scale of the output head's blocks, for its approximate products (weightScaleMax:
   *  infinity when the head's type has none); measured on first use (outputScale(): Scratch's
   *  allocate makes the head's approxTable with it). */
  private outputScaleMax: f32 = -1;

  /** Rewrites the matrices the products take in another layout than the file's (Q4_0 with
   *  rows a multiple of 8: interleaved), in place in the file image, once: a model is loaded
   *  from an image only once, and after this the image is not the file's any more. */
  toProductLayout(): void {
    const all = this.matrices();
    let workBytes: usize = 0;
    for (let i = 0; i < all.length; i++) workBytes = max(workBytes, productLayoutWorkBytes(all[i].type, all[i].cols));
    if (workBytes == 0) return;
    const work = heap.alloc(workBytes);
    for (let i = 0; i < all.length; i++) {
      const m = all[i];
      if (!m.interleaved) m.interleaved = toProductLayout(m.data, m.type, m.rows, m.cols, work);
    }
    heap.free(work);
  }

  outputScale(): f32 {
    if (this.outputScaleMax < 0) {
      const w = this.output;
      this.outputScaleMax = weightScaleMax(w.data, w.type, w.cols, w.rows);
    }
    return this.outputScaleMax;
  }
  /** llama3-style per-frequency RoPE divisors (rope_freqs.weight, f32[nRot/2]) or 0. */
  ropeFreqs: usize = 0;
  /** LongRoPE's divisors (rope_factors_short/_long.weight, f32[nRot/2]) or 0: the long ones
   *  for a context beyond config.nCtxOrig (ropeFreqsFor). */
  ropeShort: usize = 0;
  ropeLong: usize = 0;

  /** The RoPE divisors a context of nCtx tokens uses (0: none), as llama.cpp picks them. */
  ropeFreqsFor(nCtx: i32): usize {
    if (this.ropeFreqs != 0) return this.ropeFreqs;
    return nCtx > this.config.nCtxOrig ? this.ropeLong : this.ropeShort;
  }

  constructor(file: GGUFFile) { this.file = file; }

  /** Every matrix the forward pass multiplies with (for scratch sizing and summaries). */
  matrices(): Array<Matrix> {
    const m = new Array<Matrix>();
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      m.push(l.wq); m.push(l.wk); m.push(l.wv); m.push(l.wo);
      m.push(l.wGate); m.push(l.wUp); m.push(l.wDown);
    }
    m.push(this.output);
    return m;
  }
}

export class ModelResult {
  model: Model | null = null;
  error: string = "";
}

function fail(msg: string): ModelResult {
  const r = new ModelResult();
  r.error = msg;
  return r;
}

// Metadata readers that remember the first problem (so bindModel reads straight through).
class Meta {
  err: string = "";
  constructor(public f: GGUFFile, public arch: string) {}

  private key(k: string): string { return this.arch + "." + k; }

  /** Required positive integer `<arch>.k`. */
  int(k: string): i32 { return this.intOr(k, -1, true); }

  /** Optional positive integer; `def` when absent. */
  intOr(k: string, def: i32, required: bool = false): i32 {
    const full = this.key(k);
    const v = this.f.find(full);
    if (v === null) {
      if (required && this.err.length == 0) this.err = "missing metadata key '" + full + "'";
      return def;
    }
    if (v.isArray()) {
      if (this.err.length == 0) this.err = "metadata '" + full + "' is an array (per-layer values are not supported)";
      return def;
    }
    if (!v.fitsI32() || v.asI64() <= 0) {
      if (this.err.length == 0) this.err = "metadata '" + full + "' must be a positive integer";
      return def;
    }
    return <i32>v.asI64();
  }

  float(k: string, def: f32, required: bool): f32 {
    const full = this.key(k);
    const v = this.f.find(full);
    if (v === null) {
      if (required && this.err.length == 0) this.err = "missing metadata key '" + full + "'";
      return def;
    }
    if (!v.isFloat() && !v.isInteger()) {
      if (this.err.length == 0) this.err = "metadata '" + full + "' must be a number";
      return def;
    }
    return <f32>v.asF64();
  }
}

/** Finds a tensor, checks its shape {ne0, ne1} (ne1 = 0 for a vector) and type. */
class Binder {
  err: string = "";
  /** Names of the tensors bound so far (each once, however often it is used). */
  bound: Set<string> = new Set<string>();
  constructor(public f: GGUFFile) {}

  private tensor(name: string, ne0: i32, ne1: i32): TensorInfo | null {
    if (this.err.length > 0) return null;
    const t = this.f.findTensor(name);
    if (t === null) { this.err = "missing tensor '" + name + "'"; return null; }
    this.bound.add(name);
    const want = ne1 == 0 ? "{" + ne0.toString() + "}" : "{" + ne0.toString() + ", " + ne1.toString() + "}";
    const ok = t.dims[0] == <u64>ne0 && (ne1 == 0 ? t.nDims == 1 || t.nelements == <u64>ne0 : t.dims[1] == <u64>ne1 &&
      t.dims[2] == 1 && t.dims[3] == 1);
    if (!ok) {
      let got = "{";
      for (let d: u32 = 0; d < t.nDims; d++) got += (d > 0 ? ", " : "") + t.dims[d].toString();
      this.err = "tensor '" + name + "' has shape " + got + "}, expected " + want;
      return null;
    }
    return t;
  }

  /** An f32 vector (norm weights stay F32 in llama.cpp's files). */
  vector(name: string, n: i32): usize {
    const t = this.tensor(name, n, 0);
    if (t === null) return 0;
    if (t.type != GGML_F32) {
      this.err = "tensor '" + name + "' has type " + typeName(t.type) + "; norm weights must be F32";
      return 0;
    }
    return t.data;
  }

  /** vector() when the file has the tensor, else 0. */
  optionalVector(name: string, n: i32): usize {
    return this.f.findTensor(name) !== null ? this.vector(name, n) : 0;
  }

  /** The first tensor of the file nothing bound, or "". */
  unbound(): string {
    const ts = this.f.tensors;
    for (let i = 0; i < ts.length; i++) if (!this.bound.has(ts[i].name)) return ts[i].name;
    return "";
  }

  matrix(name: string, cols: i32, rows: i32, m: Matrix): void {
    const t = this.tensor(name, cols, rows);
    if (t === null) return;
    if (!canMultiply(t.type)) {
      this.err = "tensor '" + name + "' has type " + typeName(t.type) +
        ", which the engine cannot compute with (supported: " + supportedWeightTypes() + ")";
      return;
    }
    m.name = name; m.type = t.type; m.data = t.data;
    m.cols = cols; m.rows = rows; m.rowBytes = <usize>t.rowBytes;
  }
}

/** Binds `file` to a llama model; every problem is returned as a clear error. */
export function bindModel(f: GGUFFile): ModelResult {
  const arch = f.getString("general.architecture", "");
  if (arch.length == 0) return fail("missing metadata key 'general.architecture'");
  const family = findFamily(arch);
  if (family === null) return fail("unsupported architecture '" + arch + "' (this engine runs: " + familyNames() + ")");
  const meta = new Meta(f, arch);
  const m = new Model(f);
  const c = m.config;
  c.arch = arch;
  c.family = family;
  c.name = f.getString("general.name", "");
  c.nLayer = meta.int("block_count");
  c.nEmbd = meta.int("embedding_length");
  c.nHead = meta.int("attention.head_count");
  c.nHeadKv = meta.intOr("attention.head_count_kv", c.nHead);
  c.nFF = meta.int("feed_forward_length");
  c.nCtxTrain = meta.int("context_length");
  c.normEps = meta.float("attention.layer_norm_rms_epsilon", 0, true);
  c.ropeBase = meta.float("rope.freq_base", 10000, false);
  if (meta.err.length > 0) return fail(meta.err);
  // every layer has tensors of its own: more layers than tensors is a damaged count, which
  // would otherwise cost one pass of the binding loop per layer (found by make fuzz)
  if (c.nLayer > f.tensorCount) {
    return fail(arch + ".block_count " + c.nLayer.toString() + " is more layers than the file has tensors (" + f.tensorCount.toString() + ")");
  }
  if (meta.intOr("expert_count", 0) > 0) return fail("mixture-of-experts models (" + arch + ".expert_count) are not supported");
  if (c.nEmbd % c.nHead != 0 && !f.has(arch + ".attention.key_length")) {
    return fail("embedding_length " + c.nEmbd.toString() + " is not a multiple of head_count " + c.nHead.toString());
  }
  c.headDim = meta.intOr("attention.key_length", c.nEmbd / c.nHead);
  const vDim = meta.intOr("attention.value_length", c.headDim);
  c.nRot = meta.intOr("rope.dimension_count", c.headDim);
  if (meta.err.length > 0) return fail(meta.err);
  if (vDim != c.headDim) return fail("attention.value_length " + vDim.toString() + " differs from key_length " + c.headDim.toString());
  if (c.nRot != c.headDim) return fail("rope.dimension_count " + c.nRot.toString() + " must equal the head size " + c.headDim.toString() + " for " + arch);
  if ((c.headDim & 1) != 0) return fail("head size " + c.headDim.toString() + " is odd; RoPE needs pairs");
  if (c.nHeadKv > c.nHead || c.nHead % c.nHeadKv != 0) {
    return fail("head_count " + c.nHead.toString() + " is not a multiple of head_count_kv " + c.nHeadKv.toString());
  }
  if (!(c.normEps > 0) || !(c.ropeBase > 0)) return fail("layer_norm_rms_epsilon and rope.freq_base must be positive");
  const scaling = f.getString(arch + ".rope.scaling.type", "none");
  if (scaling == "linear" || scaling == "longrope") {
    const factor = meta.float("rope.scaling.factor", 1, false);
    if (!(factor > 0)) return fail("rope.scaling.factor must be positive");
    c.ropeFreqScale = <f32>1 / factor;
  } else if (scaling != "none") {
    return fail("RoPE scaling '" + scaling + "' is not supported (only none, linear and longrope)");
  }
  if (family.slidingWindow) {
    c.nSwa = meta.intOr("attention.sliding_window", 0);
    if (c.nSwa > 0) {
      // llama.cpp reads the pattern as one number: an array (per-layer flags, as some
      // converters write it) leaves its default of 6, and so it does here
      const pattern = f.find(arch + ".attention.sliding_window_pattern");
      c.swaPattern = pattern !== null && pattern.isArray() ? 6 : meta.intOr("attention.sliding_window_pattern", 6);
      c.ropeBaseSwa = meta.float("rope.freq_base_swa", 10000, false);
    }
  }
  if (meta.float("final_logit_softcapping", 0, false) != 0) return fail("final logit softcapping (" + arch + ".final_logit_softcapping) is not supported");
  c.ropeAttnFactor = meta.float("rope.scaling.attn_factor", 1, false);
  c.nCtxOrig = meta.intOr("rope.scaling.original_context_length", c.nCtxTrain);
  if (meta.err.length > 0) return fail(meta.err);
  if (!(c.ropeAttnFactor > 0)) return fail("rope.scaling.attn_factor must be positive");

  // The vocabulary size is the embedding's row count; the tokenizer must agree.
  const emb = f.findTensor("token_embd.weight");
  if (emb === null) return fail("missing tensor 'token_embd.weight'");
  if (emb.dims[1] == 0 || emb.dims[1] > <u64>i32.MAX_VALUE) return fail("token_embd.weight has a bad vocabulary dimension");
  c.nVocab = <i32>emb.dims[1];

  const b = new Binder(f);
  b.matrix("token_embd.weight", c.nEmbd, c.nVocab, m.tokenEmbd);
  for (let i = 0; i < c.nLayer && b.err.length == 0; i++) {
    const l = new Layer();
    const p = "blk." + i.toString() + ".";
    l.attnNorm = b.vector(p + "attn_norm.weight", c.nEmbd);
    if (f.findTensor(p + "attn_qkv.weight") !== null) { // q, k and v in one matrix (phi3)
      const qkv = new Matrix();
      b.matrix(p + "attn_qkv.weight", c.nEmbd, c.qDim + 2 * c.kvDim, qkv);
      qkv.rowsOf(0, c.qDim, l.wq);
      qkv.rowsOf(c.qDim, c.kvDim, l.wk);
      qkv.rowsOf(c.qDim + c.kvDim, c.kvDim, l.wv);
    } else {
      b.matrix(p + "attn_q.weight", c.nEmbd, c.qDim, l.wq);
      b.matrix(p + "attn_k.weight", c.nEmbd, c.kvDim, l.wk);
      b.matrix(p + "attn_v.weight", c.nEmbd, c.kvDim, l.wv);
    }
    l.bq = b.optionalVector(p + "attn_q.bias", c.qDim);
    l.bk = b.optionalVector(p + "attn_k.bias", c.kvDim);
    l.bv = b.optionalVector(p + "attn_v.bias", c.kvDim);
    if (family.qkNorm) {
      l.qNorm = b.vector(p + "attn_q_norm.weight", c.headDim);
      l.kNorm = b.vector(p + "attn_k_norm.weight", c.headDim);
    }
    b.matrix(p + "attn_output.weight", c.qDim, c.nEmbd, l.wo);
    if (family.postNorms) {
      l.attnPostNorm = b.vector(p + "post_attention_norm.weight", c.nEmbd);
      l.ffnPostNorm = b.vector(p + "post_ffw_norm.weight", c.nEmbd);
    }
    l.ffnNorm = b.vector(p + "ffn_norm.weight", c.nEmbd);
    if (family.fusedGateUp) { // gate's rows, then up's
      const gateUp = new Matrix();
      b.matrix(p + "ffn_up.weight", c.nEmbd, 2 * c.nFF, gateUp);
      gateUp.rowsOf(0, c.nFF, l.wGate);
      gateUp.rowsOf(c.nFF, c.nFF, l.wUp);
    } else {
      b.matrix(p + "ffn_gate.weight", c.nEmbd, c.nFF, l.wGate);
      b.matrix(p + "ffn_up.weight", c.nEmbd, c.nFF, l.wUp);
    }
    b.matrix(p + "ffn_down.weight", c.nFF, c.nEmbd, l.wDown);
    m.layers.push(l);
  }
  m.outputNorm = b.vector("output_norm.weight", c.nEmbd);
  if (f.findTensor("output.weight") !== null) {
    b.matrix("output.weight", c.nEmbd, c.nVocab, m.output);
  } else {
    m.output = m.tokenEmbd; // tied, as llama.cpp does when output.weight is absent
    m.tiedOutput = true;
  }
  m.ropeFreqs = b.optionalVector("rope_freqs.weight", c.nRot / 2);
  m.ropeShort = b.optionalVector("rope_factors_short.weight", c.nRot / 2);
  m.ropeLong = b.optionalVector("rope_factors_long.weight", c.nRot / 2);
  if ((m.ropeShort != 0) != (m.ropeLong != 0)) return fail("LongRoPE needs both rope_factors_short.weight and rope_factors_long.weight");
  if (b.err.length > 0) return fail(b.err);
  const extra = b.unbound();
  if (extra.length > 0) return fail("tensor '" + extra + "' is not part of the " + arch + " graph the engine runs");

  const toks = f.getArray("tokenizer.ggml.tokens");
  if (toks !== null && toks.length != c.nVocab) {
    return fail("tokenizer has " + toks.length.toString() + " tokens but token_embd.weight has " + c.nVocab.toString() + " rows");
  }
  if (family.gelu) prepareGelu(); // its table, built once here on the boot core
  const r = new ModelResult();
  r.model = m;
  return r;
}
