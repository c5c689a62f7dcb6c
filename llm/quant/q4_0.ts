// Q4_0 (GGUF type 2): blocks of 32, { f16 d; u8 qs[16] } = 18 bytes. Element j is the low
// nibble of qs[j], element j+16 the high nibble; x = (q - 8)*d. Paired with Q8_0 activations.
import { f16ToF32, f32ToF16 } from "./f16";
import { hsum, evens, odds, VK, K_HMASK, K_H2F, K_N0, halves4, halfSplat, hsumSplat, nonFinite,
  fmaStep4, fmaChainExact, absBits, halves4Raw, halfRaised, tiledGemm } from "./common";
import { BLOCK_BYTES as Q8_BYTES, storeRows, dot as dotQ8 } from "./q8_0";
import { fma32, roundF32x2, badTie, TIE_TOP } from "../math/fma";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 18;

/** quantize_row_q4_0_ref: d = (signed value of largest magnitude)/-8, q = min(15, (i8)(x/d + 8.5)). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    let amax: f32 = 0, max: f32 = 0;
    for (let j = 0; j < QK; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < Mathf.abs(v)) { amax = Mathf.abs(v); max = v; }
    }
    const d = max / <f32>-8.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f32ToF16(d));
    for (let j = 0; j < 16; j++) {
      // (int8_t) truncates toward zero; the sums are >= 0.5 - tiny, never below -1.
      const q0 = min(15, <i32>(load<f32>(x + (<usize>j << 2)) * id + <f32>8.5));
      const q1 = min(15, <i32>(load<f32>(x + (<usize>(j + 16) << 2)) * id + <f32>8.5));
      store<u8>(y + 2 + <usize>j, <u8>(q0 | (q1 << 4)));
    }
  }
}

/** dequantize_row_q4_0: x = (q - 8)*d. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b));
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(b + 2 + <usize>j);
      store<f32>(y + (<usize>j << 2), <f32>((q & 15) - 8) * d);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>((q >> 4) - 8) * d);
    }
  }
}

/** Per block sumf = fma(sumi, dx*dy, sumf): the order of llama.cpp's repacked Q4_0 kernels on
 *  x86 (ggml_gemv/gemm_q4_0_8x8_q8_0, AVX2), which run every Q4_0 matrix whose row count is a
 *  multiple of 8. */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_BYTES);
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(a + 2 + <usize>j);
      sumi += ((q & 15) - 8) * <i32>load<i8>(b + 2 + <usize>j);
      sumi += ((q >> 4) - 8) * <i32>load<i8>(b + 18 + <usize>j);
    }
    sumf = fma32(<f32>sumi, f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)), sumf);
  }
  return sumf;
}

// The SIMD kernels keep the 16 bytes of nibbles in i16 lanes (byte 2m in the low half of lane m,
// byte 2m+1 in the high half), take the four nibbles of each lane out with shifts and masks, and
// multiply them with the activations split the same way (even and odd bytes, sign-extended) by
// i16x8.mul: n*y summed over the four nibble vectors stays within i16 (4*15*127), and is widened
// once per block. The nibbles are unsigned, so 8*sum(y) is taken off once per block for all rows.
// All integer sums are exact (only their grouping differs from ggml's), and the float part keeps
// llama.cpp's x86 order: sumf = fma(sumi, dx*dy, sumf), block after block. Scales go through halvesFast (exact for
// finite halves); a tile whose result is not finite is recomputed with dotScalar.
//
// These ops were chosen for both targets: on x64 (V8) each is one instruction; under QEMU's TCG
// (wasm2c + SIMDe -> NEON) i16x8.mul/add and bitwise ops are cheap, where i32x4.dot_i16x8_s and
// extmul (smull/smull2) and vector conversions cost several times more.

/** sum(n*y) over one block (four i32 lanes) for 16 bytes q of nibbles and the block's activations
 *  (ye0/yo0: even/odd bytes of elements 0..15, ye1/yo1 of 16..31). */
