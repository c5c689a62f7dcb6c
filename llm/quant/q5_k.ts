// Q5_K (GGUF type 13): super-blocks of 256 = 8 sub-blocks of 32, 176 bytes:
// { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }. Like Q4_K plus a fifth bit:
// bit 2c of qh[l] belongs to element 64c+l, bit 2c+1 to element 64c+32+l.
// x = d*sc_j*q - dmin*m_j. Paired with Q8_K. The products follow llama.cpp's x86 build
// (ggml_vec_dot_q5_K_q8_K, AVX2: see q8_k.ts); dotScalar is ggml's portable reference.
import { f16ToF32 } from "./f16";
import { hsum, VK, K_LO4, hsumFloat8, dotPairs } from "./common";
import { scaleMinK4, quantizeSuperBlockK, SUPER_BLOCK_K_WORK } from "./kquant_ref";
import {
  BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS, BSUMS, KQ, KQ_M8, KQ_B4, pairSums, splitActivations, scaleSplat16, laneFma, laneHsum, bsums32,
  splitDot, splitGemm, splitGemmWorkBytes,
} from "./q8_k";
import { kScales, kMins } from "./q4_k";
import { fma32, fma32x4 } from "../math/fma";

export const QK: i32 = 256;
export const BLOCK_BYTES: i32 = 176;
const SCALES: usize = 4;
const QH: usize = 16;
const QS: usize = 48;

/** quantize_row_q5_K_ref. */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  const s = heap.alloc(256 + SUPER_BLOCK_K_WORK); // per-call scratch: the quantizer is not a kernel
  const L = s, work = s + 256;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    quantizeSuperBlockK(x, y, 31, -0.5, 15, L, work);
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

/** ggml_vec_dot_q5_K_q8_K, generic (portable) version, literally (a test reference: slow, allocates its lane arrays). */
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

/** The x86 order (ggml_vec_dot_q5_K_q8_K, AVX2), lane by lane with the scalar fused multiply-add:
 *  lane l of a super-block sums sc*q*y over elements 4l..4l+3 of every 32; acc[l] = fma(d,
 *  f32(lane), acc[l]) with d = y.d*x.d; the minimum term is one integer per super-block,
 *  summs = fma(-y.d*x.dmin, f32(sum_j m_j*(bsums[2j] + bsums[2j+1])), summs) (GCC contracts
 *  `summs += dmin * sum`: a vfmadd231ss in libggml-cpu-haswell.so); the result is hsum_float_8(acc) + summs. The reference for dot. */
export function dotScalarX86(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const s = heap.alloc(64);
  const acc = s, sumi = s + 32;
  memory.fill(acc, 0, 32);
  let summs: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    memory.fill(sumi, 0, 32);
    for (let e = 0; e < QK; e++) {
      const p = sumi + (<usize>((e & 31) >> 2) << 2);
      const scale = scaleMinK4(e >> 5, b + SCALES) & 255;
      store<i32>(p, load<i32>(p) + scale * element(b, e) * <i32>load<i8>(yb + Q8K_QS + <usize>e));
    }
    let mt = 0;
    for (let j = 0; j < 8; j++) {
      const bs = <i32>load<i16>(yb + BSUMS + (<usize>(2 * j) << 1)) + <i32>load<i16>(yb + BSUMS + (<usize>(2 * j + 1) << 1));
      mt += (scaleMinK4(j, b + SCALES) >> 8) * bs;
    }
    const yd = load<f32>(yb);
    laneFma(acc, sumi, yd * f16ToF32(load<u16>(b)));
    summs = fma32(-yd * f16ToF32(load<u16>(b, 2)), <f32>mt, summs);
  }
  const r = laneHsum(acc) + summs;
  heap.free(s);
  return r;
}

// The SIMD kernel: five-bit values assembled in bytes (the fifth bit moved to bit 4 with i16
// shifts and a byte mask), split into even and odd bytes for pairSums, and scaled into ggml's
// eight lanes with i32x4.dot_i16x8_s as in q6_k.ts: the first 16 elements of a 32-element
// sub-block feed lanes 0-3, the last 16 lanes 4-7.

/** sc * (sums of products 4j..4j+3) of 16 unsigned values v (bytes) with the split
 *  activations at ys (q8_k.ts splitActivations). */
// @ts-ignore: decorator
@inline function scaled(v: v128, ys: usize, sc: v128, m8: v128): v128 {
  return dotPairs(pairSums(v128.and(v, m8), i16x8.shr_u(v, 8), ys), sc);
}

/** One weight row against one activation row (x: Q8_K blocks, ys: the same split) in the x86
 *  order (q8_k.ts; the minimum term as in dotScalarX86). dec: the row decoded by decodeRow
 *  (products with several activation rows), or 0 to read it as stored; only the integer sums
 *  differ. */
