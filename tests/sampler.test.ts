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

describe("sampleBounded (logits known within a bound, made exact on request)", () => {
  // The engine's output head gives approximations within a proven bound and makes rows exact
  // when the sampler asks (llm/forward.ts HEAD_BOUNDED). The choice must be sample()'s on
  // the exact row, token for token and draw for draw, while asking for few rows.
  const rnd = (seed: number) => { let s = seed >>> 0; return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32); };

  it("chooses what sample() chooses from the exact logits, over random settings, near-ties and penalties", () => {
    const r = rnd(12345);
    let trials = 0, draws = 0, boundedDraws = 0;
    for (const n of [50, 700, 4000]) {
      for (const err of [1e-6, 1e-3, 0.05, 0.6]) {
        for (let rep = 0; rep < 12; rep++) {
          const settings = {
            temperature: [0, 0, 0.7, 1.5][rep % 4],
            topK: [1, 5, 40, 0, 40, 3][rep % 6],
            topP: rep % 3 === 0 ? 0.9 : 1,
            minP: rep % 5 === 0 ? 0.05 : 0,
            repeatPenalty: [1, 1.3, 0.9, 1][rep % 4 === 0 ? 1 : rep % 3],
            repeatLastN: 16,
            seed: BigInt(rep + 1),
          };
          x.setupPair(n, settings.temperature, settings.topK, settings.topP, settings.minP, settings.repeatPenalty, settings.repeatLastN, settings.seed);
          // logits: a gaussian spread, a block of exact ties and near-ties at the top
          const exact = Float32Array.from({ length: n }, () => (r() + r() + r() - 1.5) * 4);
          const top = Math.max(...exact);
          for (let j = 0; j < Math.min(8, n >> 2); j++) exact[Math.floor(r() * n)] = Math.fround(top + (j % 3 === 0 ? 0 : r() * err * 2));
          exact.forEach((v, i) => x.setExact(i, v));
          // history: random tokens, and top ones several times (each is penalised once)
          const byValue = [...exact.keys()].sort((p, q) => exact[q] - exact[p]);
          for (let h = 0; h < 6; h++) x.acceptPair(Math.floor(r() * n));
          for (let h = 0; h < 9; h++) x.acceptPair(byValue[(h * 7 + rep) % 3]);
          for (let d = 0; d < 5; d++) {
            // approximations strictly within err (checked after rounding to f32)
            for (let i = 0; i < n; i++) {
              let a = Math.fround(exact[i] + (2 * r() - 1) * err);
              if (Math.abs(a - exact[i]) > err) a = exact[i];
              x.setApprox(i, a);
            }
            const asked0 = x.rowsAsked(), all0 = x.allCalls();
            const want = x.samplePair(err);
            expect(x.boundedResult(), `n=${n} err=${err} ${JSON.stringify(settings, (_k, v) => (typeof v === "bigint" ? Number(v) : v))} draw ${d}`).toBe(want);
            if (x.allCalls() === all0) { boundedDraws++; expect(x.rowsAsked() - asked0).toBeLessThanOrEqual((n >> 3) + settings.repeatLastN); } // candidates, penalised rows
            x.acceptPair(want);
            draws++;
          }
          trials++;
        }
      }
    }
    expect(trials).toBe(3 * 4 * 12);
    // most draws went the bounded way (top-k 0 with a temperature, and large errors, take every row)
    expect(boundedDraws / draws).toBeGreaterThan(0.5);
  });

  it("asks for one row when the top logit stands clear, and for every row when top-k is off", () => {
    const n = 1000;
    x.setupPair(n, 0, 0, 1, 0, 1, 64, 1n);
    for (let i = 0; i < n; i++) { const v = i === 321 ? 5 : Math.sin(i); x.setExact(i, v); x.setApprox(i, v + 1e-4); }
    expect(x.samplePair(1e-3)).toBe(321);
    expect(x.boundedResult()).toBe(321);
    expect(x.rowsAsked()).toBe(1);
    expect(x.allCalls()).toBe(0);
    // top-k 40 over well-separated values: exactly the 40 largest are asked for
    x.setupPair(n, 0.8, 40, 0.95, 0.05, 1, 64, 1n);
    for (let i = 0; i < n; i++) { const v = Math.fround(((i * 379) % n) * 0.01); x.setExact(i, v); x.setApprox(i, v); }
    expect(x.boundedResult()).toBe(321); // (still the last choice)
    const want40 = x.samplePair(1e-6);
    expect(x.boundedResult()).toBe(want40);
    expect(x.rowsAsked()).toBe(40);
    x.setupPair(n, 0.8, 0, 1, 0, 1, 64, 1n);
    for (let i = 0; i < n; i++) { const v = i === 321 ? 5 : Math.sin(i); x.setExact(i, v); x.setApprox(i, v + 1e-4); }
    const want = x.samplePair(1e-3);
    expect(x.boundedResult()).toBe(want);
    expect(x.allCalls()).toBe(1);
  });

  it("takes every row exact when an approximation is infinite or NaN", () => {
    const n = 100;
    x.setupPair(n, 0, 0, 1, 0, 1, 64, 1n);
    for (let i = 0; i < n; i++) { x.setExact(i, i === 7 ? 3 : 0); x.setApprox(i, i === 50 ? NaN : i === 7 ? 3 : 0); }
    expect(x.samplePair(0.01)).toBe(7);
    expect(x.boundedResult()).toBe(7);
    expect(x.allCalls()).toBe(1);
  });
});
