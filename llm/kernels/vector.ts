// f32 vector helpers for the transformer, each following the ggml CPU operation it stands
// for: ggml's scalar reference loops and SSE2 kernels (no fused multiply-add, so wasm SIMD
// reproduces them exactly), and for SwiGLU the AVX2 kernel of llama.cpp's x86 build.
// All functions take pointers and a length and touch no global state; out may alias an input.
import { expAvx2x2 } from "../math/exp";

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }

/** ggml_compute_forward_rms_norm_f32: sum of f32 squares in double, in order (kept scalar so
 *  the order matches), mean rounded to f32, scale = 1/sqrtf(mean + eps), out = x*scale. */
export function rmsnorm(out: usize, x: usize, n: i32, eps: f32): void {
  const s = rmsScale(x, n, eps);
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), f32x4.mul(v128.load(x + (<usize>i << 2)), vs));
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), f(x, i) * s);
}

/** rmsnorm followed by ggml_mul with the norm weight: (x*scale)*w, the same bits as the two ops. */
export function rmsnormMul(out: usize, x: usize, w: usize, n: i32, eps: f32): void {
  const s = rmsScale(x, n, eps);
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(f32x4.mul(v128.load(x + o), vs), v128.load(w + o)));
  }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), f(x, i) * s * f(w, i));
}

export function rmsScale(x: usize, n: i32, eps: f32): f32 {
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) { const v = f(x, i); sum += <f64>(v * v); }
  const mean = <f32>(sum / <f64>n);
  return <f32>1.0 / Mathf.sqrt(mean + eps);
}

/** out = a*b elementwise (ggml_mul). */
export function mul(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o))); }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), f(a, i) * f(b, i));
}

/** out = a+b elementwise (ggml_add, e.g. the residual connections). */
export function add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o))); }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), f(a, i) + f(b, i));
}

/** out = x*s (ggml_vec_scale_f32 / ggml_scale). */
export function scale(out: usize, x: usize, s: f32, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.mul(v128.load(x + o), vs)); }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), f(x, i) * s);
}

/** y += x*s, unfused (ggml_vec_mad_f32), e.g. attention-weighted sums of V rows. */
export function mad(y: usize, x: usize, s: f32, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v128.load(x + o), vs))); }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), f(y, i) + f(x, i) * s);
}

/** ggml_vec_dot_f32 (reference): f32 products summed in double, in order. For attention
 *  scores (q·k) when the cache is f32. */
export function dot(a: usize, b: usize, n: i32): f32 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>(f(a, i) * f(b, i));
  return <f32>s;
}

/** out[j] = dot(q, K[j]) * s for j < m, K rows `kStride` bytes apart (f32 cache). */
export function scores(out: usize, q: usize, kRows: usize, kStride: usize, m: i32, n: i32, s: f32): void {
  for (let j = 0; j < m; j++) store<f32>(out + (<usize>j << 2), dot(q, kRows + <usize>j * kStride, n) * s);
}

/** max over n floats, -inf for n = 0 (ggml_vec_max_f32). */
export function maxOf(x: usize, n: i32): f32 {
  let m = -Infinity as f32;
  for (let i = 0; i < n; i++) { const v = f(x, i); m = m > v ? m : v; }
  return m;
}

/** Index of the first maximum (ggml_vec_argmax_f32), for greedy sampling. */
export function argmax(x: usize, n: i32): i32 {
  let m = -Infinity as f32, idx = 0;
  for (let i = 0; i < n; i++) { const v = f(x, i); if (v > m) { m = v; idx = i; } }
  return idx;
}

// ggml_v_expf, SSE2 flavour (separate multiply and add): max error ~1.5 ulp, overflow to
// inf above 88.38 and flush to zero below -103.97, exactly as ggml computes it.
// @ts-ignore: decorator
@inline function c(bits: u32): v128 { return f32x4.splat(reinterpret<f32>(bits)); }

