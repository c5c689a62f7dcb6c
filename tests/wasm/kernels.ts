// Test entry: llm/kernels (matrix products by weight type, f32 vector helpers).
export { allocRegion, freeRegion } from "../../kernel/memory/regions";
export { ACT_NONE, activationType, activationBytes, quantizeActivations, dequantizeRow, quantizeRow, hasApprox, weightScaleMax, approxTableBytes, approxTable, approxMatvec, approxBound, productWorkBytes } from "../../llm/kernels/matmul";
export { interleavedLayout, dequantizeMatrixRow } from "../../llm/kernels/matmul";
import { matvec as matvecWith, matmul as matmulWith, productWorkBytes, preparedBytes, prepareActivations, productLayoutWorkBytes,
  toProductLayout as toProductLayoutWith } from "../../llm/kernels/matmul";

/** Weights in the file's layout (as the tests write them) rewritten into the products' layout,
 *  in place, as the engine does at load; the products below take them so. */
export function toProductLayout(w: usize, wType: u32, rows: i32, k: i32): bool {
  const work = heap.alloc(max<usize>(1, productLayoutWorkBytes(wType, k)));
  const done = toProductLayoutWith(w, wType, rows, k, work);
  heap.free(work);
  return done;
}

// The products with a work buffer of the size the engine plans (Scratch), taken here per call.
export function matvec(out: usize, w: usize, wType: u32, xq: usize, k: i32, rows: i32, rowStart: i32, rowEnd: i32): bool {
  const work = heap.alloc(max<usize>(1, productWorkBytes(wType, k, 1)));
  const ok = matvecWith(out, w, wType, xq, k, rows, rowStart, rowEnd, work);
  heap.free(work);
  return ok;
}
export function matmul(out: usize, w: usize, wType: u32, xq: usize, n: i32, k: i32, rows: i32, rowStart: i32, rowEnd: i32): bool {
  // and the activations prepared once, as llm/products.ts does for the kernels that take them
  const work = heap.alloc(max<usize>(1, productWorkBytes(wType, k, n)));
  const prep = heap.alloc(max<usize>(1, preparedBytes(wType, k, n)));
  const ok = matmulWith(out, w, wType, xq, n, k, rows, rowStart, rowEnd, work,
    prepareActivations(wType, rows, xq, n, k, prep) ? prep : 0);
  heap.free(work);
  heap.free(prep);
  return ok;
}
export { rmsnorm, rmsnormMul, mul, add, argmax, swiglu, geglu, prepareGelu } from "../../llm/kernels/vector";
/** F16 weights: the single-row order (ggml_vec_dot_f16, AVX2) and the batched one (tinyBLAS). */
export { dotBatched as f16DotBatched, dot as f16Dot } from "../../llm/quant/f16";
/** Q4_K in llama.cpp's repacked kernels' orders (gemm's when the flag is set, else gemv's), scalar. */
export { dotRepackedScalar as q4kRepacked } from "../../llm/quant/q4_k";
import { expAvx2 } from "../../llm/math/exp";

/** Mathf.exp over a row (the scalar tail of silu/softmax), to compare with the C library's expf. */
export function expfRow(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), Mathf.exp(load<f32>(src + (<usize>i << 2))));
}

/** ggml's AVX2 exp (llm/math/exp.ts, swiglu's sigmoid) over a row. */
export function expAvx2Row(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), expAvx2(load<f32>(src + (<usize>i << 2))));
}
