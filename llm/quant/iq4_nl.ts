// IQ4_NL (GGUF type 20): blocks of 32, { f16 d; u8 qs[16] } = 18 bytes, nibbles laid out as
// Q4_0's (element j the low nibble of qs[j], j+16 the high one), each an index into a fixed
// non-linear table of 16 levels; x = level*d. Paired with Q8_0 activations. llama.cpp's
// quantizer writes it where a row is not a multiple of 256 in its IQ4_XS mixes.
//
// llama.cpp's x86 build multiplies it three ways, and so does this file, on the weights
// expanded to int8 (the levels fit: -127..113) in the caller's work buffer:
//   - a matrix whose rows are a multiple of 8 is repacked (iq4_nl_8x8, Q4_0's kernels with a
//     lookup table): per row, sumf = fma(sumi, dx*dy, sumf) block after block (dotBlocks);
//   - otherwise, one activation row: ggml_vec_dot_iq4_nl_q8_0 (AVX2), eight f32 lanes of four
//     products, even blocks into one accumulator and odd ones into another, fma(dx*dy, lane,
//     acc), then hsum(acc1 + acc2), and an odd last block added as fma(dx*dy, sumi, sum);
//   - otherwise, a batch: llamafile's tinyBLAS, the Q8_0 kernels' order (q8_0.ts gemm).
import { f16ToF32 } from "./f16";
import { evens, odds, hsum, hsumFloat8, widenPairs } from "./common";
import { dequantizeNibbleBlocks } from "./q4_0";
import { BLOCK_BYTES as Q8_BYTES, gemm as gemmQ8_0 } from "./q8_0";
import { fma32, fma32x4 } from "../math/fma";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 18;
/** Rows expanded at a time (the Q8_0 kernel's tile). */
const ROWS: i32 = 4;

/** kvalues_iq4nl: the 16 levels. */
const LEVELS = memory.data<i8>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], 16);

/** dequantize_row_iq4_nl: x = level*d. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void { dequantizeNibbleBlocks(src, dst, n, LEVELS); }

/** One IQ4_NL row of k values rewritten as a Q8_0 row at dst (exact: the same values). */
function toQ8Row(w: usize, dst: usize, k: i32): void {
  const lo4 = i8x16.splat(15), levels = v128.load(LEVELS);
  for (let i = 0; i < k / QK; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = dst + <usize>(i * Q8_BYTES);
    store<u16>(b, load<u16>(a));
    const q = v128.load(a, 2);
    v128.store(b, i8x16.swizzle(levels, v128.and(q, lo4)), 2);
    v128.store(b, i8x16.swizzle(levels, v128.and(i16x8.shr_u(q, 4), lo4)), 18);
  }
}

/** i32x4 of the sums of four consecutive products of 16 int8 pairs (|sum| <= 2*127*128 per i16). */
// @ts-ignore: decorator
@inline function sum4(w: v128, y: v128): v128 {
  return widenPairs(i16x8.add(i16x8.mul(evens(w), evens(y)), i16x8.mul(odds(w), odds(y))));
}

/** The repacked kernels' order: per block sumf = fma(sumi, dx*dy, sumf). w8: a row as Q8_0. */
export function dotBlocks(w8: usize, x: usize, k: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0; i < k / QK; i++) {
    const a = w8 + <usize>(i * Q8_BYTES), b = x + <usize>(i * Q8_BYTES);
    const s = hsum(i32x4.add(sum4(v128.load(a, 2), v128.load(b, 2)), sum4(v128.load(a, 18), v128.load(b, 18))));
    sumf = fma32(<f32>s, f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)), sumf);
  }
  return sumf;
}

/** ggml_vec_dot_iq4_nl_q8_0's AVX2 order (see the top). w8: a row as Q8_0. */
export function dotVec(w8: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let lo1 = f32x4.splat(0), hi1 = lo1, lo2 = lo1, hi2 = lo1;
  let i = 0;
  for (; i + 1 < nb; i += 2) {
    const a = w8 + <usize>(i * Q8_BYTES), b = x + <usize>(i * Q8_BYTES);
    const d1 = f32x4.splat(f16ToF32(load<u16>(b)) * f16ToF32(load<u16>(a)));
    lo1 = fma32x4(d1, f32x4.convert_i32x4_s(sum4(v128.load(a, 2), v128.load(b, 2))), lo1);
    hi1 = fma32x4(d1, f32x4.convert_i32x4_s(sum4(v128.load(a, 18), v128.load(b, 18))), hi1);
    const a2 = a + Q8_BYTES, b2 = b + Q8_BYTES;
    const d2 = f32x4.splat(f16ToF32(load<u16>(b2)) * f16ToF32(load<u16>(a2)));
    lo2 = fma32x4(d2, f32x4.convert_i32x4_s(sum4(v128.load(a2, 2), v128.load(b2, 2))), lo2);
    hi2 = fma32x4(d2, f32x4.convert_i32x4_s(sum4(v128.load(a2, 18), v128.load(b2, 18))), hi2);
  }
  let sumf = hsumFloat8(f32x4.add(lo1, lo2), f32x4.add(hi1, hi2));
  if (i < nb) {
    const a = w8 + <usize>(i * Q8_BYTES), b = x + <usize>(i * Q8_BYTES);
    const s = hsum(i32x4.add(sum4(v128.load(a, 2), v128.load(b, 2)), sum4(v128.load(a, 18), v128.load(b, 18))));
    sumf = fma32(f16ToF32(load<u16>(b)) * f16ToF32(load<u16>(a)), <f32>s, sumf);
  }
  return sumf;
}

/** Work bytes gemm needs: ROWS weight rows as Q8_0. */
export function gemmWorkBytes(k: i32): usize { return <usize>ROWS * <usize>(k / QK) * <usize>Q8_BYTES; }

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt (strides in bytes except outStride, in
 *  floats), in the order llama.cpp takes for a matrix of matrixRows rows (see the top);
 *  batched: the rows are part of a product of two or more activation rows. */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
  work: usize, matrixRows: i32, batched: bool): void {
  const qs = <usize>(k / QK) * <usize>Q8_BYTES, os = <usize>outStride << 2;
  const repacked = matrixRows % 8 == 0;
  for (let r = 0; r < nr; r += ROWS) {
    const n = min(ROWS, nr - r);
    for (let i = 0; i < n; i++) toQ8Row(w + <usize>(r + i) * wStride, work + <usize>i * qs, k);
    if (!repacked && batched) { gemmQ8_0(out + (<usize>r << 2), outStride, work, qs, n, x, xStride, nt, k); continue; }
    for (let i = 0; i < n; i++) {
      const w8 = work + <usize>i * qs, o = out + (<usize>(r + i) << 2);
      for (let t = 0; t < nt; t++) {
        const xt = x + <usize>t * xStride;
        store<f32>(o + <usize>t * os, repacked ? dotBlocks(w8, xt, k) : dotVec(w8, xt, k));
      }
    }
  }
}
