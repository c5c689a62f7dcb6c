// Fused multiply-add as llama.cpp's x86 build computes it, in WebAssembly, which has none.
//
// llama.cpp's CPU kernels (node-llama-cpp's AVX2 build, compiled with -ffp-contract=fast) fuse
// a*b + c into one vfmadd wherever the C has _mm256_fmadd_ps or a contracted expression: one
// rounding instead of two. Reproducing its numbers bit for bit needs the same single rounding,
// done here in f64: the product of two f32 is exact in f64, so only the f64 addition and the
// final narrowing round, and the rare inputs where that double rounding could differ from a
// single one are detected and settled exactly (fma32Tie). Deterministic on every wasm engine
// and under wasm2c, so the host and the kernel agree bit for bit.

/** Exactly what an x86 fused multiply-add (vfmadd, f32) gives: a*b + c rounded once to f32.
 *  a*b is exact in f64, so s = a*b + c in f64 carries one rounding; rounding s to f32 then
 *  gives the correctly rounded result unless s lies exactly on a tie between two f32 values
 *  (or in f32's subnormal range). There, the TwoSum error of the f64 sum decides: it makes s
 *  "round to odd" so that the f32 rounding goes the right way. */
// @ts-ignore: decorator
@inline export function fma32(a: f32, b: f32, c: f32): f32 {
  const s = <f64>a * <f64>b + <f64>c;
  const bits = reinterpret<u64>(s);
  if ((bits & 0x1fffffff) != 0x10000000 && !(Math.abs(s) < 2.350988701644575e-38 && s != 0)) return <f32>s;
  return fma32Tie(a, b, c);
}

export function fma32Tie(a: f32, b: f32, c: f32): f32 {
  const p = <f64>a * <f64>b;
  const cd = <f64>c;
  const s = p + cd;
  const bb = s - p;
  const err = (p - (s - bb)) + (cd - bb);
  if (err != 0 && s - s == 0) {
    let bits = reinterpret<u64>(s);
    if ((bits & 1) == 0) bits += (err > 0) == (s > 0) ? 1 : <u64>-1;
    return <f32>reinterpret<f64>(bits);
  }
  return <f32>s;
}

/** fma32 on two lanes of f64 holding f32 values (the result too). */
// @ts-ignore: decorator
@inline export function fma32x2(a: v128, b: v128, c: v128): v128 {
  const s = f64x2.add(f64x2.mul(a, b), c);
  const tie = i64x2.eq(v128.and(s, i64x2.splat(0x1fffffff)), i64x2.splat(0x10000000));
  const tiny = v128.and(f64x2.lt(f64x2.abs(s), f64x2.splat(2.350988701644575e-38)), f64x2.ne(s, f64x2.splat(0)));
  if (v128.any_true(v128.or(tie, tiny))) {
    return f64x2.replace_lane(f64x2.splat(<f64>fma32Tie(<f32>f64x2.extract_lane(a, 0), <f32>f64x2.extract_lane(b, 0), <f32>f64x2.extract_lane(c, 0))),
      1, <f64>fma32Tie(<f32>f64x2.extract_lane(a, 1), <f32>f64x2.extract_lane(b, 1), <f32>f64x2.extract_lane(c, 1)));
  }
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(s));
}

/** fma32 of four f32 lanes with a common multiplier b given as f64x2 [b, b]. */
// @ts-ignore: decorator
@inline export function fma32x4s(a: v128, b: v128, c: v128): v128 {
  const lo = fma32x2(f64x2.promote_low_f32x4(a), b, f64x2.promote_low_f32x4(c));
  const hi = fma32x2(f64x2.promote_low_f32x4(i32x4.shuffle(a, a, 2, 3, 0, 1)), b, f64x2.promote_low_f32x4(i32x4.shuffle(c, c, 2, 3, 0, 1)));
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** f64 lanes rounded to f32 (kept as f64). */
// @ts-ignore: decorator
@inline export function roundF32x2(s: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(s));
}

/** [1 << 63, 1 << 63]: load it once before a loop and pass it to tieMask/badTie (V8 would
 *  rebuild a v128 constant at every use inside the loop). */
export const TIE_TOP: usize = memory.data<u64>([0x8000000000000000, 0x8000000000000000], 16);

/** All-ones lanes where f64 s lies exactly on an f32 tie (its low 29 bits are 1 followed by
 *  28 zeros, i.e. s << 35 equals `top` = 1 << 63): there, rounding s to f32 may differ from
 *  the single rounding of a fused multiply-add. */
// @ts-ignore: decorator
@inline export function tieMask(s: v128, top: v128): v128 {
  return i64x2.eq(i64x2.shl(s, 35), top);
}

/** All-ones lanes where t = p + c (f64) is both inexact and on an f32 tie: the only case where
 *  rounding t to f32 differs from fma's single rounding. Exact sums are the rule in the
 *  quantized products (p has at most 37 significant bits, c 24), and then t - c == p and
 *  t - p == c; an inexact sum breaks one of them (the one subtracting the larger operand). */
// @ts-ignore: decorator
@inline export function badTie(t: v128, p: v128, c: v128, top: v128): v128 {
  const inexact = v128.or(f64x2.ne(f64x2.sub(t, c), p), f64x2.ne(f64x2.sub(t, p), c));
  return v128.and(tieMask(t, top), inexact);
}
