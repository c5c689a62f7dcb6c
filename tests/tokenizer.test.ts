import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { SHARED, HAVE_SHARED, SHARED_MISSING, loadBytes, str, buildGGUF, T, withStringKey } from "./support/gguf_fixture.mjs";
import { oracleModel, disposeOracle } from "./support/llamacpp_oracle.mjs";
import { FIXED, randomStrings } from "./support/tokenizer_strings.mjs";
import { gemma3Vocab } from "../tools/lib/hf_vocab.mjs";

const VOCABS = ["ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-bpe.gguf",
  "ggml-vocab-qwen2.gguf", "ggml-vocab-qwen35.gguf"];
const SCRIBE = join(SHARED, "models", "sis-scribe-15m-q4_0.gguf");
const GPT2 = join(SHARED, "vocab", "ggml-vocab-gpt-2.gguf");
const PHI3 = join(SHARED, "vocab", "ggml-vocab-phi-3.gguf");

let wasm: string;
beforeAll(async () => { wasm = await compile("tests/wasm/tokenizer.ts"); });
afterAll(async () => { await disposeOracle(); });

/** One wasm instance holding one tokenizer, with byte-level helpers. */
class Tok {
  inst: any; x: any; scratch = 0; scratchSize = 0;
  static async fromBytes(bytes: Buffer) {
    const t = new Tok();
    t.inst = await instantiate(wasm);
    t.x = t.inst.exports;
    const base = loadBytes(t.inst, bytes);
    const ok = t.x.load(base, BigInt(bytes.length)) === 1;
    // the tokenizer keeps its own copy of the vocabulary: the image can go
    t.x.freeRegion(base);
    return { tok: ok ? t : null, error: str(t.inst, "lastError") };
  }
  static async fromFile(path: string) {
    const r = await Tok.fromBytes(readFileSync(path));
    if (!r.tok) throw new Error(r.error);
    return r.tok;
  }
  info() { return JSON.parse(str(this.inst, "info")); }
  private put(b: Buffer) {
    if (b.length > this.scratchSize) {
      if (this.scratch) this.x.freeRegion(this.scratch);
      this.scratchSize = Math.max(65536, b.length);
      this.scratch = this.x.allocRegion(BigInt(this.scratchSize));
    }
    new Uint8Array(this.inst.memory.buffer, this.scratch, b.length).set(b);
    return this.scratch;
  }
  encode(text: string | Buffer, addSpecial = false, parseSpecial = false): number[] {
    const b = typeof text === "string" ? Buffer.from(text, "utf8") : text;
    const n = this.x.encode(this.put(b), b.length, addSpecial ? 1 : 0, parseSpecial ? 1 : 0);
    return Array.from(new Int32Array(this.inst.memory.buffer, this.x.idsPtr(), n));
  }
  private putIds(ids: number[]) {
    const p = this.x.idsBuffer(ids.length);
    new Int32Array(this.inst.memory.buffer, p, ids.length).set(ids);
  }
  private bytes(n: number) { return Buffer.from(new Uint8Array(this.inst.memory.buffer, this.x.bytesPtr(), n)); }
  detokenize(ids: number[], removeSpecial = false, unparseSpecial = false): Buffer {
    this.putIds(ids);
    return this.bytes(this.x.detokenize(ids.length, removeSpecial ? 1 : 0, unparseSpecial ? 1 : 0));
  }
  decodeToken(id: number, special = false): Buffer { return this.bytes(this.x.decodeToken(id, special ? 1 : 0)); }
  stream(ids: number[], special = false, strip = false): { all: Buffer; chunks: number[] } {
    this.putIds(ids);
    const n = this.x.stream(ids.length, special ? 1 : 0, strip ? 1 : 0);
    const all = this.bytes(n);
    const chunks = Array.from(new Int32Array(this.inst.memory.buffer, this.x.chunkLensPtr(), ids.length + 1));
    return { all, chunks };
  }
}

