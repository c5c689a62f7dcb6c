// Q8_0 (GGUF type 8): blocks of 32 weights, { f16 d; i8 qs[32] } = 34 bytes, x = d*q.
// Also the activation format ggml pairs with Q4_0 and Q8_0 weights (vec_dot_type Q8_0).
import { f16ToF32, f32ToF16 } from "./f16";
import { roundAway, evens, odds, VK, K_HMASK, nonFinite, fmaStep4s, fmaChainExact, absBits, gather4Halves, halvesRawOf, specialHalves, halfRaised } from "./common";
import { fma32, roundF32x2, badTie, TIE_TOP } from "../math/fma";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 34;

/** quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d) with the reciprocal taken once. */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    let amax: f32 = 0;
    for (let j = 0; j < QK; j++) amax = Mathf.max(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
    const d = amax / <f32>127.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f32ToF16(d));
    for (let j = 0; j < QK; j++) store<i8>(y + 2 + <usize>j, <i8><i32>roundAway(load<f32>(x + (<usize>j << 2)) * id));
  }
}

/** dequantize_row_q8_0: x = q*d. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b));
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < QK; j++) store<f32>(y + (<usize>j << 2), <f32>load<i8>(b + 2 + <usize>j) * d);
  }
}

/** ggml_vec_dot_q8_0_q8_0 (generic, ggml's portable reference): per block sumf += sumi*(dx*dy),
 *  blocks in order. */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * BLOCK_BYTES);
    let sumi = 0;
    for (let j = 0; j < QK; j++) sumi += <i32>load<i8>(a + 2 + <usize>j) * <i32>load<i8>(b + 2 + <usize>j);
    sumf += <f32>sumi * (f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)));
  }
  return sumf;
}

/** Stores lanes [0, nr) of v at p (rows are consecutive floats in the output). */
// @ts-ignore: decorator
@inline export function storeRows(p: usize, v: v128, nr: i32): void {
  if (nr >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (nr > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (nr > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// llama.cpp's x86 build multiplies Q8_0 weights by ggml_vec_dot_q8_0_q8_0 (AVX2) for one
// activation row and by llamafile's tinyBLAS_Q0_AVX for more; both keep eight f32 lanes per
// output, lane l summing products 4l..4l+3 of each block: lane = fma(dx*dy, lane_sum, lane),
// block after block, then ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). The integer lane sums are
// exact; the fused multiply-add is llm/math/fma.ts's.

/** i32x4 of the sums of four consecutive products of 16 int8 pairs. Products of even and odd
 *  bytes (sign-extended i16 lanes, see common.ts) summed in pairs stay within i16: weights may
 *  be -128, activations never are (2*128*127 < 2^15). */
// @ts-ignore: decorator
@inline function sum4(w: v128, y: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.mul(evens(w), evens(y)), i16x8.mul(odds(w), odds(y))));
}

/** Sum of the four products of elements 4l..4l+3 of a block (weights at a, activations at b). */
// @ts-ignore: decorator
@inline function laneSum(a: usize, b: usize, l: i32): f32 {
  const o = <usize>(2 + 4 * l);
  return <f32>(<i32>load<i8>(a + o) * <i32>load<i8>(b + o) + <i32>load<i8>(a + o + 1) * <i32>load<i8>(b + o + 1) +
    <i32>load<i8>(a + o + 2) * <i32>load<i8>(b + o + 2) + <i32>load<i8>(a + o + 3) * <i32>load<i8>(b + o + 3));
}

/** One weight row against one activation row in llama.cpp's x86 order, lane by lane with the
 *  scalar fused multiply-add: the reference for dot, and its path for the rare flagged row. */
export function dotScalarX86(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0, l4: f32 = 0, l5: f32 = 0, l6: f32 = 0, l7: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b));
    l0 = fma32(d, laneSum(a, b, 0), l0); l1 = fma32(d, laneSum(a, b, 1), l1);
    l2 = fma32(d, laneSum(a, b, 2), l2); l3 = fma32(d, laneSum(a, b, 3), l3);
    l4 = fma32(d, laneSum(a, b, 4), l4); l5 = fma32(d, laneSum(a, b, 5), l5);
    l6 = fma32(d, laneSum(a, b, 6), l6); l7 = fma32(d, laneSum(a, b, 7), l7);
  }
  return ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));
}

