// Q8_K (GGUF type 15): blocks of 256, { f32 d; i8 qs[256]; i16 bsums[16] } = 292 bytes,
// x = d*q. Only an activation format: ggml pairs every K-quant with it (vec_dot_type Q8_K).
// bsums[j] is the sum of qs[16j..16j+15]; the K-quants use it for their block minimum terms.
import { nearestInt, evens, odds } from "./common";
import { fma32 } from "../math/fma";

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

// ---- shared by the K-quant products (Q4_K, Q5_K, Q6_K weights x Q8_K activations) ----
//
// llama.cpp's x86 build (AVX2 + FMA) multiplies K-quants by ggml_vec_dot_q{4,5,6}_K_q8_K
// (arch/x86/quants.c) or, for Q4_K matrices whose row count is a multiple of 8, by its repacked
// kernels (arch/x86/repack.cpp, see q4_k.ts). The single-row kernels keep eight i32 lanes per
// super-block, lane l summing the products of elements 4l..4l+3 of every 32 (maddubs/madd
// pairs within one 32-bit lane), each scaled by its sub-block's scale; then per super-block
// acc[l] = fma(d, f32(sumi[l]), acc[l]) with d = y.d*x.d in f32, and at the end hsum_float_8:
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). The integer sums are exact in any order; the f32
// conversion of a lane sum rounds (to nearest even) only if it exceeds 2^24, which Q6_K's can.
//
// The SIMD kernels keep the eight lanes as two f32x4 (lanes 0-3, 4-7): f32x4.convert_i32x4_s
// rounds as _mm256_cvtepi32_ps does, and llm/math/fma.ts's fma32x4 is half of _mm256_fmadd_ps,
// so every step is x86's bit for bit. They read the activations split
// into even and odd elements (splitActivations, done once per call for all weight rows) and,
// for a batch of activation rows, Q5_K and Q6_K weight rows decoded once per row: per-call
// scratch from this instance's heap.

/** Read-only vector constants of the K-quant kernels (see common.ts VK for why they are loaded
 *  from memory): KQ_M8 = 0x00ff in each i16 lane, KQ_B4 = 0x10 in each byte. */
export const KQ: usize = memory.data<u32>([
  0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff,
  0x10101010, 0x10101010, 0x10101010, 0x10101010,
], 16);
export const KQ_M8: usize = 0, KQ_B4: usize = 16;

/** The activations of nt Q8_K rows (k elements each, xs bytes apart) split for pairSums: per 16
 *  elements 32 bytes, their even elements then their odd ones as i16 lanes, so k*2 bytes per
 *  row at dst (row t at dst + t*k*2). The kernels read these for every weight row instead of
 *  splitting the bytes again. */
export function splitActivations(x: usize, xs: usize, nt: i32, k: i32, dst: usize): void {
  const nb = k / QK;
  for (let t = 0; t < nt; t++) {
    let d = dst + <usize>t * (<usize>k << 1);
    for (let i = 0; i < nb; i++) {
      const q = x + <usize>t * xs + <usize>(i * BLOCK_BYTES) + QS;
      for (let g = 0; g < 16; g++) {
        const v = v128.load(q + <usize>(g << 4));
        v128.store(d, evens(v));
        v128.store(d, odds(v), 16);
        d += 32;
      }
    }
  }
}

/** i16 lanes m = q[2m]*y[2m] + q[2m+1]*y[2m+1] for 16 weights (qe, qo: their even and odd
 *  elements as i16 lanes, 0 <= q <= 63) and the split activations at ys (splitActivations):
 *  |lane| <= 2*63*127. */
// @ts-ignore: decorator
@inline export function pairSums(qe: v128, qo: v128, ys: usize): v128 {
  return i16x8.add(i16x8.mul(qe, v128.load(ys)), i16x8.mul(qo, v128.load(ys, 16)));
}

/** The sub-block scale s (a small integer) in every i16 lane. */
// @ts-ignore: decorator
@inline export function scaleSplat16(s: i32): v128 { return i16x8.splat(<i16>s); }

