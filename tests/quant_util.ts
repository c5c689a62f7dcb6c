// Shared helpers of the quant and kernel tests: ggml type table, seeded data, wasm buffers,
// and the ggml oracle (tools/ref), which is optional: tests that need it skip with a reason.
import { ggmlRef, ggmlRefUnavailable } from "../tools/ref/ggmlref.mjs";

export const T = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15, IQ4_NL: 20, BF16: 30 } as const;
export const NAME: Record<number, string> = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));
const BLOCK: Record<number, [number, number]> = {
  0: [1, 4], 1: [1, 2], 30: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36], 20: [32, 18],
  12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
};
export const blockElems = (t: number) => BLOCK[t][0];
export const rowBytes = (t: number, n: number) => (n / BLOCK[t][0]) * BLOCK[t][1];
/** ggml's vec_dot_type: the activation format paired with a weight type. */
export const VEC_DOT: Record<number, number> = { 0: 0, 1: 1, 30: 30, 2: 8, 6: 8, 8: 8, 3: 9, 7: 9, 12: 15, 13: 15, 14: 15 };
export const WEIGHT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K];

/** Why the ggml oracle cannot run here ("" when it can). Evaluated once. */
export const REF_MISSING = (() => { const w = ggmlRefUnavailable(); return w ? `ggml oracle unavailable: ${w}` : ""; })();
export const ref = (args: (string | number)[], inputs: Uint8Array[] = []) => ggmlRef(args, inputs.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));

/** Deterministic PRNG (mulberry32) with a normal sampler. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, gauss, int: (n: number) => Math.floor(next() * n) };
}

const f16tmp = new Float32Array(1);
/** Nearest f16 value of x (as a JS number), computed independently in double arithmetic. */
export function roundToF16(x: number): number {
  if (!isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  let q = Math.pow(2, e - 10);
  if (a / q >= 2048) q *= 2; // Math.log2 may round either way next to a power of two
  else if (e > -14 && a / q < 1024) q /= 2;
  let m = a / q;
  const fl = Math.floor(m);
  const frac = m - fl;
  m = frac > 0.5 ? fl + 1 : frac < 0.5 ? fl : (fl % 2 === 0 ? fl : fl + 1);
  f16tmp[0] = Math.sign(x) * m * q;
  return f16tmp[0];
}

/** Named float data sets (n a multiple of 256) that exercise the quantizers' corners. */
export function datasets(n: number, seed: number): { name: string; data: Float32Array }[] {
  const r = rng(seed);
  const make = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  const sets = [
    { name: "normal", data: make(() => r.gauss()) },
    { name: "weights-like", data: make(() => r.gauss() * 0.02) },
    { name: "uniform", data: make(() => r.next() * 2 - 1) },
    { name: "outliers", data: make(() => r.gauss() * (r.next() < 0.01 ? 30 : 1)) },
    { name: "positive", data: make(() => r.next() * 3 + 0.5) },
    { name: "negative", data: make(() => -r.next() * 3 - 0.1) },
    { name: "tiny", data: make(() => r.gauss() * 1e-7) },
    { name: "large", data: make(() => r.gauss() * 3000) },
    { name: "integers", data: make(() => r.int(17) - 8) },
    { name: "quarters", data: make(() => (r.int(33) - 16) / 4) },
    { name: "f16-rounded", data: make(() => roundToF16(r.gauss() * 0.1)) },
    // zero blocks, constant blocks, single spikes, sparse rows
    { name: "structured", data: make((i) => {
      const blk = Math.floor(i / 32) % 8;
      if (blk === 0) return 0;
      if (blk === 1) return 0.75;
      if (blk === 2) return i % 32 === 5 ? -2 : 0;
      if (blk === 3) return -1.25;
      if (blk === 4) return r.next() < 0.1 ? r.gauss() : 0;
      return r.gauss();
    }) },
  ];
  return sets;
}

/** Thin view of a wasm instance's memory with region-allocated buffers. */
export class Mem {
  constructor(public inst: any) {}
  get x() { return this.inst.exports; }
  alloc(bytes: number): number { const p = this.x.allocRegion(BigInt(Math.max(bytes, 1))); if (!p) throw new Error("out of memory"); return p >>> 0; }
  free(p: number) { this.x.freeRegion(p); }
  u8(p: number, n: number) { return new Uint8Array(this.inst.memory.buffer, p, n); }
  f32(p: number, n: number) { return new Float32Array(this.inst.memory.buffer, p, n); }
  put(p: number, a: ArrayBufferView) { this.u8(p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)); }
  /** Copies bytes into a new region, returns its address. */
  load(a: ArrayBufferView) { const p = this.alloc(a.byteLength); this.put(p, a); return p; }
  bytes(p: number, n: number) { return Uint8Array.from(this.u8(p, n)); }
  floats(p: number, n: number) { return Float32Array.from(this.f32(p, n)); }
}

export const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
/** Index of the first position where two float arrays differ bit-wise, or -1. */
export function firstBitDiff(a: Float32Array, b: Float32Array): number {
  const x = bitsOf(a), y = bitsOf(b);
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
export function firstByteDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
export const asF32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/** Bits of the nearest half to x (round to nearest even, via roundToF16). */
export function halfBits(x: number): number {
  const v = roundToF16(x);
  if (Number.isNaN(v)) return 0x7e00;
  const s = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const ee = a / 2 ** e >= 2 ? e + 1 : a / 2 ** e < 1 ? e - 1 : e;
  return s | ((ee + 15) << 10) | Math.round((a / 2 ** ee - 1) * 1024);
}

/** Bits of the nearest bfloat16 to x (round to nearest even on the f32 bits). */
export function bf16Bits(x: number): number {
  const u = bitsOf(new Float32Array([x]))[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

const HALF_FIELDS: Record<number, number[]> = { 2: [0], 3: [0, 2], 6: [0], 7: [0, 2], 8: [0], 12: [0, 2], 13: [0, 2], 14: [208], 20: [0] };
const BLOCK_BYTES: Record<number, number> = { 2: 18, 3: 20, 6: 22, 7: 24, 8: 34, 12: 144, 13: 176, 14: 210, 20: 18 };

/** One weight row of n elements: random f32/f16/bf16 values, or for quantized types random
 *  bytes with sane (finite, moderate) f16 scale fields, so that every quant bit pattern occurs
 *  (including -128 in Q8_0 weights and Q6_K scales). */
export function randomWeights(type: number, n: number, seed: number): Uint8Array {
  const r = rng(seed);
  if (type === T.F32) return new Uint8Array(Float32Array.from({ length: n }, () => r.gauss()).buffer);
  if (type === T.F16 || type === T.BF16) {
    const h = Uint16Array.from({ length: n }, () => (type === T.F16 ? halfBits(r.gauss() * 0.5) : bf16Bits(r.gauss() * 0.5)));
    return new Uint8Array(h.buffer);
  }
  const bytes = new Uint8Array(rowBytes(type, n)).map(() => r.int(256));
  const bb = BLOCK_BYTES[type];
  for (let b = 0; b < bytes.length; b += bb) {
    for (const off of HALF_FIELDS[type]) {
      const h = halfBits((r.next() < 0.5 ? -1 : 1) * 2 ** (-12 + r.next() * 10));
      bytes[b + off] = h & 255; bytes[b + off + 1] = h >> 8;
    }
  }
  return bytes;
}
