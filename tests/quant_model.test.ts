// Byte-exact quantization of the project's real model: llama.cpp's own quantizer produced the
// Q8_0 / Q4_0 / pure Q4_0 files in ../shared/models from the F16 file; quantizing each F16 tensor
// with llm/quant must give exactly the reference file's bytes. The K-quants are compared with
// ggml's quantizer (tools/ref) on the model's tensors whose rows are a multiple of 256.
import { describe, it, expect, beforeAll } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compile, ROOT } from "../tools/lib/asbuild.mjs";
import { instantiate, readAsString } from "../tools/lib/wasmhost.mjs";
import { T, NAME, REF_MISSING, ref, rowBytes, Mem, firstByteDiff } from "./quant_util";

const MODELS = join(ROOT, "../shared/models");
const SHARED_MISSING = existsSync(join(MODELS, "sis-scribe-15m-f16.gguf")) ? "" : `../shared/models is absent (${MODELS})`;
const label = (name: string, missing: string) => (missing ? `${name} [skipped: ${missing}]` : name);
if (SHARED_MISSING) console.warn(`quant_model.test: skipping, ${SHARED_MISSING}`);

let m: Mem;
let srcBase = 0, srcSize = 0;

async function open(refFile: string) {
  m = new Mem(await instantiate(await compile("tests/wasm/quant_model.ts")));
  const src = readFileSync(join(MODELS, "sis-scribe-15m-f16.gguf"));
  srcBase = m.load(src); srcSize = src.length;
  const r = readFileSync(join(MODELS, refFile));
  const refBase = m.load(r);
  const err = readAsString(m.inst.memory, m.x.load(srcBase, BigInt(srcSize), refBase, BigInt(r.length)));
  expect(err).toBe("");
}

describe.skipIf(!!SHARED_MISSING)(label("re-quantizing sis-scribe-15m F16 reproduces llama.cpp's files byte for byte", SHARED_MISSING), () => {
  for (const [file, types] of [
    ["sis-scribe-15m-q8_0.gguf", ["Q8_0"]],
    ["sis-scribe-15m-q4_0.gguf", ["Q4_0", "Q8_0"]],
    ["sis-scribe-15m-q4_0-pure.gguf", ["Q4_0"]],
  ] as const) {
    it(file, async () => {
      await open(file);
      const report = JSON.parse(readAsString(m.inst.memory, m.x.compareAll())) as any[];
      const compared = report.filter((t) => t.rows !== undefined);
      // every quantized tensor of the file was compared, and all of the expected types occur
      expect(report.filter((t) => t.note && t.note !== "not requantized")).toEqual([]);
      expect(compared.length).toBeGreaterThanOrEqual(6 * 7);
      for (const ty of types) expect(compared.some((t) => t.type === ty), `a ${ty} tensor in ${file}`).toBe(true);
      const bad = compared.filter((t) => t.badRows !== 0);
      expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
    }, 120_000);
  }
});

const KMISSING = SHARED_MISSING || REF_MISSING;
describe.skipIf(!!KMISSING)(label("K-quants of the real model's tensors equal ggml's quantizer", KMISSING), () => {
  beforeAll(async () => { await open("sis-scribe-15m-q8_0.gguf"); });
  for (const type of [T.Q4_K, T.Q5_K, T.Q6_K]) {
    it(NAME[type], () => {
      let tested = 0;
      for (let i = 0; i < m.x.srcTensorCount(); i++) {
        const k = m.x.srcTensorK(i), rows = m.x.srcTensorRows(i);
        if (k % 256 !== 0 || rows < 2) continue;
        const name = readAsString(m.inst.memory, m.x.srcTensorName(i));
        const f = m.alloc(k * rows * 4), q = m.alloc(rowBytes(type, k) * rows);
        expect(m.x.srcTensorToF32(i, f)).toBe(1);
        expect(m.x.quantizeRows(type, f, q, k, rows)).toBe(1);
        const ours = m.bytes(q, rowBytes(type, k) * rows);
        const theirs = new Uint8Array(ref(["quantize", type, rows, k, "@in", "@out"], [m.floats(f, k * rows)]));
        const d = firstByteDiff(ours, theirs);
        expect(d, `${name}: first differing byte ${d} (row ${Math.floor(d / rowBytes(type, k))})`).toBe(-1);
        m.free(f); m.free(q);
        tested++;
      }
      expect(tested).toBeGreaterThanOrEqual(6); // the six ffn_down matrices (k = 768)
    });
  }
});