/** The test strings of X.gguf.inp and the expected ids of X.gguf.out. */
function vectors(name: string): [string, number[]][] {
  const inp = readFileSync(join(SHARED, "vocab", name + ".inp"), "utf8");
  const out = readFileSync(join(SHARED, "vocab", name + ".out"), "utf8");
  const texts = inp.split("\n__ggml_vocab_test__\n");
  expect(texts.pop()).toBe(""); // the file ends with a separator
  const lines = out.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  expect(lines.length).toBe(texts.length);
  return texts.map((t, i) => [t, lines[i].trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number)]);
}

describe("tokenizer: llama.cpp's test vectors", () => {
  it.skipIf(!HAVE_SHARED)("has the vocab files" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
    for (const v of VOCABS) expect(existsSync(join(SHARED, "vocab", v)), v).toBe(true);
  });
  for (const name of HAVE_SHARED ? VOCABS : []) {
    it(`${name}: every vector gives exactly the expected ids`, async () => {
      const tok = await Tok.fromFile(join(SHARED, "vocab", name));
      const vs = vectors(name);
      expect(vs.length).toBeGreaterThan(40);
      const failures: string[] = [];
      for (const [text, want] of vs) {
        const got = tok.encode(text);
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${JSON.stringify(text)}: got ${got.join(" ")} want ${want.join(" ")}`);
      }
      expect(failures).toEqual([]);
    });
  }
});

/** Compares our encode/decode with llama.cpp's on many strings. */
async function compareWithLlamaCpp(path: string, vocabOnly: boolean, texts: string[]) {
  const model = await oracleModel(path, { vocabOnly });
  const tok = await Tok.fromFile(path);
  const encodeDiffs: string[] = [], decodeDiffs: string[] = [];
  let tokens = 0;
  for (const text of texts) {
    for (const special of [false, true]) {
      const want = Array.from(model.tokenize(text, special)) as number[];
      const got = tok.encode(text, false, special);
      tokens += got.length;
      if (JSON.stringify(got) !== JSON.stringify(want)) encodeDiffs.push(`${JSON.stringify(text)} special=${special}: got ${got} want ${want}`);
      // decoding: llama_detokenize(remove_special = false, unparse_special = special)
      const wantText = model.detokenize(want, special);
      const gotText = tok.detokenize(want, false, special).toString("utf8");
      if (gotText !== wantText) decodeDiffs.push(`${JSON.stringify(text)} special=${special}: got ${JSON.stringify(gotText)} want ${JSON.stringify(wantText)}`);
    }
  }
  return { encodeDiffs, decodeDiffs, tokens };
}

const TEXTS = [...FIXED, ...randomStrings(300, 7)];
/** Digit runs and contractions in both cases, where the pre-tokenizers differ most. */
const DIGITS = ["1234567 89", "x12345y", " 3.14159 ", "2024-12-06\r\n\r\n  ok", "I'M HERE, YOU'LL SEE", "it'S 'Re", "٣٤٥ ໑໒ ¹²³",
  "a\u0301b\u0308 c\u20dd", "  \n\n  x", "tab\t\tend\t"];

let tmp = "";
/** GPT-2's vocabulary file with another tokenizer.ggml.pre. */
function renamedPre(path: string, pre: string): string {
  tmp ||= mkdtempSync(join(tmpdir(), "sis-tok-"));
  const out = join(tmp, `vocab-${pre}.gguf`);
  writeFileSync(out, withStringKey(readFileSync(path), "tokenizer.ggml.pre", pre));
  return out;
}

describe("tokenizer vs llama.cpp (node-llama-cpp), live", () => {
  it.skipIf(!HAVE_SHARED)(`sis-scribe-15m (llama SentencePiece): ${TEXTS.length} strings encode and decode the same` + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const r = await compareWithLlamaCpp(SCRIBE, false, TEXTS);
    expect(r.encodeDiffs).toEqual([]);
    expect(r.decodeDiffs).toEqual([]);
    expect(r.tokens).toBeGreaterThan(5000);
  });

  it.skipIf(!HAVE_SHARED)(`gpt-2 vocab (byte-level BPE): ${TEXTS.length} strings encode and decode the same` + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const r = await compareWithLlamaCpp(GPT2, true, TEXTS);
    expect(r.encodeDiffs).toEqual([]);
    expect(r.decodeDiffs).toEqual([]);
  });

  it.skipIf(!HAVE_SHARED)(`phi-3 vocab (user-defined tokens, rstrip rules): ${TEXTS.length} strings encode and decode the same` + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const extra = ["<|user|>\nHi<|end|>\n<|assistant|>", "a</s>  b", "<|endoftext|> x", "[PAD32011]  y", "<unk> <s>  z"];
    const r = await compareWithLlamaCpp(PHI3, true, [...TEXTS.slice(0, 150), ...extra]);
    expect(r.encodeDiffs).toEqual([]);
    expect(r.decodeDiffs).toEqual([]);
  });

  // Gemma 3's own vocabulary (262144 SentencePiece pieces, no space prefix, whitespace runs and
  // HTML tags as user-defined pieces), made from Google's tokenizer.json (tools/lib/hf_vocab.mjs),
  // with every string of llama.cpp's SentencePiece test vectors and its chat turns
  it(`gemma3 vocab (Gemma 3's SentencePiece): ${TEXTS.length} strings encode and decode the same`, async () => {
    const gemma3 = gemma3Vocab();
    const tok = await Tok.fromFile(gemma3);
    expect(tok.info()).toMatchObject({ model: "llama", n: 262144, bos: 2, eos: 106, addBos: true, addEos: false, addSpacePrefix: false });
    const turns = ["<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<bos><pad> <mask> <unused7>x", "a\n\n\n\tb    c",
      "<h1>Title</h1>\n<table><tr><td>1</td></tr></table>", "<start_of_image>  <end_of_image>"];
    const own = HAVE_SHARED ? vectors("ggml-vocab-llama-spm.gguf").map(([t]) => t) : [];
    const r = await compareWithLlamaCpp(gemma3, true, [...TEXTS, ...DIGITS, ...turns, ...own]);
    expect(r.encodeDiffs).toEqual([]);
    expect(r.decodeDiffs).toEqual([]);
    expect(r.tokens).toBeGreaterThan(5000);
  }, 120_000);

  // Llama 3's, Qwen2's and Qwen3.5's vocabularies (pre-tokenizers llama-bpe, qwen2, qwen35), and
  // GPT-2's under the names whose rules split digits first (smollm: no space clean-up;
  // starcoder: with it).
  const bpeVocabs: [string, () => string][] = [
    ["llama-bpe", () => join(SHARED, "vocab", "ggml-vocab-llama-bpe.gguf")],
    ["qwen2", () => join(SHARED, "vocab", "ggml-vocab-qwen2.gguf")],
    ["qwen35", () => join(SHARED, "vocab", "ggml-vocab-qwen35.gguf")],
    ["smollm", () => renamedPre(GPT2, "smollm")],
    ["starcoder", () => renamedPre(GPT2, "starcoder")],
  ];
  for (const [pre, path] of bpeVocabs) {
    it.skipIf(!HAVE_SHARED)(`pre-tokenizer ${pre}: ${TEXTS.length} strings encode and decode the same` + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
      // and every string of llama.cpp's test vectors for the vocabulary: encoded, then decoded
      // back (the round trip) exactly as llama.cpp does both
      const own = pre === "smollm" || pre === "starcoder" ? [] : vectors(`ggml-vocab-${pre}.gguf`).map(([t]) => t);
      const r = await compareWithLlamaCpp(path(), true, [...TEXTS, ...DIGITS, ...own]);
      expect(r.encodeDiffs).toEqual([]);
      expect(r.decodeDiffs).toEqual([]);
      expect(r.tokens).toBeGreaterThan(5000);
    });
  }

  it.skipIf(!HAVE_SHARED)("decodes random token sequences (byte tokens, control tokens, BOS) like llama.cpp" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    for (const [path, vocabOnly] of [[SCRIBE, false], [GPT2, true]] as const) {
      const model = await oracleModel(path, { vocabOnly });
      const tok = await Tok.fromFile(path);
      const n = tok.info().n;
      let s = 99;
      const rnd = (k: number) => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s % k; };
      const diffs: string[] = [];
      for (let i = 0; i < 200; i++) {
        const ids = Array.from({ length: 1 + rnd(12) }, () => rnd(4) === 0 ? rnd(300) : rnd(n));
        if (i % 3 === 0) ids.unshift(tok.info().bos);
        for (const special of [false, true]) {
          const want = model.detokenize(ids, special);
          const got = tok.detokenize(ids, false, special).toString("utf8");
          if (got !== want) diffs.push(`${ids} special=${special}: got ${JSON.stringify(got)} want ${JSON.stringify(want)}`);
        }
      }
      expect(diffs, path).toEqual([]);
    }
  });

  it.skipIf(!HAVE_SHARED)("BOS/EOS: add_special follows the file (llama adds BOS, gpt2 adds nothing)" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const scribe = await Tok.fromFile(SCRIBE);
    const gpt2 = await Tok.fromFile(GPT2);
    expect(scribe.info()).toMatchObject({ model: "llama", n: 32000, bos: 1, eos: 2, unk: 0, addBos: true, addEos: false, addSpacePrefix: true });
    expect(gpt2.info()).toMatchObject({ model: "gpt2", n: 50257, bos: 50256, eos: 50256, addBos: false, addSpacePrefix: false });
    const m = await oracleModel(SCRIBE);
    const plain = scribe.encode("And God said");
    expect(scribe.encode("And God said", true)).toEqual([m.tokens.bos, ...plain]);
    expect(scribe.encode("", true)).toEqual([1]);
    expect(scribe.encode("", false)).toEqual([]);
    expect(gpt2.encode("Hello", true)).toEqual(gpt2.encode("Hello", false));
    // llama.cpp adds BOS for Llama 3's pre-tokenizer (llama-bpe) unless the file says otherwise; Qwen2's file says not
    const llama3 = await Tok.fromFile(join(SHARED, "vocab", "ggml-vocab-llama-bpe.gguf"));
    expect(llama3.info()).toMatchObject({ model: "gpt2", n: 128256, bos: 128000, addBos: true });
    expect(llama3.encode("Hello", true)).toEqual([128000, ...llama3.encode("Hello", false)]);
    const qwen2 = await Tok.fromFile(join(SHARED, "vocab", "ggml-vocab-qwen2.gguf"));
    expect(qwen2.encode("Hello", true)).toEqual(qwen2.encode("Hello", false));
    // removeSpecial drops the BOS that encode added; the text round-trips
    const ids = scribe.encode("And God said", true);
    expect(scribe.detokenize(ids, true).toString()).toBe(" And God said");
    expect(scribe.detokenize(plain, false).toString()).toBe("And God said");
  });
});