// @ts-ignore: decorator
@inline export function expV(x: v128): v128 {
  const r = c(0x4b400000);                                   // 0x1.8p23
  const z = f32x4.add(f32x4.mul(x, c(0x3fb8aa3b)), r);        // x*log2(e) + r
  const n = f32x4.sub(z, r);
  const b = f32x4.sub(f32x4.sub(x, f32x4.mul(n, c(0x3f317200))), f32x4.mul(n, c(0x35bfbe8e)));
  const e = i32x4.shl(z, 23);
  const k = i32x4.add(e, i32x4.splat(0x3f800000));
  const an = f32x4.abs(n);
  const cm = f32x4.gt(an, f32x4.splat(126));
  const u = f32x4.mul(b, b);
  const j = f32x4.add(
    f32x4.mul(f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(c(0x3c072010), b), c(0x3d2b9f17)), u),
      f32x4.add(f32x4.mul(c(0x3e2aaf33), b), c(0x3efffedb))), u),
    f32x4.mul(c(0x3f7ffff6), b));
  const normal = f32x4.add(f32x4.mul(k, j), k);
  if (!v128.any_true(cm)) return normal;
  const g = v128.and(f32x4.le(n, f32x4.splat(0)), i32x4.splat(0x82000000));
  const s1 = i32x4.add(g, i32x4.splat(0x7f000000));
  const s2 = i32x4.sub(e, g);
  const dm = f32x4.gt(an, f32x4.splat(192));
  const scaled = f32x4.mul(f32x4.add(f32x4.mul(s2, j), s2), s1);
  return v128.bitselect(f32x4.mul(s1, s1), v128.bitselect(scaled, normal, cm), dm);
}

/** ggml_v_silu: x / (1 + expV(-x)). */
// @ts-ignore: decorator
@inline export function siluV(x: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1), expV(f32x4.sub(f32x4.splat(0), x))));
}

/** ggml_silu_f32 for the scalar tail: x/(1 + expf(-x)). */
// @ts-ignore: decorator
@inline export function silu1(x: f32): f32 {
  return x / (<f32>1.0 + Mathf.exp(-x));
}

/** ggml_vec_silu_f32: four at a time with expV, the tail with expf. */
export function silu(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), siluV(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), silu1(f(x, i)));
}

/** ggml_vec_swiglu_f32: out = silu(g)*u (llama's FFN gate, ggml_swiglu_split), as llama.cpp's
 *  x86 build runs it: groups of eight through ggml's AVX2 exp, g / (1 + exp(-g)) * u, the
 *  rest through expf. */
export function swiglu(out: usize, g: usize, u: usize, n: i32): void {
  const n8 = n & ~7;
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  let i = 0;
  for (; i < n8; i += 4) {              // lanes are independent: four at a time, two per f64x2
    const o = <usize>i << 2;
    const x = v128.load(g + o);
    const nx = f32x4.sub(zero, x);
    const e = i32x4.shuffle(f32x4.demote_f64x2_zero(expAvx2x2(f64x2.promote_low_f32x4(nx))),
      f32x4.demote_f64x2_zero(expAvx2x2(f64x2.promote_low_f32x4(i32x4.shuffle(nx, nx, 2, 3, 0, 1)))), 0, 1, 4, 5);
    v128.store(out + o, f32x4.mul(f32x4.div(x, f32x4.add(one, e)), v128.load(u + o)));
  }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), silu1(f(g, i)) * f(u, i));
}

/** ggml_compute_forward_soft_max_f32 for one row without mask: w = x*scale; m = max(w);
 *  out = expV(w - m) four at a time (expf for the tail), their sum in double (each group of
 *  four added as (v0+v1)+(v2+v3) in f32 first, as ggml's SSE2 path does), out *= (f32)(1/sum).
 *  Masked positions are simply left out by the caller (n = number of visible keys). */
export function softmax(out: usize, x: usize, n: i32, s: f32): void {
  scale(out, x, s, n);
  const m = maxOf(out, n);
  const vm = f32x4.splat(m);
  let sum: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = expV(f32x4.sub(v128.load(out + o), vm));
    v128.store(out + o, v);
    const p = f32x4.add(v, i32x4.shuffle(v, v, 1, 0, 3, 2)); // v0+v1, _, v2+v3, _
    sum += <f64>(f32x4.extract_lane(p, 0) + f32x4.extract_lane(p, 2));
  }
  for (; i < n; i++) {
    const v = Mathf.exp(f(out, i) - m);
    sum += <f64>v;
    store<f32>(out + (<usize>i << 2), v);
  }
  scale(out, out, <f32>(1.0 / sum), n);
}
