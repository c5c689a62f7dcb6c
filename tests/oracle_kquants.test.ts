// The engine's logits against llama.cpp's own, bit for bit, on synthetic models whose matrices
// are K-quants (made by `sis-llm mkmodel`, seeded random weights, the Llama-2 vocabulary from
// ../shared), and on one with TinyLlama-1.1B Q4_0's mix: Q4_0 matrices and a Q6_K output head.
// llama.cpp runs through tools/ref/llama-run (libllama with node-llama-cpp's default context
// settings, as tests/support/llamacpp.mjs): the prompt as one batch, then one token at a time.
//
// The K-quant products follow llama.cpp's x86 kernels (llm/quant/q4_k.ts, q5_k.ts, q6_k.ts:
// ggml_vec_dot_q{4,5,6}_K_q8_K for AVX2, and for Q4_K matrices with a multiple of 8 rows, which
// are all of these, the repacked gemm for groups of 4 prompt tokens and gemv for the rest), so
// no difference is tolerated at any step. tests/oracle_synthetic compares the same kind of
// models through node-llama-cpp's probabilities with tolerances.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { ROOT } from "../tools/lib/asbuild.mjs";
import { llamaRun, ggmlRefUnavailable } from "../tools/ref/ggmlref.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING } from "./support/gguf_fixture.mjs";

const VOCAB = resolve(SHARED, "vocab", "ggml-vocab-llama-spm.gguf");
const DIR = resolve(ROOT, "build", "test-models");
const CTX = 128;
const N = 24;
const PROMPTS = ["Hello world, this is", "Once upon a time there was a"];
const LLAMA_RUN_MISSING = ggmlRefUnavailable();

// (file names of their own: tests/oracle_synthetic writes its models next to these, in parallel)
const MODELS: { name: string; dim: number; layers: number; heads: number; kvHeads: number; ff: number; type: string; untied?: boolean; outputType?: string }[] = [
  { name: "exact-q4_k-gqa4-untied", dim: 256, layers: 2, heads: 8, kvHeads: 2, ff: 512, type: "Q4_K", untied: true },
  { name: "exact-q5_k-gqa4", dim: 256, layers: 2, heads: 8, kvHeads: 2, ff: 512, type: "Q5_K" },
  { name: "exact-q6_k-gqa2-untied", dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 768, type: "Q6_K", untied: true },
  { name: "exact-q4_0-q6_k-output", dim: 256, layers: 2, heads: 8, kvHeads: 4, ff: 512, type: "Q4_0", untied: true, outputType: "Q6_K" },
];

const why = !HAVE_SHARED ? SHARED_MISSING : LLAMA_RUN_MISSING ? `skipped: ${LLAMA_RUN_MISSING}` : "";
describe.skipIf(!!why)("engine logits vs llama.cpp's on K-quant models, bit for bit" + (why ? ` (${why})` : ""), () => {
  let llm: any;
  beforeAll(async () => {
    llm = await LLM.create();
    mkdirSync(DIR, { recursive: true });
  });
  afterAll(() => llm?.unload());

  for (const spec of MODELS) {
    describe(spec.name, () => {
      const path = resolve(DIR, `${spec.name}.gguf`);
      beforeAll(() => {
        const { name: _, outputType, type, ...shape } = spec;
        let bytes = llm.mkmodel({ vocab: VOCAB, seed: 11, ctx: CTX, ...shape, type: outputType ? "F32" : type });
        if (outputType) bytes = llm.quantize(bytes, type, { outputType });
        writeFileSync(path, bytes);
        expect(llm.load(path, CTX)).toBe("");
        expect(llm.info().quantization.startsWith(type)).toBe(true);
      });

      for (const p of PROMPTS) {
        it(`${JSON.stringify(p)}: the prompt's and ${N} greedy steps' logits equal llama.cpp's`, () => {
          expect(llm.load(path, CTX)).toBe("");
          expect(llm.begin(p, { temperature: 0, maxTokens: N + 1 })).toBe("");
          const ref = llamaRun(path, llm.promptTokens(), { gen: N, ctx: CTX, threads: 1 });
          for (let s = 0; s < ref.logits.length; s++) {
            const r = llm.next();
            const ours = llm.logits(), theirs = ref.logits[s];
            expect(ours.length).toBe(theirs.length);
            let diff = -1, worst = 0;
            for (let i = 0; i < ours.length; i++) {
              if (!Object.is(ours[i], theirs[i])) { if (diff < 0) diff = i; worst = Math.max(worst, Math.abs(ours[i] - theirs[i])); }
            }
            expect(diff, `step ${s}: logit ${diff} ours ${ours[diff]} llama.cpp ${theirs[diff]} (max |diff| ${worst})`).toBe(-1);
            if (s < ref.tokens.length) expect(r.token, `step ${s}`).toBe(ref.tokens[s]);
          }
        });
      }
    });
  }
});
