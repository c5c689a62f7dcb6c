// Q4_K (GGUF type 12): super-blocks of 256 = 8 sub-blocks of 32, 144 bytes:
// { f16 d; f16 dmin; u8 scales[12] (8 six-bit scales + 8 six-bit mins); u8 qs[128] }.
// x = d*sc_j*q - dmin*m_j. qs chunk c (32 bytes) holds elements 64c..64c+31 in its low
// nibbles and 64c+32..64c+63 in its high nibbles. Paired with Q8_K activations.
//
// The dot product keeps ggml's reference (generic) structure exactly: per super-block the
// integer products go to 8 i32 lanes (lane = element index mod 8), each lane is scaled by
// d = fp16(d)*y.d and added to its own f32 lane sum; the minimum term is subtracted from a
// separate f32 sum; the 8 lane sums are added to it at the end, in lane order.
import { f16ToF32, f32ToF16 } from "./f16";
import { nearestInt, hsum } from "./common";
import { makeQkx2Quants, scaleMinK4, packScaleMinK4 } from "./kquant_ref";
import { BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS, BSUMS, sub32 } from "./q8_k";

export const QK: i32 = 256;
export const BLOCK_BYTES: i32 = 144;
const SCALES: usize = 4;
const QS: usize = 16;

/** quantize_row_q4_K_ref (what llama.cpp uses without an importance matrix). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  // Per-call scratch from this instance's heap (no shared static state).
  const s = heap.alloc(480);
  const L = s, Laux = s + 256, W = s + 288, mins = s + 416, scales = s + 448;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    let maxScale: f32 = 0, maxMin: f32 = 0;
    for (let j = 0; j < 8; j++) {
      const xj = x + <usize>(j * 128);
      let sumX2: f32 = 0;
      for (let l = 0; l < 32; l++) { const v = load<f32>(xj + (<usize>l << 2)); sumX2 += v * v; }
      const avX = Mathf.sqrt(sumX2 / <f32>32);
      for (let l = 0; l < 32; l++) store<f32>(W + (<usize>l << 2), avX + Mathf.abs(load<f32>(xj + (<usize>l << 2))));
      const sc = makeQkx2Quants(32, 15, xj, W, L + <usize>(32 * j), mins + (<usize>j << 2), Laux, -1.0, 0.1, 20, false);
      store<f32>(scales + (<usize>j << 2), sc);
      if (sc > maxScale) maxScale = sc;
      const mn = load<f32>(mins + (<usize>j << 2));
      if (mn > maxMin) maxMin = mn;
    }
    const invScale: f32 = maxScale > 0 ? <f32>63.0 / maxScale : 0;
    const invMin: f32 = maxMin > 0 ? <f32>63.0 / maxMin : 0;
    memory.fill(y + SCALES, 0, 12);
    for (let j = 0; j < 8; j++) {
      // uint8_t ls = nearest_int(...): the int is cut to 8 bits before MIN(63, .)
      const ls = min(63, nearestInt(invScale * load<f32>(scales + (<usize>j << 2))) & 255);
      const lm = min(63, nearestInt(invMin * load<f32>(mins + (<usize>j << 2))) & 255);
      packScaleMinK4(j, y + SCALES, ls, lm);
    }
    store<u16>(y, <u16>f32ToF16(maxScale / <f32>63.0));
    store<u16>(y, <u16>f32ToF16(maxMin / <f32>63.0), 2);
    const dAll = f16ToF32(load<u16>(y)), mAll = f16ToF32(load<u16>(y, 2));
    for (let j = 0; j < 8; j++) {
      const sm = scaleMinK4(j, y + SCALES);
      const d = dAll * <f32>(sm & 255);
      if (d == 0) continue; // keeps the levels found by the scale search
      const dm = mAll * <f32>(sm >> 8);
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt((load<f32>(x + (<usize>(32 * j + ii) << 2)) + dm) / d);
        store<u8>(L + <usize>(32 * j + ii), <u8>max(0, min(15, l)));
      }
    }
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        store<u8>(y + QS + <usize>(32 * c + l), load<u8>(L + <usize>(64 * c + l)) | (load<u8>(L + <usize>(64 * c + l + 32)) << 4));
      }
    }
  }
  heap.free(s);
}

/** dequantize_row_q4_K: x = (d*sc)*q - (dmin*m). */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b)), mn = f16ToF32(load<u16>(b, 2));
    let y = dst + <usize>(i * QK * 4);
    for (let c = 0; c < 4; c++) {
      const s1 = scaleMinK4(2 * c, b + SCALES), s2 = scaleMinK4(2 * c + 1, b + SCALES);
      const d1 = d * <f32>(s1 & 255), m1 = mn * <f32>(s1 >> 8);
      const d2 = d * <f32>(s2 & 255), m2 = mn * <f32>(s2 >> 8);
      const q = b + QS + <usize>(32 * c);
      for (let l = 0; l < 32; l++) store<f32>(y + (<usize>l << 2), d1 * <f32>(load<u8>(q + <usize>l) & 15) - m1);
      for (let l = 0; l < 32; l++) store<f32>(y + (<usize>(l + 32) << 2), d2 * <f32>(load<u8>(q + <usize>l) >> 4) - m2);
      y += 256;
    }
  }
}

