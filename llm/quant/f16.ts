// F16: IEEE binary16, the GGUF type 1. Conversions are bit-exact with ggml's reference
// (ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16): round to nearest even,
// overflow to infinity, NaN to 0x7e00 (sign kept); NaN halves widen to quiet NaNs with
// their payload, as the x86 build of ggml produces them.
//
// Products with F16 weights: ggml's CPU backend rounds the activations to F16 (vec_dot_type
// of F16 is F16), so the activation format here is f32[k] holding values already rounded to
// F16 (the same numbers as ggml's F16 row, no conversion in the hot loop). A product of two
// halves is exact in f32, so what differs between llama.cpp's kernels is the order of the f32
// additions, reproduced below for its x86 build (fused multiply-adds, as there):
// ggml_vec_dot_f16 for one activation row, llamafile's tinyBLAS for a batch. dotScalar is
// ggml's portable reference (double sum).
import { fma32x4 } from "../math/fma";
import { hsumFloat8 } from "./common";

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

// Compiled ahead of time (the kernel), conversions of normal halves go by integer ops: under
// QEMU's TCG a float op costs ~7 ns a lane (a library call), an integer vector op about 1 ns
// for all four. Zero, subnormal, infinite and NaN halves, and values that round to them, take
// the float ops as before (a branch per four or eight values).

/** Whether any of eight halves is an infinity or NaN (exponent all ones) or, compiled ahead of
 *  time, zero or subnormal (exponent 0): the halves halvesLo/Hi then convert in full. */
// @ts-ignore: decorator
@inline export function hasSpecial(h: v128): bool {
  const e = v128.and(h, i16x8.splat(0x7c00));
  const special = i16x8.eq(e, i16x8.splat(0x7c00));
  return v128.any_true(SIS_AOT ? v128.or(special, i16x8.eq(e, i16x8.splat(0))) : special);
}

/** Four normal halves (one per i32 lane, sign-extended or not) to f32x4 by integer ops: the
 *  exponent rebased from 15 to 127. */
