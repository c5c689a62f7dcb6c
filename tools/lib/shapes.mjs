// The shapes of the real models people run, for test and benchmark models with seeded random
// weights (`sis-llm mkmodel --shape NAME`): each preset is the published model's family,
// dimensions, context, RoPE base and norm epsilon (its config.json), with the vocabulary in
// ../shared/vocab that has its tokenizer (Gemma 3's: made from its tokenizer.json by
// tools/lib/hf_vocab.mjs, on first use). The text such a model writes is nonsense; its
// memory, speed and code paths are the real model's.
//
// ensureShapedModel() makes one once, quantized by llama.cpp's own quantizer the way a user's
// download is (tools/ref/llama-quantize), and caches it in build/bench/.
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT } from "./asbuild.mjs";
import { withStringKey } from "./gguf_edit.mjs";
import { gemma3Vocab } from "./hf_vocab.mjs";

export const SHARED = resolve(ROOT, "../shared");
const BENCH_DIR = resolve(ROOT, "build", "bench");

const vocab = (name) => resolve(SHARED, "vocab", `ggml-vocab-${name}.gguf`);

export const SHAPES = {
  "qwen2.5-0.5b": { title: "Qwen2.5-0.5B", arch: "qwen2", dim: 896, layers: 24, heads: 14, kvHeads: 2, ff: 4864, ctx: 32768,
    ropeBase: 1000000, normEps: 1e-6, vocab: vocab("qwen2") },
  "qwen3-0.6b": { title: "Qwen3-0.6B", arch: "qwen3", dim: 1024, layers: 28, heads: 16, kvHeads: 8, headDim: 128, ff: 3072,
    ctx: 40960, ropeBase: 1000000, normEps: 1e-6, vocab: vocab("qwen2") },
  "llama-3.2-1b": { title: "Llama-3.2-1B", arch: "llama", dim: 2048, layers: 16, heads: 32, kvHeads: 8, ff: 8192, ctx: 131072,
    ropeBase: 500000, normEps: 1e-5, llama3Rope: true, vocab: vocab("llama-bpe") },
  // 3.8 B parameters: its F16 (7.6 GB) does not fit in the host engine's 4 GiB, so the preset is
  // written as Q4_0 by mkmodel itself (`direct`), every matrix Q4_0
  "phi-3.5-mini": { title: "Phi-3.5-mini", arch: "phi3", dim: 3072, layers: 32, heads: 32, kvHeads: 32, ff: 8192, ctx: 131072,
    ropeBase: 10000, normEps: 1e-5, untied: true, vocab: vocab("phi-3"), direct: "Q4_0" },
  // Gemma 3's own 262144-token vocabulary (an embedding of 168 M parameters); window 512 on 5
  // of every 6 layers
  "gemma-3-270m": { title: "Gemma-3-270M", arch: "gemma3", dim: 640, layers: 18, heads: 4, kvHeads: 1, headDim: 256, ff: 2048,
    ctx: 32768, ropeBase: 1000000, normEps: 1e-6, vocab: gemma3Vocab },
  // SmolLM2's own 49152-token vocabulary is not in ../shared: GPT-2's under its pre-tokenizer
  "smollm2-135m": { title: "SmolLM2-135M", arch: "llama", dim: 576, layers: 30, heads: 9, kvHeads: 3, ff: 1536, ctx: 8192,
    ropeBase: 100000, normEps: 1e-5, vocab: vocab("gpt-2"), pre: "smollm" },
};

/** mkmodel's options for a preset (every matrix of `type`, the head tied as in the real model). */
export function shapeOptions(name, type = "F16", seed = 1) {
  const s = SHAPES[name];
  if (!s) throw new Error(`unknown shape '${name}' (known: ${Object.keys(SHAPES).join(", ")})`);
  const { title: _t, vocab: _v, pre: _p, direct: _d, untied = false, ...dims } = s;
  return { ...dims, type, seed, untied };
}

/** The preset's vocabulary file (GPT-2's is renamed to the preset's pre-tokenizer in build/;
 *  Gemma 3's is made on first use). */
export function shapeVocab(name) {
  const s = SHAPES[name];
  if (typeof s.vocab === "function") return s.vocab();
  if (!existsSync(s.vocab)) throw new Error(`${s.vocab} is missing (the vocabularies live in ../shared/vocab)`);
  if (!s.pre) return s.vocab;
  mkdirSync(BENCH_DIR, { recursive: true });
  const out = join(BENCH_DIR, `vocab-${s.pre}.gguf`);
  if (!existsSync(out)) writeFileSync(out, withStringKey(readFileSync(s.vocab), "tokenizer.ggml.pre", s.pre));
  return out;
}

/**
 * build/bench/NAME-FTYPE.gguf: the preset with seeded random weights, made as F16 and then
 * quantized to `ftype` ("Q4_0", "Q4_K_M", ...) by llama.cpp's own quantizer (a preset too large
 * for that is written in its `direct` type by mkmodel, which must be `ftype`). Made once.
 */
export async function ensureShapedModel(name, ftype) {
  const direct = SHAPES[name]?.direct;
  if (direct && direct !== ftype) throw new Error(`${name} is made only as ${direct}`);
  const path = join(BENCH_DIR, `${name}-${ftype.toLowerCase()}.gguf`);
  // made again when a vocabulary made here (Gemma 3's, tools/lib/hf_vocab.mjs) is newer
  const made = typeof SHAPES[name]?.vocab === "function";
  if (existsSync(path) && (!made || statSync(path).mtimeMs >= statSync(shapeVocab(name)).mtimeMs)) return path;
  const { LLM } = await import("./llm.mjs");
  const { llamaQuantize } = await import("../ref/ggmlref.mjs");
  mkdirSync(BENCH_DIR, { recursive: true });
  process.stderr.write(`making ${path} (once)\n`);
  const f16 = path + ".f16.tmp";
  const llm = await LLM.create();
  if (direct) {
    llm.mkmodel({ vocab: shapeVocab(name), ...shapeOptions(name, direct), toFile: path + ".tmp" });
    renameSync(path + ".tmp", path);
    return path;
  }
  llm.mkmodel({ vocab: shapeVocab(name), ...shapeOptions(name, "F16"), toFile: f16 });
  try {
    llamaQuantize(f16, path + ".tmp", ftype);
  } finally { rmSync(f16, { force: true }); }
  renameSync(path + ".tmp", path);
  return path;
}