/** ggml_vec_dot_q4_K_q8_K, generic version, literally (a test reference: slow, allocates its lane arrays). */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const lanes = heap.alloc(64); // f32 sums[8], i32 aux32[8]
  const sums = lanes, aux = lanes + 32;
  memory.fill(sums, 0, 32);
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    memory.fill(aux, 0, 32);
    let sumi = 0;
    for (let j = 0; j < 16; j++) sumi += <i32>load<i16>(yb + BSUMS + (<usize>j << 1)) * (scaleMinK4(j >> 1, b + SCALES) >> 8);
    for (let e = 0; e < QK; e++) {
      const c = e >> 6, r = e & 63;
      const qb = <i32>load<u8>(b + QS + <usize>(32 * c + (r & 31)));
      const a = r < 32 ? qb & 15 : qb >> 4;
      const scale = scaleMinK4(e >> 5, b + SCALES) & 255;
      const p = aux + (<usize>(e & 7) << 2);
      store<i32>(p, load<i32>(p) + scale * (a * <i32>load<i8>(yb + Q8K_QS + <usize>e)));
    }
    const d = f16ToF32(load<u16>(b)) * load<f32>(yb);
    for (let l = 0; l < 8; l++) store<f32>(sums + (<usize>l << 2), load<f32>(sums + (<usize>l << 2)) + d * <f32>load<i32>(aux + (<usize>l << 2)));
    const dmin = f16ToF32(load<u16>(b, 2)) * load<f32>(yb);
    sumf -= dmin * <f32>sumi;
  }
  for (let l = 0; l < 8; l++) sumf += load<f32>(sums + (<usize>l << 2));
  heap.free(lanes);
  return sumf;
}

/** One row against one activation row (SIMD); identical arithmetic to dotScalar. */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  let sLo = f32x4.splat(0), sHi = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    const scales = kScales(b + SCALES);
    const sumi = minTermV(kMins(b + SCALES), yb);
    let aLo = i32x4.splat(0), aHi = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
      const v1 = scaleSplat(scales, 2 * c), v2 = scaleSplat(scales, 2 * c + 1);
      const yc = yb + Q8K_QS + <usize>(64 * c);
      const s1 = sub32(v128.and(q0, i8x16.splat(15)), v128.and(q1, i8x16.splat(15)), yc);
      const s2 = sub32(i8x16.shr_u(q0, 4), i8x16.shr_u(q1, 4), yc + 32);
      aLo = i32x4.add(i32x4.add(aLo, i32x4.extmul_low_i16x8_s(s1, v1)), i32x4.extmul_low_i16x8_s(s2, v2));
      aHi = i32x4.add(i32x4.add(aHi, i32x4.extmul_high_i16x8_s(s1, v1)), i32x4.extmul_high_i16x8_s(s2, v2));
    }
    const yd = load<f32>(yb);
    const d = f32x4.splat(f16ToF32(load<u16>(b)) * yd);
    sLo = f32x4.add(sLo, f32x4.mul(d, f32x4.convert_i32x4_s(aLo)));
    sHi = f32x4.add(sHi, f32x4.mul(d, f32x4.convert_i32x4_s(aHi)));
    sumf -= (f16ToF32(load<u16>(b, 2)) * yd) * <f32>sumi;
  }
  return laneSum(sumf, sLo, sHi);
}

