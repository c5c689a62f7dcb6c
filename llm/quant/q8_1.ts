// Q8_1 (GGUF type 9): blocks of 32, { f16 d; f16 s; i8 qs[32] } = 36 bytes, where
// s = d * sum(qs). The activation format ggml pairs with Q4_1 weights (vec_dot_type Q8_1):
// the stored sum carries the weights' offset term, so the pairing changes the rounding.
import { f16ToF32, f32ToF16 } from "./f16";
import { roundAway } from "./common";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 36;

/** quantize_row_q8_1_ref: like Q8_0 plus s = fp16((float)sum(q) * d). */
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
    let sum = 0;
    for (let j = 0; j < QK; j++) {
      const q = <i32>roundAway(load<f32>(x + (<usize>j << 2)) * id);
      store<i8>(y + 4 + <usize>j, <i8>q);
      sum += q;
    }
    store<u16>(y, <u16>f32ToF16(<f32>sum * d), 2);
  }
}

/** x = q*d (the sum field is redundant for values). */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b));
    const y = dst + <usize>(i * QK * 4);
    for (let j = 0; j < QK; j++) store<f32>(y + (<usize>j << 2), <f32>load<i8>(b + 4 + <usize>j) * d);
  }
}
