// Q4_K (GGUF type 12): super-blocks of 256 = 8 sub-blocks of 32, 144 bytes:
// { f16 d; f16 dmin; u8 scales[12] (8 six-bit scales + 8 six-bit mins); u8 qs[128] }.
// x = d*sc_j*q - dmin*m_j. qs chunk c (32 bytes) holds elements 64c..64c+31 in its low
// nibbles and 64c+32..64c+63 in its high nibbles. Paired with Q8_K activations.
//
// The products follow llama.cpp's x86 build (see "llama.cpp's x86 orders" below); dotScalar
// is ggml's portable reference (generic) version, kept for comparison.
import { f16ToF32 } from "./f16";
import { hsum4, VK, K_N0, hsumFloat8, dotPairs } from "./common";
import { scaleMinK4, quantizeSuperBlockK, SUPER_BLOCK_K_WORK } from "./kquant_ref";
import {
  BLOCK_BYTES as Q8K_BYTES, QS as Q8K_QS, BSUMS, pairSums, splitActivations, scaleSplat16, laneFma, laneHsum, bsums32, splitDot,
} from "./q8_k";
import { fma32, fma32x4 } from "../math/fma";

export const QK: i32 = 256;
export const BLOCK_BYTES: i32 = 144;
const SCALES: usize = 4;
const QS: usize = 16;

/** quantize_row_q4_K_ref (what llama.cpp uses without an importance matrix). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  const s = heap.alloc(256 + SUPER_BLOCK_K_WORK); // per-call scratch: the quantizer is not a kernel
  const L = s, work = s + 256;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    quantizeSuperBlockK(x, y, 15, -1.0, 20, L, work);
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

/** ggml_vec_dot_q4_K_q8_K, generic (portable) version, literally (a test reference: slow, allocates its lane arrays). */
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

// ---- llama.cpp's x86 orders ----
//
// Which kernel llama.cpp's x86 build (AVX2 + FMA) runs depends on the matrix: Q4_K weights
// whose row count is a multiple of 8 are repacked at load time (8 rows interleaved) and
// multiplied by ggml_gemv_q4_K_8x8_q8_K / ggml_gemm_q4_K_8x8_q8_K (arch/x86/repack.cpp);
// the others by ggml_vec_dot_q4_K_q8_K (arch/x86/quants.c). With d = x.d*y.d and
// dm = x.dmin*y.d (f32), per weight row and activation row:
//
//  * vec_dot: eight lanes as in q8_k.ts, acc[l] = fma(d, f32(lane l), acc[l]) per super-block;
//    the minimum terms in four more lanes, accm[j] = fma(-y.d*x.dmin, f32(m[2j]*s[2j] +
//    m[2j+1]*s[2j+1]), accm[j]) with s[i] = bsums[2i] + bsums[2i+1] (the 32-element sums);
//    result hsum_float_8(acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3])).
//  * gemv (activation rows past the last multiple of 4 of a batch; every single row): per
//    super-block acc = fma(f32(sum over all sub-blocks of sc*q*y), d, acc) and
//    accm = fma(f32(sum_i m[i]*s[i]), dm, accm); result acc - accm.
//  * gemm (activation rows in groups of 4): the same with one step per pair of sub-blocks
//    (64 elements): four of each per super-block.
//
// ggml quantizes the activations of those groups of 4 with ggml_quantize_mat_q8_K_4x8, which
// may flip the sign of a block's (d, q) (see q8_act.ts): the products are unchanged.

/** Integer parts of one super-block (b: Q4_K block, yb: Q8_K block), sc*q*y summed two ways:
 *  into the eight lanes of ggml's AVX2 kernel (i32[8] at lanes: elements 4l..4l+3 of every 32)
 *  and per pair of sub-blocks (i32[4] at pairs: elements 64c..64c+63). */
function blockSums(b: usize, yb: usize, lanes: usize, pairs: usize): void {
  memory.fill(lanes, 0, 32);
  memory.fill(pairs, 0, 16);
  for (let e = 0; e < QK; e++) {
    const c = e >> 6, r = e & 63;
    const qb = <i32>load<u8>(b + QS + <usize>(32 * c + (r & 31)));
    const v = (scaleMinK4(e >> 5, b + SCALES) & 255) * (r < 32 ? qb & 15 : qb >> 4) * <i32>load<i8>(yb + Q8K_QS + <usize>e);
    const p = lanes + (<usize>((e & 31) >> 2) << 2), q = pairs + (<usize>c << 2);
    store<i32>(p, load<i32>(p) + v);
    store<i32>(q, load<i32>(q) + v);
  }
}

