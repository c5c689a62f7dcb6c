// Q8_0 (GGUF type 8): blocks of 32 weights, { f16 d; i8 qs[32] } = 34 bytes, x = d*q.
// Also the activation format ggml pairs with Q4_0 and Q8_0 weights (vec_dot_type Q8_0).
import { f16ToF32, f32ToF16 } from "./f16";
import { roundAway, evens, odds, hsum4, VK, K_HMASK, nonFinite, hsumFloat8, orderingStore, prefetchRead, gather4Halves, halvesRawOf, specialHalves, halfRaised, NATIVE_DOT, dot4Native, widenPairs,
  unusualHalves, halfSignificands4, halfExponents4, halfSignificand, halfExponentBiased, scaleProducts, UNUSUAL_SCALE } from "./common";
import { fma32, fma32x4 } from "../math/fma";

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
// llm/sampler.ts sampleBounded): each row's integer block sum in one lane, then one f32 fused
// multiply-add per row and block, four rows to a vector: an eighth of the float work of the
// x86 order above, which costs most under emulation (every vector float op is a library call
// per lane under QEMU's TCG).
//
// Both results are sums of the same terms t_b = D_b*s_b (D_b = f32(dx*dy), the same rounding in
// both; s_b the block's exact integer sum, split in eight lanes s_bl by the x86 order):
//   approx: nb fused roundings                       |A - R| <= g(nb) * T
//   x86:    nb per lane, then hsumFloat8's 3 levels  |E - R| <= g(nb+3) * T
// with R the real sum, T = sum_b |D_b| sum_l |s_bl|, g(n) = n*u/(1-n*u), u = 2^-24 (Higham's
// gamma). T <= (1+u) * max|dx| * 128 * sum_b |dy_b| * sum_i |y_bi| since |x| <= 128.
// Results below the normal range lose at most 2^-150 per rounding more.

function approxTile4(out: usize, w0: usize, ws: usize, x0: usize, k: i32): void {
  const nb = k / QK;
  const hm = v128.load(VK, K_HMASK);
  let acc = f32x4.splat(0), p = w0, y = x0;
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ey0 = evens(y0), oy0 = odds(y0), ey1 = evens(y1), oy1 = odds(y1);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    const d4 = f32x4.mul(halvesRawOf(gather4Halves(p, r1, r2, r3), hm), f32x4.splat(halfRaised(y)));
    const s = hsum4(
      i32x4.add(sum4(v128.load(p, 2), ey0, oy0), sum4(v128.load(p, 18), ey1, oy1)),
      i32x4.add(sum4(v128.load(r1, 2), ey0, oy0), sum4(v128.load(r1, 18), ey1, oy1)),
      i32x4.add(sum4(v128.load(r2, 2), ey0, oy0), sum4(v128.load(r2, 18), ey1, oy1)),
      i32x4.add(sum4(v128.load(r3, 2), ey0, oy0), sum4(v128.load(r3, 18), ey1, oy1)));
    acc = fma32x4(d4, f32x4.convert_i32x4_s(s), acc);
    p += BLOCK_BYTES; y += BLOCK_BYTES;
  }
  v128.store(out, acc);
}

/** approxTile4 with the CPU's dot product (NATIVE_DOT): the same integer sums, and the scales'
 *  products by integer ops (scaleProducts: the same bits as the multiply) unless a scale is
 *  zero, subnormal, infinite or NaN, when the tile is done again with multiplies. */
function approxTile4Native(out: usize, w0: usize, ws: usize, x0: usize, k: i32): void {
  if (!approxNative(out, w0, ws, x0, k, true)) approxNative(out, w0, ws, x0, k, false);
}

/** approxTile4Native with the scales' products by integer ops (intScales; false when a scale
 *  is not a normal half, and nothing stored) or by multiplies. */
// @ts-ignore: decorator
@inline function approxNative(out: usize, w0: usize, ws: usize, x0: usize, k: i32, intScales: bool): bool {
  const nb = k / QK;
  const hm = v128.load(VK, K_HMASK);
  const zero = i32x4.splat(0);
  let acc = f32x4.splat(0), p = w0, y = x0, unusual: u64 = 0;
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    const h = gather4Halves(p, r1, r2, r3);
    let d4: v128;
    if (intScales) {
      const hy = <i32>load<u16>(y), ey = halfExponentBiased(hy);
      unusual |= unusualHalves(h) | <u64>(ey & UNUSUAL_SCALE);
      d4 = scaleProducts(halfSignificands4(h), halfExponents4(h), i32x4.splat(halfSignificand(hy)), i32x4.splat(ey));
    } else {
      d4 = f32x4.mul(halvesRawOf(h, hm), f32x4.splat(halfRaised(y)));
    }
    const s = hsum4(
      dot4Native(v128.load(p, 18), y1, dot4Native(v128.load(p, 2), y0, zero)),
      dot4Native(v128.load(r1, 18), y1, dot4Native(v128.load(r1, 2), y0, zero)),
      dot4Native(v128.load(r2, 18), y1, dot4Native(v128.load(r2, 2), y0, zero)),
      dot4Native(v128.load(r3, 18), y1, dot4Native(v128.load(r3, 2), y0, zero)));
    acc = fma32x4(d4, f32x4.convert_i32x4_s(s), acc);
    p += BLOCK_BYTES; y += BLOCK_BYTES;
  }
  if (unusual != 0) return false;
  v128.store(out, acc);
  return true;
}

/** out[r] ~ W[r]·x for r < nr, within approxBound of gemm's result (for finite scales; rows
 *  with an infinite or NaN scale get meaningless values, and scaleMax says so). */
export function approxGemv(out: usize, w: usize, wStride: usize, nr: i32, x: usize, k: i32): void {
  let r = 0;
  if (NATIVE_DOT) for (; r + 4 <= nr; r += 4) approxTile4Native(out + (<usize>r << 2), w + <usize>r * wStride, wStride, x, k);
  for (; r + 4 <= nr; r += 4) approxTile4(out + (<usize>r << 2), w + <usize>r * wStride, wStride, x, k);
  for (; r < nr; r++) store<f32>(out + (<usize>r << 2), dot(w + <usize>r * wStride, x, k)); // exact: within any bound
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
  const nb = k / QK;
  let c: f64 = 0; // sum_b |dy_b| * sum_i |y_bi|
  for (let i = 0; i < nb; i++) {
    const b = x + <usize>(i * BLOCK_BYTES);
    let ys = 0;
    for (let j = 0; j < QK; j++) ys += abs<i32>(<i32>load<i8>(b + 2 + <usize>j));
    c += Math.abs(<f64>f16ToF32(load<u16>(b))) * <f64>ys;
  }
  const e = (gamma(nb) + gamma(nb + 3)) * (1 + U) * <f64>sMax * 128 * c + <f64>(2 * nb + 6) * 7.006492321624085e-46;
  // the arithmetic above rounds a few times, at 2^-53 each: a relative 2^-40 covers it
  return isFinite(e) ? e * (1 + 9.094947017729282e-13) : Infinity;
}
