// Matrix products of GGUF weight matrices with activations, dispatched by weight type.
//
// Weights: `rows` rows of k elements each, contiguous, in GGUF layout (ne0 = k), so row r
// starts at w + r*rowBytes(wType, k); Q4_0 matrices whose rows are a multiple of 8 with their
// rows interleaved four at a time (toProductLayout, below). Activations are first converted to
// the format ggml's CPU backend pairs with the weight type (its vec_dot_type), the way llama.cpp's x86 build
// converts them (Q8_0/Q8_1: llm/quant/q8_act.ts; the others match ggml's reference
// conversions):
//
//   weights        activations (activationType)     stored as (activationBytes)
//   F32            F32                              f32[k]
//   F16            F16                              f32[k] holding F16-rounded values
//   BF16           BF16                             f32[k] holding BF16-rounded values
//   Q4_0, Q5_0, Q8_0, IQ4_NL  Q8_0                  k/32 blocks of 34 bytes
//   Q4_1, Q5_1     Q8_1                             k/32 blocks of 36 bytes
//   Q4_K/Q5_K/Q6_K Q8_K                             k/256 blocks of 292 bytes
//
// Integer parts of the quantized products are exact. The float parts follow the order of the
// kernel llama.cpp's x86 build (node-llama-cpp, AVX2 + FMA) runs for the type, fused
// multiply-adds included (llm/math/fma.ts), for Q4_0 (repacked when the rows are a multiple
// of 8, vec_dot otherwise), Q5_0, Q5_1, Q8_0, IQ4_NL, F16 and the K-quants; Q4_1, BF16 and F32 keep ggml's reference (generic)
// order for now
// (see llm/quant/f16.ts). These functions take pointers and a row range and touch no global
// state, and allocate nothing: what a product needs besides its inputs and output (a weight
// row rewritten, activation lanes split) goes in a work buffer the caller planned with
// productWorkBytes, as ggml's wdata. So several WebAssembly instances can run disjoint row
// ranges on one shared memory, each with a work buffer of its own.
import {
  GGML_F32, GGML_F16, GGML_BF16, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q8_0, GGML_Q8_1,
  GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_Q8_K, GGML_IQ4_NL, rowBytes,
} from "../tensor_types";
import * as f32q from "../quant/f32";
import * as f16q from "../quant/f16";
import * as bf16q from "../quant/bf16";
import * as q4_0 from "../quant/q4_0";
import * as q4_1 from "../quant/q4_1";
import * as q5_0 from "../quant/q5_0";
import * as q5_1 from "../quant/q5_1";
import * as iq4_nl from "../quant/iq4_nl";
import * as q8_0 from "../quant/q8_0";
import * as q8_1 from "../quant/q8_1";
import * as q4_k from "../quant/q4_k";
import * as q5_k from "../quant/q5_k";
import * as q6_k from "../quant/q6_k";
import * as q8_k from "../quant/q8_k";
import { quantizeQ8_0 as actQ8_0, quantizeQ8_1 as actQ8_1 } from "../quant/q8_act";

/** Tokens per pass of matmul: each weight row is used for this many activation rows while it
 *  is in cache, and that many activation rows (<= 32 * 9.2 KB at k = 8192, Q8_K) stay hot too. */
const TOKEN_BLOCK: i32 = 32;

/** activationType() of a weight type the kernels cannot multiply. */
export const ACT_NONE: u32 = 0xffffffff;

/** The format x must be converted to for weights of wType (ggml's vec_dot_type), or ACT_NONE. */
export function activationType(wType: u32): u32 {
  switch (wType) {
    case GGML_F32: return GGML_F32;
    case GGML_F16: return GGML_F16;
    case GGML_BF16: return GGML_BF16;
    case GGML_Q4_0: case GGML_Q5_0: case GGML_Q8_0: case GGML_IQ4_NL: return GGML_Q8_0;
    case GGML_Q4_1: case GGML_Q5_1: return GGML_Q8_1;
    case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: return GGML_Q8_K;
  }
  return ACT_NONE;
}

