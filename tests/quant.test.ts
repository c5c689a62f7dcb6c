// The quant formats (llm/quant/*): half/bfloat conversions, reference quantizers, dequantizers
// and per-format dot products, checked against independent references and against ggml itself
// (tools/ref: node-llama-cpp's own libggml, run through a small C driver built on demand).
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import {
  T, NAME, VEC_DOT, WEIGHT_TYPES, REF_MISSING, ref, rng, roundToF16, datasets, rowBytes, Mem,
  bitsOf, firstBitDiff, firstByteDiff, asF32, randomWeights,
} from "./quant_util";
import { ggmlRef } from "../tools/ref/ggmlref.mjs";

let m: Mem;
beforeAll(async () => { m = new Mem(await instantiate(await compile("tests/wasm/quant.ts"))); });

const withRef = (name: string) => (REF_MISSING ? `${name} [skipped: ${REF_MISSING}]` : name);

// ---------------------------------------------------------------------------------------------
describe("F16 and BF16 conversions", () => {
  const decodeHalf = (h: number) => {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
    if (e === 0) return s * f * 2 ** -24;
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1024 + f) * 2 ** (e - 25);
  };

  it("widens all 65536 halves exactly, scalar and vector paths alike", () => {
    const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const src = m.load(halves), dst = m.alloc(65536 * 4);
    m.x.f16ToF32Vec(src, dst, 65536);
    const vec = bitsOf(m.floats(dst, 65536));
    m.x.dequantize(T.F16, src, dst, 65536); // the row path: a fast path for groups without inf/NaN
    const row = bitsOf(m.floats(dst, 65536));
    const tmp = new Float32Array(1), tb = bitsOf(tmp);
    for (let h = 0; h < 65536; h++) {
      const want = decodeHalf(h);
      let wantBits: number;
      if (Number.isNaN(want)) wantBits = ((h & 0x8000) << 16 | 0x7fc00000 | (h & 1023) << 13) >>> 0; // quiet NaN, payload kept
      else { tmp[0] = want; wantBits = tb[0]; }
      const scalar = new Float32Array([m.x.f16ToF32(h)]);
      expect(bitsOf(scalar)[0], `scalar half 0x${h.toString(16)}`).toBe(wantBits);
      expect(vec[h], `vector half 0x${h.toString(16)}`).toBe(wantBits);
      expect(row[h], `row conversion, half 0x${h.toString(16)}`).toBe(wantBits);
    }
    m.free(src); m.free(dst);
  });

  // Inputs around every rounding decision: all halves, the exact midpoints between neighbours
  // (ties go to even), one f32 ulp either side of them, overflow edges, random bit patterns.
  function conversionInputs(): Float32Array {
    const out: number[] = [];
    const f = new Float32Array(1), u = bitsOf(f);
    const nudge = (x: number, d: number) => { f[0] = x; u[0] += d; return f[0]; };
    for (let h = 0; h < 0x7c00; h++) {
      const a = decodeHalf(h), b = decodeHalf(h + 1);
      const mid = (a + b) / 2;
      for (const v of [a, mid, nudge(mid, -1), nudge(mid, 1)]) out.push(v, -v);
    }
    out.push(65504, 65519.99, 65520, 65536, 1e9, Infinity, -Infinity, NaN, 2 ** -25, 2 ** -26, 3 * 2 ** -26, 1e-30);
    const r = rng(7);
    const bits = new Uint32Array(200000).map(() => (r.next() * 2 ** 32) >>> 0);
    return Float32Array.from([...out, ...new Float32Array(bits.buffer)]);
  }

  it("narrows f32 to F16 with round-to-nearest-even (independent reference)", () => {
    const xs = conversionInputs();
    const src = m.load(xs), dst = m.alloc(xs.length * 2);
    m.x.f32ToF16Row(src, dst, xs.length);
    const got = new Uint16Array(m.bytes(dst, xs.length * 2).buffer);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      const want = Number.isNaN(x) ? NaN : roundToF16(x);
      const g = decodeHalf(got[i]);
      if (Number.isNaN(want)) { expect(got[i] & 0x7fff, `NaN ${i}`).toBe(0x7e00); continue; }
      if (!Object.is(g, want) && !(g === 0 && want === 0 && (got[i] & 0x8000 ? -1 : 1) === Math.sign(1 / x))) {
        throw new Error(`f32 ${x} (bits 0x${bitsOf(new Float32Array([x]))[0].toString(16)}): got half 0x${got[i].toString(16)} = ${g}, want ${want}`);
      }
    }
    m.free(src); m.free(dst);
  });

  it.skipIf(!!REF_MISSING)(withRef("F16 and BF16 narrowing equal ggml's row converters bit for bit"), () => {
    const xs = conversionInputs();
    const src = m.load(xs), dst = m.alloc(xs.length * 2);
    for (const [name, fn] of [["fp16", "f32ToF16Row"], ["bf16", "f32ToBf16Row"]] as const) {
      m.x[fn](src, dst, xs.length);
      const ours = m.bytes(dst, xs.length * 2);
      const theirs = new Uint8Array(ref([name, xs.length, "@in", "@out"], [xs]));
      const d = firstByteDiff(ours, theirs);
      expect(d, `${name}: first difference at input ${d >> 1} (${xs[d >> 1]})`).toBe(-1);
    }
    m.free(src); m.free(dst);
  });

  it("BF16 keeps the top half of an f32, rounding to nearest even and quieting NaNs", () => {
    expect(m.x.f32ToBf16(1.0)).toBe(0x3f80);
    // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: to even (1); 1 + 3*2^-8 goes up to 1 + 2^-6.
    expect(m.x.f32ToBf16(1 + 2 ** -8)).toBe(0x3f80);
    expect(m.x.f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(m.x.f32ToBf16(NaN) & 0x7fc0).toBe(0x7fc0);
    expect(m.x.bf16ToF32(0xc0a0)).toBe(-5);
  });
});

