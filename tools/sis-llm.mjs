#!/usr/bin/env node
// sis-llm: the SIS LLM engine on the host (the same WebAssembly the kernel runs).
//
//   sis-llm run -m FILE (-p PROMPT | -f FILE) [-n N] [--temp T] [--top-k K] [--top-p P]
//               [--min-p M] [--repeat-penalty R] [--repeat-last-n N] [-s|--seed S] [-c|--ctx N] [--json]
//               [--grammar GBNF | --grammar-file FILE | -j|--json-schema SCHEMA | --json-schema-file FILE]
//   sis-llm tokenize -m FILE -p TEXT
//   sis-llm info -m FILE
//   sis-llm mkmodel OUT --dim D --layers L --heads H [--kv-heads KV] [--head-dim HD] --ff F --vocab-from FILE
//               [--arch llama|qwen2|qwen3|phi3|gemma3] [--type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q4_K|Q5_K|Q6_K]
//               [--ctx N] [--seed S] [--untied]
//   sis-llm mkmodel OUT --shape qwen2.5-0.5b|qwen3-0.6b|llama-3.2-1b|smollm2-135m|phi-3.5-mini|gemma-3-270m [--type T] [--seed S]
//               (a real model's shape, tools/lib/shapes.mjs; the vocabulary from ../shared/vocab)
//   sis-llm quantize IN OUT TYPE [--pure] [--output-type TYPE]
//
// `run` writes only the generated text to stdout, as it is generated; diagnostics and the
// summary go to stderr. Ctrl-C stops generation between two tokens.
import { openSync, writeSync, closeSync, readFileSync } from "node:fs";
import { LLM } from "./lib/llm.mjs";
import { SHAPES, shapeOptions, shapeVocab } from "./lib/shapes.mjs";

const USAGE = `usage:
  sis-llm run -m FILE (-p PROMPT | -f FILE) [-n N] [--temp T] [--top-k K] [--top-p P]
              [--min-p M] [--repeat-penalty R] [--repeat-last-n N] [-s|--seed S] [-c|--ctx N] [--json]
              [--grammar GBNF | --grammar-file FILE | -j|--json-schema SCHEMA | --json-schema-file FILE]
  sis-llm tokenize -m FILE -p TEXT
  sis-llm info -m FILE
  sis-llm mkmodel OUT --dim D --layers L --heads H [--kv-heads KV] [--head-dim HD] --ff F --vocab-from FILE
              [--arch llama|qwen2|qwen3|phi3|gemma3] [--type TYPE] [--ctx N] [--seed S] [--untied]
  sis-llm mkmodel OUT --shape NAME [--vocab-from FILE] [--type TYPE] [--seed S]
              NAME: ${Object.keys(SHAPES).join(", ")}
  sis-llm quantize IN OUT TYPE [--pure] [--output-type TYPE]`;

const SETTINGS_HELP = `run's settings (the kernel's llmctl checks the same ones; defaults as llama.cpp's, but -n):
  -n, --n-predict N   tokens to generate at most (default 128; -1: until end of text or a full context)
  --temp T            temperature, 0 = greedy (default 0.8)
  --top-k K           (default 40, 0 = off)     --top-p P   (default 0.95, 1 = off)
  --min-p M           (default 0.05, 0 = off)   --repeat-penalty R (default 1.0 = off)
  --repeat-last-n N   tokens the penalty looks at (default 64)
  -s, --seed S        sampler seed (default: from the clock)
  -c, --ctx-size N    context size (default: the model's)
  --grammar GBNF      constrain the output by a GBNF grammar (llama.cpp's format; rule root)
  --grammar-file FILE the same, from a file
  -j, --json-schema SCHEMA   constrain the output by a JSON schema (converted as llama.cpp does)
  --json-schema-file FILE    the same, from a file
  --json              write the text, tokens and timings as one JSON object (not a constraint)`;

class UsageError extends Error {}

// Options: name -> [key, kind]; kind "string" | "int" | "flag", or "setting": a generation
// setting, kept as typed and checked by the engine (llm/settings.ts, as the kernel checks
// llmctl's), key being its llm/settings.ts name. llama.cpp's flag names.
const OPTIONS = {
  "-m": ["model", "string"], "--model": ["model", "string"],
  "-p": ["prompt", "string"], "--prompt": ["prompt", "string"],
  "-n": ["max-tokens", "setting"], "--n-predict": ["max-tokens", "setting"],
  "--temp": ["temperature", "setting"], "--top-k": ["top-k", "setting"], "--top-p": ["top-p", "setting"],
  "--min-p": ["min-p", "setting"], "--repeat-penalty": ["repeat-penalty", "setting"],
  "--repeat-last-n": ["repeat-last-n", "setting"], "--seed": ["seed", "setting"], "-s": ["seed", "setting"],
  "--ctx": ["ctx", "int"], "-c": ["ctx", "int"], "--ctx-size": ["ctx", "int"],
  "-f": ["promptFile", "string"], "--file": ["promptFile", "string"],
  "--json": ["json", "flag"],
  "--grammar": ["grammar", "string"], "--grammar-file": ["grammarFile", "string"],
  "-j": ["jsonSchema", "string"], "--json-schema": ["jsonSchema", "string"], "--json-schema-file": ["jsonSchemaFile", "string"],
  "--dim": ["dim", "int"], "--layers": ["layers", "int"], "--heads": ["heads", "int"], "--kv-heads": ["kvHeads", "int"],
  "--head-dim": ["headDim", "int"], "--arch": ["arch", "string"], "--shape": ["shape", "string"],
  "--ff": ["ff", "int"], "--vocab-from": ["vocab", "string"], "--type": ["type", "string"], "--untied": ["untied", "flag"],
  "--pure": ["pure", "flag"], "--output-type": ["outputType", "string"],
};

