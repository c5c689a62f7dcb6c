// Generates GGUF files for the tools: models of any family the engine runs (llm/arch) and
// any shape, with seeded random weights (`sis-llm mkmodel`), and quantized copies of
// F32/F16/BF16 models (`sis-llm quantize`).
// Both build the image with llm/gguf_writer.ts in a region; the host writes it to disk and
// calls releaseWritten().
//
// Quantization follows llama.cpp's choices for a "mostly X" file (llama_tensor_get_type):
// only 2-D tensors named *.weight are converted, never *_norm.weight; the output head
// (output.weight, or token_embd.weight when the head is tied to it) becomes Q6_K unless X
// is Q8_0, and a type whose block does not divide the row length falls back as llama.cpp
// falls back (Q6_K -> Q8_0, Q4_K -> Q5_0, Q5_K -> Q5_1). `pure` converts every matrix to X.

import { freeRegion } from "../kernel/memory/regions";
import { parseGGUF, GGUFFile, TensorInfo } from "./gguf";
import { GGUFWriter, GGUFWriteResult } from "./gguf_writer";
import {
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q8_0,
  GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, blockElements, rowBytes, typeName,
} from "./tensor_types";
import { quantizeRow, dequantizeRow } from "./kernels/matmul";
import { Pcg32 } from "./sampler";
import { findFamily, familyNames } from "./arch/families";
import { QWEN2 } from "./arch/qwen2";
import { PHI3 } from "./arch/phi3";
import { GEMMA3 } from "./arch/gemma3";

let written = new GGUFWriteResult();

export function writtenPtr(): usize { return written.ptr; }
export function writtenSize(): u64 { return written.size; }
/** Frees the last image once the host has saved it. */
export function releaseWritten(): void {
  if (written.ptr != 0) freeRegion(written.ptr);
  written = new GGUFWriteResult();
}

/** Types the tools can write (the engine computes with all of them). */
function writable(t: u32): bool {
  return t == GGML_F32 || t == GGML_F16 || t == GGML_BF16 || t == GGML_Q8_0 || t == GGML_Q4_0 ||
    t == GGML_Q4_1 || t == GGML_Q5_0 || t == GGML_Q5_1 || t == GGML_Q4_K || t == GGML_Q5_K || t == GGML_Q6_K;
}

