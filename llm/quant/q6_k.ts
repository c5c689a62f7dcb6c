// Q6_K (GGUF type 14): super-blocks of 256 = 16 sub-blocks of 16, 210 bytes:
// { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }, x = d*sc_j*(q - 32) with 6-bit q.
// In each half (128 elements; ql 64 bytes, qh 32 bytes) element l (< 32) takes the low
// nibble of ql[l] and bits 0-1 of qh[l]; 32+l: low nibble of ql[32+l], bits 2-3;
// 64+l: high nibble of ql[l], bits 4-5; 96+l: high nibble of ql[32+l], bits 6-7.
// Paired with Q8_K. The products follow llama.cpp's x86 build (ggml_vec_dot_q6_K_q8_K, AVX2:
// see q8_k.ts); dotScalar is ggml's portable reference, kept for comparison.
import { f16ToF32, f32ToF16 } from "./f16";
import { nearestInt, VK, K_LO4, K_B45, hsumFloat8, dotPairs } from "./common";
import { makeQxQuants } from "./kquant_ref";
import {
  BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS, BSUMS, KQ, KQ_M8, pairSums, splitActivations, laneFma, laneHsum, splitDot, splitGemm, splitGemmWorkBytes,
} from "./q8_k";
import { fma32x4 } from "../math/fma";

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

/** ggml_vec_dot_q6_K_q8_K, generic (portable) version, literally (a test reference: slow, allocates its lane arrays). */
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

/** The x86 order (ggml_vec_dot_q6_K_q8_K, AVX2), lane by lane with the scalar fused multiply-add:
 *  lane l of a super-block sums sc*q*y over elements 4l..4l+3 of every 32 with the six-bit q
 *  unsigned (0..63), less 32*(bsums[2l]*sc[2l] + bsums[2l+1]*sc[2l+1]) (the -32 offset taken
 *  through the activations' block sums, so by sub-block pairs); acc[l] = fma(d, f32(lane), acc[l])
 *  with d = y.d*x.d; then hsum_float_8. The reference for dot. */
export function dotScalarX86(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const s = heap.alloc(64);
  const acc = s, sumi = s + 32;
  memory.fill(acc, 0, 32);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    for (let l = 0; l < 8; l++) {
      const bs0 = <i32>load<i16>(yb + BSUMS + (<usize>(2 * l) << 1)), bs1 = <i32>load<i16>(yb + BSUMS + (<usize>(2 * l + 1) << 1));
      const sc0 = <i32>load<i8>(b + SC + <usize>(2 * l)), sc1 = <i32>load<i8>(b + SC + <usize>(2 * l + 1));
      store<i32>(sumi + (<usize>l << 2), -32 * (bs0 * sc0 + bs1 * sc1));
    }
    for (let e = 0; e < QK; e++) {
      const p = sumi + (<usize>((e & 31) >> 2) << 2);
      const q = element(b, e) + 32;
      store<i32>(p, load<i32>(p) + <i32>load<i8>(b + SC + <usize>(e >> 4)) * q * <i32>load<i8>(yb + Q8K_QS + <usize>e));
    }
    laneFma(acc, sumi, load<f32>(yb) * f16ToF32(load<u16>(b + D)));
  }
  const r = laneHsum(acc);
  heap.free(s);
  return r;
}

// The SIMD kernel. The six-bit values are assembled in bytes with i16 shifts (which both V8 and
// NEON have; V8 emulates i8 shifts), kept unsigned as the AVX2 code does, then split into their
// even and odd bytes (i16 lanes): i16x8.mul with the activations split the same way and one add
// give the sums of adjacent pairs (pairSums), and i32x4.dot_i16x8_s with the sub-block's scale
// adds adjacent pairs once more, scaled: lane j = sc * (products 4j..4j+3 of the 16), which is
// ggml's lane j (first 16 of a 32) or j + 4 (second 16). Sub-blocks 2c go to the low lanes,
// 2c+1 to the high ones. The float part is the fused one of q8_k.ts.