// @ts-ignore: decorator
@inline function q4m(q: v128, n0: v128, ye0: v128, yo0: v128, ye1: v128, yo1: v128): v128 {
  let a = i16x8.mul(v128.and(q, n0), ye0);
  a = i16x8.add(a, i16x8.mul(v128.and(i16x8.shr_u(q, 8), n0), yo0));
  a = i16x8.add(a, i16x8.mul(v128.and(i16x8.shr_u(q, 4), n0), ye1));
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(a, i16x8.mul(i16x8.shr_u(q, 12), yo1)));
}

/** [8*sum(y), ...] over one block, from its even/odd activation vectors. */
// @ts-ignore: decorator
@inline function offset8(ye0: v128, yo0: v128, ye1: v128, yo1: v128): v128 {
  return hsumSplat(i32x4.shl(i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.add(ye0, yo0), i16x8.add(ye1, yo1))), 3));
}

/** Two rows' block sums as [r0 a, r1 a, r0 b, r1 b] with a + b the row's sum. */
// @ts-ignore: decorator
@inline function pair(p0: v128, p1: v128): v128 {
  return i32x4.add(i32x4.shuffle(p0, p1, 0, 4, 1, 5), i32x4.shuffle(p0, p1, 2, 6, 3, 7));
}

/** Four rows' sums [r0, r1, r2, r3] from pair(r0, r1) and pair(r2, r3). */
// @ts-ignore: decorator
@inline function quad(a: v128, b: v128): v128 {
  return i32x4.add(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7));
}

export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const n0 = v128.load(VK, K_N0);
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_BYTES);
    const y0 = v128.load(b, 2), y1 = v128.load(b, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const sumi = hsum(q4m(v128.load(a, 2), n0, ye0, yo0, ye1, yo1)) - i32x4.extract_lane(offset8(ye0, yo0, ye1, yo1), 0);
    sumf = fma32(<f32>sumi, f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)), sumf);
  }
  return sumf;
}

// Rows [0, nr) x tokens [0, nt) of a tile by the exact scalar path (non-finite results only).
function exactTile(out: usize, os: usize, w0: usize, ws: usize, nr: i32, x0: usize, xs: usize, nt: i32, k: i32): void {
  for (let t = 0; t < nt; t++) for (let r = 0; r < nr; r++) {
    store<f32>(out + <usize>t * os + (<usize>r << 2), dotScalar(w0 + <usize>r * ws, x0 + <usize>t * xs, k));
  }
}

// The float part of the tiles: per row acc = fma(sumi, dx*dy, acc), two rows per f64x2, as
// llm/math/fma.ts explains: sumi and the f32 scale product widen to f64 exactly, their product
// is exact, the f64 sum is rounded to f32. That equals the fused multiply-add unless the sum
// was inexact and lands on an f32 tie (badTie), which is rare: such a tile is flagged and
// recomputed by the scalar path (dotScalar, fma32).

/** Lanes 0-1 / 2-3 of a tile's i32 block sums and f32 scales, widened (exactly) to f64. */
// @ts-ignore: decorator
@inline function sumiLo(s: v128): v128 { return f64x2.convert_low_i32x4_s(s); }
// @ts-ignore: decorator
@inline function sumiHi(s: v128): v128 { return f64x2.convert_low_i32x4_s(i32x4.shuffle(s, s, 2, 3, 0, 1)); }
// @ts-ignore: decorator
@inline function scaleLo(d: v128): v128 { return f64x2.promote_low_f32x4(d); }
// @ts-ignore: decorator
@inline function scaleHi(d: v128): v128 { return f64x2.promote_low_f32x4(i32x4.shuffle(d, d, 2, 3, 0, 1)); }

/** Four f64x2 accumulators (rows 0-1, 2-3, 4-5, 6-7) as eight f32 results at out; false if any
 *  is not finite. */
