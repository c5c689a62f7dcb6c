import { cpu_has_dot, i32x4_dot_i8x16 } from "../../kernel/platform";
// Small exact helpers shared by the quant formats. Everything here reproduces a C idiom
// of ggml's reference code bit for bit, so the callers can stay literal translations.

/** ggml's nearest_int(): adds 1.5*2^23 so the FPU rounds to an integer (ties to even),
 *  then reads the integer back out of the mantissa. Valid for |v| <= 4194303 like ggml's. */
// @ts-ignore: decorator
@inline export function nearestInt(v: f32): i32 {
  const t = v + <f32>12582912.0;
  return (reinterpret<i32>(t) & 0x007fffff) - 0x00400000;
}

/** C's roundf(): to nearest, ties away from zero (Mathf.round rounds ties up, not away). */
// @ts-ignore: decorator
@inline export function roundAway(v: f32): f32 {
  const t = Mathf.trunc(v);
  // v - t is exact for every f32, so the comparison decides the tie exactly.
  return Mathf.abs(v - t) >= <f32>0.5 ? t + copysign<f32>(1.0, v) : t;
}

/** [sum(a), sum(b), sum(c), sum(d)] of four i32x4 vectors (a 4x4 transpose-and-add). */
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7)); // a0+a2 b0+b2 a1+a3 b1+b3
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** Horizontal sum of an i32x4. */
// @ts-ignore: decorator
@inline export function hsum(a: v128): i32 {
  const s = i32x4.add(a, i32x4.shuffle(a, a, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/** Integer dot product of 32 pairs of 4-bit weights (|a| <= 15) and int8 activations as four
 *  partial sums: four products fit one i16 lane, one widening step. */
// @ts-ignore: decorator
@inline export function dot32x4(a0: v128, a1: v128, b0: v128, b1: v128): v128 {
  const s = i16x8.add(
    i16x8.add(i16x8.extmul_low_i8x16_s(a0, b0), i16x8.extmul_high_i8x16_s(a0, b0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(a1, b1), i16x8.extmul_high_i8x16_s(a1, b1)));
  return widenPairs(s);
}

// ---------------------------------------------------------------------------------------------
// Helpers of the Q4_0/Q8_0/Q6_K SIMD kernels. Products are formed with i16x8.mul on values laid out
// in i16 lanes by byte parity (lane m of evens(v) is byte 2m of v sign-extended, of odds(v) byte
// 2m+1): no byte shuffles, no i8 shifts (V8 emulates those on x64), and no i32x4.dot_i16x8_s or
// extmul, which wasm2c + SIMDe turn into smull/smull2(+addp) that QEMU's TCG runs slowly. Each op
// used is one instruction on x64 and on NEON. Right shifts are register shifts (neg + sshl/ushl)
// in SIMDe's NEON code; see docs/BENCHMARKS.md for the build change that makes them immediates.

/** Bytes 0, 2, 4, ..., 14 of v sign-extended to i16. */
// @ts-ignore: decorator
@inline export function evens(v: v128): v128 { return i16x8.shr_s(i16x8.shl(v, 8), 8); }

/** Bytes 1, 3, 5, ..., 15 of v sign-extended to i16. */
// @ts-ignore: decorator
@inline export function odds(v: v128): v128 { return i16x8.shr_s(v, 8); }

// Code shaped for a JIT. A few kernels add stores into their own output that keep V8 from
// hoisting every load of an iteration to its top (it then runs out of registers), and reads of
// one word per cache line of the weights two tiles ahead (wasm has no prefetch instruction).
// Code compiled ahead of time (wasm2c + clang: the kernel, SIS_AOT = 1, set by
// tools/lib/asbuild.mjs) needs neither, and under QEMU's TCG every memory access costs a
// software TLB lookup: there they compile to nothing.

// Arm's integer dot product (SDOT): four int8 products summed into each i32 lane in one
// instruction, where the portable code needs seven (sign extensions, multiplies, pairwise
// adds). Only the kernel's module has it (SIS_NATIVE_DOT = 1, set by tools/lib/asbuild.mjs for
// the kernel's build; the shim provides the import) and only on a CPU that has it. The sums are
// integers, so either way gives the same bits.
export const NATIVE_DOT: bool = SIS_NATIVE_DOT ? cpu_has_dot() : false;

/** c + per i32 lane l the sum of the products of int8 lanes 4l..4l+3 of a and b: SDOT. Only
 *  where NATIVE_DOT is true. */
// @ts-ignore: decorator
@inline export function dot4Native(a: v128, b: v128, c: v128): v128 {
  return SIS_NATIVE_DOT ? i32x4_dot_i8x16(a, b, c) : c;
}

/** v stored at p, for V8's sake only (see above). */
// @ts-ignore: decorator
@inline export function orderingStore(p: usize, v: v128): void { if (!SIS_AOT) v128.store(p, v); }

/** The word at p, read only to bring its cache line in early (see above); 0 when compiled
 *  ahead of time. Callers fold it into a value they test, so that the read is kept. */
// @ts-ignore: decorator
@inline export function prefetchRead(p: usize): u32 { return SIS_AOT ? 0 : load<u32>(p); }

/** Read-only vector constants for the kernels (16 bytes each, at the offsets below). V8 rebuilds
 *  a v128.const at every use inside a loop (three instructions); a value loaded from here before
 *  the loop stays in a register or costs one load. Read-only, so no state is shared. */
export const VK: usize = memory.data<u32>([
  0x8fffe000, 0x8fffe000, 0x8fffe000, 0x8fffe000, // K_HMASK: sign + half bits << 13 (see halvesFast)
  0x77800000, 0x77800000, 0x77800000, 0x77800000, // K_H2F: 2^112 as f32
  0x000f000f, 0x000f000f, 0x000f000f, 0x000f000f, // K_N0: bits 0-3 of each i16 lane
  0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, // K_LO4: low nibble of each byte
  0x30303030, 0x30303030, 0x30303030, 0x30303030, // K_B45: bits 4-5 of each byte
  0x20202020, 0x20202020, 0x20202020, 0x20202020, // K_32: 32 in each byte
], 16);
export const K_HMASK: usize = 0, K_H2F: usize = 16, K_N0: usize = 32, K_LO4: usize = 48, K_B45: usize = 64, K_32: usize = 80;

/** Halves sign-extended to i32 lanes -> f32, exact for every finite half (normal or subnormal:
 *  the bits moved into f32 position and scaled by 2^112). An infinity stays infinite, but a NaN
 *  half comes out infinite: callers check their results with nonFinite() and recompute with the
 *  exact path (a NaN or infinite scale always makes the result non-finite). */
// @ts-ignore: decorator
@inline export function halvesFast(h32: v128, hmask: v128, h2f: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(h32, 13), hmask), h2f);
}

/** Four halves at p0..p3 (u16) -> f32x4 by halvesFast. */
// @ts-ignore: decorator
@inline export function halves4(p0: usize, p1: usize, p2: usize, p3: usize, hmask: v128, h2f: v128): v128 {
  let h = v128.load16_splat(p0);
  h = v128.load16_lane(p1, h, 1);
  h = v128.load16_lane(p2, h, 2);
  h = v128.load16_lane(p3, h, 3);
  return halvesFast(i32x4.extend_low_i16x8_s(h), hmask, h2f);
}

/** The half at p in all four lanes, by halvesFast. */
// @ts-ignore: decorator
@inline export function halfSplat(p: usize, hmask: v128, h2f: v128): v128 {
  return halvesFast(i32x4.extend_low_i16x8_s(v128.load16_splat(p)), hmask, h2f);
}

/** All-ones lanes where f32x4 v is infinite or NaN (integer ops: under QEMU's TCG every float
 *  op is a library call). */
// @ts-ignore: decorator
@inline export function nonFiniteLanes(v: v128): v128 {
  const e = i32x4.splat(0x7f800000);
  return i32x4.eq(v128.and(v, e), e);
}

/** Whether any lane of f32x4 v is infinite or NaN. */
// @ts-ignore: decorator
@inline export function nonFinite(v: v128): bool { return v128.any_true(nonFiniteLanes(v)); }

/** Whether any lane of eight f32x4 accumulators is infinite or NaN. */
// @ts-ignore: decorator
@inline export function nonFinite8(c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, c7: v128): bool {
  return v128.any_true(v128.or(
    v128.or(v128.or(nonFiniteLanes(c0), nonFiniteLanes(c1)), v128.or(nonFiniteLanes(c2), nonFiniteLanes(c3))),
    v128.or(v128.or(nonFiniteLanes(c4), nonFiniteLanes(c5)), v128.or(nonFiniteLanes(c6), nonFiniteLanes(c7)))));
}

/** i32 lanes, each the sum of its two i16 halves: extadd_pairwise, which TCG runs as a helper
 *  call (~5 ns), as four inline shifts and adds when compiled ahead of time. */
// @ts-ignore: decorator
@inline export function widenPairs(v: v128): v128 {
  return SIS_AOT ? i32x4.add(i32x4.shr_s(v, 16), i32x4.shr_s(i32x4.shl(v, 16), 16)) : i32x4.extadd_pairwise_i16x8_s(v);
}

/** i32x4.dot_i16x8_s(a, b): lane j = a[2j]*b[2j] + a[2j+1]*b[2j+1]. TCG runs its widening
 *  multiplies and pairwise add as library calls (~17 ns); compiled ahead of time, the same
 *  sums by sign-extending shifts, i32 multiplies and adds (the same wrap-around). */
// @ts-ignore: decorator
@inline export function dotPairs(a: v128, b: v128): v128 {
  if (!SIS_AOT) return i32x4.dot_i16x8_s(a, b);
  const ae = i32x4.shr_s(i32x4.shl(a, 16), 16), ao = i32x4.shr_s(a, 16);
  const be = i32x4.shr_s(i32x4.shl(b, 16), 16), bo = i32x4.shr_s(b, 16);
  return i32x4.add(i32x4.mul(ae, be), i32x4.mul(ao, bo));
}

/** [s, s, s, s] for s the sum of the four i32 lanes of v. */
// @ts-ignore: decorator
@inline export function hsumSplat(v: v128): v128 {
  const t = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.add(t, i32x4.shuffle(t, t, 1, 0, 3, 2));
}

// ---- shared by the float formats (F32, F16, BF16) ----

/** Adds the four f32 products in p to a two-lane f64 accumulator (ggml sums these in double). */
// @ts-ignore: decorator
@inline export function addProductsF64(acc: v128, p: v128): v128 {
  return f64x2.add(acc, f64x2.add(f64x2.promote_low_f32x4(p), f64x2.promote_low_f32x4(i32x4.shuffle(p, p, 2, 3, 0, 1))));
}

/** One weight row against four activation rows: out, out+os, out+2os, out+3os. */
export type FloatDot1x4 = (out: usize, os: usize, w: usize, x: usize, xs: usize, k: i32) => void;
/** One weight row against one activation row. */
export type FloatDot = (w: usize, x: usize, k: i32) => f32;

/**
 * out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt, with a format's dot kernels.
 * Strides in bytes except outStride (floats).
 */
export function floatGemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                          dot1x4: FloatDot1x4, dot: FloatDot): void {
  const os = <usize>outStride << 2;
  for (let r = 0; r < nr; r++) {
    const wr = w + <usize>r * wStride;
    const o = out + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= nt; t += 4) dot1x4(o + <usize>t * os, os, wr, x + <usize>t * xStride, xStride, k);
    for (; t < nt; t++) store<f32>(o + <usize>t * os, dot(wr, x + <usize>t * xStride, k));
  }
}

