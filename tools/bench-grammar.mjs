#!/usr/bin/env node
// npm run bench:grammar — the cost of structured output, SIS beside llama.cpp on the same
// emulated machine (QEMU TCG, -cpu neoverse-n1 -smp 2 -m 4G by default), in one run:
//   SIS:       `llmctl infer PROMPT --max-tokens N --temperature 0`, free and then with each
//              constraint (--json-schema-file, --json), generation tok/s from its summary line
//              (sampling and the grammar included), the median of R runs.
//   llama.cpp: its arm64 build in a Linux guest (tools/peer/run.mjs), the same prompt and N,
//              greedy, free (sampling timed: -s 1) and with the same grammar (llama.cpp's own
//              grammar sampler, in node-llama-cpp's order: -g), 1 and 2 threads; its best is
//              compared.
// Both follow the same tokens (the grammar is llama.cpp's conversion of the schema: SIS's
// converter gives the same text, tests/json_schema.test.ts) and stop at end of text.
//
//   node tools/bench-grammar.mjs [--gen N] [--runs R] [--cpu C] [--smp S] [--mem M] [--no-peer]
import { mkdirSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "./lib/asbuild.mjs";
import { LLM } from "./lib/llm.mjs";
import { mkdisk } from "./mkdisk.mjs";
import { SisMachine } from "../tests/support/qemu-serial.mjs";
import { runPeer, checkPeerSetup } from "./peer/run.mjs";

const MODEL = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const PROMPT = "And God said";
const PERSON = { type: "object", properties: { name: { type: "string", maxLength: 20 }, age: { type: "integer", minimum: 0, maximum: 150 } },
  required: ["name", "age"] };
const CONSTRAINTS = [
  { label: "JSON schema (object: name, age)", sis: "--json-schema-file /models/person.json", schema: JSON.stringify(PERSON) },
  { label: "--json (any JSON object)", sis: "--json", schema: `{"type": "object"}` },
];

function parseArgs(argv) {
  const o = { gen: 64, runs: 3, cpu: "neoverse-n1", smp: 2, mem: "4G", peer: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === "--gen") o.gen = Number(v());
    else if (a === "--runs") o.runs = Number(v());
    else if (a === "--cpu") o.cpu = v();
    else if (a === "--smp") o.smp = Number(v());
    else if (a === "--mem") o.mem = v();
    else if (a === "--no-peer") o.peer = false;
    else { process.stderr.write(`bench-grammar: unknown option ${a}\n`); process.exit(2); }
  }
  return o;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const SUMMARY = /\[(\d+) tokens?, prompt \d+ tok at [\d.-]+ tok\/s, generation ([\d.]+) tok\/s\]/;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), "sis-bench-grammar-"));
  try {
    // the grammars, as llama.cpp converts the schemas
    const host = await LLM.create();
    if (host.load(MODEL, 256)) throw new Error("cannot load the model on the host");
    const promptTokens = host.tokenize(PROMPT).length;
    const src = join(tmp, "disk");
    mkdirSync(src);
    copyFileSync(MODEL, join(src, "sis-scribe-15m-q4_0.gguf"));
    writeFileSync(join(src, "person.json"), JSON.stringify(PERSON));
    for (const c of CONSTRAINTS) {
      const e = host.setJsonSchema(c.schema);
      if (e) throw new Error(e);
      c.gbnf = join(tmp, `${c.label.replace(/\W+/g, "-")}.gbnf`);
      writeFileSync(c.gbnf, host.currentGrammarText());
    }
    const image = join(tmp, "models.img");
    mkdisk(src, image, { label: "sis-bench-grammar" });

    // SIS
    const m = await SisMachine.boot({ disk: image, cpu: o.cpu, smp: o.smp, mem: o.mem });
    const sis = {};
    try {
      await m.run("llmctl backend real");
      await m.run("llmctl load /models/sis-scribe-15m-q4_0.gguf", { timeout: 120_000 });
      const infer = async (extra) => {
        const rates = [];
        let tokens = 0;
        for (let r = 0; r < o.runs; r++) {
          const out = await m.run(`llmctl infer "${PROMPT}" --max-tokens ${o.gen} --temperature 0 ${extra}`.trim(), { timeout: 600_000 });
          const s = SUMMARY.exec(out);
          if (!s) throw new Error(`no summary line:\n${out}`);
          tokens = Number(s[1]);
          rates.push(Number(s[2]));
        }
        return { tokens, rate: median(rates) };
      };
      sis.free = await infer("");
      for (const c of CONSTRAINTS) sis[c.label] = await infer(c.sis);
    } finally {
      m.kill();
    }

    // llama.cpp
    const peer = {};
    if (o.peer) {
      checkPeerSetup("system");
      for (const t of [1, 2]) {
        const base = { model: MODEL, prompt: PROMPT, promptTokens, gen: o.gen, threads: t, cpu: o.cpu, smp: o.smp, mem: o.mem, timeSampling: true };
        const free = await runPeer(base);
        peer[`free ${t}`] = { tokens: free.n_gen, rate: free.decode_tok_s };
        for (const c of CONSTRAINTS) {
          const r = await runPeer({ ...base, grammarFile: c.gbnf });
          peer[`${c.label} ${t}`] = { tokens: r.n_gen, rate: r.decode_tok_s };
        }
      }
    }
    const best = (k) => (o.peer ? [1, 2].map((t) => peer[`${k} ${t}`]).reduce((a, b) => (b.rate > a.rate ? b : a)) : null);

    const fmt = (x) => x.toFixed(1);
    const lines = [
      `structured output, sis-scribe-15m Q4_0, prompt "${PROMPT}", greedy, at most ${o.gen} tokens; ` +
        `QEMU -cpu ${o.cpu} -smp ${o.smp} -m ${o.mem} on ${cpus().length} host cores; ${new Date().toISOString().slice(0, 16)}Z`,
      "",
      "| generation | SIS tok/s (tokens) | SIS vs its free run | llama.cpp best of 1/2 threads tok/s (tokens) | SIS / llama.cpp |",
      "| --- | --- | --- | --- | --- |",
    ];
    const row = (label, s, p) => lines.push(`| ${label} | ${fmt(s.rate)} (${s.tokens}) | ${(s.rate / sis.free.rate).toFixed(2)}x | ` +
      (p ? `${fmt(p.rate)} (${p.tokens}) | ${(s.rate / p.rate).toFixed(2)}x |` : "- | - |"));
    row("free", sis.free, best("free"));
    for (const c of CONSTRAINTS) row(c.label, sis[c.label], best(c.label));
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => { process.stderr.write(`bench-grammar: ${e.message}\n`); process.exit(1); });