/** Bytes of one converted activation row of k elements (see the table above); 0 when wType is
 *  not supported or k is not a whole number of the weight type's blocks. */
export function activationBytes(wType: u32, k: i32): usize {
  if (k <= 0 || rowBytes(wType, <u64>k) == 0) return 0;
  const a = activationType(wType);
  if (a == GGML_F32 || a == GGML_F16 || a == GGML_BF16) return <usize>k << 2;
  if (a == GGML_Q8_0) return <usize>(k / 32) * 34;
  if (a == GGML_Q8_1) return <usize>(k / 32) * 36;
  if (a == GGML_Q8_K) return <usize>(k / 256) * 292;
  return 0;
}

/** Converts x (f32[k]) to the activation format of wType at dst, as llama.cpp's x86 CPU backend
 *  does before its products (Q8_0/Q8_1: llm/quant/q8_act.ts). False if unsupported. */
export function quantizeActivations(x: usize, k: i32, wType: u32, dst: usize): bool {
  if (activationBytes(wType, k) == 0) return false;
  switch (activationType(wType)) {
    case GGML_F32: memory.copy(dst, x, <usize>k << 2); break;
    case GGML_F16: f16q.quantizeActivations(x, dst, k); break;
    case GGML_BF16: bf16q.quantizeActivations(x, dst, k); break;
    case GGML_Q8_0: actQ8_0(x, dst, k); break;
    case GGML_Q8_1: actQ8_1(x, dst, k); break;
    case GGML_Q8_K: q8_k.quantizeRow(x, dst, k); break;
    default: return false;
  }
  return true;
}

/** Work bytes gemm needs for nt activation rows of k with weights of wType. */
function gemmWorkBytes(wType: u32, k: i32, nt: i32): usize {
  switch (wType) {
    case GGML_Q4_0: return q4_0.gemmWorkBytes(k);
    case GGML_Q5_0: return q5_0.gemmWorkBytes(k);
    case GGML_IQ4_NL: return iq4_nl.gemmWorkBytes(k);
    case GGML_Q4_K: return q4_k.gemmWorkBytes(k, nt);
    case GGML_Q5_K: return q5_k.gemmWorkBytes(k, nt);
    case GGML_Q6_K: return q6_k.gemmWorkBytes(k, nt);
  }
  return 0;
}

/** Work bytes matvec and matmul need for up to n activation rows of k with weights of wType
 *  (the `work` they take). */
export function productWorkBytes(wType: u32, k: i32, n: i32): usize {
  return gemmWorkBytes(wType, k, max(1, min(n, TOKEN_BLOCK)));
}

// out[t*outStride + r] = W[r]·X[t], r < nr, t < nt, by weight type.
// matrixRows: the weight's whole row count (Q4_0 and Q4_K: llama.cpp repacks a matrix whose
// rows are a multiple of 8, which changes their order); batched: llama.cpp multiplies it by a
// batch of two or more rows here (F16 picks its kernel, and so its summation order, by it).
function gemm(wType: u32, out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
              matrixRows: i32, batched: bool, work: usize, prep: usize = 0, prepStride: usize = 0): void {
  switch (wType) {
    case GGML_F32: f32q.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k); break;
    case GGML_F16: f16q.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, batched ? matrixRows : 0); break;
    case GGML_BF16: bf16q.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k); break;
    case GGML_Q4_0: q4_0.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work, matrixRows, prep, prepStride); break;
    case GGML_Q4_1: q4_1.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k); break;
    case GGML_Q5_0: q5_0.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work); break;
    case GGML_Q5_1: q5_1.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k); break;
    case GGML_IQ4_NL: iq4_nl.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work, matrixRows, batched); break;
    case GGML_Q8_0: q8_0.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k); break;
    case GGML_Q4_K: q4_k.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work, matrixRows); break;
    case GGML_Q5_K: q5_k.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work); break;
    case GGML_Q6_K: q6_k.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work); break;
  }
}

