// End to end: inference on every core. One machine with -smp 4 runs the same generations
// with the engine's work split across 1, 2, 3 and 4 cores (llmctl config threads): greedy
// and seeded sampled outputs must be identical, and equal to llama.cpp's (greedy) and to the
// host engine's (sampled). A trap on each worker core is reported as that core's and every
// core still works after; load/unload cycles with workers keep no memory; Ctrl-C stops a
// generation on all cores at once. (-smp 1 and 8 boot in tests/e2e/shell.test.ts.)
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { Oracle, PINNED_MISSING } from "../support/llamacpp.mjs";
import { interruptAfter, parseGeneration, regionsInUse } from "../support/llm-e2e.mjs";
import { SHARED, HAVE_SHARED } from "../support/gguf_fixture.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";

const Q4_0 = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const F16 = resolve(SHARED, "models", "sis-scribe-15m-f16.gguf");
/** 64 or more prompt tokens: the batched products and llama.cpp's tiled attention path. */
const LONG = "And God said, Let there be light: and there was light. And God saw the light, that it was good: " +
  "and God divided the light from the darkness. And God called the light Day, and the darkness he called Night. " +
  "And the evening and the morning were the first day. And God said, Let there be a firmament in the midst of the waters.";
const SHORT = "In the beginning";
const SAMPLED = "--temperature 0.9 --top-k 40 --top-p 0.95 --min-p 0.05 --repeat-penalty 1.1 --seed 4321 --max-tokens 24";
const haveMke2fs = !!findMke2fs();

const quote = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

/** What each model printed for the three generations on the -smp 4 machine (all thread counts). */
const printed: Record<string, string[]> = {};
const COMMANDS = [`llmctl infer "${quote(LONG)}" --temperature 0 --max-tokens 12`,
  `llmctl infer "${SHORT}" --temperature 0 --max-tokens 24`, `llmctl infer "${SHORT}" ${SAMPLED}`];

