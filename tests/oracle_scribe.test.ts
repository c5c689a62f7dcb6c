// The engine against llama.cpp on the project's real model, sis-scribe-15m, in each of its
// four quantizations, with llama.cpp's default settings (tests/support/llamacpp.mjs): same
// prompt tokens, the same first-step distribution, and the same 64 greedy tokens for every
// prompt. Expectations come from llama.cpp at run time.
//
// With attention, RoPE and activation quantization as llama.cpp computes them (llm/attention.ts, llm/rope.ts,
// llm/quant/q8_act.ts) and the products (llm/quant) in the order of llama.cpp's x86 kernels,
// the engine's logits are llama.cpp's bit for bit at every step, so no divergence is tolerated:
// a run that parts from llama.cpp is a numerics bug, reported with llama.cpp's own margin at
// that step and the first step whose logits differ (tools/ref/llama-run).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { LLM } from "../tools/lib/llm.mjs";
import { Oracle, logSoftmax, compareLogProbs, compareGreedy, PINNED_MISSING } from "./support/llamacpp.mjs";
import { HAVE_SHARED, SHARED_MISSING } from "./support/gguf_fixture.mjs";
import { SCRIBE_MODELS, SCRIBE_PROMPTS } from "./support/scribe.mjs";
import { llamaRun, ggmlRefUnavailable } from "../tools/ref/ggmlref.mjs";

const MODELS = SCRIBE_MODELS;
const PROMPTS = SCRIBE_PROMPTS;
const N = 64;
/** First-step log-probabilities of tokens with p >= 1e-4 agree within this (natural log units).
 *  With equal logits what is left is node-llama-cpp's own softmax (~1e-4); a wrong RoPE, norm
 *  or head layout is off by whole nats. */
const LOGPROB_TOL = 2e-3;

const have = HAVE_SHARED && MODELS.every((m) => existsSync(m)) && !PINNED_MISSING;
const note = PINNED_MISSING ? ` (${PINNED_MISSING})` : have ? "" : ` (${SHARED_MISSING})`;
const LLAMA_RUN_MISSING = ggmlRefUnavailable();

describe.skipIf(!have)("engine vs llama.cpp on sis-scribe-15m" + note, () => {
  let llm: any;
  beforeAll(async () => { llm = await LLM.create(); });
  afterAll(() => llm?.unload());

  for (const path of MODELS) {
    const name = path.replace(/.*sis-scribe-15m-/, "").replace(".gguf", "");
    describe(name, () => {
      let oracle: any;
      beforeAll(async () => {
        expect(llm.load(path, 256)).toBe("");
        oracle = await Oracle.open(path, { contextSize: 256 });
      });
      afterAll(async () => { await oracle?.dispose(); });

      it("tokenizes every prompt as llama.cpp does", () => {
        for (const p of PROMPTS) expect(llm.tokenize(p)).toEqual(oracle.tokenize(p));
      });

      it(`first-step log-probabilities within ${LOGPROB_TOL} of llama.cpp's, same top token`, async () => {
        for (const p of PROMPTS) {
          expect(llm.begin(p, { temperature: 0, maxTokens: 1 })).toBe("");
          const c = compareLogProbs(logSoftmax(llm.logits()), await oracle.logProbs(oracle.tokenize(p)));
          expect(c.count, p).toBeGreaterThan(10);
          expect(c.maxDiff, `${p}: token ${c.worst}`).toBeLessThan(LOGPROB_TOL);
          expect(c.ourTop, p).toBe(c.refTop);
        }
      });

      for (const p of PROMPTS) {
        it(`${N} greedy tokens equal llama.cpp's after ${JSON.stringify(p)}`, async () => {
          const pt = oracle.tokenize(p);
          const ref = await oracle.greedyWithLogProbs(pt, N);
          const r = llm.generate(p, { temperature: 0, maxTokens: N });
          expect(llm.promptTokens()).toEqual(pt);
          const c = compareGreedy(r.tokens, ref, oracle.model.tokens.eos);
          if (!c.identical) {
            console.log(`${name} ${JSON.stringify(p)}: parts from llama.cpp at token ${c.at} ` +
              `(llama.cpp ${c.refToken}, engine ${c.ourToken}; llama.cpp's margin ${c.refMargin.toFixed(4)})` +
              firstLogitsDiff(llm, path, p, pt, c.at));
          }
          expect(c.identical, `parts from llama.cpp at token ${c.at}`).toBe(true);
          // the streamed bytes are llama.cpp's text for these tokens, continuing the prompt
          expect(r.text).toBe(oracle.detokenize(ref.tokens, pt));
          expect(r.end).toBe(ref.tokens.length < N ? "end of text" : "max tokens");
        });
      }

      it("the bounded output head (the kernel's default) gives the same tokens, greedy and sampled", () => {
        // Q8_0 heads (q8_0, q4_0) are computed approximately first, then the rows the sampler
        // can still choose exactly (llm/sampler.ts sampleBounded); F16 and Q4_0 heads stay exact.
        const bounded = name === "q8_0" || name === "q4_0";
        const runs: [string, object][] = [];
        for (const p of PROMPTS) runs.push([p, { temperature: 0, maxTokens: N }]);
        for (const p of PROMPTS.slice(0, 3)) runs.push([p, { temperature: 0.8, seed: 42, maxTokens: N, repeatPenalty: 1.1 }]);
        for (const [p, st] of runs) {
          llm.boundedHead = false;
          const exact = llm.generate(p, st);
          llm.boundedHead = true;
          const b = llm.generate(p, st);
          llm.boundedHead = false;
          expect(b.tokens, `${JSON.stringify(p)} ${JSON.stringify(st)}`).toEqual(exact.tokens);
          expect(exact.timings.boundedHeads).toBe(0);
          if (bounded) {
            expect(b.timings.boundedHeads, "every head bounded").toBe(b.tokens.length + (b.end === "max tokens" ? 0 : 1));
            // greedy: about one row each; top-k 40: about 40, plus the penalised ones
            expect(b.timings.exactHeadRows / b.timings.boundedHeads).toBeLessThan(st.temperature ? 200 : 4);
          } else expect(b.timings.boundedHeads).toBe(0);
        }
      });
    });
  }
});

/** For a failure message: the first step whose logits differ from llama.cpp's own (llama-run). */
function firstLogitsDiff(llm: any, path: string, p: string, pt: number[], upTo: number): string {
  if (LLAMA_RUN_MISSING) return "";
  const ref = llamaRun(path, pt, { gen: upTo, ctx: 256, threads: 1 });
  expect(llm.begin(p, { temperature: 0, maxTokens: upTo + 1 })).toBe("");
  for (let s = 0; s <= upTo; s++) {
    llm.next();
    const ours = llm.logits(), theirs = ref.logits[s];
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
    if (worst > 0) return `; logits first differ at step ${s} (max |diff| ${worst.toExponential(2)})`;
  }
  return "; logits equal up to there";
}
