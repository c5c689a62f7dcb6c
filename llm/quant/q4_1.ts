// Q4_1 (GGUF type 3): blocks of 32, { f16 d; f16 m; u8 qs[16] } = 20 bytes, x = q*d + m
// (nibble order as Q4_0). ggml pairs it with Q8_1 activations, whose block sum s = d*sum(q)
// turns the offset term into one product per block: m*s.
import { f16ToF32, f32ToF16, f16x4ToF32x4 } from "./f16";
import { hsum4, hsum, dot32x4, blockMin, blockMax } from "./common";
import { BLOCK_BYTES as Q8_1_BYTES } from "./q8_1";
import { storeRows } from "./q8_0";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 20;

/** quantize_row_q4_1_ref: d = (max-min)/15, q = min(15, (i8)((x-min)/d + 0.5)). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    const mn = blockMin(x, QK), mx = blockMax(x, QK);
    const d = (mx - mn) / <f32>15.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f32ToF16(d));
    store<u16>(y, <u16>f32ToF16(mn), 2);
    for (let j = 0; j < 16; j++) {
      const q0 = min(15, <i32>((load<f32>(x + (<usize>j << 2)) - mn) * id + <f32>0.5));
      const q1 = min(15, <i32>((load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id + <f32>0.5));
      store<u8>(y + 4 + <usize>j, <u8>(q0 | (q1 << 4)));
    }
  }
}

/** dequantize_row_q4_1: x = q*d + m. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b)), m = f16ToF32(load<u16>(b, 2));
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(b + 4 + <usize>j);
      store<f32>(y + (<usize>j << 2), <f32>(q & 15) * d + m);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>(q >> 4) * d + m);
    }
  }
}

/** ggml_vec_dot_q4_1_q8_1 (generic): per block sumf += (dx*dy)*sumi + mx*sy. */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_1_BYTES);
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(a + 4 + <usize>j);
      sumi += (q & 15) * <i32>load<i8>(b + 4 + <usize>j);
      sumi += (q >> 4) * <i32>load<i8>(b + 20 + <usize>j);
    }
    sumf += (f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b))) * <f32>sumi + f16ToF32(load<u16>(a, 2)) * f16ToF32(load<u16>(b, 2));
  }
  return sumf;
}

// @ts-ignore: decorator
@inline function lo(q: v128): v128 { return v128.and(q, i8x16.splat(15)); }
// @ts-ignore: decorator
@inline function hi(q: v128): v128 { return i8x16.shr_u(q, 4); }

export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_1_BYTES);
    const q = v128.load(a, 4);
    const sumi = hsum(dot32x4(lo(q), hi(q), v128.load(b, 4), v128.load(b, 20)));
    sumf += (f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b))) * <f32>sumi + f16ToF32(load<u16>(a, 2)) * f16ToF32(load<u16>(b, 2));
  }
  return sumf;
}

// @ts-ignore: decorator
@inline function step(acc: v128, dx: v128, mx: v128, a00: v128, a01: v128, a10: v128, a11: v128,
  a20: v128, a21: v128, a30: v128, a31: v128, y: usize): v128 {
  const y0 = v128.load(y, 4), y1 = v128.load(y, 20);
  const s = hsum4(dot32x4(a00, a01, y0, y1), dot32x4(a10, a11, y0, y1), dot32x4(a20, a21, y0, y1), dot32x4(a30, a31, y0, y1));
  const t = f32x4.mul(f32x4.mul(dx, f32x4.splat(f16ToF32(load<u16>(y)))), f32x4.convert_i32x4_s(s));
  return f32x4.add(acc, f32x4.add(t, f32x4.mul(mx, f32x4.splat(f16ToF32(load<u16>(y, 2))))));
}

// @ts-ignore: decorator
@inline function halves4(w0: usize, w1: usize, w2: usize, w3: usize): v128 {
  let h = i32x4.splat(load<u16>(w0));
  h = i32x4.replace_lane(h, 1, load<u16>(w1));
  h = i32x4.replace_lane(h, 2, load<u16>(w2));
  h = i32x4.replace_lane(h, 3, load<u16>(w3));
  return f16x4ToF32x4(h);
}

function tile4x4(out: usize, os: usize, w0: usize, ws: usize, nr: i32, x0: usize, xs: usize, nb: i32): void {
  const w1 = nr > 1 ? w0 + ws : w0, w2 = nr > 2 ? w1 + ws : w1, w3 = nr > 3 ? w2 + ws : w2;
  const x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const o = <usize>(i * BLOCK_BYTES), oy = <usize>(i * Q8_1_BYTES);
    const dx = halves4(w0 + o, w1 + o, w2 + o, w3 + o);
    const mx = halves4(w0 + o + 2, w1 + o + 2, w2 + o + 2, w3 + o + 2);
    const q0 = v128.load(w0 + o, 4), q1 = v128.load(w1 + o, 4), q2 = v128.load(w2 + o, 4), q3 = v128.load(w3 + o, 4);
    const a00 = lo(q0), a01 = hi(q0), a10 = lo(q1), a11 = hi(q1);
    const a20 = lo(q2), a21 = hi(q2), a30 = lo(q3), a31 = hi(q3);
    c0 = step(c0, dx, mx, a00, a01, a10, a11, a20, a21, a30, a31, x0 + oy);
    c1 = step(c1, dx, mx, a00, a01, a10, a11, a20, a21, a30, a31, x1 + oy);
    c2 = step(c2, dx, mx, a00, a01, a10, a11, a20, a21, a30, a31, x2 + oy);
    c3 = step(c3, dx, mx, a00, a01, a10, a11, a20, a21, a30, a31, x3 + oy);
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
    const dx = halves4(w0 + o, w1 + o, w2 + o, w3 + o);
    const mx = halves4(w0 + o + 2, w1 + o + 2, w2 + o + 2, w3 + o + 2);
    const q0 = v128.load(w0 + o, 4), q1 = v128.load(w1 + o, 4), q2 = v128.load(w2 + o, 4), q3 = v128.load(w3 + o, 4);
    c0 = step(c0, dx, mx, lo(q0), hi(q0), lo(q1), hi(q1), lo(q2), hi(q2), lo(q3), hi(q3), x0 + <usize>(i * Q8_1_BYTES));
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