// ---- the 8-row tiled driver (Q4_0: the rows after its 32-row tiles) ----

/** Eight weight rows (wStride bytes apart) against one activation row: out[0..8). */
export type Tile8 = (out: usize, w: usize, wStride: usize, x: usize, k: i32) => void;
/** Up to four weight rows against one activation row: out[0..rows). */
export type Tile4 = (out: usize, w: usize, wStride: usize, rows: i32, x: usize, k: i32) => void;

/**
 * out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 * (floats). Eight rows at a time for every token while those rows' weights are in the cache.
 */
export function tiledGemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                          tile8: Tile8, tile4: Tile4): void {
  const os = <usize>outStride << 2;
  let r = 0;
  for (; r + 8 <= nr; r += 8) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) tile8(o + <usize>t * os, wr, wStride, x + <usize>t * xStride, k);
  }
  for (; r < nr; r += 4) {
    const rows = min(4, nr - r);
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) tile4(o + <usize>t * os, wr, wStride, rows, x + <usize>t * xStride, k);
  }
}

/** ggml's hsum_float_8 of eight f32 lanes (an __m256 as lo = lanes 0-3, hi = lanes 4-7):
 *  ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the order every x86 kernel ends its lanes with. */
// @ts-ignore: decorator
@inline export function hsumFloat8(lo: v128, hi: v128): f32 {
  const r = f32x4.add(hi, lo);
  return (f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 2)) + (f32x4.extract_lane(r, 1) + f32x4.extract_lane(r, 3));
}