/** m[2c]*s[2c] + m[2c+1]*s[2c+1] for the pair of sub-blocks c (s: the 32-element activation sums). */
function minPair(b: usize, yb: usize, c: i32): i32 {
  let r = 0;
  for (let j = 2 * c; j < 2 * c + 2; j++) {
    const s = <i32>load<i16>(yb + BSUMS + (<usize>(2 * j) << 1)) + <i32>load<i16>(yb + BSUMS + (<usize>(2 * j + 1) << 1));
    r += (scaleMinK4(j, b + SCALES) >> 8) * s;
  }
  return r;
}

/** ggml_vec_dot_q4_K_q8_K's x86 order (see above), with the scalar fused multiply-add: the
 *  reference for dot. */
export function dotScalarX86(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const s = heap.alloc(80);
  const acc = s, lanes = s + 32, pairs = s + 64;
  memory.fill(acc, 0, 32);
  let m0: f32 = 0, m1: f32 = 0, m2: f32 = 0, m3: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    blockSums(b, yb, lanes, pairs);
    const yd = load<f32>(yb);
    laneFma(acc, lanes, yd * f16ToF32(load<u16>(b)));
    const dmin = -yd * f16ToF32(load<u16>(b, 2));
    m0 = fma32(dmin, <f32>minPair(b, yb, 0), m0); m1 = fma32(dmin, <f32>minPair(b, yb, 1), m1);
    m2 = fma32(dmin, <f32>minPair(b, yb, 2), m2); m3 = fma32(dmin, <f32>minPair(b, yb, 3), m3);
  }
  const r = laneHsum(acc) + ((m0 + m2) + (m1 + m3));
  heap.free(s);
  return r;
}

/** The repacked kernels' order (see above), with the scalar fused multiply-add: gemm's (one
 *  step per pair of sub-blocks) when `gemmOrder`, else gemv's (one per super-block). The
 *  reference for the tiles. */
export function dotRepackedScalar(w: usize, x: usize, k: i32, gemmOrder: bool): f32 {
  const nb = k / QK;
  const s = heap.alloc(64);
  const lanes = s, pairs = s + 32;
  let acc: f32 = 0, accm: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES);
    blockSums(b, yb, lanes, pairs);
    const yd = load<f32>(yb);
    const d = f16ToF32(load<u16>(b)) * yd, dm = f16ToF32(load<u16>(b, 2)) * yd;
    if (gemmOrder) {
      for (let c = 0; c < 4; c++) {
        acc = fma32(<f32>load<i32>(pairs + (<usize>c << 2)), d, acc);
        accm = fma32(<f32>minPair(b, yb, c), dm, accm);
      }
    } else {
      const total = load<i32>(pairs) + load<i32>(pairs, 4) + load<i32>(pairs, 8) + load<i32>(pairs, 12);
      acc = fma32(<f32>total, d, acc);
      accm = fma32(<f32>(minPair(b, yb, 0) + minPair(b, yb, 1) + minPair(b, yb, 2) + minPair(b, yb, 3)), dm, accm);
    }
  }
  heap.free(s);
  return acc - accm;
}

// The SIMD kernels. The nibbles go straight from the weight bytes (read as i16 lanes) to their
// even and odd elements (shifts and a mask, K_N0), which pairSums multiplies with the
// activations split the same way (q8_k.ts splitActivations): lane m sums the products of
// elements 2m and 2m+1. Then i32x4.dot_i16x8_s with the sub-block's scale adds adjacent lanes
// once more: lane j = sc * (products 4j..4j+3 of the 16), ggml's lane j (first 16 of a
// sub-block) or j + 4 (last 16). The repacked orders only need sums per pair of sub-blocks, so
// there the pair sums of both halves are added (in i16: |sum| <= 4*15*127) before that one dot
// per sub-block.
//
// Offsets: in the split activations the 16 elements from e (a multiple of 16) are at 2e bytes,
// so those of chunk c (elements 64c..64c+63) at 128c: +0 for the low nibbles of its first 16
// bytes, +32 for the low nibbles of the last 16, +64 and +96 for the high nibbles.

/** Pair sums of the low nibbles (pairsLo) or the high nibbles (pairsHi) of the 16 weight bytes q
 *  with the split activations at ys. */
// @ts-ignore: decorator
@inline function pairsLo(q: v128, ys: usize, n0: v128): v128 {
  return pairSums(v128.and(q, n0), v128.and(i16x8.shr_u(q, 8), n0), ys);
}
// @ts-ignore: decorator
@inline function pairsHi(q: v128, ys: usize, n0: v128): v128 {
  return pairSums(v128.and(i16x8.shr_u(q, 4), n0), i16x8.shr_u(q, 12), ys);
}

