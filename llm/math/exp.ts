// ggml's vectorised exp (ggml_v_expf, its AVX2 + FMA flavour): llama.cpp uses it for SwiGLU's
// sigmoid and for flash attention's weights, and its last bit differs from a correctly rounded
// expf now and then, so reproducing llama.cpp needs this one.
import { fma32, fma32x4 } from "./fma";

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

/** expAvx2x4's constants, each in four lanes (loaded from memory: V8 would rebuild a v128
 *  constant at every use inside a loop). */
const EXK: usize = memory.data<u32>([
  0x3fb8aa3b, 0x3fb8aa3b, 0x3fb8aa3b, 0x3fb8aa3b, //   0: log2(e)
  0x4b400000, 0x4b400000, 0x4b400000, 0x4b400000, //  16: 0x1.8p23
  0x3f317200, 0x3f317200, 0x3f317200, 0x3f317200, //  32: ln2 high part
  0x35bfbe8e, 0x35bfbe8e, 0x35bfbe8e, 0x35bfbe8e, //  48: ln2 low part
  0x3c072010, 0x3c072010, 0x3c072010, 0x3c072010, //  64: polynomial
  0x3d2b9f17, 0x3d2b9f17, 0x3d2b9f17, 0x3d2b9f17, //  80
  0x3e2aaf33, 0x3e2aaf33, 0x3e2aaf33, 0x3e2aaf33, //  96
  0x3efffedb, 0x3efffedb, 0x3efffedb, 0x3efffedb, // 112
  0x3f7ffff6, 0x3f7ffff6, 0x3f7ffff6, 0x3f7ffff6, // 128
  0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, // 144: 1.0
  0x42fc0000, 0x42fc0000, 0x42fc0000, 0x42fc0000, // 160: 126.0
  0x43400000, 0x43400000, 0x43400000, 0x43400000, // 176: 192.0
  0x82000000, 0x82000000, 0x82000000, 0x82000000, // 192
  0x7f000000, 0x7f000000, 0x7f000000, 0x7f000000, // 208
], 16);

/** ggml_v_expf, AVX2 flavour, on four f32 lanes: the same bits as expAvx2 in each. */
// @ts-ignore: decorator
@inline export function expAvx2x4(x: v128): v128 {
  const r = v128.load(EXK, 16);
  const z = fma32x4(x, v128.load(EXK, 0), r);
  const n = f32x4.sub(z, r), nn = f32x4.neg(n);
  const b = fma32x4(nn, v128.load(EXK, 48), fma32x4(nn, v128.load(EXK, 32), x));
  const e = i32x4.shl(z, 23);
  const k = i32x4.add(e, v128.load(EXK, 144));
  const u = f32x4.mul(b, b);
  const j = fma32x4(fma32x4(fma32x4(v128.load(EXK, 64), b, v128.load(EXK, 80)), u,
    fma32x4(v128.load(EXK, 96), b, v128.load(EXK, 112))), u, f32x4.mul(v128.load(EXK, 128), b));
  const near = fma32x4(j, k, k);
  const an = f32x4.abs(n);
  const c = f32x4.gt(an, v128.load(EXK, 160));
  if (!v128.any_true(c)) return near;
  // |n| > 126: k would leave f32's exponent range, so 2^n is applied as two factors
  const g = v128.and(f32x4.le(n, f32x4.splat(0)), v128.load(EXK, 192));
  const s1 = i32x4.add(g, v128.load(EXK, 208));
  const s2 = i32x4.sub(e, g);
  const far = v128.bitselect(f32x4.mul(fma32x4(s2, j, s2), s1), near, c);
  return v128.bitselect(f32x4.mul(s1, s1), far, f32x4.gt(an, v128.load(EXK, 176)));
}
