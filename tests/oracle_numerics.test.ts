// The pieces of llama.cpp's arithmetic that the engine reproduces bit for bit, each against the
// code llama.cpp itself runs (tools/ref: ggml and the C library of node-llama-cpp's x86 build,
// always its haswell CPU variant: tools/ref/pinned.mjs):
//   - attention: ggml_flash_attn_ext in all three of its code paths (short batches with an F16
//     accumulator, one token split across threads, 64+ token tiles in f32);
//   - the emulated x86 fused multiply-add and ggml's AVX2 exp it is built on;
//   - RoPE's sin and cos (glibc's sincosf);
//   - activation quantization before Q8_0/Q8_1/Q8_K products (x86 quantize_row_q8_*).
// Every comparison is exact (same bits); inputs are seeded.
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import { ggmlRef } from "../tools/ref/ggmlref.mjs";
import { REF_MISSING, rng, roundToF16, T, NAME } from "./quant_util";

let x: any, memory: WebAssembly.Memory;
// the kernel's build (SIS_AOT: integer paths for normal halves, llm/quant/f16.ts), for attention
let aot: { x: any; memory: WebAssembly.Memory };
beforeAll(async () => {
  const inst = await instantiate(await compile("tests/wasm/oracle_numerics.ts"));
  x = inst.exports;
  memory = inst.memory;
  const k = await instantiate(await compile("tests/wasm/oracle_numerics.ts", { aot: true }));
  aot = { x: k.exports, memory: k.memory };
});
const withRef = (name: string) => (REF_MISSING ? `${name} [skipped: ${REF_MISSING}]` : name);
const pinned = { cpu: "pinned" };
const ref = (args: (string | number)[], inputs: Uint8Array[] = [], opts = {}): Uint8Array =>
  ggmlRef(args, inputs.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)), opts);

function put(a: ArrayBufferView, m = { x, memory }): number {
  const p = m.x.allocRegion(BigInt(Math.max(1, a.byteLength))) >>> 0;
  new Uint8Array(m.memory.buffer, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return p;
}
const u32 = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Index of the first 32-bit word that differs (NaNs of any payload count as equal), or -1. */
function firstDiff(ours: Uint32Array, theirs: Uint32Array): number {
  const f = new Float32Array(1), g = new Uint32Array(f.buffer);
  const nan = (u: number) => { g[0] = u; return Number.isNaN(f[0]); };
  for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i] && !(nan(ours[i]) && nan(theirs[i]))) return i;
  return ours.length === theirs.length ? -1 : ours.length;
}

/** f16 bits of x (round to nearest even). */
function f16bits(v: number): number {
  const r = roundToF16(v);
  const f = new Float32Array([r]), b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000, a = b & 0x7fffffff;
  if (a === 0) return sign;
  if (a >= 0x7f800000) return sign | 0x7c00;
  if (a >= 0x38800000) return sign | ((a - 0x38000000) >>> 13);
  return sign | Math.round(Math.abs(r) * 2 ** 24); // subnormal half
}

/** llama.cpp's n_kv: cells in use rounded up to 256, at least 256, within the cache. */
const cellsInView = (end: number, ctx: number) => Math.min((ctx + 255) & ~255, Math.max(256, (end + 255) & ~255));

