// llm/sampler.ts: llama.cpp's sampler semantics (greedy, repetition penalty, top-k, top-p,
// min-p, temperature) and a seeded generator, checked on small hand-made distributions.
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";

let x: any;
beforeAll(async () => { x = (await instantiate(await compile("tests/wasm/engine_sampler.ts"))).exports; });

type S = { temperature?: number; topK?: number; topP?: number; minP?: number; repeatPenalty?: number; repeatLastN?: number; seed?: bigint };
function setup(logits: number[], s: S = {}, history: number[] = []) {
  x.setup(logits.length, s.temperature ?? 0, s.topK ?? 0, s.topP ?? 1, s.minP ?? 0, s.repeatPenalty ?? 1, s.repeatLastN ?? 64, s.seed ?? 1n);
  logits.forEach((v, i) => x.setLogit(i, v));
  for (const t of history) x.accept(t);
}
/** Counts of each token over n draws (the generator runs on between draws). */
function histogram(n: number, size: number) {
  const h = new Array(size).fill(0);
  for (let i = 0; i < n; i++) h[x.sample()]++;
  return h;
}
const softmax = (l: number[], t = 1) => { const m = Math.max(...l); const e = l.map((v) => Math.exp((v - m) / t)); const s = e.reduce((a, b) => a + b); return e.map((v) => v / s); };

describe("sampler", () => {
  it("is greedy at temperature 0: the first maximum, whatever the seed", () => {
    setup([0.5, 2, -1, 2, 1.5], { temperature: 0, seed: 5n });
    expect(x.sample()).toBe(1);
    setup([0.5, 2, -1, 2, 1.5], { temperature: -1, seed: 9n, topK: 3 });
    expect(x.sample()).toBe(1);
  });

  it("repetition penalty divides positive logits and multiplies negative ones (llama.cpp)", () => {
    setup([3, 2.5], { repeatPenalty: 1.5 }, [0]);        // 3/1.5 = 2 < 2.5
    expect(x.sample()).toBe(1);
    setup([-1, -1.2], { repeatPenalty: 1.5 }, [0]);      // -1*1.5 = -1.5 < -1.2
    expect(x.sample()).toBe(1);
    setup([3, 2.5], { repeatPenalty: 1.1 }, [0]);        // 3/1.1 = 2.73 > 2.5
    expect(x.sample()).toBe(0);
    setup([3, 2.5], { repeatPenalty: 1.5 }, [0, 0, 0]);  // once per distinct token, not per occurrence
    expect(x.sample()).toBe(1);
    setup([3, 2.1], { repeatPenalty: 1.4 }, [0, 0, 0]);  // 3/1.4 = 2.14 > 2.1: penalised once only
    expect(x.sample()).toBe(0);
  });

  it("penalises only the last N tokens, and leaves the logits row untouched", () => {
    setup([3, 2.5, 0], { repeatPenalty: 1.5, repeatLastN: 2 }, [0, 2, 2]); // 0 fell out of the window
    expect(x.sample()).toBe(0);
    setup([3, 2.5, 0], { repeatPenalty: 1.5, repeatLastN: 3 }, [0, 2, 2]);
    expect(x.sample()).toBe(1);
    expect(x.logit(0)).toBe(3);
    setup([3, 2.5, 0], { repeatPenalty: 1.5, repeatLastN: 0 }, [0]);       // N = 0: off
    expect(x.sample()).toBe(0);
  });

  it("samples in proportion to softmax(logits / temperature)", () => {
    const l = [0, Math.log(3), -1];
    for (const t of [1, 2]) {
      setup(l, { temperature: t, seed: 42n });
      const h = histogram(20000, 3);
      const p = softmax(l, t);
      for (let i = 0; i < 3; i++) expect(Math.abs(h[i] / 20000 - p[i]), `t=${t} token ${i}`).toBeLessThan(0.015);
    }
  });

  it("top-k keeps the k largest", () => {
    setup([3, 2, 1, 0], { temperature: 1, topK: 2, seed: 3n });
    const h = histogram(10000, 4);
    expect(h[2] + h[3]).toBe(0);
    expect(Math.abs(h[0] / 10000 - softmax([3, 2])[0])).toBeLessThan(0.02);
    setup([3, 2, 1, 0], { temperature: 5, topK: 1, seed: 3n });
    expect(histogram(200, 4)[0]).toBe(200);
  });

  it("top-p keeps the smallest prefix reaching p; min-p keeps p >= min_p * p_max", () => {
    const l = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    setup(l, { temperature: 1, topP: 0.7, seed: 11n });     // 0.5 < 0.7 <= 0.8: tokens 0 and 1
    let h = histogram(10000, 3);
    expect(h[2]).toBe(0);
    expect(Math.abs(h[0] / 10000 - 0.625)).toBeLessThan(0.02);
    setup(l, { temperature: 1, topP: 0.5, seed: 11n });     // 0.5 reaches 0.5: token 0 alone
    expect(histogram(500, 3)[0]).toBe(500);
    setup(l, { temperature: 1, minP: 0.5, seed: 11n });     // keeps p >= 0.25
    h = histogram(10000, 3);
    expect(h[2]).toBe(0);
    expect(h[1]).toBeGreaterThan(0);
    setup(l, { temperature: 1, minP: 0.35, seed: 11n });    // keeps p >= 0.175: all three
    expect(histogram(10000, 3)[2]).toBeGreaterThan(0);
  });

  it("applies top-k, top-p and min-p before the temperature, as llama.cpp's chain does", () => {
    // at temperature 100 every survivor is near-uniform; the filters saw the untempered logits
    setup([Math.log(0.5), Math.log(0.3), Math.log(0.2)], { temperature: 100, topP: 0.7, seed: 2n });
    const h = histogram(10000, 3);
    expect(h[2]).toBe(0);
    expect(Math.abs(h[0] / 10000 - 0.5)).toBeLessThan(0.03);
  });

  it("gives the same draws for the same seed and different ones for another", () => {
    const draws = (seed: bigint) => { setup([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], { temperature: 1, seed }); return Array.from({ length: 64 }, () => x.sample()); };
    expect(draws(123n)).toEqual(draws(123n));
    expect(draws(123n)).not.toEqual(draws(124n));
  });
});
