// F16: IEEE binary16, the GGUF type 1. Conversions are bit-exact with ggml's reference
// (ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16): round to nearest even,
// overflow to infinity, NaN to 0x7e00 (sign kept); NaN halves widen to quiet NaNs with
// their payload, as the x86 build of ggml produces them.
//
// Products with F16 weights: ggml's CPU backend rounds the activations to F16 (vec_dot_type
// of F16 is F16) and its reference ggml_vec_dot_f16 sums the f32 products in double. A
// product of two halves is exact in f32, and every half is a multiple of 2^-24, so the
// double sum is exact (hence independent of order) while partial sums stay below 32 in
// magnitude; beyond that it differs from ggml's sequential double sum only in the last
// bits of a double. The activation format used here is therefore f32[k] holding values
// already rounded to F16 (same numbers as ggml's F16 row, no conversion in the hot loop).
import { addProductsF64, floatGemm } from "./common";

/** Half (low 16 bits of h) to f32. */
export function f16ToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const em = h & 0x7fff;
  if (em < 0x0400) return reinterpret<f32>(sign | reinterpret<u32>(<f32>em * <f32>5.9604644775390625e-8)); // em * 2^-24, exact
  if (em < 0x7c00) return reinterpret<f32>(sign | ((em << 13) + 0x38000000));
  return reinterpret<f32>(sign | 0x7f800000 | ((em & 0x3ff) << 13) | (em > 0x7c00 ? 0x400000 : 0));
}

/** f32 to half bits, round to nearest even. */
export function f32ToF16(f: f32): u32 {
  const b = reinterpret<u32>(f);
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;           // NaN
  if (a >= 0x477ff000) return sign | 0x7c00;           // >= 65520 rounds to infinity
  if (a >= 0x38800000) {                               // normal half: drop 13 mantissa bits, ties to even
    const r = a + 0xfff + ((a >>> 13) & 1);
    return sign | ((r - 0x38000000) >>> 13);
  }
  // Subnormal half or zero: adding 0.5 makes the FPU round |f| to a multiple of 2^-24.
  return sign | (reinterpret<u32>(reinterpret<f32>(a) + <f32>0.5) - 0x3f000000);
}

/** f32 -> nearest half -> f32. */
// @ts-ignore: decorator
@inline export function roundF16(f: f32): f32 {
  return f16ToF32(f32ToF16(f));
}

/** Four halves (one per i32 lane, low 16 bits) to f32x4, same results as f16ToF32. */
// @ts-ignore: decorator
@inline export function f16x4ToF32x4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const e13 = i32x4.shl(em, 13);
  // Normal and subnormal halves: scaling the shifted bits by 2^112 is exact.
  const fin = f32x4.mul(e13, f32x4.splat(reinterpret<f32>(0x77800000)));
  const special = i32x4.gt_s(em, i32x4.splat(0x7bff));
  const quiet = v128.and(i32x4.gt_s(em, i32x4.splat(0x7c00)), i32x4.splat(0x400000));
  const spec = v128.or(v128.or(e13, i32x4.splat(0x7f800000)), quiet);
  return v128.or(v128.bitselect(spec, fin, special), sign);
}

/** Whether any of eight halves is an infinity or NaN (exponent all ones). */
// @ts-ignore: decorator
@inline export function hasSpecial(h: v128): bool {
  return v128.any_true(i16x8.eq(v128.and(h, i16x8.splat(0x7c00)), i16x8.splat(0x7c00)));
}

/** Low / high four of eight finite halves to f32x4: the sign-extended bits shifted into f32
 *  position (sign copies masked off) and scaled by 2^112, exact for normals and subnormals. */
// @ts-ignore: decorator
@inline export function finiteLo(h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), i32x4.splat(0x8fffe000)), f32x4.splat(reinterpret<f32>(0x77800000)));
}
// @ts-ignore: decorator
@inline export function finiteHi(h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(h), 13), i32x4.splat(0x8fffe000)), f32x4.splat(reinterpret<f32>(0x77800000)));
}
// @ts-ignore: decorator
@inline export function halvesLo(h: v128, special: bool): v128 {
  return special ? f16x4ToF32x4(i32x4.extend_low_i16x8_u(h)) : finiteLo(h);
}
// @ts-ignore: decorator
@inline export function halvesHi(h: v128, special: bool): v128 {
  return special ? f16x4ToF32x4(i32x4.extend_high_i16x8_u(h)) : finiteHi(h);
}

/** n halves at src -> n f32 at dst. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const sp = hasSpecial(h);
    v128.store(dst + (<usize>i << 2), halvesLo(h, sp));
    v128.store(dst + (<usize>i << 2), halvesHi(h, sp), 16);
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), f16ToF32(load<u16>(src + (<usize>i << 1))));
}

/** n f32 at src -> n halves at dst (ggml_fp32_to_fp16_row). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(dst + (<usize>i << 1), <u16>f32ToF16(load<f32>(src + (<usize>i << 2))));
}

/** Activations for F16 weights: f32[n] rounded through F16 (see the header). */
export function quantizeActivations(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), roundF16(load<f32>(src + (<usize>i << 2))));
}

/** Reference dot product, one row: sequential double sum like ggml_vec_dot_f16 (scalar). */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  let s: f64 = 0;
  for (let i = 0; i < k; i++) {
    s += <f64>(f16ToF32(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2)));
  }
  return <f32>s;
}

/** Tail and final reduction shared by the kernels. */
// @ts-ignore: decorator
@inline function finish(acc: v128, w: usize, x: usize, i: i32, k: i32): f32 {
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < k; i++) s += <f64>(f16ToF32(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2)));
  return <f32>s;
}

/** One weight row against one activation row. */
export function dot(w: usize, x: usize, k: i32): f32 {
  // Same accumulation structure as dot1x4, so matmul and matvec agree bit for bit.
  let a = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const xp = x + (<usize>i << 2);
    const sp = hasSpecial(h);
    a = addProductsF64(addProductsF64(a, f32x4.mul(halvesLo(h, sp), v128.load(xp))), f32x4.mul(halvesHi(h, sp), v128.load(xp, 16)));
  }
  return finish(a, w, x, i, k);
}

/** One weight row against four activation rows (the weights are widened once). */
function dot1x4(out: usize, os: usize, w: usize, x: usize, xs: usize, k: i32): void {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
  let i = 0;
  const x1 = x + xs, x2 = x1 + xs, x3 = x2 + xs;
  for (; i + 8 <= k; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const sp = hasSpecial(h);
    const lo = halvesLo(h, sp), hi = halvesHi(h, sp);
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
