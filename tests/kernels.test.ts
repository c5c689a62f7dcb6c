// llm/kernels: the products by weight type (matvec / matmul) and the f32 vector helpers,
// checked for their contract (row ranges, batch == repeated single products) and against
// ggml itself (tools/ref) where it is available.
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import {
  T, NAME, VEC_DOT, WEIGHT_TYPES, REF_MISSING, ref, rng, rowBytes, Mem, bitsOf, firstBitDiff, asF32, randomWeights, datasets,
} from "./quant_util";
import { ggmlRef } from "../tools/ref/ggmlref.mjs";

let m: Mem;
beforeAll(async () => { m = new Mem(await instantiate(await compile("tests/wasm/kernels.ts"))); });
const withRef = (name: string) => (REF_MISSING ? `${name} [skipped: ${REF_MISSING}]` : name);
const SENTINEL = 0x7fbadbad; // a NaN pattern no kernel produces

/** A weight matrix of `rows` rows: random bit patterns and quantized gaussian rows alternating. */
function weights(type: number, k: number, rows: number, seed: number): Uint8Array {
  const rb = rowBytes(type, k), w = new Uint8Array(rb * rows);
  const r = rng(seed);
  const src = m.alloc(k * 4), dst = m.alloc(rb);
  for (let i = 0; i < rows; i++) {
    if (i % 2 === 0 || type === T.F32 || type === T.F16 || type === T.BF16) w.set(randomWeights(type, k, seed + i), i * rb);
    else {
      m.put(src, Float32Array.from({ length: k }, () => r.gauss() * 0.05));
      expect(m.x.quantizeRow(src, type, dst, k)).toBe(1);
      w.set(m.u8(dst, rb), i * rb);
    }
  }
  m.free(src); m.free(dst);
  return w;
}

/** A matrix in the file's layout put into a module's memory in the products' layout (Q4_0 with
 *  rows a multiple of 8: interleaved), as the engine loads it. */
function productWeights(mem: Mem, w: Uint8Array, type: number, k: number, rows: number): number {
  const wp = mem.load(w);
  expect(mem.x.toProductLayout(wp, type, rows, k)).toBe(type === T.Q4_0 && rows % 8 === 0 ? 1 : 0);
  return wp;
}

function activations(type: number, k: number, n: number, seed: number) {
  const r = rng(seed);
  const x = Float32Array.from({ length: k * n }, (_, i) => r.gauss() * (1 + (Math.floor(i / k) % 3)));
  const ab = m.x.activationBytes(type, k) >>> 0;
  const xf = m.load(x), xq = m.alloc(ab * n);
  for (let t = 0; t < n; t++) expect(m.x.quantizeActivations(xf + t * k * 4, k, type, xq + t * ab)).toBe(1);
  m.free(xf);
  return { x, xq, ab };
}

describe("activation formats", () => {
  it("pairs each weight type with ggml's vec_dot_type and sizes it", () => {
    for (const t of WEIGHT_TYPES) expect(m.x.activationType(t) >>> 0, NAME[t]).toBe(VEC_DOT[t]);
    const k = 512;
    expect(m.x.activationBytes(T.F32, k)).toBe(k * 4);
    expect(m.x.activationBytes(T.F16, k)).toBe(k * 4); // f32 holding F16-rounded values
    expect(m.x.activationBytes(T.BF16, k)).toBe(k * 4);
    expect(m.x.activationBytes(T.Q4_0, k)).toBe(16 * 34);
    expect(m.x.activationBytes(T.Q8_0, k)).toBe(16 * 34);
    expect(m.x.activationBytes(T.Q4_1, k)).toBe(16 * 36);
    for (const t of [T.Q4_K, T.Q5_K, T.Q6_K]) expect(m.x.activationBytes(t, k)).toBe(2 * 292);
  });

  it("refuses unsupported types and row lengths instead of computing garbage", () => {
    const ACT_NONE = m.x.ACT_NONE.value >>> 0;
    for (const t of [10, 11, 15, 21, 24, 99]) expect(m.x.activationType(t) >>> 0, `type ${t}`).toBe(ACT_NONE); // Q2_K, Q3_K, Q8_K, IQ3_S
    expect(m.x.activationBytes(10, 256)).toBe(0);
    expect(m.x.activationBytes(T.Q4_K, 288)).toBe(0); // not a whole number of super-blocks
    expect(m.x.activationBytes(T.Q8_0, 40)).toBe(0);
    const out = m.alloc(64);
    m.f32(out, 4).fill(7);
    expect(m.x.matvec(out, out, T.Q4_K, out, 288, 2, 0, 2)).toBe(0);
    expect(m.x.matmul(out, out, 10, out, 1, 256, 2, 0, 2)).toBe(0);
    expect(m.x.dequantizeRow(out, 10, out, 256)).toBe(0);
    expect(Array.from(m.f32(out, 4))).toEqual([7, 7, 7, 7]);
    m.free(out);
  });
});

// Q4_0, Q8_0, F16 and the K-quant products follow llama.cpp's x86 build (ggml's AVX2 + FMA CPU
// variant, haswell, pinned by tools/ref/pinned.mjs whatever this host would pick): they are compared with that variant, weights repacked
// where it repacks them (as llama.cpp loads them: Q4_0 and Q4_K with a row count that is a
// multiple of 8). The other types keep ggml's portable reference order.
const X86 = new Set<number>([T.Q4_0, T.Q5_0, T.Q5_1, T.Q8_0, T.F16, T.Q4_K, T.Q5_K, T.Q6_K]);
const refPinned = (args: (string | number)[], inputs: Uint8Array[] = []) =>
  new Uint8Array(ggmlRef(args, inputs.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)), { cpu: "pinned", repack: true }));