function storeAcc(out: usize, c01: v128, c23: v128, c45: v128, c67: v128, nr: i32): bool {
  const lo = i32x4.shuffle(f32x4.demote_f64x2_zero(c01), f32x4.demote_f64x2_zero(c23), 0, 1, 4, 5);
  if (nonFinite(lo)) return false;
  if (nr <= 4) { storeRows(out, lo, nr); return true; }
  const hi = i32x4.shuffle(f32x4.demote_f64x2_zero(c45), f32x4.demote_f64x2_zero(c67), 0, 1, 4, 5);
  if (nonFinite(hi)) return false;
  v128.store(out, lo);
  v128.store(out, hi, 16);
  return true;
}

// Eight weight rows x one token with a tie check at every step: the path of tiles whose sums
// fmaChainExact could not certify. V8 loads every weight of a loop iteration first and then runs
// out of registers; a store after each pair of rows (into this tile's own output slots, all
// overwritten at the end) keeps the next pair's loads behind it.
function tile8Checked(out: usize, w0: usize, ws: usize, x0: usize, k: i32): void {
  const nb = k / QK;
  let p = w0, y = x0;
  const n0 = v128.load(VK, K_N0), hm = v128.load(VK, K_HMASK), h2f = v128.load(VK, K_H2F);
  const top = v128.load(TIE_TOP);
  let c01 = f64x2.splat(0), c23 = f64x2.splat(0), c45 = f64x2.splat(0), c67 = f64x2.splat(0), ties = i64x2.splat(0);
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const cy = offset8(ye0, yo0, ye1, yo1);
    const dy = halfSplat(y, hm, h2f);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    const a = pair(q4m(v128.load(p, 2), n0, ye0, yo0, ye1, yo1), q4m(v128.load(r1, 2), n0, ye0, yo0, ye1, yo1));
    v128.store(out, a);
    const b = pair(q4m(v128.load(r2, 2), n0, ye0, yo0, ye1, yo1), q4m(v128.load(r3, 2), n0, ye0, yo0, ye1, yo1));
    const s03 = i32x4.sub(quad(a, b), cy), d03 = f32x4.mul(halves4(p, r1, r2, r3, hm, h2f), dy);
    const p01 = f64x2.mul(sumiLo(s03), scaleLo(d03)), p23 = f64x2.mul(sumiHi(s03), scaleHi(d03));
    const t01 = f64x2.add(p01, c01), t23 = f64x2.add(p23, c23);
    ties = v128.or(ties, v128.or(badTie(t01, p01, c01, top), badTie(t23, p23, c23, top)));
    c01 = roundF32x2(t01); c23 = roundF32x2(t23);
    v128.store(out, c01);
    const r4 = r3 + ws, r5 = r4 + ws, r6 = r5 + ws, r7 = r6 + ws;
    const e = pair(q4m(v128.load(r4, 2), n0, ye0, yo0, ye1, yo1), q4m(v128.load(r5, 2), n0, ye0, yo0, ye1, yo1));
    v128.store(out, e, 16);
    const f = pair(q4m(v128.load(r6, 2), n0, ye0, yo0, ye1, yo1), q4m(v128.load(r7, 2), n0, ye0, yo0, ye1, yo1));
    const s47 = i32x4.sub(quad(e, f), cy), d47 = f32x4.mul(halves4(r4, r5, r6, r7, hm, h2f), dy);
    const p45 = f64x2.mul(sumiLo(s47), scaleLo(d47)), p67 = f64x2.mul(sumiHi(s47), scaleHi(d47));
    const t45 = f64x2.add(p45, c45), t67 = f64x2.add(p67, c67);
    ties = v128.or(ties, v128.or(badTie(t45, p45, c45, top), badTie(t67, p67, c67, top)));
    c45 = roundF32x2(t45); c67 = roundF32x2(t67);
    v128.store(out, c45, 16);
    p += BLOCK_BYTES; y += Q8_BYTES;
  }
  if (v128.any_true(ties) || !storeAcc(out, c01, c23, c45, c67, 8)) exactTile(out, 0, w0, ws, 8, x0, 0, 1, k);
}