/** out[r] = W[r,:]·x for r in [rowStart, rowEnd) of the rows of W; xq from quantizeActivations. Only those
 *  out entries are written; work holds productWorkBytes(wType, k, 1) bytes. False (nothing
 *  written) for an unsupported type or k. */
export function matvec(out: usize, w: usize, wType: u32, xq: usize, k: i32, rows: i32, rowStart: i32, rowEnd: i32, work: usize): bool {
  if (activationBytes(wType, k) == 0) return false;
  if (rowEnd <= rowStart) return true;
  const rb = <usize>rowBytes(wType, <u64>k);
  gemm(wType, out + (<usize>rowStart << 2), 1, w + <usize>rowStart * rb, rb, rowEnd - rowStart, xq, 0, 1, k, rows, false, work);
  return true;
}


/** Batch product for n activation rows (prompt processing): out[t*rows + r] = W[r,:]·X[t] for
 *  t in [0, n), r in [rowStart, rowEnd). xq holds n rows of activationBytes(wType, k) bytes;
 *  prep, 0 or what prepareActivations wrote for them (used where it was written). It stands
 *  for llama.cpp's product of a batch of two or more rows, also when n is 1 (a piece of such
 *  a batch): for F16 weights, and Q4_K ones in groups of four activation rows, that sums in
 *  another order than matvec; for the other types the results equal n calls of matvec bit for
 *  bit. A batch split over several calls must split at multiples of 4. */
export function matmul(out: usize, w: usize, wType: u32, xq: usize, n: i32, k: i32, rows: i32, rowStart: i32, rowEnd: i32,
                       work: usize, prep: usize = 0): bool {
  const ab = activationBytes(wType, k);
  if (ab == 0) return false;
  if (rowEnd <= rowStart || n <= 0) return true;
  const rb = <usize>rowBytes(wType, <u64>k);
  if (!takesPrepared(wType, n, rows)) prep = 0;
  for (let t = 0; t < n; t += TOKEN_BLOCK) {
    const nt = min(TOKEN_BLOCK, n - t);
    gemm(wType, out + ((<usize>t * <usize>rows + <usize>rowStart) << 2), rows, w + <usize>rowStart * rb, rb,
      rowEnd - rowStart, xq + <usize>t * ab, ab, nt, k, rows, true, work,
      prep == 0 ? 0 : prep + <usize>t * q4_0.PREP_BYTES, <usize>n * q4_0.PREP_BYTES);
  }
  return true;
}

// Activations prepared once per batch product for the kernels that take them (Q4_0 compiled
// ahead of time, llm/quant/q4_0.ts prepare): the boot core writes them before the product is
// split across the cores, which all read them.

/** Whether matmul of n activation rows by a wType matrix of `rows` rows uses prepared activations. */
function takesPrepared(wType: u32, n: i32, rows: i32): bool { return wType == GGML_Q4_0 && q4_0.takesPrepared(n, rows); }

/** Bytes prepareActivations may write for n activation rows of k (0 for a type that takes none). */
export function preparedBytes(wType: u32, k: i32, n: i32): usize {
  return wType == GGML_Q4_0 ? q4_0.preparedBytes(k, n) : 0;
}

/** Prepares n activation rows xq (quantizeActivations' format for wType) at dst for matmul by a
 *  matrix of `rows` rows; false when that product takes none (nothing written). */
export function prepareActivations(wType: u32, rows: i32, xq: usize, n: i32, k: i32, dst: usize): bool {
  if (!takesPrepared(wType, n, rows) || activationBytes(wType, k) == 0) return false;
  q4_0.prepare(dst, xq, activationBytes(wType, k), n, k);
  return true;
}