describe("matvec and matmul", () => {
  const K: Record<number, number> = { [T.Q4_K]: 512, [T.Q5_K]: 512, [T.Q6_K]: 512 };
  for (const type of WEIGHT_TYPES) {
    // F16: llama.cpp multiplies two or more activation rows with llamafile's tinyBLAS (when
    // k % 8 == 0 and the rows are a multiple of 4), which sums in another order than its
    // single-row ggml_vec_dot_f16; matmul stands for that batched product (also for n = 1, a
    // piece of a batch). 11 rows and k = 300 check that otherwise matmul keeps matvec's order.
    // Q4_K: with a row count that is a multiple of 8 llama.cpp runs its repacked kernels, gemm
    // on the activation rows in groups of 4 and gemv on the rest of a batch (also for one row),
    // which sum in other orders than ggml_vec_dot_q4_K_q8_K (11 rows).
    const what = type === T.F16
      ? "matvec equals the single-row kernel, matmul the batched one (tinyBLAS order; matvec's when k % 8 != 0 or rows % 4 != 0), bit for bit"
      : type === T.Q4_K
        ? "matmul equals n matvecs bit for bit, except with 16 rows: the repacked kernels' orders (gemm for groups of 4 tokens, gemv for the rest and for matvec)"
        : "matmul equals n matvecs bit for bit";
    it(`${NAME[type]}: writes only [rowStart, rowEnd), and ${what}`, () => {
      // F16: tinyBLAS takes k % 8 == 0 with a row count that is a multiple of 4, nothing else
      const shapes = type === T.F16 ? [[320, 12], [320, 11], [300, 12]] : type === T.Q4_K ? [[512, 11], [512, 16]] : [[K[type] ?? 320, 11]];
      for (const [k, rows] of shapes) {
        const repacked = type === T.Q4_K && rows % 8 === 0;
        const w = weights(type, k, rows, 31 + type);
        const wp = productWeights(m, w, type, k, rows);
        const rb = rowBytes(type, k);
        for (const n of [1, 3, 4, 5, 9, 37]) {
          const { xq, ab } = activations(type, k, n, 77 + n);
          // single products, full range
          const single = new Float32Array(n * rows);
          const ov = m.alloc(rows * 4);
          for (let t = 0; t < n; t++) {
            expect(m.x.matvec(ov, wp, type, xq + t * ab, k, rows, 0, rows)).toBe(1);
            single.set(m.f32(ov, rows), t * rows);
          }
          // what matmul must give: n matvecs, except for F16 where tinyBLAS takes it (its order)
          let batch = single;
          if (type === T.F16) {
            const one = Float32Array.from({ length: n * rows }, (_, i) => m.x.f16Dot(wp + (i % rows) * rb, xq + Math.floor(i / rows) * ab, k));
            const d1 = firstBitDiff(single, one);
            expect(d1, `k=${k} n=${n}: matvec ${single[d1]} vs f16 dot ${one[d1]} at ${d1}`).toBe(-1);
            if (k % 8 === 0 && rows % 4 === 0) {
              batch = Float32Array.from({ length: n * rows }, (_, i) => m.x.f16DotBatched(wp + (i % rows) * rb, xq + Math.floor(i / rows) * ab, k));
              // the two orders do differ on this data, so the check below tells them apart
              expect(firstBitDiff(batch, single), `k=${k} n=${n}: batched and single-row orders agree everywhere`).not.toBe(-1);
            }
          }
          if (repacked) {
            // matvec: gemv's order; matmul: llama.cpp's split of a batch, gemm for the tokens
            // before the last multiple of 4, gemv after (matmul's passes of 32 tokens keep it)
            const order = (i: number, gemm: boolean) => m.x.q4kRepacked(wp + (i % rows) * rb, xq + Math.floor(i / rows) * ab, k, gemm);
            const gemv = Float32Array.from({ length: n * rows }, (_, i) => order(i, false));
            const d1 = firstBitDiff(single, gemv);
            expect(d1, `k=${k} n=${n}: matvec ${single[d1]} vs gemv order ${gemv[d1]} at ${d1}`).toBe(-1);
            batch = Float32Array.from({ length: n * rows }, (_, i) => order(i, Math.floor(i / rows) < n - (n % 4)));
            if (n >= 4) expect(firstBitDiff(batch, single), `k=${k} n=${n}: gemm and gemv orders agree everywhere`).not.toBe(-1);
          }
          // (Q4_K with 16 rows: sub-ranges of whole groups of 8 rows only, since the kernel
          // tells the repacked case by the row count it is given)
          for (const [r0, r1] of repacked ? [[0, rows], [8, 16], [3, 3]] : [[0, rows], [2, 9], [5, 6], [3, 3]]) {
            // matvec over a sub-range: outside untouched
            new Uint32Array(m.inst.memory.buffer, ov, rows).fill(SENTINEL);
            expect(m.x.matvec(ov, wp, type, xq, k, rows, r0, r1)).toBe(1);
            const got1 = m.floats(ov, rows);
            for (let r = 0; r < rows; r++) {
              if (r >= r0 && r < r1) expect(Object.is(got1[r], single[r]), `matvec row ${r}`).toBe(true);
              else expect(bitsOf(got1)[r], `matvec wrote row ${r} outside [${r0},${r1})`).toBe(SENTINEL);
            }
            // batch over the same range
            const om = m.alloc(n * rows * 4);
            new Uint32Array(m.inst.memory.buffer, om, n * rows).fill(SENTINEL);
            expect(m.x.matmul(om, wp, type, xq, n, k, rows, r0, r1)).toBe(1);
            const got = m.floats(om, n * rows);
            for (let t = 0; t < n; t++) for (let r = 0; r < rows; r++) {
              const i = t * rows + r;
              if (r >= r0 && r < r1) {
                if (!Object.is(got[i], batch[i])) throw new Error(`k=${k} n=${n} [${r0},${r1}) token ${t} row ${r}: matmul ${got[i]}, want ${batch[i]} (matvec ${single[i]})`);
              } else expect(bitsOf(got)[i], `matmul wrote token ${t} row ${r} outside [${r0},${r1})`).toBe(SENTINEL);
            }
            m.free(om);
          }
          m.free(ov); m.free(xq);
        }
        m.free(wp);
      }
    });
  }

  for (const type of WEIGHT_TYPES) {
    const vs = X86.has(type) ? "llama.cpp's x86 mul_mat (the pinned haswell build, repacked weights)" : "ggml's mul_mat";
    it.skipIf(!!REF_MISSING)(withRef(`${NAME[type]}: matmul from f32 activations equals ${vs} (ggml converts them itself)`), () => {
      // 16 rows for the x86 types: llama.cpp repacks Q4_0 only when the row count is a multiple
      // of 8 (Q4_K too), and takes tinyBLAS for F16 only when it is a multiple of 4. n = 6: the
      // repacked Q4_0/Q4_K kernels' 4-row gemm and their gemv; Q8_0 and F16 through tinyBLAS.
      // Q4_0 and Q4_K also with 13 rows: then llama.cpp's ggml_vec_dot_q4_0_q8_0 / _q4_K_q8_K.
      for (const rows of type === T.Q4_K || type === T.Q4_0 ? [16, 13] : [X86.has(type) ? 16 : 13]) {
        const k = 1024, n = 6;
        const w = weights(type, k, rows, 500 + type);
        const wp = productWeights(m, w, type, k, rows);
        const { x, xq } = activations(type, k, n, 900 + type);
        const out = m.alloc(rows * n * 4);
        expect(m.x.matmul(out, wp, type, xq, n, k, rows, 0, rows)).toBe(1);
        const ours = m.floats(out, rows * n);
        const args = ["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"];
        const inputs = [w, new Uint8Array(x.buffer, x.byteOffset, x.byteLength)];
        const theirs = asF32(X86.has(type) ? refPinned(args, inputs) : new Uint8Array(ref(args, inputs)));
        if (type === T.F32 || type === T.BF16) {
          // double sums in another order: at most one f32 rounding apart
          for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i] - theirs[i])).toBeLessThanOrEqual(Math.abs(theirs[i]) * 2 ** -23);
        } else {
          const d = firstBitDiff(ours, theirs);
          expect(d, `${rows} rows: output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
        }
        if (X86.has(type)) {
          // one activation row (token generation): matvec against ggml's single-row kernels
          const o1 = m.alloc(rows * 4), ab = m.x.activationBytes(type, k) >>> 0;
          for (let t = 0; t < n; t++) {
            expect(m.x.matvec(o1, wp, type, xq + t * ab, k, rows, 0, rows)).toBe(1);
            const mine = m.floats(o1, rows);
            const xt = x.subarray(t * k, (t + 1) * k);
            const ref1 = asF32(refPinned(["mulmat", type, k, rows, 1, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(xt.buffer, xt.byteOffset, xt.byteLength)]));
            const d = firstBitDiff(mine, ref1);
            expect(d, `${rows} rows: n=1 token ${t} row ${d}: ours ${mine[d]} ggml ${ref1[d]}`).toBe(-1);
          }
          m.free(o1);
        }
        m.free(wp); m.free(xq); m.free(out);
      }
    });
  }
});

describe.skipIf(!!REF_MISSING)(withRef("IQ4_NL (no quantizer here: random blocks) equals llama.cpp's x86 mul_mat"), () => {
  // llama.cpp's three orders: 16 rows are repacked (iq4_nl_8x8: per block fma); 13 rows are not:
  // ggml_vec_dot_iq4_nl_q8_0 for one activation row (two accumulators), tinyBLAS for a batch.
  // k = 32 * 33 blocks: an odd count, so the single-row kernel's last block takes its tail.
  for (const rows of [16, 13]) {
    it(`${rows} rows: 6 activation rows as one batch, and each alone`, () => {
      const k = 32 * 33, n = 6, type = T.IQ4_NL, rb = rowBytes(type, k);
      const w = new Uint8Array(rb * rows);
      for (let i = 0; i < rows; i++) w.set(randomWeights(type, k, 2000 + i), i * rb);
      const wp = productWeights(m, w, type, k, rows);
      const { x, xq, ab } = activations(type, k, n, 2100 + rows);
      const out = m.alloc(rows * n * 4), o1 = m.alloc(rows * 4);
      expect(m.x.matmul(out, wp, type, xq, n, k, rows, 0, rows)).toBe(1);
      const theirs = asF32(refPinned(["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(x.buffer, x.byteOffset, x.byteLength)]));
      const ours = m.floats(out, rows * n);
      const d = firstBitDiff(ours, theirs);
      expect(d, `batch: output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
      for (let t = 0; t < n; t++) {
        expect(m.x.matvec(o1, wp, type, xq + t * ab, k, rows, 0, rows)).toBe(1);
        const xt = x.subarray(t * k, (t + 1) * k);
        const ref1 = asF32(refPinned(["mulmat", type, k, rows, 1, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(xt.buffer, xt.byteOffset, xt.byteLength)]));
        const mine = m.floats(o1, rows);
        const d1 = firstBitDiff(mine, ref1);
        expect(d1, `token ${t} row ${d1}: ours ${mine[d1]} ggml ${ref1[d1]}`).toBe(-1);
      }
      // dequantizeRow: each value level*d, as ggml's to_float
      const deq = m.alloc(k * 4);
      expect(m.x.dequantizeRow(wp, type, deq, k)).toBe(1);
      const want = asF32(new Uint8Array(ref(["dequantize", type, k, "@in", "@out"], [w.subarray(0, rb)])));
      expect(firstBitDiff(m.floats(deq, k), want)).toBe(-1);
      m.free(wp); m.free(xq); m.free(out); m.free(o1); m.free(deq);
    });
  }
});