/** One weight row against one activation row in llama.cpp's x86 order (see above): the eight
 *  lanes as four f64x2 accumulators, each step rounded to f32 (llm/math/fma.ts); a row where
 *  that could differ from the fused multiply-add (badTie) is redone by dotScalarX86. */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const top = v128.load(TIE_TOP);
  let c0 = f64x2.splat(0), c1 = f64x2.splat(0), c2 = f64x2.splat(0), c3 = f64x2.splat(0), ties = i64x2.splat(0);
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * BLOCK_BYTES);
    const d = f64x2.splat(<f64>(f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b))));
    const lo = sum4(v128.load(a, 2), v128.load(b, 2)), hi = sum4(v128.load(a, 18), v128.load(b, 18));
    const p0 = f64x2.mul(f64x2.convert_low_i32x4_s(lo), d), p1 = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(lo, lo, 2, 3, 0, 1)), d);
    const p2 = f64x2.mul(f64x2.convert_low_i32x4_s(hi), d), p3 = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(hi, hi, 2, 3, 0, 1)), d);
    const t0 = f64x2.add(p0, c0), t1 = f64x2.add(p1, c1), t2 = f64x2.add(p2, c2), t3 = f64x2.add(p3, c3);
    ties = v128.or(ties, v128.or(v128.or(badTie(t0, p0, c0, top), badTie(t1, p1, c1, top)), v128.or(badTie(t2, p2, c2, top), badTie(t3, p3, c3, top))));
    c0 = roundF32x2(t0); c1 = roundF32x2(t1); c2 = roundF32x2(t2); c3 = roundF32x2(t3);
  }
  if (v128.any_true(ties)) return dotScalarX86(w, x, k);
  const lanesLo = i32x4.shuffle(f32x4.demote_f64x2_zero(c0), f32x4.demote_f64x2_zero(c1), 0, 1, 4, 5);
  const lanesHi = i32x4.shuffle(f32x4.demote_f64x2_zero(c2), f32x4.demote_f64x2_zero(c3), 0, 1, 4, 5);
  const r = f32x4.add(lanesHi, lanesLo);      // lane l: l+4 onto l
  return (f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 2)) + (f32x4.extract_lane(r, 1) + f32x4.extract_lane(r, 3));
}

// Four weight rows x one token, the same lanes and order as dot, with the f64 sums certified once
// per tile (common.ts fmaChainExact) instead of checked per step: d = halvesRawOf(dx) *
// halfRaised(dy) = dx*dy for the four rows, |c| and |d| tracked; an uncertified or non-finite
// tile, or one with an infinite or NaN scale, is redone row by row by dot. The activations'
// even/odd bytes are shared by the four rows, the eight lane accumulators of each row stay in
// registers, and the stores into the tile's output slots (overwritten at the end) keep V8 from
// loading the next rows early.

/** Lane sums (four consecutive products each) of 16 weight bytes w against activations split
 *  in even/odd bytes (see sum4). */
// @ts-ignore: decorator
@inline function lanes4(w: v128, ye: v128, yo: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.mul(evens(w), ye), i16x8.mul(odds(w), yo)));
}

/** ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) of a row's lanes lo = l0..l3, hi = l4..l7. */
// @ts-ignore: decorator
@inline function lanesSum(lo: v128, hi: v128): f32 {
  const r = f32x4.add(hi, lo);
  return (f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 2)) + (f32x4.extract_lane(r, 1) + f32x4.extract_lane(r, 3));
}

/** A zero word: the tiles' prefetch loads are folded into a test against it, so they stay. */
const ZERO = memory.data<u32>([0]);