describe("tokenizer: decoding tokens and streaming", () => {
  it.skipIf(!HAVE_SHARED)("decodeToken: byte tokens give raw bytes, ▁ gives a space, control tokens only when asked" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const tok = await Tok.fromFile(SCRIBE);
    const m = await oracleModel(SCRIBE);
    for (const id of [0, 1, 2, 3, 13, 100, 131, 259, 278, 1576, 31999]) {
      for (const special of [false, true]) {
        // llama.cpp's token_to_piece, through a one-token detokenize with the BOS-less space rule undone
        const want = Buffer.from(m.detokenize([1, id], special), "utf8");
        const got = Buffer.concat([tok.decodeToken(1, special), tok.decodeToken(id, special)]);
        expect(got.toString("utf8"), `id ${id}`).toBe(want.toString("utf8"));
      }
    }
    expect(Array.from(tok.decodeToken(3 + 0xe2))).toEqual([0xe2]); // <0xE2>
    expect(tok.decodeToken(1).length).toBe(0);
    expect(tok.decodeToken(1, true).toString()).toBe("<s>");
    expect(tok.decodeToken(-5).length).toBe(0);
    expect(tok.decodeToken(32000).length).toBe(0);
  });

  it.skipIf(!HAVE_SHARED)("StreamDecoder holds back an unfinished UTF-8 character until the next token completes it" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const tok = await Tok.fromFile(SCRIBE);
    // "🦙" has no piece in this vocabulary: it is spelled with four byte tokens
    const ids = tok.encode("a 🦙 b");
    const llama = Buffer.from("🦙");
    const byteIds = Array.from(llama).map((b) => 3 + b);
    const at = ids.indexOf(byteIds[0]);
    expect(ids.slice(at, at + 4)).toEqual(byteIds);
    const { all, chunks } = tok.stream(ids, false, true);
    expect(all.toString()).toBe("a 🦙 b");
    // nothing is emitted for the first three bytes, then the whole character at once
    expect(chunks.slice(at, at + 4)).toEqual([0, 0, 0, 4]); // the 4th byte completes "🦙"
    for (let i = 0, p = 0; i < ids.length; p += chunks[i], i++) {
      const part = all.subarray(0, p + chunks[i]).toString("utf8");
      expect(part.includes("\ufffd")).toBe(false);
    }
    expect(chunks[ids.length]).toBe(0); // nothing left to flush
    // an unfinished character at the end comes out on flush
    const cut = tok.stream(ids.slice(0, at + 2));
    expect(cut.chunks[at + 2]).toBe(2);
    expect(Array.from(cut.all.subarray(cut.all.length - 2))).toEqual([0xf0, 0x9f]);
    // without stripping, the dummy-prefix space of the first token stays
    expect(tok.stream(tok.encode("Hi")).all.toString()).toBe(" Hi");
    expect(tok.stream([1, ...tok.encode("Hi")], false, true).all.toString()).toBe("Hi");
    expect(tok.stream([1, ...tok.encode("Hi")], true, true).all.toString()).toBe("<s>Hi");
  });

  it.skipIf(!HAVE_SHARED)("StreamDecoder output equals detokenize on many sequences (llama and gpt2)" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    for (const path of [SCRIBE, GPT2]) {
      const tok = await Tok.fromFile(path);
      for (const text of TEXTS.slice(0, 200)) {
        const ids = tok.encode(text);
        const { all, chunks } = tok.stream(ids, false, true);
        // gpt2's detokenize also cleans up spaces; compare piece concatenation there
        const want = path === SCRIBE ? tok.detokenize(ids) : Buffer.concat(ids.map((id) => tok.decodeToken(id)));
        expect(all.equals(want), JSON.stringify(text)).toBe(true);
        let p = 0;
        for (const c of chunks) {
          p += c;
          // every chunk boundary is a character boundary of valid input
          if (!text.includes("\ufffd")) expect(all.subarray(0, p).toString("utf8").includes("\ufffd"), JSON.stringify(text)).toBe(false);
        }
      }
    }
  });
});