describe.skipIf(!!REF_MISSING)(withRef("the kernel's build of the products (SIS_AOT) equals llama.cpp's x86 mul_mat"), () => {
  // The module wasm2c lowers for the kernel drops the code shaped for V8 and multiplies Q4_0
  // by four tokens at a time on prepared activations (llm/quant/q4_0.ts tile4x4); run here, it
  // must give the same bits.
  let a: Mem;
  beforeAll(async () => { a = new Mem(await instantiate(await compile("tests/wasm/kernels.ts", { aot: true }))); });
  // (and the types whose integer sums it computes with other ops than V8's build: widenPairs,
  // dotPairs in llm/quant/common.ts)
  for (const type of [T.Q4_0, T.Q8_0, T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K]) {
    const wide = type === T.Q4_0 || type === T.Q8_0; // the others: fewer shapes (time)
    it(`${NAME[type]}: ${wide ? "16, 24, 40 and 13 rows, 1 to 9" : "16, 40 and 13 rows, 1, 4 and 5"} activation rows, and a NaN weight scale`, () => {
      const k = 512;
      for (const rows of wide ? [16, 24, 40, 13] : [16, 40, 13]) {
        const w = weights(type, k, rows, 1300 + rows + type);
        if (rows === 40) { w[7 * rowBytes(type, k) + 2 * (rowBytes(type, k) / (k / 32)) + 1] = 0x7e; } // row 7, block 2: NaN scale
        for (const n of wide ? [1, 2, 3, 4, 5, 8, 9] : [1, 4, 5]) {
          const { x, xq } = activations(type, k, n, 1700 + n);
          const ab = m.x.activationBytes(type, k) >>> 0;
          const wp = productWeights(a, w, type, k, rows), xp = a.load(m.u8(xq, ab * n)), out = a.alloc(rows * n * 4);
          expect(a.x.matmul(out, wp, type, xp, n, k, rows, 0, rows)).toBe(1);
          const ours = a.floats(out, rows * n).map((v) => (Number.isNaN(v) ? NaN : v));
          const theirs = asF32(refPinned(["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(x.buffer, x.byteOffset, x.byteLength)]))
            .map((v) => (Number.isNaN(v) ? NaN : v));
          const d = firstBitDiff(ours, theirs);
          expect(d, `${rows} rows, ${n} tokens: output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
          a.free(wp); a.free(xp); a.free(out); m.free(xq);
        }
      }
    });
  }
});

describe.skipIf(!!REF_MISSING)(withRef("the kernel's build with zero and subnormal scales equals llama.cpp's x86 mul_mat"), () => {
  // tile4x4's scales (weights and prepared activations) where halves are zero or subnormal.
  let a: Mem;
  beforeAll(async () => { a = new Mem(await instantiate(await compile("tests/wasm/kernels.ts", { aot: true }))); });
  it("Q4_0: 16 rows with zero and subnormal weight scales, 1 to 8 tokens with tiny and zero blocks", () => {
    const type = T.Q4_0, k = 256, rows = 16, rb = rowBytes(type, k), nbBytes = rb / (k / 32);
    const plain = weights(type, k, rows, 4100);
    const odd = plain.slice();
    const setScale = (row: number, block: number, half: number) => { odd[row * rb + block * nbBytes] = half & 0xff; odd[row * rb + block * nbBytes + 1] = half >> 8; };
    setScale(2, 1, 0x0003); setScale(9, 5, 0x0000); setScale(12, 0, 0x8005);
    for (const n of [1, 4, 5, 8]) {
      const r = rng(4200 + n);
      const x = Float32Array.from({ length: k * n }, () => r.gauss());
      for (let i = 0; i < 32; i++) {
        x[(n - 1) * k + 6 * 32 + i] *= 1e-4; x[(n - 1) * k + 7 * 32 + i] = 0; // the last token (one-token tiles past a multiple of 4)
        if (n >= 4) { x[1 * k + 2 * 32 + i] *= 1e-4; x[3 * k + 4 * 32 + i] = 0; }
      }
      const ab = m.x.activationBytes(type, k) >>> 0;
      const xf = m.load(x), xq = m.alloc(ab * n);
      for (let t = 0; t < n; t++) expect(m.x.quantizeActivations(xf + t * k * 4, k, type, xq + t * ab)).toBe(1);
      for (const [name, w] of [["normal weight scales", plain], ["zero and subnormal weight scales", odd]] as const) {
        const wp = productWeights(a, w, type, k, rows), xp = a.load(m.u8(xq, ab * n)), out = a.alloc(rows * n * 4);
        expect(a.x.matmul(out, wp, type, xp, n, k, rows, 0, rows)).toBe(1);
        const ours = a.floats(out, rows * n);
        const theirs = asF32(refPinned(["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(x.buffer, x.byteOffset, x.byteLength)]));
        const d = firstBitDiff(ours, theirs);
        expect(d, `${name}, ${n} tokens: output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
        a.free(wp); a.free(xp); a.free(out);
      }
      m.free(xf); m.free(xq);
    }
  });
});

describe.skipIf(!!REF_MISSING)(withRef("the build without relaxed SIMD (fused multiply-add emulated in f64) equals llama.cpp's x86 mul_mat"), () => {
  // What tools/lib/asbuild.mjs builds for a WebAssembly engine that does not fuse
  // f32x4.relaxed_madd (llm/math/fma.ts): slower, and it must give the same bits.
  let e: Mem;
  beforeAll(async () => {
    const out = "build/wasm/tests_wasm_kernels.release.f64fma.wasm";
    e = new Mem(await instantiate(await compile("tests/wasm/kernels.ts", { out, args: ["--disable", "relaxed-simd"] })));
  });
  for (const type of [T.Q4_0, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K, T.F16]) {
    // (two or more activation rows: matmul stands for a batch, which F16 multiplies by tinyBLAS)
    it(`${NAME[type]}: 16 rows, 2 and 5 activation rows`, () => {
      const k = 512, rows = 16;
      const w = weights(type, k, rows, 2100 + type);
      for (const n of [2, 5]) {
        const { x, xq } = activations(type, k, n, 2300 + n);
        const ab = m.x.activationBytes(type, k) >>> 0;
        const wp = productWeights(e, w, type, k, rows), xp = e.load(m.u8(xq, ab * n)), out = e.alloc(rows * n * 4);
        expect(e.x.matmul(out, wp, type, xp, n, k, rows, 0, rows)).toBe(1);
        const ours = e.floats(out, rows * n);
        const theirs = asF32(refPinned(["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(x.buffer, x.byteOffset, x.byteLength)]));
        const d = firstBitDiff(ours, theirs);
        expect(d, `${n} tokens: output ${d}: ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
        e.free(wp); e.free(xp); e.free(out); m.free(xq);
      }
    });
  }
});

describe.skipIf(!!REF_MISSING)(withRef("Q4_0 and Q8_0 with extreme block scales"), () => {
  // The fast tiles read weight scales with a half conversion that is exact for finite halves
  // only, and send any block with an infinite or NaN scale to the exact path.
  const cases: [string, (row: number, block: number) => number, number | null][] = [
    // blocks scaled by 1e-5 and 1e5 in turn: sums spanning 2^33 times the smallest scale
    ["scales 1e-5 and 1e5 in turn", (_, b) => (b % 2 ? 1e5 : 1e-5), null],
    // rows 5 and 17 get one block with an infinite scale, row 30 one with a NaN scale
    ["an infinite or NaN weight scale in some rows", () => 1, 0],
  ];
  for (const type of [T.Q4_0, T.Q8_0]) {
    for (const [what, scale, special] of cases) {
      it(`${NAME[type]}: ${what}, 40 rows, 1 and 6 activation rows`, () => {
        const k = 1024, rows = 40, n = 6, rb = rowBytes(type, k), bb = rb / (k / 32);
        const r = rng(77 + type);
        const w = new Uint8Array(rb * rows);
        const src = m.alloc(k * 4), dst = m.alloc(rb);
        for (let i = 0; i < rows; i++) {
          m.put(src, Float32Array.from({ length: k }, (_, j) => r.gauss() * scale(i, Math.floor(j / 32))));
          expect(m.x.quantizeRow(src, type, dst, k)).toBe(1);
          w.set(m.u8(dst, rb), i * rb);
        }
        if (special !== null) {
          const put = (row: number, block: number, half: number) => { w[row * rb + block * bb] = half & 0xff; w[row * rb + block * bb + 1] = half >> 8; };
          put(5, 3, 0x7c00); put(17, 31, 0xfc00); put(30, 7, 0x7e00);
        }
        m.free(src); m.free(dst);
        const wp = productWeights(m, w, type, k, rows);
        const { x, xq } = activations(type, k, n, 31 + type);
        const out = m.alloc(rows * n * 4);
        // NaN payloads are the CPU's business: any NaN equals any NaN, everything else bit for bit
        const same = (a: Float32Array, b: Float32Array) => {
          const na = a.map((v) => (Number.isNaN(v) ? NaN : v)), nb = b.map((v) => (Number.isNaN(v) ? NaN : v));
          return firstBitDiff(na, nb);
        };
        expect(m.x.matmul(out, wp, type, xq, n, k, rows, 0, rows)).toBe(1);
        const theirs = asF32(refPinned(["mulmat", type, k, rows, n, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(x.buffer, x.byteOffset, x.byteLength)]));
        const mine = m.floats(out, rows * n);
        const d = same(mine, theirs);
        expect(d, `batch: output ${d}: ours ${mine[d]} ggml ${theirs[d]}`).toBe(-1);
        if (special !== null) expect([5, 17, 30].every((row) => !Number.isFinite(mine[row]))).toBe(true);
        const xt = x.subarray(0, k);
        expect(m.x.matvec(out, wp, type, xq, k, rows, 0, rows)).toBe(1);
        const one = asF32(refPinned(["mulmat", type, k, rows, 1, "@in", T.F32, "@in", "@out"], [w, new Uint8Array(xt.buffer, xt.byteOffset, xt.byteLength)]));
        const d1 = same(m.floats(out, rows), one);
        expect(d1, `one row: output ${d1}`).toBe(-1);
        m.free(wp); m.free(xq); m.free(out);
      });
    }
  }
});

describe("approximate products with an error bound (the output head's first pass)", () => {
  // llm/sampler.ts sampleBounded trusts approxBound: every row of approxMatvec within it of
  // matvec's exact result. A bound that does not hold changes tokens; one that is too loose
  // costs speed, so its size is checked too.
  it("Q8_0: each row within the bound of matvec, on gaussian, tiny, huge and random-bit weights", () => {
    const type = T.Q8_0;
    expect(m.x.hasApprox(type)).toBe(1);
    for (const t of [T.F32, T.F16, T.Q4_0, T.Q6_K]) expect(m.x.hasApprox(t), NAME[t]).toBe(0);
    let checked = 0;
    for (const k of [32, 288, 2048]) {
      for (const [wname, scale] of [["gaussian", 0.05], ["tiny", 1e-6], ["huge", 3000], ["random bits", 0]] as const) {
        const rows = 37; // 9 tiles of 4 and a tail row
        const r = rng(k + rows);
        let w: Uint8Array;
        if (wname === "random bits") w = weights(type, k, rows, 500 + k);
        else {
          const src = m.alloc(k * 4), dst = m.alloc(rowBytes(type, k));
          w = new Uint8Array(rowBytes(type, k) * rows);
          for (let i = 0; i < rows; i++) {
            m.put(src, Float32Array.from({ length: k }, () => r.gauss() * scale));
            expect(m.x.quantizeRow(src, type, dst, k)).toBe(1);
            w.set(m.u8(dst, rowBytes(type, k)), i * rowBytes(type, k));
          }
          m.free(src); m.free(dst);
        }
        const wp = productWeights(m, w, type, k, rows);
        const sMax = m.x.weightScaleMax(wp, type, k, rows);
        expect(Number.isFinite(sMax), wname).toBe(true);
        const tb = m.x.approxTableBytes(type, k, rows) >>> 0;
        expect(tb).toBe(9 * (k / 32) * 16);
        const table = m.alloc(tb);
        expect(m.x.approxTable(wp, type, k, rows, sMax, table)).toBe(1);
        for (const n of [0, 1, 2]) {
          const { xq } = activations(type, k, 1, 900 + n * 7 + k);
          const exact = m.alloc(rows * 4), approx = m.alloc((rows + 1) * 4);
          expect(m.x.matvec(exact, wp, type, xq, k, rows, 0, rows)).toBe(1);
          m.f32(approx, rows + 1).fill(-7);
          expect(m.x.approxMatvec(approx, wp, type, xq, k, 2, rows, table, sMax), "a start inside a group of four").toBe(0);
          expect(m.x.approxMatvec(approx, wp, type, xq, k, 16, rows, table, sMax)).toBe(1); // the tail row is the last
          expect(m.f32(approx, 16).every((v) => v === -7), "writes only its rows").toBe(true);
          expect(m.x.approxMatvec(approx, wp, type, xq, k, 0, 16, table, sMax)).toBe(1);
          const e = m.floats(exact, rows), a = m.floats(approx, rows + 1);
          expect(a[rows], "writes only its rows").toBe(-7);
          const bound = m.x.approxBound(type, sMax, xq, k);
          expect(bound, `k=${k} ${wname}`).toBeGreaterThan(0);
          const big = Math.max(...e.map(Math.abs));
          for (let i = 0; i < rows; i++) {
            expect(Math.abs(a[i] - e[i]), `k=${k} ${wname} row ${i}: approx ${a[i]} exact ${e[i]} bound ${bound}`).toBeLessThanOrEqual(bound);
            checked++;
          }
          // useful: a few hundredths of the largest value at most (0.2-3.6% here: the scales'
          // 12 bits against every product at its largest), so that few rows need their exact
          // value (the Qwen2.5-0.5B shape in QEMU: 1.4 a token)
          if (wname === "gaussian") expect(bound / big, `k=${k}: bound ${bound} vs values up to ${big}`).toBeLessThan(0.05);
          m.free(exact); m.free(approx); m.free(xq);
        }
        m.free(wp); m.free(table);
      }
    }
    expect(checked).toBe(3 * 4 * 3 * 37);
  });

  it("Q8_0: an infinite or NaN weight scale, or another type, bounds nothing", () => {
    const type = T.Q8_0, k = 64, rows = 8, rb = rowBytes(type, k);
    for (const half of [0x7c00, 0xfc00, 0x7e00]) {
      const w = weights(type, k, rows, 77);
      w[5 * rb + 34] = half & 255; w[5 * rb + 35] = half >> 8; // row 5, block 1
      const wp = productWeights(m, w, type, k, rows);
      const { xq } = activations(type, k, 1, 5);
      const sMax = m.x.weightScaleMax(wp, type, k, rows);
      expect(sMax).toBe(Infinity);
      expect(m.x.approxBound(type, sMax, xq, k)).toBe(Infinity);
      m.free(wp); m.free(xq);
    }
    expect(m.x.weightScaleMax(0, T.Q4_0, 64, 1)).toBe(Infinity);
    expect(m.x.approxTableBytes(T.Q4_0, 64, 8)).toBe(0);
    expect(m.x.approxTable(0, T.Q8_0, 64, 8, Infinity, 0)).toBe(0);
    expect(m.x.approxMatvec(0, 0, T.Q4_0, 0, 64, 0, 1, 0, 1)).toBe(0);
  });
});

describe("dequantizeRow (embedding lookups)", () => {
  it("agrees with the f32 the products use, for every weight type", () => {
    // deq(row)·x in f64 must match the kernel's product closely: catches a row decoded wrongly
    for (const type of WEIGHT_TYPES) {
      const k = 512;
      const w = weights(type, k, 1, 3 + type);
      const wp = m.load(w), d = m.alloc(k * 4), o = m.alloc(4);
      expect(m.x.dequantizeRow(wp, type, d, k)).toBe(1);
      const wv = m.floats(d, k);
      const { x, xq } = activations(type, k, 1, 8);
      m.x.matvec(o, wp, type, xq, k, 1, 0, 1);
      let e = 0, mag = 0;
      for (let i = 0; i < k; i++) { e += wv[i] * x[i]; mag += Math.abs(wv[i] * x[i]); }
      // activation quantization error dominates: 8-bit ~ 1/127 of the block maximum
      expect(Math.abs(m.f32(o, 1)[0] - e), NAME[type]).toBeLessThanOrEqual(mag * 0.02);
      m.free(wp); m.free(d); m.free(o); m.free(xq);
    }
  });

  it("a matrix in the products' layout (Q4_0, rows a multiple of 8: interleaved) reads back row by row as the file's", () => {
    const k = 96, rows = 24, rb = rowBytes(T.Q4_0, k);
    const w = weights(T.Q4_0, k, rows, 55);
    const wp = productWeights(m, w, T.Q4_0, k, rows), plain = m.load(w), d = m.alloc(k * 4), e = m.alloc(k * 4);
    expect(Buffer.from(m.u8(wp, rows * rb)).equals(Buffer.from(w))).toBe(false); // the bytes moved
    for (let r = 0; r < rows; r++) {
      expect(m.x.dequantizeMatrixRow(wp, T.Q4_0, rb, 1, r, d, k)).toBe(1);
      expect(m.x.dequantizeRow(plain + r * rb, T.Q4_0, e, k)).toBe(1);
      expect(firstBitDiff(m.floats(d, k), m.floats(e, k)), `row ${r}`).toBe(-1);
    }
    // the other types, and Q4_0 with 13 rows, keep the file's layout
    for (const [type, n] of [[T.Q4_0, 13], [T.Q8_0, 16], [T.Q4_K, 16], [T.IQ4_NL, 16]]) expect(m.x.interleavedLayout(type, n), `${NAME[type]} ${n}`).toBe(0);
    expect(m.x.interleavedLayout(T.Q4_0, 16)).toBe(1);
    for (const p of [wp, plain, d, e]) m.free(p);
  });
});

// ---------------------------------------------------------------------------------------------
describe("vector helpers", () => {
  const n = 1027; // 256 groups of four and a scalar tail of three
  const r = rng(4242);
  const mixed = Float32Array.from({ length: n }, (_, i) => {
    if (i % 97 === 0) return -200 + i / 10;   // far below exp's range: flushes to zero
    if (i % 89 === 0) return 60 + r.next() * 40; // swiglu of large x, exp near overflow
    return r.gauss() * 4;
  });

  const run = (fn: string, inputs: Float32Array[], ...scalars: number[]) => {
    const ps = inputs.map((a) => m.load(a));
    const out = m.alloc(n * 4);
    m.x[fn](out, ...ps, n, ...scalars);
    const res = m.floats(out, n);
    ps.forEach((p) => m.free(p)); m.free(out);
    return res;
  };
  // vector.ts argument order differs per helper; these wrappers keep the calls readable
  const rmsnorm = (x: Float32Array, eps: number) => { const l = x.length, p = m.load(x), o = m.alloc(l * 4); m.x.rmsnorm(o, p, l, eps); const v = m.floats(o, l); m.free(p); m.free(o); return v; };

  it("elementwise add and mul round like single f32 operations; argmax finds the first maximum", () => {
    const a = mixed, b = Float32Array.from({ length: n }, () => r.gauss());
    const add = run("add", [a, b]), mul = run("mul", [a, b]);
    for (let i = 0; i < n; i++) {
      expect(add[i]).toBe(Math.fround(a[i] + b[i]));
      expect(mul[i]).toBe(Math.fround(a[i] * b[i]));
    }
    const pb = m.load(b);
    let mx = -Infinity, ix = 0;
    for (let i = 0; i < n; i++) if (b[i] > mx) { mx = b[i]; ix = i; }
    expect(m.x.argmax(pb, n)).toBe(ix);
    m.free(pb);
  });

  it("rmsnorm scales to unit root mean square; rmsnormMul equals rmsnorm then mul", () => {
    const y = rmsnorm(mixed, 1e-5);
    let ss = 0;
    for (const v of y) ss += v * v;
    expect(Math.abs(Math.sqrt(ss / n) - 1)).toBeLessThan(1e-4);
    const w = Float32Array.from({ length: n }, () => r.gauss());
    const px = m.load(mixed), pw = m.load(w), o1 = m.alloc(n * 4), o2 = m.alloc(n * 4);
    m.x.rmsnorm(o1, px, n, 1e-5); m.x.mul(o1, o1, pw, n);
    m.x.rmsnormMul(o2, px, pw, n, 1e-5);
    expect(firstBitDiff(m.floats(o1, n), m.floats(o2, n))).toBe(-1);
    for (const p of [px, pw, o1, o2]) m.free(p);
  });

  it("swiglu follows x/(1+exp(-x))*u", () => {
    // as llama.cpp's x86 build computes it: groups of eight through ggml's AVX2 exp,
    // (x / (1 + exp(-x))) * u, and the tail (n % 8 elements) through expf, times u.
    const u = Float32Array.from({ length: n }, () => r.gauss());
    const g = run("swiglu", [mixed, u]);
    const fr = Math.fround, n8 = n & ~7;
    const px = m.load(mixed.map((v) => -v)), pe = m.alloc(n * 4), pf = m.alloc(n * 4);
    m.x.expAvx2Row(px, pe, n);
    m.x.expfRow(px, pf, n);
    const e = m.floats(pe, n), ef = m.floats(pf, n);
    m.free(px); m.free(pe); m.free(pf);
    for (let i = 0; i < n; i++) {
      const want = fr(fr(mixed[i] / fr(1 + (i < n8 ? e[i] : ef[i]))) * u[i]);
      expect(Object.is(g[i], want), `swiglu ${i}: ${g[i]} vs ${want}`).toBe(true);
    }
    // ... and close to the exact value: ggml's exp is off by at most 1.45 + 0.5 ulp (relative
    // 3.9 * 2^-24), 1 + e, the division and the product by u round once each: |error| <=
    // 6.9 * 2^-24 relative (the largest seen over a million samples: 4.1 * 2^-24).
    for (let i = 0; i < n; i++) {
      const want = (mixed[i] / (1 + Math.exp(-mixed[i]))) * u[i];
      expect(Math.abs(g[i] - want), `swiglu ${i}: ${g[i]} vs ${want}`).toBeLessThanOrEqual(Math.abs(want) * 7 * 2 ** -24 + 1e-37);
    }
  });

  describe.skipIf(!!REF_MISSING)(withRef("bit for bit like ggml's CPU operations"), () => {
    const ggml = (args: (string | number)[], inputs: Float32Array[]) => asF32(new Uint8Array(ref(args, inputs)));
    const same = (ours: Float32Array, theirs: Float32Array, what: string) => {
      const d = firstBitDiff(ours, theirs);
      expect(d, `${what}: element ${d} ours ${ours[d]} ggml ${theirs[d]}`).toBe(-1);
    };
    it("the C library's expf equals Mathf.exp (the scalar tails)", () => {
      const xs = Float32Array.from({ length: 100000 }, (_, i) => (i < 2000 ? -104 + i * 0.1 : r.gauss() * 30));
      const p = m.load(xs), o = m.alloc(xs.length * 4);
      m.x.expfRow(p, o, xs.length);
      same(m.floats(o, xs.length), ggml(["expf", xs.length, "@in", "@out"], [xs]), "expf");
      m.free(p); m.free(o);
    });
    it("swiglu (as llama.cpp's pinned x86 build, haswell)", () => {
      const u = Float32Array.from({ length: n }, () => r.gauss());
      same(run("swiglu", [mixed, u]), asF32(refPinned(["swiglu", n, "@in", "@in", "@out"], [mixed, u].map((a) => new Uint8Array(a.buffer)))), "swiglu");
    });
    it("geglu: every half below 10 in magnitude, and beyond (as llama.cpp's pinned x86 build)", () => {
      const table = m.x.prepareGelu();
      // every finite half in (-10, 10) once, plus the edges and values beyond
      const xs: number[] = [];
      const dv = new DataView(new ArrayBuffer(2));
      for (let h = 0; h < 65536; h++) {
        const e = (h >> 10) & 31;
        if (e === 31) continue;
        dv.setUint16(0, h);
        const s = h >> 15, mm = h & 1023, v = (s ? -1 : 1) * (e ? (1 + mm / 1024) * 2 ** (e - 15) : mm * 2 ** -24);
        if (Math.abs(v) < 10) xs.push(v);
      }
      xs.push(-10, 10, -12.5, 11, 1e6, -1e6, 9.999, -9.999);
      for (let i = 0; i < 5000; i++) xs.push(r.gauss() * 4);
      const g = Float32Array.from(xs), u = Float32Array.from(xs, () => r.gauss());
      const gp = m.load(g), up = m.load(u), o = m.alloc(g.length * 4);
      m.x.geglu(o, gp, up, g.length, table);
      same(m.floats(o, g.length), asF32(refPinned(["geglu", g.length, "@in", "@in", "@out"], [g, u].map((a) => new Uint8Array(a.buffer)))), "geglu");
      m.free(gp); m.free(up); m.free(o);
    });
    it("rms_norm", () => {
      for (const d of datasets(1024, 3).slice(0, 4)) {
        const x = d.data.subarray(0, 1021); // odd length: exercises the scalar tail
        same(rmsnorm(Float32Array.from(x), 1e-5), ggml(["rmsnorm", x.length, 1e-5, "@in", "@out"], [Float32Array.from(x)]), d.name);
      }
      same(rmsnorm(mixed, 1e-6), ggml(["rmsnorm", n, 1e-6, "@in", "@out"], [mixed]), "mixed");
    });
  });
});
