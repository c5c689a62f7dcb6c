// The engine against llama.cpp on the project's real model, sis-scribe-15m, in each of its
// four quantizations: same prompt tokens, same first-step distribution, and the same 64
// greedy tokens for several prompts. Expectations come from llama.cpp at run time.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { Oracle, logSoftmax, compareLogProbs, compareGreedy } from "./support/llamacpp.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING } from "./support/gguf_fixture.mjs";

const MODELS = ["f16", "q8_0", "q4_0", "q4_0-pure"].map((q) => resolve(SHARED, "models", `sis-scribe-15m-${q}.gguf`));
const PROMPTS = [
  "And God said",
  "In the beginning",
  "ROMEO:\nWhat light through yonder window breaks?",
  "Thou shalt not",
  "The king said unto his servants, Go ye",
];
const N = 64;
/** First-step log-probabilities of tokens with p >= 1e-4 agree within this (natural log units). */
const LOGPROB_TOL = 0.1;
/** ...and typically (median over those tokens) within this. A wrong RoPE, norm or head
 *  layout is off by whole nats; an int8 activation that rounds the other way than in
 *  llama.cpp's AVX2 kernels moves a few hundredths. */
const LOGPROB_MEDIAN_TOL = 0.03;
/** A divergence is only accepted where llama.cpp's own margin between its token and ours is
 *  below this (nats). For scale: llama.cpp's own log-probabilities for the same text differ
 *  by up to 0.07-0.09 between its prompt-batch and token-by-token paths on this model. */
const NEAR_TIE = 0.05;
/** Prompts giving 64 identical tokens: at least this many per model, and 80% overall. */
const MIN_IDENTICAL = 3;
const MIN_IDENTICAL_SHARE = 0.8;
const identicalRuns: string[] = [];

const have = HAVE_SHARED && MODELS.every((m) => existsSync(m));
const note = have ? "" : ` (${SHARED_MISSING})`;

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

      it(`first-step log-probabilities within ${LOGPROB_TOL} (median ${LOGPROB_MEDIAN_TOL}) of llama.cpp's`, async () => {
        for (const p of PROMPTS) {
          expect(llm.begin(p, { temperature: 0, maxTokens: 1 })).toBe("");
          const c = compareLogProbs(logSoftmax(llm.logits()), await oracle.logProbs(oracle.tokenize(p)));
          expect(c.count, p).toBeGreaterThan(10);
          expect(c.maxDiff, `${p}: token ${c.worst}`).toBeLessThan(LOGPROB_TOL);
          expect(c.medianDiff, p).toBeLessThan(LOGPROB_MEDIAN_TOL);
          if (c.refMargin > NEAR_TIE) expect(c.ourTop, p).toBe(c.refTop);
        }
      });

      const identical: string[] = [];
      for (const p of PROMPTS) {
        it(`${N} greedy tokens equal llama.cpp's after ${JSON.stringify(p)} (or part only at a near tie)`, async () => {
          const pt = oracle.tokenize(p);
          const ref = await oracle.greedyWithLogProbs(pt, N);
          const r = llm.generate(p, { temperature: 0, maxTokens: N });
          expect(llm.promptTokens()).toEqual(pt);
          const c = compareGreedy(r.tokens, ref, oracle.model.tokens.eos);
          if (c.identical) {
            identical.push(p);
            identicalRuns.push(`${name} ${p}`);
            // the streamed bytes are llama.cpp's text for these tokens, continuing the prompt
            expect(r.text).toBe(oracle.detokenize(ref.tokens, pt));
            expect(r.end).toBe(ref.tokens.length < N ? "end of text" : "max tokens");
          } else {
            console.log(`${name} ${JSON.stringify(p)}: parts from llama.cpp at token ${c.at} ` +
              `(llama.cpp ${c.refToken}, engine ${c.ourToken}; llama.cpp's margin ${c.refMargin.toFixed(4)})`);
            expect(c.refMargin, `not a near tie at token ${c.at}`).toBeLessThan(NEAR_TIE);
          }
        });
      }
      it(`at least ${MIN_IDENTICAL} of ${PROMPTS.length} prompts give ${N} identical tokens`, () => {
        expect(identical.length).toBeGreaterThanOrEqual(MIN_IDENTICAL);
      });
    });
  }

  it(`${MIN_IDENTICAL_SHARE * 100}% of all (model, prompt) runs give ${N} identical tokens`, () => {
    console.log(`identical: ${identicalRuns.length} of ${MODELS.length * PROMPTS.length}`);
    expect(identicalRuns.length).toBeGreaterThanOrEqual(Math.ceil(MIN_IDENTICAL_SHARE * MODELS.length * PROMPTS.length));
  });
});
