// The engine's API (llm/engine.ts through llm/host.ts): loading and unloading (memory comes
// back), the step-wise generation and its end reasons, timings, seeded sampling, and clear
// errors for bad input: empty or too long prompts, unknown architectures, unsupported
// tensor types, missing tensors or metadata, wrong shapes, files that are not GGUF.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { Oracle, logSoftmax, compareLogProbs, PINNED_MISSING } from "./support/llamacpp.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING, buildGGUF, T } from "./support/gguf_fixture.mjs";

const SCRIBE = resolve(SHARED, "models", "sis-scribe-15m-q4_0.gguf");
const note = HAVE_SHARED ? "" : ` (${SHARED_MISSING})`;

/** A small SentencePiece vocabulary (control tokens, the 256 byte tokens, a few words), so
 *  that these tests need nothing from ../shared. */
function tinyVocab(): Buffer {
  const words = ["\u2581", "e", "t", "h", "\u2581t", "he", "\u2581the", "\u2581a", "s", "\u2581s"];
  const tokens = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, "0")}>`), ...words];
  const types = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const scores = tokens.map((_, i) => (i < 259 ? 0 : -i));
  return buildGGUF({ kvs: [
    ["general.architecture", T.STR, "llama"],
    ["tokenizer.ggml.model", T.STR, "llama"],
    ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: tokens }],
    ["tokenizer.ggml.scores", T.ARR, { elem: T.F32, items: scores }],
    ["tokenizer.ggml.token_type", T.ARR, { elem: T.I32, items: types }],
    ["tokenizer.ggml.bos_token_id", T.U32, 1], ["tokenizer.ggml.eos_token_id", T.U32, 2],
    ["tokenizer.ggml.unknown_token_id", T.U32, 0], ["tokenizer.ggml.add_bos_token", T.BOOL, true],
  ] }).bytes;
}

// ---- byte surgery on GGUF images, to make each kind of bad file from a good one ----

/** Offset of the value of metadata `key` (just after its u32 type tag). */
function valueOffset(buf: Buffer, key: string): number {
  const k = Buffer.from(key, "utf8");
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(k.length));
  const at = buf.indexOf(Buffer.concat([len, k]));
  if (at < 0) throw new Error(`no key ${key}`);
  return at + 8 + k.length + 4;
}
/** Replaces the bytes of `from` (a key, tensor name or string value) by `to`, same length. */
function rename(buf: Buffer, from: string, to: string): Buffer {
  const out = Buffer.from(buf);
  const a = Buffer.from(from), b = Buffer.from(to);
  if (a.length !== b.length) throw new Error("same length only");
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(a.length));
  const at = out.indexOf(Buffer.concat([len, a]));
  if (at < 0) throw new Error(`no ${from}`);
  b.copy(out, at + 8);
  return out;
}
/** Another architecture of the same name length: general.architecture and every "<arch>." key. */
function renameArch(buf: Buffer, from: string, to: string): Buffer {
  const out = rename(buf, from, to);
  const a = Buffer.from(from + "."), b = Buffer.from(to + ".");
  for (let at = out.indexOf(a); at >= 0; at = out.indexOf(a, at + 1)) b.copy(out, at);
  return out;
}
function setU32(buf: Buffer, key: string, v: number): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt32LE(v, valueOffset(out, key));
  return out;
}
/** Changes the ggml type id in the tensor info of `name`. */
function setTensorType(buf: Buffer, name: string, type: number): Buffer {
  const out = Buffer.from(buf);
  const n = Buffer.from(name);
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(n.length));
  const at = out.indexOf(Buffer.concat([len, n]));
  const nd = out.readUInt32LE(at + 8 + n.length);
  out.writeUInt32LE(type, at + 8 + n.length + 4 + 8 * nd);
  return out;
}

describe("engine API", () => {
  let llm: any;
  let f16Model: Buffer; // a small synthetic F16 llama
  beforeAll(async () => {
    llm = await LLM.create();
    f16Model = llm.mkmodel({ vocab: tinyVocab(), dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 128, type: "F16", ctx: 64, seed: 3 });
  });

  describe("bad input gets a clear error", () => {
    const loadError = (bytes: Buffer, ctx = 0) => { const e = llm.load(bytes, ctx); llm.unload(); return e; };

    it("the synthetic model itself loads", () => {
      expect(loadError(f16Model)).toBe("");
    });
    it("unknown architecture", () => {
      expect(loadError(rename(f16Model, "llama", "mamba"))).toBe("model: unsupported architecture 'mamba' (this engine runs: llama, qwen2, qwen3, phi3, gemma3)");
    });
    it("unsupported tensor type", () => {
      // I16 has F16's size, so the file stays consistent and only the type is wrong
      expect(loadError(setTensorType(f16Model, "blk.1.ffn_up.weight", 25)))
        .toMatch(/^model: tensor 'blk\.1\.ffn_up\.weight' has type I16, which the engine cannot compute with \(supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, BF16\)$/);
      expect(loadError(setTensorType(f16Model, "blk.0.attn_norm.weight", 1).subarray(0) /* F16 norm: wrong size */))
        .toMatch(/GGUF: |norm weights must be F32/);
    });
    it("missing tensor", () => {
      expect(loadError(rename(f16Model, "blk.1.attn_k.weight", "blk.1.attn_x.weight"))).toBe("model: missing tensor 'blk.1.attn_k.weight'");
      expect(loadError(rename(f16Model, "output_norm.weight", "output_xorm.weight"))).toBe("model: missing tensor 'output_norm.weight'");
    });
    it("a tensor the family's graph does not use, or misses one it needs", () => {
      const shape = { vocab: tinyVocab(), dim: 64, layers: 1, heads: 4, kvHeads: 2, headDim: 32, ff: 128, type: "F16", ctx: 64, seed: 3 };
      const qwen3 = llm.mkmodel({ ...shape, arch: "qwen3" });
      expect(loadError(qwen3)).toBe("");
      // qwen2 has no q/k norms: llama.cpp refuses such a file too (wrong number of tensors)
      expect(loadError(renameArch(qwen3, "qwen3", "qwen2"))).toBe("model: tensor 'blk.0.attn_q_norm.weight' is not part of the qwen2 graph the engine runs");
      const qwen2 = llm.mkmodel({ ...shape, arch: "qwen2" });
      expect(loadError(qwen2)).toBe("");
      expect(loadError(renameArch(qwen2, "qwen2", "qwen3"))).toBe("model: missing tensor 'blk.0.attn_q_norm.weight'");
      expect(() => llm.mkmodel({ ...shape, arch: "gemma9" })).toThrow("unknown architecture 'gemma9' (mkmodel writes: llama, qwen2, qwen3, phi3, gemma3)");
    });
    it("a damaged layer count is refused before the layers are bound (found by make fuzz: a pass per claimed layer)", () => {
      expect(loadError(setU32(f16Model, "llama.block_count", 541982721)))
        .toMatch(/^model: llama\.block_count 541982721 is more layers than the file has tensors \(\d+\)$/);
      expect(loadError(setU32(f16Model, "llama.block_count", 3))).toBe("model: missing tensor 'blk.2.attn_norm.weight'");
    });
    it("missing metadata", () => {
      expect(loadError(rename(f16Model, "llama.block_count", "llama.block_cxunt"))).toBe("model: missing metadata key 'llama.block_count'");
      expect(loadError(rename(f16Model, "general.architecture", "general.architecturx"))).toBe("model: missing metadata key 'general.architecture'");
    });
    it("wrong shapes", () => {
      expect(loadError(setU32(f16Model, "llama.feed_forward_length", 192)))
        .toBe("model: tensor 'blk.0.ffn_gate.weight' has shape {64, 128}, expected {64, 192}");
      expect(loadError(setU32(f16Model, "llama.attention.head_count_kv", 4)))
        .toBe("model: tensor 'blk.0.attn_k.weight' has shape {64, 32}, expected {64, 64}");
      expect(loadError(setU32(f16Model, "llama.attention.head_count_kv", 3))).toBe("model: head_count 4 is not a multiple of head_count_kv 3");
      expect(loadError(setU32(f16Model, "llama.embedding_length", 96)))
        .toBe("model: rope.dimension_count 16 must equal the head size 24 for llama");
      expect(loadError(setU32(f16Model, "llama.rope.dimension_count", 24)))
        .toBe("model: rope.dimension_count 24 must equal the head size 16 for llama");
    });
    it("not a GGUF file, or a truncated one", () => {
      expect(loadError(Buffer.from("definitely not a model"))).toMatch(/^GGUF: bad magic .*not a GGUF file$/);
      expect(loadError(f16Model.subarray(0, f16Model.length - 100))).toMatch(/^GGUF: .*past the end of the file/);
    });
    it("a context larger than the model's", () => {
      expect(loadError(f16Model, 65)).toBe("context size 65 exceeds the model's context_length 64");
      expect(loadError(f16Model, -1)).toBe("context size -1 is negative");
    });
    it("empty prompt, and a prompt longer than the context", () => {
      expect(llm.load(f16Model, 16)).toBe("");
      expect(llm.begin("", { temperature: 0 })).toBe("empty prompt: give the model some text to continue");
      const long = "Once upon a time the king said Hello world";
      const n = llm.tokenize(long).length;
      expect(llm.begin(long, { temperature: 0 })).toBe(`prompt is ${n} tokens, longer than the context of 16 tokens`);
      // after an error nothing runs
      expect(llm.next().end).toBe("not started");
      llm.unload();
      expect(llm.begin("hello", {})).toBe("no model is loaded");
    });
  });

  describe("generation", () => {
    beforeAll(() => { expect(llm.load(f16Model, 24)).toBe(""); });

    it("stops at max tokens and keeps saying so", () => {
      const r = llm.generate("Hello", { temperature: 0, maxTokens: 5 });
      expect(llm.promptTokens()).toEqual(llm.tokenize("Hello"));
      expect(llm.promptTokens()[0]).toBe(1); // BOS
      expect(r.tokens.length).toBe(5);
      expect(r.end).toBe("max tokens");
      expect(llm.next().end).toBe("max tokens");
      expect(llm.generate("Hello", { temperature: 0, maxTokens: 0 }).tokens).toEqual([]);
    });

    it("stops cleanly when the context is full", () => {
      const n = llm.tokenize("Hello world").length;
      const r = llm.generate("Hello world", { temperature: 0, maxTokens: 100 });
      // the last token is sampled from the logits of position 23 and never needs a slot
      expect(r.tokens.length).toBe(24 - n + 1);
      expect(r.end).toBe("context full");
      // the prefix of a longer run is the same run
      expect(llm.generate("Hello world", { temperature: 0, maxTokens: 4 }).tokens).toEqual(r.tokens.slice(0, 4));
    });

    it("starts afresh on every begin() (the cache is reset)", () => {
      const a = llm.generate("Once upon a time", { temperature: 0, maxTokens: 8 });
      llm.generate("the king said", { temperature: 0, maxTokens: 3 });
      expect(llm.generate("Once upon a time", { temperature: 0, maxTokens: 8 }).tokens).toEqual(a.tokens);
    });

    it("streams pieces that add up to the text, and reports timings per stage", () => {
      const pieces: Buffer[] = [];
      const r = llm.generate("The", { temperature: 0, maxTokens: 10 }, (b: Buffer) => pieces.push(b));
      expect(Buffer.concat(pieces).toString("utf8")).toBe(r.text);
      const t = r.timings;
      expect(t.promptTokens).toBe(llm.tokenize("The").length);
      expect(t.generatedTokens).toBe(10);
      for (const k of ["tokenizeNs", "prefillNs", "decodeNs", "samplingNs", "detokenizeNs", "embedNs", "outputNs"]) expect(Number(t[k]), k).toBeGreaterThan(0);
      expect(t.layerNs.length).toBe(2);
      expect(t.layerNs.every((v: number) => v > 0)).toBe(true);
    });

    it("samples reproducibly from a seed", () => {
      const s = { temperature: 1.0, topK: 0, topP: 1, minP: 0, maxTokens: 12 };
      const a = llm.generate("Hello", { ...s, seed: 11 }).tokens;
      expect(llm.generate("Hello", { ...s, seed: 11 }).tokens).toEqual(a);
      expect(llm.generate("Hello", { ...s, seed: 12 }).tokens).not.toEqual(a);
    });
  });

  it.skipIf(!!PINNED_MISSING)("ends with the model's end-of-text token (and llama.cpp agrees)" + (PINNED_MISSING ? ` (${PINNED_MISSING})` : ""), async () => {
    // (llama.cpp runs this model too: it needs nothing from ../shared)
    // make EOS the token this model would say first, then both engines must stop at once
    expect(llm.load(f16Model, 0)).toBe("");
    const first = llm.generate("Hello", { temperature: 0, maxTokens: 1 }).tokens[0];
    const patched = setU32(f16Model, "tokenizer.ggml.eos_token_id", first);
    expect(llm.load(patched, 0)).toBe("");
    const r = llm.generate("Hello", { temperature: 0, maxTokens: 10 });
    expect(r.tokens).toEqual([]);
    expect(r.end).toBe("end of text");
    const path = resolve(__dirname, "..", "build", "test-models", "eos-first.gguf");
    (await import("node:fs")).mkdirSync(resolve(path, ".."), { recursive: true });
    (await import("node:fs")).writeFileSync(path, patched);
    const o = await Oracle.open(path, { contextSize: 64 });
    expect(await o.greedy(o.tokenize("Hello"), 10)).toEqual([]);
    await o.dispose();
    llm.unload();
  });

  it("gives all memory back on unload, and reloading reuses it", () => {
    llm.unload();
    const start = llm.memoryStats();
    for (let i = 0; i < 3; i++) {
      expect(llm.load(f16Model, 0)).toBe("");
      expect(llm.memoryStats().inUse).toBeGreaterThan(start.inUse + f16Model.length);
      llm.generate("Hello world", { temperature: 0, maxTokens: 8 });
      llm.unload();
      expect(llm.memoryStats().inUse).toBe(start.inUse);
    }
    const grown = llm.memoryStats().linear;
    expect(llm.load(f16Model, 0)).toBe("");
    llm.unload();
    expect(llm.memoryStats().linear).toBe(grown);
  });

  it.skipIf(!HAVE_SHARED || !!PINNED_MISSING)("prefills prompts longer than one batch (128 tokens) like llama.cpp" + (PINNED_MISSING ? ` (${PINNED_MISSING})` : note), async () => {
    const text = readFileSync(resolve(SHARED, "models", "README.md"), "utf8").slice(0, 560);
    expect(llm.load(SCRIBE, 256)).toBe("");
    const o = await Oracle.open(SCRIBE, { contextSize: 256 });
    const pt = o.tokenize(text);
    expect(pt.length).toBeGreaterThan(150);
    expect(pt.length).toBeLessThan(256);
    expect(llm.begin(text, { temperature: 0, maxTokens: 1 })).toBe("");
    expect(llm.promptTokens()).toEqual(pt);
    const c = compareLogProbs(logSoftmax(llm.logits()), await o.logProbs(pt));
    expect(c.maxDiff).toBeLessThan(0.1);
    expect(c.medianDiff).toBeLessThan(0.03);
    await o.dispose();
    llm.unload();
  });
});