describe("tokenizer: bad and unusual input", () => {
  it.skipIf(!HAVE_SHARED)("invalid UTF-8 never traps; SentencePiece spells the bad bytes as byte tokens" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const tok = await Tok.fromFile(SCRIBE);
    // A space escaped to U+2581 can be swallowed into a broken sequence and come back as
    // those three bytes (llama.cpp does the same); compare with spaces normalised.
    const norm = (b: Buffer) => Buffer.from(b.toString("latin1").replaceAll("\xe2\x96\x81", " "), "latin1");
    const bad = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0xe2, 0x82, 0x20, 0xf0, 0x9f, 0x98, 0x80, 0x80, 0xed, 0xa0, 0x80, 0xf4]);
    const ids = tok.encode(bad);
    expect(ids.length).toBeGreaterThan(5);
    expect(ids).toContain(3 + 0xff);
    expect(ids.every((id) => id >= 0 && id < 32000)).toBe(true);
    expect(norm(tok.detokenize(ids)).equals(bad)).toBe(true); // byte fallback loses nothing else
    let s = 5;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(Buffer.alloc(1 + (i % 40), 0).map(() => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s & 0xff; }));
      const ids2 = tok.encode(b, true, true);
      expect(norm(tok.detokenize(ids2, true)).equals(norm(Buffer.concat([Buffer.from(" "), b])))).toBe(true);
    }
  });

  it.skipIf(!HAVE_SHARED)("invalid UTF-8 in gpt2: each bad byte is U+FFFD, as llama.cpp does" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const tok = await Tok.fromFile(GPT2);
    const m = await oracleModel(GPT2, { vocabOnly: true });
    const bad = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0x20, 0xe2, 0x82, 0x20, 0x80, 0x80]);
    const asLlamaCppSees = "a\ufffdb\ufffd( \ufffd\ufffd \ufffd\ufffd";
    expect(tok.encode(bad)).toEqual(Array.from(m.tokenize(asLlamaCppSees)));
    let s = 11;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(1 + (i % 40), 0).map(() => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s & 0xff; });
      expect(tok.encode(Buffer.from(b)).length).toBeGreaterThan(0);
    }
  });

  it("a vocabulary without byte pieces falls back to UNK; merges follow scores", async () => {
    const pieces = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab", "c"];
    const scores = [0, 0, 0, -1, -2, -3, -4, -5, -6, -7];
    const types = [2, 3, 3, 1, 1, 1, 1, 1, 1, 1];
    const { bytes } = buildGGUF({ kvs: [
      ["tokenizer.ggml.model", T.STR, "llama"],
      ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: pieces }],
      ["tokenizer.ggml.scores", T.ARR, { elem: T.F32, items: scores }],
      ["tokenizer.ggml.token_type", T.ARR, { elem: T.I32, items: types }],
    ] });
    const { tok, error } = await Tok.fromBytes(bytes);
    expect(error).toBe("");
    // "▁ab": ▁+a (-4) beats a+b (-5), then ▁a+b -> ▁ab (-6); "é" has no piece and no <0xC3> -> UNK twice
    expect(tok!.encode("ab")).toEqual([8]);
    expect(tok!.encode("ab é c")).toEqual([8, 3, 0, 0, 3, 9]);
    expect(tok!.encode("<s>a", false, true)).toEqual([1, 6]);
    expect(tok!.encode("<s>a", false, false)).not.toContain(1);
    expect(tok!.info()).toMatchObject({ bos: 1, eos: 2, unk: 0, addBos: true, specials: 3 });
  });

  const base = () => [
    ["tokenizer.ggml.model", T.STR, "llama"],
    ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: ["<unk>", "<s>", "</s>", "a"] }],
  ] as any[];
  const expectLoadError = async (kvs: any[], re: RegExp) => {
    const { tok, error } = await Tok.fromBytes(buildGGUF({ kvs }).bytes);
    expect(tok).toBe(null);
    expect(error).toMatch(re);
  };

  it("errors: no tokenizer in the file", () => expectLoadError([["general.architecture", T.STR, "llama"]], /^tokenizer: tokenizer.ggml.model is missing/));
  it("errors: unsupported tokenizer model", () => expectLoadError([["tokenizer.ggml.model", T.STR, "bert"]], /tokenizer model 'bert' is not supported/));
  it("errors: model key of the wrong type", () => expectLoadError([["tokenizer.ggml.model", T.U32, 1]], /tokenizer.ggml.model is not a string/));
  it("errors: tokens missing", () => expectLoadError([["tokenizer.ggml.model", T.STR, "llama"]], /tokenizer.ggml.tokens is missing/));
  it("errors: tokens not strings", () => expectLoadError([["tokenizer.ggml.model", T.STR, "llama"], ["tokenizer.ggml.tokens", T.ARR, { elem: T.U32, items: [1] }]], /not an array of strings/));
  it("errors: empty vocabulary", () => expectLoadError([["tokenizer.ggml.model", T.STR, "llama"], ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: [] }]], /tokenizer.ggml.tokens is empty/));
  it("errors: too few scores", () => expectLoadError([...base(), ["tokenizer.ggml.scores", T.ARR, { elem: T.F32, items: [0, 0] }]], /scores has 2 entries for 4 tokens/));
  it("errors: scores of the wrong type", () => expectLoadError([...base(), ["tokenizer.ggml.scores", T.ARR, { elem: T.STR, items: ["0", "0", "0", "0"] }]], /scores must be an array of f32 or i32/));
  it("errors: too few token types", () => expectLoadError([...base(), ["tokenizer.ggml.token_type", T.ARR, { elem: T.I32, items: [1] }]], /token_type has 1 entries for 4 tokens/));
  it("errors: gpt2 without merges", () => expectLoadError([["tokenizer.ggml.model", T.STR, "gpt2"], ["tokenizer.ggml.pre", T.STR, "gpt-2"], ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: ["a"] }]], /merges is missing/));
  it("errors: gpt2 with another pre-tokenizer", () => expectLoadError([["tokenizer.ggml.model", T.STR, "gpt2"], ["tokenizer.ggml.pre", T.STR, "deepseek-llm"], ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: ["a"] }]], /pre-tokenizer 'deepseek-llm' is not supported .*supported: gpt-2, .*llama-bpe, .*qwen2, .*smollm/));
  it("errors: a broken GGUF reports the GGUF error", async () => {
    const { tok, error } = await Tok.fromBytes(Buffer.from("GGUF\x01\x00\x00\x00", "latin1"));
    expect(tok).toBe(null);
    expect(error).toMatch(/^GGUF: version 1 is not supported/);
  });
  it("special token ids outside the vocabulary keep the defaults", async () => {
    const { tok } = await Tok.fromBytes(buildGGUF({ kvs: [...base(), ["tokenizer.ggml.bos_token_id", T.U32, 99], ["tokenizer.ggml.eos_token_id", T.I32, 3]] }).bytes);
    expect(tok!.info()).toMatchObject({ bos: 1, eos: 3 });
  });
});