// ---------------------------------------------------------------------------------------------
// Quantize a batch of rows (one data set per row) with ours and with ggml; bytes must agree.
const N = 4096;
const QUANT_TYPES = [T.Q4_0, T.Q4_1, T.Q8_0, T.Q8_1, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K, T.F16, T.BF16];

function quantizeOurs(type: number, rows: Float32Array[], n: number): Uint8Array {
  const rb = rowBytes(type, n);
  const src = m.alloc(n * 4), dst = m.alloc(rb);
  const out = new Uint8Array(rb * rows.length);
  rows.forEach((row, i) => {
    m.put(src, row);
    expect(m.x.quantize(type, src, dst, n)).toBe(1);
    out.set(m.u8(dst, rb), i * rb);
  });
  m.free(src); m.free(dst);
  return out;
}

function quantizeGgml(type: number, rows: Float32Array[], n: number): Uint8Array {
  const all = new Float32Array(rows.length * n);
  rows.forEach((r, i) => all.set(r, i * n));
  if (type === T.Q8_1 || type === T.Q8_K) {
    // activation formats: ggml's from_float_ref over the whole batch (rows are block-aligned)
    return new Uint8Array(ref(["fromref", type, all.length, "@in", "@out"], [all]));
  }
  return new Uint8Array(ref(["quantize", type, rows.length, n, "@in", "@out"], [all]));
}

