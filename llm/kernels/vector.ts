// f32 vector helpers for the transformer, each following the ggml CPU operation it stands
// for: ggml's scalar reference loops (no fused multiply-add, so wasm reproduces them
// exactly), and for SwiGLU the AVX2 kernel of llama.cpp's x86 build.
// All functions take pointers and a length and touch no global state; out may alias an input.
import { expAvx2x4 } from "../math/exp";
import { f16ToF32, f32ToF16 } from "../quant/f16";
import { fma32 } from "../math/fma";

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

/** out = x*s (ggml_scale: one f32 multiply per value). */
export function scale(out: usize, x: usize, s: f32, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.mul(v128.load(x + o), vs)); }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), f(x, i) * s);
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

/** Index of the first maximum (ggml_vec_argmax_f32), for greedy sampling. */
export function argmax(x: usize, n: i32): i32 {
  let m = -Infinity as f32, idx = 0;
  for (let i = 0; i < n; i++) { const v = f(x, i); if (v > m) { m = v; idx = i; } }
  return idx;
}

/** ggml_silu_f32 for the scalar tail: x/(1 + expf(-x)). */
// @ts-ignore: decorator
@inline export function silu1(x: f32): f32 {
  return x / (<f32>1.0 + Mathf.exp(-x));
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
    const e = expAvx2x4(nx);
    v128.store(out + o, f32x4.mul(f32x4.div(x, f32x4.add(one, e)), v128.load(u + o)));
  }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), silu1(f(g, i)) * f(u, i));
}

// GELU as ggml's CPU backend computes it (GGML_GELU_FP16): through a table of every half x,
// f16(0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))) in f32 arithmetic with the inner
// 1 + A*x*x fused (as GCC compiles ggml_gelu_f32) and tanh correctly rounded (glibc's tanhf
// gives the same table, 2.36 and 2.41 alike). Built once by prepareGelu() on the boot core
// (a model binding a GELU family calls it); geglu takes its address as an argument, since
// each core's WebAssembly instance has globals of its own and the workers' were copied before.
const GELU_A: f32 = 0.044715;
const SQRT_2_OVER_PI: f32 = 0.79788456080286535587989211986876;
let geluTable: StaticArray<u16> | null = null; // every half's GELU, kept for the kernel's lifetime

/** Builds the GELU table if it is not there yet; returns its address (u16[65536]), for geglu. */
export function prepareGelu(): usize {
  if (geluTable !== null) return changetype<usize>(geluTable!);
  const t = new StaticArray<u16>(65536);
  for (let i = 0; i < 65536; i++) {
    const x = f16ToF32(<u16>i);
    const inner = fma32(GELU_A * x, x, 1);
    const th = <f32>Math.tanh(<f64>(SQRT_2_OVER_PI * x * inner));
    t[i] = <u16>f32ToF16(<f32>0.5 * x * (<f32>1 + th));
  }
  geluTable = t;
  return changetype<usize>(t);
}

/** ggml_vec_geglu_f32: out = gelu(g)*u, GELU from the table at t (prepareGelu's): x <= -10
 *  gives 0, x >= 10 gives x*u. */
export function geglu(out: usize, g: usize, u: usize, n: i32, t: usize): void {
  for (let i = 0; i < n; i++) {
    const x = f(g, i), y = f(u, i);
    let v: f32;
    if (x <= -10) v = 0;
    else if (x >= 10) v = x * y;
    else v = f16ToF32(load<u16>(t + (<usize>f32ToF16(x) << 1))) * y;
    store<f32>(out + (<usize>i << 2), v);
  }
}
