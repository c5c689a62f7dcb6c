// BF16: the top 16 bits of an f32 (GGUF type 30). Conversions are ggml's reference ones
// (ggml_compute_bf16_to_fp32 / ggml_compute_fp32_to_bf16): widening is a shift, narrowing
// rounds to nearest even and turns NaNs quiet.
//
// Products with BF16 weights: vec_dot_type of BF16 is BF16, so ggml rounds the activations
// to BF16, and its reference ggml_vec_dot_bf16 sums the (exact) f32 products in double.
// Activation format used here: f32[k] holding values already rounded to BF16.
import { addProductsF64, floatGemm } from "./common";

// @ts-ignore: decorator
@inline export function bf16ToF32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

export function f32ToBf16(f: f32): u32 {
  const u = reinterpret<u32>(f);
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 64; // NaN: force quiet
  return (u + (0x7fff + ((u >>> 16) & 1))) >>> 16;
}

// @ts-ignore: decorator
@inline export function roundBf16(f: f32): f32 {
  return bf16ToF32(f32ToBf16(f));
}

export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), bf16ToF32(load<u16>(src + (<usize>i << 1))));
}

export function quantizeRow(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>f32ToBf16(load<f32>(src + (<usize>i << 2))));
}

/** Activations for BF16 weights: f32[n] rounded through BF16. */
export function quantizeActivations(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), roundBf16(load<f32>(src + (<usize>i << 2))));
}

/** Reference: sequential double sum, as ggml's scalar ggml_vec_dot_bf16. */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  let s: f64 = 0;
  for (let i = 0; i < k; i++) s += <f64>(bf16ToF32(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2)));
  return <f32>s;
}

// @ts-ignore: decorator
@inline function finish(acc: v128, w: usize, x: usize, i: i32, k: i32): f32 {
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < k; i++) s += <f64>(bf16ToF32(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2)));
  return <f32>s;
}

export function dot(w: usize, x: usize, k: i32): f32 {
  let a = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const xp = x + (<usize>i << 2);
    a = addProductsF64(addProductsF64(a, f32x4.mul(i32x4.shl(i32x4.extend_low_i16x8_u(h), 16), v128.load(xp))),
      f32x4.mul(i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), v128.load(xp, 16)));
  }
  return finish(a, w, x, i, k);
}

function dot1x4(out: usize, os: usize, w: usize, x: usize, xs: usize, k: i32): void {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
  const x1 = x + xs, x2 = x1 + xs, x3 = x2 + xs;
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const lo = i32x4.shl(i32x4.extend_low_i16x8_u(h), 16);
    const hi = i32x4.shl(i32x4.extend_high_i16x8_u(h), 16);
    const o = <usize>i << 2;
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