export function parseArgs(argv) {
  const opts = { settings: [] }, positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const spec = OPTIONS[a];
    if (!spec) {
      if (a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) throw new UsageError(`unknown option ${a}`);
      positional.push(a);
      continue;
    }
    const [key, kind] = spec;
    if (kind === "flag") { opts[key] = true; continue; }
    if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
    const v = argv[++i];
    if (kind === "setting") opts.settings.push({ flag: a, key, value: v });
    else if (kind === "int") {
      if (!/^-?\d+$/.test(v)) throw new UsageError(`${a} needs an integer, not '${v}'`);
      opts[key] = Number(v);
    } else opts[key] = v;
  }
  return { opts, positional };
}

function readPrompt(path) {
  try { return readFileSync(path, "utf8"); } catch (e) { throw new Error(`cannot read the prompt file ${path}: ${e.code === "ENOENT" ? "no such file" : e.message}`); }
}

function need(opts, key, flag) {
  if (opts[key] === undefined) throw new UsageError(`missing ${flag}`);
  return opts[key];
}

async function engineWith(model, ctx = 0) {
  const llm = await LLM.create();
  const err = llm.load(model, ctx);
  if (err) throw new Error(`${model}: ${err}`);
  return llm;
}

const rate = (n, ns) => (ns > 0 ? (n * 1e9) / ns : 0);

async function run(opts) {
  const model = need(opts, "model", "-m FILE");
  if (opts.prompt !== undefined && opts.promptFile !== undefined) throw new UsageError("give the prompt with -p or -f, not both");
  const prompt = opts.promptFile !== undefined ? readPrompt(opts.promptFile) : need(opts, "prompt", "-p PROMPT");
  const constraints = ["grammar", "grammarFile", "jsonSchema", "jsonSchemaFile"].filter((k) => opts[k] !== undefined);
  if (constraints.length > 1) throw new UsageError("give one of --grammar, --grammar-file, --json-schema and --json-schema-file");
  const readText = (path, what) => {
    try { return readFileSync(path, "utf8"); } catch (e) { throw new Error(`cannot read the ${what} file ${path}: ${e.code === "ENOENT" ? "no such file" : e.message}`); }
  };
  const grammar = opts.grammarFile !== undefined ? readText(opts.grammarFile, "grammar") : opts.grammar;
  const schema = opts.jsonSchemaFile !== undefined ? readText(opts.jsonSchemaFile, "JSON schema") : opts.jsonSchema;
  const llm = await engineWith(model, opts.ctx ?? 0);
  const bad = llm.applySettings(opts.settings.map((s) => [s.key, s.value]));
  if (bad) throw new UsageError(`${opts.settings[bad.index].flag}: ${bad.message}`);
  if (grammar !== undefined) llm.setGrammar(grammar);
  if (schema !== undefined) {
    const e = llm.setJsonSchema(schema);
    if (e) throw new Error(`JSON schema: ${e}`);
  }
  const err = llm.start(prompt);
  if (err) throw new Error(err);

  let stop = false;
  const onInt = () => { stop = true; };
  process.on("SIGINT", onInt);
  const tokens = [], pieces = [];
  let end = "interrupted";
  for (;;) {
    if (stop) break;
    const r = llm.next();
    if (r.bytes.length) {
      pieces.push(r.bytes);
      if (!opts.json) process.stdout.write(r.bytes);
    }
    if (r.token === undefined) { end = r.end; break; }
    tokens.push(r.token);
    await new Promise((res) => setImmediate(res)); // lets Ctrl-C in between tokens
  }
  process.off("SIGINT", onInt);
  const t = llm.timings();
  const summary = {
    promptTokens: t.promptTokens, generatedTokens: tokens.length, end,
    prefillTokPerSec: rate(t.promptTokens, t.prefillNs),
    decodeTokPerSec: rate(tokens.length, t.decodeNs + t.samplingNs + t.detokenizeNs),
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify({
      text: Buffer.concat(pieces).toString("utf8"), tokens, promptTokenIds: llm.promptTokens(), ...summary, timings: t,
    }) + "\n");
  } else {
    process.stdout.write("\n");
    process.stderr.write(`sis-llm: prompt ${t.promptTokens} tokens, ${summary.prefillTokPerSec.toFixed(1)} tok/s; ` +
      `generated ${tokens.length} tokens, ${summary.decodeTokPerSec.toFixed(1)} tok/s; stop: ${end}\n`);
  }
  llm.unload();
}

