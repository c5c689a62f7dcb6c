// End to end, SLOW (minutes: a 1.1 B parameter model runs at about 0.1 token/s under
// QEMU's TCG), so not part of the default run: SIS_E2E_SLOW=1 npx vitest run tests/e2e/llm-tinyllama.test.ts
// The TinyLlama-1.1B shape (22 layers, dim 2048, 32/4 heads, ff 5632, vocab 32000, Q4_0 with
// a Q6_K output head; random weights, made once by tools/bench-qemu.mjs's ensureTinyLlama
// into build/bench/) loads in QEMU with 4 GiB, `llmctl info` accounts for its memory, and
// its first greedy tokens are llama.cpp's. Speed figures: npm run bench:qemu.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { SisMachine } from "../support/qemu-serial.mjs";
import { Oracle, PINNED_MISSING } from "../support/llamacpp.mjs";
import { expectedModel, parseGeneration, regionsInUse, modelMemory, pageRound } from "../support/llm-e2e.mjs";
import { ensureTinyLlama, diskFor } from "../../tools/bench-qemu.mjs";
import { findMke2fs } from "../../tools/mkdisk.mjs";

const SLOW = !!process.env.SIS_E2E_SLOW;
const NAME = "/models/tinyllama-shape-q4_0.gguf";

describe.skipIf(!SLOW || !findMke2fs())("TinyLlama-1.1B shape in QEMU with 4 GiB (slow; SIS_E2E_SLOW=1)", () => {
  let m: SisMachine, path: string, want: any;
  beforeAll(async () => {
    path = await ensureTinyLlama();
    want = expectedModel(path);
    m = await SisMachine.boot({ disk: diskFor(path), mem: "4G" });
  }, 1800_000);
  afterAll(() => m?.kill());

  it("loads, and llmctl info accounts for the model, KV cache and scratch", async () => {
    await m.run("llmctl backend real");
    const before = regionsInUse(await m.run("llmctl info"));
    const out = await m.run(`llmctl load ${NAME}`, { timeout: 600_000 });
    expect(out).toMatch(/^layers:\s+22$/m);
    expect(out).toMatch(/^embedding:\s+2048 \(feed-forward 5632\)$/m);
    expect(out).toMatch(/^heads:\s+32 \(KV heads 4, head size 64\)$/m);
    expect(out).toMatch(/^quantization:\s+Q4_0, output Q6_K /m);
    expect(out).toMatch(/^parameters:\s+1\.10 B$/m);
    const i = await m.run("llmctl info");
    const mem = modelMemory(i);
    expect(mem.model).toBe(pageRound(want.fileSize));
    expect(mem.kv).toBe(pageRound(want.kvBytes(want.context)));
    expect(regionsInUse(i) - before).toBe(mem.total);
  }, 900_000);

  it.skipIf(!!PINNED_MISSING)("generates llama.cpp's greedy tokens" + (PINNED_MISSING ? ` (${PINNED_MISSING})` : ""), async () => {
    const oracle = await Oracle.open(path, { contextSize: 64 });
    try {
      const pt = oracle.tokenize("And God said");
      const ids = await oracle.greedy(pt, 3);
      const g = parseGeneration(await m.run('llmctl infer "And God said" --temperature 0 --max-tokens 3', { timeout: 1800_000 }));
      expect(g.text).toBe(oracle.detokenize(ids, pt));
      expect(g.tokens).toBe(ids.length);
    } finally { await oracle.dispose(); }
  }, 1800_000);

  it("unload gives every byte back", async () => {
    const before = regionsInUse(await m.run("llmctl info"));
    const mem = modelMemory(await m.run("llmctl info"));
    await m.run("llmctl unload");
    expect(regionsInUse(await m.run("llmctl info"))).toBe(before - mem.total);
  });
});
