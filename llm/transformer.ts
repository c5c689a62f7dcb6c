// One forward pass of a llama model, readable top to bottom (after llama2.c's run.c), with
// the numerics of llama.cpp's CPU graph (without flash attention):
//   x = embedding rows of the tokens
//   for each layer:
//     xb = rmsnorm(x) * attn_norm
//     q, k, v = Wq xb, Wk xb, Wv xb         (activations quantized for each weight type)
//     rope(q), rope(k)                      (adjacent pairs, theta = pos * base^(-2i/n_rot))
//     cache k, v (F16); att = softmax(q·K / sqrt(hd)) · V per head (grouped-query)
//     x += Wo att
//     xb = rmsnorm(x) * ffn_norm
//     x += Wdown (silu(Wgate xb) * (Wup xb))
//   logits = Wout (rmsnorm(x_last) * output_norm)
// A prompt goes through as one batch (a matrix-matrix product over all its tokens per
// weight matrix); a generated token goes through alone (matrix-vector). Products take a row
// range and attention a head range, and neither touches global state, so the work can be
// split across cores later.

import { allocRegion, freeRegion } from "../kernel/memory/regions";
import { time_ns } from "../kernel/platform";
import { Config, Matrix, Model } from "./model";
import { KVCache } from "./kv_cache";
import { activationType, activationBytes, quantizeActivations, matvec, matmul, dequantizeRow } from "./kernels/matmul";
import { rmsnormMul, add, swiglu, softmax } from "./kernels/vector";
import { dot as dotF16, quantizeActivations as roundToF16, f32ToF16 } from "./quant/f16";
import { GGML_Q8_0, GGML_Q8_1 } from "./tensor_types";

/** Nanoseconds spent per stage of the forward pass (accumulated over calls). */
export class ForwardTimings {
  embedNs: u64 = 0;
  layerNs: StaticArray<u64>;
  outputNs: u64 = 0;
  constructor(nLayer: i32) { this.layerNs = new StaticArray<u64>(nLayer); }
  reset(): void {
    this.embedNs = 0;
    this.outputNs = 0;
    for (let i = 0; i < this.layerNs.length; i++) this.layerNs[i] = 0;
  }
}

/** Working memory for a batch of up to nBatch tokens, in one region. */
export class Scratch {
  nBatch: i32;
  base: usize = 0;
  bytes: u64 = 0;
  x: usize = 0;      // f32[nBatch][n_embd]   the residual stream
  xb: usize = 0;     // f32[nBatch][n_embd]   normed input of a block
  q: usize = 0;      // f32[nBatch][n_head*hd]
  k: usize = 0;      // f32[nBatch][n_head_kv*hd]
  v: usize = 0;      // f32[nBatch][n_head_kv*hd]
  att: usize = 0;    // f32[nBatch][n_head*hd] attention output
  proj: usize = 0;   // f32[nBatch][n_embd]   Wo / Wdown output before the residual add
  gate: usize = 0;   // f32[nBatch][n_ff]
  up: usize = 0;     // f32[nBatch][n_ff]
  xq: usize = 0;     // activations converted for a weight type (see activations())
  rope: usize = 0;   // f32[nBatch][hd]       cos, sin of each rotated pair, per token
  qh: usize = 0;     // f32[hd]               one query head rounded to F16
  scores: usize = 0; // f32[n_ctx]            one head's attention weights
  logits: usize = 0; // f32[n_vocab]
  // what xq holds now: source buffer, activation type, rows, row length
  xqSrc: usize = 0;
  xqType: u32 = 0;
  xqN: i32 = 0;
  xqK: i32 = 0;
  private xqRow: usize = 0;
  private c: Config;
  private nCtx: i32;
  private cursor: usize = 0;

  constructor(m: Model, nBatch: i32, nCtx: i32) {
    this.c = m.config;
    this.nBatch = nBatch;
    this.nCtx = nCtx;
    // room for the widest quantized activation row any matrix of the model needs
    const mats = m.matrices();
    let act: usize = 0;
    for (let i = 0; i < mats.length; i++) act = max(act, activationBytes(mats[i].type, mats[i].cols));
    this.xqRow = act;
    this.bytes = <u64>this.carve(); // a dry run with base 0 measures the total
  }

