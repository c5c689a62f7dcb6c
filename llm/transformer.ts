// One forward pass of a llama model, readable top to bottom (after llama2.c's run.c), with
// the numerics of llama.cpp's CPU graph under its default settings (flash attention on):
//   x = embedding rows of the tokens
//   for each layer:
//     xb = rmsnorm(x) * attn_norm
//     q, k, v = Wq xb, Wk xb, Wv xb         (activations quantized for each weight type)
//     rope(q), rope(k)                      (adjacent pairs, theta = pos * base^(-2i/n_rot))
//     cache k, v (F16); att = softmax(q·K / sqrt(hd)) · V per head (grouped-query),
//                                           as llama.cpp's flash attention computes it
//     x += Wo att
//     xb = rmsnorm(x) * ffn_norm            (last layer: the last token only)
//     x += Wdown (silu(Wgate xb) * (Wup xb))
//   logits = Wout (rmsnorm(x_last) * output_norm)
//            (or approximations within a proven bound, made exact row by row for the
//            sampler: HEAD_BOUNDED)
// A prompt goes through as one batch (a matrix-matrix product over all its tokens per
// weight matrix); a generated token goes through alone (matrix-vector). Products are split
// across the cores by rows (units of ROW_UNIT rows), attention by query heads
// (kernel/parallel.ts); each core has its own working memory, so the bits do not depend on
// the number of cores. Where llama.cpp's x86 build fuses a multiply and an add or calls
// the C library (RoPE's sincosf), llm/math reproduces that exactly.

import { allocRegion, freeRegion } from "../kernel/memory/regions";
import { time_ns } from "../kernel/platform";
import { jobCores, parallelFor } from "../kernel/parallel";
import { Config, Matrix, Model } from "./model";
import { KVCache } from "./kv_cache";
import { activationType, activationBytes, quantizeActivations, matvec, matmul, dequantizeRow, approxMatvec, approxBound, productWorkBytes } from "./kernels/matmul";
import { rmsnormMul, add, swiglu } from "./kernels/vector";
import { quantizeActivations as roundToF16, dot as dotF16, f16ToF32, roundF16, roundF16x4, loadHalves4 } from "./quant/f16";
import { fma32, fma32x4 } from "./math/fma";
import { expAvx2x4 } from "./math/exp";
import { hsumFloat8 } from "./quant/common";
import { sincosGlibc } from "./math/sincos";

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
  work: usize = 0;   // [cores] productWorkBytes: each core's work buffer for matvec, matmul
  rope: usize = 0;   // f32[nBatch][hd]       cos, sin of each rotated pair, per token
  attn: usize = 0;   // [cores] attentionWorkBytes(): each core's for flashAttention
  job: usize = 0;    // JOB_BYTES: the argument block of the product or attention job
  rowJob: usize = 0; // JOB_BYTES: the argument block of a row-wise step's job (RowsJob)
  logits: usize = 0; // f32[n_vocab]
  /** How far any logit in `logits` may be from its exact value: 0 when all are exact, infinity
   *  when they are not this pass's (see HEAD_*). */
  logitsError: f64 = Infinity;
  /** Whether `logits` holds approximations (some rows may be exact already). */
  get logitsApproximate(): bool { return this.logitsError > 0 && this.logitsError < Infinity; }
  // what xq holds now: source buffer, activation type, rows, row length
  xqSrc: usize = 0;
  xqType: u32 = 0;
  xqN: i32 = 0;
  xqK: i32 = 0;
  private xqRow: usize = 0;
  workBytes: usize = 0;   // per core, at work
  attnBytes: usize = 0;   // per core, at attn
  cores: i32;             // how many cores the work and attention buffers serve
  private c: Config;
  private nCtx: i32;
  private cursor: usize = 0;

  constructor(m: Model, nBatch: i32, nCtx: i32) {
    this.c = m.config;
    this.nBatch = nBatch;
    this.nCtx = nCtx;
    this.cores = jobCores();
    // room for the widest quantized activation row any matrix of the model needs
    const mats = m.matrices();
    let act: usize = 0;
    let work: usize = 0;
    for (let i = 0; i < mats.length; i++) {
      act = max(act, activationBytes(mats[i].type, mats[i].cols));
      work = max(work, productWorkBytes(mats[i].type, mats[i].cols, nBatch));
    }
    this.xqRow = act;
    this.workBytes = (work + 63) & ~63;
    this.attnBytes = (attentionWorkBytes(this.c.headDim, nBatch) + 63) & ~63;
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
    this.work = this.take(this.workBytes * <usize>this.cores);
    this.rope = this.take(nb * <usize>c.headDim * 4);
    this.attn = this.take(this.attnBytes * <usize>this.cores);
    this.job = this.take(JOB_BYTES);
    this.rowJob = this.take(JOB_BYTES);
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
  const j = changetype<RowsJob>(s.rowJob);
  j.out = s.xq; j.outStride = activationBytes(wType, k); j.x = x; j.k = k; j.wType = wType;
  parallelFor(n, quantizeUnits, s.rowJob, s.cores);
  s.xqSrc = x; s.xqType = a; s.xqN = n; s.xqK = k;
  return s.xq;
}

