// Q5_K (GGUF type 13): super-blocks of 256 = 8 sub-blocks of 32, 176 bytes:
// { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }. Like Q4_K plus a fifth bit:
// bit 2c of qh[l] belongs to element 64c+l, bit 2c+1 to element 64c+32+l.
// x = d*sc_j*q - dmin*m_j. Paired with Q8_K; the dot product follows ggml's generic
// structure (see q4_k.ts).
import { f16ToF32, f32ToF16 } from "./f16";
import { nearestInt } from "./common";
import { makeQkx2Quants, scaleMinK4, packScaleMinK4 } from "./kquant_ref";
import { BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS, BSUMS, sub32 } from "./q8_k";
import { laneSum, kScales, kMins, minTermV, scaleSplat } from "./q4_k";

export const QK: i32 = 256;
export const BLOCK_BYTES: i32 = 176;
const SCALES: usize = 4;
const QH: usize = 16;
const QS: usize = 48;

/** quantize_row_q5_K_ref. */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  const s = heap.alloc(480); // per-call scratch from this instance's heap (no shared static state)
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
      const sc = makeQkx2Quants(32, 31, xj, W, L + <usize>(32 * j), mins + (<usize>j << 2), Laux, -0.5, 0.1, 15, false);
      store<f32>(scales + (<usize>j << 2), sc);
      if (sc > maxScale) maxScale = sc;
      const mn = load<f32>(mins + (<usize>j << 2));
      if (mn > maxMin) maxMin = mn;
    }
    const invScale: f32 = maxScale > 0 ? <f32>63.0 / maxScale : 0;
    const invMin: f32 = maxMin > 0 ? <f32>63.0 / maxMin : 0;
    memory.fill(y + SCALES, 0, 12);
    for (let j = 0; j < 8; j++) {
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
      if (d == 0) continue;
      const dm = mAll * <f32>(sm >> 8);
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt((load<f32>(x + (<usize>(32 * j + ii) << 2)) + dm) / d);
        store<u8>(L + <usize>(32 * j + ii), <u8>max(0, min(31, l)));
      }
    }
    memory.fill(y + QH, 0, 32);
    let m1 = 1, m2 = 2;
    for (let c = 0; c < 4; c++) {
      for (let j = 0; j < 32; j++) {
        let l1 = <i32>load<u8>(L + <usize>(64 * c + j));
        let l2 = <i32>load<u8>(L + <usize>(64 * c + j + 32));
        let h = <i32>load<u8>(y + QH + <usize>j);
        if (l1 > 15) { l1 -= 16; h |= m1; }
        if (l2 > 15) { l2 -= 16; h |= m2; }
        store<u8>(y + QH + <usize>j, <u8>h);
        store<u8>(y + QS + <usize>(32 * c + j), <u8>(l1 | (l2 << 4)));
      }
      m1 <<= 2; m2 <<= 2;
    }
  }
  heap.free(s);
}

/** dequantize_row_q5_K. */
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
      const u1 = 1 << (2 * c), u2 = 2 << (2 * c);
      const q = b + QS + <usize>(32 * c);
      for (let l = 0; l < 32; l++) {
        const h = <i32>load<u8>(b + QH + <usize>l);
        store<f32>(y + (<usize>l << 2), d1 * <f32>((load<u8>(q + <usize>l) & 15) + (h & u1 ? 16 : 0)) - m1);
      }
      for (let l = 0; l < 32; l++) {
        const h = <i32>load<u8>(b + QH + <usize>l);
        store<f32>(y + (<usize>(l + 32) << 2), d2 * <f32>((load<u8>(q + <usize>l) >> 4) + (h & u2 ? 16 : 0)) - m2);
      }
      y += 256;
    }
  }
}

// @ts-ignore: decorator
@inline function element(b: usize, e: i32): i32 {
  const c = e >> 6, r = e & 63;
  const qb = <i32>load<u8>(b + QS + <usize>(32 * c + (r & 31)));
  const h = <i32>load<u8>(b + QH + <usize>(r & 31));
  const bit = 2 * c + (r >> 5);
  return (r < 32 ? qb & 15 : qb >> 4) + (((h >> bit) & 1) << 4);
}

