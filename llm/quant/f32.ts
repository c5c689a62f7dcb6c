// F32 weights (GGUF type 0). vec_dot_type of F32 is F32: the activations are used as they
// are, and ggml's reference ggml_vec_dot_f32 rounds each product to f32 and sums in double.
// Here the double sum runs in two lanes; it can differ from ggml's sequential double sum
// only by double rounding, which almost never survives the final rounding to f32.
import { addProductsF64, floatGemm } from "./common";

export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}

export function dotScalar(w: usize, x: usize, k: i32): f32 {
  let s: f64 = 0;
  for (let i = 0; i < k; i++) s += <f64>(load<f32>(w + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2)));
  return <f32>s;
}

// @ts-ignore: decorator
@inline function finish(acc: v128, w: usize, x: usize, i: i32, k: i32): f32 {
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < k; i++) s += <f64>(load<f32>(w + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2)));
  return <f32>s;
}

export function dot(w: usize, x: usize, k: i32): f32 {
  let a = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const o = <usize>i << 2;
    a = addProductsF64(addProductsF64(a, f32x4.mul(v128.load(w + o), v128.load(x + o))), f32x4.mul(v128.load(w + o, 16), v128.load(x + o, 16)));
  }
  return finish(a, w, x, i, k);
}

function dot1x4(out: usize, os: usize, w: usize, x: usize, xs: usize, k: i32): void {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
  const x1 = x + xs, x2 = x1 + xs, x3 = x2 + xs;
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const o = <usize>i << 2;
    const lo = v128.load(w + o), hi = v128.load(w + o, 16);
    a0 = addProductsF64(addProductsF64(a0, f32x4.mul(lo, v128.load(x + o))), f32x4.mul(hi, v128.load(x + o, 16)));
    a1 = addProductsF64(addProductsF64(a1, f32x4.mul(lo, v128.load(x1 + o))), f32x4.mul(hi, v128.load(x1 + o, 16)));
    a2 = addProductsF64(addProductsF64(a2, f32x4.mul(lo, v128.load(x2 + o))), f32x4.mul(hi, v128.load(x2 + o, 16)));
    a3 = addProductsF64(addProductsF64(a3, f32x4.mul(lo, v128.load(x3 + o))), f32x4.mul(hi, v128.load(x3 + o, 16)));
  }
  store<f32>(out, finish(a0, w, x, i, k));
  store<f32>(out + os, finish(a1, w, x1, i, k));
  store<f32>(out + 2 * os, finish(a2, w, x2, i, k));
  store<f32>(out + 3 * os, finish(a3, w, x3, i, k));
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride (floats). */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  floatGemm(out, outStride, w, wStride, nr, x, xStride, nt, k, dot1x4, dot);
}
