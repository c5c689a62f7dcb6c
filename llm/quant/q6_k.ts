// Q6_K (GGUF type 14): super-blocks of 256 = 16 sub-blocks of 16, 210 bytes:
// { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }, x = d*sc_j*(q - 32) with 6-bit q.
// In each half (128 elements; ql 64 bytes, qh 32 bytes) element l (< 32) takes the low
// nibble of ql[l] and bits 0-1 of qh[l]; 32+l: low nibble of ql[32+l], bits 2-3;
// 64+l: high nibble of ql[l], bits 4-5; 96+l: high nibble of ql[32+l], bits 6-7.
// Paired with Q8_K; the dot product follows ggml's generic structure (see q4_k.ts).
import { f16ToF32, f32ToF16 } from "./f16";
import { nearestInt, VK, K_LO4, K_B45, K_32 } from "./common";
import { makeQxQuants } from "./kquant_ref";
import { BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS } from "./q8_k";
import { laneSum } from "./q4_k";

export const QK: i32 = 256;
export const BLOCK_BYTES: i32 = 210;
const QH: usize = 128;
const SC: usize = 192;
const D: usize = 208;

/** quantize_row_q6_K_ref. */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  const s = heap.alloc(256 + 64); // per-call scratch from this instance's heap
  const L = s, scales = s + 256;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    let maxScale: f32 = 0, maxAbsScale: f32 = 0;
    for (let ib = 0; ib < 16; ib++) {
      const sc = makeQxQuants(16, 32, x + <usize>(ib * 64), L + <usize>(16 * ib));
      store<f32>(scales + (<usize>ib << 2), sc);
      const a = Mathf.abs(sc);
      if (a > maxAbsScale) { maxAbsScale = a; maxScale = sc; }
    }
    if (maxAbsScale < <f32>1e-15) {
      memory.fill(y, 0, <usize>BLOCK_BYTES);
      continue;
    }
    const iscale = <f32>-128.0 / maxScale;
    store<u16>(y + D, <u16>f32ToF16(<f32>1.0 / iscale));
    for (let ib = 0; ib < 16; ib++) {
      store<i8>(y + SC + <usize>ib, <i8>min(127, nearestInt(iscale * load<f32>(scales + (<usize>ib << 2)))));
    }
    const dAll = f16ToF32(load<u16>(y + D));
    for (let j = 0; j < 16; j++) {
      const d = dAll * <f32>load<i8>(y + SC + <usize>j);
      if (d == 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(load<f32>(x + (<usize>(16 * j + ii) << 2)) / d);
        store<i8>(L + <usize>(16 * j + ii), <i8>(max(-32, min(31, l)) + 32));
      }
    }
    for (let h = 0; h < 2; h++) {
      const Lh = L + <usize>(128 * h), ql = y + <usize>(64 * h), qh = y + QH + <usize>(32 * h);
      for (let l = 0; l < 32; l++) {
        const a = <i32>load<u8>(Lh + <usize>l), b = <i32>load<u8>(Lh + <usize>(l + 32));
        const c = <i32>load<u8>(Lh + <usize>(l + 64)), e = <i32>load<u8>(Lh + <usize>(l + 96));
        store<u8>(ql + <usize>l, <u8>((a & 15) | ((c & 15) << 4)));
        store<u8>(ql + <usize>(l + 32), <u8>((b & 15) | ((e & 15) << 4)));
        store<u8>(qh + <usize>l, <u8>((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6)));
      }
    }
  }
  heap.free(s);
}

// @ts-ignore: decorator
@inline function element(b: usize, e: i32): i32 {
  const h = e >> 7, r = e & 127, q = r >> 5, l = r & 31;
  const qlb = <i32>load<u8>(b + <usize>(64 * h + l + (q & 1) * 32));
  const qhb = <i32>load<u8>(b + QH + <usize>(32 * h + l));
  return ((q < 2 ? qlb & 15 : qlb >> 4) | (((qhb >> (2 * q)) & 3) << 4)) - 32;
}

/** dequantize_row_q6_K: x = d*sc*q, as (d*sc)*q. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>(i * BLOCK_BYTES);
    const d = f16ToF32(load<u16>(b + D));
    const y = dst + <usize>(i * QK * 4);
    for (let e = 0; e < QK; e++) {
      store<f32>(y + (<usize>e << 2), d * <f32>load<i8>(b + SC + <usize>(e >> 4)) * <f32>element(b, e));
    }
  }
}

/** ggml_vec_dot_q6_K_q8_K, generic version, literally (a test reference: slow, allocates its lane arrays). */
export function dotScalar(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const lanes = heap.alloc(64);
  const sums = lanes, aux = lanes + 32;
  memory.fill(sums, 0, 32);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    memory.fill(aux, 0, 32);
    for (let e = 0; e < QK; e++) {
      const scale = <i32>load<i8>(b + SC + <usize>(e >> 4));
      const p = aux + (<usize>(e & 7) << 2);
      store<i32>(p, load<i32>(p) + scale * (element(b, e) * <i32>load<i8>(yb + Q8K_QS + <usize>e)));
    }
    const d = f16ToF32(load<u16>(b + D)) * load<f32>(yb);
    for (let l = 0; l < 8; l++) store<f32>(sums + (<usize>l << 2), load<f32>(sums + (<usize>l << 2)) + d * <f32>load<i32>(aux + (<usize>l << 2)));
  }
  let sumf: f32 = 0;
  for (let l = 0; l < 8; l++) sumf += load<f32>(sums + (<usize>l << 2));
  heap.free(lanes);
  return sumf;
}