function dotRow(w: usize, dec: usize, x: usize, ys: usize, k: i32): f32 {
  const nb = k / QK;
  const lo4 = v128.load(VK, K_LO4), b4 = v128.load(KQ, KQ_B4), m8 = v128.load(KQ, KQ_M8);
  let cLo = f32x4.splat(0), cHi = f32x4.splat(0);
  let summs: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES), yi = ys + <usize>(i * 512);
    const mt = hsum(dotPairs(i16x8.extend_low_i8x16_u(i64x2.splat(kMins(b + SCALES))), bsums32(yb)));
    let aLo = i32x4.splat(0), aHi = i32x4.splat(0);
    if (dec == 0) {
      const scales = kScales(b + SCALES);
      let qh0 = v128.load(b + QH), qh1 = v128.load(b + QH, 16);
      for (let c = 0; c < 4; c++) {
        const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
        const y = yi + <usize>(128 * c); // elements 64c.. split: 16 elements per 32 bytes
        const sl = scaleSplat16(<i32>(scales >> (<u64>(16 * c))) & 255), sh = scaleSplat16(<i32>(scales >> (<u64>(16 * c + 8))) & 255);
        // qh shifted down by 2c: the fifth bits of sub-blocks 2c and 2c+1 at bits 0 and 1 of each byte
        const lo0 = v128.or(v128.and(q0, lo4), v128.and(i16x8.shl(qh0, 4), b4)), hi0 = v128.or(v128.and(i16x8.shr_u(q0, 4), lo4), v128.and(i16x8.shl(qh0, 3), b4));
        const lo1 = v128.or(v128.and(q1, lo4), v128.and(i16x8.shl(qh1, 4), b4)), hi1 = v128.or(v128.and(i16x8.shr_u(q1, 4), lo4), v128.and(i16x8.shl(qh1, 3), b4));
        aLo = i32x4.add(aLo, i32x4.add(scaled(lo0, y, sl, m8), scaled(hi0, y + 64, sh, m8)));
        aHi = i32x4.add(aHi, i32x4.add(scaled(lo1, y + 32, sl, m8), scaled(hi1, y + 96, sh, m8)));
        qh0 = i16x8.shr_u(qh0, 2); qh1 = i16x8.shr_u(qh1, 2);
      }
    } else {
      const d0 = dec + <usize>i * DEC;
      for (let j = 0; j < 8; j++) {
        const o = <usize>(64 * j), sc = v128.load(d0 + 512 + <usize>(j << 4));
        aLo = i32x4.add(aLo, scaledDec(d0 + o, sc, yi + o));
        aHi = i32x4.add(aHi, scaledDec(d0 + o + 32, sc, yi + o + 32));
      }
    }
    const yd = load<f32>(yb);
    const d = f32x4.splat(yd * f16ToF32(load<u16>(b)));
    cLo = fma32x4(d, f32x4.convert_i32x4_s(aLo), cLo);
    cHi = fma32x4(d, f32x4.convert_i32x4_s(aHi), cHi);
    summs = fma32(-yd * f16ToF32(load<u16>(b, 2)), <f32>mt, summs);
  }
  return hsumFloat8(cLo, cHi) + summs;
}

// Products with several activation rows: the weight row is decoded once (decodeRow) into the
// form the products read (per super-block DEC bytes: for each 16 elements their even and odd
// values as i16 lanes, then the 8 scales as i16 splats), and every activation row is then
// multiplied by dotRow reading it from there.
const DEC: usize = 640;

function decodeRow(w: usize, nb: i32, dec: usize): void {
  const lo4 = v128.load(VK, K_LO4), b4 = v128.load(KQ, KQ_B4), m8 = v128.load(KQ, KQ_M8);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), d = dec + <usize>i * DEC;
    const scales = kScales(b + SCALES);
    let qh0 = v128.load(b + QH), qh1 = v128.load(b + QH, 16);
    for (let c = 0; c < 4; c++) {
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16), g = d + <usize>(128 * c);
      let v = v128.or(v128.and(q0, lo4), v128.and(i16x8.shl(qh0, 4), b4));
      v128.store(g, v128.and(v, m8)); v128.store(g, i16x8.shr_u(v, 8), 16);
      v = v128.or(v128.and(q1, lo4), v128.and(i16x8.shl(qh1, 4), b4));
      v128.store(g, v128.and(v, m8), 32); v128.store(g, i16x8.shr_u(v, 8), 48);
      v = v128.or(v128.and(i16x8.shr_u(q0, 4), lo4), v128.and(i16x8.shl(qh0, 3), b4));
      v128.store(g, v128.and(v, m8), 64); v128.store(g, i16x8.shr_u(v, 8), 80);
      v = v128.or(v128.and(i16x8.shr_u(q1, 4), lo4), v128.and(i16x8.shl(qh1, 3), b4));
      v128.store(g, v128.and(v, m8), 96); v128.store(g, i16x8.shr_u(v, 8), 112);
      qh0 = i16x8.shr_u(qh0, 2); qh1 = i16x8.shr_u(qh1, 2);
    }
    for (let j = 0; j < 8; j++) v128.store(d + 512 + <usize>(j << 4), scaleSplat16(<i32>(scales >> (<u64>(8 * j))) & 255));
  }
}

/** sc * (sums of products 4j..4j+3) of a decoded group (at dg) with split activations at ys. */
// @ts-ignore: decorator
@inline function scaledDec(dg: usize, sc: v128, ys: usize): v128 {
  return dotPairs(pairSums(v128.load(dg), v128.load(dg, 16), ys), sc);
}

/** dotRow on the row as stored (the SplitDot of splitDot and splitGemm). */
function dotSplit(w: usize, x: usize, ys: usize, k: i32): f32 { return dotRow(w, 0, x, ys, k); }

/** One weight row against one activation row, in llama.cpp's x86 order (see dotRow). */
export function dot(w: usize, x: usize, k: i32, work: usize): f32 { return splitDot(w, x, k, dotSplit, work); }

/** out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 *  (floats). Each result is one row product: ggml_vec_dot_q5_K_q8_K runs per output. */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                     work: usize): void {
  splitGemm(out, outStride, w, wStride, nr, x, xStride, nt, k, dotSplit, decodeRow, DEC, dotRow, work);
}

/** Work bytes gemm needs for nt activation rows of k (the caller provides them). */
export function gemmWorkBytes(k: i32, nt: i32): usize { return splitGemmWorkBytes(k, nt, DEC); }