describe("attention equals ggml_flash_attn_ext (llama.cpp's default)", () => {
  // hd, heads, kv heads, tokens in the batch, position of the first, context, llama.cpp threads
  const CASES = [
    { what: "a short prompt (F16 accumulator)", hd: 48, nh: 6, nkvh: 2, nq: 4, pos0: 0, ctx: 256, threads: 4 },
    { what: "one generated token", hd: 48, nh: 6, nkvh: 2, nq: 1, pos0: 37, ctx: 256, threads: 4 },
    { what: "63 tokens: still the F16 path", hd: 64, nh: 4, nkvh: 2, nq: 63, pos0: 5, ctx: 256, threads: 4 },
    { what: "head dim 16, GQA 4", hd: 16, nh: 8, nkvh: 2, nq: 7, pos0: 3, ctx: 256, threads: 4 },
    { what: "head dim 8 (no SIMD part in ggml's F16 dot)", hd: 8, nh: 8, nkvh: 8, nq: 3, pos0: 0, ctx: 128, threads: 4 },
    { what: "multi-query", hd: 128, nh: 4, nkvh: 1, nq: 2, pos0: 200, ctx: 256, threads: 4 },
    { what: "64 tokens: the tiled f32 path", hd: 48, nh: 6, nkvh: 2, nq: 64, pos0: 0, ctx: 256, threads: 4 },
    { what: "a long prompt after earlier text (tiles)", hd: 48, nh: 6, nkvh: 2, nq: 100, pos0: 20, ctx: 256, threads: 4 },
    { what: "tiles, head dim 16", hd: 16, nh: 8, nkvh: 1, nq: 70, pos0: 0, ctx: 256, threads: 4 },
    { what: "a token with 512 cells in view: split across 4 threads", hd: 48, nh: 6, nkvh: 2, nq: 1, pos0: 300, ctx: 512, threads: 4 },
    { what: "split across 3 threads, 768 cells", hd: 64, nh: 4, nkvh: 2, nq: 1, pos0: 600, ctx: 1024, threads: 3 },
    { what: "split on 1 thread", hd: 48, nh: 6, nkvh: 2, nq: 1, pos0: 300, ctx: 512, threads: 1 },
    // halves that are zero or subnormal, in keys, values and the F16 sums (the conversions'
    // and roundings' slower paths, llm/quant/f16.ts)
    { what: "tiny and zero keys and values", hd: 48, nh: 6, nkvh: 2, nq: 5, pos0: 3, ctx: 256, threads: 4, tiny: true },
    { what: "tiny and zero keys and values, tiles", hd: 48, nh: 6, nkvh: 2, nq: 64, pos0: 0, ctx: 256, threads: 4, tiny: true },
  ];
  for (const build of ["", "the kernel's build: "]) for (const c of CASES) {
    it.skipIf(!!REF_MISSING)(withRef(`${build}${c.what}: hd ${c.hd}, ${c.nh}/${c.nkvh} heads, ${c.nq} tokens at ${c.pos0}, ${c.threads} threads`), () => {
      const m = build ? aot : { x, memory };
      const r = rng(c.hd * 1000 + c.nq * 10 + c.pos0);
      const cells = cellsInView(c.pos0 + c.nq, c.ctx);
      // scores of a few units and values around one, as in a model
      const q = Float32Array.from({ length: c.nq * c.nh * c.hd }, () => r.gauss() * 3);
      const tiny = (c as { tiny?: boolean }).tiny, zeroOrTiny = (scale: number) => (r.next() < 0.1 ? 0 : r.gauss() * scale);
      const k = Uint16Array.from({ length: cells * c.nkvh * c.hd }, () => f16bits(tiny ? zeroOrTiny(r.next() < 0.5 ? 2e-5 : 2) : r.gauss() * 2));
      const v = Uint16Array.from({ length: cells * c.nkvh * c.hd }, () => f16bits(tiny ? zeroOrTiny(r.next() < 0.5 ? 3e-6 : 1) : r.gauss()));
      const pq = put(q, m), pk = put(k, m), pv = put(v, m), po = put(new Float32Array(q.length), m);
      expect(m.x.attention(po, pq, pk, pv, c.hd, c.nh, c.nkvh, c.nq, cells, c.pos0, c.threads)).toBe(1);
      const ours = new Uint32Array(m.memory.buffer, po, q.length).slice();
      [pq, pk, pv, po].forEach((p) => m.x.freeRegion(p));
      const theirs = u32(ref(["flashattn", c.hd, c.nh, c.nkvh, c.nq, cells, c.pos0, c.threads, "@in", "@in", "@in", "@out"],
        [bytes(q), bytes(k), bytes(v)], pinned));
      const d = firstDiff(ours, theirs);
      expect(d, d < 0 ? "" : `token ${Math.floor(d / (c.nh * c.hd))} head ${Math.floor(d / c.hd) % c.nh} dim ${d % c.hd}`).toBe(-1);
    });
  }
});

