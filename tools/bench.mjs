#!/usr/bin/env node
// npm run bench: the engine (WebAssembly on Node) side by side with llama.cpp (native, via
// node-llama-cpp), both on one thread, on the same prompt and the same number of tokens:
// prefill and decode tokens per second and peak memory.
//
//   node tools/bench.mjs [--runs N] [--only scribe|tinyllama]
//
// Models: sis-scribe-15m Q4_0 (../shared/models) and a TinyLlama-1.1B-shaped model (22
// layers, dim 2048, 32 heads / 4 KV heads, ff 5632, the Llama-2 vocabulary) with seeded
// random weights, made once with `sis-llm mkmodel` (F16) + `sis-llm quantize` (Q4_0, which
// gives the output head Q6_K as llama.cpp does) and cached in build/bench/.
//
// Each measurement runs in its own child process so that its peak RSS (VmHWM) is its own.
// Timing is the same for both engines: prefill = prompt start to the first sampled token,
// decode = the following tokens, wall clock, greedy, after one warm-up run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { ROOT } from "./lib/asbuild.mjs";

const SELF = fileURLToPath(import.meta.url);
const SHARED = resolve(ROOT, "../shared");
const BENCH_DIR = resolve(ROOT, "build", "bench");
const PROMPT = "And it came to pass, when the king heard the words of the book of the law, that he rent his clothes, and said unto the people";

const MODELS = {
  scribe: { label: "sis-scribe-15m Q4_0", path: resolve(SHARED, "models", "sis-scribe-15m-q4_0.gguf"), ctx: 256, gen: 128 },
  tinyllama: {
    label: "TinyLlama-1.1B shape, Q4_0 + Q6_K output (random weights)", path: resolve(BENCH_DIR, "tinyllama-shape-q4_0.gguf"),
    ctx: 256, gen: 32,
    make: { dim: 2048, layers: 22, heads: 32, kvHeads: 4, ff: 5632, ctx: 2048, seed: 1, untied: true },
  },
};

function vmHWM() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

// ---------------------------------------------------------------------------------------
// workers (one measurement each, in a child process)

async function workerOurs(wasm, path, ctx, gen) {
  const { LLM } = await import("./lib/llm.mjs");
  const llm = await LLM.fromWasm(wasm);
  const err = llm.load(path, ctx);
  if (err) throw new Error(err);
  const once = () => {
    const t0 = process.hrtime.bigint();
    const e = llm.begin(PROMPT, { temperature: 0, maxTokens: gen });
    if (e) throw new Error(e);
    let r = llm.next();
    const t1 = process.hrtime.bigint();
    let n = r.token === undefined ? 0 : 1;
    while (r.token !== undefined && n < gen) { r = llm.next(); if (r.token !== undefined) n++; }
    const t2 = process.hrtime.bigint();
    return { promptTokens: llm.timings().promptTokens, prefillNs: Number(t1 - t0), decodeTokens: n - 1, decodeNs: Number(t2 - t1) };
  };
  once(); // warm-up: the JIT tiers up on the first run
  const r = once();
  const mem = llm.memoryStats();
  return { ...r, peakRss: vmHWM(), wasmMemory: mem.linear, regions: mem.inUse };
}

async function workerLlama(path, ctx, gen) {
  // the peer as a user of llama.cpp here gets it: ggml's own choice of CPU variant, not the
  // tests' pinned one
  const { hostLlama, loadedCpuVariants } = await import("./ref/pinned.mjs");
  const llama = await hostLlama();
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: ctx, batchSize: ctx, threads: 1 });
  const seq = context.getSequence();
  const tokens = [model.tokens.bos, ...model.tokenize(PROMPT)];
  const once = async () => {
    await seq.clearHistory();
    const t0 = process.hrtime.bigint();
    let t1 = 0n, n = 0;
    for await (const _t of seq.evaluate(tokens, { temperature: 0 })) {
      if (++n === 1) t1 = process.hrtime.bigint();
      if (n >= gen) break;
    }
    const t2 = process.hrtime.bigint();
    return { promptTokens: tokens.length, prefillNs: Number(t1 - t0), decodeTokens: n - 1, decodeNs: Number(t2 - t1) };
  };
  await once();
  const r = await once();
  return { ...r, peakRss: vmHWM(), variant: loadedCpuVariants().join("+") };
}

