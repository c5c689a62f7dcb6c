// Test entry: the quant formats one by one (reference quantizers, dequantizers, scalar and
// SIMD dot products) plus the region allocator for buffers.
export { allocRegion, freeRegion } from "../../kernel/memory/regions";
export { f16ToF32, f32ToF16 } from "../../llm/quant/f16";
export { bf16ToF32, f32ToBf16 } from "../../llm/quant/bf16";
import * as f32q from "../../llm/quant/f32";
import * as f16q from "../../llm/quant/f16";
import * as bf16q from "../../llm/quant/bf16";
import * as q4_0 from "../../llm/quant/q4_0";
import * as q4_1 from "../../llm/quant/q4_1";
import * as q5_0 from "../../llm/quant/q5_0";
import * as q5_1 from "../../llm/quant/q5_1";
import * as q8_0 from "../../llm/quant/q8_0";
import * as q8_1 from "../../llm/quant/q8_1";
import * as q4_k from "../../llm/quant/q4_k";
import * as q5_k from "../../llm/quant/q5_k";
import * as q6_k from "../../llm/quant/q6_k";
import { splitDotWorkBytes } from "../../llm/quant/q8_k";
import * as q8_k from "../../llm/quant/q8_k";
import { f16x4ToF32x4 } from "../../llm/quant/f16";
import { GGML_F32, GGML_F16, GGML_BF16, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1, GGML_Q8_0, GGML_Q8_1, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_Q8_K } from "../../llm/tensor_types";

/** f16x4ToF32x4 over n halves (u16 at src) -> f32 at dst, to check the vector path exhaustively. */
export function f16ToF32Vec(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) v128.store(dst + (<usize>i << 2), f16x4ToF32x4(v128.load16x4_u(src + (<usize>i << 1))));
}
export function f32ToF16Row(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>f16q.f32ToF16(load<f32>(src + (<usize>i << 2))));
}
export function f32ToBf16Row(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>bf16q.f32ToBf16(load<f32>(src + (<usize>i << 2))));
}

export function quantize(type: u32, src: usize, dst: usize, n: i32): bool {
  switch (type) {
    case GGML_F16: f16q.quantizeRow(src, dst, n); return true;
    case GGML_BF16: bf16q.quantizeRow(src, dst, n); return true;
    case GGML_Q4_0: q4_0.quantizeRow(src, dst, n); return true;
    case GGML_Q4_1: q4_1.quantizeRow(src, dst, n); return true;
    case GGML_Q5_0: q5_0.quantizeRow(src, dst, n); return true;
    case GGML_Q5_1: q5_1.quantizeRow(src, dst, n); return true;
    case GGML_Q8_0: q8_0.quantizeRow(src, dst, n); return true;
    case GGML_Q8_1: q8_1.quantizeRow(src, dst, n); return true;
    case GGML_Q4_K: q4_k.quantizeRow(src, dst, n); return true;
    case GGML_Q5_K: q5_k.quantizeRow(src, dst, n); return true;
    case GGML_Q6_K: q6_k.quantizeRow(src, dst, n); return true;
    case GGML_Q8_K: q8_k.quantizeRow(src, dst, n); return true;
  }
  return false;
}

export function dequantize(type: u32, src: usize, dst: usize, n: i32): bool {
  switch (type) {
    case GGML_F32: f32q.dequantizeRow(src, dst, n); return true;
    case GGML_F16: f16q.dequantizeRow(src, dst, n); return true;
    case GGML_BF16: bf16q.dequantizeRow(src, dst, n); return true;
    case GGML_Q4_0: q4_0.dequantizeRow(src, dst, n); return true;
    case GGML_Q4_1: q4_1.dequantizeRow(src, dst, n); return true;
    case GGML_Q5_0: q5_0.dequantizeRow(src, dst, n); return true;
    case GGML_Q5_1: q5_1.dequantizeRow(src, dst, n); return true;
    case GGML_Q8_0: q8_0.dequantizeRow(src, dst, n); return true;
    case GGML_Q8_1: q8_1.dequantizeRow(src, dst, n); return true;
    case GGML_Q4_K: q4_k.dequantizeRow(src, dst, n); return true;
    case GGML_Q5_K: q5_k.dequantizeRow(src, dst, n); return true;
    case GGML_Q6_K: q6_k.dequantizeRow(src, dst, n); return true;
    case GGML_Q8_K: q8_k.dequantizeRow(src, dst, n); return true;
  }
  return false;
}