/** Four halves at p0..p3 (u16) in one u64, gathered with integer ops (off the vector pipes). */
// @ts-ignore: decorator
@inline export function gather4Halves(p0: usize, p1: usize, p2: usize, p3: usize): u64 {
  return <u64>load<u16>(p0) | (<u64>load<u16>(p1) << 16) | (<u64>load<u16>(p2) << 32) | (<u64>load<u16>(p3) << 48);
}

/** Four halves (gather4Halves) as f32 times 2^-112: halvesFast without its final scaling, so
 *  that times halfRaised(y) it gives the f32 product of the two halves (x86's d = dx*dy), one
 *  rounding, in one multiply. */
// @ts-ignore: decorator
@inline export function halvesRawOf(h: u64, hmask: v128): v128 {
  return v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(i64x2.splat(h)), 13), hmask);
}

/** Bit 15 of a 16-bit lane of the result is set iff that half of h (gather4Halves) is infinite
 *  or NaN (exponent 31): the exponent bits plus one exponent step carry into bit 15 only then. */
// @ts-ignore: decorator
@inline export function specialHalves(h: u64): u64 {
  return (h & 0x7c007c007c007c00) + 0x0400040004000400;
}

// The scales' product d = dx*dy by integer ops, for code compiled ahead of time. Two normal
// halves have 11-bit significands, so their product (22 bits) is exact in f32: any correct way
// of putting it together gives the bits of the one f32 multiply x86 does. Under QEMU's TCG that
// multiply costs ~7 ns a lane (a library call); the eight integer ops of scaleProducts, about
// 1 ns each for four lanes. Zero, subnormal, infinite and NaN halves are left to the callers'
// exact paths (unusualHalves, UNUSUAL_SCALE).

