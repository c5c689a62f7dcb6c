// `sis-llm quantize` (llm/generate_gguf.ts): converting the F16 sis-scribe-15m with the
// reference quantizers and llama.cpp's choice of types per tensor must give, tensor for
// tensor, the bytes of the Q8_0 / Q4_0 / pure Q4_0 files that llama.cpp's own quantizer
// made (../shared/models/README.md). Also: the tool's refusals.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING } from "./support/gguf_fixture.mjs";

const model = (q: string) => resolve(SHARED, "models", `sis-scribe-15m-${q}.gguf`);
const have = HAVE_SHARED && ["f16", "q8_0", "q4_0", "q4_0-pure"].every((q) => existsSync(model(q)));

// A small independent GGUF reader: metadata values we need and each tensor's type and bytes.
const TYPE_SIZE: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 12: [256, 144], 13: [256, 176], 14: [256, 210], 30: [1, 2] };
function readGGUF(buf: Buffer) {
  let o = 8;
  const nT = Number(buf.readBigUInt64LE(o)); o += 8;
  const nKV = Number(buf.readBigUInt64LE(o)); o += 8;
  const str = () => { const n = Number(buf.readBigUInt64LE(o)); o += 8; const s = buf.toString("utf8", o, o + n); o += n; return s; };
  const size: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (t: number): any => {
    if (t === 8) return str();
    if (t === 9) { const et = buf.readUInt32LE(o); o += 4; const n = Number(buf.readBigUInt64LE(o)); o += 8; for (let i = 0; i < n; i++) value(et); return `array[${n}]`; }
    const v = t === 4 ? buf.readUInt32LE(o) : t === 6 ? buf.readFloatLE(o) : null;
    o += size[t];
    return v;
  };
  const meta: Record<string, any> = {};
  for (let i = 0; i < nKV; i++) { const k = str(); const t = buf.readUInt32LE(o); o += 4; meta[k] = value(t); }
  const infos: any[] = [];
  for (let i = 0; i < nT; i++) {
    const name = str(); const nd = buf.readUInt32LE(o); o += 4;
    const dims: number[] = []; for (let d = 0; d < nd; d++) { dims.push(Number(buf.readBigUInt64LE(o))); o += 8; }
    const type = buf.readUInt32LE(o); o += 4; const off = Number(buf.readBigUInt64LE(o)); o += 8;
    infos.push({ name, dims, type, off });
  }
  const align = meta["general.alignment"] ?? 32;
  const data = Math.ceil(o / align) * align;
  const tensors = new Map<string, { dims: number[]; type: number; bytes: Buffer }>();
  for (const t of infos) {
    const [be, bb] = TYPE_SIZE[t.type];
    const n = t.dims.reduce((a: number, b: number) => a * b, 1);
    tensors.set(t.name, { dims: t.dims, type: t.type, bytes: buf.subarray(data + t.off, data + t.off + (n / be) * bb) });
  }
  return { meta, tensors };
}

describe.skipIf(!have)("sis-llm quantize reproduces llama.cpp's quantized files" + (have ? "" : ` (${SHARED_MISSING})`), () => {
  let llm: any;
  let f16: Buffer;
  beforeAll(async () => {
    llm = await LLM.create();
    f16 = readFileSync(model("f16"));
  });

  for (const [q, type, pure] of [["q8_0", "Q8_0", false], ["q4_0", "Q4_0", false], ["q4_0-pure", "Q4_0", true]] as const) {
    it(`F16 -> ${type}${pure ? " (pure)" : ""}: every tensor's type and bytes equal ${q}.gguf`, () => {
      const ours = readGGUF(llm.quantize(f16, type, { pure }));
      const ref = readGGUF(readFileSync(model(q)));
      // same tensors (llama.cpp writes them in its loader's order; this tool keeps the input's)
      expect([...ours.tensors.keys()].sort()).toEqual([...ref.tensors.keys()].sort());
      for (const [name, r] of ref.tensors) {
        const t = ours.tensors.get(name)!;
        expect(t.dims, name).toEqual(r.dims);
        expect(t.type, name).toBe(r.type);
        expect(t.bytes.equals(r.bytes), `${name} bytes`).toBe(true);
      }
      expect(ours.meta["general.file_type"]).toBe(ref.meta["general.file_type"]);
      expect(ours.meta["general.architecture"]).toBe("llama");
    });
  }

  it("keeps norms F32 and follows llama.cpp's output-head rule (Q6_K, Q8_0 when rows are not 256-multiples)", () => {
    const q = readGGUF(llm.quantize(f16, "Q4_1"));
    for (const [name, t] of q.tensors) {
      if (name.endsWith("_norm.weight")) expect(t.type, name).toBe(0);
      else if (name === "token_embd.weight") expect(t.type, name).toBe(8); // tied head, 288 % 256 != 0 -> Q8_0
      else expect(t.type, name).toBe(3);
    }
    const forced = readGGUF(llm.quantize(f16, "Q4_0", { outputType: "F16" }));
    expect(forced.tensors.get("token_embd.weight")!.type).toBe(1);
  });

  it("refuses quantized input, unknown types and rows the type cannot hold", () => {
    expect(() => llm.quantize(readFileSync(model("q4_0")), "Q8_0")).toThrow(/quantize takes F32, F16 or BF16 models/);
    expect(() => llm.quantize(f16, "IQ4_NL")).toThrow(/unknown type 'IQ4_NL'/);
    // 288-element rows are not a whole number of 256-element K-quant blocks: llama.cpp falls
    // back to Q5_0 (Q4_K) and Q5_1 (Q5_K), and so does quantize; ffn_down's 768 stay K-quants
    for (const [type, id, fallback] of [["Q4_K", 12, 6], ["Q5_K", 13, 7]] as const) {
      const q = readGGUF(llm.quantize(f16, type));
      for (const [name, t] of q.tensors) {
        if (name.endsWith("_norm.weight")) expect(t.type, name).toBe(0);
        else if (name === "token_embd.weight") expect(t.type, name).toBe(8); // the tied head: Q6_K -> Q8_0
        else expect(t.type, `${type}: ${name}`).toBe(name.includes("ffn_down") ? id : fallback);
      }
    }
    expect(() => llm.quantize(Buffer.from("not a gguf file at all"), "Q8_0")).toThrow(/not a GGUF file/);
  });
});
