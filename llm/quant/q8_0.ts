// Q8_0 (GGUF type 8): blocks of 32 weights, { f16 d; i8 qs[32] } = 34 bytes, x = d*q.
// Also the activation format ggml pairs with Q4_0 and Q8_0 weights (vec_dot_type Q8_0).
import { f16ToF32, f32ToF16 } from "./f16";
import { roundAway, evens, odds, hsum4, VK, K_HMASK, nonFinite, hsumFloat8, orderingStore, prefetchRead, gather4Halves, halvesRawOf, specialHalves, halfRaised, NATIVE_DOT, dot4Native, widenPairs } from "./common";
import { fma32x4 } from "../math/fma";

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
// exact.

/** i32x4 of the sums of four consecutive products of 16 int8 pairs, the activations y given
 *  split in even and odd bytes (ye, yo). Products of even and odd bytes (sign-extended i16
 *  lanes, see common.ts) summed in pairs stay within i16: weights may be -128, activations
 *  never are (2*128*127 < 2^15). */
// @ts-ignore: decorator
@inline function sum4(w: v128, ye: v128, yo: v128): v128 {
  return widenPairs(i16x8.add(i16x8.mul(evens(w), ye), i16x8.mul(odds(w), yo)));
}

/** One weight row against one activation row in llama.cpp's x86 order (see above): lanes
 *  l0..l3 and l4..l7 as two f32x4. The scales are converted exactly (f16ToF32), so this is also
 *  the tiles' path for rows with an infinite or NaN scale. */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let lo = f32x4.splat(0), hi = lo;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * BLOCK_BYTES);
    const d = f32x4.splat(f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)));
    const y0 = v128.load(b, 2), y1 = v128.load(b, 18);
    lo = fma32x4(d, f32x4.convert_i32x4_s(sum4(v128.load(a, 2), evens(y0), odds(y0))), lo);
    hi = fma32x4(d, f32x4.convert_i32x4_s(sum4(v128.load(a, 18), evens(y1), odds(y1))), hi);
  }
  return hsumFloat8(lo, hi);
}

// Four weight rows x one token, the same lanes and order as dot: d = halvesRawOf(dx) *
// halfRaised(dy) = dx*dy for the four rows in one multiply; a tile with an infinite or NaN scale
// (which halvesRawOf turns into a finite value) or a non-finite result is redone row by row by
// dot. The activations' even/odd bytes are shared by the four rows, the eight lane accumulators
// of each row stay in registers, and the stores into the tile's output slots (overwritten at the
// end) keep V8 from loading the next rows early.

/** sum4 as f32 (exact). */
// @ts-ignore: decorator
@inline function lanes4(w: v128, ye: v128, yo: v128): v128 { return f32x4.convert_i32x4_s(sum4(w, ye, yo)); }

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
  let touched: u32 = 0, a = ahead, special: u64 = 0;
  for (let i = 0; i < nb; i++) {
    touched |= prefetchRead(a);
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ey0 = evens(y0), oy0 = odds(y0), ey1 = evens(y1), oy1 = odds(y1);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    const h = gather4Halves(p, r1, r2, r3);
    special |= specialHalves(h);
    const d4 = f32x4.mul(halvesRawOf(h, hm), f32x4.splat(halfRaised(y)));
    let d = i32x4.shuffle(d4, d4, 0, 0, 0, 0);
    a0 = fma32x4(d, lanes4(v128.load(p, 2), ey0, oy0), a0);
    orderingStore(out, a0);
    a1 = fma32x4(d, lanes4(v128.load(p, 18), ey1, oy1), a1);
    orderingStore(out, a1);
    touched |= prefetchRead(a + 64);
    d = i32x4.shuffle(d4, d4, 1, 1, 1, 1);
    b0 = fma32x4(d, lanes4(v128.load(r1, 2), ey0, oy0), b0);
    orderingStore(out, b0);
    b1 = fma32x4(d, lanes4(v128.load(r1, 18), ey1, oy1), b1);
    orderingStore(out, b1);
    touched |= prefetchRead(a + 128);
    a += 4 * BLOCK_BYTES;
    d = i32x4.shuffle(d4, d4, 2, 2, 2, 2);
    c0 = fma32x4(d, lanes4(v128.load(r2, 2), ey0, oy0), c0);
    orderingStore(out, c0);
    c1 = fma32x4(d, lanes4(v128.load(r2, 18), ey1, oy1), c1);
    orderingStore(out, c1);
    d = i32x4.shuffle(d4, d4, 3, 3, 3, 3);
    e0 = fma32x4(d, lanes4(v128.load(r3, 2), ey0, oy0), e0);
    orderingStore(out, e0);
    e1 = fma32x4(d, lanes4(v128.load(r3, 18), ey1, oy1), e1);
    orderingStore(out, e1);
    p += BLOCK_BYTES; y += BLOCK_BYTES;
  }
  // A NaN or infinite lane makes its row's sum non-finite: the four sums are checked.
  store<f32>(out, hsumFloat8(a0, a1));
  store<f32>(out, hsumFloat8(b0, b1), 4);
  store<f32>(out, hsumFloat8(c0, c1), 8);
  store<f32>(out, hsumFloat8(e0, e1), 12);
  if ((touched & load<u32>(ZERO)) != 0 || (special & 0x8000800080008000) != 0 || nonFinite(v128.load(out))) {
    for (let r = 0; r < 4; r++) store<f32>(out + (<usize>r << 2), dot(w0 + <usize>r * ws, x0, k));
  }
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