/** m[2j]*s[2j] + m[2j+1]*s[2j+1] in lane j (ggml's _mm_madd_epi16 of the minimums with the
 *  32-element activation sums). */
// @ts-ignore: decorator
@inline function minLanes(b: usize, yb: usize): v128 {
  return dotPairs(i16x8.extend_low_i8x16_u(i64x2.splat(kMins(b + SCALES))), bsums32(yb));
}

/** Scale j of kScales as an i16 splat. */
// @ts-ignore: decorator
@inline function scaleOf(scales: u64, j: i32): v128 { return scaleSplat16(<i32>(scales >> (<u64>(8 * j))) & 255); }

/** One weight row against one activation row (x: Q8_K blocks, ys: the same split) in
 *  ggml_vec_dot_q4_K_q8_K's x86 order: its eight lanes as two f32x4 (lanes 0-3, 4-7), its four
 *  minimum lanes as one. */
function dotSplit(w: usize, x: usize, ys: usize, k: i32): f32 {
  const nb = k / QK;
  const n0 = v128.load(VK, K_N0);
  let cLo = f32x4.splat(0), cHi = f32x4.splat(0), cm = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES), yi = ys + <usize>(i * 512);
    const scales = kScales(b + SCALES);
    let aLo = i32x4.splat(0), aHi = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
      const y = yi + <usize>(128 * c);
      const sl = scaleOf(scales, 2 * c), sh = scaleOf(scales, 2 * c + 1);
      aLo = i32x4.add(aLo, i32x4.add(dotPairs(pairsLo(q0, y, n0), sl), dotPairs(pairsHi(q0, y + 64, n0), sh)));
      aHi = i32x4.add(aHi, i32x4.add(dotPairs(pairsLo(q1, y + 32, n0), sl), dotPairs(pairsHi(q1, y + 96, n0), sh)));
    }
    const yd = load<f32>(yb);
    const d = f32x4.splat(yd * f16ToF32(load<u16>(b)));
    cLo = fma32x4(d, f32x4.convert_i32x4_s(aLo), cLo);
    cHi = fma32x4(d, f32x4.convert_i32x4_s(aHi), cHi);
    cm = fma32x4(f32x4.splat(-yd * f16ToF32(load<u16>(b, 2))), f32x4.convert_i32x4_s(minLanes(b, yb)), cm);
  }
  const am = f32x4.add(cm, i32x4.shuffle(cm, cm, 2, 3, 0, 1));  // [m0 + m2, m1 + m3]
  return hsumFloat8(cLo, cHi) + (f32x4.extract_lane(am, 0) + f32x4.extract_lane(am, 1));
}

/** One weight row against one activation row in ggml_vec_dot_q4_K_q8_K's x86 order (what
 *  llama.cpp runs for matrices whose row count is not a multiple of 8). */
export function dot(w: usize, x: usize, k: i32, work: usize): f32 { return splitDot(w, x, k, dotSplit, work); }

/** Work bytes gemm needs for nt activation rows of k (the caller provides them). */
export function gemmWorkBytes(k: i32, nt: i32): usize { return <usize>nt * (<usize>k << 1); }

/** sum sc*(q*y) over the pair of sub-blocks c of block b as an i32x4 (its lanes sum to the
 *  pair's total); y: the pair's split activations. */
// @ts-ignore: decorator
@inline function pairTotal(b: usize, c: i32, y: usize, sl: v128, sh: v128, n0: v128): v128 {
  const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
  const lo = i16x8.add(pairsLo(q0, y, n0), pairsLo(q1, y + 32, n0));
  const hi = i16x8.add(pairsHi(q0, y + 64, n0), pairsHi(q1, y + 96, n0));
  return i32x4.add(dotPairs(lo, sl), dotPairs(hi, sh));
}

/** Two weight rows (w0, w1) against one activation row (x, split at ys) in the repacked gemv
 *  order: out[0] and out[os]. One f32x4 holds the four chains: [acc w0, acc w1, accm w0,
 *  accm w1] (w1 may equal w0). */
