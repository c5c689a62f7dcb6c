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
// Q4_0, Q8_0, F16 and the K-quant products follow llama.cpp's x86 build (ggml's AVX2 + FMA CPU
// variant, haswell, pinned by tools/ref/pinned.mjs whatever this host would pick), not ggml's portable reference: they are compared with
// that variant (weights repacked where it repacks them, as llama.cpp loads them: Q4_0 and Q4_K
// with a row count that is a multiple of 8). The other types keep the portable reference's
// (generic) order.
const X86 = new Set<number>([T.Q4_0, T.Q5_0, T.Q5_1, T.Q8_0, T.F16, T.Q4_K, T.Q5_K, T.Q6_K]);
const KQ = new Set<number>([T.Q4_K, T.Q5_K, T.Q6_K]);
const refPinned = (args: (string | number)[], inputs: Uint8Array[] = []) =>
  new Uint8Array(ggmlRef(args, inputs.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)), { cpu: "pinned", repack: true }));

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

// ---- the K-quants (weights x Q8_K activations): independent JS versions of ggml's orders ----
const u8 = (b: Uint8Array, o: number) => b[o];
const i16 = (b: Uint8Array, o: number) => ((b[o] | (b[o + 1] << 8)) << 16) >> 16;
const f32at = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getFloat32(o, true);
/** get_scale_min_k4: [scale, min] of sub-block j from the 12 bytes at q. */
function scaleMin(b: Uint8Array, q: number, j: number): [number, number] {
  if (j < 4) return [b[q + j] & 63, b[q + j + 4] & 63];
  return [(b[q + j + 4] & 0xf) | ((b[q + j - 4] >> 6) << 4), (b[q + j + 4] >> 4) | ((b[q + j] >> 6) << 4)];
}
/** Weight e of super-block o as the AVX2 kernels multiply it (Q6_K unsigned, 0..63), and its scale. */
function kWeight(type: number, w: Uint8Array, o: number, e: number): [number, number] {
  if (type === T.Q6_K) {
    const h = e >> 7, r = e & 127, q = r >> 5, l = r & 31;
    const qlb = w[o + 64 * h + l + 32 * (q & 1)], qhb = w[o + 128 + 32 * h + l];
    return [(q < 2 ? qlb & 15 : qlb >> 4) | (((qhb >> (2 * q)) & 3) << 4), (w[o + 192 + (e >> 4)] << 24) >> 24];
  }
  const c = e >> 6, r = e & 63;
  const qs = type === T.Q4_K ? 16 : 48;
  const qb = w[o + qs + 32 * c + (r & 31)];
  let q = r < 32 ? qb & 15 : qb >> 4;
  if (type === T.Q5_K) q += ((w[o + 16 + (r & 31)] >> (2 * c + (r >> 5))) & 1) << 4;
  return [q, scaleMin(w, o + 4, e >> 5)[0]];
}
const KB: Record<number, number> = { [T.Q4_K]: 144, [T.Q5_K]: 176, [T.Q6_K]: 210 };
/** The 32-element activation sums bsums[2j] + bsums[2j+1] of Q8_K block at o. */
const bs32 = (x: Uint8Array, o: number, j: number) => i16(x, o + 260 + 4 * j) + i16(x, o + 262 + 4 * j);
/** ggml_vec_dot_q{4,5,6}_K_q8_K, AVX2: eight i32 lanes per super-block (lane l: elements 4l..4l+3
 *  of every 32, each product scaled; Q6_K with unsigned q and the -32 offset as
 *  32*(bsums[2l]*sc[2l] + bsums[2l+1]*sc[2l+1]) off lane l), acc[l] = fma(f32(lane), y.d*x.d,
 *  acc[l]), hsum_float_8; Q4_K adds its four minimum lanes ((m0+m2)+(m1+m3)), Q5_K its one fused
 *  minimum sum. */