/** llama.cpp's general.file_type for a file made of type t. */
function fileType(t: u32): u32 {
  switch (t) {
    case GGML_F32: return 0;
    case GGML_F16: return 1;
    case GGML_Q4_0: return 2;
    case GGML_Q4_1: return 3;
    case GGML_Q8_0: return 7;
    case GGML_Q5_0: return 8;
    case GGML_Q5_1: return 9;
    case GGML_Q4_K: return 14; // Q4_K_S
    case GGML_Q5_K: return 16; // Q5_K_S
    case GGML_Q6_K: return 18;
    case GGML_BF16: return 32;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// mkmodel

/** What a generated tensor is: a matrix (of the model's type), a norm's weights (F32 around
 *  1) or a bias (F32 around 0). */
const MATRIX: i32 = 0;
const NORM: i32 = 1;
const BIAS: i32 = 2;
/** Llama 3's RoPE frequency divisors (computed, not random). */
const ROPE_FREQS: i32 = 3;
/** LongRoPE's divisors, short and long (computed: 1 rising to 1.3, and 1 rising to 40). */
const ROPE_SHORT: i32 = 4;
const ROPE_LONG: i32 = 5;

/** The tensors of a model to generate: name, rows, row length, kind, weight spread. */
class Plan {
  names: Array<string> = new Array<string>();
  rows: Array<i32> = new Array<i32>();
  cols: Array<i32> = new Array<i32>();
  kinds: Array<i32> = new Array<i32>();
  sds: Array<f32> = new Array<f32>();
  add(name: string, rows: i32, cols: i32, sd: f32): void { this.push(name, rows, cols, MATRIX, sd); }
  norm(name: string, n: i32): void { this.push(name, 1, n, NORM, <f32>0.1); }
  ropeFreqs(name: string, n: i32, kind: i32 = ROPE_FREQS): void { this.push(name, 1, n, kind, 0); }
  bias(name: string, n: i32): void { this.push(name, 1, n, BIAS, <f32>0.5); }
  private push(name: string, rows: i32, cols: i32, kind: i32, sd: f32): void {
    this.names.push(name); this.rows.push(rows); this.cols.push(cols); this.kinds.push(kind); this.sds.push(sd);
  }
}

/** Fills n floats at dst with uniform values of mean `mean` and standard deviation `sd`. */
function fillUniform(rng: Pcg32, dst: usize, n: usize, mean: f32, sd: f32): void {
  const a = sd * Mathf.sqrt(3); // U(-a, a) has standard deviation a/sqrt(3)
  for (let i: usize = 0; i < n; i++) {
    const u = <f32>(rng.next() >>> 8) * <f32>5.9604644775390625e-8; // [0, 1)
    store<f32>(dst + (i << 2), mean + a * (<f32>2 * u - <f32>1));
  }
}

/**
 * Writes a model of family `arch` (general.architecture) and the given shape with seeded
 * random weights: every matrix of type `type`, norms and biases F32, and the family's own
 * tensors (qwen2: q/k/v biases; qwen3: q/k norms; gemma3: q/k norms, post norms and a sliding
 * window of ctx/8 tokens, at most 512; phi3: fused attn_qkv and gate/up, LongRoPE
 * factors with attention factor 1.19 and an original context of ctx/2, at most Phi-3's 4096).
 * headDim 0: dim / heads; ropeBase and normEps
 * 0: the family's usual (llama 10000 and 1e-5, the others 1e6 and 1e-6). llama3Rope: a
 * rope_freqs tensor with Llama 3.1/3.2's frequency divisors (scaling factor 32 over an original
 * 8192-token context), as llama.cpp's converter writes it. The tokenizer metadata is copied
 * from the GGUF at [vocabPtr, +vocabSize).
 * Every matrix has spread 1/sqrt(fan-in): each layer contributes to the residual stream and
 * the logits spread about 1, so the distribution is neither flat nor one-hot.
 * Returns "" (image at writtenPtr()) or an error.
 */
export function mkmodel(vocabPtr: usize, vocabSize: u64, arch: string, dim: i32, layers: i32, heads: i32, kvHeads: i32,
  headDim: i32, ff: i32, type: u32, ctx: i32, seed: u64, untied: bool, ropeBase: f32 = 0, normEps: f32 = 0,
  llama3Rope: bool = false): string {
  releaseWritten();
  const family = findFamily(arch);
  if (family === null) return "unknown architecture '" + arch + "' (mkmodel writes: " + familyNames() + ")";
  const vr = parseGGUF(vocabPtr, vocabSize);
  if (!vr.ok) return "vocab file: " + vr.error;
  const vf = vr.file!;
  const toks = vf.getArray("tokenizer.ggml.tokens");
  if (toks === null) return "vocab file has no tokenizer.ggml.tokens";
  const nVocab = toks.length;
  if (!writable(type)) return "mkmodel cannot write type " + typeName(type);
  if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ff <= 0 || ctx <= 0 || headDim < 0) return "every dimension must be positive";
  if (headDim == 0 && dim % heads != 0) return "dim " + dim.toString() + " is not a multiple of heads " + heads.toString() + " (give --head-dim)";
  if (heads % kvHeads != 0) return "heads " + heads.toString() + " is not a multiple of kv-heads " + kvHeads.toString();
  const hd = headDim > 0 ? headDim : dim / heads;
  if ((hd & 1) != 0) return "head size " + hd.toString() + " must be even";
  const be = <i32>blockElements(type);
  const qDim = hd * heads, kvDim = hd * kvHeads;
  if (dim % be != 0 || ff % be != 0 || qDim % be != 0) {
    return "dim, ff and heads x head size must be multiples of " + be.toString() + " for " + typeName(type);
  }

  const w = new GGUFWriter();
  const k = arch + ".";
  w.setString("general.architecture", arch);
  w.setString("general.name", "sis-mkmodel " + arch + " d" + dim.toString() + " l" + layers.toString() + " h" + heads.toString() +
    "/" + kvHeads.toString() + (headDim > 0 ? " hd" + hd.toString() : "") + " ff" + ff.toString() + " " + typeName(type) +
    " seed " + seed.toString());
  w.setU32("general.file_type", fileType(type));
  w.setU32(k + "context_length", <u32>ctx);
  w.setU32(k + "embedding_length", <u32>dim);
  w.setU32(k + "block_count", <u32>layers);
  w.setU32(k + "feed_forward_length", <u32>ff);
  w.setU32(k + "rope.dimension_count", <u32>hd);
  w.setU32(k + "attention.head_count", <u32>heads);
  w.setU32(k + "attention.head_count_kv", <u32>kvHeads);
  if (headDim > 0) { w.setU32(k + "attention.key_length", <u32>hd); w.setU32(k + "attention.value_length", <u32>hd); }
  const isLlama = family!.arch == "llama";
  const base: f32 = ropeBase > 0 ? ropeBase : isLlama ? <f32>10000 : <f32>1000000;
  w.setF32(k + "attention.layer_norm_rms_epsilon", normEps > 0 ? normEps : isLlama ? <f32>1e-5 : <f32>1e-6);
  w.setF32(k + "rope.freq_base", base);
  if (family === GEMMA3) { // a window of ctx/8 (at most Gemma 3's 512) on 5 of every 6 layers
    w.setU32(k + "attention.sliding_window", <u32>min(512, max(4, ctx / 8)));
    w.setU32(k + "attention.sliding_window_pattern", 6);
    w.setF32(k + "rope.freq_base_swa", <f32>10000);
  }
  if (family === PHI3) {
    w.setF32(k + "rope.scaling.attn_factor", <f32>1.1902380714238083); // sqrt(1 + ln(32)/ln(4096)), Phi-3.5-mini's
    w.setU32(k + "rope.scaling.original_context_length", <u32>max(1, min(4096, ctx / 2)));
  }
  w.setU32("general.quantization_version", 2);
  for (let i = 0; i < vf.kvCount; i++) if (vf.keys[i].startsWith("tokenizer.")) w.copyValue(vf.keys[i], vf.values[i]);

  const plan = new Plan();
  const sdIn = <f32>1 / Mathf.sqrt(<f32>dim), sdFF = <f32>1 / Mathf.sqrt(<f32>ff);
  const sdQ = <f32>1 / Mathf.sqrt(<f32>qDim);
  plan.add("token_embd.weight", nVocab, dim, sdIn); // tied heads then give logits of spread ~1 too
  for (let l = 0; l < layers; l++) {
    const p = "blk." + l.toString() + ".";
    plan.norm(p + "attn_norm.weight", dim);
    if (family === PHI3) plan.add(p + "attn_qkv.weight", qDim + 2 * kvDim, dim, sdIn);
    else {
      plan.add(p + "attn_q.weight", qDim, dim, sdIn);
      plan.add(p + "attn_k.weight", kvDim, dim, sdIn);
      plan.add(p + "attn_v.weight", kvDim, dim, sdIn);
    }
    if (family === QWEN2) {
      plan.bias(p + "attn_q.bias", qDim);
      plan.bias(p + "attn_k.bias", kvDim);
      plan.bias(p + "attn_v.bias", kvDim);
    }
    if (family!.qkNorm) {
      plan.norm(p + "attn_q_norm.weight", hd);
      plan.norm(p + "attn_k_norm.weight", hd);
    }
    plan.add(p + "attn_output.weight", dim, qDim, sdQ);
    if (family!.postNorms) plan.norm(p + "post_attention_norm.weight", dim);
    plan.norm(p + "ffn_norm.weight", dim);
    if (family!.fusedGateUp) plan.add(p + "ffn_up.weight", 2 * ff, dim, sdIn);
    else {
      plan.add(p + "ffn_gate.weight", ff, dim, sdIn);
      plan.add(p + "ffn_up.weight", ff, dim, sdIn);
    }
    plan.add(p + "ffn_down.weight", dim, ff, sdFF);
    if (family!.postNorms) plan.norm(p + "post_ffw_norm.weight", dim);
  }
  plan.norm("output_norm.weight", dim);
  if (untied) plan.add("output.weight", nVocab, dim, sdIn);
  if (llama3Rope) plan.ropeFreqs("rope_freqs.weight", hd / 2);
  if (family === PHI3) {
    plan.ropeFreqs("rope_factors_long.weight", hd / 2, ROPE_LONG);
    plan.ropeFreqs("rope_factors_short.weight", hd / 2, ROPE_SHORT);
  }
  const names = plan.names, rows = plan.rows, cols = plan.cols, kinds = plan.kinds, sds = plan.sds;

  for (let i = 0; i < names.length; i++) {
    const isVector = kinds[i] != MATRIX;
    const dims = new Array<u64>();
    dims.push(<u64>cols[i]);
    if (!isVector) dims.push(<u64>rows[i]);
    w.addTensor(names[i], isVector ? GGML_F32 : type, dims, 0);
  }
  const r = w.finish();
  if (!r.ok) return r.error;
  written = r;

  // fill each tensor row by row from its own generator (seed, tensor index)
  let maxCols = 0;
  for (let i = 0; i < names.length; i++) maxCols = max(maxCols, cols[i]);
  const row = new Float32Array(maxCols);
  const rng = new Pcg32();
  for (let i = 0; i < names.length; i++) {
    rng.seed(seed * 1000003 + <u64>i);
    const t = kinds[i] != MATRIX ? GGML_F32 : type;
    const rb = <usize>rowBytes(t, <u64>cols[i]);
    for (let j = 0; j < rows[i]; j++) {
      if (kinds[i] == ROPE_FREQS) llama3RopeFactors(row.dataStart, hd, base);
      else if (kinds[i] == ROPE_SHORT || kinds[i] == ROPE_LONG) {
        const top: f64 = kinds[i] == ROPE_SHORT ? 1.3 : 40;
        for (let q = 0; q < hd / 2; q++) {
          const x = <f64>q / <f64>max(1, hd / 2 - 1);
          store<f32>(row.dataStart + (<usize>q << 2), <f32>(1 + (top - 1) * x * x));
        }
      }
      else fillUniform(rng, row.dataStart, <usize>cols[i], kinds[i] == NORM ? <f32>1 : <f32>0, sds[i]);
      quantizeRow(row.dataStart, t, r.tensorData[i] + <usize>j * rb, cols[i]);
    }
  }
  return "";
}

/** Llama 3.1's RoPE scaling as divisors of each frequency (hd/2 f32 at dst), the way llama.cpp's
 *  converter writes rope_freqs: wavelengths shorter than 8192/4 keep theirs, longer than 8192
 *  are divided by 32, and those between blend smoothly. */
function llama3RopeFactors(dst: usize, hd: i32, base: f32): void {
  const factor = 32.0, low = 1.0, high = 4.0, original = 8192.0;
  for (let i = 0; i < hd / 2; i++) {
    const freq = 1.0 / Math.pow(<f64>base, <f64>(2 * i) / <f64>hd);
    const wavelen = 2 * Math.PI / freq;
    let f: f64;
    if (wavelen < original / high) f = 1;
    else if (wavelen > original / low) f = factor;
    else {
      const smooth = (original / wavelen - low) / (high - low);
      f = 1 / ((1 - smooth) / factor + smooth);
    }
    store<f32>(dst + (<usize>i << 2), <f32>f);
  }
}

// ---------------------------------------------------------------------------------------
// quantize

/** The fallback llama.cpp uses when a type's block does not divide the row length (0: none). */
function fallback(t: u32, cols: u64): u32 {
  if (cols % <u64>blockElements(t) == 0) return t;
  let f: u32 = 0;
  if (t == GGML_Q6_K) f = GGML_Q8_0;
  else if (t == GGML_Q4_K) f = GGML_Q5_0;
  else if (t == GGML_Q5_K) f = GGML_Q5_1;
  if (f != 0 && cols % <u64>blockElements(f) == 0) return f;
  return GGML_F16; // what llama.cpp does when even the fallback does not fit
}

function isOutputHead(t: TensorInfo, f: GGUFFile): bool {
  return t.name == "output.weight" || (t.name == "token_embd.weight" && f.findTensor("output.weight") === null);
}

/** The type tensor t gets in a "mostly `type`" file; 0xffffffff when it is copied unchanged. */
function targetType(t: TensorInfo, f: GGUFFile, type: u32, pure: bool, outputType: i32): u32 {
  const quantizable = t.nDims == 2 && t.name.endsWith("weight") && !t.name.endsWith("_norm.weight");
  if (!quantizable) return 0xffffffff;
  let nt = type;
  const quantized = type != GGML_F32 && type != GGML_F16 && type != GGML_BF16;
  if (isOutputHead(t, f)) {
    if (outputType >= 0) return <u32>outputType;
    if (quantized && !pure && type != GGML_Q8_0) nt = t.ne0 % 256 != 0 ? GGML_Q8_0 : GGML_Q6_K;
  }
  return quantized ? fallback(nt, t.ne0) : nt;
}

/**
 * Writes a copy of the F32/F16/BF16 model at [ptr, ptr+size) with its matrices converted to
 * `type` (see the header for the rules); outputType >= 0 forces the output head's type.
 * Returns "" (image at writtenPtr()) or an error.
 */
export function quantize(ptr: usize, size: u64, type: u32, pure: bool, outputType: i32): string {
  releaseWritten();
  const pr = parseGGUF(ptr, size);
  if (!pr.ok) return pr.error;
  const f = pr.file!;
  if (!writable(type)) return "cannot quantize to " + typeName(type) + " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)";
  if (outputType >= 0 && !writable(<u32>outputType)) return "cannot write the output head as " + typeName(<u32>outputType);

  const w = new GGUFWriter();
  w.copyMetadata(f);
  w.setU32("general.file_type", fileType(type));
  w.setU32("general.quantization_version", 2);
  const types = new Array<u32>();
  let maxCols: i32 = 0;
  for (let i = 0; i < f.tensors.length; i++) {
    const t = f.tensors[i];
    let nt = targetType(t, f, type, pure, outputType);
    if (nt != 0xffffffff) {
      if (t.type != GGML_F32 && t.type != GGML_F16 && t.type != GGML_BF16) {
        return "tensor '" + t.name + "' is " + typeName(t.type) + "; quantize takes F32, F16 or BF16 models";
      }
      if (!writable(nt)) {
        return "tensor '" + t.name + "' (row length " + t.ne0.toString() + ") would need " + typeName(nt) +
          " as llama.cpp falls back, which this engine does not support";
      }
      maxCols = max(maxCols, <i32>t.ne0);
    } else {
      nt = t.type;
    }
    types.push(nt);
    const dims = new Array<u64>();
    for (let d: u32 = 0; d < t.nDims; d++) dims.push(t.dims[d]);
    w.addTensor(t.name, nt, dims, nt == t.type ? t.data : 0); // unchanged tensors are copied
  }
  const r = w.finish();
  if (!r.ok) return r.error;
  written = r;

  // convert: each row to f32, then to the target type (llama.cpp quantizes from f32 too)
  const row = new Float32Array(max(1, maxCols));
  for (let i = 0; i < f.tensors.length; i++) {
    const t = f.tensors[i];
    const nt = types[i];
    if (nt == t.type) continue; // copied by the writer
    const k = <i32>t.ne0;
    const srb = <usize>t.rowBytes, drb = <usize>rowBytes(nt, t.ne0);
    const nRows = <i32>t.rows;
    for (let j = 0; j < nRows; j++) {
      dequantizeRow(t.data + <usize>j * srb, t.type, row.dataStart, k);
      quantizeRow(row.dataStart, nt, r.tensorData[i] + <usize>j * drb, k);
    }
  }
  return "";
}