// ---------------------------------------------------------------------------------------
// Approximate products with a proven error bound (the output head's first pass, see
// llm/sampler.ts sampleBounded), in integers only: under QEMU's TCG every vector float op is
// a library call per lane, and the exact order above needs a conversion and a fused
// multiply-add per four rows and block. Here each scale is a 12-bit integer in units of a
// power of two shared by the whole matrix (the weights', uw = 2^(eW-26), from its largest
// scale) or by the token (uy = 2^(eY-26)): dw = Mw*uw + a, |a| <= uw/2; dy = My*uy + c,
// |c| <= uy/2. The weights' Mw sit in a table made once (approxTable, four rows to a vector),
// the token's My are made as the blocks are read. Per block, with s the exact integer sum:
//   p1 = (s*Mw) >> 12,  p2 = (p1*My) >> sh,  acc += p2      (|s| < 2^19, |Mw|, |My| < 2^12,
//                                                            2^sh >= nb: no overflow)
// and the row's value is acc * 2^(12+sh) * uw*uy, one rounding to f32 (the scale is a power
// of two). Against the real sum R = sum_b dw dy s (S_b = sum_i |y_bi|, |s_b| <= 128 S_b):
//   scales:      sum_b |s_b| (Dmax uy/2 + |dy_b| uw/2 + uw uy/4)
//   truncations: uw uy nb 2^12 (4095 + 2^sh)       (floor of p1 and p2, times |My| and 1)
//   conversion:  2^-24 |acc| 2^(12+sh) uw uy
// and the exact order's own distance from R (gamma(nb+3) T, see approxBound).

/** f16 h's magnitude in units of 2^(e-26), rounded to nearest, with h's sign: |answer| <=
 *  4094 when h's exponent field is at most e (and e >= 1; a subnormal counts as exponent 1). */
// @ts-ignore: decorator
@inline function scaleUnits(h: i32, e: i32): i32 {
  const eh = (h >> 10) & 31;
  const sig = eh == 0 ? h & 0x3ff : (h & 0x3ff) | 0x400;
  const d = e - max(eh, 1); // sig * 2^(1-d) units
  let u = 0;
  if (d == 0) u = sig << 1;
  else if (d == 1) u = sig;
  else if (d <= 13) u = (sig + (1 << (d - 2))) >> (d - 1);
  return (h & 0x8000) != 0 ? -u : u;
}

/** The exponent field of the largest of the halves whose magnitude is m (1 for a subnormal or
 *  zero): the unit of scaleUnits. */
// @ts-ignore: decorator
@inline function unitExponent(m: u32): i32 { return max(<i32>((m >> 10) & 31), 1); }

/** The exponent field of the largest |scale| of x's nb blocks (unitExponent); 31 when one is
 *  infinite or NaN. */