// SIMD kernels. The six-bit values are assembled in i16 lanes (two bytes per lane, so only i16
// shifts, which both V8 and NEON have; V8 emulates i8 shifts), then taken 32 off as bytes. For the
// products, lane m of a sub-block's vectors holds elements m and m+8, which ggml's generic code
// puts in the same lane (element index mod 8): i16x8.mul on the sign-extended halves gives
// (q*y)[m] + (q*y)[m+8] in i16 (at most 2*32*127). Two sub-blocks are then interleaved
// (i16x8 zip) and scaled and widened by one i32x4.dot_i16x8_s with [s_j, s_j+1, ...], which
// adds each lane's two scaled sums: the i32 lane sums are exactly ggml's aux32[0..7], in the
// same lanes. The float part is ggml's: sums[l] += d*aux32[l], then sumf = sums[0] + ... + sums[7].

// Quarters q and q+2 of a half share their ql bytes (low and high nibbles); with qh shifted down
// by 2q first, the value bits sit at 0-1 for quarter q and at 4-5 for quarter q+2.
// @ts-ignore: decorator
@inline function sixLo(ql: v128, qhs: v128, lo4: v128, b45: v128, k32: v128): v128 {
  return i8x16.sub(v128.or(v128.and(ql, lo4), v128.and(i16x8.shl(qhs, 4), b45)), k32);
}
// @ts-ignore: decorator
@inline function sixHi(ql: v128, qhs: v128, lo4: v128, b45: v128, k32: v128): v128 {
  return i8x16.sub(v128.or(v128.and(i16x8.shr_u(ql, 4), lo4), v128.and(qhs, b45)), k32);
}

// (q*y)[m] + (q*y)[m+8] for the 16 bytes of a sub-block (i16 lanes).
// @ts-ignore: decorator
@inline function sub16m(v: v128, y: v128): v128 {
  return i16x8.add(i16x8.mul(i16x8.extend_low_i8x16_s(v), i16x8.extend_low_i8x16_s(y)),
    i16x8.mul(i16x8.extend_high_i8x16_s(v), i16x8.extend_high_i8x16_s(y)));
}

// Scales [s_j, s_j+1] of sub-blocks j, j+1 (i8 at sc) in every pair of i16 lanes.
// @ts-ignore: decorator
@inline function scalePair(sc: usize): v128 { return i16x8.extend_low_i8x16_s(v128.load16_splat(sc)); }

export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const lo4 = v128.load(VK, K_LO4), b45 = v128.load(VK, K_B45), k32 = v128.load(VK, K_32);
  let sLo = f32x4.splat(0), sHi = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES) + Q8K_QS;
    let aLo = i32x4.splat(0), aHi = i32x4.splat(0);
    // half h, quarters qq and qq+2: sub-blocks 8h+2qq, +1 (low nibbles) and 8h+2qq+4, +5 (high)
    for (let it = 0; it < 4; it++) {
      const h = it >> 1, qq = it & 1;
      const ql = b + <usize>(64 * h + 32 * qq), qhp = b + QH + <usize>(32 * h);
      const y = yb + <usize>(128 * h + 32 * qq), sc = b + SC + <usize>(8 * h + 2 * qq);
      const qla = v128.load(ql), qlb = v128.load(ql, 16);
      const qha = i16x8.shr_u(v128.load(qhp), 2 * qq), qhb = i16x8.shr_u(v128.load(qhp, 16), 2 * qq);
      let fa = sub16m(sixLo(qla, qha, lo4, b45, k32), v128.load(y)), fb = sub16m(sixLo(qlb, qhb, lo4, b45, k32), v128.load(y, 16));
      let sp = scalePair(sc);
      aLo = i32x4.add(aLo, i32x4.dot_i16x8_s(i16x8.shuffle(fa, fb, 0, 8, 1, 9, 2, 10, 3, 11), sp));
      aHi = i32x4.add(aHi, i32x4.dot_i16x8_s(i16x8.shuffle(fa, fb, 4, 12, 5, 13, 6, 14, 7, 15), sp));
      fa = sub16m(sixHi(qla, qha, lo4, b45, k32), v128.load(y, 64)); fb = sub16m(sixHi(qlb, qhb, lo4, b45, k32), v128.load(y, 80));
      sp = scalePair(sc + 4);
      aLo = i32x4.add(aLo, i32x4.dot_i16x8_s(i16x8.shuffle(fa, fb, 0, 8, 1, 9, 2, 10, 3, 11), sp));
      aHi = i32x4.add(aHi, i32x4.dot_i16x8_s(i16x8.shuffle(fa, fb, 4, 12, 5, 13, 6, 14, 7, 15), sp));
    }
    const d = f32x4.splat(f16ToF32(load<u16>(b + D)) * load<f32>(yb - Q8K_QS));
    sLo = f32x4.add(sLo, f32x4.mul(d, f32x4.convert_i32x4_s(aLo)));
    sHi = f32x4.add(sHi, f32x4.mul(d, f32x4.convert_i32x4_s(aHi)));
  }
  return laneSum(0, sLo, sHi);
}

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride (floats). */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32): void {
  const os = <usize>outStride << 2;
  for (let r = 0; r < nr; r++) {
    const wr = w + <usize>r * wStride;
    const o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) store<f32>(o + <usize>t * os, dot(wr, x + <usize>t * xStride, k));
  }
}