  // Hands out consecutive 64-byte-aligned slices from `cursor`; returns the end offset.
  private take(n: usize): usize {
    const p = this.cursor;
    this.cursor += (n + 63) & ~63;
    return p;
  }

  private carve(): usize {
    const c = this.c;
    const nb = <usize>this.nBatch;
    this.cursor = this.base;
    this.x = this.take(nb * <usize>c.nEmbd * 4);
    this.xb = this.take(nb * <usize>c.nEmbd * 4);
    this.q = this.take(nb * <usize>c.qDim * 4);
    this.k = this.take(nb * <usize>c.kvDim * 4);
    this.v = this.take(nb * <usize>c.kvDim * 4);
    this.att = this.take(nb * <usize>c.qDim * 4);
    this.proj = this.take(nb * <usize>c.nEmbd * 4);
    this.gate = this.take(nb * <usize>c.nFF * 4);
    this.up = this.take(nb * <usize>c.nFF * 4);
    this.xq = this.take(nb * this.xqRow);
    this.rope = this.take(nb * <usize>c.headDim * 4);
    this.qh = this.take(<usize>c.headDim * 4);
    this.scores = this.take(<usize>this.nCtx * 4);
    this.logits = this.take(<usize>c.nVocab * 4);
    return this.cursor - this.base;
  }

  /** Takes the memory; false when there is not enough. */
  allocate(): bool {
    this.base = allocRegion(this.bytes);
    if (this.base == 0) return false;
    this.carve();
    return true;
  }

  free(): void {
    if (this.base != 0) freeRegion(this.base);
    this.base = 0;
    this.dropActivations();
  }

  /** Forget the converted activations (their source buffer is about to change). */
  dropActivations(): void { this.xqSrc = 0; }
}

// ---------------------------------------------------------------------------------------
// Building blocks

/**
 * Quantized activations of x (n rows of k) for weights of type wType, converted once and
 * reused while the same input feeds several matrices (q/k/v, gate/up) of one activation type.
 * The forward pass calls s.dropActivations() whenever it rewrites an input buffer.
 */
function activations(s: Scratch, x: usize, n: i32, k: i32, wType: u32): usize {
  const a = activationType(wType);
  if (s.xqSrc == x && s.xqType == a && s.xqN == n && s.xqK == k) return s.xq;
  const stride = activationBytes(wType, k);
  for (let t = 0; t < n; t++) {
    const src = x + <usize>(t * k) * 4, dst = s.xq + <usize>t * stride;
    if (a == GGML_Q8_0 || a == GGML_Q8_1) quantizeQ8X86(src, dst, k, a == GGML_Q8_1);
    else quantizeActivations(src, k, wType, dst);
  }
  s.xqSrc = x; s.xqType = a; s.xqN = n; s.xqK = k;
  return s.xq;
}

// PRIVATE HELPER, to be replaced by llm/kernels once its Q8_0/Q8_1 activation conversion
// follows the x86 build that node-llama-cpp loads on this project's machines
// (libggml-cpu-haswell.so: arch/x86/quants.c quantize_row_q8_0 / quantize_row_q8_1).
// Those AVX builds differ from ggml's reference (quantize_row_q8_0_ref, what
// llm/kernels implements): id = 127/amax instead of 1/(amax/127), and round-half-even
// instead of roundf. The difference flips an int8 now and then, which moves llama.cpp's
// logits by up to ~5e-2 on sis-scribe-15m; with this conversion they agree to ~1e-4.
// Q8_1 also stores s = fp16(d * sum(q)).
function quantizeQ8X86(x: usize, dst: usize, k: i32, withSum: bool): void {
  const bb: usize = withSum ? 36 : 34;
  const qs: usize = withSum ? 4 : 2;
  for (let b = 0; b < k / 32; b++) {
    const xb = x + <usize>b * 128, y = dst + <usize>b * bb;
    let m = f32x4.abs(v128.load(xb));
    for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(xb + <usize>j * 16)));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const d = amax / <f32>127;
    const id = f32x4.splat(amax != 0 ? <f32>127 / amax : 0);
    store<u16>(y, <u16>f32ToF16(d));
    let sum = i32x4.splat(0);
    for (let j = 0; j < 8; j += 2) {
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + <usize>j * 16), id)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + <usize>j * 16, 16), id)));
      sum = i32x4.add(sum, i32x4.add(q0, q1));
      const q16 = i16x8.narrow_i32x4_s(q0, q1);
      v128.store_lane<u64>(y + qs + <usize>j * 4, i8x16.narrow_i16x8_s(q16, q16), 0);
    }
    if (withSum) {
      const total = i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) + i32x4.extract_lane(sum, 3);
      store<u16>(y + 2, <u16>f32ToF16(d * <f32>total));
    }
  }
}