/** A row-wise step over the tokens of a batch (activations, norms, SwiGLU), split across the
 *  cores by tokens when there are several. */
@unmanaged class RowsJob { out: usize; outStride: usize; x: usize; k: i32; wType: u32; w: usize; eps: f32; }

function quantizeUnits(arg: usize, core: i32, t0: i32, t1: i32): void {
  const j = changetype<RowsJob>(arg);
  for (let t = t0; t < t1; t++) quantizeActivations(j.x + <usize>(t * j.k) * 4, j.k, j.wType, j.out + <usize>t * j.outStride);
}

/** out[t] = rmsnorm(x[t]) * w for the n rows of x (dim each). */
function normRows(s: Scratch, out: usize, x: usize, w: usize, n: i32, dim: i32, eps: f32): void {
  const j = changetype<RowsJob>(s.rowJob);
  j.out = out; j.x = x; j.w = w; j.k = dim; j.eps = eps;
  parallelFor(n, normUnits, s.rowJob, s.cores);
}

function normUnits(arg: usize, core: i32, t0: i32, t1: i32): void {
  const j = changetype<RowsJob>(arg);
  for (let t = t0; t < t1; t++) rmsnormMul(j.out + <usize>(t * j.k) * 4, j.x + <usize>(t * j.k) * 4, j.w, j.k, j.eps);
}

/** gate[t] = silu(gate[t]) * up[t] for the n rows of ff, row by row as ggml does (a row's last
 *  ff % 8 values take its scalar path). */
function swigluRows(s: Scratch, gate: usize, up: usize, n: i32, ff: i32): void {
  const j = changetype<RowsJob>(s.rowJob);
  j.out = gate; j.x = up; j.k = ff;
  parallelFor(n, swigluUnits, s.rowJob, s.cores);
}

function swigluUnits(arg: usize, core: i32, t0: i32, t1: i32): void {
  const j = changetype<RowsJob>(arg);
  for (let t = t0; t < t1; t++) {
    const row = <usize>(t * j.k) * 4;
    swiglu(j.out + row, j.out + row, j.x + row, j.k);
  }
}

/** Rows of a product per unit of work split across cores: a multiple of every kernel's row
 *  tile and of the 8-row groups of repacked weights, so that a split never changes a row. */
const ROW_UNIT: i32 = 32;
/** Bytes of a job's argument block (Scratch.job). */
const JOB_BYTES: usize = 128;

/** Products of one input as their units read them (kernel/parallel.ts): the activations, then
 *  up to MAX_PARTS matrices whose units follow one another. */
@unmanaged class ProductJob {
  xq: usize; xqStride: usize; n: i32; k: i32; batched: bool; work: usize; workBytes: usize;
  parts: i32; units: i32;
}
@unmanaged class ProductPart { out: usize; w: usize; wType: u32; rows: i32; firstUnit: i32; }
const MAX_PARTS = 3;
// @ts-ignore: decorator
@inline function partAt(job: usize, i: i32): ProductPart {
  return changetype<ProductPart>(job + offsetof<ProductJob>() + <usize>i * offsetof<ProductPart>());
}

/** Starts a product job of input x (n rows of k) for weights taking wType's activations. */
function productJob(s: Scratch, x: usize, n: i32, k: i32, wType: u32, batched: bool): ProductJob {
  const j = changetype<ProductJob>(s.job);
  j.xq = activations(s, x, n, k, wType);
  j.xqStride = activationBytes(wType, k);
  j.n = n; j.k = k; j.batched = batched; j.work = s.work; j.workBytes = s.workBytes;
  j.parts = 0; j.units = 0;
  return j;
}

function addPart(j: ProductJob, out: usize, w: Matrix): void {
  const p = partAt(changetype<usize>(j), j.parts++);
  p.out = out; p.w = w.data; p.wType = w.type; p.rows = w.rows; p.firstUnit = j.units;
  j.units += (w.rows + ROW_UNIT - 1) / ROW_UNIT;
}