// Up to four weight rows x one token (missing rows repeat the last one; lanes are independent).
function tile4(out: usize, w0: usize, ws: usize, nr: i32, x0: usize, k: i32): void {
  const nb = k / QK;
  let p0 = w0, p1 = nr > 1 ? w0 + ws : w0, p2 = nr > 2 ? p1 + ws : p1, p3 = nr > 3 ? p2 + ws : p2, y = x0;
  const n0 = v128.load(VK, K_N0), hm = v128.load(VK, K_HMASK), h2f = v128.load(VK, K_H2F);
  const top = v128.load(TIE_TOP);
  let c01 = f64x2.splat(0), c23 = f64x2.splat(0), ties = i64x2.splat(0);
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const a = pair(q4m(v128.load(p0, 2), n0, ye0, yo0, ye1, yo1), q4m(v128.load(p1, 2), n0, ye0, yo0, ye1, yo1));
    const b = pair(q4m(v128.load(p2, 2), n0, ye0, yo0, ye1, yo1), q4m(v128.load(p3, 2), n0, ye0, yo0, ye1, yo1));
    const s = i32x4.sub(quad(a, b), offset8(ye0, yo0, ye1, yo1));
    const d = f32x4.mul(halves4(p0, p1, p2, p3, hm, h2f), halfSplat(y, hm, h2f));
    const p01 = f64x2.mul(sumiLo(s), scaleLo(d)), p23 = f64x2.mul(sumiHi(s), scaleHi(d));
    const t01 = f64x2.add(p01, c01), t23 = f64x2.add(p23, c23);
    ties = v128.or(ties, v128.or(badTie(t01, p01, c01, top), badTie(t23, p23, c23, top)));
    c01 = roundF32x2(t01); c23 = roundF32x2(t23);
    p0 += BLOCK_BYTES; p1 += BLOCK_BYTES; p2 += BLOCK_BYTES; p3 += BLOCK_BYTES; y += Q8_BYTES;
  }
  if (v128.any_true(ties) || !storeAcc(out, c01, c23, c01, c23, nr)) exactTile(out, 0, w0, ws, nr, x0, 0, 1, k);
}

// ---- The fast tiles: 32 or 8 rows x one token, certified once per tile ----
//
// Integer part: q (16 bytes of nibbles) is read as i16 lanes m = n_e + 16 n_e' + 256 n_o + 4096 n_o'
// (n_e/n_e' the low/high nibble of byte 2m: elements 2m and 16+2m; n_o/n_o' those of byte 2m+1).
// With Y0 = ye0, Y1 = ye1 - 16 ye0, Y2 = yo0 - 16 ye1, Y3 = yo1 - 16 yo0 (per block, shared by
// all rows), q*Y0 + (q >> 4)*Y1 + (q >> 8)*Y2 + (q >> 12)*Y3 = n_e ye0 + n_e' ye1 + n_o yo0 +
// n_o' yo1 modulo 2^16 (expand: the coefficients of n_e', n_o, n_o' telescope to ye1, yo0, yo1),
// and as that sum lies within +-4*15*128 the i16 lane holds it exactly: three shifts, four
// multiplies and three adds per row, no masks. Lanes are then folded across rows in i16 (sums of
// two and four lanes, within +-30720) and widened once per four rows. Float part: fmaStep4 per
// four rows, with d = halves4Raw(dx) * halfRaised(dy) (= dx*dy exactly), the maxima of |c| and
// minima of |d| tracked for fmaChainExact (common.ts); an uncertified or non-finite tile is
// redone by tile8Checked. The tile's output slots take stores of intermediate values that keep
// V8 from hoisting the next rows' loads (see above). The integer ops are i16x8 shifts,
// multiplies, adds and shuffles: no dot_i16x8 or extmul, which QEMU's TCG runs slowly.

/** One row's block: eight i16 lanes of n*y sums (|lane| <= 4*15*128), see above. */
// @ts-ignore: decorator
@inline function q4p(q: v128, Y0: v128, Y1: v128, Y2: v128, Y3: v128): v128 {
  return i16x8.add(i16x8.add(i16x8.mul(q, Y0), i16x8.mul(i16x8.shr_u(q, 4), Y1)),
    i16x8.add(i16x8.mul(i16x8.shr_u(q, 8), Y2), i16x8.mul(i16x8.shr_u(q, 12), Y3)));
}