/** sumf + sums[0] + ... + sums[7], left to right. */
// @ts-ignore: decorator
@inline export function laneSum(sumf: f32, lo: v128, hi: v128): f32 {
  sumf += f32x4.extract_lane(lo, 0); sumf += f32x4.extract_lane(lo, 1);
  sumf += f32x4.extract_lane(lo, 2); sumf += f32x4.extract_lane(lo, 3);
  sumf += f32x4.extract_lane(hi, 0); sumf += f32x4.extract_lane(hi, 1);
  sumf += f32x4.extract_lane(hi, 2); sumf += f32x4.extract_lane(hi, 3);
  return sumf;
}

/** The 8 six-bit scales of a Q4_K/Q5_K super-block (12 bytes at sc), scale j in byte j. Same
 *  unpacking as get_scale_min_k4, done on whole words as ggml's generic dot product does. */
// @ts-ignore: decorator
@inline export function kScales(sc: usize): u64 {
  const u0 = load<u32>(sc), u2 = load<u32>(sc, 8);
  const lo = u0 & 0x3f3f3f3f;
  const hi = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4);
  return <u64>lo | (<u64>hi << 32);
}

/** The 8 six-bit minimums, minimum j in byte j. */
// @ts-ignore: decorator
@inline export function kMins(sc: usize): u64 {
  const u1 = load<u32>(sc, 4), u2 = load<u32>(sc, 8);
  const lo = u1 & 0x3f3f3f3f;
  const hi = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4);
  return <u64>lo | (<u64>hi << 32);
}

/** sum_j bsums[j]*mins[j/2] of one Q8_K block, from the packed minimums. */
// @ts-ignore: decorator
@inline export function minTermV(mins: u64, yb: usize): i32 {
  const m16 = i16x8.extend_low_i8x16_u(i64x2.splat(mins));
  const lo = i16x8.shuffle(m16, m16, 0, 0, 1, 1, 2, 2, 3, 3), hi = i16x8.shuffle(m16, m16, 4, 4, 5, 5, 6, 6, 7, 7);
  return hsum(i32x4.add(i32x4.dot_i16x8_s(v128.load(yb + BSUMS), lo), i32x4.dot_i16x8_s(v128.load(yb + BSUMS, 16), hi)));
}

/** Scale byte j of kScales as an i16x8 splat. */
// @ts-ignore: decorator
@inline export function scaleSplat(scales: u64, j: i32): v128 {
  return i16x8.splat(<i16>(<i32>(scales >> (<u64>(8 * j))) & 255));
}