function gemv2(out: usize, os: usize, w0: usize, w1: usize, x: usize, ys: usize, k: i32): void {
  const nb = k / QK;
  const n0 = v128.load(VK, K_N0);
  let acc = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const a = w0 + <usize>(i * BLOCK_BYTES), b = w1 + <usize>(i * BLOCK_BYTES), yb = x + <usize>(i * Q8K_BYTES), yi = ys + <usize>(i * 512);
    const sa = kScales(a + SCALES), sb = kScales(b + SCALES);
    let va = i32x4.splat(0), vb = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const y = yi + <usize>(128 * c);
      va = i32x4.add(va, pairTotal(a, c, y, scaleOf(sa, 2 * c), scaleOf(sa, 2 * c + 1), n0));
      vb = i32x4.add(vb, pairTotal(b, c, y, scaleOf(sb, 2 * c), scaleOf(sb, 2 * c + 1), n0));
    }
    // [total a, total b, minimum term a, minimum term b]
    const f = f32x4.convert_i32x4_s(hsum4(va, vb, minLanes(a, yb), minLanes(b, yb)));
    const yd = load<f32>(yb);
    const d = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(f16ToF32(load<u16>(a)) * yd),
      1, f16ToF32(load<u16>(b)) * yd), 2, f16ToF32(load<u16>(a, 2)) * yd), 3, f16ToF32(load<u16>(b, 2)) * yd);
    acc = fma32x4(f, d, acc);
  }
  const r = f32x4.sub(acc, i32x4.shuffle(acc, acc, 2, 3, 0, 1));
  store<f32>(out, f32x4.extract_lane(r, 0));
  store<f32>(out + os, f32x4.extract_lane(r, 1));
}

/** The sums of one pair of sub-blocks for one activation row (split at y), the weights already
 *  split into even/odd elements (low nibbles of the first 16 bytes: el0/ol0, high: eh0/oh0;
 *  of the last 16: el1/ol1, eh1/oh1). */
// @ts-ignore: decorator
@inline function pairTotal4(el0: v128, ol0: v128, eh0: v128, oh0: v128, el1: v128, ol1: v128, eh1: v128, oh1: v128, y: usize, sl: v128, sh: v128): v128 {
  const lo = i16x8.add(pairSums(el0, ol0, y), pairSums(el1, ol1, y + 32));
  const hi = i16x8.add(pairSums(eh0, oh0, y + 64), pairSums(eh1, oh1, y + 96));
  return i32x4.add(dotPairs(lo, sl), dotPairs(hi, sh));
}

/** One weight row against four activation rows (x0 + t*xs, split at ys + t*ss) in the
 *  repacked gemm order: out + t*os. Lane t of the accumulators: row t. */
