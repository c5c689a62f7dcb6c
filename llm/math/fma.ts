// Fused multiply-add as llama.cpp's x86 build computes it.
//
// llama.cpp's CPU kernels (node-llama-cpp's AVX2 build, compiled with -ffp-contract=fast) fuse
// a*b + c into one vfmadd wherever the C has _mm256_fmadd_ps or a contracted expression: one
// rounding instead of two. Reproducing its numbers bit for bit needs the same single rounding.
// WebAssembly's relaxed SIMD has f32x4.relaxed_madd, which an engine may compute fused or not;
// the hosts SIS runs on fuse it (V8 on x64 with FMA3: vfmadd; arm64: fmla; the kernel: wasm2c
// cannot translate it, so tools/lib/lower-fma.mjs turns it into the shim's platform.f32x4_fma,
// one NEON fmla), and the loaders check that they do (fusedMaddProbe, below) before use. A
// build without relaxed SIMD (asbuild.mjs picks it on a host that does not fuse) gets the exact
// emulation in f64 below instead: slower, the same bits.

/** a*b + c rounded once, on four f32 lanes: x86's _mm_fmadd_ps. */
// @ts-ignore: decorator
@inline export function fma32x4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  const lo = fma32x2(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b), f64x2.promote_low_f32x4(c));
  const hi = fma32x2(f64x2.promote_low_f32x4(i32x4.shuffle(a, a, 2, 3, 0, 1)), f64x2.promote_low_f32x4(i32x4.shuffle(b, b, 2, 3, 0, 1)),
    f64x2.promote_low_f32x4(i32x4.shuffle(c, c, 2, 3, 0, 1)));
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** Whether fma32x4 rounds once here: (1 + 2^-20)^2 - 1 is 2^-19 + 2^-40 fused, 2^-19 unfused.
 *  The operands come from memory so that no compiler folds the answer. */
export function fusedMaddProbe(): bool {
  const a = f32x4.splat(load<f32>(PROBE)), c = f32x4.splat(load<f32>(PROBE, 4));
  return f32x4.extract_lane(fma32x4(a, a, c), 0) == load<f32>(PROBE, 8);
}
const PROBE: usize = memory.data<u32>([0x3f800008, 0xbf800000, 0x36000004]); // 1 + 2^-20, -1, 2^-19 + 2^-40

/** Exactly what an x86 fused multiply-add (vfmadd, f32) gives: a*b + c rounded once to f32. */
// @ts-ignore: decorator
@inline export function fma32(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  return fma32f64(a, b, c);
}

// ---- the exact emulation in f64 (builds without relaxed SIMD) ----

/** fma32 in f64 arithmetic.
 *  a*b is exact in f64, so s = a*b + c in f64 carries one rounding; rounding s to f32 then
 *  gives the correctly rounded result unless s lies exactly on a tie between two f32 values
 *  (or in f32's subnormal range). There, the TwoSum error of the f64 sum decides: it makes s
 *  "round to odd" so that the f32 rounding goes the right way. */
// @ts-ignore: decorator
@inline function fma32f64(a: f32, b: f32, c: f32): f32 {
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