/** out_i[t] = W_i x[t] for the n rows of x (f32, W.cols each) and up to three matrices of one
 *  input (q, k and v; gate and up), split across the cores: one job for all when they take
 *  the same activations, else one each. `batched`: the rows are part of a product of two or
 *  more rows in llama.cpp (see matmul). */
function project(s: Scratch, x: usize, n: i32, batched: bool, out0: usize, w0: Matrix,
  out1: usize = 0, w1: Matrix | null = null, out2: usize = 0, w2: Matrix | null = null): void {
  const a = activationType(w0.type);
  const one = (w1 == null || (activationType(w1.type) == a && w1.cols == w0.cols)) &&
    (w2 == null || (activationType(w2.type) == a && w2.cols == w0.cols));
  if (!one) {
    project(s, x, n, batched, out0, w0);
    if (w1 != null) project(s, x, n, batched, out1, w1);
    if (w2 != null) project(s, x, n, batched, out2, w2);
    return;
  }
  const j = productJob(s, x, n, w0.cols, w0.type, batched);
  addPart(j, out0, w0);
  if (w1 != null) addPart(j, out1, w1);
  if (w2 != null) addPart(j, out2, w2);
  parallelFor(j.units, productUnits, s.job, s.cores);
}

function productUnits(arg: usize, core: i32, u0: i32, u1: i32): void {
  const j = changetype<ProductJob>(arg);
  const work = j.work + <usize>core * j.workBytes;
  for (let i = 0; i < j.parts; i++) {
    const p = partAt(arg, i);
    const pu0 = p.firstUnit, pu1 = i + 1 < j.parts ? partAt(arg, i + 1).firstUnit : j.units;
    if (u1 <= pu0 || u0 >= pu1) continue;
    const r0 = (max(u0, pu0) - pu0) * ROW_UNIT, r1 = min(p.rows, (min(u1, pu1) - pu0) * ROW_UNIT);
    if (j.batched) { matmul(p.out, p.w, p.wType, j.xq, j.n, j.k, p.rows, r0, r1, work); continue; }
    for (let t = 0; t < j.n; t++) {
      matvec(p.out + <usize>(t * p.rows) * 4, p.w, p.wType, j.xq + <usize>t * j.xqStride, j.k, p.rows, r0, r1, work);
    }
  }
}

/** The output head's approximations (HEAD_BOUNDED), rows split across the cores. */
function approxUnits(arg: usize, core: i32, u0: i32, u1: i32): void {
  const j = changetype<ProductJob>(arg), p = partAt(arg, 0);
  approxMatvec(p.out, p.w, p.wType, j.xq, j.k, u0 * ROW_UNIT, min(p.rows, u1 * ROW_UNIT));
}

/** cos/sin table of one position, ggml's rope cache: theta_i = pos * base^(-2i/n_rot) built by
 *  repeated multiplication in f32, divided by rope_freqs when the model has them, and glibc's
 *  sincosf of each. */
function ropeTable(out: usize, pos: i32, c: Config, freqs: usize): void {
  const thetaScale = Mathf.pow(c.ropeBase, <f32>-2.0 / <f32>c.nRot);
  let theta = <f32>pos;
  for (let i = 0; i < c.nRot / 2; i++) {
    const ff: f32 = freqs != 0 ? load<f32>(freqs + (<usize>i << 2)) : 1;
    sincosGlibc(c.ropeFreqScale * (theta / ff), out + (<usize>i << 3));
    theta *= thetaScale;
  }
}

/** Read-only vector constants (loaded from memory: V8 would rebuild a v128 constant at every
 *  use inside a loop): the sign bits of lanes 0 and 2, then the lane indices 0..7. */
const TK: usize = memory.data<u32>([0x80000000, 0, 0x80000000, 0, 0, 1, 2, 3, 4, 5, 6, 7], 16);

/** Rotates the adjacent pairs (2i, 2i+1) of each of nHeads heads of x (llama's RoPE layout),
 *  with ggml's rotate_pairs arithmetic: (fma(x0, cos, -x1*sin), fma(x0, sin, x1*cos)), two
 *  pairs at a time. */
