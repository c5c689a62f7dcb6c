#!/usr/bin/env node
// npm run bench:qemu — inference speed in QEMU, SIS beside llama.cpp on the same emulated
// machine (same -cpu, -smp and -m), one after the other in one run:
//   SIS:       boots with a models disk holding the model, `llmctl load`, then
//              `llmctl bench --pg P,N`: a P-token prompt as one prefill, then N tokens
//              generated after it, timed apart by the guest's clock, on all the machine's
//              cores; then the same on -smp 1 (its scaling) and on each --more-smp machine.
//   llama.cpp: its arm64 build in a Linux guest under qemu-system (tools/peer/run.mjs,
//              system mode) with 1 and with 2 threads (--peer-threads): the same P-token
//              prompt as one batch, then N greedy decode steps, each timed (set up once
//              with tools/peer/setup.sh). SIS is compared with its best thread count.
// Both prompts are the same text (Genesis 1:1-3) cut or repeated to P tokens.
//
//   node tools/bench-qemu.mjs [--only scribe|tinyllama|qwen2.5|llama3.2|smollm2|qwen3|gemma3|phi3.5] [--prompt-tokens P] [--gen N]
//   (the last four run only when named)
//        [--cpu neoverse-n1] [--smp 2] [--more-smp 4] [--mem 4G] [--runs R]
//        [--peer-threads 1,2] [--no-peer] [--no-scaling] [--repeat K]
//
// --repeat K runs the whole comparison K times over, SIS and llama.cpp taking turns, and ends
// each model with its ratios round by round and their median: on a host whose speed drifts
// from minute to minute (a shared machine), one round's ratio says little.
//
// Models: sis-scribe-15m Q4_0 (models/) with P=32, N=32, and the TinyLlama-1.1B shape
// (22 layers, dim 2048, 32/4 heads, ff 5632, vocab 32000, Q4_0 with a Q6_K output head,
// seeded random weights) with P=16, N=8 by default (it runs at well under 1 tok/s under
// TCG). The TinyLlama-shaped file is made once with `sis-llm mkmodel` + `sis-llm quantize`
// and cached in build/bench/ (the same file tools/bench.mjs uses). The Qwen2.5-0.5B and
// Llama-3.2-1B shapes (tools/lib/shapes.mjs, their real vocabularies) in Q4_0 as llama.cpp's
// own quantizer writes it, P=16, N=8, made once into build/bench/ too.
import { spawnSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, copyFileSync, rmSync, renameSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT } from "./lib/asbuild.mjs";
import { mkdisk } from "./mkdisk.mjs";
import { SisMachine } from "../tests/support/qemu-serial.mjs";
import { runPeer, checkPeerSetup, DEFAULT_PROMPT } from "./peer/run.mjs";
import { ensureShapedModel } from "./lib/shapes.mjs";

const BENCH_DIR = resolve(ROOT, "build", "bench");
const SHARED = resolve(ROOT, "../shared");

const MODELS = {
  scribe: { label: "sis-scribe-15m Q4_0", path: resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf"), prompt: 32, gen: 32 },
  tinyllama: {
    label: "TinyLlama-1.1B shape Q4_0 (Q6_K output, random weights)", path: resolve(BENCH_DIR, "tinyllama-shape-q4_0.gguf"),
    prompt: 16, gen: 8,
    make: { dim: 2048, layers: 22, heads: 32, kvHeads: 4, ff: 5632, ctx: 2048, seed: 1, untied: true },
  },
  "qwen2.5": { label: "Qwen2.5-0.5B shape Q4_0 (random weights)", shape: "qwen2.5-0.5b", ftype: "Q4_0", prompt: 16, gen: 8 },
  "llama3.2": { label: "Llama-3.2-1B shape Q4_0 (random weights)", shape: "llama-3.2-1b", ftype: "Q4_0", prompt: 16, gen: 8, ctx: 4096 },
  // the other families' shapes, in the types tests/e2e/llm-families runs them (not in the default run)
  smollm2: { label: "SmolLM2-135M shape Q8_0 (random weights)", shape: "smollm2-135m", ftype: "Q8_0", prompt: 16, gen: 8, optional: true },
  qwen3: { label: "Qwen3-0.6B shape Q4_0 (random weights)", shape: "qwen3-0.6b", ftype: "Q4_0", prompt: 16, gen: 8, ctx: 4096, optional: true },
  gemma3: { label: "Gemma-3-270M shape Q8_0 (random weights)", shape: "gemma-3-270m", ftype: "Q8_0", prompt: 16, gen: 8, ctx: 4096, optional: true },
  "phi3.5": { label: "Phi-3.5-mini shape Q4_0 (random weights)", shape: "phi-3.5-mini", ftype: "Q4_0", prompt: 16, gen: 8, ctx: 4096, optional: true },
};

function parseArgs(argv) {
  const o = { only: null, prompt: null, gen: null, cpu: "neoverse-n1", smp: 2, moreSmp: [], mem: "4G", runs: 1, peer: true,
    peerThreads: [1, 2], scaling: true, repeat: 1 };
  const list = (v) => String(v).split(",").map(Number).filter((n) => n >= 1);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === "--only") o.only = v();
    else if (a === "--prompt-tokens") o.prompt = Number(v());
    else if (a === "--gen") o.gen = Number(v());
    else if (a === "--cpu") o.cpu = v();
    else if (a === "--smp") o.smp = Number(v());
    else if (a === "--mem") o.mem = v();
    else if (a === "--runs") o.runs = Number(v());
    else if (a === "--no-peer") o.peer = false;
    else if (a === "--more-smp") o.moreSmp = list(v());
    else if (a === "--peer-threads") o.peerThreads = list(v());
    else if (a === "--no-scaling") o.scaling = false;
    else if (a === "--repeat") o.repeat = Number(v());
    else throw new Error(`unknown option ${a}`);
  }
  if (!(Number.isInteger(o.repeat) && o.repeat >= 1)) throw new Error("--repeat takes a count of rounds, 1 or more");
  if (o.only && !MODELS[o.only]) throw new Error(`--only takes ${Object.keys(MODELS).join(" or ")}`);
  return o;
}