/** Scalar path of the eight-lane accumulator (acc: f32[8], sumi: i32[8]): acc[l] = fma(d, f32(sumi[l]), acc[l]). */
export function laneFma(acc: usize, sumi: usize, d: f32): void {
  for (let l = 0; l < 8; l++) {
    const p = acc + (<usize>l << 2);
    store<f32>(p, fma32(d, <f32>load<i32>(sumi + (<usize>l << 2)), load<f32>(p)));
  }
}

/** hsum_float_8 of f32[8] at acc. */
export function laneHsum(acc: usize): f32 {
  const l0 = load<f32>(acc), l1 = load<f32>(acc, 4), l2 = load<f32>(acc, 8), l3 = load<f32>(acc, 12);
  const l4 = load<f32>(acc, 16), l5 = load<f32>(acc, 20), l6 = load<f32>(acc, 24), l7 = load<f32>(acc, 28);
  return ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));
}

/** The 32-element sums of one Q8_K block's activations (bsums[2j] + bsums[2j+1], j < 8) as i16
 *  lanes (|sum| <= 32*127), ggml's _mm_hadd_epi16 of the two halves of bsums. */
// @ts-ignore: decorator
@inline export function bsums32(yb: usize): v128 {
  return i16x8.narrow_i32x4_s(i32x4.extadd_pairwise_i16x8_s(v128.load(yb + BSUMS)), i32x4.extadd_pairwise_i16x8_s(v128.load(yb + BSUMS, 16)));
}

// ---- drivers shared by the K-quant products (their kernels take split activations) ----

/** One weight row against the split activations ys of the row at x (k values). */
export type SplitDot = (w: usize, x: usize, ys: usize, k: i32) => f32;
/** Decodes one weight row of nb blocks into dec (a format's own per-block layout). */
export type DecodeRow = (w: usize, nb: i32, dec: usize) => void;
/** One decoded weight row (w, dec) against one activation row. */
export type DecodedDot = (w: usize, dec: usize, x: usize, ys: usize, k: i32) => f32;

/** Work bytes splitDot needs for a row of k: the activation's split lanes. */
export function splitDotWorkBytes(k: i32): usize { return <usize>k << 1; }

/** One weight row against one activation row, through a format's SplitDot; `work` holds
 *  splitDotWorkBytes(k) bytes (the caller's: kernels allocate nothing). */
export function splitDot(w: usize, x: usize, k: i32, dot: SplitDot, work: usize): f32 {
  splitActivations(x, 0, 1, k, work);
  return dot(w, x, work, k);
}

/** Work bytes splitGemm needs for nt activation rows of k: their split lanes, and for nt > 1
 *  one decoded weight row of decBytes per block. */
export function splitGemmWorkBytes(k: i32, nt: i32, decBytes: usize): usize {
  const ys = (<usize>nt * (<usize>k << 1) + 63) & ~63;
  return ys + (nt > 1 ? <usize>(k / QK) * decBytes : 0);
}

/**
 * out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt (strides in bytes except outStride, in
 * floats), each result one row-by-row product as ggml's vec_dot runs per output: one token
 * through `dot`; for more, each weight row is decoded once (decBytes per block) and reused
 * for every token through `decoded`.
 */
export function splitGemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                          dot: SplitDot, decode: DecodeRow, decBytes: usize, decoded: DecodedDot, work: usize): void {
  const os = <usize>outStride << 2, ss = <usize>k << 1;
  const ys = work; // splitGemmWorkBytes: the lanes, then the decoded row
  splitActivations(x, xStride, nt, k, ys);
  if (nt == 1) {
    for (let r = 0; r < nr; r++) store<f32>(out + (<usize>r << 2), dot(w + <usize>r * wStride, x, ys, k));
  } else {
    const nb = k / QK;
    const dec = work + ((<usize>nt * ss + 63) & ~63);
    for (let r = 0; r < nr; r++) {
      const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
      decode(wr, nb, dec);
      for (let t = 0; t < nt; t++) store<f32>(o + <usize>t * os, decoded(wr, dec, x + <usize>t * xStride, ys + <usize>t * ss, k));
    }
  }
}
