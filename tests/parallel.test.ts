// Splitting the engine's work across cores never changes a bit (kernel/parallel.ts): every
// job of a forward pass (matrix products by rows, attention by heads, the output head) is
// split here as 2, 3, 4 and 7 cores would split it, the pieces run on this one thread out of
// order with each core's own working memory, and the logits and tokens must equal those of
// the unsplit run exactly. The kernel runs the same code on real cores (tests/e2e/smp).
import { describe, it, expect, beforeAll } from "vitest";
import { resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { ROOT } from "../tools/lib/asbuild.mjs";

const SCRIBE = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const SPLITS = [2, 3, 4, 7];
/** 64 or more prompt tokens take llama.cpp's tiled attention path; a short one the other. */
const LONG = "And God said, Let there be light: and there was light. And God saw the light, that it was good: " +
  "and God divided the light from the darkness. And God called the light Day, and the darkness he called Night. " +
  "And the evening and the morning were the first day. And God said, Let there be a firmament in the midst of the waters.";
const SHORT = "In the beginning";

let llm: LLM;
beforeAll(async () => { llm = await LLM.create(); }, 120_000);

/** Greedy and seeded sampled runs of a loaded model: every step's logits and the tokens. */
function runs(bounded: boolean) {
  llm.x.setBoundedHead(bounded);
  const out: { tokens: number[]; logits: Buffer[] }[] = [];
  for (const [prompt, settings] of [
    [LONG, { temperature: 0, maxTokens: 6 }],
    [SHORT, { temperature: 0, maxTokens: 6 }],
    [SHORT, { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, seed: 77, maxTokens: 6 }],
  ] as const) {
    const err = llm.begin(prompt, settings);
    expect(err).toBe("");
    const r = { tokens: [] as number[], logits: [] as Buffer[] };
    for (;;) {
      const t = llm.next();
      if (t.end) break;
      r.tokens.push(t.token);
      r.logits.push(Buffer.from(llm.logits().buffer));
    }
    out.push(r);
  }
  return out;
}

function expectSameRuns(model: Buffer | string, label: string) {
  llm.simulateCores(0);
  expect(llm.load(model)).toBe("");
  expect(llm.tokenize(LONG).length).toBeGreaterThanOrEqual(64);
  const want = [runs(true), runs(false)];
  llm.unload();
  expect(want[0][0].tokens.length).toBe(6);
  for (const n of SPLITS) {
    llm.simulateCores(n);
    try {
      expect(llm.load(model)).toBe("");
      const got = [runs(true), runs(false)];
      llm.unload();
      for (let h = 0; h < 2; h++) {
        for (let r = 0; r < want[h].length; r++) {
          const where = `${label}, ${n} cores, ${h ? "exact" : "bounded"} head, run ${r}`;
          expect(got[h][r].tokens, where).toEqual(want[h][r].tokens);
          for (let i = 0; i < want[h][r].logits.length; i++) {
            expect(got[h][r].logits[i].equals(want[h][r].logits[i]), `${where}, step ${i}: logits differ`).toBe(true);
          }
        }
      }
    } finally { llm.simulateCores(0); }
  }
}

describe("the same bits on any number of cores", () => {
  it("sis-scribe-15m Q4_0 (Q8_0 head)", () => {
    expectSameRuns(SCRIBE, "sis-scribe-15m-q4_0");
  }, 300_000);

  for (const type of ["F16", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]) {
    it(`a random ${type} model with sis-scribe's vocabulary (head size 64, grouped-query)`, () => {
      const model = llm.mkmodel({ vocab: SCRIBE, dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 512, type, ctx: 256, seed: 5 });
      expectSameRuns(model, type);
    }, 300_000);
  }
});