describe("reference quantizers", () => {
  for (const type of QUANT_TYPES) {
    it.skipIf(!!REF_MISSING)(withRef(`${NAME[type]} is byte-identical to ggml's quantize_row_${NAME[type].toLowerCase()}_ref`), () => {
      const sets = [...datasets(N, 11 + type), ...datasets(N, 1000 + type).slice(0, 4)];
      const ours = quantizeOurs(type, sets.map((s) => s.data), N);
      const theirs = quantizeGgml(type, sets.map((s) => s.data), N);
      const rb = rowBytes(type, N);
      for (let i = 0; i < sets.length; i++) {
        const d = firstByteDiff(ours.subarray(i * rb, (i + 1) * rb), theirs.subarray(i * rb, (i + 1) * rb));
        expect(d, `${NAME[type]} data set "${sets[i].name}": first differing byte ${d}`).toBe(-1);
      }
    });
  }

  it("quantization error stays within each format's step (no ggml needed)", () => {
    // A sanity bound independent of ggml: max |x - deq(q(x))| relative to the block's range.
    const bound: Record<number, number> = { [T.Q4_0]: 1 / 7, [T.Q4_1]: 1 / 14, [T.Q8_0]: 1 / 120, [T.Q4_K]: 1 / 10, [T.Q5_K]: 1 / 20, [T.Q6_K]: 1 / 40, [T.Q8_K]: 1 / 120 };
    const data = datasets(N, 5)[0].data;
    const src = m.load(data), out = m.alloc(N * 4);
    let amax = 0;
    for (const v of data) amax = Math.max(amax, Math.abs(v));
    for (const type of Object.keys(bound).map(Number)) {
      const q = m.alloc(rowBytes(type, N));
      m.x.quantize(type, src, q, N);
      m.x.dequantize(type, q, out, N);
      const back = m.floats(out, N);
      let err = 0;
      for (let i = 0; i < N; i++) err = Math.max(err, Math.abs(back[i] - data[i]));
      expect(err / amax, NAME[type]).toBeLessThan(bound[type]);
      m.free(q);
    }
    m.free(src); m.free(out);
  });
});