function tokenExponent(x: usize, nb: i32): i32 {
  let m: u32 = 0;
  for (let i = 0; i < nb; i++) m = max(m, <u32>load<u16>(x + <usize>(i * BLOCK_BYTES)) & 0x7fff);
  return unitExponent(m);
}

/** The truncation shift sh of the sums of nb blocks: 2^sh >= nb. */
function sumShift(nb: i32): i32 { return nb <= 1 ? 0 : 32 - clz(nb - 1); }

/** Bytes of approxTable for `rows` rows of k (the first rows & ~3 of them, four to a group). */
export function approxTableBytes(rows: i32, k: i32): usize { return <usize>(rows >> 2) * <usize>(k / QK) * 16; }

/** The weights' scales as approxGemv takes them: for each group of four rows and each block,
 *  the four rows' scaleUnits in units of the largest scale sMax's (scaleMax; finite). */
export function approxTable(w: usize, wStride: usize, rows: i32, k: i32, sMax: f32, dst: usize): void {
  const nb = k / QK, e = unitExponent(<u32>f32ToF16(sMax));
  let o = dst;
  for (let g = 0; g + 4 <= rows; g += 4) {
    for (let i = 0; i < nb; i++) {
      for (let r = 0; r < 4; r++) store<i32>(o + (<usize>r << 2), scaleUnits(<i32>load<u16>(w + <usize>(g + r) * wStride + <usize>(i * BLOCK_BYTES)), e));
      o += 16;
    }
  }
}

// Four rows x one token; `native`: the integer sums by the CPU's dot product (NATIVE_DOT).
// @ts-ignore: decorator
@inline function approxRows4(out: usize, w0: usize, ws: usize, x0: usize, k: i32, t: usize, eY: i32, sh: i32, unit: f32, native: bool): void {
  const nb = k / QK;
  const zero = i32x4.splat(0);
  let acc = zero, p = w0, y = x0;
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    let s: v128;
    if (native) {
      s = hsum4(
        dot4Native(v128.load(p, 18), y1, dot4Native(v128.load(p, 2), y0, zero)),
        dot4Native(v128.load(r1, 18), y1, dot4Native(v128.load(r1, 2), y0, zero)),
        dot4Native(v128.load(r2, 18), y1, dot4Native(v128.load(r2, 2), y0, zero)),
        dot4Native(v128.load(r3, 18), y1, dot4Native(v128.load(r3, 2), y0, zero)));
    } else {
      const ey0 = evens(y0), oy0 = odds(y0), ey1 = evens(y1), oy1 = odds(y1);
      s = hsum4(
        i32x4.add(sum4(v128.load(p, 2), ey0, oy0), sum4(v128.load(p, 18), ey1, oy1)),
        i32x4.add(sum4(v128.load(r1, 2), ey0, oy0), sum4(v128.load(r1, 18), ey1, oy1)),
        i32x4.add(sum4(v128.load(r2, 2), ey0, oy0), sum4(v128.load(r2, 18), ey1, oy1)),
        i32x4.add(sum4(v128.load(r3, 2), ey0, oy0), sum4(v128.load(r3, 18), ey1, oy1)));
    }
    const my = i32x4.splat(scaleUnits(<i32>load<u16>(y), eY));
    acc = i32x4.add(acc, i32x4.shr_s(i32x4.mul(i32x4.shr_s(i32x4.mul(s, v128.load(t)), 12), my), sh));
    p += BLOCK_BYTES; y += BLOCK_BYTES; t += 16;
  }
  v128.store(out, f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.splat(unit)));
}

function approxTile4(out: usize, w0: usize, ws: usize, x0: usize, k: i32, t: usize, eY: i32, sh: i32, unit: f32): void {
  approxRows4(out, w0, ws, x0, k, t, eY, sh, unit, false);
}

function approxTile4Native(out: usize, w0: usize, ws: usize, x0: usize, k: i32, t: usize, eY: i32, sh: i32, unit: f32): void {
  approxRows4(out, w0, ws, x0, k, t, eY, sh, unit, true);
}

/** out[r] ~ W[r]·x for rows r in [r0, r1) of W (r0 a multiple of 4), within approxBound of
 *  gemm's result: `table` is W's approxTable, made with sMax. The rows past the last whole
 *  group of four are exact. */
