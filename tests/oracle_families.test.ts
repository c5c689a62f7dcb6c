// The model families beyond llama-2 (llm/arch) against llama.cpp's own forward pass (the
// pinned CPU build through tools/ref/llama-run, node-llama-cpp's default context settings):
// synthetic models made by `sis-llm mkmodel --arch` with the real vocabularies of ../shared
// (Llama 3's, Qwen2's, GPT-2's under SmolLM's pre-tokenizer; Gemma 3's from tools/lib/hf_vocab.mjs), in the types whose products the
// engine computes in llama.cpp's x86 order, and in the Q4_K_M mix of llama.cpp's own quantizer
// (tools/ref/llama-quantize: Q4_K and Q6_K where rows are a multiple of 256, its Q5_0 and Q8_0
// fallbacks where they are not, as in the real models' 896-wide and 1536-wide layers), and
// IQ4_NL as its quantizer writes it. For each: the prompt's tokens, the logits of every
// step bit for bit, and 32 greedy tokens, for three prompts. Every expectation comes from
// llama.cpp at run time.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { ROOT } from "../tools/lib/asbuild.mjs";
import { llamaRun, llamaRunAsync, llamaQuantize, ggmlRefUnavailable } from "../tools/ref/ggmlref.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING, withStringKey } from "./support/gguf_fixture.mjs";
import { withKey, boolArray } from "../tools/lib/gguf_edit.mjs";
import { gemma3Vocab } from "../tools/lib/hf_vocab.mjs";

const DIR = resolve(ROOT, "build", "test-models");
const CTX = 128;
const N = 32;
const PROMPTS = ["Hello world, this is", "The 3 little pigs said: \"We'll build", "Qwen2.5 和 Llama 3 的区别是"];

/** GPT-2's vocabulary under SmolLM2's pre-tokenizer name (SmolLM2's own is not in ../shared). */
function smollmVocab(): string {
  const out = join(mkdtempSync(join(tmpdir(), "sis-fam-")), "vocab-smollm.gguf");
  writeFileSync(out, withStringKey(readFileSync(join(SHARED, "vocab", "ggml-vocab-gpt-2.gguf")), "tokenizer.ggml.pre", "smollm"));
  return out;
}

// name: what it stands for. headDim: set when the heads are not dim / heads wide (Qwen3).
// ctx: the context the model is made with and run at (phi3: its LongRoPE original context is
// half the model's, so a run at 128 takes the short factors and one at 512 the long ones).
const FAMILIES: { name: string; arch: string; vocab: () => string; types: string[]; heads: number; kvHeads: number;
  headDim?: number; untied?: boolean; family: string; ctx?: [number, number] }[] = [
  { name: "llama3", arch: "llama", family: "Llama", vocab: () => join(SHARED, "vocab", "ggml-vocab-llama-bpe.gguf"),
    types: ["Q8_0", "Q4_0", "Q4_K_M"], heads: 4, kvHeads: 1, untied: true },
  { name: "smollm2", arch: "llama", family: "Llama", vocab: smollmVocab, types: ["Q8_0"], heads: 4, kvHeads: 4 },
  { name: "qwen2", arch: "qwen2", family: "Qwen2", vocab: () => join(SHARED, "vocab", "ggml-vocab-qwen2.gguf"),
    types: ["Q8_0", "Q4_0", "F16", "Q4_K_M", "IQ4_NL"], heads: 4, kvHeads: 2 },
  { name: "qwen3", arch: "qwen3", family: "Qwen3", vocab: () => join(SHARED, "vocab", "ggml-vocab-qwen2.gguf"),
    types: ["Q8_0", "Q4_0", "F16", "Q4_K_M"], heads: 4, kvHeads: 2, headDim: 64 },
  // gemma3 with a 16-token window (mkmodel: ctx/8): 32 greedy tokens run well past it
  { name: "gemma3", arch: "gemma3", family: "Gemma 3", vocab: gemma3Vocab,
    types: ["Q8_0", "Q4_0", "F16", "Q4_K_M"], heads: 4, kvHeads: 1, headDim: 64 },
  { name: "phi3 (LongRoPE short factors)", arch: "phi3", family: "Phi-3", vocab: () => join(SHARED, "vocab", "ggml-vocab-phi-3.gguf"),
    types: ["Q8_0", "Q4_0", "Q4_K_M"], heads: 4, kvHeads: 4, untied: true, ctx: [512, 128] },
  { name: "phi3 (LongRoPE long factors)", arch: "phi3", family: "Phi-3", vocab: () => join(SHARED, "vocab", "ggml-vocab-phi-3.gguf"),
    types: ["Q4_0"], heads: 4, kvHeads: 4, untied: true, ctx: [512, 512] },
];

/** The loaded model's logits at each of N + 1 steps bit for bit equal to llama-run's on the
 *  same file and prompt, and its N greedy tokens the same. */
function expectLlamaRun(llm: any, path: string, prompt: string, promptTokens: number[], ctx: number) {
  const ref = llamaRun(path, promptTokens, { gen: N, ctx, threads: 1 });
  expect(llm.begin(prompt, { temperature: 0, maxTokens: N + 1 })).toBe("");
  const ours: number[] = [];
  for (let s = 0; s <= N; s++) {
    const r = llm.next();
    const a = llm.logits(), b = ref.logits[s];
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
    expect(differ, `step ${s}: logits that differ from llama.cpp's`).toBe(0);
    if (r.token !== undefined && s < N) ours.push(r.token);
  }
  expect(ours).toEqual(ref.tokens.slice(0, N));
}