/** out[t] = W x[t] for the n rows of x (f32, W.cols each), rows [r0, r1) of W. */
function project(out: usize, w: Matrix, x: usize, n: i32, s: Scratch, r0: i32, r1: i32): void {
  const xq = activations(s, x, n, w.cols, w.type);
  if (n == 1) matvec(out, w.data, w.type, xq, w.cols, r0, r1);
  else matmul(out, w.data, w.type, xq, n, w.cols, w.rows, r0, r1);
}

/** cos/sin table of one position, ggml's rope cache: theta_i = pos * base^(-2i/n_rot) built by
 *  repeated multiplication in f32, divided by rope_freqs when the model has them. */
function ropeTable(out: usize, pos: i32, c: Config, freqs: usize): void {
  const thetaScale = Mathf.pow(c.ropeBase, <f32>-2.0 / <f32>c.nRot);
  let theta = <f32>pos;
  for (let i = 0; i < c.nRot / 2; i++) {
    const ff: f32 = freqs != 0 ? load<f32>(freqs + (<usize>i << 2)) : 1;
    const th = c.ropeFreqScale * (theta / ff);
    store<f32>(out + (<usize>i << 3), Mathf.cos(th));
    store<f32>(out + (<usize>i << 3), Mathf.sin(th), 4);
    theta *= thetaScale;
  }
}

/** Rotates the adjacent pairs (2i, 2i+1) of each of nHeads heads of x (llama's RoPE layout). */
function rope(x: usize, nHeads: i32, hd: i32, table: usize): void {
  for (let h = 0; h < nHeads; h++) {
    const p = x + <usize>(h * hd) * 4;
    for (let i = 0; i < hd / 2; i++) {
      const cs = load<f32>(table + (<usize>i << 3)), sn = load<f32>(table + (<usize>i << 3), 4);
      const x0 = load<f32>(p + (<usize>i << 3)), x1 = load<f32>(p + (<usize>i << 3), 4);
      store<f32>(p + (<usize>i << 3), x0 * cs - x1 * sn);
      store<f32>(p + (<usize>i << 3), x0 * sn + x1 * cs, 4);
    }
  }
}

/**
 * Causal attention of one token at position `pos` for heads [h0, h1): out = softmax(q·K/√hd)·V
 * over positions 0..pos of the cache. Query head h reads KV head h / (n_head / n_head_kv).
 * As in ggml's graph, q is rounded to F16 before its dot products with the F16 keys, and the
 * attention weights are rounded to F16 before their dot products with the F16 values.
 */
function attend(out: usize, q: usize, kv: KVCache, layer: i32, pos: i32, c: Config, s: Scratch, h0: i32, h1: i32): void {
  const hd = c.headDim;
  const group = c.nHead / c.nHeadKv;
  const n = pos + 1;
  const scale = <f32>1.0 / Mathf.sqrt(<f32>hd);
  for (let h = h0; h < h1; h++) {
    const g = h / group;
    roundToF16(q + <usize>(h * hd) * 4, s.qh, hd);
    const keys = kv.keys(layer, g);
    for (let j = 0; j < n; j++) {
      store<f32>(s.scores + (<usize>j << 2), dotF16(keys + <usize>(j * hd) * 2, s.qh, hd));
    }
    softmax(s.scores, s.scores, n, scale);
    roundToF16(s.scores, s.scores, n);
    const values = kv.values(layer, g);
    const o = out + <usize>(h * hd) * 4;
    for (let d = 0; d < hd; d++) {
      store<f32>(o + (<usize>d << 2), dotF16(values + <usize>d * <usize>kv.nCtx * 2, s.scores, n));
    }
  }
}

