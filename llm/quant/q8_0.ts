// Q8_0 (GGUF type 8): blocks of 32 weights, { f16 d; i8 qs[32] } = 34 bytes, x = d*q.
// Also the activation format ggml pairs with Q4_0 and Q8_0 weights (vec_dot_type Q8_0).
import { f16ToF32, f32ToF16, f16x4ToF32x4 } from "./f16";
import { roundAway, hsum4, hsum, dot32x8 } from "./common";

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

/** One row, one activation row, SIMD; same arithmetic as dotScalar. */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * BLOCK_BYTES);
    const sumi = hsum(dot32x8(v128.load(a, 2), v128.load(a, 18), v128.load(b, 2), v128.load(b, 18)));
    sumf += <f32>sumi * (f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)));
  }
  return sumf;
}

// One token's contribution for four weight rows held in registers (lanes = rows).
// @ts-ignore: decorator
@inline function step(acc: v128, dx: v128, a00: v128, a01: v128, a10: v128, a11: v128,
  a20: v128, a21: v128, a30: v128, a31: v128, y: usize): v128 {
  const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
  const s = hsum4(dot32x8(a00, a01, y0, y1), dot32x8(a10, a11, y0, y1), dot32x8(a20, a21, y0, y1), dot32x8(a30, a31, y0, y1));
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dx, f32x4.splat(f16ToF32(load<u16>(y))))));
}

// @ts-ignore: decorator
@inline function scales4(w0: usize, w1: usize, w2: usize, w3: usize): v128 {
  let h = i32x4.splat(load<u16>(w0));
  h = i32x4.replace_lane(h, 1, load<u16>(w1));
  h = i32x4.replace_lane(h, 2, load<u16>(w2));
  h = i32x4.replace_lane(h, 3, load<u16>(w3));
  return f16x4ToF32x4(h);
}

/** Stores lanes [0, nr) of v at p (rows are consecutive floats in the output). */
// @ts-ignore: decorator
@inline export function storeRows(p: usize, v: v128, nr: i32): void {
  if (nr >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (nr > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (nr > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// Four weight rows (missing ones repeat the last row; lanes are independent) x four tokens.
function tile4x4(out: usize, os: usize, w0: usize, ws: usize, nr: i32, x0: usize, xs: usize, nb: i32): void {
  const w1 = nr > 1 ? w0 + ws : w0, w2 = nr > 2 ? w1 + ws : w1, w3 = nr > 3 ? w2 + ws : w2;
  const x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const o = <usize>(i * BLOCK_BYTES);
    const dx = scales4(w0 + o, w1 + o, w2 + o, w3 + o);
    const a00 = v128.load(w0 + o, 2), a01 = v128.load(w0 + o, 18);
    const a10 = v128.load(w1 + o, 2), a11 = v128.load(w1 + o, 18);
    const a20 = v128.load(w2 + o, 2), a21 = v128.load(w2 + o, 18);
    const a30 = v128.load(w3 + o, 2), a31 = v128.load(w3 + o, 18);
    c0 = step(c0, dx, a00, a01, a10, a11, a20, a21, a30, a31, x0 + o);
    c1 = step(c1, dx, a00, a01, a10, a11, a20, a21, a30, a31, x1 + o);
    c2 = step(c2, dx, a00, a01, a10, a11, a20, a21, a30, a31, x2 + o);
    c3 = step(c3, dx, a00, a01, a10, a11, a20, a21, a30, a31, x3 + o);
  }
  storeRows(out, c0, nr);
  storeRows(out + os, c1, nr);
  storeRows(out + 2 * os, c2, nr);
  storeRows(out + 3 * os, c3, nr);
}

function tile4x1(out: usize, w0: usize, ws: usize, nr: i32, x0: usize, nb: i32): void {
  const w1 = nr > 1 ? w0 + ws : w0, w2 = nr > 2 ? w1 + ws : w1, w3 = nr > 3 ? w2 + ws : w2;
  let c0 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const o = <usize>(i * BLOCK_BYTES);
    const dx = scales4(w0 + o, w1 + o, w2 + o, w3 + o);
    c0 = step(c0, dx, v128.load(w0 + o, 2), v128.load(w0 + o, 18), v128.load(w1 + o, 2), v128.load(w1 + o, 18),
      v128.load(w2 + o, 2), v128.load(w2 + o, 18), v128.load(w3 + o, 2), v128.load(w3 + o, 18), x0 + o);
  }
  storeRows(out, c0, nr);
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride (floats). */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  const nb = k / QK;
  const os = <usize>outStride << 2;
  for (let r = 0; r < nr; r += 4) {
    const rows = min(4, nr - r);
    const wr = w + <usize>r * wStride;
    const o = out + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= nt; t += 4) tile4x4(o + <usize>t * os, os, wr, wStride, rows, x + <usize>t * xStride, xStride, nb);
    for (; t < nt; t++) tile4x1(o + <usize>t * os, wr, wStride, rows, x + <usize>t * xStride, nb);
  }
}