// Quarters q and q+2 of a half share their ql bytes (low and high nibbles); with qh shifted down
// by 2q first, the value bits sit at 0-1 for quarter q and at 4-5 for quarter q+2.
// @ts-ignore: decorator
@inline function sixLo(ql: v128, qhs: v128, lo4: v128, b45: v128): v128 {
  return v128.or(v128.and(ql, lo4), v128.and(i16x8.shl(qhs, 4), b45));
}
// @ts-ignore: decorator
@inline function sixHi(ql: v128, qhs: v128, lo4: v128, b45: v128): v128 {
  return v128.or(v128.and(i16x8.shr_u(ql, 4), lo4), v128.and(qhs, b45));
}

/** sc * (sums of products 4j..4j+3) of the 16 unsigned six-bit values v with the split
 *  activations at ys (q8_k.ts splitActivations); sc is the i8 at scp (broadcast to every byte
 *  and shifted down arithmetically: sign-extended in every i16 lane). */
// @ts-ignore: decorator
@inline function scaled(v: v128, ys: usize, scp: usize, m8: v128): v128 {
  return dotPairs(pairSums(v128.and(v, m8), i16x8.shr_u(v, 8), ys), i16x8.shr_s(v128.load8_splat(scp), 8));
}

/** Sub-block j (16 values: ql bytes at ql, qh bytes at qh shifted down by `shift`, low
 *  nibbles) and sub-block j+4 (the same bytes' high nibbles), scaled by their scales (i8 at
 *  scp and scp + 4): their four lane sums, added. Split activations of j at ys, of j+4 at
 *  ys + 128. */
// @ts-ignore: decorator
@inline function quarters(ql: usize, qh: usize, shift: i32, ys: usize, scp: usize, lo4: v128, b45: v128, m8: v128): v128 {
  const l = v128.load(ql), h = i16x8.shr_u(v128.load(qh), shift);
  return i32x4.add(scaled(sixLo(l, h, lo4, b45), ys, scp, m8), scaled(sixHi(l, h, lo4, b45), ys + 128, scp + 4, m8));
}

/** One weight row against one activation row (x: Q8_K blocks, ys: the same split) in the x86
 *  order (q8_k.ts). dec: the row decoded by decodeRow (products with several activation rows),
 *  or 0 to read it as stored; only the integer sums differ, the float steps are the same. */
function dotRow(w: usize, dec: usize, x: usize, ys: usize, k: i32): f32 {
  const nb = k / QK;
  const lo4 = v128.load(VK, K_LO4), b45 = v128.load(VK, K_B45), m8 = v128.load(KQ, KQ_M8);
  let cLo = f32x4.splat(0), cHi = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES), yi = ys + <usize>(i * 512);
    // the -32 offset: 32*(bsums[2l]*sc[2l] + bsums[2l+1]*sc[2l+1]) per lane
    const sc16 = v128.load(b + SC);
    let aLo = i32x4.neg(i32x4.shl(dotPairs(v128.load(yb + BSUMS), i16x8.extend_low_i8x16_s(sc16)), 5));
    let aHi = i32x4.neg(i32x4.shl(dotPairs(v128.load(yb + BSUMS, 16), i16x8.extend_high_i8x16_s(sc16)), 5));
    if (dec == 0) {
      // half h, quarters 0/2 then 1/3: sub-blocks j = 8h+2q, j+1 (low nibbles of ql) and j+4,
      // j+5 (high nibbles); sub-block j is the j-th 16 elements, split at yi + 32j
      for (let h = 0; h < 2; h++) {
        const ql = b + <usize>(64 * h), qh = b + QH + <usize>(32 * h), y = yi + <usize>(256 * h), sc = b + SC + <usize>(8 * h);
        aLo = i32x4.add(aLo, quarters(ql, qh, 0, y, sc, lo4, b45, m8));
        aHi = i32x4.add(aHi, quarters(ql + 16, qh + 16, 0, y + 32, sc + 1, lo4, b45, m8));
        aLo = i32x4.add(aLo, quarters(ql + 32, qh, 2, y + 64, sc + 2, lo4, b45, m8));
        aHi = i32x4.add(aHi, quarters(ql + 48, qh + 16, 2, y + 96, sc + 3, lo4, b45, m8));
      }
    } else {
      const d0 = dec + <usize>i * DEC;
      for (let j = 0; j < 16; j += 2) {
        const o = <usize>(32 * j);
        aLo = i32x4.add(aLo, scaledDec(d0 + o, d0 + 512 + <usize>(j << 4), yi + o));
        aHi = i32x4.add(aHi, scaledDec(d0 + o + 32, d0 + 528 + <usize>(j << 4), yi + o + 32));
      }
    }
    const d = f32x4.splat(load<f32>(yb) * f16ToF32(load<u16>(b + D)));
    // lane sums can exceed 2^24: converted with _mm256_cvtepi32_ps's rounding
    cLo = fma32x4(d, f32x4.convert_i32x4_s(aLo), cLo);
    cHi = fma32x4(d, f32x4.convert_i32x4_s(aHi), cHi);
  }
  return hsumFloat8(cLo, cHi);
}

