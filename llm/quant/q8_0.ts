// Q8_0 (GGUF type 8): blocks of 32 weights, { f16 d; i8 qs[32] } = 34 bytes, x = d*q.
// Also the activation format ggml pairs with Q4_0 and Q8_0 weights (vec_dot_type Q8_0).
import { f16ToF32, f32ToF16 } from "./f16";
import { roundAway, hsum, evens, odds, VK, K_HMASK, K_H2F, halves4, halfSplat, nonFinite, tiledGemm } from "./common";

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

/** ggml_vec_dot_q8_0_q8_0 (generic): per block sumf += sumi*(dx*dy), blocks in order. */
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

// The SIMD kernels split weights and activations into even and odd bytes (sign-extended i16
// lanes) and multiply them with i16x8.mul: two products summed stay within i16 (weights may be
// -128, activations from the reference quantizer never are: 2*128*127 < 2^15), widened once per
// half block. Integer sums are exact; the float part keeps ggml's order, sumf += sumi*(dx*dy)
// block after block. Scales go through halvesFast; non-finite tiles are recomputed exactly. The
// ops suit both targets (see q4_0.ts).

/** sum(w*y) over one block (four i32 lanes): w0/w1 the weight's two 16-byte halves. */
// @ts-ignore: decorator
@inline function q8m(w0: v128, w1: v128, ye0: v128, yo0: v128, ye1: v128, yo1: v128): v128 {
  const p0 = i16x8.add(i16x8.mul(evens(w0), ye0), i16x8.mul(odds(w0), yo0));
  const p1 = i16x8.add(i16x8.mul(evens(w1), ye1), i16x8.mul(odds(w1), yo1));
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(p0), i32x4.extadd_pairwise_i16x8_s(p1));
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

/** One row, one activation row, SIMD; same arithmetic as dotScalar. */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * BLOCK_BYTES);
    const y0 = v128.load(b, 2), y1 = v128.load(b, 18);
    const sumi = hsum(q8m(v128.load(a, 2), v128.load(a, 18), evens(y0), odds(y0), evens(y1), odds(y1)));
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

// Rows [0, nr) of one token by the exact scalar path (non-finite results only).
function exactRows(out: usize, w0: usize, ws: usize, nr: i32, x0: usize, k: i32): void {
  for (let r = 0; r < nr; r++) store<f32>(out + (<usize>r << 2), dotScalar(w0 + <usize>r * ws, x0, k));
}

// Eight weight rows x one token; the stores after each pair of rows (into this tile's own output
// slots, all overwritten at the end) keep V8 from loading the next rows early (see q4_0.ts).
function tile8(out: usize, w0: usize, ws: usize, x0: usize, k: i32): void {
  const nb = k / QK;
  let p = w0, y = x0;
  const hm = v128.load(VK, K_HMASK), h2f = v128.load(VK, K_H2F);
  let c = f32x4.splat(0), d = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const dy = halfSplat(y, hm, h2f);
    const r1 = p + ws, r2 = r1 + ws, r3 = r2 + ws;
    const a = pair(q8m(v128.load(p, 2), v128.load(p, 18), ye0, yo0, ye1, yo1), q8m(v128.load(r1, 2), v128.load(r1, 18), ye0, yo0, ye1, yo1));
    v128.store(out, a);
    const b = pair(q8m(v128.load(r2, 2), v128.load(r2, 18), ye0, yo0, ye1, yo1), q8m(v128.load(r3, 2), v128.load(r3, 18), ye0, yo0, ye1, yo1));
    c = f32x4.add(c, f32x4.mul(f32x4.convert_i32x4_s(quad(a, b)), f32x4.mul(halves4(p, r1, r2, r3, hm, h2f), dy)));
    v128.store(out, c);
    const r4 = r3 + ws, r5 = r4 + ws, r6 = r5 + ws, r7 = r6 + ws;
    const e = pair(q8m(v128.load(r4, 2), v128.load(r4, 18), ye0, yo0, ye1, yo1), q8m(v128.load(r5, 2), v128.load(r5, 18), ye0, yo0, ye1, yo1));
    v128.store(out, e, 16);
    const f = pair(q8m(v128.load(r6, 2), v128.load(r6, 18), ye0, yo0, ye1, yo1), q8m(v128.load(r7, 2), v128.load(r7, 18), ye0, yo0, ye1, yo1));
    d = f32x4.add(d, f32x4.mul(f32x4.convert_i32x4_s(quad(e, f)), f32x4.mul(halves4(r4, r5, r6, r7, hm, h2f), dy)));
    v128.store(out, d, 16);
    p += BLOCK_BYTES; y += BLOCK_BYTES;
  }
  if (nonFinite(c) || nonFinite(d)) exactRows(out, w0, ws, 8, x0, k);
}

// Up to four weight rows x one token (missing rows repeat the last one; lanes are independent).
function tile4(out: usize, w0: usize, ws: usize, nr: i32, x0: usize, k: i32): void {
  const nb = k / QK;
  let p0 = w0, p1 = nr > 1 ? w0 + ws : w0, p2 = nr > 2 ? p1 + ws : p1, p3 = nr > 3 ? p2 + ws : p2, y = x0;
  const hm = v128.load(VK, K_HMASK), h2f = v128.load(VK, K_H2F);
  let c = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const a = pair(q8m(v128.load(p0, 2), v128.load(p0, 18), ye0, yo0, ye1, yo1), q8m(v128.load(p1, 2), v128.load(p1, 18), ye0, yo0, ye1, yo1));
    const b = pair(q8m(v128.load(p2, 2), v128.load(p2, 18), ye0, yo0, ye1, yo1), q8m(v128.load(p3, 2), v128.load(p3, 18), ye0, yo0, ye1, yo1));
    c = f32x4.add(c, f32x4.mul(f32x4.convert_i32x4_s(quad(a, b)), f32x4.mul(halves4(p0, p1, p2, p3, hm, h2f), halfSplat(y, hm, h2f))));
    p0 += BLOCK_BYTES; p1 += BLOCK_BYTES; p2 += BLOCK_BYTES; p3 += BLOCK_BYTES; y += BLOCK_BYTES;
  }
  if (nonFinite(c)) { exactRows(out, w0, ws, nr, x0, k); return; }
  storeRows(out, c, nr);
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt (see tiledGemm). */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  tiledGemm(out, outStride, w, wStride, nr, x, xStride, nt, k, tile8, tile4);
}