/** Rows a, b (eight i16 lanes each) folded to [a a a a b b b b] (|lane| <= 15360). */
// @ts-ignore: decorator
@inline function fold2(a: v128, b: v128): v128 {
  return i16x8.add(i64x2.shuffle(a, b, 0, 2), i64x2.shuffle(a, b, 1, 3));
}

/** fold2(a, b), fold2(c, d) -> i32 [a, b, c, d] (pairs of i16 lanes within +-30720, widened). */
// @ts-ignore: decorator
@inline function fold4(ab: v128, cd: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i32x4.shuffle(ab, cd, 0, 2, 4, 6), i32x4.shuffle(ab, cd, 1, 3, 5, 7)));
}

/** sumi of four rows (q, q + ws, ...) for one block, as i32x4; stores an intermediate at `bar`
 *  (a slot of the tile's output, see above). */
// @ts-ignore: decorator
@inline function sums4(q: usize, ws: usize, Y0: v128, Y1: v128, Y2: v128, Y3: v128, cy: v128, bar: usize): v128 {
  const ab = fold2(q4p(v128.load(q, 2), Y0, Y1, Y2, Y3), q4p(v128.load(q + ws, 2), Y0, Y1, Y2, Y3));
  v128.store(bar, ab);
  const q2 = q + (ws << 1);
  const cd = fold2(q4p(v128.load(q2, 2), Y0, Y1, Y2, Y3), q4p(v128.load(q2 + ws, 2), Y0, Y1, Y2, Y3));
  return i32x4.sub(fold4(ab, cd), cy);
}

/** dx*dy of four rows (q, q + ws, ...) for one block, dyr = halfRaised(dy) in all lanes. */
// @ts-ignore: decorator
@inline function scales4(q: usize, ws: usize, dyr: v128, hm: v128): v128 {
  const q2 = q + (ws << 1);
  return f32x4.mul(halves4Raw(q, q + ws, q2, q2 + ws, hm), dyr);
}

/** A zero word: the tiles' prefetch loads are folded into a test against it, so they stay. */
const ZERO = memory.data<u32>([0]);