// ---------------------------------------------------------------------------------------
// the driver

function measure(kind, wasm, m, runs) {
  const results = [];
  for (let i = 0; i < runs; i++) {
    const p = spawnSync(process.execPath, [SELF, "--worker", kind, wasm, m.path, String(m.ctx), String(m.gen)], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (p.status !== 0) throw new Error(`${kind} worker failed:\n${p.stderr}`);
    results.push(JSON.parse(p.stdout.trim().split("\n").pop()));
  }
  // the median run by decode speed
  results.sort((a, b) => a.decodeNs / a.decodeTokens - b.decodeNs / b.decodeTokens);
  return results[results.length >> 1];
}

async function ensureTinyLlama(m) {
  if (existsSync(m.path)) return;
  mkdirSync(BENCH_DIR, { recursive: true });
  process.stderr.write(`bench: making ${m.path} (once; a few minutes)\n`);
  const { LLM } = await import("./lib/llm.mjs");
  const llm = await LLM.create();
  const f16 = llm.mkmodel({ vocab: resolve(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"), type: "F16", ...m.make });
  const q = llm.quantize(f16, "Q4_0");
  writeFileSync(m.path + ".tmp", q);
  renameSync(m.path + ".tmp", m.path);
}

const mib = (b) => (b / 1048576).toFixed(0);
const rate = (n, ns) => (n * 1e9) / ns;

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "--worker") {
    const [, kind, wasm, path, ctx, gen] = args;
    const r = kind === "ours" ? await workerOurs(wasm, path, Number(ctx), Number(gen)) : await workerLlama(path, Number(ctx), Number(gen));
    process.stdout.write(JSON.stringify(r) + "\n");
    return;
  }
  const runs = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 3;
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
  if (!existsSync(resolve(SHARED, "models"))) throw new Error(`${SHARED} is absent: the benchmark needs its models and vocabulary`);

  const { LLM } = await import("./lib/llm.mjs");
  const wasm = await LLM.compile();
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`# SIS LLM benchmark, ${new Date().toISOString().slice(0, 10)}`);
  console.log(`machine: ${cpu}, ${cpus().length} cores, ${mib(totalmem())} MiB RAM; Node ${process.version}; 1 thread each; median of ${runs} runs`);
  console.log(`prompt: ${JSON.stringify(PROMPT.slice(0, 40))}..., greedy\n`);
  console.log("| model | engine | prompt tok | prefill tok/s | decode tok/s | peak RSS MiB | notes |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const [key, m] of Object.entries(MODELS)) {
    if (only && key !== only) continue;
    if (m.make) await ensureTinyLlama(m);
    const ours = measure("ours", wasm, m, runs);
    const ref = measure("llama", wasm, m, runs);
    const row = (name, r, note) => console.log(`| ${m.label} | ${name} | ${r.promptTokens} | ${rate(r.promptTokens, r.prefillNs).toFixed(1)} | ` +
      `${rate(r.decodeTokens, r.decodeNs).toFixed(1)} | ${mib(r.peakRss)} | ${note} |`);
    row("SIS (wasm, Node)", ours, `model+KV+scratch regions ${mib(ours.regions)} MiB, wasm memory ${mib(ours.wasmMemory)} MiB; ${ours.decodeTokens + 1} tokens`);
    row("llama.cpp (native)", ref, `node-llama-cpp 3.21.1, CPU build ${ref.variant}; ${ref.decodeTokens + 1} tokens`);
    console.log(`| | ratio SIS / llama.cpp | | ${(rate(ours.promptTokens, ours.prefillNs) / rate(ref.promptTokens, ref.prefillNs)).toFixed(2)} | ` +
      `${(rate(ours.decodeTokens, ours.decodeNs) / rate(ref.decodeTokens, ref.decodeNs)).toFixed(2)} | | |`);
  }
}

main().catch((e) => { process.stderr.write(`bench: ${e.message}\n`); process.exitCode = 1; });