function kx86(type: number, w: Uint8Array, x: Uint8Array, k: number, roundLanes = true): number {
  const acc = new Array(8).fill(0), accm = [0, 0, 0, 0];
  let summs = 0;
  for (let i = 0; i < k / 256; i++) {
    const o = i * KB[type], ox = i * 292, yd = f32at(x, ox);
    const lanes = new Array(8).fill(0);
    for (let e = 0; e < 256; e++) {
      const [q, sc] = kWeight(type, w, o, e);
      lanes[(e & 31) >> 2] += sc * q * i8(x, ox + 4 + e);
    }
    if (type === T.Q6_K) {
      for (let l = 0; l < 8; l++) lanes[l] -= 32 * (i16(x, ox + 260 + 4 * l) * kWeight(type, w, o, 32 * l)[1] + i16(x, ox + 262 + 4 * l) * kWeight(type, w, o, 32 * l + 16)[1]);
    }
    const dx = half(w, type === T.Q6_K ? o + 208 : o), d = fr(yd * dx);
    for (let l = 0; l < 8; l++) acc[l] = fmaf(roundLanes ? fr(lanes[l]) : lanes[l], d, acc[l]);
    if (type !== T.Q6_K) {
      const dmin = fr(-yd * half(w, o + 2));
      const mp = [0, 1, 2, 3].map((j) => scaleMin(w, o + 4, 2 * j)[1] * bs32(x, ox, 2 * j) + scaleMin(w, o + 4, 2 * j + 1)[1] * bs32(x, ox, 2 * j + 1));
      if (type === T.Q4_K) for (let j = 0; j < 4; j++) accm[j] = fmaf(fr(mp[j]), dmin, accm[j]);
      else summs = fmaf(fr(mp[0] + mp[1] + mp[2] + mp[3]), dmin, summs);
    }
  }
  const r = [0, 1, 2, 3].map((l) => fr(acc[l + 4] + acc[l]));
  const h = fr(fr(r[0] + r[2]) + fr(r[1] + r[3]));
  if (type === T.Q4_K) return fr(h + fr(fr(accm[0] + accm[2]) + fr(accm[1] + accm[3])));
  return type === T.Q5_K ? fr(h + summs) : h;
}
/** llama.cpp's repacked Q4_K (ggml_gemv/gemm_q4_K_8x8_q8_K): per weight row acc = fma(f32(sum),
 *  x.d*y.d, acc) and accm = fma(f32(minimum sum), x.dmin*y.d, accm), one step per super-block
 *  (gemv) or per pair of sub-blocks (gemm); result acc - accm. */