// Thirty-two weight rows x one token (eight groups of four, the activations' work shared by
// all), and a read of one word per cache line of the 32 rows at `ahead` (576 bytes, 32 rows'
// worth of blocks, per block, spread over the block's work; the whole of them by the end). The
// tile reads its rows as 32 interleaved streams, which the hardware prefetchers follow poorly
// when the weights come from DRAM; this one sequential stream two tiles ahead (gemm) gets
// them into the caches in time, as a prefetch instruction would (wasm has none): TinyLlama-
// shaped decode 15-20% faster (the same loads bunched at the top of the block: ~7%). `ahead` =
// w0 reads the tile's own lines (no effect). The eight accumulators live where V8 puts them
// (partly spilled, as memory accumulators would be); each group's store into another group's
// output slot is the barrier described above.
function tile32(out: usize, w0: usize, ws: usize, x0: usize, k: i32, ahead: usize): void {
  const nb = k / QK;
  const ws4 = ws << 2;
  let p = w0, y = x0;
  const hm = v128.load(VK, K_HMASK);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  let cmax = c0, dmin = i32x4.splat(-1);
  let touched: u32 = 0, a = ahead;
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const cy = offset8(ye0, yo0, ye1, yo1);
    const Y1 = i16x8.sub(ye1, i16x8.shl(ye0, 4)), Y2 = i16x8.sub(yo0, i16x8.shl(ye1, 4)), Y3 = i16x8.sub(yo1, i16x8.shl(yo0, 4));
    const dyr = f32x4.splat(halfRaised(y));
    touched |= load<u32>(a, 0);
    const d0 = scales4(p, ws, dyr, hm);
    c0 = fmaStep4(sums4(p, ws, ye0, Y1, Y2, Y3, cy, out + 64), d0, c0);
    v128.store(out, c0, 64);
    touched |= load<u32>(a, 64);
    const q1 = p + ws4;
    const d1 = scales4(q1, ws, dyr, hm);
    c1 = fmaStep4(sums4(q1, ws, ye0, Y1, Y2, Y3, cy, out + 80), d1, c1);
    v128.store(out, c1, 80);
    dmin = i32x4.min_u(dmin, i32x4.min_u(absBits(d0), absBits(d1)));
    cmax = i32x4.max_u(cmax, i32x4.max_u(absBits(c0), absBits(c1)));
    touched |= load<u32>(a, 128);
    const q2 = q1 + ws4;
    const d2 = scales4(q2, ws, dyr, hm);
    c2 = fmaStep4(sums4(q2, ws, ye0, Y1, Y2, Y3, cy, out + 96), d2, c2);
    v128.store(out, c2, 96);
    touched |= load<u32>(a, 192);
    const q3 = q2 + ws4;
    const d3 = scales4(q3, ws, dyr, hm);
    c3 = fmaStep4(sums4(q3, ws, ye0, Y1, Y2, Y3, cy, out + 112), d3, c3);
    v128.store(out, c3, 112);
    dmin = i32x4.min_u(dmin, i32x4.min_u(absBits(d2), absBits(d3)));
    cmax = i32x4.max_u(cmax, i32x4.max_u(absBits(c2), absBits(c3)));
    touched |= load<u32>(a, 256);
    const q4 = q3 + ws4;
    const d4 = scales4(q4, ws, dyr, hm);
    c4 = fmaStep4(sums4(q4, ws, ye0, Y1, Y2, Y3, cy, out + 0), d4, c4);
    v128.store(out, c4, 0);
    touched |= load<u32>(a, 320);
    const q5 = q4 + ws4;
    const d5 = scales4(q5, ws, dyr, hm);
    c5 = fmaStep4(sums4(q5, ws, ye0, Y1, Y2, Y3, cy, out + 16), d5, c5);
    v128.store(out, c5, 16);
    dmin = i32x4.min_u(dmin, i32x4.min_u(absBits(d4), absBits(d5)));
    cmax = i32x4.max_u(cmax, i32x4.max_u(absBits(c4), absBits(c5)));
    touched |= load<u32>(a, 384);
    const q6 = q5 + ws4;
    const d6 = scales4(q6, ws, dyr, hm);
    c6 = fmaStep4(sums4(q6, ws, ye0, Y1, Y2, Y3, cy, out + 32), d6, c6);
    v128.store(out, c6, 32);
    touched |= load<u32>(a, 448);
    const q7 = q6 + ws4;
    const d7 = scales4(q7, ws, dyr, hm);
    c7 = fmaStep4(sums4(q7, ws, ye0, Y1, Y2, Y3, cy, out + 48), d7, c7);
    v128.store(out, c7, 48);
    dmin = i32x4.min_u(dmin, i32x4.min_u(absBits(d6), absBits(d7)));
    cmax = i32x4.max_u(cmax, i32x4.max_u(absBits(c6), absBits(c7)));
    touched |= load<u32>(a, 512);
    a += 32 * BLOCK_BYTES;
    p += BLOCK_BYTES; y += Q8_BYTES;
  }
  if (!fmaChainExact(cmax, dmin) || nonFinite(c0) || nonFinite(c1) || nonFinite(c2) || nonFinite(c3) ||
      nonFinite(c4) || nonFinite(c5) || nonFinite(c6) || nonFinite(c7) || (touched & load<u32>(ZERO)) != 0) {
    for (let g = 0; g < 4; g++) tile8Checked(out + (<usize>g << 5), w0 + <usize>g * (ws << 3), ws, x0, k);
    return;
  }
  v128.store(out, c0); v128.store(out, c1, 16); v128.store(out, c2, 32); v128.store(out, c3, 48);
  v128.store(out, c4, 64); v128.store(out, c5, 80); v128.store(out, c6, 96); v128.store(out, c7, 112);
}