/** One row against four activation rows: weights and scales decoded once per super-block. */
function dot1x4(out: usize, os: usize, w: usize, x0: usize, xs: usize, nb: i32): void {
  const x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
  let f0: f32 = 0, f1: f32 = 0, f2: f32 = 0, f3: f32 = 0;
  let l0 = f32x4.splat(0), h0 = f32x4.splat(0), l1 = f32x4.splat(0), h1 = f32x4.splat(0);
  let l2 = f32x4.splat(0), h2 = f32x4.splat(0), l3 = f32x4.splat(0), h3 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), oy = <usize>(i * Q8K_BYTES);
    const y0 = x0 + oy, y1 = x1 + oy, y2 = x2 + oy, y3 = x3 + oy;
    let a0 = i32x4.splat(0), b0 = i32x4.splat(0), a1 = i32x4.splat(0), b1 = i32x4.splat(0);
    let a2 = i32x4.splat(0), b2 = i32x4.splat(0), a3 = i32x4.splat(0), b3 = i32x4.splat(0);
    const scales = kScales(b + SCALES);
    for (let c = 0; c < 4; c++) {
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
      const v1 = scaleSplat(scales, 2 * c), v2 = scaleSplat(scales, 2 * c + 1);
      const lo0 = v128.and(q0, i8x16.splat(15)), lo1 = v128.and(q1, i8x16.splat(15));
      const hi0 = i8x16.shr_u(q0, 4), hi1 = i8x16.shr_u(q1, 4);
      const yc = Q8K_QS + <usize>(64 * c);
      let s1 = sub32(lo0, lo1, y0 + yc), s2 = sub32(hi0, hi1, y0 + yc + 32);
      a0 = i32x4.add(i32x4.add(a0, i32x4.extmul_low_i16x8_s(s1, v1)), i32x4.extmul_low_i16x8_s(s2, v2));
      b0 = i32x4.add(i32x4.add(b0, i32x4.extmul_high_i16x8_s(s1, v1)), i32x4.extmul_high_i16x8_s(s2, v2));
      s1 = sub32(lo0, lo1, y1 + yc); s2 = sub32(hi0, hi1, y1 + yc + 32);
      a1 = i32x4.add(i32x4.add(a1, i32x4.extmul_low_i16x8_s(s1, v1)), i32x4.extmul_low_i16x8_s(s2, v2));
      b1 = i32x4.add(i32x4.add(b1, i32x4.extmul_high_i16x8_s(s1, v1)), i32x4.extmul_high_i16x8_s(s2, v2));
      s1 = sub32(lo0, lo1, y2 + yc); s2 = sub32(hi0, hi1, y2 + yc + 32);
      a2 = i32x4.add(i32x4.add(a2, i32x4.extmul_low_i16x8_s(s1, v1)), i32x4.extmul_low_i16x8_s(s2, v2));
      b2 = i32x4.add(i32x4.add(b2, i32x4.extmul_high_i16x8_s(s1, v1)), i32x4.extmul_high_i16x8_s(s2, v2));
      s1 = sub32(lo0, lo1, y3 + yc); s2 = sub32(hi0, hi1, y3 + yc + 32);
      a3 = i32x4.add(i32x4.add(a3, i32x4.extmul_low_i16x8_s(s1, v1)), i32x4.extmul_low_i16x8_s(s2, v2));
      b3 = i32x4.add(i32x4.add(b3, i32x4.extmul_high_i16x8_s(s1, v1)), i32x4.extmul_high_i16x8_s(s2, v2));
    }
    const dx = f16ToF32(load<u16>(b)), mx = f16ToF32(load<u16>(b, 2));
    const mins = kMins(b + SCALES);
    let yd = load<f32>(y0), d = f32x4.splat(dx * yd);
    l0 = f32x4.add(l0, f32x4.mul(d, f32x4.convert_i32x4_s(a0))); h0 = f32x4.add(h0, f32x4.mul(d, f32x4.convert_i32x4_s(b0)));
    f0 -= (mx * yd) * <f32>minTermV(mins, y0);
    yd = load<f32>(y1); d = f32x4.splat(dx * yd);
    l1 = f32x4.add(l1, f32x4.mul(d, f32x4.convert_i32x4_s(a1))); h1 = f32x4.add(h1, f32x4.mul(d, f32x4.convert_i32x4_s(b1)));
    f1 -= (mx * yd) * <f32>minTermV(mins, y1);
    yd = load<f32>(y2); d = f32x4.splat(dx * yd);
    l2 = f32x4.add(l2, f32x4.mul(d, f32x4.convert_i32x4_s(a2))); h2 = f32x4.add(h2, f32x4.mul(d, f32x4.convert_i32x4_s(b2)));
    f2 -= (mx * yd) * <f32>minTermV(mins, y2);
    yd = load<f32>(y3); d = f32x4.splat(dx * yd);
    l3 = f32x4.add(l3, f32x4.mul(d, f32x4.convert_i32x4_s(a3))); h3 = f32x4.add(h3, f32x4.mul(d, f32x4.convert_i32x4_s(b3)));
    f3 -= (mx * yd) * <f32>minTermV(mins, y3);
  }
  store<f32>(out, laneSum(f0, l0, h0));
  store<f32>(out + os, laneSum(f1, l1, h1));
  store<f32>(out + 2 * os, laneSum(f2, l2, h2));
  store<f32>(out + 3 * os, laneSum(f3, l3, h3));
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride (floats). */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  const nb = k / QK;
  const os = <usize>outStride << 2;
  for (let r = 0; r < nr; r++) {
    const wr = w + <usize>r * wStride;
    const o = out + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= nt; t += 4) dot1x4(o + <usize>t * os, os, wr, x + <usize>t * xStride, xStride, nb);
    for (; t < nt; t++) store<f32>(o + <usize>t * os, dot(wr, x + <usize>t * xStride, k));
  }
}