const why = ggmlRefUnavailable() || (HAVE_SHARED ? "" : SHARED_MISSING);
describe.skipIf(!!why)("model families vs llama.cpp" + (why ? ` (${why})` : ""), () => {
  let llm: any;
  beforeAll(async () => {
    llm = await LLM.create();
    mkdirSync(DIR, { recursive: true });
  });
  afterAll(() => llm?.unload());

  for (const f of FAMILIES) {
    for (const type of f.types) {
      describe(`${f.name} ${type}`, () => {
        const path = resolve(DIR, `family-${f.name.replace(/\W+/g, "-")}-${type}.gguf`);
        const [made, run] = f.ctx ?? [CTX, CTX];
        beforeAll(() => {
          const mix = type.endsWith("_M") || type.startsWith("IQ"); // made from F16 by llama.cpp's quantizer
          const source = mix ? path.replace(".gguf", "-f16.gguf") : path;
          writeFileSync(source, llm.mkmodel({ vocab: f.vocab(), arch: f.arch, dim: 128, layers: 2, heads: f.heads,
            kvHeads: f.kvHeads, headDim: f.headDim ?? 0, ff: 256, type: mix ? "F16" : type, ctx: made, seed: 7, untied: !!f.untied }));
          if (mix) llamaQuantize(source, path, type);
          expect(llm.load(path, run)).toBe("");
        });

        it("loads as its family, with its shape", () => {
          const i = llm.info();
          expect([i.arch, i.family, i.dim, i.layers, i.heads, i.kvHeads, i.headDim, i.tiedOutput])
            .toEqual([f.arch, f.family, 128, 2, f.heads, f.kvHeads, f.headDim ?? 128 / f.heads, !f.untied]);
          if (type === "Q4_K_M") expect(i.types).toMatch(/Q5_0 x\d+.*Q4_K x\d+|Q4_K x\d+.*Q5_0 x\d+/);
          if (type === "IQ4_NL") expect(i.types).toMatch(/IQ4_NL x\d+/);
        });

        for (const p of PROMPTS) {
          it(`${JSON.stringify(p)}: the logits of every step bit for bit, ${N} greedy tokens`, () => {
            const pt = llm.tokenize(p, true);
            // one thread: with fewer than 512 cells in view llama.cpp's thread count changes no
            // result (llm/attention.ts), and four threads spinning on two cores take 20x longer
            expectLlamaRun(llm, path, p, pt, run);
          });
        }
      });
    }
  }

  // llama.cpp keeps a sliding-window layer's keys and values in a cache of its own, the window
  // plus one batch rounded up to 256 cells (768 here: window 128, node-llama-cpp's batch of 512
  // plus one), position p in cell p mod 768, and attends over cells in cell order. Past 768
  // positions the window wraps around it, and the order of the sums changes: a prompt of 800
  // tokens (its second batch of 288 crosses the turn: the tiled path) and 100 tokens generated
  // after it (one at a time: the cells in four chunks, merged in order) check both.
  it("gemma3 past the turn of its window cache: a long prompt, then generation, bit for bit", async () => {
    const ctx = 1024;
    const path = resolve(DIR, "family-gemma3-ring.gguf");
    writeFileSync(path, llm.mkmodel({ vocab: join(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"), arch: "gemma3", dim: 128, layers: 2,
      heads: 4, kvHeads: 1, headDim: 64, ff: 256, type: "Q8_0", ctx, seed: 7 })); // window ctx/8 = 128
    expect(llm.load(path, ctx)).toBe("");
    const prompt = "Hello world, this is".repeat(160);
    const pt = llm.tokenize(prompt, true);
    expect(pt.length).toBeGreaterThan(768);
    const ref = await llamaRunAsync(path, pt, { gen: 100, ctx, threads: 4 }); // past 512 cells the thread count matters
    expect(llm.begin(prompt, { temperature: 0, maxTokens: 101 })).toBe("");
    const ours: number[] = [];
    for (let s = 0; s <= 100; s++) {
      if (s % 10 == 0) await new Promise((r) => setImmediate(r)); // let the test runner's messages through
      const r = llm.next();
      const a = llm.logits(), b = ref.logits[s];
      let differ = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
      expect(differ, `step ${s}: logits that differ from llama.cpp's`).toBe(0);
      if (r.token !== undefined && s < 100) ours.push(r.token);
    }
    expect(ours).toEqual(ref.tokens.slice(0, 100));
  }, 300_000);

  // Some converters write gemma3's sliding_window_pattern as per-layer flags; this llama.cpp
  // reads the key only as a number and keeps its default (every 6th layer global) for an
  // array. Flags saying "no window" here would change every logit past the 16-token window.
  it("gemma3 with sliding_window_pattern as an array: loads, and is read as llama.cpp reads it", () => {
    const base = resolve(DIR, "family-gemma3-Q8_0.gguf"); // made by the gemma3 Q8_0 tests above
    const path = resolve(DIR, "family-gemma3-pattern-array.gguf");
    writeFileSync(path, withKey(readFileSync(base), "gemma3.attention.sliding_window_pattern", 9, boolArray([false, false])));
    expect(llm.load(path, CTX)).toBe("");
    expectLlamaRun(llm, path, PROMPTS[0], llm.tokenize(PROMPTS[0], true), CTX);
  });
});
