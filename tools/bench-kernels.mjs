#!/usr/bin/env node
// Micro-benchmark of llm/kernels on the host (Node's WebAssembly, SIMD): matvec (decode) and
// matmul with a batch of tokens (prefill) per weight type at TinyLlama-1.1B shapes.
// Prints GFLOP/s counting 2*rows*k flops per token, and the weight bandwidth of matvec.
//
//   node tools/bench-kernels.mjs [--types Q4_0,Q8_0] [--shapes 2048x2048] [--batch 32] [--seconds 0.5] [--wall] [--dram]
//
// Times are this process's CPU time (user + system) per call, best of five trials, so that other
// work on shared cores disturbs them less than wall time; --wall uses wall-clock time instead.
// Matrices of a few MB stay in the last-level cache between calls; --dram adds a column "matvec
// ms, DRAM": the same matvec cycling over copies of the matrix totalling >= 256 MiB, so that
// every call streams its weights from memory as decoding a real model does.
import { compile } from "./lib/asbuild.mjs";
import { instantiate } from "./lib/wasmhost.mjs";

const TYPES = { F32: 0, F16: 1, BF16: 30, Q4_0: 2, Q4_1: 3, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14 };
const BLOCK = { 0: [1, 4], 1: [1, 2], 30: [1, 2], 2: [32, 18], 3: [32, 20], 8: [32, 34], 12: [256, 144], 13: [256, 176], 14: [256, 210] };
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const types = arg("types", Object.keys(TYPES).join(",")).split(",");
// TinyLlama-1.1B: attention 2048x2048, FFN 5632x2048, output 32000x2048 (rows x k)
const shapes = arg("shapes", "2048x2048,5632x2048,32000x2048").split(",").map((s) => s.split("x").map(Number));
const batch = Number(arg("batch", "32"));
const seconds = Number(arg("seconds", "0.5"));
const wall = process.argv.includes("--wall");
const dram = process.argv.includes("--dram");
// seconds of wall-clock time, or of this process's CPU time
const clock = wall ? () => Number(process.hrtime.bigint()) / 1e9 : () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

const { exports: x, memory: mem0 } = await instantiate(await compile("tests/wasm/kernels.ts"));
const memory = () => x.memory ?? mem0;
const alloc = (n) => { const p = x.allocRegion(BigInt(n)); if (!p) throw new Error(`cannot allocate ${n} bytes`); return p >>> 0; };

// xorshift for data; weights are built from a few distinct quantized rows, copied to fill.
let seed = 12345;
const rand = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 4294967296; };
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

// Best of five trials (the machine may be shared: the minimum is the least disturbed figure).
function timeIt(fn) {
  fn(); // warm up
  let best = Infinity;
  for (let trial = 0; trial < 5; trial++) {
    let reps = 0, dt = 0;
    const t0 = clock();
    do { fn(); reps++; dt = clock() - t0; } while (dt < seconds / 5);
    best = Math.min(best, dt / reps);
  }
  return best;
}

console.log(`llm/kernels on ${process.arch}, node ${process.version}; GFLOP/s = 2*rows*k per token / time (${wall ? "wall-clock" : "CPU"} time)`);
console.log("type  shape        matvec ms  GFLOP/s  weights GB/s | matmul x" + String(batch).padEnd(3) + " ms  GFLOP/s  speedup/token" +
  (dram ? " | matvec ms, DRAM" : ""));
for (const name of types) {
  const type = TYPES[name];
  if (type === undefined) { console.error(`unknown type ${name}`); process.exit(2); }
  for (const [rows, k] of shapes) {
    const rb = (k / BLOCK[type][0]) * BLOCK[type][1];
    const w = alloc(rb * rows);
    // 64 distinct rows from gaussian data through the reference quantizer
    const f = alloc(k * 4);
    const distinct = Math.min(64, rows);
    for (let r = 0; r < distinct; r++) {
      const fv = new Float32Array(memory().buffer, f, k);
      for (let i = 0; i < k; i++) fv[i] = gauss() * 0.02;
      if (!x.quantizeRow(f, type, w + r * rb, k)) throw new Error(`quantizeRow ${name}`);
    }
    const wv = new Uint8Array(memory().buffer, w, rb * rows);
    for (let r = distinct; r < rows; r++) wv.copyWithin(r * rb, (r % distinct) * rb, (r % distinct + 1) * rb);
    x.toProductLayout(w, type, rows, k); // as the engine loads it
    const ab = x.activationBytes(type, k) >>> 0;
    const xf = alloc(k * 4 * batch), xq = alloc(ab * batch), out = alloc(rows * 4 * batch);
    const xv = new Float32Array(memory().buffer, xf, k * batch);
    for (let i = 0; i < xv.length; i++) xv[i] = gauss();
    for (let t = 0; t < batch; t++) x.quantizeActivations(xf + t * k * 4, k, type, xq + t * ab);
    const flops = 2 * rows * k;
    const tv = timeIt(() => x.matvec(out, w, type, xq, k, rows, 0, rows));
    const tm = timeIt(() => x.matmul(out, w, type, xq, batch, k, rows, 0, rows));
    let td = NaN;
    if (dram) { // copies of the matrix, used in turn
      const copies = Math.ceil((256 << 20) / (rb * rows)), ws = [];
      for (let c = 0; c < copies; c++) { const p = alloc(rb * rows); new Uint8Array(memory().buffer).copyWithin(p, w, w + rb * rows); ws.push(p); }
      let c = 0;
      td = timeIt(() => { x.matvec(out, ws[c], type, xq, k, rows, 0, rows); c = (c + 1) % copies; });
      for (const p of ws) x.freeRegion(p);
    }
    console.log(`${name.padEnd(5)} ${`${rows}x${k}`.padEnd(12)} ${(tv * 1e3).toFixed(2).padStart(9)} ${(flops / tv / 1e9).toFixed(2).padStart(8)} ${(rb * rows / tv / 1e9).toFixed(2).padStart(12)} | ` +
      `${(tm * 1e3).toFixed(1).padStart(12)} ${(flops * batch / tm / 1e9).toFixed(2).padStart(8)} ${(tv * batch / tm).toFixed(2).padStart(9)}x` +
      (dram ? ` | ${(td * 1e3).toFixed(2).padStart(16)}` : ""));
    for (const p of [w, f, xf, xq, out]) x.freeRegion(p);
  }
}
