// Q8_K (GGUF type 15): blocks of 256, { f32 d; i8 qs[256]; i16 bsums[16] } = 292 bytes,
// x = d*q. Only an activation format: ggml pairs every K-quant with it (vec_dot_type Q8_K).
// bsums[j] is the sum of qs[16j..16j+15]; the K-quants use it for their block minimum terms.
import { nearestInt } from "./common";

export const QK: i32 = 256;
export const BLOCK_BYTES: i32 = 292;
export const QS: i32 = 4;       // offset of qs in a block
export const BSUMS: i32 = 260;  // offset of bsums

/** quantize_row_q8_K_ref: iscale = -127/(value of largest magnitude), q = min(127, nearest(x*iscale)), d = 1/iscale. */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    let max: f32 = 0, amax: f32 = 0;
    for (let j = 0; j < QK; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      const ax = Mathf.abs(v);
      if (ax > amax) { amax = ax; max = v; }
    }
    if (amax == 0) {
      // ggml leaves bsums untouched here; zero is the only value consistent with qs.
      store<f32>(y, 0);
      memory.fill(y + QS, 0, <usize>(BLOCK_BYTES - QS));
      continue;
    }
    const iscale = <f32>-127.0 / max;
    for (let j = 0; j < QK; j++) store<i8>(y + QS + <usize>j, <i8>min(127, nearestInt(iscale * load<f32>(x + (<usize>j << 2)))));
    for (let j = 0; j < 16; j++) {
      let s = 0;
      for (let l = 0; l < 16; l++) s += <i32>load<i8>(y + QS + <usize>(16 * j + l));
      store<i16>(y + BSUMS + (<usize>j << 1), <i16>s);
    }
    store<f32>(y, <f32>1.0 / iscale);
  }
}

/** dequantize_row_q8_K: x = d*q. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = load<f32>(b);
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < QK; j++) store<f32>(y + (<usize>j << 2), d * <f32>load<i8>(b + QS + <usize>j));
  }
}

/** Lane sums (i16x8, lane l = elements l and l+8) of 16 products of int8 weights a and activations at y. */
// @ts-ignore: decorator
@inline export function sub16(a: v128, y: usize): v128 {
  const y0 = v128.load(y);
  return i16x8.add(i16x8.extmul_low_i8x16_s(a, y0), i16x8.extmul_high_i8x16_s(a, y0));
}

/** Lane sums of 32 products (lane l = elements l, l+8, l+16, l+24); |a| <= 31 keeps them in i16. */
// @ts-ignore: decorator
@inline export function sub32(a0: v128, a1: v128, y: usize): v128 {
  const y0 = v128.load(y), y1 = v128.load(y, 16);
  return i16x8.add(i16x8.add(i16x8.extmul_low_i8x16_s(a0, y0), i16x8.extmul_high_i8x16_s(a0, y0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(a1, y1), i16x8.extmul_high_i8x16_s(a1, y1)));
}
