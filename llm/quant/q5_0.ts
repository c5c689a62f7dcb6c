// Q5_0 (GGUF type 6): blocks of 32, { f16 d; u8 qh[4]; u8 qs[16] } = 22 bytes. Element j takes
// the low nibble of qs[j] (j < 16) or the high nibble of qs[j-16], and bit j of qh as its fifth
// bit; x = (q - 16)*d. Paired with Q8_0 activations. llama.cpp's quantizer uses it where a row
// is not a multiple of 256 in a Q4_K mix (Q4_K_M's fallback).
//
// llama.cpp's x86 build multiplies it as it does Q8_0 (ggml_vec_dot_q5_0_q8_0 for one row,
// tinyBLAS for a batch: eight f32 lanes of four products each, fma(dx*dy, lane, acc), block
// after block), on the weights expanded to int8. So the product here expands each group of
// rows to a Q8_0 row in the caller's work buffer (the same values and scale, exactly) and
// runs the Q8_0 kernels on it: the same bits.
import { f16ToF32, f32ToF16 } from "./f16";
import { largestMagnitude } from "./common";
import { BLOCK_BYTES as Q8_BYTES, gemm as gemmQ8_0, dot as dotQ8_0 } from "./q8_0";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 22;
/** Rows expanded at a time (the Q8_0 kernel's tile). */
const ROWS: i32 = 4;

/** quantize_row_q5_0_ref: d = (signed value of largest magnitude)/-16, q = min(31, (i8)(x/d + 16.5)). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    const max = largestMagnitude(x, QK);
    const d = max / <f32>-16.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f32ToF16(d));
    let qh: u32 = 0;
    for (let j = 0; j < 16; j++) {
      // (int8_t) truncates toward zero; the sums are >= 0.5 - tiny, never below -1.
      const q0 = <u32>min(31, <i32>(load<f32>(x + (<usize>j << 2)) * id + <f32>16.5));
      const q1 = <u32>min(31, <i32>(load<f32>(x + (<usize>(j + 16) << 2)) * id + <f32>16.5));
      store<u8>(y + 6 + <usize>j, <u8>((q0 & 15) | ((q1 & 15) << 4)));
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    store<u32>(y, qh, 2);
  }
}

/** dequantize_row_q5_0: x = (q - 16)*d. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b));
    const qh = load<u32>(b, 2);
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < 16; j++) {
      const q = <u32>load<u8>(b + 6 + <usize>j);
      store<f32>(y + (<usize>j << 2), <f32>(<i32>((q & 15) | (((qh >> j) & 1) << 4)) - 16) * d);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>(<i32>((q >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16) * d);
    }
  }
}

/** ggml_vec_dot_q5_0_q8_0 (generic, ggml's portable reference): per block sumf += sumi*(dx*dy). */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_BYTES);
    const qh = load<u32>(a, 2);
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const q = <u32>load<u8>(a + 6 + <usize>j);
      sumi += (<i32>((q & 15) | (((qh >> j) & 1) << 4)) - 16) * <i32>load<i8>(b + 2 + <usize>j);
      sumi += (<i32>((q >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16) * <i32>load<i8>(b + 18 + <usize>j);
    }
    sumf += <f32>sumi * (f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)));
  }
  return sumf;
}

/** One row against one activation row in llama.cpp's x86 order; work holds k/32*34 bytes. */
export function dot(w: usize, x: usize, k: i32, work: usize): f32 {
  toQ8Row(w, work, k);
  return dotQ8_0(work, x, k);
}

/** One Q5_0 row of k values rewritten as a Q8_0 row at dst (exact: the same values). */
function toQ8Row(w: usize, dst: usize, k: i32): void {
  const lo4 = i8x16.splat(15), sixteen = i8x16.splat(16), bit = v128.load(BIT_OF_BYTE), spread = v128.load(SPREAD);
  for (let i = 0; i < k / QK; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = dst + <usize>(i * Q8_BYTES);
    store<u16>(b, load<u16>(a));
    const q = v128.load(a, 6);
    const f0 = fifthBits(a + 2, spread, bit, sixteen), f1 = fifthBits(a + 4, spread, bit, sixteen);
    v128.store(b, i8x16.sub(v128.or(v128.and(q, lo4), f0), sixteen), 2);
    v128.store(b, i8x16.sub(v128.or(v128.and(i16x8.shr_u(q, 4), lo4), f1), sixteen), 18);
  }
}

// Vector constants, loaded from memory (V8 would rebuild a v128 constant at every use in a loop).
/** Swizzle indices: lanes 0..7 take byte 0 of a splatted u16 (bits 0..7), lanes 8..15 byte 1. */
export const SPREAD = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 16);
/** The bit each lane tests: 1, 2, 4, ... 128, twice. */
export const BIT_OF_BYTE = memory.data<u8>([1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128], 16);

/** The fifth bits of one block's 32 values (qh, 16 bits per half at h) as bytes of 16 where set:
 *  [elements 0..15] for the low half, [16..31] for the high. */
// @ts-ignore: decorator
@inline export function fifthBits(h: usize, spread: v128, bit: v128, sixteen: v128): v128 {
  const b = i8x16.swizzle(i32x4.splat(load<u16>(h)), spread);
  return v128.and(i8x16.eq(v128.and(b, bit), bit), sixteen);
}

/** Work bytes gemm needs: ROWS weight rows as Q8_0. */
export function gemmWorkBytes(k: i32): usize { return <usize>ROWS * <usize>(k / QK) * <usize>Q8_BYTES; }

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt (strides in bytes except outStride, in
 *  floats), ROWS rows at a time expanded into work (gemmWorkBytes). */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
  work: usize): void {
  const qs = <usize>(k / QK) * <usize>Q8_BYTES;
  for (let r = 0; r < nr; r += ROWS) {
    const n = min(ROWS, nr - r);
    for (let i = 0; i < n; i++) toQ8Row(w + <usize>(r + i) * wStride, work + <usize>i * qs, k);
    gemmQ8_0(out + (<usize>r << 2), outStride, work, qs, n, x, xStride, nt, k);
  }
}