// ---------------------------------------------------------------------------------------
// The forward pass

/**
 * Runs n tokens (i32 ids at `tokens`, n <= s.nBatch) at positions kv.used .. kv.used+n-1,
 * appends them to the cache and leaves the last token's logits in s.logits. The caller has
 * checked the ids and that the context has room.
 */
export function forward(m: Model, kv: KVCache, s: Scratch, tokens: usize, n: i32, tm: ForwardTimings): void {
  const c = m.config;
  const dim = c.nEmbd, qDim = c.qDim, kvDim = c.kvDim, ff = c.nFF, hd = c.headDim;
  const pos0 = kv.used;
  let t0 = time_ns();

  // token embeddings (dequantized rows) and the RoPE table of each position
  for (let t = 0; t < n; t++) {
    const id = load<i32>(tokens + (<usize>t << 2));
    const e = m.tokenEmbd;
    dequantizeRow(e.data + <usize>id * e.rowBytes, e.type, s.x + <usize>(t * dim) * 4, dim);
    ropeTable(s.rope + <usize>(t * hd) * 4, pos0 + t, c, m.ropeFreqs);
  }
  let t1 = time_ns();
  tm.embedNs += t1 - t0;

  for (let l = 0; l < c.nLayer; l++) {
    const L = m.layers[l];
    t0 = t1;

    // attention block
    for (let t = 0; t < n; t++) {
      rmsnormMul(s.xb + <usize>(t * dim) * 4, s.x + <usize>(t * dim) * 4, L.attnNorm, dim, c.normEps);
    }
    s.dropActivations();
    project(s.q, L.wq, s.xb, n, s, 0, L.wq.rows);
    project(s.k, L.wk, s.xb, n, s, 0, L.wk.rows);
    project(s.v, L.wv, s.xb, n, s, 0, L.wv.rows);
    for (let t = 0; t < n; t++) {
      const table = s.rope + <usize>(t * hd) * 4;
      rope(s.q + <usize>(t * qDim) * 4, c.nHead, hd, table);
      rope(s.k + <usize>(t * kvDim) * 4, c.nHeadKv, hd, table);
      kv.store(l, pos0 + t, s.k + <usize>(t * kvDim) * 4, s.v + <usize>(t * kvDim) * 4);
    }
    for (let t = 0; t < n; t++) {
      attend(s.att + <usize>(t * qDim) * 4, s.q + <usize>(t * qDim) * 4, kv, l, pos0 + t, c, s, 0, c.nHead);
    }
    s.dropActivations();
    project(s.proj, L.wo, s.att, n, s, 0, L.wo.rows);
    add(s.x, s.x, s.proj, n * dim);

    // feed-forward block (SwiGLU)
    for (let t = 0; t < n; t++) {
      rmsnormMul(s.xb + <usize>(t * dim) * 4, s.x + <usize>(t * dim) * 4, L.ffnNorm, dim, c.normEps);
    }
    s.dropActivations();
    project(s.gate, L.wGate, s.xb, n, s, 0, L.wGate.rows);
    project(s.up, L.wUp, s.xb, n, s, 0, L.wUp.rows);
    swiglu(s.gate, s.gate, s.up, n * ff);
    s.dropActivations();
    project(s.proj, L.wDown, s.gate, n, s, 0, L.wDown.rows);
    add(s.x, s.x, s.proj, n * dim);

    t1 = time_ns();
    tm.layerNs[l] += t1 - t0;
  }

  // output head, for the last token only (as llama.cpp computes logits of the last one)
  const last = s.x + <usize>((n - 1) * dim) * 4;
  rmsnormMul(s.xb, last, m.outputNorm, dim, c.normEps);
  s.dropActivations();
  project(s.logits, m.output, s.xb, 1, s, 0, m.output.rows);
  kv.used = pos0 + n;
  tm.outputNs += time_ns() - t1;
}