function rope(x: usize, nHeads: i32, hd: i32, table: usize): void {
  const flip = v128.load(TK), half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    const p = x + <usize>(h * hd) * 4;
    let i = 0;
    for (; i + 2 <= half; i += 2) {
      const cs = v128.load(table + (<usize>i << 3));             // [cos, sin, cos', sin']
      const v = v128.load(p + (<usize>i << 3));                  // [x0, x1, x0', x1']
      const sc = v128.xor(i32x4.shuffle(cs, cs, 1, 0, 3, 2), flip); // [-sin, cos, -sin', cos']
      // as compiled in llama.cpp's x86 build: the x0 products fused with the rounded other one
      const o = fma32x4(i32x4.shuffle(v, v, 0, 0, 2, 2), cs, f32x4.mul(i32x4.shuffle(v, v, 1, 1, 3, 3), sc));
      v128.store(p + (<usize>i << 3), o);
    }
    if (i < half) {
      const cs = load<f32>(table + (<usize>i << 3)), sn = load<f32>(table + (<usize>i << 3), 4);
      const x0 = load<f32>(p + (<usize>i << 3)), x1 = load<f32>(p + (<usize>i << 3), 4);
      store<f32>(p + (<usize>i << 3), fma32(x0, cs, -(x1 * sn)));
      store<f32>(p + (<usize>i << 3), fma32(x0, sn, x1 * cs), 4);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Attention, computed the way llama.cpp computes it with its default settings: flash
// attention on (its "auto" resolves to on for the CPU), F16 key/value cache. This is
// ggml_compute_forward_flash_attn_ext (ggml-cpu/ops.cpp) as built in node-llama-cpp's x86
// CPU backend (AVX2 with fused multiply-add; every fused step below is one there). Which of
// its three code paths runs depends on the batch, so the same text can come out differently
// depending on how it is split into batches:
//
//  * fewer than 64 query tokens in the batch (every generated token, short prompts):
//    q is rounded to F16; each score q·k is ggml_vec_dot_f16 (llm/quant/f16.ts dot) times
//    1/sqrt(hd); the positions the token may see are visited in order with a running
//    maximum M: a new maximum rescales the sum so far by ms = expf(Mold - M), otherwise the
//    position weighs vs = expf(s - M); the weighted sum of value rows is kept in F16,
//    rounded after every step (ggml_vec_scale_f16, and ggml_vec_mad_f16 = fused
//    multiply-add then F16), while S = S*ms + vs is f32; finally out = sum * (1/S).
//  * one query token with at least 512 cache cells in llama.cpp's view of the cache: the
//    same, but the cells are split into one chunk per llama.cpp thread, and the chunks' (M,
//    S, sum) are merged in order with expf rescaling (ggml_flash_attn_ext_reduce_partials).
//  * 64 or more query tokens (long prompts): q stays f32; positions go in tiles of 64;
//    scores are f32 fused multiply-add chains over the head dimension (simd_gemm), the
//    tile's maximum updates M (rescaling the f32 sum and S by expf(Mold - M)), the tile's
//    weights are ggml's AVX2 exp of (s - M) summed in double in groups of eight, and the
//    value rows are added with f32 fused multiply-add chains over the tile.
//
// llama.cpp's view of the cache ("n_kv") is the cells in use rounded up to 256, at least 256
// (llama_kv_cache::get_n_kv), within a cache that node-llama-cpp sizes to a multiple of 256.

/** Query tokens per batch from which llama.cpp uses the tiled path (GGML_FA_TILE_Q). */
const FA_TILE_Q: i32 = 64;
/** Cache cells per tile of the tiled path (GGML_FA_TILE_KV). */
const FA_TILE_KV: i32 = 64;
/** Cells in view from which a single query token is split across threads. */
const FA_SPLIT_KV: i32 = 512;
/** llama.cpp's thread count, which decides that split: node-llama-cpp's default,
 *  max(4, CPU math cores), on a machine with up to 4 cores. */
export const LLAMA_THREADS: i32 = 4;

/** llama.cpp's n_kv for a batch ending at position `end` (exclusive). */
function cellsInView(end: i32, nCtx: i32): i32 {
  const cells = (nCtx + 255) & ~255;
  return min(cells, max(256, (end + 255) & ~255));
}

// Working memory of flashAttention: f32 [0] M, [1] S, [2, 2+W) a tile's weights or one chunk's
// sum (W = max(64, hd)), then q rounded to F16 (f32[hd]); the tiled path (attendTiled) lays
// out its own tiles after the weights.
// @ts-ignore: decorator
@inline function workQ16(work: usize, hd: i32): usize { return work + (<usize>(2 + max(FA_TILE_KV, hd)) << 2); }

/** Bytes of working memory flashAttention needs for heads of hd and batches of up to nBatch. */
export function attentionWorkBytes(hd: i32, nBatch: i32): usize {
  const chunk = <usize>(2 + max(FA_TILE_KV, hd) + hd) << 2;
  const tiled = <usize>(8 + (FA_TILE_KV << 2) + 16) + (<usize>(hd * FA_TILE_KV) << 3) + (<usize>nBatch << 3);
  return max(chunk, tiled);
}

/** One query row (q rounded to F16 at workQ16) over cache cells [c0, c1), all visible, with the
 *  F16 accumulator: the unnormalised sum at acc (f32 holding F16 values), M and S in work[0..1]. */
function attendChunkF16(work: usize, acc: usize, keys: usize, values: usize, hd: i32, c0: i32, c1: i32, scale: f32): void {
  let M = -Infinity as f32, S: f32 = 0;
  memory.fill(acc, 0, <usize>hd << 2);
  const rowBytes = <usize>hd << 1, q16 = workQ16(work, hd);
  for (let ic = c0; ic < c1; ic++) {
    const sc = dotF16(keys + <usize>ic * rowBytes, q16, hd) * scale;
    const Mold = M;
    let ms: f32 = 1, vs: f32 = 1;
    if (sc > M) {
      M = sc;
      ms = Mathf.exp(Mold - M);
      const vms = f32x4.splat(ms);              // ggml_vec_scale_f16
      let d = 0;
      for (; d + 4 <= hd; d += 4) {
        const p = acc + (<usize>d << 2);
        v128.store(p, roundF16x4(f32x4.mul(v128.load(p), vms)));
      }
      for (; d < hd; d++) {
        const p = acc + (<usize>d << 2);
        store<f32>(p, roundF16(load<f32>(p) * ms));
      }
    } else {
      vs = Mathf.exp(sc - M);
    }
    const v = values + <usize>ic * rowBytes;
    const vvs = f32x4.splat(vs);               // ggml_vec_mad_f16
    let d = 0;
    for (; d + 4 <= hd; d += 4) {
      const p = acc + (<usize>d << 2);
      v128.store(p, roundF16x4(fma32x4(loadHalves4(v + (<usize>d << 1)), vvs, v128.load(p))));
    }
    for (; d < hd; d++) {
      const p = acc + (<usize>d << 2);
      store<f32>(p, roundF16(fma32(f16ToF32(load<u16>(v + (<usize>d << 1))), vs, load<f32>(p))));
    }
    S = S * ms + vs;
  }
  store<f32>(work, M);
  store<f32>(work, S, 4);
}

/**
 * One query head for all n tokens of a batch of 64+ (llama.cpp's tiled path): q and out are
 * the head's first row, rows `stride` bytes apart; token t sees cells [0, pos0 + t + 1).
 * Tiles of 64 cells go outermost so that each is converted from F16 once for all the rows.
 */
function attendTiled(work: usize, out: usize, q: usize, stride: usize, n: i32, pos0: i32, keys: usize, values: usize,
  hd: i32, scale: f32): void {
  const rowBytes = <usize>hd << 1;
  const w = work + 8;                                        // f32[64] the row's weights
  const kt = (work + 8 + (FA_TILE_KV << 2) + 15) & ~15;      // f32[hd][64] the tile's keys, transposed
  const vt = kt + (<usize>(hd * FA_TILE_KV) << 2);           // f32[64][hd] the tile's values
  const ms = vt + (<usize>(hd * FA_TILE_KV) << 2);           // f32[n][2] each row's M and S
  const lanes0 = v128.load(TK, 16), lanes4 = v128.load(TK, 32), vscale = f32x4.splat(scale);
  for (let t = 0; t < n; t++) {
    store<f32>(ms + (<usize>t << 3), -Infinity);
    store<f32>(ms + (<usize>t << 3), 0, 4);
    memory.fill(out + <usize>t * stride, 0, <usize>hd << 2);
  }
  const cells = pos0 + n;
  for (let ic = 0; ic < cells; ic += FA_TILE_KV) {
    const tileEnd = min(ic + FA_TILE_KV, cells);
    for (let j = 0; j < FA_TILE_KV; j++) {
      const c = ic + j;
      for (let d = 0; d < hd; d++) {
        const kv: f32 = c < tileEnd ? f16ToF32(load<u16>(keys + <usize>c * rowBytes + (<usize>d << 1))) : 0;
        store<f32>(kt + (<usize>(d * FA_TILE_KV + j) << 2), kv);
        const vv: f32 = c < tileEnd ? f16ToF32(load<u16>(values + <usize>c * rowBytes + (<usize>d << 1))) : 0;
        store<f32>(vt + (<usize>(j * hd + d) << 2), vv);
      }
    }
    for (let t = max(0, ic - pos0); t < n; t++) {            // the rows that see this tile
      const end = min(tileEnd, pos0 + t + 1) - ic;           // cells of the tile the row sees
      const qr = q + <usize>t * stride, acc = out + <usize>t * stride;
      // scores: f32 fused multiply-add chains over the head dimension, 16 cells at a time (the
      // last group may run past the row's cells, never past the tile; those scores go unused)
      for (let j = 0; j < end; j += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        for (let d = 0; d < hd; d++) {
          const qv = f32x4.splat(load<f32>(qr + (<usize>d << 2)));
          const kp = kt + (<usize>(d * FA_TILE_KV + j) << 2);
          a0 = fma32x4(qv, v128.load(kp), a0);
          a1 = fma32x4(qv, v128.load(kp, 16), a1);
          a2 = fma32x4(qv, v128.load(kp, 32), a2);
          a3 = fma32x4(qv, v128.load(kp, 48), a3);
        }
        const wp = w + (<usize>j << 2);
        v128.store(wp, f32x4.mul(a0, vscale));
        v128.store(wp, f32x4.mul(a1, vscale), 16);
        v128.store(wp, f32x4.mul(a2, vscale), 32);
        v128.store(wp, f32x4.mul(a3, vscale), 48);
      }
      let tileMax = -Infinity as f32;
      for (let j = 0; j < end; j++) {
        const a = load<f32>(w + (<usize>j << 2));
        if (a > tileMax) tileMax = a;
      }
      let M = load<f32>(ms + (<usize>t << 3)), S = load<f32>(ms + (<usize>t << 3), 4);
      const Mnew = max(M, tileMax);
      if (Mnew > M) {
        const r = Mathf.exp(M - Mnew);
        const vr = f32x4.splat(r);
        for (let d = 0; d < hd; d += 4) v128.store(acc + (<usize>d << 2), f32x4.mul(v128.load(acc + (<usize>d << 2)), vr));
        S *= r;
      }
      M = Mnew;
      // the tile's weights expf(score - M) (ggml's AVX2 exp), summed as ggml_vec_soft_max_f32
      // does: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)) per group of eight; cells the row may not
      // see weigh 0, and groups of those only add zeros
      const vM = f32x4.splat(M);
      let sum: f64 = 0;
      for (let g = 0; g < end; g += 8) {
        const wp = w + (<usize>g << 2), left = i32x4.splat(end - g);
        const lo = v128.and(expAvx2x4(f32x4.sub(v128.load(wp), vM)), i32x4.lt_s(lanes0, left));
        const hi = v128.and(expAvx2x4(f32x4.sub(v128.load(wp, 16), vM)), i32x4.lt_s(lanes4, left));
        v128.store(wp, lo);
        v128.store(wp, hi, 16);
        sum += <f64>hsumFloat8(lo, hi);
      }
      S = <f32>(<f64>S + sum);
      store<f32>(ms + (<usize>t << 3), M);
      store<f32>(ms + (<usize>t << 3), S, 4);
      // value rows: f32 fused multiply-add chains over the tile, eight dimensions at a time
      for (let d = 0; d < hd; d += 8) {
        const p = acc + (<usize>d << 2);
        let lo = v128.load(p), hi = v128.load(p, 16);
        for (let j = 0; j < end; j++) {
          const wj = f32x4.splat(load<f32>(w + (<usize>j << 2)));
          const vp = vt + (<usize>(j * hd + d) << 2);
          lo = fma32x4(v128.load(vp), wj, lo);
          hi = fma32x4(v128.load(vp, 16), wj, hi);
        }
        v128.store(p, lo);
        v128.store(p, hi, 16);
      }
    }
  }
  for (let t = 0; t < n; t++) {
    const S = load<f32>(ms + (<usize>t << 3), 4);
    const inv: f32 = S == 0 ? 0 : <f32>1.0 / S;
    const acc = out + <usize>t * stride;
    for (let d = 0; d < hd; d++) store<f32>(acc + (<usize>d << 2), load<f32>(acc + (<usize>d << 2)) * inv);
  }
}

/**
 * Causal attention of n tokens at positions pos0.. (q: f32[n][n_head*hd], out the same shape),
 * query heads [h0, h1), against the cache (which already holds them), with llama.cpp's default
 * flash-attention arithmetic (see above). `batch` is the size of the llama.cpp batch these
 * tokens belong to (it picks the code path; 0: n), `threads` llama.cpp's thread count. Query
 * head h reads KV head h / (n_head / n_head_kv). work: attentionWorkBytes(hd, n).
 */
export function flashAttention(out: usize, q: usize, kv: KVCache, layer: i32, pos0: i32, n: i32, c: Config,
  work: usize, h0: i32, h1: i32, batch: i32 = 0, threads: i32 = LLAMA_THREADS): void {
  const hd = c.headDim, qDim = c.qDim;
  const group = c.nHead / c.nHeadKv;
  const scale = <f32>1.0 / Mathf.sqrt(<f32>hd);
  const nb = max(batch, n);
  const tiled = nb >= FA_TILE_Q && hd % 8 == 0;
  const split = nb == 1 && cellsInView(pos0 + 1, kv.nCtx) >= FA_SPLIT_KV;
  const q16 = workQ16(work, hd), part = work + 8;
  if (tiled) {
    for (let h = h0; h < h1; h++) {
      const g = h / group;
      const off = <usize>(h * hd) << 2;
      attendTiled(work, out + off, q + off, <usize>qDim << 2, n, pos0, kv.keys(layer, g), kv.values(layer, g), hd, scale);
    }
    return;
  }
  for (let t = 0; t < n; t++) {
    const nVisible = pos0 + t + 1;
    for (let h = h0; h < h1; h++) {
      const g = h / group;
      const keys = kv.keys(layer, g), values = kv.values(layer, g);
      const qh = q + <usize>(t * qDim + h * hd) * 4, o = out + <usize>(t * qDim + h * hd) * 4;
      roundToF16(qh, q16, hd);
      if (!split) {
        attendChunkF16(work, o, keys, values, hd, 0, nVisible, scale);
        const S = load<f32>(work, 4);
        const inv: f32 = S == 0 ? 0 : <f32>1.0 / S;
        for (let d = 0; d < hd; d++) store<f32>(o + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) * inv);
        continue;
      }
      // one chunk of cells per llama.cpp thread, merged in order
      const chunk = (cellsInView(pos0 + 1, kv.nCtx) + threads - 1) / threads;
      let Mf = -Infinity as f32, Sf: f32 = 0;
      memory.fill(o, 0, <usize>hd << 2);
      for (let th = 0; th < threads; th++) {
        const c0 = th * chunk, c1 = min(c0 + chunk, nVisible);
        if (c1 <= c0) continue;                // no visible cell: S = 0, skipped
        attendChunkF16(work, part, keys, values, hd, c0, c1, scale);
        const Mc = load<f32>(work), Sc = load<f32>(work, 4);
        if (Sc == 0) continue;
        const Mn = max(Mf, Mc);
        const so = Mathf.exp(Mf - Mn), sn = Mathf.exp(Mc - Mn);
        for (let d = 0; d < hd; d++) {
          const p = o + (<usize>d << 2);
          store<f32>(p, fma32(load<f32>(p), so, load<f32>(part + (<usize>d << 2)) * sn));
        }
        Sf = fma32(Sf, so, Sc * sn);
        Mf = Mn;
      }
      if (Sf != 0) {
        const inv = <f32>1.0 / Sf;
        for (let d = 0; d < hd; d++) store<f32>(o + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) * inv);
      }
    }
  }
}