// Eight weight rows x one token (tile32 for the last 8, 16 or 24 rows of a matrix).
function tile8(out: usize, w0: usize, ws: usize, x0: usize, k: i32): void {
  const nb = k / QK;
  const ws4 = ws << 2;
  let p = w0, y = x0;
  const hm = v128.load(VK, K_HMASK);
  let c0 = f32x4.splat(0), c1 = c0, cmax = c0, dmin = i32x4.splat(-1);
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const cy = offset8(ye0, yo0, ye1, yo1);
    const Y1 = i16x8.sub(ye1, i16x8.shl(ye0, 4)), Y2 = i16x8.sub(yo0, i16x8.shl(ye1, 4)), Y3 = i16x8.sub(yo1, i16x8.shl(yo0, 4));
    const dyr = f32x4.splat(halfRaised(y));
    const s0 = sums4(p, ws, ye0, Y1, Y2, Y3, cy, out + 16);
    const d0 = scales4(p, ws, dyr, hm);
    c0 = fmaStep4(s0, d0, c0);
    v128.store(out, c0, 16);
    const q1 = p + ws4;
    const s1 = sums4(q1, ws, ye0, Y1, Y2, Y3, cy, out);
    const d1 = scales4(q1, ws, dyr, hm);
    c1 = fmaStep4(s1, d1, c1);
    v128.store(out, c1);
    dmin = i32x4.min_u(dmin, i32x4.min_u(absBits(d0), absBits(d1)));
    cmax = i32x4.max_u(cmax, i32x4.max_u(absBits(c0), absBits(c1)));
    p += BLOCK_BYTES; y += Q8_BYTES;
  }
  if (!fmaChainExact(cmax, dmin) || nonFinite(c0) || nonFinite(c1)) { tile8Checked(out, w0, ws, x0, k); return; }
  v128.store(out, c0); v128.store(out, c1, 16);
}

/** One Q4_0 row (k values) rewritten as a Q8_0 row at dst: the same scale, each nibble minus 8
 *  as an int8. Exact: both rows hold the same values. */
function toQ8Row(w: usize, dst: usize, k: i32): void {
  const eight = i8x16.splat(8), lo4 = i8x16.splat(15);
  for (let i = 0; i < k / QK; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = dst + <usize>(i * Q8_BYTES);
    store<u16>(b, load<u16>(a));
    const q = v128.load(a, 2);
    v128.store(b, i8x16.sub(v128.and(q, lo4), eight), 2);
    v128.store(b, i8x16.sub(v128.and(i16x8.shr_u(q, 4), lo4), eight), 18);
  }
}

/**
 * out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 * (floats). matrixRows: the weight's whole row count. llama.cpp repacks a Q4_0 matrix whose
 * rows are a multiple of 8 and multiplies it in the repacked kernels' order (the tiles above:
 * thirty-two rows at a time, then eight, then up to four, for every token while those rows'
 * weights are in the cache). Any other matrix goes through ggml_vec_dot_q4_0_q8_0 (or
 * tinyBLAS, same order), whose lanes and fused steps are vec_dot_q8_0_q8_0's with the nibbles
 * minus 8 as weights: each row is rewritten as Q8_0 once and multiplied by q8_0.ts's dot.
 */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                     matrixRows: i32): void {
  const os = <usize>outStride << 2;
  if (matrixRows % 8 != 0) {
    const row = heap.alloc(<usize>(k / QK) * <usize>Q8_BYTES);
    for (let r = 0; r < nr; r++) {
      toQ8Row(w + <usize>r * wStride, row, k);
      for (let t = 0; t < nt; t++) store<f32>(out + <usize>t * os + (<usize>r << 2), dotQ8(row, x + <usize>t * xStride, k));
    }
    heap.free(row);
    return;
  }
  let r = 0;
  for (; r + 32 <= nr; r += 32) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    const ahead = r + 96 <= nr ? wr + (wStride << 6) : wr; // rows r+64..r+95, within [0, nr)
    for (let t = 0; t < nt; t++) tile32(o + <usize>t * os, wr, wStride, x + <usize>t * xStride, k, t == 0 ? ahead : wr);
  }
  if (r < nr) tiledGemm(out + (<usize>r << 2), outStride, w + <usize>r * wStride, wStride, nr - r, x, xStride, nt, k, tile8, tile4);
}