// ---------------------------------------------------------------------------------------------
describe("dequantization", () => {
  const types = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_K];
  for (const type of types) {
    it.skipIf(!!REF_MISSING)(withRef(`${NAME[type]} dequantizes bit for bit like ggml`), () => {
      const n = 2048;
      const blocks = type === T.Q8_K
        ? quantizeOurs(T.Q8_K, [datasets(n, 3)[0].data], n)
        : type === T.F16 ? new Uint8Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer) // every half, NaNs included
        : type === T.BF16 ? randomWeights(type, n, 40 + type)
        : new Uint8Array([...randomWeights(type, n, 40 + type), ...quantizeOurs(type, [datasets(n, 9)[3].data], n)]);
      const count = (blocks.length / rowBytes(type, n)) * n;
      const src = m.load(blocks), dst = m.alloc(count * 4);
      expect(m.x.dequantize(type, src, dst, count)).toBe(1);
      const ours = m.floats(dst, count);
      const theirs = asF32(new Uint8Array(ref(["dequantize", type, count, "@in", "@out"], [blocks])));
      const d = firstBitDiff(ours, theirs);
      expect(d, `${NAME[type]} element ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
      m.free(src); m.free(dst);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Q4_0, Q8_0 and F16 products follow llama.cpp's x86 build (node-llama-cpp loads ggml's AVX2 +
// FMA CPU variant here), not ggml's portable reference: they are compared with that variant
// (weights repacked where it repacks them, as llama.cpp loads them). The other types keep the
// portable reference's (generic) order.
const X86 = new Set<number>([T.Q4_0, T.Q8_0, T.F16]);
const refBest = (args: (string | number)[], inputs: Uint8Array[] = []) =>
  new Uint8Array(ggmlRef(args, inputs.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)), { cpu: "best", repack: true }));

// Independent JS versions of the summation orders. JS adds and multiplies f32 values in f64
// and Math.fround rounds once more; with 53 >= 2*24 + 2 bits that is exactly the f32 operation.
const fr = Math.fround;
const f32b = new Float32Array(1), u32b = new Uint32Array(f32b.buffer);
/** The next f32 above x (x finite). */
const nextUp = (x: number) => { if (x === 0) return 2 ** -149; f32b[0] = x; u32b[0] += x > 0 ? 1 : -1; return f32b[0]; };
/** fmaf(a, b, c) for a*b exact in f64: the f64 sum s plus its exact error e (TwoSum), rounded
 *  once to f32. fround(s) is that rounding unless s is exactly halfway between two f32s and e
 *  breaks the tie (no f32 midpoint can lie strictly between s and s + e). */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b, s = p + c, bv = s - p, e = (p - (s - bv)) + (c - bv);
  const r = fr(s);
  if (e === 0 || r === s) return r;
  const n = s > r ? nextUp(r) : -nextUp(-r); // the f32 on the other side of s
  if (Math.abs(s - r) !== Math.abs(n - s)) return r;
  return e > 0 ? Math.max(r, n) : Math.min(r, n);
}
const half = (b: Uint8Array, o: number) => m.x.f16ToF32(b[o] | (b[o + 1] << 8));
const i8 = (b: Uint8Array, o: number) => (b[o] << 24) >> 24;
/** ggml_vec_dot_q8_0_q8_0, AVX2: eight lanes, lane l = fma(products 4l..4l+3 of the block,
 *  dx*dy, lane) block after block, then hsum_float_8: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
function q8x86(w: Uint8Array, x: Uint8Array, k: number): number {
  const lane = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let b = 0; b < k / 32; b++) {
    const d = fr(half(w, b * 34) * half(x, b * 34));
    for (let l = 0; l < 8; l++) {
      let s = 0;
      for (let j = 4 * l; j < 4 * l + 4; j++) s += i8(w, b * 34 + 2 + j) * i8(x, b * 34 + 2 + j);
      lane[l] = fmaf(s, d, lane[l]); // |s| < 2^16, d has 24 bits: s*d is exact in f64
    }
  }
  const r = [0, 1, 2, 3].map((l) => fr(lane[l + 4] + lane[l]));
  return fr(fr(r[0] + r[2]) + fr(r[1] + r[3]));
}
/** ggml_vec_dot_q8_0_q8_0, generic: sumf += sumi*(dx*dy). */
function q8generic(w: Uint8Array, x: Uint8Array, k: number): number {
  let sumf = 0;
  for (let b = 0; b < k / 32; b++) {
    let s = 0;
    for (let j = 0; j < 32; j++) s += i8(w, b * 34 + 2 + j) * i8(x, b * 34 + 2 + j);
    sumf = fr(sumf + fr(s * fr(half(w, b * 34) * half(x, b * 34))));
  }
  return sumf;
}
/** ggml_vec_dot_f16, AVX2: four 8-lane accumulators over 32 elements at a time (products of
 *  halves are exact in f32), reduced (acc0+acc2)+(acc1+acc3), then the upper four lanes onto
 *  the lower, then (t0+t1)+(t2+t3); elements past the last 32 added in double. */
function f16x86(w: Float32Array, x: Float32Array, k: number): number {
  const np = k & ~31, acc = new Array(32).fill(0);
  for (let i = 0; i < np; i += 32) for (let j = 0; j < 32; j++) acc[j] = fr(acc[j] + fr(w[i + j] * x[i + j]));
  const v = Array.from({ length: 8 }, (_, l) => fr(fr(acc[l] + acc[16 + l]) + fr(acc[8 + l] + acc[24 + l])));
  const t = [0, 1, 2, 3].map((l) => fr(v[l + 4] + v[l]));
  let sum = fr(fr(t[0] + t[1]) + fr(t[2] + t[3]));
  for (let i = np; i < k; i++) sum += fr(w[i] * x[i]);
  return fr(sum);
}
/** llamafile tinyBLAS (F16, AVX2, k % 8 == 0): lane l sums elements l, l+8, ... in order, then
 *  hsum: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
function f16tiny(w: Float32Array, x: Float32Array, k: number): number {
  const lane = new Array(8).fill(0);
  for (let i = 0; i < k; i += 8) for (let l = 0; l < 8; l++) lane[l] = fr(lane[l] + fr(w[i + l] * x[i + l]));
  const r = [0, 1, 2, 3].map((l) => fr(lane[l + 4] + lane[l]));
  return fr(fr(r[0] + r[2]) + fr(r[1] + r[3]));
}
/** ggml_vec_dot_f16, generic: a double sum of the f32 products. */
function f16generic(w: Float32Array, x: Float32Array, k: number): number {
  let s = 0;
  for (let i = 0; i < k; i++) s += fr(w[i] * x[i]);
  return fr(s);
}

describe("dot products", () => {
  // Weight rows: random blocks and quantized real-looking data; activations: the paired format.
  // ROWS is a multiple of 8, so that llama.cpp's x86 build repacks Q4_0 (its 8x8 kernels run
  // every Q4_0 matrix whose row count is); TOKENS = 5 runs its 4-row gemm and its gemv.
  const ROWS = 8, TOKENS = 5;
  function setup(type: number, k: number) {
    const r = rng(100 + type + k);
    const rb = rowBytes(type, k);
    const w = new Uint8Array(rb * ROWS);
    for (let i = 0; i < ROWS; i++) {
      const row = i % 2 === 0 || type === T.F32 || type === T.F16 || type === T.BF16
        ? randomWeights(type, k, 200 + i * 7 + type)
        : quantizeOurs(type, [Float32Array.from({ length: k }, () => r.gauss() * 0.05)], k);
      w.set(row, i * rb);
    }
    const at = VEC_DOT[type];
    const ab = m.x.activationBytes(type, k) >>> 0;
    const xs = Array.from({ length: TOKENS }, (_, t) => Float32Array.from({ length: k }, () => r.gauss() * (t + 1)));
    const xf = m.alloc(k * 4), xq = m.alloc(ab * TOKENS);
    xs.forEach((x, t) => { m.put(xf, x); expect(m.x.activations(type, xf, xq + t * ab, k)).toBe(1); });
    const wp = m.load(w);
    return { rb, ab, at, wp, xq, xf, w, xs };
  }

  const cases: [number, number][] = [];
  for (const t of WEIGHT_TYPES) {
    cases.push([t, 1024]);
    if (t !== T.Q4_K && t !== T.Q5_K && t !== T.Q6_K) cases.push([t, 288]);
    if (t === T.F32 || t === T.F16 || t === T.BF16) cases.push([t, 27]);
  }

  for (const [type, k] of cases) {
    const what = type === T.Q8_0 || type === T.F16
      ? "the SIMD kernels follow llama.cpp's x86 order and the scalar loop ggml's generic one, exactly; all near"
      : "SIMD equals the scalar reference loop and";
    it(`${NAME[type]} k=${k}: ${what} the f64 product of dequantized values`, () => {
      const s = setup(type, k);
      const wf = m.alloc(k * 4), xd = m.alloc(k * 4);
      const same = (got: number, want: number, what: string) => expect(Object.is(got, want), `${what}: ours ${got}, want ${want}`).toBe(true);
      for (let t = 0; t < TOKENS; t++) {
        // the activations as the kernels see them, dequantized
        if (s.at === T.F32 || s.at === T.F16 || s.at === T.BF16) m.put(xd, m.floats(s.xq + t * s.ab, k));
        else m.x.dequantize(s.at, s.xq + t * s.ab, xd, k);
        const xv = m.floats(xd, k);
        for (let r = 0; r < ROWS; r++) {
          const wr = s.wp + r * s.rb, xr = s.xq + t * s.ab;
          const simd = m.x.dotSimd(type, wr, xr, k), scalar = m.x.dotScalar(type, wr, xr, k);
          m.x.dequantize(type, wr, wf, k);
          const wv = m.floats(wf, k);
          const at = `row ${r} token ${t}`;
          const others: number[] = []; // further kernels held to the f64 product below
          if (type === T.Q8_0) {
            const wb = m.bytes(wr, s.rb), xb = m.bytes(xr, s.ab);
            same(simd, q8x86(wb, xb, k), `${at} SIMD vs the AVX2 order`);
            same(scalar, q8generic(wb, xb, k), `${at} scalar vs the generic order`);
            others.push(scalar);
          } else if (type === T.F16) {
            same(simd, f16x86(wv, xv, k), `${at} SIMD vs the AVX2 order`);
            same(scalar, f16generic(wv, xv, k), `${at} scalar vs the generic order`);
            others.push(scalar);
            if (k % 8 === 0) {
              const batched = m.x.dotBatchedF16(wr, xr, k);
              same(batched, f16tiny(wv, xv, k), `${at} batched vs tinyBLAS's order`);
              others.push(batched);
            }
          } else if (type === T.F32 || type === T.BF16) expect(Math.abs(simd - scalar)).toBeLessThanOrEqual(Math.abs(scalar) * 2 ** -23);
          else expect(Object.is(simd, scalar), `${at}: SIMD ${simd} scalar ${scalar}`).toBe(true);
          let exact = 0, mag = 0;
          for (let i = 0; i < k; i++) { exact += wv[i] * xv[i]; mag += Math.abs(wv[i] * xv[i]); }
          if (type === T.Q4_1) {
            // Q8_1 carries s = fp16(d*sum(q)) per block, and ggml's product uses m*s for the
            // offset term instead of the sum of m*x: swap that term in.
            const wb = m.bytes(wr, s.rb), xb = m.bytes(xr, s.ab);
            for (let b = 0; b < k / 32; b++) {
              const mb = m.x.f16ToF32(wb[b * 20 + 2] | (wb[b * 20 + 3] << 8));
              const sb = m.x.f16ToF32(xb[b * 36 + 2] | (xb[b * 36 + 3] << 8));
              let sx = 0;
              for (let i = 0; i < 32; i++) sx += xv[b * 32 + i];
              exact += mb * sb - mb * sx;
            }
          }
          // Q8_0 and F16: every term passes through at most k/8 + 6 f32 roundings of relative
          // size 2^-24 (the longest accumulator chain, k/8 for tinyBLAS's eight lanes and fewer
          // for the others, plus the reductions, dx*dy and the rounding of each dequantized
          // factor), so |error| <= (k/8 + 6)*2^-24*(1 + tiny) * sum|w*x|.
          const tol = type === T.Q8_0 || type === T.F16 ? mag * (k / 8 + 8) * 2 ** -24 : mag * 1e-5;
          for (const v of [simd, ...others]) expect(Math.abs(v - exact), `${at}: ${v} vs ${exact}`).toBeLessThanOrEqual(tol + 1e-30);
        }
      }
      for (const p of [wf, xd, s.wp, s.xq, s.xf]) m.free(p);
    });
  }

  for (const [type, k] of cases) {
    const vs = X86.has(type)
      ? "llama.cpp's x86 mul_mat (node-llama-cpp's CPU variant, weights repacked as llama.cpp loads them)"
      : "ggml's mul_mat";
    it.skipIf(!!REF_MISSING)(withRef(`${NAME[type]} k=${k}: equals ${vs} on the same quantized activations`), () => {
      const s = setup(type, k);
      // ggml takes the activations in its vec_dot_type: F16/BF16 as halves, the rest as bytes.
      let xBytes: Uint8Array;
      if (s.at === T.F16 || s.at === T.BF16) {
        const h = m.alloc(k * 2 * TOKENS);
        m.x[s.at === T.F16 ? "f32ToF16Row" : "f32ToBf16Row"](s.xq, h, k * TOKENS);
        xBytes = m.bytes(h, k * 2 * TOKENS);
        m.free(h);
      } else xBytes = m.bytes(s.xq, s.ab * TOKENS);
      const ours = new Float32Array(ROWS * TOKENS);
      let theirs: Float32Array;
      if (!X86.has(type)) {
        theirs = asF32(new Uint8Array(ref(["mulmat", type, k, ROWS, TOKENS, "@in", s.at, "@in", "@out"], [s.w, xBytes])));
        for (let t = 0; t < TOKENS; t++) for (let r = 0; r < ROWS; r++) ours[t * ROWS + r] = m.x.dotSimd(type, s.wp + r * s.rb, s.xq + t * s.ab, k);
      } else if (type === T.F16) {
        // TOKENS >= 2 rows: llama.cpp's batched product (tinyBLAS when k % 8 == 0), gemm(batched)
        theirs = asF32(refBest(["mulmat", type, k, ROWS, TOKENS, "@in", s.at, "@in", "@out"], [s.w, xBytes]));
        const o = m.alloc(ROWS * TOKENS * 4);
        m.x.gemmF16(o, ROWS, s.wp, s.rb, ROWS, s.xq, s.ab, TOKENS, k, ROWS);
        ours.set(m.floats(o, ROWS * TOKENS));
        m.free(o);
      } else {
        // Q4_0/Q8_0: llama.cpp hands ggml f32 activations, which it quantizes itself (the
        // repacked Q4_0 kernels take nothing else): first check that our activation blocks are
        // the x86 build's, byte for byte, so the products below see the same quantized values.
        const xf = new Float32Array(k * TOKENS);
        s.xs.forEach((x, t) => xf.set(x, t * k));
        const act = refBest(["actq", T.Q8_0, k * TOKENS, "@in", "@out"], [new Uint8Array(xf.buffer)]);
        const da = firstByteDiff(xBytes, act);
        expect(da, `Q8_0 activations: first differing byte ${da} (token ${Math.floor(da / s.ab)})`).toBe(-1);
        theirs = asF32(refBest(["mulmat", type, k, ROWS, TOKENS, "@in", T.F32, "@in", "@out"], [s.w, new Uint8Array(xf.buffer)]));
        for (let t = 0; t < TOKENS; t++) for (let r = 0; r < ROWS; r++) ours[t * ROWS + r] = m.x.dotSimd(type, s.wp + r * s.rb, s.xq + t * s.ab, k);
      }
      if (type === T.F32 || type === T.BF16) {
        // double sums in another order: equal up to the last bit of the f32 result
        for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i] - theirs[i])).toBeLessThanOrEqual(Math.abs(theirs[i]) * 2 ** -23);
      } else {
        const d = firstBitDiff(ours, theirs);
        expect(d, `${NAME[type]} output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
      }
      if (X86.has(type)) {
        // one activation row (llama.cpp's token generation): the single-row kernels, dotSimd
        for (let t = 0; t < TOKENS; t++) {
          const one = type === T.F16
            ? refBest(["mulmat", type, k, ROWS, 1, "@in", s.at, "@in", "@out"], [s.w, xBytes.subarray(t * k * 2, (t + 1) * k * 2)])
            : refBest(["mulmat", type, k, ROWS, 1, "@in", T.F32, "@in", "@out"], [s.w, new Uint8Array(s.xs[t].buffer)]);
          const theirs1 = asF32(one);
          const ours1 = Float32Array.from({ length: ROWS }, (_, r) => m.x.dotSimd(type, s.wp + r * s.rb, s.xq + t * s.ab, k));
          const d = firstBitDiff(ours1, theirs1);
          expect(d, `${NAME[type]} n=1 token ${t} row ${d}: ours ${ours1[d]} ggml ${theirs1[d]}`).toBe(-1);
        }
      }
      for (const p of [s.wp, s.xq, s.xf]) m.free(p);
    });
  }
});