/** One row of k elements to f32 (embedding lookups). False for an unknown type or bad k. */
export function dequantizeRow(src: usize, wType: u32, dst: usize, k: i32): bool {
  if (k <= 0 || rowBytes(wType, <u64>k) == 0) return false;
  switch (wType) {
    case GGML_F32: f32q.dequantizeRow(src, dst, k); break;
    case GGML_F16: f16q.dequantizeRow(src, dst, k); break;
    case GGML_BF16: bf16q.dequantizeRow(src, dst, k); break;
    case GGML_Q4_0: q4_0.dequantizeRow(src, dst, k); break;
    case GGML_Q4_1: q4_1.dequantizeRow(src, dst, k); break;
    case GGML_Q5_0: q5_0.dequantizeRow(src, dst, k); break;
    case GGML_Q5_1: q5_1.dequantizeRow(src, dst, k); break;
    case GGML_IQ4_NL: iq4_nl.dequantizeRow(src, dst, k); break;
    case GGML_Q8_0: q8_0.dequantizeRow(src, dst, k); break;
    case GGML_Q8_1: q8_1.dequantizeRow(src, dst, k); break;
    case GGML_Q4_K: q4_k.dequantizeRow(src, dst, k); break;
    case GGML_Q5_K: q5_k.dequantizeRow(src, dst, k); break;
    case GGML_Q6_K: q6_k.dequantizeRow(src, dst, k); break;
    case GGML_Q8_K: q8_k.dequantizeRow(src, dst, k); break;
    default: return false;
  }
  return true;
}

// The products' layout of a weight matrix: the file's, except for a Q4_0 matrix whose rows are
// a multiple of 8, which the products take with its rows interleaved four at a time
// (llm/quant/q4_0.ts interleave). The engine rewrites each such matrix once, when it loads a
// model (llm/model.ts Model.toProductLayout); a row range of it starts and ends at multiples of 8.

/** Whether the products take a wType matrix of `rows` rows in another layout than the file's. */
export function interleavedLayout(wType: u32, rows: i32): bool { return wType == GGML_Q4_0 && q4_0.interleaved(rows); }

/** Bytes of work toProductLayout needs for rows of k. */
export function productLayoutWorkBytes(wType: u32, k: i32): usize { return wType == GGML_Q4_0 ? q4_0.interleaveWorkBytes(k) : 0; }

/** Rewrites a matrix read from a file (rows of k at w) into the layout the products take, in
 *  place, where that differs (interleavedLayout); work: productLayoutWorkBytes. Whether it did. */
export function toProductLayout(w: usize, wType: u32, rows: i32, k: i32, work: usize): bool {
  if (!interleavedLayout(wType, rows)) return false;
  q4_0.interleave(w, rows, k, work);
  return true;
}

/** Row r of a matrix (rows of k, rowBytes each, at w) as f32, in either layout (embedding
 *  lookups; interleaved: toProductLayout rewrote it). False for an unknown type or bad k. */
export function dequantizeMatrixRow(w: usize, wType: u32, rowBytes: usize, interleaved: bool, r: i32, dst: usize, k: i32): bool {
  if (!interleaved) return dequantizeRow(w + <usize>r * rowBytes, wType, dst, k);
  if (wType != GGML_Q4_0 || k <= 0 || k % 32 != 0) return false;
  q4_0.dequantizeInterleavedRow(w, rowBytes, r, dst, k);
  return true;
}

/** Reference quantizers (ggml's quantize_row_*_ref) for writing weights: n f32 at src to
 *  rowBytes(type, n) bytes at dst. False for a type without one here or a bad n. */