// Products with several activation rows: the weight row is decoded once (decodeRow) into the
// form the products read (per super-block DEC bytes: for each 16 elements their even and odd
// values as i16 lanes, then the 16 scales as i16 splats), and every activation row is then
// multiplied by dotRow reading it from there.
const DEC: usize = 768;

function decodeRow(w: usize, nb: i32, dec: usize): void {
  const lo4 = v128.load(VK, K_LO4), b45 = v128.load(VK, K_B45), m8 = v128.load(KQ, KQ_M8);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), d = dec + <usize>i * DEC;
    for (let it = 0; it < 4; it++) {
      const h = it >> 1, qq = it & 1, j = 8 * h + 2 * qq;
      const ql = b + <usize>(64 * h + 32 * qq), qhp = b + QH + <usize>(32 * h), g = d + <usize>(32 * j);
      const qla = v128.load(ql), qlb = v128.load(ql, 16);
      const qha = i16x8.shr_u(v128.load(qhp), 2 * qq), qhb = i16x8.shr_u(v128.load(qhp, 16), 2 * qq);
      let v = sixLo(qla, qha, lo4, b45);
      v128.store(g, v128.and(v, m8)); v128.store(g, i16x8.shr_u(v, 8), 16);
      v = sixLo(qlb, qhb, lo4, b45);
      v128.store(g, v128.and(v, m8), 32); v128.store(g, i16x8.shr_u(v, 8), 48);
      v = sixHi(qla, qha, lo4, b45);
      v128.store(g, v128.and(v, m8), 128); v128.store(g, i16x8.shr_u(v, 8), 144);
      v = sixHi(qlb, qhb, lo4, b45);
      v128.store(g, v128.and(v, m8), 160); v128.store(g, i16x8.shr_u(v, 8), 176);
    }
    for (let j = 0; j < 16; j++) v128.store(d + 512 + <usize>(j << 4), i16x8.shr_s(v128.load8_splat(b + SC + <usize>j), 8));
  }
}

/** sc * (sums of products 4j..4j+3) of decoded group g (at dg) with split activations at ys. */
// @ts-ignore: decorator
@inline function scaledDec(dg: usize, sp: usize, ys: usize): v128 {
  return dotPairs(pairSums(v128.load(dg), v128.load(dg, 16), ys), v128.load(sp));
}

/** dotRow on the row as stored (the SplitDot of splitDot and splitGemm). */
function dotSplit(w: usize, x: usize, ys: usize, k: i32): f32 { return dotRow(w, 0, x, ys, k); }

/** One weight row against one activation row, in llama.cpp's x86 order (see dotRow). */
export function dot(w: usize, x: usize, k: i32, work: usize): f32 { return splitDot(w, x, k, dotSplit, work); }

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 *  (floats). Each result is one row product: ggml_vec_dot_q6_K_q8_K runs per output. */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                     work: usize): void {
  splitGemm(out, outStride, w, wStride, nr, x, xStride, nt, k, dotSplit, decodeRow, DEC, dotRow, work);
}

/** Work bytes gemm needs for nt activation rows of k (the caller provides them). */
export function gemmWorkBytes(k: i32, nt: i32): usize { return splitGemmWorkBytes(k, nt, DEC); }
