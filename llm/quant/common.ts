// Small exact helpers shared by the quant formats. Everything here reproduces a C idiom
// of ggml's reference code bit for bit, so the callers can stay literal translations.

/** ggml's nearest_int(): adds 1.5*2^23 so the FPU rounds to an integer (ties to even),
 *  then reads the integer back out of the mantissa. Valid for |v| <= 4194303 like ggml's. */
// @ts-ignore: decorator
@inline export function nearestInt(v: f32): i32 {
  const t = v + <f32>12582912.0;
  return (reinterpret<i32>(t) & 0x007fffff) - 0x00400000;
}

/** C's roundf(): to nearest, ties away from zero (Mathf.round rounds ties up, not away). */
// @ts-ignore: decorator
@inline export function roundAway(v: f32): f32 {
  const t = Mathf.trunc(v);
  // v - t is exact for every f32, so the comparison decides the tie exactly.
  return Mathf.abs(v - t) >= <f32>0.5 ? t + copysign<f32>(1.0, v) : t;
}

/** [sum(a), sum(b), sum(c), sum(d)] of four i32x4 vectors (a 4x4 transpose-and-add). */
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7)); // a0+a2 b0+b2 a1+a3 b1+b3
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** Horizontal sum of an i32x4. */
// @ts-ignore: decorator
@inline export function hsum(a: v128): i32 {
  const s = i32x4.add(a, i32x4.shuffle(a, a, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/** Integer dot product of 32 int8 pairs as four partial sums. Requires that no two products
 *  in the same i16 lane pair exceed i16 when added: |a| <= 128 and |b| <= 127 (activations
 *  from the reference quantizers never reach -128). */
// @ts-ignore: decorator
@inline export function dot32x8(a0: v128, a1: v128, b0: v128, b1: v128): v128 {
  const s0 = i16x8.add(i16x8.extmul_low_i8x16_s(a0, b0), i16x8.extmul_high_i8x16_s(a0, b0));
  const s1 = i16x8.add(i16x8.extmul_low_i8x16_s(a1, b1), i16x8.extmul_high_i8x16_s(a1, b1));
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(s0), i32x4.extadd_pairwise_i16x8_s(s1));
}

/** Same for 4-bit weights (|a| <= 15): four products fit one i16 lane, one widening step. */
// @ts-ignore: decorator
@inline export function dot32x4(a0: v128, a1: v128, b0: v128, b1: v128): v128 {
  const s = i16x8.add(
    i16x8.add(i16x8.extmul_low_i8x16_s(a0, b0), i16x8.extmul_high_i8x16_s(a0, b0)),
    i16x8.add(i16x8.extmul_low_i8x16_s(a1, b1), i16x8.extmul_high_i8x16_s(a1, b1)));
  return i32x4.extadd_pairwise_i16x8_s(s);
}