// `ahead`: the rows whose cache lines the tile reads one word of as it goes (136 bytes, four
// rows' worth of blocks, per block, spread over the block's work), a sequential stream two
// tiles ahead that gets weights from DRAM to the caches in time (see q4_0.ts tile32); w0 for
// none.
function tile4(out: usize, w0: usize, ws: usize, x0: usize, k: i32, ahead: usize): void {
  const nb = k / QK;
  let p = w0, y = x0;
  const hm = v128.load(VK, K_HMASK);
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
  let cmax = a0, dmin = i32x4.splat(-1);
  let touched: u32 = 0, a = ahead, special: u64 = 0;
  for (let i = 0; i < nb; i++) {
    touched |= load<u32>(a);
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ey0 = evens(y0), oy0 = odds(y0), ey1 = evens(y1), oy1 = odds(y1);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    const h = gather4Halves(p, r1, r2, r3);
    special |= specialHalves(h);
    const d4 = f32x4.mul(halvesRawOf(h, hm), f32x4.splat(halfRaised(y)));
    dmin = i32x4.min_u(dmin, absBits(d4));
    let d = f64x2.promote_low_f32x4(i32x4.shuffle(d4, d4, 0, 0, 0, 0));
    a0 = fmaStep4s(lanes4(v128.load(p, 2), ey0, oy0), d, a0);
    v128.store(out, a0);
    a1 = fmaStep4s(lanes4(v128.load(p, 18), ey1, oy1), d, a1);
    v128.store(out, a1);
    touched |= load<u32>(a, 64);
    d = f64x2.promote_low_f32x4(i32x4.shuffle(d4, d4, 1, 1, 1, 1));
    b0 = fmaStep4s(lanes4(v128.load(r1, 2), ey0, oy0), d, b0);
    v128.store(out, b0);
    b1 = fmaStep4s(lanes4(v128.load(r1, 18), ey1, oy1), d, b1);
    v128.store(out, b1);
    touched |= load<u32>(a, 128);
    a += 4 * BLOCK_BYTES;
    d = f64x2.promote_low_f32x4(i32x4.shuffle(d4, d4, 2, 2, 2, 2));
    c0 = fmaStep4s(lanes4(v128.load(r2, 2), ey0, oy0), d, c0);
    v128.store(out, c0);
    c1 = fmaStep4s(lanes4(v128.load(r2, 18), ey1, oy1), d, c1);
    v128.store(out, c1);
    d = f64x2.promote_low_f32x4(i32x4.shuffle(d4, d4, 3, 3, 3, 3));
    e0 = fmaStep4s(lanes4(v128.load(r3, 2), ey0, oy0), d, e0);
    v128.store(out, e0);
    e1 = fmaStep4s(lanes4(v128.load(r3, 18), ey1, oy1), d, e1);
    v128.store(out, e1);
    cmax = i32x4.max_u(cmax, i32x4.max_u(i32x4.max_u(absBits(a0), absBits(a1)), i32x4.max_u(absBits(b0), absBits(b1))));
    cmax = i32x4.max_u(cmax, i32x4.max_u(i32x4.max_u(absBits(c0), absBits(c1)), i32x4.max_u(absBits(e0), absBits(e1))));
    p += BLOCK_BYTES; y += BLOCK_BYTES;
  }
  // dot converts halves exactly: an infinite or NaN weight scale (which halvesRawOf turns into a
  // finite value) must take its path; an infinite or NaN activation scale makes d infinite. A
  // NaN or infinite lane makes the sum of all lanes non-finite.
  if (!fmaChainExact(cmax, dmin) || (touched & load<u32>(ZERO)) != 0 || (special & 0x8000800080008000) != 0 ||
      nonFinite(f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(b0, b1)), f32x4.add(f32x4.add(c0, c1), f32x4.add(e0, e1))))) {
    for (let r = 0; r < 4; r++) store<f32>(out + (<usize>r << 2), dot(w0 + <usize>r * ws, x0, k));
    return;
  }
  store<f32>(out, lanesSum(a0, a1));
  store<f32>(out, lanesSum(b0, b1), 4);
  store<f32>(out, lanesSum(c0, c1), 8);
  store<f32>(out, lanesSum(e0, e1), 12);
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride (floats).
 *  Four rows at a time for every token while those rows' weights are in the cache. */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  const os = <usize>outStride << 2;
  let r = 0;
  for (; r + 4 <= nr; r += 4) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    const ahead = r + 12 <= nr ? wr + (wStride << 3) : wr; // rows r+8..r+11, within [0, nr)
    for (let t = 0; t < nt; t++) tile4(o + <usize>t * os, wr, wStride, x + <usize>t * xStride, k, t == 0 ? ahead : wr);
  }
  for (; r < nr; r++) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) store<f32>(o + <usize>t * os, dot(wr, x + <usize>t * xStride, k));
  }
}