describe("tokenizer: speed", () => {
  it.skipIf(!HAVE_SHARED)("loads a 32000-token vocabulary quickly and encodes at a useful rate" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
    const report: string[] = [];
    for (const path of [join(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"), GPT2]) {
      const tok = await Tok.fromFile(path);
      const bytes = readFileSync(path);
      const base = loadBytes(tok.inst, bytes);
      tok.x.benchLoad(base, BigInt(bytes.length), 1); // warm up
      const loadMs = Number(tok.x.benchLoad(base, BigInt(bytes.length), 5)) / 1e6;
      tok.x.freeRegion(base);
      const text = Buffer.from(TEXTS.join(" ").repeat(4), "utf8");
      const nTok = tok.encode(text).length;
      const reps = 5;
      const p = (tok as any).put(text);
      const ns = Number(tok.x.benchEncode(p, text.length, reps));
      const tokPerS = (nTok * reps) / (ns / 1e9);
      const mbPerS = (text.length * reps) / (ns / 1e9) / 1e6;
      report.push(`${path.split("/").pop()}: load ${loadMs.toFixed(1)} ms, encode ${Math.round(tokPerS)} tokens/s (${mbPerS.toFixed(2)} MB/s, ${nTok} tokens per pass)`);
      expect(loadMs).toBeLessThan(1000);
      expect(tokPerS).toBeGreaterThan(20000);
    }
    console.log("tokenizer speed:\n  " + report.join("\n  "));
  });
});