export function approxGemv(out: usize, w: usize, wStride: usize, r0: i32, r1: i32, x: usize, k: i32, table: usize, sMax: f32): void {
  const nb = k / QK, eY = tokenExponent(x, nb), sh = sumShift(nb);
  const eW = unitExponent(<u32>f32ToF16(sMax));
  const unit = reinterpret<f32>((eW + eY + sh - 40 + 127) << 23); // 2^(12+sh) * uw * uy
  const ts = <usize>nb * 16; // a group's table
  let r = r0;
  if (NATIVE_DOT) for (; r + 4 <= r1; r += 4) approxTile4Native(out + (<usize>r << 2), w + <usize>r * wStride, wStride, x, k, table + <usize>(r >> 2) * ts, eY, sh, unit);
  for (; r + 4 <= r1; r += 4) approxTile4(out + (<usize>r << 2), w + <usize>r * wStride, wStride, x, k, table + <usize>(r >> 2) * ts, eY, sh, unit);
  for (; r < r1; r++) store<f32>(out + (<usize>r << 2), dot(w + <usize>r * wStride, x, k)); // exact: within any bound
}

/** The largest |scale| over the blocks of `rows` rows: infinity when a scale is infinite or
 *  NaN (approxGemv's results then bound nothing). */
export function scaleMax(w: usize, wStride: usize, rows: i32, k: i32): f32 {
  const nb = k / QK;
  let m: u32 = 0;
  for (let r = 0; r < rows; r++) {
    const row = w + <usize>r * wStride;
    for (let i = 0; i < nb; i++) m = max(m, <u32>load<u16>(row + <usize>(i * BLOCK_BYTES)) & 0x7fff);
  }
  return m >= 0x7c00 ? Infinity : f16ToF32(<u16>m);
}

const U: f64 = 5.960464477539063e-8; // 2^-24, f32's unit roundoff

/** Higham's gamma(n) = n*u/(1-n*u): n roundings of a sum, relative to the sum of |terms|. */
function gamma(n: i32): f64 { return <f64>n * U / (1 - <f64>n * U); }

/** The bound on |approxGemv - gemm| for activations x (k elements) and weights whose scales are
 *  at most sMax in magnitude (the derivation is above); infinity when nothing can be bounded. */
export function approxBound(sMax: f32, x: usize, k: i32): f64 {
  const nb = k / QK, sh = sumShift(nb);
  if (!isFinite(sMax)) return Infinity;
  const eY = tokenExponent(x, nb);
  if (eY > 30) return Infinity; // an infinite or NaN activation scale
  const dMax = <f64>sMax, uw = Math.pow(2, unitExponent(<u32>f32ToF16(sMax)) - 26), uy = Math.pow(2, eY - 26);
  let s1: f64 = 0, c: f64 = 0, yMax: f64 = 0; // sum_b S_b, sum_b |dy_b| S_b, max_b |dy_b|
  for (let i = 0; i < nb; i++) {
    const b = x + <usize>(i * BLOCK_BYTES);
    let ys = 0;
    for (let j = 0; j < QK; j++) ys += abs<i32>(<i32>load<i8>(b + 2 + <usize>j));
    const dy = Math.abs(<f64>f16ToF32(load<u16>(b)));
    s1 += <f64>ys; c += dy * <f64>ys; yMax = max(yMax, dy);
  }
  const scales = 128 * ((dMax * uy / 2 + uw * uy / 4) * s1 + uw / 2 * c);
  const truncations = uw * uy * <f64>nb * 4096 * (4095 + Math.pow(2, sh));
  const conversion = U * (128 * s1 * (dMax + uw / 2) * (yMax + uy / 2) + truncations);
  const exact = gamma(nb + 3) * (1 + U) * dMax * 128 * c + <f64>(nb + 3) * 7.006492321624085e-46;
  const e = scales + truncations + conversion + exact;
  // the arithmetic above rounds a few times, at 2^-53 each: a relative 2^-40 covers it
  return isFinite(e) ? e * (1 + 9.094947017729282e-13) : Infinity;
}