function q4kRepacked(w: Uint8Array, x: Uint8Array, k: number, gemm: boolean): number {
  let acc = 0, accm = 0;
  for (let i = 0; i < k / 256; i++) {
    const o = i * 144, ox = i * 292, yd = f32at(x, ox);
    const d = fr(half(w, o) * yd), dm = fr(half(w, o + 2) * yd);
    const s = [0, 0, 0, 0], mp = [0, 0, 0, 0];
    for (let e = 0; e < 256; e++) { const [q, sc] = kWeight(T.Q4_K, w, o, e); s[e >> 6] += sc * q * i8(x, ox + 4 + e); }
    for (let j = 0; j < 8; j++) mp[j >> 1] += scaleMin(w, o + 4, j)[1] * bs32(x, ox, j);
    if (gemm) for (let c = 0; c < 4; c++) { acc = fmaf(fr(s[c]), d, acc); accm = fmaf(fr(mp[c]), dm, accm); }
    else { acc = fmaf(fr(s[0] + s[1] + s[2] + s[3]), d, acc); accm = fmaf(fr(mp[0] + mp[1] + mp[2] + mp[3]), dm, accm); }
  }
  return fr(acc - accm);
}
void u8;

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
    const what = type === T.Q8_0 || type === T.Q5_0 || type === T.Q5_1 || type === T.F16 || KQ.has(type)
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
          } else if (KQ.has(type)) {
            // the SIMD kernel and its exact scalar path against the JS version of the AVX2 order
            const wb = m.bytes(wr, s.rb), xb = m.bytes(xr, s.ab);
            const want = kx86(type, wb, xb, k);
            same(simd, want, `${at} SIMD vs the AVX2 order`);
            same(m.x.dotScalarX86(type, wr, xr, k), want, `${at} scalar x86 path vs the AVX2 order`);
            others.push(scalar);
            if (type === T.Q4_K) {
              for (const g of [false, true]) {
                const rp = m.x.dotQ4KRepacked(wr, xr, k, g);
                same(rp, q4kRepacked(wb, xb, k, g), `${at} repacked ${g ? "gemm" : "gemv"} order`);
                others.push(rp);
              }
            }
          } else if (type === T.Q5_0 || type === T.Q5_1) {
            // the x86 order is checked against llama.cpp itself below (mul_mat)
            others.push(scalar);
          } else if (type === T.F32 || type === T.BF16) expect(Math.abs(simd - scalar)).toBeLessThanOrEqual(Math.abs(scalar) * 2 ** -23);
          else expect(Object.is(simd, scalar), `${at}: SIMD ${simd} scalar ${scalar}`).toBe(true);
          let exact = 0, mag = 0;
          for (let i = 0; i < k; i++) { exact += wv[i] * xv[i]; mag += Math.abs(wv[i] * xv[i]); }
          if (type === T.Q4_1 || type === T.Q5_1) {
            // Q8_1 carries s = fp16(d*sum(q)) per block, and ggml's product uses m*s for the
            // offset term instead of the sum of m*x: swap that term in.
            const wb = m.bytes(wr, s.rb), xb = m.bytes(xr, s.ab);
            const bb = type === T.Q4_1 ? 20 : 24;
            for (let b = 0; b < k / 32; b++) {
              const mb = m.x.f16ToF32(wb[b * bb + 2] | (wb[b * bb + 3] << 8));
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
          const tol = type === T.Q8_0 || type === T.Q5_0 || type === T.F16 ? mag * (k / 8 + 8) * 2 ** -24 : mag * 1e-5;
          for (const v of [simd, ...others]) expect(Math.abs(v - exact), `${at}: ${v} vs ${exact}`).toBeLessThanOrEqual(tol + 1e-30);
        }
      }
      for (const p of [wf, xd, s.wp, s.xq, s.xf]) m.free(p);
    });
  }

  for (const [type, k] of cases) {
    const vs = X86.has(type)
      ? "llama.cpp's x86 mul_mat (the pinned haswell build, weights repacked as llama.cpp loads them)"
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
        theirs = asF32(refPinned(["mulmat", type, k, ROWS, TOKENS, "@in", s.at, "@in", "@out"], [s.w, xBytes]));
        const o = m.alloc(ROWS * TOKENS * 4);
        m.x.gemmF16(o, ROWS, s.wp, s.rb, ROWS, s.xq, s.ab, TOKENS, k, ROWS);
        ours.set(m.floats(o, ROWS * TOKENS));
        m.free(o);
      } else {
        // Q4_0/Q8_0 and the K-quants: llama.cpp hands ggml f32 activations, which it quantizes
        // itself (the repacked kernels take nothing else): first check that our activation
        // blocks (Q8_0 or Q8_K) are the x86 build's, byte for byte, so the products below see the
        // same quantized values. (The repacked Q4_K kernels quantize groups of 4 rows with
        // ggml_quantize_mat_q8_K_4x8, which may flip the sign of a block's d and q: no product
        // changes; the comparison of the results below covers it.)
        const xf = new Float32Array(k * TOKENS);
        s.xs.forEach((x, t) => xf.set(x, t * k));
        const act = refPinned(["actq", s.at, k * TOKENS, "@in", "@out"], [new Uint8Array(xf.buffer)]);
        const da = firstByteDiff(xBytes, act);
        expect(da, `${NAME[s.at]} activations: first differing byte ${da} (token ${Math.floor(da / s.ab)})`).toBe(-1);
        theirs = asF32(refPinned(["mulmat", type, k, ROWS, TOKENS, "@in", T.F32, "@in", "@out"], [s.w, new Uint8Array(xf.buffer)]));
        if (KQ.has(type)) {
          // the engine's kernel (Q4_K: 8 rows, so the repacked orders: gemm for tokens 0-3, gemv for 4)
          const o = m.alloc(ROWS * TOKENS * 4);
          m.x.gemmK(type, o, ROWS, s.wp, s.rb, ROWS, s.xq, s.ab, TOKENS, k, 0);
          ours.set(m.floats(o, ROWS * TOKENS));
          m.free(o);
          // and ggml's portable (generic) order, still kept as dotScalar, against the portable build
          const generic = asF32(new Uint8Array(ref(["mulmat", type, k, ROWS, TOKENS, "@in", s.at, "@in", "@out"], [s.w, xBytes])));
          const mine = Float32Array.from({ length: ROWS * TOKENS }, (_, i) => m.x.dotScalar(type, s.wp + (i % ROWS) * s.rb, s.xq + Math.floor(i / ROWS) * s.ab, k));
          const dg = firstBitDiff(mine, generic);
          expect(dg, `${NAME[type]} generic order, output ${dg}: ours ${mine[dg]} ggml ${generic[dg]}`).toBe(-1);
        } else {
          for (let t = 0; t < TOKENS; t++) for (let r = 0; r < ROWS; r++) ours[t * ROWS + r] = m.x.dotSimd(type, s.wp + r * s.rb, s.xq + t * s.ab, k);
        }
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
            ? refPinned(["mulmat", type, k, ROWS, 1, "@in", s.at, "@in", "@out"], [s.w, xBytes.subarray(t * k * 2, (t + 1) * k * 2)])
            : refPinned(["mulmat", type, k, ROWS, 1, "@in", T.F32, "@in", "@out"], [s.w, new Uint8Array(s.xs[t].buffer)]);
          const theirs1 = asF32(one);
          let ours1: Float32Array;
          if (KQ.has(type)) {
            const o = m.alloc(ROWS * 4);
            m.x.gemmK(type, o, ROWS, s.wp, s.rb, ROWS, s.xq + t * s.ab, s.ab, 1, k, 0);
            ours1 = m.floats(o, ROWS);
            m.free(o);
          } else ours1 = Float32Array.from({ length: ROWS }, (_, r) => m.x.dotSimd(type, s.wp + r * s.rb, s.xq + t * s.ab, k));
          const d = firstBitDiff(ours1, theirs1);
          expect(d, `${NAME[type]} n=1 token ${t} row ${d}: ours ${ours1[d]} ggml ${theirs1[d]}`).toBe(-1);
        }
      }
      for (const p of [s.wp, s.xq, s.xf]) m.free(p);
    });
  }
});