// @ts-ignore: decorator
@inline function normalHalves(h: v128): v128 {
  return i32x4.add(v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffe000)), i32x4.splat(0x38000000));
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
  if (special) return f16x4ToF32x4(i32x4.extend_low_i16x8_u(h));
  return SIS_AOT ? normalHalves(i32x4.extend_low_i16x8_s(h)) : finiteLo(h);
}
// @ts-ignore: decorator
@inline export function halvesHi(h: v128, special: bool): v128 {
  if (special) return f16x4ToF32x4(i32x4.extend_high_i16x8_u(h));
  return SIS_AOT ? normalHalves(i32x4.extend_high_i16x8_s(h)) : finiteHi(h);
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

/** 0.5 in four f32 lanes. */
const HALVES: usize = memory.data<f32>([0.5, 0.5, 0.5, 0.5], 16);

/** Four f32 rounded to the nearest F16 value (as f32), like roundF16 for finite values. */
// @ts-ignore: decorator
@inline export function roundF16x4(x: v128): v128 {
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const sign = v128.xor(x, a);
  // normal halves: drop 13 mantissa bits, ties to even
  const r = v128.and(i32x4.add(i32x4.add(a, i32x4.splat(0xfff)), v128.and(i32x4.shr_u(a, 13), i32x4.splat(1))), i32x4.splat(0xffffe000));
  // compiled ahead of time, all four in the normal halves' range: no float op
  if (SIS_AOT && i32x4.all_true(i32x4.lt_u(i32x4.sub(a, i32x4.splat(0x38800000)), i32x4.splat(0x477ff000 - 0x38800000)))) return v128.or(sign, r);
  // subnormal halves: multiples of 2^-24, rounded by the FPU at 0.5 + |x| (the 0.5 read from
  // memory: clang cannot move that load above the branch, so the float ops stay behind it)
  const half = v128.load(HALVES);
  const sub = f32x4.sub(f32x4.add(a, half), half);
  const m = v128.bitselect(r, sub, i32x4.ge_u(a, i32x4.splat(0x38800000)));
  return v128.or(sign, v128.bitselect(i32x4.splat(0x7f800000), m, i32x4.ge_u(a, i32x4.splat(0x477ff000))));
}

/** The four halves at p as f32x4 (exact for every half). */
// @ts-ignore: decorator
@inline export function loadHalves4(p: usize): v128 {
  const h8 = v128.load64_zero(p);
  if (SIS_AOT) {
    const h = i32x4.extend_low_i16x8_s(h8), e = v128.and(h, i32x4.splat(0x7c00));
    if (!v128.any_true(v128.or(i32x4.eq(e, i32x4.splat(0)), i32x4.eq(e, i32x4.splat(0x7c00))))) return normalHalves(h);
  }
  return f16x4ToF32x4(i32x4.extend_low_i16x8_u(h8));
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

/** ggml_vec_dot_f16 as llama.cpp's x86 build runs it (AVX2; one activation row, and flash
 *  attention's q·k): four 8-lane f32 accumulators over 32 elements at a time (products of
 *  halves are exact in f32), reduced ((a0+a2)+(a1+a3)), then lanes l+4 onto l, then pairwise;
 *  the elements past the last 32 are added in double. */
export function dot(w: usize, x: usize, k: i32): f32 {
  const np = k & ~31;
  let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
  let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
  for (let i = 0; i < np; i += 32) {
    const wp = w + (<usize>i << 1), xp = x + (<usize>i << 2);
    const h0 = v128.load(wp), h1 = v128.load(wp, 16), h2 = v128.load(wp, 32), h3 = v128.load(wp, 48);
    const s0 = hasSpecial(h0), s1 = hasSpecial(h1), s2 = hasSpecial(h2), s3 = hasSpecial(h3);
    a0 = fma32x4(halvesLo(h0, s0), v128.load(xp), a0);
    b0 = fma32x4(halvesHi(h0, s0), v128.load(xp, 16), b0);
    a1 = fma32x4(halvesLo(h1, s1), v128.load(xp, 32), a1);
    b1 = fma32x4(halvesHi(h1, s1), v128.load(xp, 48), b1);
    a2 = fma32x4(halvesLo(h2, s2), v128.load(xp, 64), a2);
    b2 = fma32x4(halvesHi(h2, s2), v128.load(xp, 80), b2);
    a3 = fma32x4(halvesLo(h3, s3), v128.load(xp, 96), a3);
    b3 = fma32x4(halvesHi(h3, s3), v128.load(xp, 112), b3);
  }
  // lanes 0-3 (a) and 4-7 (b) of the four 8-lane accumulators
  const lo = f32x4.add(f32x4.add(a0, a2), f32x4.add(a1, a3));
  const hi = f32x4.add(f32x4.add(b0, b2), f32x4.add(b1, b3));
  const t = f32x4.add(hi, lo);
  let sum: f64 = <f64>((f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1)) + (f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3)));
  for (let i = np; i < k; i++) sum += <f64>(f16ToF32(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2)));
  return <f32>sum;
}

/** llamafile's tinyBLAS for F16 x F16 as llama.cpp's x86 build runs it for two or more
 *  activation rows (k % 8 == 0): eight f32 lanes, lane m sums elements m, m+8, ... in order,
 *  then ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
export function dotBatched(w: usize, x: usize, k: i32): f32 {
  let lo = f32x4.splat(0), hi = f32x4.splat(0);
  for (let i = 0; i < k; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const sp = hasSpecial(h);
    lo = fma32x4(halvesLo(h, sp), v128.load(x + (<usize>i << 2)), lo);
    hi = fma32x4(halvesHi(h, sp), v128.load(x + (<usize>i << 2), 16), hi);
  }
  return hsumFloat8(lo, hi);
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 *  (floats). batchRows: the weight's row count when llama.cpp multiplies it by a batch of two
 *  or more rows, else 0. Its tinyBLAS takes such a product when k % 8 == 0 and the row count
 *  is a multiple of 4; otherwise it falls back to ggml_vec_dot_f16, like a single row. */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32, batchRows: i32): void {
  const os = <usize>outStride << 2;
  const tiny = batchRows > 0 && (batchRows & 3) == 0 && (k & 7) == 0;
  for (let r = 0; r < nr; r++) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) {
      const xt = x + <usize>t * xStride;
      store<f32>(o + <usize>t * os, tiny ? dotBatched(wr, xt, k) : dot(wr, xt, k));
    }
  }
}
