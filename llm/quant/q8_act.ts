// Activations are quantized the way llama.cpp's x86 CPU backend does: 127/amax, round half
// to even.
//
// Before a product with Q4_0 / Q8_0 weights (Q8_0 activations) or Q4_1 weights (Q8_1), ggml
// converts the f32 activations with the CPU backend's from_float, not with the reference
// quantizer that writes weights (quantize_row_q8_0_ref, llm/quant/q8_0.ts). The x86 builds
// node-llama-cpp loads (AVX, AVX2, AVX-512: arch/x86/quants.c quantize_row_q8_0/_q8_1, and
// the repacked layouts' ggml_quantize_mat_q8_0_4x8) differ from the reference in two ways:
//   id = 127/amax             instead of 1/(amax/127)
//   q  = round half to even   instead of roundf (half away from zero)
// Either one flips an int8 now and then, which moves llama.cpp's logits by hundredths.
// The block scale is d = amax/127 (stored as F16) in both; Q8_1 also stores
// s = F16(d * sum(q)) with d in f32.
//
// Q8_K (for the K-quants) has no such difference: x86's quantize_row_q8_K is the reference
// (iscale = -127/max, nearest-even, d = 1/iscale), and the repacked Q4_K layout's
// ggml_quantize_mat_q8_K_4x8 only picks the opposite sign for (q, d) when a block holds both
// +amax and -amax, which leaves every product and block sum unchanged. The K-quants keep
// llm/quant/q8_k.ts's quantizeRow.
import { f32ToF16 } from "./f16";

/** Q8_0 blocks (34 bytes per 32 values) of the k floats at x, as x86 ggml quantizes them. */
export function quantizeQ8_0(x: usize, dst: usize, k: i32): void { quantizeBlocks(x, dst, k, false); }

/** Q8_1 blocks (36 bytes per 32 values) of the k floats at x, as x86 ggml quantizes them. */
export function quantizeQ8_1(x: usize, dst: usize, k: i32): void { quantizeBlocks(x, dst, k, true); }

/** _mm256_round_ps(nearest) then _mm256_cvtps_epi32: ties to even, and 0x80000000 for NaN
 *  and anything out of i32 range (only reachable when amax is below ~3.7e-37, where 127/amax
 *  is infinite). */
// @ts-ignore: decorator
@inline function roundToInt(v: v128): v128 {
  const r = f32x4.nearest(v);
  return v128.bitselect(i32x4.trunc_sat_f32x4_s(r), i32x4.splat(0x80000000), f32x4.lt(f32x4.abs(r), f32x4.splat(2147483648.0)));
}

/** 1.5 * 2^23: a float in [-2^22, 2^22] plus this is rounded, ties to even, to an integer n,
 *  and the sum's bits are MAGIC_BITS + n. */
const MAGIC: f32 = 12582912.0;
const MAGIC_BITS: i32 = 0x4b400000;

/** The largest |value| of the 32 floats at xb: in the kernel's build by integer ops on the
 *  bits (non-negative floats order as their bits do; a NaN's bits exceed every number's),
 *  which under QEMU's TCG cost a fraction of the float max's library call per lane. */
// @ts-ignore: decorator
@inline function blockMax(xb: usize): f32 {
  if (SIS_AOT) {
    const abs = i32x4.splat(0x7fffffff);
    let m = v128.and(v128.load(xb), abs);
    for (let j = 1; j < 8; j++) m = i32x4.max_u(m, v128.and(v128.load(xb + <usize>j * 16), abs));
    const bits = max(max(i32x4.extract_lane(m, 0), i32x4.extract_lane(m, 1)), max(i32x4.extract_lane(m, 2), i32x4.extract_lane(m, 3)));
    if (bits <= 0x7f800000) return reinterpret<f32>(bits); // else a NaN: as the float max has it
  }
  let m = f32x4.abs(v128.load(xb));
  for (let j = 1; j < 8; j++) m = f32x4.max(m, f32x4.abs(v128.load(xb + <usize>j * 16)));
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/** The 32 floats at xb times id rounded to int8 at q, ties to even (byAdd: by adding MAGIC,
 *  for products within +-2^22; else roundToInt); their sum as i32x4. */
// @ts-ignore: decorator
@inline function roundBlock(xb: usize, q: usize, id: v128, byAdd: bool): v128 {
  let sum = i32x4.splat(0);
  for (let j = 0; j < 8; j += 2) {
    const p0 = f32x4.mul(v128.load(xb + <usize>j * 16), id), p1 = f32x4.mul(v128.load(xb + <usize>j * 16, 16), id);
    const q0 = byAdd ? i32x4.sub(f32x4.add(p0, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS)) : roundToInt(p0);
    const q1 = byAdd ? i32x4.sub(f32x4.add(p1, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS)) : roundToInt(p1);
    sum = i32x4.add(sum, i32x4.add(q0, q1));
    const q16 = i16x8.narrow_i32x4_s(q0, q1);
    v128.store_lane<u64>(q + <usize>j * 4, i8x16.narrow_i16x8_s(q16, q16), 0);
  }
  return sum;
}

function quantizeBlocks(x: usize, dst: usize, k: i32, withSum: bool): void {
  const blockBytes: usize = withSum ? 36 : 34;
  const qs: usize = withSum ? 4 : 2;
  for (let b = 0; b < k / 32; b++) {
    const xb = x + <usize>b * 128, y = dst + <usize>b * blockBytes;
    const amax = blockMax(xb);
    const d = amax / <f32>127;
    const ids: f32 = amax != 0 ? <f32>127 / amax : 0;
    const id = f32x4.splat(ids);
    store<u16>(y, <u16>f32ToF16(d));
    // in the kernel's build, when every x*id lies within +-127 (amax and id finite), rounded by
    // one add instead of nearest, convert and the range test: one float op of four. Two loops,
    // so that neither runs the other's ops.
    const sum = SIS_AOT && amax < Infinity && ids < Infinity ? roundBlock(xb, y + qs, id, true) : roundBlock(xb, y + qs, id, false);
    if (withSum) {
      const total = i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) + i32x4.extract_lane(sum, 3);
      store<u16>(y + 2, <u16>f32ToF16(d * <f32>total));
    }
  }
}