describe("the arithmetic under it", () => {
  it.skipIf(!!REF_MISSING)(withRef("fma32 equals the C library's fmaf, double-rounding ties included"), () => {
    const n = 1 << 18, r = rng(99);
    const a = new Float32Array(n), b = new Float32Array(n), c = new Float32Array(n);
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    for (let i = 0; i < n; i++) {
      switch (i % 3) {
        case 0: a[i] = r.gauss() * 4; b[i] = r.gauss(); c[i] = r.gauss() * 8; break;
        case 1: // any finite values, far apart in magnitude
          bits[0] = (r.int(0x7f000000) | (r.int(2) << 31)) >>> 0; a[i] = f[0];
          b[i] = r.next() - 0.5;
          bits[0] = (r.int(0x7f000000) | (r.int(2) << 31)) >>> 0; c[i] = f[0];
          break;
        default: { // a*b just off half an f32 ulp of c: a plain f64 sum lands on the tie
          bits[0] = (0x3f800001 + 2 * r.int(1 << 21)) >>> 0; // odd mantissa in [1, 2)
          const e = r.int(40) - 20;
          c[i] = f[0] * 2 ** e * (r.int(2) ? 1 : -1);
          a[i] = 2 ** (e - 24) * (1 + 2 ** -23) * (r.int(2) ? 1 : -1);
          b[i] = 1 - 2 ** -23 * (1 + r.int(2));
        }
      }
    }
    const pa = put(a), pb = put(b), pc = put(c), po = put(new Float32Array(n));
    x.fmaRow(pa, pb, pc, po, n);
    const ours = new Uint32Array(memory.buffer, po, n).slice();
    [pa, pb, pc, po].forEach((p) => x.freeRegion(p));
    const theirs = u32(ref(["fmaf", n, "@in", "@in", "@in", "@out"], [bytes(a), bytes(b), bytes(c)]));
    const d = firstDiff(ours, theirs);
    expect(d, d < 0 ? "" : `fma(${a[d]}, ${b[d]}, ${c[d]})`).toBe(-1);
  });

  it.skipIf(!!REF_MISSING)(withRef("expAvx2 equals ggml_vec_soft_max_f32's exp in the pinned CPU build (haswell)"), () => {
    const n = 1 << 16, r = rng(7);
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    const v = Float32Array.from({ length: n }, (_, i) => {
      if (i % 3 === 0) return -r.next() * 110;        // the whole range down to flush-to-zero
      if (i % 3 === 1) return -r.next() * 20;
      bits[0] = (r.int(0x7f800000) | 0x80000000) >>> 0; // any negative finite value
      return f[0];
    });
    v.set([-Infinity, -0, 0, -87.5, -103.9, -104.1, -126.5, -200], 0);
    const pv = put(v), po = put(new Float32Array(n));
    x.expRow(pv, po, n);
    const ours = new Uint32Array(memory.buffer, po, n).slice();
    [pv, po].forEach((p) => x.freeRegion(p));
    const out = ref(["vsoftmax", n, 0, "@in", "@out"], [bytes(v)], pinned);
    const theirs = u32(out.subarray(0, n * 4));
    const d = firstDiff(ours, theirs);
    expect(d, d < 0 ? "" : `exp(${v[d]})`).toBe(-1);
  });

  it.skipIf(!!REF_MISSING)(withRef("RoPE's cos and sin equal glibc's sincosf for every angle of 16K positions"), () => {
    const vals: number[] = [];
    for (const [base, dim] of [[10000, 48], [10000, 128], [500000, 128], [1000000, 64]]) {
      const scale = Math.fround(Math.pow(base, -2 / dim));
      for (let p = 0; p < 16384; p += p < 2048 ? 1 : 5) {
        let th = Math.fround(p);
        for (let i = 0; i < dim / 2; i++) { vals.push(th); th = Math.fround(th * scale); }
      }
    }
    const r = rng(5);
    for (let i = 0; i < 1 << 16; i++) vals.push(Math.fround((r.next() - 0.5) * 2 ** (r.next() * 40 - 20)));
    const a = Float32Array.from(vals), n = a.length;
    const pa = put(a), po = put(new Float32Array(2 * n));
    x.sincosRow(pa, po, n);
    const ours = new Uint32Array(memory.buffer, po, 2 * n).slice();
    [pa, po].forEach((p) => x.freeRegion(p));
    const theirs = u32(ref(["sincosf", n, "@in", "@out"], [bytes(a)]));
    const d = firstDiff(ours, theirs);
    expect(d, d < 0 ? "" : `${d % 2 ? "sin" : "cos"}(${a[d >> 1]})`).toBe(-1);
  });
});

describe("activations are quantized as the pinned x86 build (haswell) does", () => {
  const k = 4096;
  // one block type per activation format; Q8_0 and Q8_1 data includes exact ties (x.5 after
  // scaling), where x86 rounds to even and ggml's reference quantizer away from zero
  // and, every 16th block from the third, all zeros, and then blocks of tiny (1e-38, whose
  // 127/amax is infinite), subnormal and huge values (the kernel's build rounds by an add
  // only where every scaled value is small: llm/quant/q8_act.ts)
  for (const build of ["", "the kernel's build: "]) for (const [wType, act] of [[T.Q4_0, T.Q8_0], [T.Q4_1, T.Q8_1], [T.Q4_K, T.Q8_K]]) {
    it.skipIf(!!REF_MISSING)(withRef(`${build}${NAME[act]} (for ${NAME[wType]} weights) byte for byte`), () => {
      const m = build ? aot : { x, memory };
      const r = rng(act);
      const v = Float32Array.from({ length: k }, (_, i) => {
        const blk = Math.floor(i / 32);
        if (blk % 16 === 2) return 0;
        if (blk % 16 === 6) return r.gauss() * 1e-38;
        if (blk % 16 === 10) return r.gauss() * 1e-41;
        if (blk % 16 === 14) return r.gauss() * 1e37;
        if (blk % 4 === 0) return i % 32 === 0 ? 127 : Math.max(-120, Math.min(120, Math.round(r.gauss() * 40))) + 0.5; // ties
        if (blk % 4 === 1) return r.gauss() * 1e-3;
        return r.gauss() * (1 + (blk % 7));
      });
      const ab = m.x.activationBytes(wType, k) >>> 0;
      const pv = put(v, m), po = put(new Uint8Array(ab), m);
      expect(m.x.quantizeActivations(pv, k, wType, po)).toBe(1);
      const ours = new Uint8Array(m.memory.buffer, po, ab).slice();
      [pv, po].forEach((p) => m.x.freeRegion(p));
      const theirs = ref(["actq", act, k, "@in", "@out"], [bytes(v)]);
      let d = -1;
      for (let i = 0; i < ab; i++) if (ours[i] !== theirs[i]) { d = i; break; }
      expect(d, d < 0 ? "" : `byte ${d}`).toBe(-1);
    });
  }
});