/** Bit 15 of a 16-bit lane of the result is set iff that half of h (gather4Halves) is zero,
 *  subnormal, infinite or NaN (exponent 0 or 31); no other bit is. */
// @ts-ignore: decorator
@inline export function unusualHalves(h: u64): u64 {
  const e = h & 0x7c007c007c007c00;
  return ((e + 0x0400040004000400) | ~(e + 0x7c007c007c007c00)) & 0x8000800080008000;
}

/** Four halves (gather4Halves) as scaleProducts' first factor: their significands times 4. */
// @ts-ignore: decorator
@inline export function halfSignificands4(h: u64): v128 {
  const v = i32x4.extend_low_i16x8_u(i64x2.splat(h));
  return i32x4.shl(v128.or(v128.and(v, i32x4.splat(0x3ff)), i32x4.splat(0x400)), 2);
}

/** Four halves (gather4Halves) with their sign and exponent fields in an f32's places. */
// @ts-ignore: decorator
@inline export function halfExponents4(h: u64): v128 {
  const v = i32x4.extend_low_i16x8_u(i64x2.splat(h));
  return v128.or(i32x4.shl(v128.and(v, i32x4.splat(0x7c00)), 13), i32x4.shl(v128.and(v, i32x4.splat(0x8000)), 16));
}

