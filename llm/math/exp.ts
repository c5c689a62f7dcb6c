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