describe.skipIf(!haveMke2fs)("inference on every core (-smp 4)", () => {
  let m: SisMachine, tmp: string;
  const models = [["q4_0", Q4_0], ...(HAVE_SHARED ? [["f16", F16]] : [])] as Array<[string, string]>;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "sis-e2e-smp-"));
    mkdirSync(join(tmp, "src"));
    for (const [q, path] of models) copyFileSync(path, join(tmp, "src", `scribe-${q}.gguf`));
    mkdisk(join(tmp, "src"), join(tmp, "models.img"), { label: "sis-smp" });
    m = await SisMachine.boot({ smp: 4, disk: join(tmp, "models.img") });
    expect(await m.run("llmctl backend real")).toMatch(/TransformerBackend/);
  }, 180_000);
  afterAll(() => { m?.kill(); if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it("starts the three workers and uses all four cores by default", async () => {
    expect(m.output).toMatch(/info: cpus: 4 of 4 online \(the boot core and 3 workers started with PSCI CPU_ON\)\n/);
    expect(await m.run("llmctl config")).toMatch(/^  threads\s+4 \(of 4 cores\)$/m);
  });

  for (const [q, path] of models) {
    it(`${q}: the same greedy and sampled text on 1, 2, 3 and 4 cores, and llama.cpp's greedy text${PINNED_MISSING ? ` (${PINNED_MISSING}: without llama.cpp)` : ""}`, async () => {
      expect(await m.run(`llmctl load /models/scribe-${q}.gguf`, { timeout: 120_000 })).toMatch(/^loaded /m);
      const runs: Record<number, string[]> = {};
      for (const n of [1, 2, 3, 4]) {
        expect(await m.run(`llmctl config threads ${n}`)).toBe(`threads: ${n} of 4 cores`);
        // (while the host is short of cores, stats adds how many the last jobs took)
        expect(await m.run("llmctl stats")).toMatch(new RegExp(`^cores: ${n} of 4 online in use by the engine`, "m"));
        const g = [];
        for (const cmd of COMMANDS) g.push(parseGeneration(await m.run(cmd, { timeout: 120_000 })));
        expect(g[0].promptTokens).toBeGreaterThanOrEqual(64);
        runs[n] = g.map((r) => r.text);
      }
      for (const n of [2, 3, 4]) expect(runs[n], `${n} cores`).toEqual(runs[1]);
      printed[q] = runs[1];
      // the host engine samples the same text (its own sampler is checked against llama.cpp's)
      const { LLM } = await import("../../tools/lib/llm.mjs");
      const host = await LLM.create();
      expect(host.load(path, 256)).toBe("");
      const h = host.generate(SHORT, { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1, seed: 4321, maxTokens: 24 });
      host.unload();
      expect(runs[1][2]).toBe(h.text);
      if (!PINNED_MISSING) {
        const o = await Oracle.open(path, { contextSize: 256 });
        try {
          for (const [i, prompt, n] of [[0, LONG, 12], [1, SHORT, 24]] as Array<[number, string, number]>) {
            const pt = o.tokenize(prompt);
            expect(runs[1][i], prompt.slice(0, 20)).toBe(o.detokenize(await o.greedy(pt, n), pt));
          }
        } finally { await o.dispose(); }
      }
      expect(await m.run("llmctl config threads 4")).toBe("threads: 4 of 4 cores");
    }, 600_000);
  }

  it("a trap on any worker core is reported as that core's, and every core works after", async () => {
    expect(await m.run(`llmctl load /models/scribe-q4_0.gguf`, { timeout: 120_000 })).toMatch(/^loaded /m);
    const before = parseGeneration(await m.run(`llmctl infer "${SHORT}" --temperature 0 --max-tokens 16`, { timeout: 120_000 }));
    const kinds: Array<[string, string]> = [["oob", "out-of-bounds memory access"], ["divzero", "integer divide by zero"],
      ["unreachable", "unreachable executed"], ["stack", "call stack exhausted"], ["abort", "other trap"]];
    for (let core = 1; core <= 3; core++) {
      for (const [kind, name] of core == 1 ? kinds : kinds.slice(0, 1)) {
        const out = await m.run(`debug trap ${kind} ${core}`, { timeout: 60_000 });
        expect(out).toMatch(new RegExp(`^error: command 'debug' trapped: ${name} on core ${core}$`, "m"));
      }
    }
    expect(await m.run("debug trap oob 4")).toMatch(/^error: core must be a worker core, 1 to 3, not '4'$/m);
    expect(await m.run("log")).toMatch(/command 'debug' trapped: out-of-bounds memory access on core 3/);
    const after = parseGeneration(await m.run(`llmctl infer "${SHORT}" --temperature 0 --max-tokens 16`, { timeout: 120_000 }));
    expect(after.text).toBe(before.text);
  }, 300_000);

  it("load/unload cycles with workers keep no memory", async () => {
    expect(await m.run("llmctl unload")).toMatch(/^unloaded /m);
    const start = regionsInUse(await m.run("llmctl info"));
    for (let i = 0; i < 3; i++) {
      expect(await m.run(`llmctl load /models/scribe-q4_0.gguf`, { timeout: 120_000 })).toMatch(/^loaded /m);
      parseGeneration(await m.run(`llmctl infer "${quote(LONG)}" --temperature 0 --max-tokens 4`, { timeout: 120_000 }));
      expect(await m.run("llmctl unload")).toMatch(/^unloaded /m);
      expect(regionsInUse(await m.run("llmctl info"))).toBe(start);
    }
  }, 300_000);

  it("Ctrl-C stops a generation on all cores at once", async () => {
    expect(await m.run(`llmctl load /models/scribe-q4_0.gguf`, { timeout: 120_000 })).toMatch(/^loaded /m);
    const out = await interruptAfter(m, `llmctl infer "And God said" --temperature 0 --max-tokens 200`, /LORD/);
    expect(out).toMatch(/\^C\n\(stopped by Ctrl-C; the output so far is kept\)\n\[\d+ tokens?/);
    const g = parseGeneration(out);
    expect(g.tokens).toBeGreaterThan(0);
    expect(g.tokens).toBeLessThan(200);
    // every core answers the next job
    expect(parseGeneration(await m.run(`llmctl infer "${SHORT}" --temperature 0 --max-tokens 8`, { timeout: 120_000 })).tokens).toBe(8);
  }, 120_000);
});

describe.skipIf(!haveMke2fs)("the same text on machines of 1 and 3 cores", () => {
  for (const smp of [1, 3]) {
    it(`-smp ${smp}: what the -smp 4 machine printed, on every core it has`, async () => {
      expect(printed.q4_0, "the -smp 4 tests ran first").toBeDefined();
      const tmp = mkdtempSync(join(tmpdir(), "sis-e2e-smp-"));
      let m: SisMachine | undefined;
      try {
        mkdirSync(join(tmp, "src"));
        copyFileSync(Q4_0, join(tmp, "src", "scribe-q4_0.gguf"));
        mkdisk(join(tmp, "src"), join(tmp, "models.img"), { label: "sis-smp" });
        m = await SisMachine.boot({ smp, disk: join(tmp, "models.img") });
        await m.run("llmctl backend real");
        expect(await m.run("llmctl load /models/scribe-q4_0.gguf", { timeout: 120_000 })).toMatch(/^loaded /m);
        expect(await m.run("llmctl stats")).toMatch(new RegExp(`^cores: ${smp} of ${smp} online in use by the engine`, "m"));
        const texts = [];
        for (const cmd of COMMANDS) texts.push(parseGeneration(await m.run(cmd, { timeout: 120_000 })).text);
        expect(texts).toEqual(printed.q4_0);
      } finally { m?.kill(); rmSync(tmp, { recursive: true, force: true }); }
    }, 300_000);
  }
});
