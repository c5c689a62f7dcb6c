// ggml's vectorised exp (ggml_v_expf, its AVX2 + FMA flavour), one lane at a time: llama.cpp
// uses it for SwiGLU's sigmoid and for flash attention's weights, and its last bit differs
// from a correctly rounded expf now and then, so reproducing llama.cpp needs this one.
import { fma32 } from "./fma";

// @ts-ignore: decorator
@inline function bitsF32(b: u32): f32 { return reinterpret<f32>(b); }

/** ggml_v_expf, AVX2 flavour (fused multiply-adds), one lane. */
export function expAvx2(x: f32): f32 {
  const r = bitsF32(0x4b400000);                                       // 0x1.8p23
  const z = fma32(x, bitsF32(0x3fb8aa3b), r);                          // x*log2(e) + r
  const n = z - r;
  const b = fma32(-n, bitsF32(0x35bfbe8e), fma32(-n, bitsF32(0x3f317200), x));
  const e = reinterpret<u32>(z) << 23;
  const k = reinterpret<f32>(e + 0x3f800000);
  const u = b * b;
  const j = fma32(fma32(fma32(bitsF32(0x3c072010), b, bitsF32(0x3d2b9f17)), u,
    fma32(bitsF32(0x3e2aaf33), b, bitsF32(0x3efffedb))), u, bitsF32(0x3f7ffff6) * b);
  const an = Mathf.abs(n);
  if (!(an > 126)) return fma32(j, k, k);
  const g: u32 = n <= 0 ? 0x82000000 : 0;
  const s1 = reinterpret<f32>(g + 0x7f000000);
  const s2 = reinterpret<f32>(e - g);
  if (an > 192) return s1 * s1;
  return fma32(s2, j, s2) * s1;
}

// sin and cos of RoPE angles as llama.cpp gets them: its rope cache calls the C library's
// sincosf, and glibc's (sysdeps/ieee754/flt-32, Arm's optimized-routines algorithm: range
// reduction and polynomials in f64, one rounding to f32) picks a different last bit than
// AssemblyScript's Mathf.sin/cos (musl's older kernels) for about one angle in fifty.

// ---- two lanes at a time (swiglu) ----

/** expAvx2's constants as f64 pairs (the f32 values widened), then 125.0 and the tie pattern. */
const EXK: usize = memory.data<u64>([
  0x3ff7154760000000, 0x3ff7154760000000, //   0: log2(e)        0x3fb8aa3b
  0x4168000000000000, 0x4168000000000000, //  16: 0x1.8p23       0x4b400000
  0x3fe62e4000000000, 0x3fe62e4000000000, //  32: ln2 high part  0x3f317200
  0x3eb7f7d1c0000000, 0x3eb7f7d1c0000000, //  48: ln2 low part   0x35bfbe8e
  0x3f80e40200000000, 0x3f80e40200000000, //  64: polynomial    0x3c072010
  0x3fa573e2e0000000, 0x3fa573e2e0000000, //  80:               0x3d2b9f17
  0x3fc555e660000000, 0x3fc555e660000000, //  96:               0x3e2aaf33
  0x3fdfffdb60000000, 0x3fdfffdb60000000, // 112:               0x3efffedb
  0x3feffffec0000000, 0x3feffffec0000000, // 128:               0x3f7ffff6
  0x405f400000000000, 0x405f400000000000, // 144: 125.0
  0x8000000000000000, 0x8000000000000000, // 160: f32 tie pattern << 35 (fma.ts tieMask)
], 16);