/** flashAttention's arguments as its units (query heads) read them. */
@unmanaged class AttentionJob {
  out: usize; q: usize; kv: usize; c: usize; layer: i32; pos0: i32; n: i32; batch: i32;
  work: usize; workBytes: usize;
}

/** flashAttention for all query heads, split across the cores by heads. */
function attention(s: Scratch, kv: KVCache, layer: i32, pos0: i32, n: i32, c: Config, batch: i32): void {
  const j = changetype<AttentionJob>(s.job);
  j.out = s.att; j.q = s.q; j.kv = changetype<usize>(kv); j.c = changetype<usize>(c);
  j.layer = layer; j.pos0 = pos0; j.n = n; j.batch = batch; j.work = s.attn; j.workBytes = s.attnBytes;
  parallelFor(c.nHead, attentionUnits, s.job, s.cores);
}

function attentionUnits(arg: usize, core: i32, h0: i32, h1: i32): void {
  const j = changetype<AttentionJob>(arg);
  flashAttention(j.out, j.q, changetype<KVCache>(j.kv), j.layer, j.pos0, j.n, changetype<Config>(j.c),
    j.work + <usize>core * j.workBytes, h0, h1, j.batch);
}

// ---------------------------------------------------------------------------------------
// The forward pass

/**
 * Runs n tokens (i32 ids at `tokens`, n <= s.nBatch) at positions kv.used .. kv.used+n-1,
 * appends them to the cache and computes the last token's logits into s.logits as `head`
 * says (HEAD_*). The caller has checked the ids and that the context has room. `ubatch`:
 * when these tokens are part of a longer batch in llama.cpp's terms (node-llama-cpp sends a
 * prompt in batches of min(context, 512) tokens), its size, so that attention takes the same
 * path (0: n).
 */