export function quantizeRow(src: usize, type: u32, dst: usize, n: i32): bool {
  if (n <= 0 || rowBytes(type, <u64>n) == 0) return false;
  switch (type) {
    case GGML_F32: memory.copy(dst, src, <usize>n << 2); break;
    case GGML_F16: f16q.quantizeRow(src, dst, n); break;
    case GGML_BF16: bf16q.quantizeRow(src, dst, n); break;
    case GGML_Q4_0: q4_0.quantizeRow(src, dst, n); break;
    case GGML_Q4_1: q4_1.quantizeRow(src, dst, n); break;
    case GGML_Q5_0: q5_0.quantizeRow(src, dst, n); break;
    case GGML_Q5_1: q5_1.quantizeRow(src, dst, n); break;
    case GGML_Q8_0: q8_0.quantizeRow(src, dst, n); break;
    case GGML_Q8_1: q8_1.quantizeRow(src, dst, n); break;
    case GGML_Q4_K: q4_k.quantizeRow(src, dst, n); break;
    case GGML_Q5_K: q5_k.quantizeRow(src, dst, n); break;
    case GGML_Q6_K: q6_k.quantizeRow(src, dst, n); break;
    case GGML_Q8_K: q8_k.quantizeRow(src, dst, n); break;
    default: return false;
  }
  return true;
}

// Approximate products with an error bound, for the output head (llm/sampler.ts
// sampleBounded): the sampler needs exact logits only for the rows that can still win, and
// the bound tells which those are. Q8_0 only for now.

/** Whether approxMatvec and approxBound exist for weights of wType. */
export function hasApprox(wType: u32): bool { return wType == GGML_Q8_0; }

/** The largest scale magnitude over all of W's blocks, which approxTable and approxBound need
 *  (infinity for a type without approximations or a matrix with an infinite or NaN scale). */
export function weightScaleMax(w: usize, wType: u32, k: i32, rows: i32): f32 {
  if (!hasApprox(wType) || activationBytes(wType, k) == 0) return Infinity;
  return q8_0.scaleMax(w, <usize>rowBytes(wType, <u64>k), rows, k);
}

/** Bytes of the table approxMatvec reads for W (0: none, for a type without approximations). */
export function approxTableBytes(wType: u32, k: i32, rows: i32): usize {
  if (!hasApprox(wType) || activationBytes(wType, k) == 0 || rows <= 0) return 0;
  return q8_0.approxTableBytes(rows, k);
}

/** Makes W's approxTable at dst (approxTableBytes) from its scales, at most scaleMax in magnitude
 *  (weightScaleMax; finite). False (nothing written) when W's type has none. */
export function approxTable(w: usize, wType: u32, k: i32, rows: i32, scaleMax: f32, dst: usize): bool {
  if (approxTableBytes(wType, k, rows) == 0 || !isFinite(scaleMax)) return false;
  q8_0.approxTable(w, <usize>rowBytes(wType, <u64>k), rows, k, scaleMax, dst);
  return true;
}

/** out[r] ~ W[r,:]·x for r in [rowStart, rowEnd), each within approxBound of matvec's result,
 *  with W's approxTable made for scaleMax. rowStart is a multiple of 4. False (nothing written)
 *  when wType has none. */
export function approxMatvec(out: usize, w: usize, wType: u32, xq: usize, k: i32, rowStart: i32, rowEnd: i32, table: usize, scaleMax: f32): bool {
  if (!hasApprox(wType) || activationBytes(wType, k) == 0 || (rowStart & 3) != 0) return false;
  if (rowEnd <= rowStart) return true;
  q8_0.approxGemv(out, w, <usize>rowBytes(wType, <u64>k), rowStart, rowEnd, xq, k, table, scaleMax);
  return true;
}

/** The largest |approxMatvec - matvec| over rows whose scales are at most scaleMax
 *  (weightScaleMax), for the activations xq; infinity when nothing can be bounded. */
export function approxBound(wType: u32, scaleMax: f32, xq: usize, k: i32): f64 {
  if (!hasApprox(wType) || activationBytes(wType, k) == 0) return Infinity;
  return q8_0.approxBound(scaleMax, xq, k);
}