function gemm1x4(out: usize, os: usize, w: usize, x0: usize, xs: usize, ys: usize, ss: usize, k: i32): void {
  const nb = k / QK;
  const n0 = v128.load(VK, K_N0);
  let acc = f32x4.splat(0), accm = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const b = w + <usize>(i * BLOCK_BYTES), oy = <usize>(i * Q8K_BYTES), os8 = <usize>(i * 512);
    const y0 = x0 + oy, y1 = y0 + xs, y2 = y1 + xs, y3 = y2 + xs;
    const z0 = ys + os8, z1 = z0 + ss, z2 = z1 + ss, z3 = z2 + ss;
    const scales = kScales(b + SCALES);
    const dx = f16ToF32(load<u16>(b)), mx = f16ToF32(load<u16>(b, 2));
    const yd = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(y0)), 1, load<f32>(y1)), 2, load<f32>(y2)), 3, load<f32>(y3));
    const df = f32x4.mul(f32x4.splat(dx), yd), dmf = f32x4.mul(f32x4.splat(mx), yd);
    // the minimum terms of the four pairs of sub-blocks, transposed to [row 0..3] per pair
    const mins = i16x8.extend_low_i8x16_u(i64x2.splat(kMins(b + SCALES)));
    const e0 = dotPairs(mins, bsums32(y0)), e1 = dotPairs(mins, bsums32(y1));
    const e2 = dotPairs(mins, bsums32(y2)), e3 = dotPairs(mins, bsums32(y3));
    const t01a = i32x4.shuffle(e0, e1, 0, 4, 1, 5), t01b = i32x4.shuffle(e0, e1, 2, 6, 3, 7);
    const t23a = i32x4.shuffle(e2, e3, 0, 4, 1, 5), t23b = i32x4.shuffle(e2, e3, 2, 6, 3, 7);
    const mf0 = i32x4.shuffle(t01a, t23a, 0, 1, 4, 5), mf1 = i32x4.shuffle(t01a, t23a, 2, 3, 6, 7);
    const mf2 = i32x4.shuffle(t01b, t23b, 0, 1, 4, 5), mf3 = i32x4.shuffle(t01b, t23b, 2, 3, 6, 7);
    for (let c = 0; c < 4; c++) {
      const sl = scaleOf(scales, 2 * c), sh = scaleOf(scales, 2 * c + 1);
      const q0 = v128.load(b + QS + <usize>(32 * c)), q1 = v128.load(b + QS + <usize>(32 * c), 16);
      // the nibbles' even and odd elements, shared by the four rows
      const el0 = v128.and(q0, n0), ol0 = v128.and(i16x8.shr_u(q0, 8), n0), eh0 = v128.and(i16x8.shr_u(q0, 4), n0), oh0 = i16x8.shr_u(q0, 12);
      const el1 = v128.and(q1, n0), ol1 = v128.and(i16x8.shr_u(q1, 8), n0), eh1 = v128.and(i16x8.shr_u(q1, 4), n0), oh1 = i16x8.shr_u(q1, 12);
      const oc = <usize>(128 * c);
      const v0 = pairTotal4(el0, ol0, eh0, oh0, el1, ol1, eh1, oh1, z0 + oc, sl, sh);
      const v1 = pairTotal4(el0, ol0, eh0, oh0, el1, ol1, eh1, oh1, z1 + oc, sl, sh);
      const v2 = pairTotal4(el0, ol0, eh0, oh0, el1, ol1, eh1, oh1, z2 + oc, sl, sh);
      const v3 = pairTotal4(el0, ol0, eh0, oh0, el1, ol1, eh1, oh1, z3 + oc, sl, sh);
      acc = fma32x4(f32x4.convert_i32x4_s(hsum4(v0, v1, v2, v3)), df, acc);
    }
    // the minimum terms' chain (independent of the other one), pair after pair
    accm = fma32x4(f32x4.convert_i32x4_s(mf0), dmf, accm);
    accm = fma32x4(f32x4.convert_i32x4_s(mf1), dmf, accm);
    accm = fma32x4(f32x4.convert_i32x4_s(mf2), dmf, accm);
    accm = fma32x4(f32x4.convert_i32x4_s(mf3), dmf, accm);
  }
  const r = f32x4.sub(acc, accm);
  store<f32>(out, f32x4.extract_lane(r, 0));
  store<f32>(out + os, f32x4.extract_lane(r, 1));
  store<f32>(out + 2 * os, f32x4.extract_lane(r, 2));
  store<f32>(out + 3 * os, f32x4.extract_lane(r, 3));
}

/** The 8 six-bit scales of a Q4_K/Q5_K super-block (12 bytes at sc), scale j in byte j. Same
 *  unpacking as get_scale_min_k4, done on whole words as ggml's kernels do. */
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

/**
 * out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 * (floats). `matrixRows`: the row count of the whole weight matrix, which decides llama.cpp's
 * kernel (repacked when a multiple of 8); nr when not given (0), which is right whenever the
 * call covers the whole matrix. In the repacked case, activation rows [0, nt - nt % 4) take
 * the gemm order (ggml's groups of 4: a batch split into pieces must start each piece at a
 * multiple of 4 of llama.cpp's batch) and the rest the gemv order.
 */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                     work: usize, matrixRows: i32 = 0): void {
  const os = <usize>outStride << 2, ss = <usize>k << 1;
  const ys = work; // gemmWorkBytes: the activations' split lanes
  splitActivations(x, xStride, nt, k, ys);
  if ((matrixRows > 0 ? matrixRows : nr) % 8 != 0) {
    for (let r = 0; r < nr; r++) {
      const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
      for (let t = 0; t < nt; t++) store<f32>(o + <usize>t * os, dotSplit(wr, x + <usize>t * xStride, ys + <usize>t * ss, k));
    }
    return;
  }
  const t4 = nt - nt % 4;
  if (t4 > 0) {
    for (let r = 0; r < nr; r++) {
      const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
      for (let t = 0; t < t4; t += 4) gemm1x4(o + <usize>t * os, os, wr, x + <usize>t * xStride, xStride, ys + <usize>t * ss, ss, k);
    }
  }
  for (let t = t4; t < nt; t++) {
    const o = out + <usize>t * os, xt = x + <usize>t * xStride, yt = ys + <usize>t * ss;
    let r = 0;
    for (; r + 2 <= nr; r += 2) gemv2(o + (<usize>r << 2), 4, w + <usize>r * wStride, w + <usize>(r + 1) * wStride, xt, yt, k);
    if (r < nr) {
      // the last odd row in both lanes; the second store lands on the first
      const wr = w + <usize>r * wStride;
      gemv2(o + (<usize>r << 2), 0, wr, wr, xt, yt, k);
    }
  }
}
