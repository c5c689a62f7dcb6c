// Replays every input kept under tests/fuzz/<target>/ (the minimized corpus libFuzzer grew
// and each finding) through the fuzz module's exports (tests/wasm/fuzz.ts: the same .wasm
// `make fuzz` lowers to C) in Node: none may trap, and each must finish in bounded time.
// The C harness restores its snapshot after every input; here the targets whose parsers keep
// nothing between calls share one instance (a fresh one per input costs far more than the
// input: V8 reserves each instance's memory anew), and the shell, whose line editor keeps
// its line and history, gets a fresh one per input. docs/RELIABILITY.md.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate, readAsString } from "../tools/lib/wasmhost.mjs";
import { TARGETS, keptInputs } from "../tools/fuzz/targets.mjs";

// generous against libFuzzer's -timeout=1, which holds under ASan at a fraction of V8's speed
const PER_INPUT_MS = 1000;

let module: WebAssembly.Module;
beforeAll(async () => {
  // forThisEngine false: the kernel's kind of module (relaxed SIMD kept), the one make fuzz builds
  module = new WebAssembly.Module(readFileSync(await compile("tests/wasm/fuzz.ts", { out: "build/fuzz/fuzz.wasm", forThisEngine: false })));
});

async function fresh() {
  return instantiate(module, { onOutput: () => {} });
}

function run(inst: any, exportName: string, bytes: Buffer): number {
  const p = inst.exports.fuzzBuffer(bytes.length);
  new Uint8Array(inst.memory.buffer, p, bytes.length).set(bytes);
  return inst.exports[exportName](p, bytes.length);
}

for (const [target, t] of Object.entries(TARGETS) as [string, any][]) {
  const inputs = keptInputs(target);
  describe(`fuzz corpus: ${target}`, () => {
    const vocab = t.vocab ? t.vocab() : undefined;
    it.skipIf(vocab === null || inputs.length === 0)(
      `${inputs.length} inputs run without a trap, each in under ${PER_INPUT_MS} ms` +
        (vocab === null ? ` (skipped: ${t.missing})` : inputs.length === 0 ? " (none kept yet)" : ""),
      async () => {
        const shared: any = t.fresh ? null : await fresh();
        if (vocab) {
          const p = shared.exports.fuzzBuffer(vocab.length);
          new Uint8Array(shared.memory.buffer, p, vocab.length).set(vocab);
          expect(readAsString(shared.memory, shared.exports.fuzzLoadVocab(p, vocab.length))).toBe("");
        }
        let slowest = { ms: 0, path: "" };
        for (const { path, bytes } of inputs) {
          const inst = shared ?? (await fresh());
          const t0 = performance.now();
          try {
            run(inst, t.exportName, bytes);
          } catch (e: any) {
            throw new Error(`${path}: ${e.message}`);
          }
          const ms = performance.now() - t0;
          if (ms > slowest.ms) slowest = { ms, path };
        }
        expect(slowest.ms, `slowest input ${slowest.path}`).toBeLessThan(PER_INPUT_MS);
      },
    );
  });
}