/** halfExponentBiased's answer for a zero, subnormal, infinite or NaN half (a bit no normal
 *  half's answer has). */
export const UNUSUAL_SCALE: i32 = 1 << 30;

/** The significand of the normal half h (scaleProducts' second factor). */
// @ts-ignore: decorator
@inline export function halfSignificand(h: i32): i32 { return (h & 0x3ff) | 0x400; }

/** The half h's sign and exponent fields in an f32's places, with the bias scaleProducts needs
 *  (96: f32's 127, less twice the half's 15 and the significands' 10 bits, plus the 2 bits
 *  halfSignificands4 shifts in); UNUSUAL_SCALE for a zero, subnormal, infinite or NaN half. */
// @ts-ignore: decorator
@inline export function halfExponentBiased(h: i32): i32 {
  const e = h & 0x7c00;
  return e == 0 || e == 0x7c00 ? UNUSUAL_SCALE : (((e + (96 << 10)) << 13) | ((h & 0x8000) << 16));
}

/** dx*dy (f32x4) for four normal halves dx (mx4 = halfSignificands4, ex = halfExponents4) and
 *  a normal half dy (my = halfSignificand, ey = halfExponentBiased, both splat). */
// @ts-ignore: decorator
@inline export function scaleProducts(mx4: v128, ex: v128, my: v128, ey: v128): v128 {
  const g = i32x4.mul(mx4, my);                    // 4*mx*my: in [2^22, 2^24)
  const top = v128.and(g, i32x4.splat(0x800000));   // 2^23 when the product is in the upper binade
  // significand at bits 0..23 (its leading bit, 2^23, adds one to the exponent field: the
  // bias allows for it), the lower binade's doubled; then the binade, sign and exponents
  const s = i32x4.add(g, v128.and(g, i32x4.eq(top, i32x4.splat(0))));
  return i32x4.add(i32x4.add(s, top), i32x4.add(ex, ey));
}

/** The half at p as f32 times 2^112 (exact: below 2^128 for every finite half; the
 *  halvesFast value of a NaN or infinite half, 2^16 or more, overflows to infinity here, which
 *  sends the callers to their exact path). A normal half's is put together by integer ops (its
 *  exponent rebiased by 15 + 112), the others' by two multiplies: under QEMU's TCG a float
 *  multiply is a library call, and this runs once per block of the products. */
// @ts-ignore: decorator
@inline export function halfRaised(p: usize): f32 {
  const h = <i32>load<u16>(p), e = h & 0x7c00;
  if (e != 0 && e != 0x7c00) return reinterpret<f32>(((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x70000000));
  return reinterpret<f32>((<i32><i16>h << 13) & 0x8fffe000) * <f32>5.192296858534828e33 * <f32>5.192296858534828e33;
}

// The reference quantizers' block statistics (ggml's quantize_row_*_ref loops).

/** The value of largest magnitude among the n floats at x, the first of equals (Q4_0, Q5_0:
 *  the scale is that value over the most negative level). */
export function largestMagnitude(x: usize, n: i32): f32 {
  let amax: f32 = 0, max: f32 = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (amax < Mathf.abs(v)) { amax = Mathf.abs(v); max = v; }
  }
  return max;
}

/** The smallest of the n floats at x (Q4_1, Q5_1: the block's offset m). */
export function blockMin(x: usize, n: i32): f32 {
  let mn = F32.MAX_VALUE;
  for (let j = 0; j < n; j++) { const v = load<f32>(x + (<usize>j << 2)); if (v < mn) mn = v; }
  return mn;
}

/** The largest of the n floats at x. */
export function blockMax(x: usize, n: i32): f32 {
  let mx = -F32.MAX_VALUE;
  for (let j = 0; j < n; j++) { const v = load<f32>(x + (<usize>j << 2)); if (v > mx) mx = v; }
  return mx;
}