export function forward(m: Model, kv: KVCache, s: Scratch, tokens: usize, n: i32, tm: ForwardTimings, head: i32, ubatch: i32 = 0): void {
  const c = m.config;
  const dim = c.nEmbd, qDim = c.qDim, kvDim = c.kvDim, ff = c.nFF, hd = c.headDim;
  const pos0 = kv.used;
  const batched = max(ubatch, n) >= 2;
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
    normRows(s, s.xb, s.x, L.attnNorm, n, dim, c.normEps);
    s.dropActivations();
    project(s, s.xb, n, batched, s.q, L.wq, s.k, L.wk, s.v, L.wv);
    for (let t = 0; t < n; t++) {
      const table = s.rope + <usize>(t * hd) * 4;
      rope(s.q + <usize>(t * qDim) * 4, c.nHead, hd, table);
      rope(s.k + <usize>(t * kvDim) * 4, c.nHeadKv, hd, table);
      kv.store(l, pos0 + t, s.k + <usize>(t * kvDim) * 4, s.v + <usize>(t * kvDim) * 4);
    }
    attention(s, kv, l, pos0, n, c, ubatch);
    s.dropActivations();
    project(s, s.att, n, batched, s.proj, L.wo);
    add(s.x, s.x, s.proj, n * dim);

    // feed-forward block (SwiGLU). In the last layer only the last token goes on, as in
    // llama.cpp (which keeps just the rows whose logits it needs): a one-row product there
    // is also the one-row kernel there.
    const f0 = l == c.nLayer - 1 ? n - 1 : 0, nf = n - f0, batchedF = f0 == 0 && batched;
    const xf = s.x + <usize>(f0 * dim) * 4, xbf = s.xb + <usize>(f0 * dim) * 4;
    normRows(s, xbf, xf, L.ffnNorm, nf, dim, c.normEps);
    s.dropActivations();
    project(s, xbf, nf, batchedF, s.gate, L.wGate, s.up, L.wUp);
    swigluRows(s, s.gate, s.up, nf, ff);
    s.dropActivations();
    project(s, s.gate, nf, batchedF, s.proj, L.wDown);
    add(xf, xf, s.proj, nf * dim);

    t1 = time_ns();
    tm.layerNs[l] += t1 - t0;
  }

  kv.used = pos0 + n;
  s.logitsError = Infinity; // nothing in s.logits belongs to these tokens yet
  if (head == HEAD_NONE) return;
  // output head, for the last token only (as llama.cpp computes logits of the last one); its
  // input stays in s.xb (and converted in s.xq) for headRows and headAll
  const last = s.x + <usize>((n - 1) * dim) * 4;
  rmsnormMul(s.xb, last, m.outputNorm, dim, c.normEps);
  s.dropActivations();
  const w = m.output;
  const xq = activations(s, s.xb, 1, w.cols, w.type);
  const bound = head == HEAD_BOUNDED ? approxBound(w.type, m.outputScale(), xq, w.cols) : Infinity;
  if (isFinite(bound)) {
    const j = productJob(s, s.xb, 1, w.cols, w.type, false);
    addPart(j, s.logits, w);
    parallelFor(j.units, approxUnits, s.job, s.cores);
    s.logitsError = bound;
  } else headAll(m, s);
  tm.outputNs += time_ns() - t1;
}

/** forward's choices for the output head: none (a prompt piece before the last), every logit
 *  exact, or approximations within s.logitsError of the exact values where the head's type has
 *  them (llm/sampler.ts sampleBounded then asks headRows for the rows it needs exact). */
export const HEAD_NONE: i32 = 0;
export const HEAD_EXACT: i32 = 1;
export const HEAD_BOUNDED: i32 = 2;

/** Makes s.logits[r] exact for the n row ids r (i32s) at `ids` (after forward with HEAD_BOUNDED). */
export function headRows(m: Model, s: Scratch, ids: usize, n: i32): void {
  if (s.logitsError == 0) return;
  const w = m.output;
  const xq = activations(s, s.xb, 1, w.cols, w.type);
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2));
    if (r >= 0 && r < w.rows) matvec(s.logits, w.data, w.type, xq, w.cols, w.rows, r, r + 1, s.work);
  }
}

/** Makes every logit in s.logits exact (after forward with HEAD_BOUNDED). */
export function headAll(m: Model, s: Scratch): void {
  if (s.logitsError == 0) return;
  const w = m.output;
  project(s, s.xb, 1, false, s.logits, w);
  s.logitsError = 0;
}