/** The TinyLlama-shaped model, made once (F16 with seeded random weights, then Q4_0). */
export async function ensureTinyLlama(m = MODELS.tinyllama) {
  if (existsSync(m.path)) return m.path;
  mkdirSync(BENCH_DIR, { recursive: true });
  const vocab = existsSync(resolve(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"))
    ? resolve(SHARED, "vocab", "ggml-vocab-llama-spm.gguf") : MODELS.scribe.path; // any GGUF with the Llama-2 vocabulary
  process.stderr.write(`bench-qemu: making ${m.path} (once; a few minutes)\n`);
  const f16 = join(BENCH_DIR, "tinyllama-shape-f16.gguf.tmp");
  const mk = m.make;
  const run = (args) => {
    const r = spawnSync(process.execPath, [join(ROOT, "tools", "sis-llm.mjs"), ...args], { stdio: "inherit" });
    if (r.status !== 0) throw new Error(`sis-llm ${args[0]} failed`);
  };
  run(["mkmodel", f16, "--dim", mk.dim, "--layers", mk.layers, "--heads", mk.heads, "--kv-heads", mk.kvHeads, "--ff", mk.ff,
    "--vocab-from", vocab, "--type", "F16", "--ctx", mk.ctx, "--seed", mk.seed, ...(mk.untied ? ["--untied"] : [])].map(String));
  run(["quantize", f16, m.path + ".tmp", "Q4_0"]);
  rmSync(f16, { force: true });
  renameSync(m.path + ".tmp", m.path);
  return m.path;
}

/** An ext4 models disk holding just this model (hard link, else a copy), cached by mkdisk's stamp. */
export function diskFor(model) {
  const dir = join(BENCH_DIR, "qemu-disk-" + basename(model, ".gguf"));
  mkdirSync(dir, { recursive: true });
  const inDir = join(dir, basename(model));
  if (!existsSync(inDir)) {
    try { linkSync(model, inDir); } catch { copyFileSync(model, inDir); }
  }
  const image = dir + ".img";
  mkdisk(dir, image, { label: "sis-bench" });
  return image;
}

/** SIS in QEMU: load the model, `llmctl bench --pg P,N`. Returns tok/s and what SIS reported. */
async function benchSis(model, o, P, N, smp = o.smp, ctx = 0) {
  const disk = diskFor(model);
  const m = await SisMachine.boot({ disk, cpu: o.cpu, smp, mem: o.mem });
  try {
    await m.run("llmctl backend real");
    if (ctx) await m.run(`llmctl config context ${ctx}`); // a model whose own context does not fit in memory
    const name = `/models/${basename(model)}`;
    const load = await m.run(`llmctl load ${name}`, { timeout: 600_000 });
    if (!/^loaded /m.test(load)) throw new Error(`SIS could not load ${name}:\n${load}`);
    const t0 = Date.now();
    const out = await m.run(`llmctl bench --pg ${P},${N} --runs ${o.runs}`, { timeout: 6 * 3600_000 });
    const wall = (Date.now() - t0) / 1000;
    const row = (k) => {
      const r = new RegExp(`^\\| pg ${P},${N}: ${k}\\s+\\|\\s+(\\d+) \\|\\s+([\\d.]+) \\|\\s+([\\d.]+) \\|$`, "m").exec(out);
      if (!r) throw new Error(`no '${k}' row in llmctl bench output:\n${out}`);
      return { tokens: Number(r[1]), ms: Number(r[2]), tokS: Number(r[3]) };
    };
    const mem = /^memory: (.*)$/m.exec(out)?.[1] ?? "";
    const loadLine = /^loaded .*$/m.exec(load)?.[0] ?? "";
    const cores = /, (\d+ of \d+) cores,/.exec(out)?.[1] ?? "?";
    return { prefill: row("pp"), decode: row("tg"), mem, loadLine, wall, bench: out, cores };
  } finally {
    await m.poweroff().catch(() => m.kill());
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.peer) checkPeerSetup("system");
  const date = new Date().toISOString().slice(0, 10);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const qemu = spawnSync("qemu-system-aarch64", ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
  console.log(`# Inference in QEMU, ${date}`);
  console.log(`host: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ${qemu}; load average ${loadavg()[0].toFixed(1)} at the start`);
  console.log(`guest: qemu-system-aarch64 -M virt -cpu ${o.cpu} -smp ${o.smp} -m ${o.mem} for both (other -smp where a row says so); greedy; ` +
    `prompt: Genesis 1:1-3 cut to P tokens; ${o.runs === 1 ? "one run" : `median of ${o.runs} runs (SIS)`}` +
    (o.repeat > 1 ? `; ${o.repeat} rounds, SIS and llama.cpp taking turns` : ""));
  console.log(`command: node tools/bench-qemu.mjs ${process.argv.slice(2).join(" ")}`.trimEnd());
  console.log("");
  console.log("| model | engine | P / N | prefill tok/s | decode tok/s | notes |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  const fmt = (x) => x.toFixed(2);
  for (const [key, m] of Object.entries(MODELS)) {
    if (o.only ? key !== o.only : m.optional) continue;
    if (m.make) await ensureTinyLlama(m);
    if (m.shape) m.path = await ensureShapedModel(m.shape, m.ftype);
    const P = o.prompt ?? m.prompt, N = o.gen ?? m.gen;
    const ratios = new Map(); // what is compared -> [[prefill, decode] per round]
    const note = (what, a, b) => {
      console.log(`| | ${what} | | ${fmt(a)} | ${fmt(b)} | |`);
      if (!ratios.has(what)) ratios.set(what, []);
      ratios.get(what).push([a, b]);
    };
    const sisRow = async (smp) => {
      process.stderr.write(`bench-qemu: ${m.label}: SIS -smp ${smp} (P=${P}, N=${N})...\n`);
      const r = await benchSis(m.path, o, P, N, smp, m.ctx ?? 0);
      console.log(`| ${m.label} | SIS, -smp ${smp} (${r.cores} cores) | ${P} / ${N} | ${fmt(r.prefill.tokS)} | ${fmt(r.decode.tokS)} | ${r.mem.replace(/\|/g, "/")} |`);
      return r;
    };
    for (let round = 1; round <= o.repeat; round++) {
      if (o.repeat > 1) process.stderr.write(`bench-qemu: ${m.label}: round ${round} of ${o.repeat}\n`);
      const sis = await sisRow(o.smp);
      if (o.scaling && o.smp > 1) {
        const one = await sisRow(1);
        note(`SIS scaling, -smp ${o.smp} / -smp 1`, sis.prefill.tokS / one.prefill.tokS, sis.decode.tokS / one.decode.tokS);
      }
      for (const smp of o.moreSmp) {
        const r = await sisRow(smp);
        note(`SIS -smp ${smp} / -smp ${o.smp}`, r.prefill.tokS / sis.prefill.tokS, r.decode.tokS / sis.decode.tokS);
      }
      if (!o.peer) continue;
      let best = null;
      for (const threads of o.peerThreads) {
        process.stderr.write(`bench-qemu: ${m.label}: llama.cpp, ${threads} thread(s) (P=${P}, N=${N})...\n`);
        const peer = await runPeer({ model: m.path, promptTokens: P, gen: N, threads, cpu: o.cpu, smp: o.smp, mem: o.mem, mode: "system", prompt: DEFAULT_PROMPT });
        console.log(`| ${m.label} | llama.cpp (arm64, Linux guest), ${threads} thread${threads === 1 ? "" : "s"} | ${peer.n_prompt} / ${peer.n_gen} | ${fmt(peer.prefill_tok_s)} | ${fmt(peer.decode_tok_s)} | ` +
          `${peer.cpu_backend ?? ""}${peer.cpu_backend ? ", " : ""}host load ${peer.host_loadavg.toFixed(1)} |`);
        best = {
          prefill: Math.max(best?.prefill ?? 0, peer.prefill_tok_s), decode: Math.max(best?.decode ?? 0, peer.decode_tok_s),
        };
      }
      note("ratio SIS / llama.cpp at its best thread count", sis.prefill.tokS / best.prefill, sis.decode.tokS / best.decode);
    }
    if (o.repeat > 1) {
      for (const [what, rounds] of ratios) {
        const list = (i) => rounds.map((r) => fmt(r[i])).join(", ");
        console.log(`| | **${what}: median of ${rounds.length} rounds** (${list(0)} / ${list(1)}) | | ` +
          `**${fmt(median(rounds.map((r) => r[0])))}** | **${fmt(median(rounds.map((r) => r[1])))}** | |`);
      }
    }
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { process.stderr.write(`bench-qemu: ${e.message}\n`); process.exitCode = 1; });
}