// ---------------------------------------------------------------------------------------------
describe("K-quant products: llama.cpp's x86 kernels", () => {
  /** W (rows of quantized gaussians and random blocks) x n activation rows through the engine's
   *  gemm, and through llama.cpp's x86 mul_mat from the same f32 activations. */
  function run(type: number, k: number, rows: number, n: number, seed: number, xs?: Float32Array[]) {
    const r = rng(seed), rb = rowBytes(type, k), ab = 292 * (k / 256);
    const w = new Uint8Array(rb * rows);
    for (let i = 0; i < rows; i++) {
      w.set(i % 2 ? randomWeights(type, k, seed + i) : quantizeOurs(type, [Float32Array.from({ length: k }, () => r.gauss() * 0.05)], k), i * rb);
    }
    xs ??= Array.from({ length: n }, (_, t) => Float32Array.from({ length: k }, () => r.gauss() * (1 + (t % 3))));
    const xf = new Float32Array(k * n);
    xs.forEach((x, t) => xf.set(x, t * k));
    const wp = m.load(w), xp = m.load(xf), xq = m.alloc(ab * n), o = m.alloc(rows * n * 4);
    for (let t = 0; t < n; t++) expect(m.x.activations(type, xp + t * k * 4, xq + t * ab, k)).toBe(1);
    m.x.gemmK(type, o, rows, wp, rb, rows, xq, ab, n, k, 0);
    const ours = m.floats(o, rows * n);
    const theirs = REF_MISSING ? null : asF32(refPinned(["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(xf.buffer)]));
    const xall = m.bytes(xq, ab * n);
    const wb = (i: number) => w.subarray(i * rb, (i + 1) * rb), xb = (t: number) => xall.subarray(t * ab, (t + 1) * ab);
    for (const p of [wp, xp, xq, o]) m.free(p);
    return { ours, theirs, wb, xb };
  }
  const exact = (ours: Float32Array, theirs: Float32Array | null, what: string) => {
    if (!theirs) return;
    const d = firstBitDiff(ours, theirs);
    expect(d, `${what}: output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
  };

  it("Q4_K picks llama.cpp's kernel by row count (repacked when a multiple of 8) and batch position (gemm in groups of 4)", () => {
    const k = 1024;
    // 16 rows, 11 tokens: gemm order for tokens 0-7, gemv for 8-10; 12 rows: ggml_vec_dot_q4_K_q8_K
    const a = run(T.Q4_K, k, 16, 11, 301);
    const b = run(T.Q4_K, k, 12, 6, 302);
    let gemmVsGemv = 0, repackedVsVecDot = 0;
    for (let t = 0; t < 11; t++) for (let r = 0; r < 16; r++) {
      const g = t < 8;
      const want = q4kRepacked(a.wb(r), a.xb(t), k, g);
      expect(Object.is(a.ours[t * 16 + r], want), `16 rows: token ${t} row ${r}: ours ${a.ours[t * 16 + r]}, ${g ? "gemm" : "gemv"} order ${want}`).toBe(true);
      if (want !== q4kRepacked(a.wb(r), a.xb(t), k, !g)) gemmVsGemv++;
      if (want !== kx86(T.Q4_K, a.wb(r), a.xb(t), k)) repackedVsVecDot++;
    }
    for (let t = 0; t < 6; t++) for (let r = 0; r < 12; r++) {
      const want = kx86(T.Q4_K, b.wb(r), b.xb(t), k);
      expect(Object.is(b.ours[t * 12 + r], want), `12 rows: token ${t} row ${r}: ours ${b.ours[t * 12 + r]}, vec_dot order ${want}`).toBe(true);
    }
    // the orders do differ on this data, so the checks above tell them apart
    expect(gemmVsGemv).toBeGreaterThan(0);
    expect(repackedVsVecDot).toBeGreaterThan(0);
    exact(a.ours, a.theirs, "16 rows x 11 tokens");
    exact(b.ours, b.theirs, "12 rows x 6 tokens");
  });

  for (const type of [T.Q4_K, T.Q5_K, T.Q6_K]) {
    it.skipIf(!!REF_MISSING)(withRef(`${NAME[type]}: one activation row and batches of 2..9 rows equal llama.cpp's x86 mul_mat bit for bit`), () => {
      const k = 2048;
      for (const [rows, n] of [[24, 1], [24, 2], [16, 3], [8, 4], [16, 9], [13, 1], [13, 5]]) {
        const { ours, theirs } = run(type, k, rows, n, 400 + type + rows * 10 + n);
        exact(ours, theirs, `${rows} rows x ${n} tokens`);
      }
    });
  }

  it.skipIf(!!REF_MISSING)(withRef("Q6_K: lane sums beyond 2^24 round to f32 as ggml's do"), () => {
    // Block 0: six-bit values 63 (62 for element 0) with scales near 127 and activations +-1
    // arranged so that ggml's lane 0 (elements 4c..4c+3 of every 32, less the offset of
    // sub-blocks 0 and 1) reaches an odd ~4.5e7, which f32 cannot hold. Block 1: the same but
    // 61 for element 0, against the negated activations (so y.d changes sign): the two blocks
    // nearly cancel, and what is left shows whether the lanes were rounded.
    const k = 512, rows = 8;
    const x0 = Array.from({ length: 256 }, (_, e) => ((e & 31) < 4 || e >= 32 ? 1 : -1));
    const x = Float32Array.from([...x0, ...x0.map((v) => -v)]);
    const w = new Uint8Array(420 * rows);
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < 2; b++) {
        const o = r * 420 + b * 210;
        w.fill(0xff, o, o + 192);           // ql, qh: q = 63 everywhere
        w[o] = b ? 0xfd : 0xfe;              // but 62 / 61 for element 0
        w.fill(127 - r, o + 192, o + 208);   // scales
        w[o + 208] = 0x00; w[o + 209] = 0x2c; // d = 0.0625
      }
    }
    const wp = m.load(w), xp = m.load(x), xq = m.alloc(584), o = m.alloc(rows * 4);
    m.x.activations(T.Q6_K, xp, xq, k);
    m.x.gemmK(T.Q6_K, o, rows, wp, 420, rows, xq, 584, 1, k, 0);
    const ours = m.floats(o, rows), xb = m.bytes(xq, 584);
    let rounded = 0;
    for (let r = 0; r < rows; r++) {
      const wr = w.subarray(r * 420, (r + 1) * 420);
      expect(Object.is(ours[r], kx86(T.Q6_K, wr, xb, k)), `row ${r}`).toBe(true);
      if (kx86(T.Q6_K, wr, xb, k, false) !== ours[r]) rounded++;
    }
    expect(rounded, "rows where the lane's f32 rounding shows in the result").toBeGreaterThan(0);
    exact(ours, asF32(refPinned(["mulmat", T.Q6_K, k, rows, 1, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(x.buffer)])), "large lanes");
    for (const p of [wp, xp, xq, o]) m.free(p);
  });
});