/** The scalar (literal ggml generic) dot product of one weight row with one activation row. */
export function dotScalar(type: u32, w: usize, x: usize, k: i32): f32 {
  switch (type) {
    case GGML_F32: return f32q.dotScalar(w, x, k);
    case GGML_F16: return f16q.dotScalar(w, x, k);
    case GGML_BF16: return bf16q.dotScalar(w, x, k);
    case GGML_Q4_0: return q4_0.dotScalar(w, x, k);
    case GGML_Q4_1: return q4_1.dotScalar(w, x, k);
    case GGML_Q5_0: return q5_0.dotScalar(w, x, k);
    case GGML_Q5_1: return q5_1.dotScalar(w, x, k);
    case GGML_Q8_0: return q8_0.dotScalar(w, x, k);
    case GGML_Q4_K: return q4_k.dotScalar(w, x, k);
    case GGML_Q5_K: return q5_k.dotScalar(w, x, k);
    case GGML_Q6_K: return q6_k.dotScalar(w, x, k);
  }
  return NaN;
}

/** The SIMD single-row dot product. */
export function dotSimd(type: u32, w: usize, x: usize, k: i32): f32 {
  switch (type) {
    case GGML_F32: return f32q.dot(w, x, k);
    case GGML_F16: return f16q.dot(w, x, k);
    case GGML_BF16: return bf16q.dot(w, x, k);
    case GGML_Q4_0: return q4_0.dot(w, x, k);
    case GGML_Q4_1: return q4_1.dot(w, x, k);
    case GGML_Q5_0: {
      const work = heap.alloc(<usize>(k / 32) * 34); // the test's own; the engine plans its work buffer
      const r = q5_0.dot(w, x, k, work);
      heap.free(work);
      return r;
    }
    case GGML_Q5_1: return q5_1.dot(w, x, k);
    case GGML_Q8_0: return q8_0.dot(w, x, k);
    case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: {
      const work = heap.alloc(splitDotWorkBytes(k)); // the test's own; the engine plans its work buffer
      const r = type == GGML_Q4_K ? q4_k.dot(w, x, k, work) : type == GGML_Q5_K ? q5_k.dot(w, x, k, work) : q6_k.dot(w, x, k, work);
      heap.free(work);
      return r;
    }
  }
  return NaN;
}

export { activationBytes } from "../../llm/kernels/matmul";
import { quantizeActivations } from "../../llm/kernels/matmul";
/** The activation conversion the kernels use for weights of wType (x f32[k] -> dst). */
export function activations(wType: u32, x: usize, dst: usize, k: i32): bool { return quantizeActivations(x, k, wType, dst); }

/** F16 weights, llamafile tinyBLAS's order: llama.cpp's x86 product of two or more activation
 *  rows when k % 8 == 0 (f16.ts dotBatched). */
export function dotBatchedF16(w: usize, x: usize, k: i32): f32 { return f16q.dotBatched(w, x, k); }
/** F16 weights through the kernel the engine runs: gemm picks dot or dotBatched by batchRows
 *  (the weight's rows in a batched product, else 0) and k. */
export function gemmF16(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32, batchRows: i32): void {
  f16q.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, batchRows);
}

/** The K-quants' scalar paths in llama.cpp's x86 order (ggml_vec_dot_q*_K_q8_K, AVX2, with
 *  the scalar fused multiply-add): the references of dotSimd, and the kernels' fallbacks. */
export function dotScalarX86(type: u32, w: usize, x: usize, k: i32): f32 {
  switch (type) {
    case GGML_Q4_K: return q4_k.dotScalarX86(w, x, k);
    case GGML_Q5_K: return q5_k.dotScalarX86(w, x, k);
    case GGML_Q6_K: return q6_k.dotScalarX86(w, x, k);
  }
  return NaN;
}
/** Q4_K in the repacked kernels' order (ggml_gemv/gemm_q4_K_8x8_q8_K), scalar. */
export function dotQ4KRepacked(w: usize, x: usize, k: i32, gemmOrder: bool): f32 { return q4_k.dotRepackedScalar(w, x, k, gemmOrder); }
/** The K-quants' gemm (Q4_K: matrixRows decides the repacked orders, 0 = nr). */
export function gemmK(type: u32, out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32, matrixRows: i32): void {
  const work = heap.alloc(max<usize>(1, type == GGML_Q4_K ? q4_k.gemmWorkBytes(k, nt) : type == GGML_Q5_K ? q5_k.gemmWorkBytes(k, nt) : q6_k.gemmWorkBytes(k, nt)));
  switch (type) {
    case GGML_Q4_K: q4_k.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work, matrixRows); break;
    case GGML_Q5_K: q5_k.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work); break;
    case GGML_Q6_K: q6_k.gemm(out, outStride, w, wStride, nr, x, xStride, nt, k, work); break;
  }
  heap.free(work);
}
