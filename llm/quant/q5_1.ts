// Q5_1 (GGUF type 7): blocks of 32, { f16 d; f16 m; u8 qh[4]; u8 qs[16] } = 24 bytes, values
// as Q5_0's (nibble plus a fifth bit from qh) but unsigned: x = q*d + m. Paired with Q8_1
// activations, whose block sum s = d*sum(q) turns the offset into one product per block:
// m*s. llama.cpp's quantizer uses it where a row is not a multiple of 256 in a Q5_K mix.
//
// llama.cpp's x86 build multiplies it by ggml_vec_dot_q5_1_q8_1 (AVX2) for one activation row
// and for a batch alike (tinyBLAS takes no Q5_1): eight f32 lanes, lane l the sum of products
// 4l..4l+3 of each block (exact), lane = fma(lane sum, dx*dy, lane) block after block, and the
// offsets summed apart, summs = fma(m, s, summs) (GCC fuses that line); the result is
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) + summs.
import { f16ToF32, f32ToF16 } from "./f16";
import { evens, odds, hsumFloat8, blockMin, blockMax, widenPairs } from "./common";
import { BLOCK_BYTES as Q8_1_BYTES } from "./q8_1";
import { SPREAD, BIT_OF_BYTE, fifthBits } from "./q5_0";
import { fma32, fma32x4 } from "../math/fma";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 24;

/** quantize_row_q5_1_ref: d = (max-min)/31, m = min, q = (u8)((x-min)/d + 0.5). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    const mn = blockMin(x, QK), mx = blockMax(x, QK);
    const d = (mx - mn) / <f32>31.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f32ToF16(d));
    store<u16>(y, <u16>f32ToF16(mn), 2);
    let qh: u32 = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = <u32><u8><i32>((load<f32>(x + (<usize>j << 2)) - mn) * id + <f32>0.5);
      const q1 = <u32><u8><i32>((load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id + <f32>0.5);
      store<u8>(y + 8 + <usize>j, <u8>((q0 & 15) | ((q1 & 15) << 4)));
      qh |= (((q0 >> 4) & 1) << j) | (((q1 >> 4) & 1) << (j + 16));
    }
    store<u32>(y, qh, 4);
  }
}

/** dequantize_row_q5_1: x = q*d + m. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b)), m = f16ToF32(load<u16>(b, 2));
    const qh = load<u32>(b, 4);
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < 16; j++) {
      const q = <u32>load<u8>(b + 8 + <usize>j);
      store<f32>(y + (<usize>j << 2), <f32>((q & 15) | (((qh >> j) & 1) << 4)) * d + m);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>((q >> 4) | (((qh >> (j + 16)) & 1) << 4)) * d + m);
    }
  }
}

/** ggml_vec_dot_q5_1_q8_1 (generic): per block sumf += (dx*dy)*sumi + mx*sy. */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_1_BYTES);
    const qh = load<u32>(a, 4);
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const q = <u32>load<u8>(a + 8 + <usize>j);
      sumi += <i32>((q & 15) | (((qh >> j) & 1) << 4)) * <i32>load<i8>(b + 4 + <usize>j);
      sumi += <i32>((q >> 4) | (((qh >> (j + 16)) & 1) << 4)) * <i32>load<i8>(b + 20 + <usize>j);
    }
    sumf += (f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b))) * <f32>sumi + f16ToF32(load<u16>(a, 2)) * f16ToF32(load<u16>(b, 2));
  }
  return sumf;
}

/** Sums of four consecutive products of 16 weights q (0..31, bytes) and activations y (i8),
 *  as f32x4 (exact): even and odd bytes multiplied in i16 lanes, pairs added (|sum| <= 2*31*128). */
// @ts-ignore: decorator
@inline function lanes(q: v128, y: v128): v128 {
  return f32x4.convert_i32x4_s(widenPairs(i16x8.add(i16x8.mul(evens(q), evens(y)), i16x8.mul(odds(q), odds(y)))));
}

/** One weight row against one Q8_1 activation row, in llama.cpp's x86 order (see above). */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const lo4 = i8x16.splat(15), sixteen = i8x16.splat(16), bit = v128.load(BIT_OF_BYTE), spread = v128.load(SPREAD);
  let lo = f32x4.splat(0), hi = lo, summs: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_1_BYTES);
    summs = fma32(f16ToF32(load<u16>(a, 2)), f16ToF32(load<u16>(b, 2)), summs);
    const q = v128.load(a, 8);
    const q0 = v128.or(v128.and(q, lo4), fifthBits(a + 4, spread, bit, sixteen));
    const q1 = v128.or(v128.and(i16x8.shr_u(q, 4), lo4), fifthBits(a + 6, spread, bit, sixteen));
    const d = f32x4.splat(f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)));
    lo = fma32x4(lanes(q0, v128.load(b, 4)), d, lo);
    hi = fma32x4(lanes(q1, v128.load(b, 20)), d, hi);
  }
  return hsumFloat8(lo, hi) + summs;
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt (strides in bytes except outStride, in
 *  floats), row by row for every token. */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  const os = <usize>outStride << 2;
  for (let r = 0; r < nr; r++) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) store<f32>(o + <usize>t * os, dot(wr, x + <usize>t * xStride, k));
  }
}