/** ggml_vec_dot_q5_K_q8_K, generic version, literally (a test reference: slow, allocates its lane arrays). */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const lanes = heap.alloc(64);
  const sums = lanes, aux = lanes + 32;
  memory.fill(sums, 0, 32);
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    memory.fill(aux, 0, 32);
    let sumi = 0;
    for (let j = 0; j < 16; j++) sumi += <i32>load<i16>(yb + BSUMS + (<usize>j << 1)) * (scaleMinK4(j >> 1, b + SCALES) >> 8);
    for (let e = 0; e < QK; e++) {
      const scale = scaleMinK4(e >> 5, b + SCALES) & 255;
      const p = aux + (<usize>(e & 7) << 2);
      store<i32>(p, load<i32>(p) + scale * (element(b, e) * <i32>load<i8>(yb + Q8K_QS + <usize>e)));
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

// Fifth bits of chunk c as 0/16 per byte: bit `bit` of each qh byte moved to bit 4.
// @ts-ignore: decorator
@inline function high(qh: v128, bit: i32): v128 {
  return v128.and(i8x16.shl(i8x16.shr_u(qh, bit), 4), i8x16.splat(16));
}

export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  let sLo = f32x4.splat(0), sHi = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    const scales = kScales(b + SCALES);
    const sumi = minTermV(kMins(b + SCALES), yb);
    const qh0 = v128.load(b + QH), qh1 = v128.load(b + QH, 16);
    let aLo = i32x4.splat(0), aHi = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
      const v1 = scaleSplat(scales, 2 * c), v2 = scaleSplat(scales, 2 * c + 1);
      const yc = yb + Q8K_QS + <usize>(64 * c);
      const s1 = sub32(v128.or(v128.and(q0, i8x16.splat(15)), high(qh0, 2 * c)), v128.or(v128.and(q1, i8x16.splat(15)), high(qh1, 2 * c)), yc);
      const s2 = sub32(v128.or(i8x16.shr_u(q0, 4), high(qh0, 2 * c + 1)), v128.or(i8x16.shr_u(q1, 4), high(qh1, 2 * c + 1)), yc + 32);
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

function dot1x4(out: usize, os: usize, w: usize, x0: usize, xs: usize, nb: i32): void {
  const x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
  let f0: f32 = 0, f1: f32 = 0, f2: f32 = 0, f3: f32 = 0;
  let l0 = f32x4.splat(0), h0 = f32x4.splat(0), l1 = f32x4.splat(0), h1 = f32x4.splat(0);
  let l2 = f32x4.splat(0), h2 = f32x4.splat(0), l3 = f32x4.splat(0), h3 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), oy = <usize>(i * Q8K_BYTES);
    const y0 = x0 + oy, y1 = x1 + oy, y2 = x2 + oy, y3 = x3 + oy;
    const qh0 = v128.load(b + QH), qh1 = v128.load(b + QH, 16);
    let a0 = i32x4.splat(0), b0 = i32x4.splat(0), a1 = i32x4.splat(0), b1 = i32x4.splat(0);
    let a2 = i32x4.splat(0), b2 = i32x4.splat(0), a3 = i32x4.splat(0), b3 = i32x4.splat(0);
    const scales = kScales(b + SCALES);
    for (let c = 0; c < 4; c++) {
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
      const v1 = scaleSplat(scales, 2 * c), v2 = scaleSplat(scales, 2 * c + 1);
      const lo0 = v128.or(v128.and(q0, i8x16.splat(15)), high(qh0, 2 * c));
      const lo1 = v128.or(v128.and(q1, i8x16.splat(15)), high(qh1, 2 * c));
      const hi0 = v128.or(i8x16.shr_u(q0, 4), high(qh0, 2 * c + 1));
      const hi1 = v128.or(i8x16.shr_u(q1, 4), high(qh1, 2 * c + 1));
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