async function tokenize(opts) {
  const llm = await engineWith(need(opts, "model", "-m FILE"));
  process.stdout.write(JSON.stringify(llm.tokenize(need(opts, "prompt", "-p TEXT"))) + "\n");
}

async function info(opts) {
  const llm = await engineWith(need(opts, "model", "-m FILE"));
  const i = llm.info();
  if (opts.json) { process.stdout.write(JSON.stringify(i) + "\n"); return; }
  const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
  // as the kernel's llmctl info shows memory: whole 64 KiB pages (its region allocator's unit)
  const pages = (b) => Math.ceil(b / 65536) * 65536;
  const size = (b) => (b < 1048576 ? `${(b / 1024).toFixed(1)} KiB` : mib(b));
  const model = pages(i.fileBytes), kv = pages(i.kvBytes), scratch = pages(i.scratchBytes);
  const lines = [
    ["name", i.name || "(none)"], ["architecture", `${i.arch} (the ${i.family} family)`], ["layers", i.layers], ["embedding", i.dim],
    ["heads", `${i.heads} (kv ${i.kvHeads}, head size ${i.headDim})`], ["feed-forward", i.ffDim], ["vocabulary", `${i.vocab} (${i.tokenizer}, bos ${i.bos}, eos ${i.eos})`],
    ["context", `${i.context} (trained ${i.contextTrain})`], ["rope base", i.ropeBase], ["rms eps", Number(i.normEps.toPrecision(7))],
    ["output head", i.tiedOutput ? "tied to token_embd" : "output.weight"], ["quantization", `${i.quantization} (${i.types})`],
    ["parameters", `${(i.params / 1e6).toFixed(2)} M`], ["file", `${mib(i.fileBytes)} (${i.fileBytes} B)`], ["weights", mib(i.weightBytes)],
    ["memory", `${size(model + kv + scratch)} (model ${size(model)}, KV cache ${size(kv)}, scratch ${size(scratch)}), as llmctl info counts it`],
  ];
  for (const [k, v] of lines) process.stdout.write(`${k.padEnd(13)} ${v}\n`);
}

/** Writes bytes to path in pieces: one write call takes at most 2 GiB, and a TinyLlama-sized
 *  F16 file is more. */
function writeFile(path, bytes) {
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
  } finally { closeSync(fd); }
}

async function mkmodel(opts, positional) {
  const out = positional[0];
  if (!out) throw new UsageError("mkmodel needs an output file");
  const llm = await LLM.create();
  if (opts.shape) {
    if (!SHAPES[opts.shape]) throw new UsageError(`unknown shape '${opts.shape}' (known: ${Object.keys(SHAPES).join(", ")})`);
    const n = llm.mkmodel({ vocab: opts.vocab ?? shapeVocab(opts.shape), ...shapeOptions(opts.shape, opts.type ?? "F16", opts.seed ?? 1n), toFile: out });
    process.stderr.write(`sis-llm: wrote ${out} (${SHAPES[opts.shape].title} shape, ${n} bytes)\n`);
    return;
  }
  const bytes = llm.mkmodel({
    vocab: need(opts, "vocab", "--vocab-from FILE"), dim: need(opts, "dim", "--dim D"), layers: need(opts, "layers", "--layers L"),
    heads: need(opts, "heads", "--heads H"), kvHeads: opts.kvHeads, headDim: opts.headDim ?? 0, arch: opts.arch ?? "llama",
    ff: need(opts, "ff", "--ff F"), type: opts.type ?? "F32",
    ctx: opts.ctx ?? 256, seed: opts.seed ?? 1n, untied: !!opts.untied,
  });
  writeFile(out, bytes);
  process.stderr.write(`sis-llm: wrote ${out} (${bytes.length} bytes)\n`);
}

async function quantize(opts, positional) {
  const [input, out, type] = positional;
  if (!input || !out || !type) throw new UsageError("quantize needs IN OUT TYPE");
  const llm = await LLM.create();
  const bytes = llm.quantize(input, type, { pure: !!opts.pure, outputType: opts.outputType ?? null });
  writeFile(out, bytes);
  process.stderr.write(`sis-llm: wrote ${out} (${bytes.length} bytes)\n`);
}

const COMMANDS = { run, tokenize, info, mkmodel, quantize };

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "-h" || cmd === "--help" || cmd === "help") { process.stdout.write(USAGE + "\n"); return 0; }
  const fn = COMMANDS[cmd];
  if (!fn) throw new UsageError(`unknown command '${cmd}'`);
  if (rest.includes("-h") || rest.includes("--help")) { process.stdout.write(USAGE + "\n" + SETTINGS_HELP + "\n"); return 0; }
  const { opts, positional } = parseArgs(rest);
  await fn(opts, positional);
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(`sis-llm: ${e.message}\n`);
  if (e instanceof UsageError) process.stderr.write(USAGE + "\n");
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