/** expAvx2 of two lanes held as f64 (f32 values; the results likewise), the same bits as the
 *  scalar function. Every fused multiply-add is an f64 product (exact) plus an f64 sum rounded
 *  to f32 (llm/math/fma.ts); the f32 products and z - r are exact in f64 and rounded once. Two
 *  things send both lanes to the scalar function: a sum on an f32 tie (fma32's double-rounding
 *  case, whether or not the sum was exact: rare), and |n| > 125 or NaN (expAvx2's scaled path,
 *  plus n = +-126 so that no sum can fall below f32's normal range, where fma32 has a second
 *  special case; see the note below). Otherwise no sum is below 2^-126 unless exact: z is near
 *  2^23; x - n*ln2hi is x itself for n = 0 and else a nonzero multiple of 2^-40 or zero (x near
 *  n*ln2, ulps >= 2^-25 and 2^-40); minus n*ln2lo likewise stays zero or above 2^-70; the
 *  polynomial sums are near 0.04 and 0.5; j3*u + p4*b is exact when p4*b is subnormal (u =
 *  b*b is then 0) and else near p4*b, above 2^-127; and j*k + k >= 0.7 * 2^-125. The last sum,
 *  j*k + k = k (1 + j) with k a power of two, needs no tie check (half of them are exact ties):
 *  1 + j is exact in f64 when |j| >= 2^-29 (j has 24 bits), and otherwise it lies within 2^-29
 *  of 1, far from the nearest f32 ties (1 + 2^-24, 1 - 2^-25), so its f64 rounding cannot
 *  land on one. */
// @ts-ignore: decorator
@inline export function expAvx2x2(x: v128): v128 {
  const top = v128.load(EXK, 160);
  const r = v128.load(EXK, 16);
  let t = f64x2.add(f64x2.mul(x, v128.load(EXK, 0)), r);
  let ties = i64x2.eq(i64x2.shl(t, 35), top);
  const z = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
  const n = f64x2.sub(z, r);                                   // exact (an integer below 2^22)
  const far = v128.not(f64x2.le(f64x2.abs(n), v128.load(EXK, 144)));
  t = f64x2.sub(x, f64x2.mul(n, v128.load(EXK, 32)));        // fma(-n, ln2hi, x)
  ties = v128.or(ties, i64x2.eq(i64x2.shl(t, 35), top));
  const b1 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
  t = f64x2.sub(b1, f64x2.mul(n, v128.load(EXK, 48)));       // fma(-n, ln2lo, b1)
  ties = v128.or(ties, i64x2.eq(i64x2.shl(t, 35), top));
  const b32 = f32x4.demote_f64x2_zero(t);
  const b = f64x2.promote_low_f32x4(b32);
  const k = f64x2.promote_low_f32x4(i32x4.add(i32x4.shl(f32x4.demote_f64x2_zero(z), 23), i32x4.splat(0x3f800000)));
  const u = f64x2.promote_low_f32x4(f32x4.mul(b32, b32));    // f32 product, as in expAvx2
  t = f64x2.add(f64x2.mul(v128.load(EXK, 64), b), v128.load(EXK, 80));
  ties = v128.or(ties, i64x2.eq(i64x2.shl(t, 35), top));
  const j1 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
  t = f64x2.add(f64x2.mul(v128.load(EXK, 96), b), v128.load(EXK, 112));
  ties = v128.or(ties, i64x2.eq(i64x2.shl(t, 35), top));
  const j2 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
  t = f64x2.add(f64x2.mul(j1, u), j2);
  ties = v128.or(ties, i64x2.eq(i64x2.shl(t, 35), top));
  const j3 = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
  const pb = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.mul(v128.load(EXK, 128), b))); // f32 product
  t = f64x2.add(f64x2.mul(j3, u), pb);
  ties = v128.or(ties, i64x2.eq(i64x2.shl(t, 35), top));
  const j = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
  t = f64x2.add(f64x2.mul(j, k), k);                          // k (1 + j): no check needed, see above
  if (v128.any_true(v128.or(ties, far))) {
    return f64x2.replace_lane(f64x2.splat(<f64>expAvx2(<f32>f64x2.extract_lane(x, 0))), 1, <f64>expAvx2(<f32>f64x2.extract_lane(x, 1)));
  }
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(t));
}
