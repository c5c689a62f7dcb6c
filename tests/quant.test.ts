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
describe("dot products", () => {
  // Weight rows: random blocks and quantized real-looking data; activations: the paired format.
  const ROWS = 6, TOKENS = 3;
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
    it(`${NAME[type]} k=${k}: SIMD equals the scalar reference loop and the f64 product of dequantized values`, () => {
      const s = setup(type, k);
      const wf = m.alloc(k * 4), xd = m.alloc(k * 4);
      for (let t = 0; t < TOKENS; t++) {
        // the activations as the kernels see them, dequantized
        if (s.at === T.F32 || s.at === T.F16 || s.at === T.BF16) m.put(xd, m.floats(s.xq + t * s.ab, k));
        else m.x.dequantize(s.at, s.xq + t * s.ab, xd, k);
        const xv = m.floats(xd, k);
        for (let r = 0; r < ROWS; r++) {
          const wr = s.wp + r * s.rb, xr = s.xq + t * s.ab;
          const simd = m.x.dotSimd(type, wr, xr, k), scalar = m.x.dotScalar(type, wr, xr, k);
          if (type === T.F32 || type === T.BF16) expect(Math.abs(simd - scalar)).toBeLessThanOrEqual(Math.abs(scalar) * 2 ** -23);
          else expect(Object.is(simd, scalar), `row ${r} token ${t}: SIMD ${simd} scalar ${scalar}`).toBe(true);
          m.x.dequantize(type, wr, wf, k);
          const wv = m.floats(wf, k);
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
          expect(Math.abs(simd - exact), `row ${r} token ${t}: ${simd} vs ${exact}`).toBeLessThanOrEqual(mag * 1e-5 + 1e-30);
        }
      }
      for (const p of [wf, xd, s.wp, s.xq, s.xf]) m.free(p);
    });
  }

  for (const [type, k] of cases) {
    it.skipIf(!!REF_MISSING)(withRef(`${NAME[type]} k=${k}: equals ggml's mul_mat on the same quantized activations`), () => {
      const s = setup(type, k);
      // ggml takes the activations in its vec_dot_type: F16/BF16 as halves, the rest as bytes.
      let xBytes: Uint8Array;
      if (s.at === T.F16 || s.at === T.BF16) {
        const h = m.alloc(k * 2 * TOKENS);
        m.x[s.at === T.F16 ? "f32ToF16Row" : "f32ToBf16Row"](s.xq, h, k * TOKENS);
        xBytes = m.bytes(h, k * 2 * TOKENS);
        m.free(h);
      } else xBytes = m.bytes(s.xq, s.ab * TOKENS);
      const theirs = asF32(new Uint8Array(ref(["mulmat", type, k, ROWS, TOKENS, "@in", s.at, "@in", "@out"], [s.w, xBytes])));
      const ours = new Float32Array(ROWS * TOKENS);
      for (let t = 0; t < TOKENS; t++) for (let r = 0; r < ROWS; r++) ours[t * ROWS + r] = m.x.dotSimd(type, s.wp + r * s.rb, s.xq + t * s.ab, k);
      if (type === T.F32 || type === T.BF16) {
        // double sums in another order: equal up to the last bit of the f32 result
        for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i] - theirs[i])).toBeLessThanOrEqual(Math.abs(theirs[i]) * 2 ** -23);
      } else {
        const d = firstBitDiff(ours, theirs);
        expect(d, `${NAME[type]} output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
      }
      for (const p of [s.wp, s.xq, s.xf]) m.free(p);
    });
  }
});
