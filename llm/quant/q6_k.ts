// Q6_K (GGUF type 14): super-blocks of 256 = 16 sub-blocks of 16, 210 bytes:
// { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }, x = d*sc_j*(q - 32) with 6-bit q.
// In each half (128 elements; ql 64 bytes, qh 32 bytes) element l (< 32) takes the low
// nibble of ql[l] and bits 0-1 of qh[l]; 32+l: low nibble of ql[32+l], bits 2-3;
// 64+l: high nibble of ql[l], bits 4-5; 96+l: high nibble of ql[32+l], bits 6-7.
// Paired with Q8_K; the dot product follows ggml's generic structure (see q4_k.ts).
import { f16ToF32, f32ToF16 } from "./f16";
import { nearestInt } from "./common";
import { makeQxQuants } from "./kquant_ref";
import { BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS, sub16 } from "./q8_k";
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

// Sub-block values of quarter q of a half, as i8x16: low/high nibble of ql with 2 bits of qh.
// @ts-ignore: decorator
@inline function six(ql: v128, qh: v128, q: i32): v128 {
  const nib = q < 2 ? v128.and(ql, i8x16.splat(15)) : i8x16.shr_u(ql, 4);
  const hb = v128.and(i8x16.shl(i8x16.shr_u(qh, 2 * q), 4), i8x16.splat(0x30));
  return i8x16.sub(v128.or(nib, hb), i8x16.splat(32));
}

// @ts-ignore: decorator
@inline function acc(a: v128, s: v128, v: v128): v128 { return i32x4.add(a, i32x4.extmul_low_i16x8_s(s, v)); }
// @ts-ignore: decorator
@inline function acch(a: v128, s: v128, v: v128): v128 { return i32x4.add(a, i32x4.extmul_high_i16x8_s(s, v)); }

export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sLo = f32x4.splat(0), sHi = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES) + Q8K_QS;
    let aLo = i32x4.splat(0), aHi = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const ql = b + <usize>(64 * h), qhp = b + QH + <usize>(32 * h);
      const qh0 = v128.load(qhp), qh1 = v128.load(qhp, 16);
      for (let q = 0; q < 4; q++) {
        // quarter q covers sub-blocks 8h+2q (first 16) and 8h+2q+1
        const src = ql + <usize>((q & 1) * 32);
        const va = six(v128.load(src), qh0, q), vb = six(v128.load(src, 16), qh1, q);
        const j = 8 * h + 2 * q;
        const sa = i16x8.splat(<i16>load<i8>(b + SC + <usize>j)), sb = i16x8.splat(<i16>load<i8>(b + SC + <usize>(j + 1)));
        const yq = yb + <usize>(16 * j);
        const pa = sub16(va, yq), pb = sub16(vb, yq + 16);
        aLo = acc(acc(aLo, pa, sa), pb, sb);
        aHi = acch(acch(aHi, pa, sa), pb, sb);
      }
    }
    const d = f32x4.splat(f16ToF32(load<u16>(b + D)) * load<f32>(yb - Q8K_QS));
    sLo = f32x4.add(sLo, f32x4.mul(d, f32x4.convert_i32x4_s(aLo)));
    sHi = f32x4.add(sHi, f32x4.mul(d, f32x4.convert_i32x4_s(aHi)));
  }
  return laneSum(0, sLo, sHi);
}

function dot1x4(out: usize, os: usize, w: usize, x0: usize, xs: usize, nb: i32): void {
  const x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
  let l0 = f32x4.splat(0), h0 = f32x4.splat(0), l1 = f32x4.splat(0), h1 = f32x4.splat(0);
  let l2 = f32x4.splat(0), h2 = f32x4.splat(0), l3 = f32x4.splat(0), h3 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), oy = <usize>(i * Q8K_BYTES);
    const y0 = x0 + oy + Q8K_QS, y1 = x1 + oy + Q8K_QS, y2 = x2 + oy + Q8K_QS, y3 = x3 + oy + Q8K_QS;
    let a0 = i32x4.splat(0), b0 = i32x4.splat(0), a1 = i32x4.splat(0), b1 = i32x4.splat(0);
    let a2 = i32x4.splat(0), b2 = i32x4.splat(0), a3 = i32x4.splat(0), b3 = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      const ql = b + <usize>(64 * h), qhp = b + QH + <usize>(32 * h);
      const qh0 = v128.load(qhp), qh1 = v128.load(qhp, 16);
      for (let q = 0; q < 4; q++) {
        const src = ql + <usize>((q & 1) * 32);
        const va = six(v128.load(src), qh0, q), vb = six(v128.load(src, 16), qh1, q);
        const j = 8 * h + 2 * q;
        const sa = i16x8.splat(<i16>load<i8>(b + SC + <usize>j)), sb = i16x8.splat(<i16>load<i8>(b + SC + <usize>(j + 1)));
        const o = <usize>(16 * j);
        let pa = sub16(va, y0 + o), pb = sub16(vb, y0 + o + 16);
        a0 = acc(acc(a0, pa, sa), pb, sb); b0 = acch(acch(b0, pa, sa), pb, sb);
        pa = sub16(va, y1 + o); pb = sub16(vb, y1 + o + 16);
        a1 = acc(acc(a1, pa, sa), pb, sb); b1 = acch(acch(b1, pa, sa), pb, sb);
        pa = sub16(va, y2 + o); pb = sub16(vb, y2 + o + 16);
        a2 = acc(acc(a2, pa, sa), pb, sb); b2 = acch(acch(b2, pa, sa), pb, sb);
        pa = sub16(va, y3 + o); pb = sub16(vb, y3 + o + 16);
        a3 = acc(acc(a3, pa, sa), pb, sb); b3 = acch(acch(b3, pa, sa), pb, sb);
      }
    }
    const dx = f16ToF32(load<u16>(b + D));
    let d = f32x4.splat(dx * load<f32>(y0 - Q8K_QS));
    l0 = f32x4.add(l0, f32x4.mul(d, f32x4.convert_i32x4_s(a0))); h0 = f32x4.add(h0, f32x4.mul(d, f32x4.convert_i32x4_s(b0)));
    d = f32x4.splat(dx * load<f32>(y1 - Q8K_QS));
    l1 = f32x4.add(l1, f32x4.mul(d, f32x4.convert_i32x4_s(a1))); h1 = f32x4.add(h1, f32x4.mul(d, f32x4.convert_i32x4_s(b1)));
    d = f32x4.splat(dx * load<f32>(y2 - Q8K_QS));
    l2 = f32x4.add(l2, f32x4.mul(d, f32x4.convert_i32x4_s(a2))); h2 = f32x4.add(h2, f32x4.mul(d, f32x4.convert_i32x4_s(b2)));
    d = f32x4.splat(dx * load<f32>(y3 - Q8K_QS));
    l3 = f32x4.add(l3, f32x4.mul(d, f32x4.convert_i32x4_s(a3))); h3 = f32x4.add(h3, f32x4.mul(d, f32x4.convert_i32x4_s(b3)));
  }
  store<f32>(out, laneSum(0, l0, h0));
  store<f32>(out + os, laneSum(0, l1, h1));
  store<f32>(out + 2 * os, laneSum(0, l2, h2));
  store<f32>(out + 3 * os, laneSum(0, l3, h3));
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
